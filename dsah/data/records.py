"""What a dataset loader returns: an index of images with labels and the protocol's three sets.

Retrieval protocols name three sets: the training set, the queries and the database. Fine-grained
sets use train = database and test = queries; CIFAR-10 and NUS-WIDE protocols draw them otherwise.
Images are files (`paths`) or, for datasets shipped as arrays (CIFAR-10), `pixels` in memory.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetError(ValueError):
    """Data on disk that does not match the expected layout; the message names the file."""


@dataclass(frozen=True)
class Records:
    root: Path
    ids: np.ndarray  # (N,) image ids of the source (1-based where the source numbers its images)
    labels: np.ndarray  # (N,) 0-based class index, or (N, C) multi-hot rows
    train: np.ndarray  # (N,) bool: the training set
    query: np.ndarray  # (N,) bool: the retrieval queries
    database: np.ndarray  # (N,) bool: the retrieval database
    class_names: list[str]
    protocol: str  # one line: where the three sets come from
    paths: list[Path] | None = None  # image files, or
    pixels: np.ndarray | None = None  # (N, H, W, 3) uint8 images held in memory
    boxes: np.ndarray | None = None  # (N, 4) x, y, w, h in pixels; NaN where unknown
    part_locs: np.ndarray | None = None  # (N, P, 3) x, y, visible
    part_names: list[str] = field(default_factory=list)

    def __post_init__(self):
        n = len(self.ids)
        if (self.paths is None) == (self.pixels is None):
            raise ValueError("Records need exactly one of paths and pixels")
        if self.boxes is None:
            object.__setattr__(self, "boxes", np.full((n, 4), np.nan))
        if self.part_locs is None:
            object.__setattr__(self, "part_locs", np.zeros((n, 0, 3)))
        sizes = {"labels": len(self.labels), "train": len(self.train), "query": len(self.query),
                 "database": len(self.database), "boxes": len(self.boxes), "part_locs": len(self.part_locs),
                 "images": len(self.paths if self.paths is not None else self.pixels)}
        bad = {k: v for k, v in sizes.items() if v != n}
        if bad:
            raise ValueError(f"{n} image ids but {bad}")
        for name in ("train", "query", "database"):
            if not getattr(self, name).any():
                raise DatasetError(f"{self.root}: the {name} set of this protocol is empty ({self.protocol})")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def multilabel(self) -> bool:
        return self.labels.ndim == 2

    def counts(self) -> dict:
        """Sizes for `python -m dsah.cli.data check`."""
        return {"images": len(self), "classes": len(self.class_names), "train": int(self.train.sum()),
                "query": int(self.query.sum()), "database": int(self.database.sum()),
                "multilabel": self.multilabel, "protocol": self.protocol}


def split_sets(root: Path, is_train: np.ndarray, protocol: str = "official split: train = database, test = queries",
               **kwargs) -> Records:
    """Records of the fine-grained protocol: the training set is the database, the rest are queries."""
    is_train = np.asarray(is_train, dtype=bool)
    return Records(root=root, train=is_train, query=~is_train, database=is_train, protocol=protocol, **kwargs)


def first_label(labels: np.ndarray) -> np.ndarray:
    """One class per image: the label itself, or the first positive column of a multi-hot row (-1 if none)."""
    if labels.ndim == 1:
        return labels
    has = labels.any(axis=1)
    return np.where(has, labels.argmax(axis=1), -1)


def readable_class(name: str) -> str:
    """A class folder's name as figures and tables show it: without a WordNet id or a number prefix,
    underscores as spaces (`n02085620-Chihuahua` -> `Chihuahua`, `001.Black_footed_Albatross` ->
    `Black footed Albatross`)."""
    import re

    name = re.sub(r"^n\d{8}[-_]", "", name)
    name = re.sub(r"^\d+\.", "", name)
    return name.replace("_", " ")


def select_classes(rec: Records, classes) -> Records:
    """The records of a class subset (`data.classes`): an int N = the first N classes in the loader's
    order (sorted folder names for image folders; the official label order, which is the same for
    CUB-200 and Stanford Dogs), or a list of class names (folder names, or their readable form) in
    the order given. Labels are renumbered 0..n-1 in that order; None keeps every class."""
    if classes is None:
        return rec
    if rec.multilabel:
        raise DatasetError(f"{rec.root}: data.classes = {classes!r}: class subsets apply to single-label datasets; "
                           "this one is multi-label")
    names = list(rec.class_names)
    if isinstance(classes, int):
        if classes > len(names):
            raise DatasetError(f"{rec.root}: data.classes = {classes}: the dataset has only {len(names)} classes")
        keep = list(range(classes))
    else:
        lookup = {n: i for i, n in enumerate(names)}
        lookup.update({readable_class(n): i for i, n in enumerate(names) if readable_class(n) not in lookup})
        unknown = [c for c in classes if c not in lookup]
        if unknown:
            raise DatasetError(f"{rec.root}: data.classes: no class named {', '.join(map(repr, unknown[:5]))}; "
                               f"the classes are {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}")
        keep = [lookup[c] for c in classes]
        if len(set(keep)) != len(keep):
            raise DatasetError(f"{rec.root}: data.classes names one class twice: {classes}")
    new = np.full(len(names), -1, dtype=np.int64)
    new[keep] = np.arange(len(keep))
    rows = np.flatnonzero(new[rec.labels] >= 0)
    take = lambda a: None if a is None else a[rows]  # noqa: E731
    return Records(root=rec.root, ids=rec.ids[rows], labels=new[rec.labels[rows]], train=rec.train[rows],
                   query=rec.query[rows], database=rec.database[rows], class_names=[names[i] for i in keep],
                   protocol=f"{rec.protocol}; {len(keep)} of its {len(names)} classes (data.classes)",
                   paths=None if rec.paths is None else [rec.paths[i] for i in rows], pixels=take(rec.pixels),
                   boxes=take(rec.boxes), part_locs=take(rec.part_locs), part_names=rec.part_names)
