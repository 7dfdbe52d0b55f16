"""Sweep records: the JSON lines `python -m dsah.cli.sweep … --json FILE` appends (every metric, the
overrides, the split, the seed, the per-epoch history), and selecting rows of them for tables
(`python -m dsah.cli.sweep_table`, the generated result blocks of `python -m dsah.cli.readme`)."""
from __future__ import annotations

import json
from pathlib import Path


def read_records(files: list[Path], split: str, selections: list[tuple[str, str, frozenset]]) -> list[dict]:
    """Rows of sweep records (`python -m dsah.cli.sweep … --json FILE`) on `split`, one selection at a time:
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
