"""Retrieval metrics on binary codes (numpy only).

Conventions: codes are in {-1, +1}; the database is ranked by Hamming distance to each query,
ties broken by database order (a stable sort); AP is the mean of precision@r over the ranks r of
the relevant items; a query with no relevant item in the database scores 0 and is counted.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def sign_codes(u: np.ndarray) -> np.ndarray:
    """Binarise relaxed codes to {-1, +1} (0 maps to +1), as int8."""
    return np.where(np.asarray(u) >= 0, 1, -1).astype(np.int8)


def hamming(q: np.ndarray, db: np.ndarray) -> np.ndarray:
    """(Q, N) Hamming distances between {-1, +1} code matrices: (K - q . db) / 2."""
    k = q.shape[1]
    return ((k - q.astype(np.int32) @ db.astype(np.int32).T) // 2).astype(np.int32)


def relevance(q_labels: np.ndarray, db_labels: np.ndarray) -> np.ndarray:
    """(Q, N) bool: same class (1-D labels) or at least one shared label (multi-hot rows)."""
    if q_labels.ndim == 1:
        return q_labels[:, None] == db_labels[None, :]
    return (q_labels.astype(np.int32) @ db_labels.astype(np.int32).T) > 0


@dataclass(frozen=True)
class MapResult:
    map: float
    ap: np.ndarray  # per query
    num_queries: int
    num_without_relevant: int


def mean_average_precision(q_codes, db_codes, q_labels, db_labels, chunk: int = 1024) -> MapResult:
    """mAP over the whole database, ties in database order."""
    q_codes, db_codes = np.asarray(q_codes), np.asarray(db_codes)
    if q_codes.shape[1] != db_codes.shape[1]:
        raise ValueError(f"query codes have {q_codes.shape[1]} bits, database codes {db_codes.shape[1]}")
    aps = np.zeros(len(q_codes))
    empty = 0
    for s in range(0, len(q_codes), chunk):
        d = hamming(q_codes[s : s + chunk], db_codes)
        rel = relevance(np.asarray(q_labels)[s : s + chunk], np.asarray(db_labels))
        order = np.argsort(d, axis=1, kind="stable")
        hits = np.take_along_axis(rel, order, axis=1)
        cum = np.cumsum(hits, axis=1)
        ranks = np.arange(1, d.shape[1] + 1)
        n_rel = hits.sum(axis=1)
        prec_sum = (hits * (cum / ranks)).sum(axis=1)
        aps[s : s + chunk] = np.divide(prec_sum, n_rel, out=np.zeros(len(n_rel)), where=n_rel > 0)
        empty += int((n_rel == 0).sum())
    return MapResult(float(aps.mean()) if len(aps) else 0.0, aps, len(aps), empty)


def expected_random_ap(n_relevant: np.ndarray, n: int) -> np.ndarray:
    """Exact expected AP of a uniformly random ranking of `n` items, `n_relevant` of them relevant.

    E[AP] = (1/R) sum_r P(rank r relevant) E[prec@r | rank r relevant]
          = (1/n) [H_n + (R - 1)/(n - 1) (n - H_n)],  with H_n the n-th harmonic number.
    """
    r = np.asarray(n_relevant, dtype=float)
    h = float(np.sum(1.0 / np.arange(1, n + 1)))
    frac = (r - 1) / (n - 1) if n > 1 else np.ones_like(r)
    return np.where(r > 0, (h + frac * (n - h)) / n, 0.0)


def chance_map(q_labels: np.ndarray, db_labels: np.ndarray) -> float:
    """mAP of a random ranking (what codes carrying no information score), averaged over queries."""
    rel = relevance(np.asarray(q_labels), np.asarray(db_labels))
    return float(expected_random_ap(rel.sum(axis=1), rel.shape[1]).mean())
