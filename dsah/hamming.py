"""Exact Hamming-ranking metrics from per-distance counts (numpy; the database scans are in `dsah.scan`).

Conventions (stated in every metrics file the evaluate stage writes):

* ranking: the database sorted by Hamming distance to the query; "stable" order breaks ties by
  database order (`map_all`, `map_at_k`, `ndcg_at_k`), the same as `dsah.metrics`;
* tie-aware AP: the expectation of AP over all orderings within tied distances (McSherry & Najork,
  ECIR 2008; He et al., CVPR 2018), with its optimistic (relevant first within ties, `map_upper`)
  and pessimistic (relevant last, `map_lower`) bounds;
* AP@k (HashNet/DeepHash convention): the mean precision at the ranks of the relevant items within
  the top k, divided by how many relevant items the top k holds (0 when it holds none);
* NDCG@k: gain = labels shared with the query (1 for single-label data) over log2(rank + 1), divided
  by the DCG of the ideal order;
* precision within Hamming radius r: an empty ball scores 0; the share of empty balls is reported;
* precision@N and the precision-recall curves are tie-aware (expected values over tie orders);
* a query without any relevant item scores 0 in every AP, NDCG and precision, and is counted.

Distances are integers 0..K, so for each query the counts of relevant and of all database items at
every distance — one compiled pass over the database (`dsah.scan.rank_scan`) — determine the
tie-aware metrics without sorting; the same scan ranks each relevant item in stable order from those
counts. Codes are packed 8 bits per byte (`pack`, the storage format) and scanned as 64-bit words.
"""
from __future__ import annotations

import numpy as np

from dsah import scan
from dsah.metrics import expected_random_ap


def pack(codes: np.ndarray) -> np.ndarray:
    """{-1, +1} (or {0, 1}) codes (N, K) -> (N, ceil(K / 8)) uint8, bit set for +1; K padded with zeros."""
    codes = np.asarray(codes)
    return np.packbits(codes > 0, axis=1)


