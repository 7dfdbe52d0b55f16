"""`python -m dsah.cli.figures NOTEBOOK --section TITLE --out PREFIX`: the PNG figures of one section of an
executed notebook, written as PREFIX-1.png, PREFIX-2.png, ... (how the docs show a report's figure without
retyping or re-plotting it).

A section runs from the markdown cell whose first heading contains TITLE to the next heading of the same or
a higher level. Exits 1, naming the notebook, when no heading matches or the section has no PNG output.
"""
from __future__ import annotations

import argparse
import base64
import re
import sys
from pathlib import Path

import nbformat

HEADING = re.compile(r"^(#+)\s+(.*)$", re.MULTILINE)


def section_pngs(nb, title: str) -> list[bytes] | None:
    """The PNG outputs of the cells under the first heading containing `title`; None when none matches."""
    level, found, out = None, False, []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (m := HEADING.search(cell.source)):
            depth = len(m.group(1))
            if found and depth <= level:
                break
            if not found and title in m.group(2):
                level, found = depth, True
                continue
        if found and cell.cell_type == "code":
            out += [base64.b64decode(o["data"]["image/png"]) for o in cell.get("outputs", [])
                    if "image/png" in o.get("data", {})]
    return out if found else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.figures", description=__doc__.split("\n\n")[0])
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--section", required=True, help="text of the section's heading")
    ap.add_argument("--out", required=True, type=Path, help="PREFIX: writes PREFIX-1.png, PREFIX-2.png, ...")
    args = ap.parse_args(argv)
    try:
        nb = nbformat.read(args.notebook, as_version=4)
    except (OSError, ValueError) as e:
        print(f"{args.notebook}: not a readable notebook ({e})", file=sys.stderr)
        return 1
    pngs = section_pngs(nb, args.section)
    if not pngs:
        what = "no heading contains" if pngs is None else "no PNG figure under the heading"
        print(f"{args.notebook}: {what} {args.section!r}", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for i, png in enumerate(pngs, 1):
        path = args.out.with_name(f"{args.out.name}-{i}.png")
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(png)
        tmp.replace(path)  # atomic: never a half-written figure
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
