"""Benchmark of the evaluation engine: `python -m dsah.cli.bench [--json FILE]`.

Random codes with class structure (each item = its class's code with bits flipped), by default
10,000 queries x 100,000 database items x 48 bits. In one process it times the metric suite
(`dsah.hamming.suite`) against an argsort-based mAP reference written the way DeepHash-pytorch
computes it (one query at a time: distances by inner product, argsort, cumulative hits — with a
stable sort, so that both follow the same tie convention), compares their stable-order mAP, and times
Hamming top-k search of the code store (`dsah.codestore.search`, stable engine) against faiss
`IndexBinaryFlat` on the same packed codes. Memory: `peak_mem_mb` is the tracemalloc peak during the
suite (numpy's allocations; numba's per-thread scratch, one byte per database item, is not traced),
`max_rss_mb` the whole process's high-water mark at the end (data, reference and search included). Kernels are compiled before timing; the compile time is reported apart.
Prints a table and writes the same figures to `--json`.
"""
from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numba
import numpy as np

from dsah import codestore, hamming


def random_codes(n: int, bits: int, labels: np.ndarray, centres: np.ndarray, flip: float, rng) -> np.ndarray:
    codes = centres[labels].copy()
    codes[rng.random((n, bits)) < flip] *= -1
    return codes


def reference_map(q, db, ql, dl) -> np.ndarray:
    """Per-query AP, DeepHash-pytorch style (per query argsort over the database), stable ties."""
    bits = q.shape[1]
    db_f = db.astype(np.float64)
    aps = np.zeros(len(q))
    for i in range(len(q)):
        ham = 0.5 * (bits - db_f @ q[i].astype(np.float64))
        order = np.argsort(ham, kind="stable")
        gnd = (dl[order] == ql[i]).astype(np.float64)
        total = gnd.sum()
        if total == 0:
            continue
        count = np.arange(1, total + 1)
        where = np.flatnonzero(gnd) + 1.0
        aps[i] = np.mean(count / where)
    return aps


def knn_faiss(qp: np.ndarray, dbp: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexBinaryFlat(dbp.shape[1] * 8)  # pack() pads K to whole bytes with zeros
    index.add(dbp)
    return index.search(qp, k)


def run(queries: int, database: int, bits: int, classes: int, flip: float, k: int, seed: int,
        reference_queries: int | None) -> dict:
    rng = np.random.default_rng(seed)
    centres = np.where(rng.random((classes, bits)) < 0.5, 1, -1).astype(np.int8)
    ql, dl = rng.integers(0, classes, queries), rng.integers(0, classes, database)
    q, db = random_codes(queries, bits, ql, centres, flip, rng), random_codes(database, bits, dl, centres, flip, rng)

    t0 = time.perf_counter()  # compile (or load from numba's cache) the kernels on a tiny input
    hamming.suite(q[:2], db[:50], ql[:2], dl[:50])
    codestore.search(codestore.CodeStore.from_codes(db[:50], dl[:50], np.arange(50)), q[:2], 5)
    compile_s = time.perf_counter() - t0

    tracemalloc.start()
    t0 = time.perf_counter()
    res = hamming.suite(q, db, ql, dl, per_query=True)
    suite_s = time.perf_counter() - t0
    peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    nref = queries if reference_queries is None else min(reference_queries, queries)
    t0 = time.perf_counter()
    ref = reference_map(q[:nref], db, ql[:nref], dl)
    ref_s = (time.perf_counter() - t0) * queries / nref  # per the same number of queries
    diff = float(np.abs(res["per_query"]["ap_stable"][:nref] - ref).max())

    store = codestore.CodeStore.from_codes(db, dl, np.arange(database))
    t0 = time.perf_counter()
    ours_d, ours_i = codestore.search(store, q, k)
    ours_s = time.perf_counter() - t0
    qp = hamming.pack(q)
    t0 = time.perf_counter()
    faiss_d, _ = knn_faiss(qp, store.codes, k)
    faiss_s = time.perf_counter() - t0
    # the stable engine's order is the reference ranking's: check it on the timed reference queries
    order = [np.argsort(0.5 * (bits - db.astype(np.int32) @ q[i].astype(np.int32)), kind="stable")[:k]
             for i in range(min(nref, 200))]
    return {
        "queries": queries, "database": database, "bits": bits, "classes": classes, "flip": flip, "k": k,
        "suite_seconds": suite_s, "argsort_reference_seconds": ref_s, "reference_queries_timed": nref,
        "speedup_vs_argsort": ref_s / suite_s, "max_abs_diff_stable_map": diff,
        "peak_mem_mb": peak_mb, "knn_seconds": ours_s, "faiss_seconds": faiss_s, "knn_ratio_vs_faiss": faiss_s / ours_s,
        "knn_same_distances_as_faiss": bool(np.array_equal(ours_d, faiss_d)),
        "knn_stable_order_checked": bool(all(np.array_equal(o, i) for o, i in zip(order, ours_i))),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "compile_seconds": compile_s, "threads": numba.get_num_threads(),
        "map_all": res["map_all"], "map_tie_aware": res["map_tie_aware"], "map_lower": res["map_lower"],
        "map_upper": res["map_upper"], "precision_h2": res["precision_h2"], "map_at_100": res["map_at_100"],
        "ndcg_at_100": res["ndcg_at_100"],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--database", type=int, default=100_000)
    ap.add_argument("--bits", type=int, default=48)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--flip", type=float, default=0.2, help="share of bits flipped from the class code")
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference-queries", type=int, default=None,
                    help="time the slow reference on this many queries and scale (default: all)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    out = run(a.queries, a.database, a.bits, a.classes, a.flip, a.k, a.seed, a.reference_queries)
    for key, val in out.items():
        print(f"{key:<28} {val:.6g}" if isinstance(val, float) else f"{key:<28} {val}")
    if a.json:
        from dsah.io import write_json

        write_json(a.json, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
