"""A store of binary codes on disk, and Hamming k-nearest-neighbour search over it (issue 4, in progress).

On-disk format (`.npz`, no pickle), written atomically:

    format   "dsah-codes-v1"
    bits     K, the code length
    codes    (N, ceil(K / 8)) uint8: bit j of code i is bit (7 - j % 8) of byte j // 8 (np.packbits
             order), set for +1; the padding bits of the last byte are 0
    labels   (N,) class indices, or (N, C) multi-hot rows
    ids      (N,) image ids of the source dataset

Search is exhaustive and exact, by one of two engines that return the same distances:

* "stable" (default): `dsah.scan.top_k`, a counting pass over the store; ties in store order, so
  the result is the top of the ranking every mAP here is computed on, identical on every machine;
* "faiss": faiss `IndexBinaryFlat`; ties in faiss's (implementation-defined) order. Codes whose
  length is not a multiple of 8 are searched on their zero-padded bytes (distances unchanged).

`python -m dsah.cli.bench` times both.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsah import scan
from dsah.hamming import pack, words
from dsah.io import atomic_path

FORMAT = "dsah-codes-v1"


@dataclass(frozen=True)
class CodeStore:
    codes: np.ndarray  # packed, (N, ceil(bits / 8)) uint8
    bits: int
    labels: np.ndarray
    ids: np.ndarray

    def __post_init__(self):
        n, width = len(self.codes), (self.bits + 7) // 8
        if self.codes.dtype != np.uint8 or self.codes.shape != (n, width):
            raise ValueError(f"codes must be ({n}, {width}) uint8 for {self.bits} bits, got {self.codes.shape} {self.codes.dtype}")
        if len(self.labels) != n or len(self.ids) != n:
            raise ValueError(f"{n} codes but {len(self.labels)} labels and {len(self.ids)} ids")

    @classmethod
    def from_codes(cls, codes: np.ndarray, labels, ids) -> "CodeStore":
        """From {-1, +1} codes (N, K)."""
        codes = np.asarray(codes)
        return cls(pack(codes), codes.shape[1], np.asarray(labels), np.asarray(ids))

    def __len__(self) -> int:
        return len(self.codes)

    def signs(self) -> np.ndarray:
        """The codes as a {-1, +1} int8 matrix (N, bits)."""
        return np.unpackbits(self.codes, axis=1, count=self.bits).astype(np.int8) * 2 - 1


def save(store: CodeStore, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, format=np.array(FORMAT), bits=np.array(store.bits), codes=store.codes,
                     labels=store.labels, ids=store.ids)


def load(path: str | Path) -> CodeStore:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no code store; write one with dsah.codestore.save")
    with np.load(path, allow_pickle=False) as z:
        missing = {"format", "bits", "codes", "labels", "ids"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: not a dsah code store (missing {', '.join(sorted(missing))})")
        if str(z["format"]) != FORMAT:
            raise ValueError(f"{path}: format {str(z['format'])!r}, expected {FORMAT!r}")
        try:
            return CodeStore(z["codes"], int(z["bits"]), z["labels"], z["ids"])
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None


ENGINES = ("stable", "faiss")


def search(store: CodeStore, queries: np.ndarray, k: int, engine: str = "stable") -> tuple[np.ndarray, np.ndarray]:
    """(distances, indices), each (Q, min(k, N)), of the k nearest stored codes to each {-1, +1} query code."""
    queries = np.asarray(queries)
    if queries.ndim != 2 or queries.shape[1] != store.bits:
        raise ValueError(f"queries must be (Q, {store.bits}) codes, got shape {queries.shape}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    k = min(k, len(store))
    qp = pack(queries)
    if engine == "stable":
        idx, dist = scan.top_k(words(qp), words(store.codes), store.bits, k)
        return dist, idx
    import faiss

    index = faiss.IndexBinaryFlat(store.codes.shape[1] * 8)
    index.add(np.ascontiguousarray(store.codes))
    dist, idx = index.search(np.ascontiguousarray(qp), k)
    return dist.astype(np.int32), idx.astype(np.int64)
