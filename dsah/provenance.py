"""What made a result: the code version and the parameters, recorded beside every output."""
from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import dsah


CODE_PATHS = ("dsah", "notebooks", "dvc.yaml", "pyproject.toml", "requirements.lock", "profiles")


def git_version(root: Path) -> dict:
    """Commit and dirty flag of the repository at `root`, or `None` fields outside git."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    # Dirty means the code differs from the commit; pipeline outputs and dvc.lock do not count.
    status = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    return {"commit": commit, "dirty": None if status is None else bool(status)}


def record(root: Path, params) -> dict:
    import numpy
    import torch

    return {
        "dsah_version": dsah.__version__,
        "git": git_version(root),
        "python": platform.python_version(),
        "torch": str(torch.__version__),
        "numpy": str(numpy.__version__),
        "params": params.model_dump(mode="json"),
    }


def source_digest() -> str:
    """sha256 over the dsah package's Python sources: a resume checkpoint is used only by the same code."""
    import hashlib

    pkg = Path(dsah.__file__).parent
    h = hashlib.sha256()
    for f in sorted(pkg.rglob("*.py")):
        h.update(str(f.relative_to(pkg)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()
