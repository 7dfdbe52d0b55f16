"""`python -m dsah.cli.data check NAME --root PATH` and `python -m dsah.cli.data download NAME`.

check: validates an extracted folder, a folder of official files or an archive for dataset NAME
(checksums included), decodes every image file (`--no-decode` skips that) and prints its counts;
exits 1 with the reason on invalid data, listing every unreadable image.
download: fetches the official files (or `--url`, e.g. a mirror or a file:// path, with its checksum),
verifies them and extracts them under `--dest/NAME/` (default data/raw).
"""
from __future__ import annotations

import argparse
import sys

from dsah import config
from dsah.data import integrity, sources
from dsah.data.records import DatasetError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.data", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    chk = sub.add_parser("check", help="validate a dataset folder or archive and print its counts")
    chk.add_argument("name", choices=list(sources.SOURCES))
    chk.add_argument("--root", required=True, help="extracted folder, folder of official files, or an archive")
    chk.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="a data parameter, e.g. protocol=official, flowers17_split=2 (repeatable)")
    chk.add_argument("--no-decode", action="store_true", help="check the index only, do not decode the images")
    chk.add_argument("--workers", type=int, default=None, help="decoding threads (default: CPUs, at most 8)")
    dl = sub.add_parser("download", help="download, verify and extract the official files")
    dl.add_argument("name", choices=[n for n, s in sources.SOURCES.items() if s.files])
    dl.add_argument("--dest", default="data/raw")
    dl.add_argument("--url", help="fetch this URL instead (one file; http(s):// or file://)")
    dl.add_argument("--md5")
    dl.add_argument("--sha256")
    a = ap.parse_args(argv)
    try:
        if a.command == "check":
            raw = {"name": a.name}
            for item in a.set:
                key, _, value = item.partition("=")
                raw[key] = int(value) if value.lstrip("-").isdigit() else value
            params = config.parse({"data": {**raw, "root": None}}).data
            rec = sources.load(a.name, a.root, params)
            for key, val in rec.counts().items():
                print(f"{key:<12} {val}")
            print(f"root         {rec.root}")
            if rec.paths is not None and not a.no_decode:
                bad = integrity.unreadable(rec.paths, a.workers)
                print(f"decoded      {len(rec.paths) - len(bad)} of {len(rec.paths)}")
                if bad:
                    for path, reason in bad:
                        print(f"{path}: {reason}", file=sys.stderr)
                    print(f"error: {len(bad)} of {len(rec.paths)} images under {rec.root} cannot be read "
                          "(listed above); remove or replace them", file=sys.stderr)
                    return 1
        else:
            out = sources.download(a.name, a.dest, a.url, a.md5, a.sha256)
            print(f"extracted to {out}")
    except (DatasetError, config.ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
