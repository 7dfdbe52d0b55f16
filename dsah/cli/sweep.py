"""One (method, bits) run with parameter overrides, outside the pipeline: train, encode, score, print.

    python -m dsah.cli.sweep dsah 12 train.epochs=10 attention.saliency_loss=distance attention.margin=2

Reads params.yaml (or --params) and the prepared data of the pipeline (run `dvc repro prepare`
first); writes nothing but, with `--json FILE`, one JSON line appended to FILE (a sweep record: every
metric, the overrides, the split, the seed, the per-epoch history). Prints one RESULT line with mAP@all,
the saliency scores of methods with an attention network, and the training time: the quick way to try
an ablation before `dvc exp run`. `dsah.sweeps.read_records` selects rows of such records for tables
(`python -m dsah.cli.sweep_table`, the generated result blocks).

`--holdout F` selects models without touching the test split: the first share F of each class's
training images become the queries, the rest the training set and database.
"""
from __future__ import annotations

import argparse
import json
import sys

from dsah import config, paths
from dsah.data.prepared import holdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.sweep", description=__doc__.split("\n\n")[0])
    ap.add_argument("method")
    ap.add_argument("bits", type=int)
    ap.add_argument("overrides", nargs="*", help="section.key=value")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--workdir", default=".", help="where data/prepared is (default: the repository)")
    ap.add_argument("--holdout", type=float, default=0.0, help="validate on this share of the training split")
    ap.add_argument("--json", help="also append the result (every metric, the per-epoch history) as one JSON line to this file")
    args = ap.parse_args(argv)

    from dsah import methods
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
        raw = config.apply_overrides(raw, args.overrides)
        upgraded = config.upgrade(raw)  # overrides in the keys of earlier records (dsah.X, baselines.X) still work
        if upgraded != raw:
            print("NOTE: overrides of the former dsah: / baselines: sections applied under method:", file=sys.stderr)
        raw = upgraded
        params = config.parse(raw, str(path))
        config.check_run(args.method, args.bits)
    except config.ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    data = prepared.load(paths.Layout(paths.resolve(args.workdir, root)).tensors)
    if args.holdout:
        data = holdout(data, args.holdout)  # data.test = the held-out validation queries
    features = None
    cls = methods.get(args.method)
    if cls.fitted and not params.model.pretrained:  # its features come from a trained run: train it first
        print(f"[{args.method}-{args.bits}] features: training {cls.features_from}-{args.bits} first", flush=True)
        features = train(params, cls.features_from, args.bits, data).method
    res = train(params, args.method, args.bits, data, features=features)
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
