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


@pytest.mark.parametrize("bits", [1, 7, 8, 12, 13, 48, 64])
def test_packed_distances_equal_the_plain_ones(bits):
    rng = np.random.default_rng(bits)
    qc, dbc, _, _ = _random_case(rng, 5, 40, bits, 3)
    d = hamming.distances(hamming.pack(qc), hamming.pack(dbc))
    assert d.dtype == np.uint8 and np.array_equal(d, metrics.hamming(qc, dbc))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 60), bits=st.sampled_from([2, 4, 12]), classes=st.integers(1, 6))
def test_stable_ap_equals_the_sort_based_reference(seed, n, bits, classes):
    qc, dbc, ql, dl = _random_case(np.random.default_rng(seed), 4, n, bits, classes)
    d = hamming.distances(hamming.pack(qc), hamming.pack(dbc))
    rel = metrics.relevance(ql, dl)
    ref = metrics.mean_average_precision(qc, dbc, ql, dl).ap
    assert np.abs(hamming.stable_ap(d, rel) - ref).max() <= 1e-12


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 7), bits=st.sampled_from([1, 2, 3]))
def test_tie_aware_ap_is_the_mean_over_every_tie_order_and_lies_between_the_bounds(seed, n, bits):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, bits + 1, (1, n))
    rel = rng.random((1, n)) < 0.5
    rel_at, irr_at = hamming.histograms(d, rel, bits)
    got = hamming.ap_from_histograms(rel_at, irr_at)
    aps = [_ap(h) for h in _all_tie_orders(d[0], rel[0])]
    assert got["tie_aware"][0] == pytest.approx(np.mean(aps), abs=1e-12)
    assert got["upper"][0] == pytest.approx(max(aps), abs=1e-12)
    assert got["lower"][0] == pytest.approx(min(aps), abs=1e-12)
    assert got["lower"][0] - 1e-12 <= got["tie_aware"][0] <= got["upper"][0] + 1e-12


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 7), k=st.integers(1, 7))
def test_tie_aware_precision_at_n_is_the_mean_over_every_tie_order(seed, n, k):
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 3, (1, n))
    rel = rng.random((1, n)) < 0.5
    k = min(k, n)
    expected = np.mean([h[:k].mean() for h in _all_tie_orders(d[0], rel[0])])
    assert hamming.precision_at(*hamming.histograms(d, rel, 2), k)[0] == pytest.approx(expected, abs=1e-12)


def test_hand_computed_ties():
    # distances 0, 1, 1, 1; relevant: item 0 and one of the three tied items.
    d = np.array([[0, 1, 1, 1]])
    rel = np.array([[True, False, True, False]])
    got = hamming.ap_from_histograms(*hamming.histograms(d, rel, 2))
    # relevant tied item at rank 2, 3 or 4 with probability 1/3 each: AP = (1 + mean(2/2, 2/3, 2/4)) / 2
    assert got["tie_aware"][0] == pytest.approx((1 + (1 + 2 / 3 + 1 / 2) / 3) / 2)
    assert got["upper"][0] == pytest.approx(1.0) and got["lower"][0] == pytest.approx((1 + 0.5) / 2)
    assert hamming.stable_ap(d.astype(np.uint8), rel)[0] == pytest.approx((1 + 2 / 3) / 2)


def test_edge_cases_no_relevant_item_and_everything_tied():
    d = np.zeros((2, 5), dtype=np.uint8)
    rel = np.array([[False] * 5, [True, False, True, False, False]])
    got = hamming.ap_from_histograms(*hamming.histograms(d, rel, 12))
    assert got["tie_aware"][0] == got["upper"][0] == got["lower"][0] == 0.0
    # all tied: the expectation is the AP of a random ranking, as in dsah.metrics.expected_random_ap
    assert got["tie_aware"][1] == pytest.approx(metrics.expected_random_ap(np.array([2]), 5)[0])


def test_precision_within_radius_and_empty_balls():
    d = np.array([[0, 2, 3, 5], [4, 4, 5, 6]])
    rel = np.array([[True, False, True, True], [True, True, True, True]])
    prec, empty = hamming.precision_within_radius(*hamming.histograms(d, rel, 6), radius=2)
    assert prec.tolist() == [0.5, 0.0] and empty.tolist() == [False, True]


def test_pr_by_radius_ends_at_full_recall():
    rng = np.random.default_rng(0)
    qc, dbc, ql, dl = _random_case(rng, 20, 200, 12, 4)
    d = hamming.distances(hamming.pack(qc), hamming.pack(dbc))
    prec, rec = hamming.pr_by_radius(*hamming.histograms(d, metrics.relevance(ql, dl), 12))
    assert prec.shape == rec.shape == (13,)
    assert np.all(np.diff(rec) >= -1e-12) and rec[-1] == pytest.approx(1.0)


def test_multi_label_relevance_goes_through_unchanged():
    ql = np.array([[1, 0, 1]])
    dl = np.array([[0, 0, 1], [0, 1, 0], [1, 1, 0]])
    rel = metrics.relevance(ql, dl)
    assert rel.tolist() == [[True, False, True]]
    d = np.array([[1, 0, 2]], dtype=np.uint8)
    assert hamming.stable_ap(d, rel)[0] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_suite_agrees_with_the_reference_and_counts_empty_queries():
    rng = np.random.default_rng(1)
    qc, dbc, ql, dl = _random_case(rng, 37, 150, 12, 5)
    ql[0] = 99  # a query class absent from the database
    res = hamming.suite(qc, dbc, ql, dl, chunk=8, precision_n=(10, 150))
    ref = metrics.mean_average_precision(qc, dbc, ql, dl)
    assert abs(res["map_all"] - ref.map) <= 1e-12
    assert res["queries_without_relevant"] == ref.num_without_relevant == 1 and res["num_queries"] == 37
    assert res["map_lower"] <= res["map_tie_aware"] <= res["map_upper"]
    assert res["map_lower"] <= res["map_all"] <= res["map_upper"]
    # P@N over the whole database is the share of relevant items, whatever the order
    share = np.mean([(dl == c).mean() for c in ql])
    assert res["precision_at_150"] == pytest.approx(share)
    assert len(res["pr_radius_recall"]) == 13 and res["pr_radius_recall"][-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="12 bits, database codes 8"):
        hamming.suite(qc, dbc[:, :8], ql, dl)


def test_benchmark_small(tmp_path, capsys):
    import json

    from dsah import bench

    assert bench.main(["--queries", "50", "--database", "500", "--bits", "13", "--classes", "5", "--k", "10",
                       "--json", str(tmp_path / "b.json")]) == 0
    out = json.loads((tmp_path / "b.json").read_text())
    printed = capsys.readouterr().out
    assert out["max_abs_diff_stable_map"] <= 1e-9 and out["knn_same_distances"] is True
    for key in ("speedup_vs_argsort", "peak_mem_mb", "knn_ratio_vs_faiss"):
        assert out[key] > 0 and key in printed
