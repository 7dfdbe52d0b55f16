"""Seed tables from sweep records (`python -m dsah.cli.sweep … --json FILE`): mean ± sd over seeds, paired
differences with our verdict rule, and the share of the oracle's headroom, as the report prints them.

    python -m dsah.cli.sweep_table results/sweeps/i11_flowers12_test_seeds.jsonl \
        --select hash_only=hash_only:train.theta_bits=12 \
        --select dsah=dsah:train.theta_bits=12,dsah.salient_view=zoom \
        --paired dsah:hash_only

Each `--select LABEL=METHOD[:OVERRIDE,…]` takes the rows of METHOD whose overrides, `train.seed=…`
left out, are exactly the ones given (in any order); LABEL names them in the tables (`oracle_mask` and
`hash_only` are the labels the headroom share looks for). Two rows of one selection with one seed are an
error, not a silent choice.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dsah import report, sweeps


def parse_select(text: str) -> tuple[str, str, frozenset[str]]:
    label, sep, rest = text.partition("=")
    method, _, overrides = rest.partition(":")
    if not sep or not label or not method:
        raise SystemExit(f"--select {text!r}: expected LABEL=METHOD[:section.key=value,...]")
    return label, method, frozenset(o for o in overrides.split(",") if o)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.sweep_table", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--select", action="append", required=True, help="LABEL=METHOD[:OVERRIDE,...]")
    ap.add_argument("--split", default="test", help="the rows' split (default test; e.g. 'validation (0.25 of train)')")
    ap.add_argument("--bits", type=int, nargs="+", default=[12, 24, 32, 48])
    ap.add_argument("--paired", action="append", default=[], help="LABEL:OTHER[,OTHER...]: LABEL minus each OTHER")
    ap.add_argument("--headroom", action="append", default=[], help="LABEL: its share of oracle_mask's headroom over hash_only")
    args = ap.parse_args(argv)

    selections = [parse_select(s) for s in args.select]
    try:
        rows = sweeps.read_records(args.files, args.split, selections)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    labels = [s[0] for s in selections]
    print(f"tie-aware mAP %, mean ± sd (seeds), split: {args.split}\n")
    print(report.seed_table(rows, labels, args.bits))
    if args.paired:
        print("\npaired by seed: mean [95 % t-interval] (n, verdict: a gain under 2 sd is inconclusive)")
    for spec in args.paired:
        label, _, others = spec.partition(":")
        print("\n" + report.paired_table(rows, label, [o for o in others.split(",") if o], args.bits))
    for label in args.headroom:
        share = report.headroom_share(report.aggregate(rows), args.bits, label)
        cells = [f"{100 * share[b][1]:.0f} %" if b in share else "missing" for b in args.bits]
        print(f"\n{label}: share of the oracle's headroom (stable-order mAP of the seed means) at "
              + ", ".join(f"{b}: {c}" for b, c in zip(args.bits, cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
