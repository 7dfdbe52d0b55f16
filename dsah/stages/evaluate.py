"""Evaluate stage: encode queries (test split) and database (train split), Hamming ranking, mAP."""
from __future__ import annotations

import numpy as np

from dsah import config, metrics, provenance
from dsah.data import prepared
from dsah.io import atomic_path, write_json
from dsah.paths import Layout
from dsah.retrieval import binary_codes
from dsah.stages.train import load_method


def run(params, layout: Layout, method: str, bits: int) -> dict:
    config.check_run(method, bits)
    data = prepared.load(layout.tensors)
    m, ckpt = load_method(params, layout, method, bits, params.train.device)
    q = binary_codes(m, data.test, data.meta, params.eval.batch_size)
    db = binary_codes(m, data.train, data.meta, params.eval.batch_size)
    res = metrics.mean_average_precision(q, db, data.test.labels, data.train.labels)
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
