"""Evaluate stage: encode queries (test split) and database (train split, or the protocol's own); the Hamming-ranking metric
suite (`dsah.hamming`), precision-recall curves, code stores, saliency scores."""
from __future__ import annotations

from itertools import product

import numpy as np

import torch

from dsah import codestore, config, hamming, pq, provenance, ranking, saliency
from dsah.data import prepared
from dsah.io import atomic_path, write_json
from dsah.paths import Layout, run_name
from dsah.retrieval import encode
from dsah.metrics import sign_codes
from dsah.stages.train import load_method


# Stated in every metrics file (the definitions are in dsah.hamming).
CONVENTIONS = {
    "tie_order": "stable (database order) for map_all, map_at_k, ndcg_at_k",
    "map_at_k_divides_by": "relevant items within the top k",
    "empty_queries": "scored 0 and counted",
}


def test_maps(method, data, batch_size: int = 256, indices=None) -> np.ndarray:
    """(N, S, S) saliency maps of the test split (or of its `indices`), for a method with an attention network."""
    from dsah.data.batches import Normalizer

    norm = Normalizer(*method.input_stats(data.meta))
    images = data.test.images if indices is None else data.test.images[np.asarray(indices)]
    out = []
    for s in range(0, len(images), batch_size):
        x = norm(torch.from_numpy(np.array(images[s : s + batch_size]))).to(method.device)
        out.append(method.saliency(x.contiguous(memory_format=torch.channels_last))[:, 0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,) + images.shape[-2:], dtype=np.float32)


