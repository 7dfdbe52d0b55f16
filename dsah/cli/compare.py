"""Method x code-length tables of one metric, for the workspace and any git revisions:

    python -m dsah.cli.compare                                # tie-aware mAP of the workspace
    python -m dsah.cli.compare --metric pointing_game
    python -m dsah.cli.compare --rev HEAD~1 --rev workspace   # two tables and their difference
    python -m dsah.cli.compare --rev main --rev my-branch --csv
    python -m dsah.cli.compare --rev HEAD --rev exp-1a2b3   # an experiment of `dvc exp run`

Reads metrics/<method>-<bits>-s<seed>.json of each revision through DVC (a branch, tag, commit, or
an experiment's name from `dvc exp show`; `workspace` = the files on disk), averages over the seeds found (± the sample standard deviation when there are several) and
prints one table per revision, then, for two revisions, the second minus the first. Values in [0, 1]
(mAP, precision, NDCG, pointing game) print as percentages.
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict

import numpy as np

RUN = re.compile(r"^metrics/(?P<method>.+)-(?P<bits>\d+)-s(?P<seed>\d+)\.json$")
SCALED = ("map", "precision", "ndcg", "pointing", "chance")


def read(rev: str | None, metric: str) -> dict[tuple[str, int], list[float]]:
    """{(method, bits): [value per seed]} of one revision (None: the workspace)."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        shown = repo.metrics.show(revs=[rev]) if rev else repo.metrics.show()
    files = shown.get(rev if rev else "", shown.get("workspace", {})).get("data", {})
    out: dict[tuple[str, int], list[float]] = defaultdict(list)
    for path, content in files.items():
        m = RUN.match(path)
        value = content.get("data", {}).get(metric)
        if m and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[(m["method"], int(m["bits"]))].append(float(value))
    return out


def table(cells: dict[tuple[str, int], str], methods: list[str], bits: list[int], sep: str | None) -> str:
    header = ["method", *[f"{b} bits" for b in bits]]
    rows = [[m, *[cells.get((m, b), "") for b in bits]] for m in methods]
    if sep:  # csv
        return "\n".join(sep.join(r) for r in [header, *rows])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    fmt = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([fmt(header), *map(fmt, rows)])


def is_reference(name: str) -> bool:
    """Whether some registered method names `name` as its reference: such rows come first."""
    from dsah.methods import METHODS

    return any(c.reference == name for c in METHODS.values())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.compare", description=__doc__.split("\n\n")[0])
    ap.add_argument("--metric", default="map_tie_aware", help="a key of metrics/*.json (default map_tie_aware)")
    ap.add_argument("--rev", action="append", default=[], help="a git revision or `workspace` (repeatable)")
    ap.add_argument("--csv", action="store_true", help="comma-separated, for a spreadsheet")
    a = ap.parse_args(argv)
    revs = a.rev or ["workspace"]
    scale = 100.0 if a.metric.startswith(SCALED) else 1.0
    data = {}
    for rev in revs:
        try:
            data[rev] = read(None if rev == "workspace" else rev, a.metric)
        except Exception as err:  # noqa: BLE001 - DVC's SCM errors: one line, not a traceback
            print(f"error: revision {rev!r}: {err}", file=sys.stderr)
            return 2
        if not data[rev]:
            print(f"error: revision {rev!r}: no metrics/<method>-<bits>-s<seed>.json with {a.metric!r}", file=sys.stderr)
            return 2
    keys = sorted({k for d in data.values() for k in d})
    methods = list(dict.fromkeys(m for m, _ in sorted(keys, key=lambda k: (not is_reference(k[0]), k[0]))))
    bits = sorted({b for _, b in keys})
    means = {rev: {k: scale * float(np.mean(v)) for k, v in d.items()} for rev, d in data.items()}
    sep = "," if a.csv else None
    for rev, d in data.items():
        seeds = sorted({len(v) for v in d.values()})
        cells = {k: (f"{means[rev][k]:.1f}" + (f" ± {scale * np.std(v, ddof=1):.1f}" if len(v) > 1 else ""))
                 for k, v in d.items()}
        print(f"# {rev}: {a.metric}{' (%)' if scale == 100 else ''}, mean over {'/'.join(map(str, seeds))} seed(s)")
        print(table(cells, methods, bits, sep))
        print()
    if len(revs) == 2:
        first, second = revs
        cells = {k: f"{means[second][k] - means[first][k]:+.1f}" for k in keys if k in means[first] and k in means[second]}
        print(f"# {second} - {first}")
        print(table(cells, methods, bits, sep))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
