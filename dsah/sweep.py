"""One (method, bits) run with parameter overrides, outside the pipeline: train, encode, score, print.

    python -m dsah.sweep dsah 12 train.epochs=10 dsah.saliency_loss=distance dsah.margin=2

Reads params.yaml (or --params) and the prepared data of the pipeline (run `dvc repro prepare`
first); writes nothing but, with `--json FILE`, one JSON line appended to FILE (a sweep record: every
metric, the overrides, the split, the seed, the per-epoch history). Prints one RESULT line with mAP@all,
the saliency scores of methods with an attention network, and the training time: the quick way to try
an ablation before `dvc exp run`. `read_records` selects rows of such records for tables
(`tools/sweep_table.py`, the README's sweep blocks).

`--holdout F` selects models without touching the test split: the first share F of each class's
training images become the queries, the rest the training set and database.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from dsah import config, paths


def apply_overrides(raw: dict, overrides: list[str]) -> dict:
    """`section.key=value` strings (values parsed as YAML) applied to a parameter dictionary."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise config.ConfigError(f"override {item!r}: expected section.key=value")
        node = raw
        *parents, last = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise config.ConfigError(f"override {item!r}: {p} is not a section")
        node[last] = yaml.safe_load(value)
    return raw


def holdout_split(data, share: float):
    """(train', validation) from the training split: the first `share` of each class's images are held out."""
    import numpy as np

    from dsah.data.prepared import Prepared
    from dsah.data.records import first_label

    labels = first_label(data.train.labels)
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        held[idx[: max(1, int(round(share * len(idx))))]] = True
    if held.all():
        raise ValueError(f"--holdout {share}: nothing left to train on")

    return Prepared(data.train.take(~held), data.train.take(held), data.meta)


def read_records(files: list[Path], split: str, selections: list[tuple[str, str, frozenset]]) -> list[dict]:
    """Rows of sweep records (`python -m dsah.sweep … --json FILE`) on `split`, one selection at a time:
    (label, method, overrides) takes the rows of `method` whose overrides, `train.seed=…` left out, are
    exactly `overrides`, renamed `label`. Two rows of one selection with one seed are an error."""
    records = []
    for f in files:
        if not Path(f).is_file():
            raise ValueError(f"{f}: no such sweep record")
        for n, line in enumerate(Path(f).read_text().splitlines(), 1):
            if line.strip():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{f}:{n}: not a JSON line ({e.msg})") from None
                if r.get("split") == split:
                    records.append((f"{f}:{n}", r))
    out, seen = [], {}
    for label, method, overrides in selections:
        for where, r in records:
            rest = frozenset(o for o in r["overrides"] if not o.startswith("train.seed="))
            if r["method"] != method or rest != frozenset(overrides):
                continue
            key = (label, r["bits"], r["seed"])
            if key in seen:
                raise ValueError(f"{where}: a second {label} row at {r['bits']} bits, seed {r['seed']} "
                                 f"(the first is {seen[key]}); keep one")
            seen[key] = where
            out.append({**r, "method": label})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("method")
    ap.add_argument("bits", type=int)
    ap.add_argument("overrides", nargs="*", help="section.key=value")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--workdir", default=".", help="where data/prepared is (default: the repository)")
    ap.add_argument("--holdout", type=float, default=0.0, help="validate on this share of the training split")
    ap.add_argument("--json", help="also append the result (every metric, the per-epoch history) as one JSON line to this file")
    args = ap.parse_args(argv)

    from dsah.data import prepared
    from dsah.stages.evaluate import saliency_scores, score
    from dsah.train import train

    root = paths.repo_root()
    path = paths.resolve(args.params, root)
    try:
        raw = config.read(path)
        seeds = raw.pop("seeds", None)  # one run: train.seed, by default the first of the pipeline's seeds
        if seeds:
            raw.setdefault("train", {}).setdefault("seed", seeds[0])
        raw = apply_overrides(raw, args.overrides)
        params = config.parse(raw, str(path))
        config.check_run(args.method, args.bits)
    except config.ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    data = prepared.load(paths.Layout(paths.resolve(args.workdir, root)).tensors)
    if args.holdout:
        data = holdout_split(data, args.holdout)  # data.test = the held-out validation queries
    res = train(params, args.method, args.bits, data)
    suite = score(res.method, data, params)[0]  # the evaluate stage's suite
    suite.pop("curves")
    m = suite["map_all"]
    split = f"validation ({args.holdout:g} of train)" if args.holdout else "test"
    line = (f"RESULT {args.method}-{args.bits} {' '.join(args.overrides) or '(params.yaml)'}: "
            f"{split} mAP@all {100 * m:.1f} (tie-aware {100 * suite['map_tie_aware']:.1f})")
    sal = saliency_scores(res.method, data, params)
    if sal:
        line += (f", pointing game {sal['pointing_game']:.3f} (chance {sal['pointing_chance']:.3f}), "
                 f"map mass in object {sal['map_mass_in_object']:.3f} (chance {sal['map_mass_chance']:.3f})")
    print(f"{line}, {res.seconds:.0f}s training", flush=True)
    if args.json:
        row = {"method": args.method, "bits": args.bits, "overrides": args.overrides, "params": str(path),
               "split": split, "seed": params.train.seed, **suite, **sal, "train_seconds": res.seconds,
               "epoch_seconds": [r["seconds"] for r in res.history],
               "history": [{k: float(v) for k, v in r.items()} for r in res.history]}  # losses, map statistics
        with open(args.json, "a") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
