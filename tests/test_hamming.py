"""The count-based Hamming metrics against brute-force references (exact enumeration of tie orders)."""
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsah import hamming, metrics


def _ap(hits: np.ndarray) -> float:
    """AP of one ranked 0/1 list, the textbook way."""
    if hits.sum() == 0:
        return 0.0
    prec = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float((prec * hits).sum() / hits.sum())


def _all_tie_orders(d: np.ndarray, r: np.ndarray):
    """Every ranking consistent with the distances (items permuted within equal distances)."""
    groups = [np.flatnonzero(d == k) for k in np.unique(d)]
    for perms in itertools.product(*(itertools.permutations(g) for g in groups)):
        yield r[np.concatenate(perms)]


def _random_case(rng, q, n, bits, classes):
    qc = np.where(rng.random((q, bits)) < 0.5, 1, -1).astype(np.int8)
    dbc = np.where(rng.random((n, bits)) < 0.5, 1, -1).astype(np.int8)
    ql, dl = rng.integers(0, classes, q), rng.integers(0, classes, n)
    return qc, dbc, ql, dl


def _codes_at(d: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """A query code (all -1) and database codes whose distances to it are `d` (first d bits +1)."""
    q = -np.ones((1, bits), dtype=np.int8)
    db = np.where(np.arange(bits)[None, :] < np.asarray(d)[:, None], 1, -1).astype(np.int8)
    return q, db


def histograms(d: np.ndarray, rel: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Counts of relevant / irrelevant items per distance for each row of a wanted distance matrix,
    through the compiled scan (query label 0; a database item is relevant when its label is 0)."""
    rel_at, irr_at = [], []
    for drow, rrow in zip(np.asarray(d), np.asarray(rel)):
        q, db = _codes_at(drow, bits)
        sc = hamming.scan_queries(q, db, np.array([0]), np.where(rrow, 0, 1))
        rel_at.append(sc["rel_at"][0])
        irr_at.append(sc["irr_at"][0])
    return np.array(rel_at), np.array(irr_at)


def _reference(qc, dbc, ql, dl, k):
    """Stable-order AP, AP@k (HashNet) and NDCG@k per query by a plain stable sort of each row."""
    d = metrics.hamming(qc, dbc)
    gain = (ql[:, None] == dl[None, :]).astype(float) if ql.ndim == 1 else (ql @ dl.T).astype(float)
    ap, apk, ndcg = [], [], []
    for drow, grow in zip(d, gain):
        g = grow[np.argsort(drow, kind="stable")]
        hits = g > 0
        ap.append(_ap(hits))
        prec = np.cumsum(hits) / np.arange(1, len(g) + 1)
        apk.append(float((prec[:k] * hits[:k]).sum() / hits[:k].sum()) if hits[:k].any() else 0.0)
        disc = 1 / np.log2(np.arange(2, len(g) + 2))
        ideal = (np.sort(grow)[::-1][:k] * disc[:k]).sum()
        ndcg.append(float((g[:k] * disc[:k]).sum() / ideal) if ideal > 0 else 0.0)
    return np.array(ap), np.array(apk), np.array(ndcg)


@pytest.mark.parametrize("bits", [1, 7, 8, 12, 13, 48, 64, 65, 130])
def test_scan_counts_every_distance(bits):
    rng = np.random.default_rng(bits)
    qc, dbc, ql, dl = _random_case(rng, 5, 40, bits, 3)
    sc = hamming.scan_queries(qc, dbc, ql, dl)
    d, rel = metrics.hamming(qc, dbc), metrics.relevance(ql, dl)
    for i in range(5):
        assert np.array_equal(sc["rel_at"][i], np.bincount(d[i][rel[i]], minlength=bits + 1))
        assert np.array_equal(sc["irr_at"][i], np.bincount(d[i][~rel[i]], minlength=bits + 1))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), bits=st.sampled_from([2, 4, 12, 70]),
       classes=st.integers(1, 6), k=st.integers(1, 70))
def test_stable_ap_ap_at_k_and_ndcg_equal_the_sort_based_reference(seed, n, bits, classes, k):
    qc, dbc, ql, dl = _random_case(np.random.default_rng(seed), 4, n, bits, classes)
    sc = hamming.scan_queries(qc, dbc, ql, dl, top_k=(k,))
    ap, apk, ndcg = _reference(qc, dbc, ql, dl, min(k, n))
    assert np.abs(sc["ap"] - metrics.mean_average_precision(qc, dbc, ql, dl).ap).max() <= 1e-12
    assert np.abs(sc["ap"] - ap).max() <= 1e-12
    assert np.abs(sc["ap_k"][:, 0] - apk).max() <= 1e-12
    assert np.abs(sc["ndcg_k"][:, 0] - ndcg).max() <= 1e-12


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 40), labels=st.integers(1, 70), k=st.integers(1, 40))
def test_multi_label_gains_against_the_reference(seed, n, labels, k):
    rng = np.random.default_rng(seed)
    qc, dbc, _, _ = _random_case(rng, 3, n, 12, 2)
    ql = (rng.random((3, labels)) < 0.3).astype(np.int64)
    dl = (rng.random((n, labels)) < 0.3).astype(np.int64)
    sc = hamming.scan_queries(qc, dbc, ql, dl, top_k=(k,))
    ap, apk, ndcg = _reference(qc, dbc, ql, dl, min(k, n))
    assert np.abs(sc["ap"] - ap).max() <= 1e-12
    assert np.abs(sc["ap"] - metrics.mean_average_precision(qc, dbc, ql, dl).ap).max() <= 1e-12
    assert np.abs(sc["ap_k"][:, 0] - apk).max() <= 1e-12
    assert np.abs(sc["ndcg_k"][:, 0] - ndcg).max() <= 1e-12


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 7), bits=st.sampled_from([1, 2, 3]))
def test_tie_aware_ap_is_the_mean_over_every_tie_order_and_lies_between_the_bounds(seed, n, bits):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, bits + 1, (1, n))
    rel = rng.random((1, n)) < 0.5
    rel_at, irr_at = histograms(d, rel, bits)
    got = hamming.ap_from_histograms(rel_at, irr_at)
    assert np.array_equal(rel_at[0], np.bincount(d[0][rel[0]], minlength=bits + 1))
    aps = [_ap(h) for h in _all_tie_orders(d[0], rel[0])]
    assert got["tie_aware"][0] == pytest.approx(np.mean(aps), abs=1e-12)
    assert got["upper"][0] == pytest.approx(max(aps), abs=1e-12)
    assert got["lower"][0] == pytest.approx(min(aps), abs=1e-12)
    assert got["lower"][0] - 1e-12 <= got["tie_aware"][0] <= got["upper"][0] + 1e-12


def test_tie_aware_ap_matches_the_mean_over_random_tie_orders_at_12_bits():
    rng = np.random.default_rng(7)
    qc, dbc, ql, dl = _random_case(rng, 3, 400, 12, 4)  # 400 items on 13 distances: large ties
    sc = hamming.scan_queries(qc, dbc, ql, dl)
    got = hamming.ap_from_histograms(sc["rel_at"], sc["irr_at"])
    d, rel = metrics.hamming(qc, dbc), metrics.relevance(ql, dl)
    for i in range(3):
        # random order within ties: sort by (distance, random key)
        aps = np.array([_ap(rel[i][np.lexsort((rng.random(400), d[i]))]) for _ in range(3000)])
        assert abs(got["tie_aware"][i] - aps.mean()) < 4 * aps.std() / np.sqrt(len(aps)) + 1e-12
        assert got["lower"][i] <= aps.min() and aps.max() <= got["upper"][i]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 7), k=st.integers(1, 7))
def test_tie_aware_precision_at_n_is_the_mean_over_every_tie_order(seed, n, k):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 3, (1, n))
    rel = rng.random((1, n)) < 0.5
    k = min(k, n)
    orders = list(_all_tie_orders(d[0], rel[0]))
    assert hamming.precision_at(*histograms(d, rel, 2), k)[0] == pytest.approx(np.mean([h[:k].mean() for h in orders]))
    hits = hamming.expected_hits(*histograms(d, rel, 2), np.arange(1, n + 1))[0]
    assert hits == pytest.approx([np.mean([h[:m].sum() for h in orders]) for m in range(1, n + 1)], abs=1e-12)


def test_hand_computed_ties():
    # distances 0, 1, 1, 1; relevant: item 0 and one of the three tied items.
    d = np.array([[0, 1, 1, 1]])
    rel = np.array([[True, False, True, False]])
    got = hamming.ap_from_histograms(*histograms(d, rel, 2))
    # relevant tied item at rank 2, 3 or 4 with probability 1/3 each: AP = (1 + mean(2/2, 2/3, 2/4)) / 2
    assert got["tie_aware"][0] == pytest.approx((1 + (1 + 2 / 3 + 1 / 2) / 3) / 2)
    assert got["upper"][0] == pytest.approx(1.0) and got["lower"][0] == pytest.approx((1 + 0.5) / 2)
    q, db = _codes_at(d[0], 2)
    assert hamming.scan_queries(q, db, np.array([0]), np.array([0, 1, 0, 1]))["ap"][0] == pytest.approx((1 + 2 / 3) / 2)


def test_edge_cases_no_relevant_item_and_everything_tied():
    d = np.zeros((2, 5), dtype=np.uint8)
    rel = np.array([[False] * 5, [True, False, True, False, False]])
    got = hamming.ap_from_histograms(*histograms(d, rel, 12))
    assert got["tie_aware"][0] == got["upper"][0] == got["lower"][0] == 0.0
    # all tied: the expectation is the AP of a random ranking, as in dsah.metrics.expected_random_ap
    assert got["tie_aware"][1] == pytest.approx(metrics.expected_random_ap(np.array([2]), 5)[0])


def test_precision_within_radius_and_empty_balls():
    d = np.array([[0, 2, 3, 5], [4, 4, 5, 6]])
    rel = np.array([[True, False, True, True], [True, True, True, True]])
    prec, empty = hamming.precision_within_radius(*histograms(d, rel, 6), radius=2)
    assert prec.tolist() == [0.5, 0.0] and empty.tolist() == [False, True]


def test_pr_by_radius_ends_at_full_recall():
    rng = np.random.default_rng(0)
    qc, dbc, ql, dl = _random_case(rng, 20, 200, 12, 4)
    sc = hamming.scan_queries(qc, dbc, ql, dl)
    prec, rec = hamming.pr_by_radius(sc["rel_at"], sc["irr_at"])
    assert prec.shape == rec.shape == (20, 13)
    assert np.all(np.diff(rec, axis=1) >= -1e-12) and rec[:, -1] == pytest.approx(1.0)


def test_multi_label_relevance_and_gain():
    ql = np.array([[1, 0, 1]])
    dl = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 1]])
    q, db = _codes_at(np.array([1, 0, 2]), 4)
    sc = hamming.scan_queries(q, db, ql, dl, top_k=(2, 3))
    assert sc["ap"][0] == pytest.approx((1 / 2 + 2 / 3) / 2)  # ranking: item 1 (irrelevant), 0, 2
    assert sc["ap_k"][0].tolist() == pytest.approx([1 / 2, (1 / 2 + 2 / 3) / 2])
    ideal = 2 + 1 / np.log2(3)  # gains 1, 0, 2 sorted: 2, 1, 0
    assert sc["ndcg_k"][0, 1] == pytest.approx((1 / np.log2(3) + 2 / np.log2(4)) / ideal)


def test_label_errors_name_what_is_expected():
    qc, dbc = np.ones((2, 8), np.int8), np.ones((3, 8), np.int8)
    with pytest.raises(ValueError, match="class labels must be integers"):
        hamming.scan_queries(qc, dbc, np.array([0.5, 1.0]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="differ in kind"):
        hamming.scan_queries(qc, dbc, np.array([0, 1]), np.ones((3, 4)))
    with pytest.raises(ValueError, match="2 query codes with 3 labels"):
        hamming.scan_queries(qc, dbc, np.array([0, 1, 2]), np.array([0, 1, 2]))


def test_suite_agrees_with_the_reference_and_counts_empty_queries():
    rng = np.random.default_rng(1)
    qc, dbc, ql, dl = _random_case(rng, 37, 150, 12, 5)
    ql[0] = 99  # a query class absent from the database
    res = hamming.suite(qc, dbc, ql, dl, chunk=8, precision_n=(10, 150), top_k=(5, 150))
    ref = metrics.mean_average_precision(qc, dbc, ql, dl)
    assert abs(res["map_all"] - ref.map) <= 1e-12
    assert res["queries_without_relevant"] == ref.num_without_relevant == 1 and res["num_queries"] == 37
    assert res["map_lower"] <= res["map_tie_aware"] <= res["map_upper"]
    assert res["map_lower"] <= res["map_all"] <= res["map_upper"]
    assert res["chance_map"] == pytest.approx(metrics.chance_map(ql, dl), abs=1e-12)
    # P@N over the whole database is the share of relevant items, whatever the order
    share = np.mean([(dl == c).mean() for c in ql])
    assert res["precision_at_150"] == pytest.approx(share)
    radius, rank = res["curves"]["radius"], res["curves"]["rank"]
    assert len(radius["recall"]) == 13 and radius["recall"][-1] == pytest.approx(1.0)
    assert rank["n"][0] == 1 and rank["n"][-1] == 150 and rank["recall"][-1] == pytest.approx(1.0)
    # the curve by rank is the P@N of the queries with relevant items
    assert rank["precision"][-1] == pytest.approx(share * 37 / 36)
    # AP@N over the whole database is the stable-order AP; NDCG in (0, 1]
    assert res["map_at_150"] == pytest.approx(res["map_all"]) and 0 < res["ndcg_at_5"] <= 1
    with pytest.raises(ValueError, match="query codes have 12 bits, database codes 8"):
        hamming.suite(qc, dbc[:, :8], ql, dl)


def test_benchmark_small(tmp_path, capsys):
    import json

    from dsah.cli import bench

    assert bench.main(["--queries", "50", "--database", "500", "--bits", "13", "--classes", "5", "--k", "10",
                       "--json", str(tmp_path / "b.json")]) == 0
    out = json.loads((tmp_path / "b.json").read_text())
    printed = capsys.readouterr().out
    assert out["max_abs_diff_stable_map"] <= 1e-9 and out["knn_same_distances_as_faiss"] is True
    assert out["knn_stable_order_checked"] is True
    for key in ("speedup_vs_argsort", "peak_mem_mb", "knn_ratio_vs_faiss"):
        assert out[key] > 0 and key in printed
