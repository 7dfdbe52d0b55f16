"""Evaluate stage: encode queries (test split) and database (train split), Hamming ranking, mAP."""
from __future__ import annotations

import numpy as np

import torch

from dsah import config, metrics, provenance, saliency
from dsah.data import prepared
from dsah.io import atomic_path, write_json
from dsah.paths import Layout
from dsah.retrieval import binary_codes
from dsah.stages.train import load_method


def test_maps(method, data, batch_size: int = 256, indices=None) -> np.ndarray:
    """(N, S, S) saliency maps of the test split (or of its `indices`), for a method with an attention network."""
    from dsah.data.batches import Normalizer

    norm = Normalizer(data.meta["mean"], data.meta["std"])
    images = data.test.images if indices is None else data.test.images[np.asarray(indices)]
    out = []
    for s in range(0, len(images), batch_size):
        x = norm(torch.from_numpy(images[s : s + batch_size])).to(method.device)
        out.append(method.saliency(x.contiguous(memory_format=torch.channels_last))[:, 0].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0,) + images.shape[-2:], dtype=np.float32)


def part_side(data, params) -> float:
    """Side of the pointing game's part square: the dataset's part size, else eval.part_box of the image."""
    size = data.meta["image_size"]
    return float(data.meta.get("part_size") or params.eval.part_box * size)


def saliency_scores(method, data, params) -> dict:
    """Pointing game and mass in the object box on the test split; {} for a method without maps."""
    if not hasattr(method, "saliency"):
        return {}
    idx = saliency.part_indices(data.meta["part_names"])
    if not idx:
        return {}
    sc = saliency.score(test_maps(method, data, params.eval.batch_size), data.test.parts[:, idx],
                        data.test.boxes, part_side(data, params))
    return {"pointing_game": sc.pointing_game, "pointing_chance": sc.pointing_chance,
            "map_mass_in_object": sc.mass_in_object, "map_mass_chance": sc.mass_chance,
            "pointing_scored_images": sc.num_scored}


def run(params, layout: Layout, method: str, bits: int, data: prepared.Prepared | None = None) -> dict:
    """Evaluate one run; `data` is the prepared data when the caller has it loaded already."""
    config.check_run(method, bits)
    data = prepared.load(layout.tensors) if data is None else data
    m, ckpt = load_method(params, layout, method, bits, params.train.device)
    q = binary_codes(m, data.test, data.meta, params.eval.batch_size)
    db = binary_codes(m, data.train, data.meta, params.eval.batch_size)
    res = metrics.mean_average_precision(q, db, data.test.labels, data.train.labels)
    sal = saliency_scores(m, data, params)
    out = {
        "dataset": data.meta["dataset"],
        "method": method,
        "bits": bits,
        "map_all": res.map,
        "chance_map": metrics.chance_map(data.test.labels, data.train.labels),
        "num_queries": res.num_queries,
        "num_database": int(len(db)),
        "num_classes": data.num_classes,
        "queries_without_relevant": res.num_without_relevant,
        **sal,
        "tie_order": "database order (stable sort)",
        "epochs": len(ckpt["history"]),
        "train_seconds": ckpt["train_seconds"],
        "profile": params.profile,
        "code_version": ckpt["provenance"]["git"]["commit"],
        "code_dirty": ckpt["provenance"]["git"]["dirty"],
    }
    # The full record (every parameter, library versions) stays beside the codes; the metrics file
    # stays flat so that `dvc metrics show/diff` lists metrics, not parameters.
    write_json(layout.provenance(method, bits), {
        "metrics": out,
        "trained_with": ckpt["provenance"],
        "evaluated_with": provenance.record(layout.root, params),
    })
    with atomic_path(layout.codes(method, bits)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, query=q, database=db, query_labels=data.test.labels, database_labels=data.train.labels,
                     query_ids=data.test.ids, database_ids=data.train.ids)
    write_json(layout.metrics(method, bits), out)
    return out


def run_all(params, layout: Layout, methods: list[str] | None = None, log=print) -> list[dict]:
    """Evaluate every (method, bits) of params.yaml (or of `methods` only), in order; one line per run."""
    rows = []
    data = prepared.load(layout.tensors)  # once for all runs
    for method in params.all_methods if methods is None else methods:
        for bits in params.bits:
            row = run(params, layout, method, bits, data)
            shown = f"mAP@all {100 * row['map_all']:.1f}"
            if "pointing_game" in row:
                shown += f", pointing game {row['pointing_game']:.3f} (chance {row['pointing_chance']:.3f})"
            log(f"{method}-{bits}: {shown}")
            rows.append(row)
    return rows