@torch.no_grad()
def test_views(method, data, indices) -> np.ndarray:
    """(N, 3, S, S) uint8: the salient images a method with an attention network encodes for the test
    images `indices` (the zoom view sampled from the high-resolution copy where the method uses it)."""
    from dsah.data.batches import Normalizer

    mean, std = method.input_stats(data.meta)
    norm = Normalizer(mean, std)
    idx = np.asarray(indices)
    x = norm(torch.from_numpy(np.array(data.test.images[idx]))).to(method.device)
    hires = norm(torch.from_numpy(np.array(data.test.hires[idx]))).to(method.device) if method.needs_hires else None
    v = method.salient_image(x, hires).float().cpu()
    v = v * norm.std + norm.mean
    return (v.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def part_side(data, params) -> float:
    """Side of the pointing game's part square: the dataset's part size, else eval.part_box of the image."""
    size = data.meta["image_size"]
    return float(data.meta.get("part_size") or params.eval.part_box * size)


def saliency_scores(method, data, params) -> dict:
    """Pointing game and mass in the object box on the test split; {} for a method without maps."""
    if not method.uses_attention:
        return {}
    idx = saliency.part_indices(data.meta["part_names"])
    if not idx:
        return {}
    sc = saliency.score(test_maps(method, data, params.eval.batch_size), data.test.parts[:, idx],
                        data.test.boxes, part_side(data, params))
    return {"pointing_game": sc.pointing_game, "pointing_chance": sc.pointing_chance,
            "map_mass_in_object": sc.mass_in_object, "map_mass_chance": sc.mass_chance,
            "pointing_scored_images": sc.num_scored}


def score(m, data, params) -> tuple[dict, dict]:
    """Encode the queries (test split) and the database, rank, and run the metric suite.

    Hamming methods: the signs of `encode` are the codes, ranked by Hamming distance (`dsah.hamming`).
    Quantization methods (DTQ): the database features are product-quantised to `m.bits` bits and the
    real-valued queries ranked by the asymmetric quantizer distance (`dsah.pq`, `dsah.ranking`; no
    Hamming radius metrics). Returns (metrics with their curves, what the code stores hold).
    """
    ev, bs = params.eval, params.eval.batch_size
    q, db = encode(m, data.test, data.meta, bs), encode(m, data.db, data.meta, bs)
    if m.search == "quantization":
        quantizer = pq.fit(db, m.bits)
        z_hat = quantizer.reconstruction()
        res = ranking.distance_suite(lambda a, b: pq.aqd(q[a:b], z_hat), data.test.labels, data.db.labels,
                                     top_k=ev.top_k, precision_n=ev.precision_at)
        res.update(pq_subcodebooks=quantizer.m, pq_codeword_bits=quantizer.nbits, feature_dim=int(q.shape[1]))
        return res, {"pq": quantizer, "query_features": q}
    q, db = sign_codes(q), sign_codes(db)
    res = hamming.suite(q, db, data.test.labels, data.db.labels, top_k=ev.top_k, precision_n=ev.precision_at,
                        radius=ev.radius)
    return res, {"query": q, "database": db}


def save_codes(layout: Layout, method: str, bits: int, data, codes: dict, seed: int = 0) -> None:
    if "pq" in codes:  # faiss's serialised IndexPQ (codebooks + database codes), ids, labels, query features
        with atomic_path(layout.codes(method, bits, "pq", seed)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, format="dsah-pq-v1", index=codes["pq"].serialize(), bits=bits,
                         database_codes=codes["pq"].codes(), database_ids=data.db.ids,
                         database_labels=data.db.labels, query_features=codes["query_features"],
                         query_ids=data.test.ids, query_labels=data.test.labels)
        return
    codestore.save(codestore.CodeStore.from_codes(codes["query"], data.test.labels, data.test.ids),
                   layout.codes(method, bits, "query", seed))
    codestore.save(codestore.CodeStore.from_codes(codes["database"], data.db.labels, data.db.ids),
                   layout.codes(method, bits, "database", seed))


def run(params, layout: Layout, method: str, bits: int, data: prepared.Prepared | None = None, seed: int = 0) -> dict:
    """Evaluate one run; `data` is the prepared data when the caller has it loaded already."""
    config.check_run(method, bits)
    data = prepared.load(layout.tensors) if data is None else data
    m, ckpt = load_method(params, layout, method, bits, params.train.device, seed)
    res, codes = score(m, data, params)
    curves = res.pop("curves")
    sal = saliency_scores(m, data, params)
    out = {
        "dataset": data.meta["dataset"],
        "method": method,
        "bits": bits,
        "seed": seed,
        **res,  # chance_map included: from the scan's counts, no second relevance matrix
        "num_database": int(len(data.db)),
        "num_classes": data.num_classes,
        **sal,
        **CONVENTIONS,
        "epochs": len(ckpt["history"]),
        "train_seconds": ckpt["train_seconds"],
        "profile": params.profile,
        "code_version": ckpt["provenance"]["git"]["commit"],
        "code_dirty": ckpt["provenance"]["git"]["dirty"],
    }
    # metrics/<run>.json holds the headline numbers only, so that `dvc metrics show/diff` reads as one
    # table of results (under 200 columns); every number (tie bounds, chance levels, DTQ's quantizer) and
    # what the run is (method, bits, seed, dataset), its conventions, timings and code version, and the
    # full record (every parameter, library versions) are in provenance/<run>.json.
    numbers, about = split_record(out)
    write_json(layout.provenance(method, bits, seed), {
        "run": about,
        "metrics": numbers,
        "classes": data.meta["class_names"],  # the classes of this run (data.classes: a subset)
        "trained_with": ckpt["provenance"],
        "evaluated_with": provenance.record(layout.root, params),
    })
    save_codes(layout, method, bits, data, codes, seed)
    for kind, c in curves.items():  # dvc plots: lists of records
        keys = list(c)
        write_json(layout.curves(kind, method, bits, seed), [dict(zip(keys, vals)) for vals in zip(*c.values())])
    write_json(layout.metrics(method, bits, seed), {k: v for k, v in numbers.items() if not secondary(k)})
    return out


# What describes a run rather than measures it: kept out of metrics/ (in codes/<run>.provenance.json).
ABOUT = {"dataset", "method", "bits", "seed", "profile", "epochs", "train_seconds", "code_version", "code_dirty",
         "num_database", "num_queries", "num_classes", "queries_without_relevant", "pointing_scored_images",
         *CONVENTIONS}


# Numbers kept out of metrics/ (in provenance/<run>.json "metrics"): the tie-order bounds, the chance
# levels (the protocol's, not the method's), DTQ's quantizer shape, the share of empty Hamming balls.
SECONDARY = {"map_lower", "map_upper", "chance_map", "map_mass_chance", "pointing_chance", "feature_dim",
             "pq_codeword_bits", "pq_subcodebooks"}


def secondary(key: str) -> bool:
    return key in SECONDARY or (key.startswith("empty_h") and key.endswith("_share"))


def split_record(row: dict) -> tuple[dict, dict]:
    """(the measured numbers, what describes the run) of one evaluation record."""
    return ({k: v for k, v in row.items() if k not in ABOUT},
            {k: v for k, v in row.items() if k in ABOUT})


def run_all(params, layout: Layout, methods: list[str] | None = None, log=print) -> list[dict]:
    """Evaluate every (method, bits, seed) of params.yaml (or of `methods` only), in order; one line per run."""
    rows = []
    data = prepared.load(layout.tensors)  # once for all runs
    for method, bits, seed in product(params.all_methods if methods is None else methods, params.bits, params.seeds):
        row = run(params, layout, method, bits, data, seed)
        shown = (f"mAP@all {100 * row['map_all']:.1f} (tie-aware {100 * row['map_tie_aware']:.1f}, "
                 f"bounds {100 * row['map_lower']:.1f}-{100 * row['map_upper']:.1f})")
        if "pointing_game" in row:
            shown += f", pointing game {row['pointing_game']:.3f} (chance {row['pointing_chance']:.3f})"
        log(f"{run_name(method, bits, seed)}: {shown}")
        rows.append(row)
    return rows
