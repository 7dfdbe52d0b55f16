"""`python -m dsah.cli.notebook IN OUT [papermill options]`: papermill, with a failure told in one line.

Every pipeline stage runs its notebook through this. papermill reports an exception raised in a
cell as a long traceback whose last line is the message; here the executed notebook keeps the
traceback (open it to debug) and the stage ends with the library's own line, printed last:

    (the traceback is in cell [3] of reports/notebooks/01_prepare.ipynb)
    DatasetError: data/raw/x.jpg: unreadable image (...)
"""
from __future__ import annotations

import sys

import click
from papermill.cli import papermill
from papermill.exceptions import PapermillExecutionError


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        papermill.main(argv, prog_name="python -m dsah.cli.notebook", standalone_mode=False)
    except PapermillExecutionError as err:
        paths = [a for a in argv if a.endswith(".ipynb")]
        sys.stdout.flush()
        if len(paths) > 1:
            print(f"(the traceback is in cell [{err.exec_count}] of {paths[1]})", file=sys.stderr)
        print(f"{err.ename}: {err.evalue}", file=sys.stderr)
        return 1
    except click.exceptions.ClickException as err:  # a bad option: click's own one line
        err.show()
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
