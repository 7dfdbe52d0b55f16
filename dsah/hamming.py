"""Exact Hamming-ranking metrics from per-distance counts (numpy only; issue 4, work in progress).

Hamming distances are integers 0..K, so for each query the counts of relevant and irrelevant
database items at every distance determine every tie-aware metric without sorting the database:

* tie-aware AP: the expectation of AP over all orderings within tied distances (McSherry & Najork,
  ECIR 2008), with its optimistic (relevant first within ties) and pessimistic (relevant last) bounds;
* precision within Hamming radius r (and whether the ball is empty), precision-recall by radius;
* tie-aware precision@N (the expected share of relevant items among the first N).

Stable-order AP (ties broken by database order, the convention of `dsah.metrics`) needs the order
itself; it uses a counting (radix) sort of the uint8 distances, O(N) per query.

Codes are packed 8 bits per byte (`pack`, the storage format); distances come from XOR of 64-bit
words and `np.bitwise_count`, a chunk of queries at a time so that memory stays bounded.
"""
from __future__ import annotations

import numpy as np

from dsah.metrics import relevance


def pack(codes: np.ndarray) -> np.ndarray:
    """{-1, +1} (or {0, 1}) codes (N, K) -> (N, ceil(K / 8)) uint8, bit set for +1; K padded with zeros."""
    codes = np.asarray(codes)
    return np.packbits(codes > 0, axis=1)


