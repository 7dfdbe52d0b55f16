"""Where each stage reads and writes, relative to one working directory.

The pipeline runs with the repository root as working directory; nbval and ad-hoc runs of the
notebooks use a scratch directory instead, so they can never overwrite the pipeline's outputs.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def repo_root(start: Path | None = None) -> Path:
    """The nearest folder at or above `start` (default: cwd) that holds `dvc.yaml`."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "dvc.yaml").is_file():
            return d
    raise FileNotFoundError(f"no dvc.yaml in {here} or any folder above it; run from inside the dsah repository")


def resolve(path: str | Path, root: Path | None = None) -> Path:
    """Resolve a path given in params or notebook parameters against the repository root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else (root or repo_root()) / p


def run_name(method: str, bits: int, seed: int = 0) -> str:
    """One training run: a method at a code length with a training seed (the dvc.yaml matrix's item)."""
    return f"{method}-{bits}-s{seed}"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def prepared(self) -> Path:
        return self.root / "data" / "prepared"

    @property
    def synthetic(self) -> Path:
        """The generated dataset, in the CUB-200-2011 layout."""
        return self.prepared / "synthetic_cub"

    @property
    def tensors(self) -> Path:
        return self.prepared / "tensors"

    def train_dir(self, method: str, seed: int = 0) -> Path:
        """One train stage's output: every code length of `method` with one training seed (one process,
        so the start-up of a notebook kernel, torch and its optimizer is paid once, not per length)."""
        return self.root / "runs" / f"{method}-s{seed}"

    def run_dir(self, method: str, bits: int, seed: int = 0) -> Path:
        return self.train_dir(method, seed) / str(bits)

    def checkpoint(self, method: str, bits: int, seed: int = 0) -> Path:
        return self.run_dir(method, bits, seed) / "checkpoint.pt"

    def resume(self, method: str, bits: int, seed: int = 0) -> Path:
        """The state after the last finished epoch, while a run is unfinished (not a DVC output: DVC
        deletes a stage's outputs before re-running it; this survives, and is removed when it ends)."""
        return self.root / ".resume" / f"{run_name(method, bits, seed)}.pt"

    def history_dir(self, method: str, seed: int = 0) -> Path:
        """The per-epoch histories of one train stage, one CSV per code length (a DVC plot, not cached)."""
        return self.root / "history" / f"{method}-s{seed}"

    def history(self, method: str, bits: int, seed: int = 0) -> Path:
        return self.history_dir(method, seed) / f"{bits}.csv"

    def codes(self, method: str, bits: int, role: str, seed: int = 0) -> Path:
        """The code store (`dsah.codestore`) of the queries (test split) or the database (train split);
        role "pq": a quantization method's product quantizer with the database codes and query features."""
        if role not in ("query", "database", "pq"):
            raise ValueError(f"role must be 'query', 'database' or 'pq', got {role!r}")
        return self.root / "codes" / f"{run_name(method, bits, seed)}.{role}.npz"

    def curves(self, kind: str, method: str, bits: int, seed: int = 0) -> Path:
        """Precision-recall records by Hamming radius (`kind` "radius") or by rank cut-off ("rank")."""
        if kind not in ("radius", "rank"):
            raise ValueError(f"kind must be 'radius' or 'rank', got {kind!r}")
        return self.root / "curves" / kind / f"{run_name(method, bits, seed)}.json"

    def provenance(self, method: str, bits: int, seed: int = 0) -> Path:
        """What the run is (method, bits, seed, conventions, timings, code version) and every parameter
        it was trained and evaluated with: committed beside metrics/, which holds only the numbers."""
        return self.root / "provenance" / f"{run_name(method, bits, seed)}.json"

    @property
    def metrics_dir(self) -> Path:
        return self.root / "metrics"

    def metrics(self, method: str, bits: int, seed: int = 0) -> Path:
        return self.metrics_dir / f"{run_name(method, bits, seed)}.json"

    @property
    def reports(self) -> Path:
        return self.root / "reports"
