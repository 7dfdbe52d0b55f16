"""The evaluate stage's outputs (metric suite, curves, code stores) and query by image, on a tiny run."""
import dataclasses
import json

import numpy as np
import pytest

from dsah import codestore, hamming, metrics, plots, report
from dsah.paths import Layout
from dsah.retrieval import binary_codes, query_by_image
from dsah.stages import evaluate, prepare
from dsah.stages import train as train_stage


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, tiny_synthetic):
    """prepare -> train (1 epoch) -> evaluate of hash_only-12 in a temporary layout."""
    _, params = tiny_synthetic
    params = params.model_copy(update={"train": params.train.model_copy(update={"epochs": 1})})
    layout = Layout(tmp_path_factory.mktemp("layout"))
    data = prepare.run(params, layout, log=lambda s: None)
    train_stage.run(params, layout, "hash_only", 12)
    row = evaluate.run(params, layout, "hash_only", 12, data)
    return params, layout, data, row


def test_metrics_file_has_the_suite_and_agrees_with_the_reference(evaluated):
    params, layout, data, row = evaluated
    on_disk = json.loads(layout.metrics("hash_only", 12).read_text())
    # numbers only in metrics/ (what `dvc metrics show/diff` lists); the rest in the provenance sidecar
    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in on_disk.values())
    assert not {"method", "code_version", "train_seconds", "tie_order"} & on_disk.keys()
    record = json.loads(layout.provenance("hash_only", 12).read_text())
    about = record["run"]
    assert {**about, **record["metrics"]} == row and "code_version" in about and about["tie_order"].startswith("stable")
    assert on_disk.items() <= record["metrics"].items() and "map_lower" not in on_disk  # headline numbers only
    assert report.collect(layout, ["hash_only"], [12])[0] == [row]
    keys = {"map_all", "map_tie_aware", "map_lower", "map_upper", "precision_h2", "empty_h2_share",
            "map_at_20", "ndcg_at_20", "precision_at_10", "num_queries", "queries_without_relevant"}
    assert keys <= row.keys()
    assert row["map_lower"] <= row["map_tie_aware"] <= row["map_upper"]
    q = codestore.load(layout.codes("hash_only", 12, "query"))
    db = codestore.load(layout.codes("hash_only", 12, "database"))
    assert np.array_equal(q.ids, data.test.ids) and np.array_equal(db.labels, data.train.labels)
    ref = metrics.mean_average_precision(q.signs(), db.signs(), q.labels, db.labels)
    assert abs(ref.map - row["map_all"]) <= 1e-12
    for kind, x in (("radius", "radius"), ("rank", "n")):
        recs = json.loads(layout.curves(kind, "hash_only", 12).read_text())
        assert recs and {x, "precision", "recall"} <= recs[0].keys()
        assert recs[-1]["recall"] == pytest.approx(1.0)
    got = report.curves(layout, ["hash_only", "dsah"], [12])
    assert list(got) == ["hash_only-12"]
    assert "missing" in report.tie_table([row], ["hash_only", "dsah"], [12])
    table = report.metric_table([row], ["hash_only"], [12], ["map_at_20", "precision_h2"])
    assert f"{100 * row['map_at_20']:.1f}" in table
    plots.pr_curves(got, [12])


def test_query_by_image_equals_searching_the_encoded_test_split(evaluated):
    params, layout, data, _ = evaluated
    method, _ = train_stage.load_method(params, layout, "hash_only", 12, "cpu")
    store = codestore.load(layout.codes("hash_only", 12, "database"))
    hits = query_by_image(method, data.test.images[:5], store, data.meta, k=7, boxes=data.test.boxes[:5])
    codes = binary_codes(method, data.test, data.meta)[:5]
    dist, idx = codestore.search(store, codes, 7)
    assert np.array_equal(hits.indices, idx) and np.array_equal(hits.distances, dist)
    assert np.array_equal(hits.ids, data.train.ids[idx]) and np.array_equal(hits.labels, data.train.labels[idx])
    assert np.array_equal(hits.distances, np.sort(metrics.hamming(codes, store.signs()), axis=1)[:, :7])
    assert np.array_equal(hits.relevant(data.test.labels[:5]), data.train.labels[idx] == data.test.labels[:5, None])
    multi = dataclasses.replace(hits, labels=np.eye(4, dtype=int)[np.zeros((5, 7), int)])  # every hit: label 0
    assert multi.relevant(np.eye(4, dtype=int)[[0, 1, 0, 2, 3]]).all(axis=1).tolist() == [True, False, True, False, False]
    one = query_by_image(method, data.test.images[0], store, data.meta, k=3)  # a single image, no box
    assert one.indices.shape == (1, 3)
    plots.retrieval_grid(data.test.images[:5], data.test.labels[:5], hits, data.train.images)
    size = data.meta["image_size"]
    with pytest.raises(ValueError, match=rf"uint8 \(N, 3, {size}, {size}\)"):
        query_by_image(method, data.test.images[:2, :, :8, :8], store, data.meta)
    with pytest.raises(ValueError, match="12-bit codes, the store holds 16-bit"):
        small = codestore.CodeStore.from_codes(np.ones((3, 16), np.int8), np.zeros(3, int), np.arange(3))
        query_by_image(method, data.test.images[:2], small, data.meta)


def test_layout_rejects_unknown_roles(tmp_path):
    with pytest.raises(ValueError, match="role must be"):
        Layout(tmp_path).codes("dsah", 12, "train")
    with pytest.raises(ValueError, match="kind must be"):
        Layout(tmp_path).curves("roc", "dsah", 12)


def test_suite_multi_label_counts_queries_without_relevant_items():
    rng = np.random.default_rng(0)
    qc = np.where(rng.random((6, 16)) < 0.5, 1, -1)
    dbc = np.where(rng.random((30, 16)) < 0.5, 1, -1)
    ql = (rng.random((6, 5)) < 0.4).astype(int)
    ql[0] = 0  # no label: no relevant item
    dl = (rng.random((30, 5)) < 0.4).astype(int)
    res = hamming.suite(qc, dbc, ql, dl, top_k=(10,), precision_n=(5,))
    ref = metrics.mean_average_precision(qc, dbc, ql, dl)
    assert res["queries_without_relevant"] == ref.num_without_relevant >= 1
    assert abs(res["map_all"] - ref.map) <= 1e-12
