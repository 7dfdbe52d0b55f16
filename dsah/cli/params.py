"""`python -m dsah.cli.params [FILE ...]`: validate parameter files (a profile's `extends:` chain
resolved), one line per problem, and check that a real dataset's folder exists (what the prepare stage
would read). The pipeline's check_params stage runs it on params.yaml.

`python -m dsah.cli.params PROFILE --write params.yaml`: the profile's chain flattened into one file,
the form DVC tracks (params.yaml itself never extends anything: DVC reads its keys, not a chain's).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from dsah import config
from dsah.io import write_text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.params", description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", default=["params.yaml"])
    ap.add_argument("--write", metavar="OUT", help="write the one profile given, flattened, to OUT")
    args = ap.parse_args(argv)
    if args.write and len(args.files) != 1:
        ap.error("--write takes one profile")
    status = 0
    for f in args.files:
        try:
            raw = config.read(f)
            if Path(f).name == "params.yaml" and not args.write and "extends" in (yaml.safe_load(Path(f).read_text()) or {}):
                raise config.ConfigError(f"{f}: extends: the pipeline's params.yaml must be flat (DVC tracks its keys, "
                                         f"not a chain's): write it with python -m dsah.cli.params PROFILE --write {f}")
            p = config.parse(raw, f)
            if not args.write:
                config.check_data(p)
        except config.ConfigError as err:
            print(err, file=sys.stderr)
            status = 2
            continue
        if args.write:
            header = (f"# Written by `python -m dsah.cli.params {f} --write {args.write}`: that profile with the files\n"
                      f"# it builds on merged in (DVC tracks this file's keys). Change the profile and write it again,\n"
                      f"# or edit here for a one-off run.\n")
            write_text(Path(args.write), header + yaml.safe_dump(raw, sort_keys=False, width=110))
            print(f"{f} -> {args.write} ({p.profile} profile, methods {p.all_methods}, bits {p.bits})")
        else:
            print(f"{f}: valid ({p.profile} profile, methods {p.all_methods}, bits {p.bits})")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