def words(packed: np.ndarray) -> np.ndarray:
    """Byte-packed rows viewed as uint64 words (zero-padded to whole words) for a wide XOR / AND."""
    pad = (-packed.shape[1]) % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((len(packed), pad), dtype=np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def label_words(labels: np.ndarray) -> tuple[np.ndarray, bool, int]:
    """Labels for the scan: class indices (N,) -> (N, 1) words; multi-hot rows (N, C) -> packed bits.

    Returns (words, multilabel, the largest possible gain).
    """
    labels = np.asarray(labels)
    if labels.ndim == 1:
        if labels.dtype.kind not in "iu":
            raise ValueError(f"class labels must be integers, got {labels.dtype}")
        return labels.astype(np.int64).view(np.uint64)[:, None], False, 1
    if labels.ndim != 2:
        raise ValueError(f"labels must be (N,) class indices or (N, C) multi-hot rows, got shape {labels.shape}")
    return words(np.packbits(labels > 0, axis=1)), True, labels.shape[1]


def scan_queries(q_codes, db_codes, q_labels, db_labels, top_k=()) -> dict[str, np.ndarray]:
    """Run `dsah.scan.rank_scan`: per query, counts by distance (`rel_at`, `irr_at`, (Q, K + 1)),
    stable-order AP (`ap`), and AP@k and NDCG@k (`ap_k`, `ndcg_k`, (Q, len(top_k)))."""
    q_codes, db_codes = np.asarray(q_codes), np.asarray(db_codes)
    bits = q_codes.shape[1]
    if q_codes.ndim != 2 or db_codes.ndim != 2 or db_codes.shape[1] != bits:
        raise ValueError(f"query codes have {bits} bits, database codes {db_codes.shape[-1]} "
                         f"(expected (Q, K) and (N, K) arrays, got {q_codes.shape} and {db_codes.shape})")
    if len(q_labels) != len(q_codes) or len(db_labels) != len(db_codes):
        raise ValueError(f"{len(q_codes)} query codes with {len(q_labels)} labels, "
                         f"{len(db_codes)} database codes with {len(db_labels)} labels")
    (ql, multi, max_gain), (dl, multi_db, _) = label_words(q_labels), label_words(db_labels)
    if multi != multi_db or ql.shape[1] != dl.shape[1]:
        raise ValueError("query and database labels differ in kind (class indices vs multi-hot) or width")
    ks = np.asarray([min(int(k), len(db_codes)) for k in top_k] or [1], dtype=np.int64)
    rel_at, tot_at, ap, ap_k, ndcg_k = scan.rank_scan(words(pack(q_codes)), words(pack(db_codes)), ql, dl,
                                                      multi, bits, ks, max_gain)
    n = len(top_k)
    return {"rel_at": rel_at, "irr_at": tot_at - rel_at, "ap": ap, "ap_k": ap_k[:, :n], "ndcg_k": ndcg_k[:, :n]}


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
    """Per query, precision and recall of the ball of each radius 0..K: two (Q, K + 1) arrays.

    An empty ball has precision 0 (the convention of most hashing papers' PR curves); a query without
    relevant items has recall 0.
    """
    cum_rel = np.cumsum(rel_at, axis=1).astype(np.float64)
    cum_tot = cum_rel + np.cumsum(irr_at, axis=1)
    n_rel = cum_rel[:, -1:]
    prec = np.divide(cum_rel, cum_tot, out=np.zeros_like(cum_rel), where=cum_tot > 0)
    rec = np.divide(cum_rel, n_rel, out=np.zeros_like(cum_rel), where=n_rel > 0)
    return prec, rec


def expected_hits(rel_at: np.ndarray, irr_at: np.ndarray, ns) -> np.ndarray:
    """(Q, len(ns)): expected relevant items among the first n of the ranking, over tie orders.

    Groups wholly inside the first n count fully; the group that straddles position n contributes its
    share r / t of the positions it fills.
    """
    rel_at = np.asarray(rel_at, dtype=np.float64)
    tot_at = rel_at + irr_at
    before = np.cumsum(tot_at, axis=1) - tot_at
    ns = np.asarray(ns, dtype=np.float64)
    filled = np.clip(ns[None, :, None] - before[:, None, :], 0, tot_at[:, None, :])  # (Q, len(ns), K + 1)
    share = np.divide(rel_at, tot_at, out=np.zeros_like(rel_at), where=tot_at > 0)
    return (filled * share[:, None, :]).sum(axis=2)


def precision_at(rel_at: np.ndarray, irr_at: np.ndarray, n: int) -> np.ndarray:
    """Tie-aware precision@n per query."""
    return expected_hits(rel_at, irr_at, [n])[:, 0] / n


def rank_points(n: int, points: int = 40) -> np.ndarray:
    """Cut-offs for the curves by rank: about `points` geometrically spaced integers 1..n."""
    return np.unique(np.round(np.geomspace(1, max(n, 1), points)).astype(np.int64))


def suite(q_codes, db_codes, q_labels, db_labels, top_k=(100,), precision_n=(100,), radius: int = 2,
          points: int = 40, chunk: int = 1024, per_query: bool = False) -> dict:
    """Every metric of this module, averaged over queries, a chunk of queries at a time.

    Scalars: map_all (stable order), map_tie_aware, map_lower, map_upper, chance_map (a random
    ranking's expected mAP, from the same counts), map_at_<k>, ndcg_at_<k>,
    precision_at_<n>, precision_h<radius>, empty_h<radius>_share, num_queries, queries_without_relevant.
    `curves`: precision and recall by Hamming radius and by rank cut-off, averaged over the queries
    that have relevant items. With `per_query`, `per_query` holds each query's APs.
    """
    q_codes, q_labels = np.asarray(q_codes), np.asarray(q_labels)
    n_db = len(db_codes)
    bits = q_codes.shape[1]
    ns = rank_points(n_db, points)
    sums: dict[str, float] = {}
    curve_sums = {k: 0.0 for k in ("radius_precision", "radius_recall", "rank_precision", "rank_recall")}
    with_rel, per = 0, {"ap_stable": [], "ap_tie_aware": [], "ap_lower": [], "ap_upper": []}
    for s in range(0, len(q_codes), chunk):
        sc = scan_queries(q_codes[s : s + chunk], db_codes, q_labels[s : s + chunk], db_labels, top_k)
        rel_at, irr_at = sc["rel_at"], sc["irr_at"]
        ap = ap_from_histograms(rel_at, irr_at)
        parts = {"map_all": sc["ap"], "map_tie_aware": ap["tie_aware"], "map_lower": ap["lower"],
                 "map_upper": ap["upper"], "chance_map": expected_random_ap(rel_at.sum(axis=1), n_db)}
        for j, k in enumerate(top_k):
            parts[f"map_at_{k}"], parts[f"ndcg_at_{k}"] = sc["ap_k"][:, j], sc["ndcg_k"][:, j]
        hits = expected_hits(rel_at, irr_at, [min(n, n_db) for n in precision_n])
        for j, n in enumerate(precision_n):
            parts[f"precision_at_{n}"] = hits[:, j] / max(min(n, n_db), 1)
        parts[f"precision_h{radius}"], empty = precision_within_radius(rel_at, irr_at, radius)
        parts[f"empty_h{radius}_share"] = empty.astype(np.float64)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v.sum())
        has = rel_at.sum(axis=1) > 0
        with_rel += int(has.sum())
        prec, rec = pr_by_radius(rel_at[has], irr_at[has])
        curve_sums["radius_precision"] += prec.sum(axis=0)
        curve_sums["radius_recall"] += rec.sum(axis=0)
        hits = expected_hits(rel_at[has], irr_at[has], ns)
        curve_sums["rank_precision"] += (hits / ns).sum(axis=0)
        curve_sums["rank_recall"] += (hits / rel_at[has].sum(axis=1, keepdims=True)).sum(axis=0)
        if per_query:
            for key, v in zip(per, (sc["ap"], ap["tie_aware"], ap["lower"], ap["upper"])):
                per[key].append(v)
    nq = max(len(q_codes), 1)
    out: dict = {k: v / nq for k, v in sums.items()}
    out.update({"num_queries": len(q_codes), "queries_without_relevant": len(q_codes) - with_rel})
    mean = {k: np.broadcast_to(v / max(with_rel, 1), (len(ns) if k.startswith("rank") else bits + 1,)).tolist()
            for k, v in curve_sums.items()}
    out["curves"] = {
        "radius": {"radius": list(range(bits + 1)), "precision": mean["radius_precision"], "recall": mean["radius_recall"]},
        "rank": {"n": ns.tolist(), "precision": mean["rank_precision"], "recall": mean["rank_recall"]},
    }
    if per_query:
        out["per_query"] = {k: np.concatenate(v) if v else np.zeros(0) for k, v in per.items()}
    return out
