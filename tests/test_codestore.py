"""Code store round trip, clear errors, and both search engines against brute force (odd code lengths too)."""
import numpy as np
import pytest

from dsah import codestore, metrics


def _codes(rng, n, bits):
    return np.where(rng.random((n, bits)) < 0.5, 1, -1).astype(np.int8)


@pytest.mark.parametrize("engine", codestore.ENGINES)
@pytest.mark.parametrize("bits", [12, 13, 48, 100])
def test_round_trip_and_search_equal_brute_force(tmp_path, bits, engine):
    rng = np.random.default_rng(bits)
    db, q = _codes(rng, 300, bits), _codes(rng, 20, bits)
    store = codestore.CodeStore.from_codes(db, rng.integers(0, 5, 300), np.arange(1000, 1300))
    codestore.save(store, tmp_path / "c.npz")
    back = codestore.load(tmp_path / "c.npz")
    assert back.bits == bits and np.array_equal(back.codes, store.codes) and np.array_equal(back.ids, store.ids)
    dist, idx = codestore.search(back, q, 10, engine=engine)
    full = metrics.hamming(q, db)
    assert np.array_equal(dist, np.sort(full, axis=1)[:, :10])
    assert np.array_equal(np.take_along_axis(full, idx, axis=1), dist)
    if engine == "stable":  # exactly the top of the stable ranking the metrics use
        assert np.array_equal(idx, np.argsort(full, axis=1, kind="stable")[:, :10])


def test_k_larger_than_the_store_and_wrong_query_width():
    rng = np.random.default_rng(0)
    store = codestore.CodeStore.from_codes(_codes(rng, 5, 12), np.zeros(5), np.arange(5))
    dist, idx = codestore.search(store, _codes(rng, 2, 12), 10)
    assert dist.shape == idx.shape == (2, 5)
    with pytest.raises(ValueError, match=r"queries must be \(Q, 12\) codes"):
        codestore.search(store, _codes(rng, 2, 16), 3)
    with pytest.raises(ValueError, match="engine must be one of"):
        codestore.search(store, _codes(rng, 2, 12), 3, engine="annoy")


def test_bad_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no code store"):
        codestore.load(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", codes=np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match=r"other.npz: not a dsah code store \(missing bits, format, ids, labels\)"):
        codestore.load(tmp_path / "other.npz")
    np.savez(tmp_path / "bad.npz", format=np.array("dsah-codes-v1"), bits=np.array(12),
             codes=np.zeros((2, 1), np.uint8), labels=np.zeros(2), ids=np.zeros(2))
    with pytest.raises(ValueError, match=r"bad.npz: codes must be \(2, 2\) uint8 for 12 bits"):
        codestore.load(tmp_path / "bad.npz")