def _words(packed: np.ndarray) -> np.ndarray:
    """Byte-packed codes viewed as uint64 words (zero-padded to whole words) for a wide XOR."""
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((len(packed), pad), dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def distances(q_packed: np.ndarray, db_packed: np.ndarray) -> np.ndarray:
    """(Q, N) uint8 Hamming distances between packed code matrices (K <= 255): XOR + popcount per word."""
    if q_packed.shape[1] != db_packed.shape[1]:
        raise ValueError(f"packed codes differ in width: {q_packed.shape[1]} vs {db_packed.shape[1]} bytes")
    qw, dbw = _words(q_packed), _words(db_packed)
    out = np.bitwise_count(np.bitwise_xor(qw[:, None, 0], dbw[None, :, 0])).astype(np.uint8, copy=False)
    for w in range(1, qw.shape[1]):
        out += np.bitwise_count(np.bitwise_xor(qw[:, None, w], dbw[None, :, w])).astype(np.uint8, copy=False)
    return out


def histograms(dist: np.ndarray, rel: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query, counts of relevant and of irrelevant items at each distance 0..bits: two (Q, bits + 1) arrays.

    All items are counted once (one bincount per row: faster than one over row-offset keys, which
    needs a wide integer copy of the matrix); relevant items, usually a small share, a second time.
    """
    q, width = len(dist), bits + 1
    total = np.stack([np.bincount(row, minlength=width) for row in dist]) if q else np.zeros((0, width), np.int64)
    rows, cols = np.nonzero(rel)
    relevant = np.bincount(rows * width + dist[rows, cols], minlength=q * width).reshape(q, width)
    return relevant, total - relevant


def _harmonic(n: int) -> np.ndarray:
    """H[j] = sum_{i=1..j} 1/i for j = 0..n (H[0] = 0)."""
    return np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, n + 1))])


def ap_from_histograms(rel_at: np.ndarray, irr_at: np.ndarray) -> dict[str, np.ndarray]:
    """Tie-aware AP and its bounds per query, from (Q, K + 1) counts; 0 for a query without relevant items.

    A tie group of t items, r of them relevant, follows c items of which R are relevant. The relevant
    item at group position i (probability r / t) has (i - 1)(r - 1)/(t - 1) relevant items before it
    in the group on average, so the group adds sum_i (r / t)(R + 1 + (i - 1)(r - 1)/(t - 1)) / (c + i),
    a difference of harmonic numbers. Optimistic: sum_{i<=r} (R + i)/(c + i); pessimistic: the same
    with the relevant items at the group's last r positions.
    """
    rel_at = np.asarray(rel_at, dtype=np.float64)
    tot_at = rel_at + np.asarray(irr_at, dtype=np.float64)
    n = int(tot_at[0].sum()) if len(tot_at) else 0
    h = _harmonic(n)
    c = np.cumsum(tot_at, axis=1) - tot_at  # items before each group
    big_r = np.cumsum(rel_at, axis=1) - rel_at  # relevant items before each group
    t, r = tot_at, rel_at
    ci, ti, ri = c.astype(np.int64), t.astype(np.int64), r.astype(np.int64)
    hc, hct = h[ci], h[ci + ti]
    # expected: (r/t) sum_{i=1..t} (a + b (i - 1)) / (c + i), a = R + 1, b = (r - 1)/(t - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        b = np.where(t > 1, (r - 1) / np.maximum(t - 1, 1), 0.0)
        a = big_r + 1
        inner = (a - b * (c + 1)) * (hct - hc) + b * t
        expected = np.where(r > 0, r / np.maximum(t, 1) * inner, 0.0)
    upper = np.where(r > 0, r + (big_r - c) * (h[ci + ri] - hc), 0.0)
    lower = np.where(r > 0, r + (big_r - c - t + r) * (hct - h[ci + ti - ri]), 0.0)
    n_rel = rel_at.sum(axis=1)
    safe = np.maximum(n_rel, 1)
    return {
        "tie_aware": np.where(n_rel > 0, expected.sum(axis=1) / safe, 0.0),
        "upper": np.where(n_rel > 0, upper.sum(axis=1) / safe, 0.0),
        "lower": np.where(n_rel > 0, lower.sum(axis=1) / safe, 0.0),
    }


def precision_within_radius(rel_at: np.ndarray, irr_at: np.ndarray, radius: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Per query: precision of the Hamming ball of `radius` (0 when empty) and whether it is empty."""
    inside_rel = rel_at[:, : radius + 1].sum(axis=1)
    inside = inside_rel + irr_at[:, : radius + 1].sum(axis=1)
    return np.divide(inside_rel, inside, out=np.zeros(len(inside)), where=inside > 0), inside == 0


def pr_by_radius(rel_at: np.ndarray, irr_at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean precision and recall of the ball of each radius 0..K over queries with relevant items.

    An empty ball counts as precision 0 (the convention of most hashing papers' PR curves).
    """
    cum_rel = np.cumsum(rel_at, axis=1).astype(np.float64)
    cum_tot = cum_rel + np.cumsum(irr_at, axis=1)
    n_rel = rel_at.sum(axis=1)
    keep = n_rel > 0
    prec = np.divide(cum_rel, cum_tot, out=np.zeros_like(cum_rel), where=cum_tot > 0)[keep]
    rec = cum_rel[keep] / n_rel[keep, None]
    return prec.mean(axis=0), rec.mean(axis=0)


def precision_at(rel_at: np.ndarray, irr_at: np.ndarray, n: int) -> np.ndarray:
    """Tie-aware precision@n per query: expected relevant items among the first n, divided by n.

    Groups wholly inside the first n count fully; the group that straddles position n contributes its
    share r / t of the positions it fills.
    """
    rel_at = np.asarray(rel_at, dtype=np.float64)
    tot_at = rel_at + irr_at
    before = np.cumsum(tot_at, axis=1) - tot_at
    filled = np.clip(n - before, 0, tot_at)  # positions of each group within the first n
    share = np.divide(rel_at, tot_at, out=np.zeros_like(rel_at), where=tot_at > 0)
    return (filled * share).sum(axis=1) / n


def stable_ap(dist: np.ndarray, rel: np.ndarray) -> np.ndarray:
    """AP per query with ties in database order: a stable (radix, for uint8) sort of each row, then the
    precision at each relevant item's rank, visiting relevant items only."""
    q = len(dist)
    ranked = np.stack([r[np.argsort(d, kind="stable")] for d, r in zip(dist, rel)]) if q else rel
    rows, pos = np.nonzero(ranked)  # ranks - 1 of relevant items, row-major
    n_rel = np.bincount(rows, minlength=q)
    kth = np.arange(1, len(rows) + 1) - (np.cumsum(n_rel) - n_rel)[rows]  # 1-based among relevant in the row
    sums = np.bincount(rows, weights=kth / (pos + 1.0), minlength=q)
    return np.divide(sums, n_rel, out=np.zeros(q), where=n_rel > 0)


def suite(q_codes, db_codes, q_labels, db_labels, chunk: int = 64, precision_n=(100,), radius: int = 2,
          per_query: bool = False) -> dict:
    """Every metric above, averaged over queries, a chunk of queries at a time (memory ~ chunk x N).

    Queries without any relevant item score 0 in every AP and are counted. With `per_query`, the
    stable-order AP of every query is returned too (`ap_stable`).
    """
    q_codes, db_codes = np.asarray(q_codes), np.asarray(db_codes)
    bits = q_codes.shape[1]
    if db_codes.shape[1] != bits:
        raise ValueError(f"query codes have {bits} bits, database codes {db_codes.shape[1]}")
    qp, dbp = pack(q_codes), pack(db_codes)
    q_labels, db_labels = np.asarray(q_labels), np.asarray(db_labels)
    sums: dict[str, float] = {}
    pr_prec, pr_rec, with_rel, without = np.zeros(bits + 1), np.zeros(bits + 1), 0, 0
    stable = []
    for s in range(0, len(qp), chunk):
        d = distances(qp[s : s + chunk], dbp)
        rel = relevance(q_labels[s : s + chunk], db_labels)
        rel_at, irr_at = histograms(d, rel, bits)
        ap = ap_from_histograms(rel_at, irr_at)
        parts = {"map_all": stable_ap(d, rel), "map_tie_aware": ap["tie_aware"], "map_lower": ap["lower"],
                 "map_upper": ap["upper"]}
        parts[f"precision_h{radius}"], empty = precision_within_radius(rel_at, irr_at, radius)
        parts[f"empty_h{radius}_share"] = empty.astype(np.float64)
        for n in precision_n:
            parts[f"precision_at_{n}"] = precision_at(rel_at, irr_at, min(n, d.shape[1]))
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v.sum())
        if per_query:
            stable.append(parts["map_all"])
        has = rel_at.sum(axis=1) > 0
        if has.any():
            p, r = pr_by_radius(rel_at, irr_at)
            pr_prec += p * has.sum()
            pr_rec += r * has.sum()
        with_rel += int(has.sum())
        without += int((~has).sum())
    n = max(len(qp), 1)
    out = {k: v / n for k, v in sums.items()}
    out.update({"num_queries": len(qp), "queries_without_relevant": without,
                "pr_radius_precision": (pr_prec / max(with_rel, 1)).tolist(),
                "pr_radius_recall": (pr_rec / max(with_rel, 1)).tolist()})
    if per_query:
        out["ap_stable"] = np.concatenate(stable) if stable else np.zeros(0)
    return out
