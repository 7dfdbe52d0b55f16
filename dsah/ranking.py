"""Ranking metrics for real-valued distances (DTQ's asymmetric quantizer distance), numpy only.

The same conventions and, where it can, the same code as the Hamming suite (`dsah.hamming`): the
database is sorted by distance (stable: ties in database order) for map_all, map_at_k and ndcg_at_k;
items at exactly equal distances form tie groups, whose per-query counts feed the Hamming suite's own
closed forms for tie-aware AP with its bounds, tie-aware precision@N and the rank curves. Real distances
rarely tie, so tie-aware and stable values nearly coincide. There is no Hamming radius here: the
radius metrics (precision_h<r>, the radius curves) are absent from the result.
"""
from __future__ import annotations

import numpy as np

from dsah.hamming import ap_from_histograms, rank_points
from dsah.metrics import expected_random_ap


def gains(q_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """(Q, N) int: 1 for the same class, or the number of shared labels for multi-hot rows."""
    q, db = np.asarray(q_labels), np.asarray(db_labels)
    if q.ndim == 1:
        return (q[:, None] == db[None, :]).astype(np.int64)
    return q.astype(np.int64) @ db.astype(np.int64).T


def tie_groups(sorted_d: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counts of relevant and of irrelevant items per tie group, (Q, N) each (unused groups zero),
    from each query's distances in ascending order and the relevance in the same order."""
    nq, n = sorted_d.shape
    new = np.ones_like(sorted_d, dtype=bool)
    new[:, 1:] = sorted_d[:, 1:] != sorted_d[:, :-1]
    group = np.cumsum(new, axis=1) - 1 + np.arange(nq)[:, None] * n
    rel_at = np.bincount(group.ravel(), weights=rel.ravel(), minlength=nq * n).reshape(nq, n)
    tot_at = np.bincount(group.ravel(), minlength=nq * n).reshape(nq, n)
    return rel_at, tot_at - rel_at


def expected_hits(rel_at: np.ndarray, irr_at: np.ndarray, ns) -> np.ndarray:
    """(Q, len(ns)) expected relevant items among the first n, over tie orders (as
    `dsah.hamming.expected_hits`, without its (Q, len(ns), groups) intermediate: here groups are many)."""
    tot = rel_at + irr_at
    cum_tot, cum_rel = np.cumsum(tot, axis=1), np.cumsum(rel_at, axis=1)
    rows = np.arange(len(tot))
    out = np.zeros((len(tot), len(ns)))
    for j, n in enumerate(ns):
        g = np.minimum((cum_tot < n).sum(axis=1), tot.shape[1] - 1)  # the group holding position n
        before_tot = np.where(g > 0, cum_tot[rows, g - 1], 0)
        before_rel = np.where(g > 0, cum_rel[rows, g - 1], 0)
        t = tot[rows, g]
        share = np.divide(rel_at[rows, g], t, out=np.zeros(len(t)), where=t > 0)
        out[:, j] = before_rel + np.clip(n - before_tot, 0, t) * share
    return out


def distance_suite(dist, q_labels, db_labels, top_k=(100,), precision_n=(100,), points: int = 40,
                   chunk: int = 256) -> dict:
    """Every metric of `dsah.hamming.suite` that does not need a Hamming radius, from (Q, N) distances:
    an array, or a function (start, stop) -> the distances of queries start..stop-1 (large databases)."""
    q_labels, db_labels = np.asarray(q_labels), np.asarray(db_labels)
    nq_all, n_db = len(q_labels), len(db_labels)
    rows = dist if callable(dist) else (lambda a, b, d=np.asarray(dist): d[a:b])
    if not callable(dist) and np.asarray(dist).shape != (nq_all, n_db):
        raise ValueError(f"distances {np.asarray(dist).shape} do not match {nq_all} query and {n_db} "
                         "database labels")
    ns = rank_points(n_db, points)
    ranks = np.arange(1, n_db + 1)
    sums: dict[str, float] = {}
    curve = {"precision": 0.0, "recall": 0.0}
    with_rel = 0
    for s in range(0, nq_all, chunk):
        d = np.asarray(rows(s, min(s + chunk, nq_all)))
        order = np.argsort(d, axis=1, kind="stable")
        g_all = gains(q_labels[s : s + chunk], db_labels)
        g = np.take_along_axis(g_all, order, axis=1)
        rel = g > 0
        cum = np.cumsum(rel, axis=1)
        n_rel = cum[:, -1]
        prec = cum / ranks
        parts = {"map_all": np.divide((rel * prec).sum(1), n_rel, out=np.zeros(len(d)), where=n_rel > 0)}
        rel_at, irr_at = tie_groups(np.take_along_axis(d, order, axis=1), rel)
        ap = ap_from_histograms(rel_at, irr_at)
        parts.update(map_tie_aware=ap["tie_aware"], map_lower=ap["lower"], map_upper=ap["upper"],
                     chance_map=expected_random_ap(n_rel, n_db))
        discount = 1.0 / np.log2(ranks + 1.0)
        ideal = -np.sort(-g_all, axis=1)
        for k in top_k:
            kk = min(k, n_db)
            hits_k = cum[:, kk - 1]
            parts[f"map_at_{k}"] = np.divide((rel[:, :kk] * prec[:, :kk]).sum(1), hits_k,
                                             out=np.zeros(len(d)), where=hits_k > 0)
            best = (ideal[:, :kk] * discount[:kk]).sum(1)
            parts[f"ndcg_at_{k}"] = np.divide((g[:, :kk] * discount[:kk]).sum(1), best,
                                              out=np.zeros(len(d)), where=best > 0)
        hits = expected_hits(rel_at, irr_at, [min(n, n_db) for n in precision_n])
        for j, n in enumerate(precision_n):
            parts[f"precision_at_{n}"] = hits[:, j] / max(min(n, n_db), 1)
        for k, v in parts.items():
            sums[k] = sums.get(k, 0.0) + float(v.sum())
        has = n_rel > 0
        with_rel += int(has.sum())
        h = expected_hits(rel_at[has], irr_at[has], ns)
        curve["precision"] += (h / ns).sum(axis=0)
        curve["recall"] += (h / n_rel[has, None]).sum(axis=0)
    nq = max(nq_all, 1)
    out: dict = {k: v / nq for k, v in sums.items()}
    out.update({"num_queries": nq_all, "queries_without_relevant": nq_all - with_rel})
    mean = {k: np.broadcast_to(v / max(with_rel, 1), (len(ns),)).tolist() for k, v in curve.items()}
    out["curves"] = {"rank": {"n": ns.tolist(), **mean}}
    return out
