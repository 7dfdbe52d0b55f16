"""Compiled scans of the database, one query at a time (numba; the hot loops of `dsah.hamming`).

Ranking a database by Hamming distance needs no sort: distances are integers 0..K, so one pass in
database order counts the items at each distance and gives every relevant item its rank in the
stable order (ties in database order) — rank = items at smaller distances (known when the pass ends)
+ items at the same distance seen so far + 1. O(N) per query with K + 1 counters; queries run in
parallel threads; memory per thread is a few integers per relevant item.

Codes come as uint64 words (`dsah.hamming.words`); labels as uint64 words too: a class index in one
word (relevant = equal, gain 1) or multi-hot rows packed as bits (relevant = a shared label, gain =
the number of shared labels).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx, x):
    """One popcnt instruction (LLVM ctpop) for a uint64, as an int64 (so that sums stay integers)."""
    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.int64(types.uint64), codegen


LANES = 4  # a power of two


@njit(inline="always")
def _distance(qw, dbw, a, i):
    d = 0
    for w in range(qw.shape[1]):
        d += _popcount(qw[a, w] ^ dbw[i, w])
    return d


@njit(inline="always")
def _gain(ql, dl, a, i, multilabel):
    if not multilabel:
        return 1 if ql[a, 0] == dl[i, 0] else 0
    g = 0
    for w in range(ql.shape[1]):
        g += _popcount(ql[a, w] & dl[i, w])
    return g


@njit(parallel=True, cache=True)
def rank_scan(qw, dbw, ql, dl, multilabel, bits, ks, max_gain):
    """Per query: counts of relevant and of all items at each distance, stable-order AP, AP@k and
    NDCG@k for each k in `ks` (HashNet normalisation for AP@k: the relevant items within the top k;
    linear gain / log2(rank + 1) for NDCG, ideal DCG from the sorted gains).

    Returns rel_at (Q, bits + 1), tot_at (Q, bits + 1), ap (Q,), ap_k (Q, len(ks)), ndcg_k (Q, len(ks)).
    """
    nq, n, nk = qw.shape[0], dbw.shape[0], ks.shape[0]
    rel_at = np.zeros((nq, bits + 1), np.int64)
    tot_at = np.zeros((nq, bits + 1), np.int64)
    ap = np.zeros(nq)
    ap_k = np.zeros((nq, nk))
    ndcg_k = np.zeros((nq, nk))
    for a in prange(nq):
        # One pass in database order. A relevant item's rank in the stable order is (items at smaller
        # distances) + (items at its distance seen so far) + 1; the second term is known when the item
        # is met, the first once the pass ends, so relevant items are noted and ranked afterwards.
        lanes = np.zeros((LANES, bits + 1), np.int64)  # counts by distance, split over lanes so that
        rel = np.zeros(bits + 1, np.int64)  # runs of equal distances do not wait on one counter
        by_gain = np.zeros(max_gain + 1, np.int64)
        note_d = np.empty(n, np.int64)
        note_seen = np.empty(n, np.int64)
        note_rel = np.empty(n, np.int64)
        note_g = np.empty(n, np.int64)
        r = 0
        for i in range(n):
            d = _distance(qw, dbw, a, i)
            g = _gain(ql, dl, a, i, multilabel)
            if g > 0:
                seen = 0
                for lane in range(LANES):
                    seen += lanes[lane, d]
                note_d[r], note_seen[r], note_rel[r], note_g[r] = d, seen, rel[d], g
                r += 1
                rel[d] += 1
                by_gain[g] += 1
            lanes[i & (LANES - 1), d] += 1
        by_gain[0] = n - r
        start_all = np.zeros(bits + 1, np.int64)
        start_rel = np.zeros(bits + 1, np.int64)
        for d in range(bits + 1):
            tot = 0
            for lane in range(LANES):
                tot += lanes[lane, d]
            rel_at[a, d], tot_at[a, d] = rel[d], tot
            if d < bits:
                start_all[d + 1] = start_all[d] + tot
                start_rel[d + 1] = start_rel[d] + rel[d]
        hits_k = np.zeros(nk, np.int64)
        prec_k = np.zeros(nk)
        dcg_k = np.zeros(nk)
        prec_sum = 0.0
        for t in range(r):
            d = note_d[t]
            rank = start_all[d] + note_seen[t] + 1
            p = (start_rel[d] + note_rel[t] + 1) / rank
            prec_sum += p
            for j in range(nk):
                if rank <= ks[j]:
                    hits_k[j] += 1
                    prec_k[j] += p
                    dcg_k[j] += note_g[t] / np.log2(rank + 1.0)
        if r > 0:
            ap[a] = prec_sum / r
        for j in range(nk):
            if hits_k[j] > 0:
                ap_k[a, j] = prec_k[j] / hits_k[j]
            ideal, pos = 0.0, 0
            for g in range(max_gain, 0, -1):
                for _ in range(by_gain[g]):
                    if pos >= ks[j]:
                        break
                    pos += 1
                    ideal += g / np.log2(pos + 1.0)
            if ideal > 0:
                ndcg_k[a, j] = dcg_k[j] / ideal
    return rel_at, tot_at, ap, ap_k, ndcg_k


@njit(parallel=True, cache=True)
def top_k(qw, dbw, bits, k):
    """Indices and distances (Q, k) of the k nearest database items, in stable order (by distance, then
    database index): a counting pass finds the cut-off distance, a second pass places the items."""
    nq, n = qw.shape[0], dbw.shape[0]
    idx = np.empty((nq, k), np.int64)
    out_d = np.empty((nq, k), np.int32)
    for a in prange(nq):
        dist = np.empty(n, np.uint8)
        tot = np.zeros(bits + 1, np.int64)
        for i in range(n):
            d = _distance(qw, dbw, a, i)
            dist[i] = d
            tot[d] += 1
        pos = np.zeros(bits + 2, np.int64)  # next free slot for each distance
        cut = bits
        for d in range(bits + 1):
            pos[d + 1] = pos[d] + tot[d]
            if pos[d + 1] >= k:
                cut = d
                break
        for i in range(n):
            d = dist[i]
            if d <= cut and pos[d] < k:
                idx[a, pos[d]] = i
                out_d[a, pos[d]] = d
                pos[d] += 1
    return idx, out_d
