"""Run a queue of sweep runs, one at a time, resumably: each line of JOBS is the argument list of one
`python -m dsah.cli.sweep` run (with its `--json FILE`); a run whose record is already in its FILE is skipped.

    nohup python -m dsah.cli.run_queue jobs.txt > queue.log 2>&1 &

JOBS is read again before every run, so lines may be appended while the queue works; `#` starts a
comment. A record "exists" when FILE has a line with the same method, bits, split and set of overrides
(`train.seed=…` included) and the same parameter file. A failed run is reported and the queue goes on.
While a file JOBS.pause exists the queue waits before its next run (`touch jobs.txt.pause`: the machine
is quiet for a benchmark or a test run, and no run's training seconds are measured beside it).
"""
from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

PAUSE_POLL = 20  # seconds between two looks at JOBS.pause


def parse(line: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("method")
    ap.add_argument("bits", type=int)
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--workdir", default=".")
    ap.add_argument("--holdout", type=float, default=0.0)
    ap.add_argument("--json", required=True)
    return ap.parse_args(shlex.split(line))


def done(job: argparse.Namespace) -> bool:
    path = Path(job.json)
    if not path.is_file():
        return False
    split = f"validation ({job.holdout:g} of train)" if job.holdout else "test"
    want = (job.method, job.bits, split, frozenset(job.overrides))
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            if (r["method"], r["bits"], r["split"], frozenset(r["overrides"])) == want and \
                    Path(r["params"]).name == Path(job.params).name:
                return True
    return False


def pending(jobs: Path) -> list[str]:
    lines = [ln.split("#", 1)[0].strip() for ln in jobs.read_text().splitlines()]
    return [ln for ln in lines if ln and not done(parse(ln))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dsah.cli.run_queue", description=__doc__.split("\n\n")[0])
    ap.add_argument("jobs", type=Path)
    args = ap.parse_args(argv)
    failed: set[str] = set()
    pause = args.jobs.with_name(args.jobs.name + ".pause")
    while True:
        if pause.exists():
            print(f"{time.strftime('%H:%M:%S')} paused while {pause} exists", flush=True)
            while pause.exists():
                time.sleep(PAUSE_POLL)
            print(f"{time.strftime('%H:%M:%S')} resumed", flush=True)
        todo = [ln for ln in pending(args.jobs) if ln not in failed]
        if not todo:
            print(f"{time.strftime('%H:%M:%S')} queue empty ({len(failed)} failed)", flush=True)
            return 1 if failed else 0
        line = todo[0]
        print(f"{time.strftime('%H:%M:%S')} [{len(todo)} left] {line}", flush=True)
        rc = subprocess.run([sys.executable, "-m", "dsah.cli.sweep", *shlex.split(line)]).returncode
        if rc or not done(parse(line)):
            print(f"{time.strftime('%H:%M:%S')} FAILED (exit {rc}): {line}", flush=True)
            failed.add(line)


if __name__ == "__main__":
    sys.exit(main())
