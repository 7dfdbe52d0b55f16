"""mAP on hand-computed rankings, tie order, empty queries and the chance level."""
import numpy as np
import pytest

from dsah.metrics import chance_map, expected_random_ap, hamming, mean_average_precision, sign_codes


def test_sign_codes_maps_zero_to_plus_one():
    assert sign_codes(np.array([[-0.2, 0.0, 0.7]])).tolist() == [[-1, 1, 1]]


def test_hamming():
    q = np.array([[1, 1, 1, 1]])
    db = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [-1, -1, -1, -1]])
    assert hamming(q, db).tolist() == [[0, 2, 4]]


def test_ap_by_hand():
    # distances 0,1,2,3 -> ranking is db order; relevant at ranks 1 and 3: AP = (1/1 + 2/3) / 2
    q = np.array([[1, 1, 1]])
    db = np.array([[1, 1, 1], [1, 1, -1], [1, -1, -1], [-1, -1, -1]])
    res = mean_average_precision(q, db, np.array([0]), np.array([0, 1, 0, 1]))
    assert res.map == pytest.approx((1 + 2 / 3) / 2)


def test_ties_are_broken_in_database_order():
    q = np.array([[1, 1]])
    db = np.array([[1, -1], [-1, 1], [1, -1]])  # all at distance 1
    # relevant item last in database order -> rank 3
    assert mean_average_precision(q, db, np.array([0]), np.array([1, 1, 0])).map == pytest.approx(1 / 3)
    assert mean_average_precision(q, db, np.array([0]), np.array([0, 1, 1])).map == pytest.approx(1.0)


def test_query_without_relevant_items_counts_as_zero():
    q = np.array([[1, 1], [1, 1]])
    db = np.array([[1, 1], [-1, -1]])
    res = mean_average_precision(q, db, np.array([0, 5]), np.array([0, 1]))
    assert res.map == pytest.approx(0.5) and res.num_without_relevant == 1 and res.num_queries == 2


def test_multilabel_relevance():
    q = np.array([[1, 1]])
    db = np.array([[1, 1], [-1, -1]])
    res = mean_average_precision(q, db, np.array([[1, 0, 1]]), np.array([[0, 0, 1], [1, 0, 0]]))
    assert res.map == pytest.approx(1.0)


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(0)
    q, db = sign_codes(rng.normal(size=(37, 12))), sign_codes(rng.normal(size=(50, 12)))
    ql, dl = rng.integers(0, 4, 37), rng.integers(0, 4, 50)
    a = mean_average_precision(q, db, ql, dl, chunk=5)
    b = mean_average_precision(q, db, ql, dl, chunk=1000)
    assert np.array_equal(a.ap, b.ap)


def test_bit_mismatch_is_an_error():
    with pytest.raises(ValueError, match="12 bits, database codes 16"):
        mean_average_precision(np.ones((1, 12)), np.ones((1, 16)), np.array([0]), np.array([0]))


def test_chance_level_matches_random_rankings():
    rng = np.random.default_rng(1)
    n, r = 30, 6
    sims = []
    for _ in range(4000):
        rel = np.zeros(n, bool)
        rel[rng.choice(n, r, replace=False)] = True
        hits = np.cumsum(rel)
        sims.append((rel * hits / np.arange(1, n + 1)).sum() / r)
    assert expected_random_ap(np.array([r]), n)[0] == pytest.approx(np.mean(sims), abs=0.01)
    labels = np.repeat(np.arange(5), 6)
    assert chance_map(labels[:5], labels) == pytest.approx(expected_random_ap(np.array([6]), 30)[0])
