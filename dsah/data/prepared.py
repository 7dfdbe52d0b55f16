"""Decoded, resized splits held in memory and stored as one `.npz` (no pickle) by the prepare stage.

`train` = the training set, `test` = the retrieval queries, `database` = the retrieval database when
the protocol draws it apart from the training set (CIFAR-10's 1,000 / 59,000 / 5,000, NUS-WIDE);
otherwise the training set is the database (the fine-grained protocol) and `database` is None.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from dsah.data.records import DatasetError, Records
from dsah.io import atomic_path


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # (N, 3, S, S) uint8
    labels: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) x, y, w, h in pixels of the resized image
    parts: np.ndarray  # (N, P, 3) x, y, visible in pixels of the resized image
    ids: np.ndarray  # (N,) image ids of the source dataset

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Prepared:
    train: Split
    test: Split
    meta: dict  # dataset, class_names, part_names, image_size, mean, std, part_size, protocol
    database: Split | None = None  # None: the training set is the database

    @property
    def num_classes(self) -> int:
        return len(self.meta["class_names"])

    @property
    def db(self) -> Split:
        """The retrieval database."""
        return self.train if self.database is None else self.database


def _resize(im: Image.Image, size: int) -> np.ndarray:
    im = im.convert("RGB")  # CUB holds grayscale images, Stanford Dogs an RGBA PNG named .jpg
    if im.size != (size, size):
        im = im.resize((size, size), Image.BILINEAR)
    return np.asarray(im).transpose(2, 0, 1).copy()


def _read(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    try:
        with Image.open(path) as im:  # PIL reads the format from the content, not the extension
            return _resize(im, size), im.size
    except FileNotFoundError:
        raise DatasetError(f"{path}: image listed in the dataset's index is missing") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetError(f"{path}: unreadable image ({err})") from None


def channel_stats(images: np.ndarray, chunk: int = 512) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, 3, S, S) in 0..1, from exact integer sums a chunk
    at a time (a float copy of a 224-px training set would take gigabytes)."""
    total = np.zeros(3, dtype=np.int64)
    squares = np.zeros(3, dtype=np.int64)
    for s in range(0, len(images), chunk):
        x = images[s : s + chunk].astype(np.int64)
        total += x.sum(axis=(0, 2, 3))
        squares += (x * x).sum(axis=(0, 2, 3))
    n = images.shape[0] * images.shape[2] * images.shape[3]
    mean = total / (n * 255.0)
    var = np.maximum(squares / (n * 255.0**2) - mean**2, 0.0)
    return mean.tolist(), np.sqrt(var).tolist()


def from_records(rec: Records, size: int, dataset: str, part_size: float | None = None) -> Prepared:
    """Decode every image of `rec`, resize to `size` x `size`, and scale boxes and parts alike."""
    n = len(rec)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    scale = np.empty((n, 2))
    if rec.pixels is not None:
        h, w = rec.pixels.shape[1:3]
        for i in range(n):
            images[i] = _resize(Image.fromarray(rec.pixels[i]), size)
        scale[:] = (size / w, size / h)
    else:
        # One progress line at most every 10 s: readable in papermill/DVC logs (no carriage-return spam).
        for i, path in enumerate(tqdm(rec.paths, desc="decoding", mininterval=10, file=sys.stdout, leave=False)):
            images[i], (w, h) = _read(path, size)
            scale[i] = (size / w, size / h)
    boxes = rec.boxes * np.concatenate([scale, scale], axis=1)
    parts = rec.part_locs.copy()
    parts[..., 0] *= scale[:, None, 0]
    parts[..., 1] *= scale[:, None, 1]

    def take(mask: np.ndarray) -> Split:
        return Split(images[mask], rec.labels[mask], boxes[mask], parts[mask], rec.ids[mask])

    train, test = take(rec.train), take(rec.query)
    database = None if np.array_equal(rec.database, rec.train) else take(rec.database)
    mean, std = channel_stats(train.images)
    meta = {
        "dataset": dataset,
        "source": str(rec.root),
        "protocol": rec.protocol,
        "class_names": rec.class_names,
        "part_names": rec.part_names,
        "image_size": size,
        "mean": mean,
        "std": std,
        "part_size": None if part_size is None else float(part_size * scale[:, 0].mean()),
    }
    return Prepared(train, test, meta, database)


def save(prep: Prepared, path: str | Path) -> None:
    arrays = {}
    for name in ("train", "test", "database"):
        s = getattr(prep, name)
        if s is None:
            continue
        for field in ("images", "labels", "boxes", "parts", "ids"):
            arrays[f"{name}_{field}"] = getattr(s, field)
    arrays["meta"] = np.array(json.dumps(prep.meta))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load(path: str | Path) -> Prepared:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prepared data missing; run the prepare stage first (dvc repro prepare)")
    with np.load(path, allow_pickle=False) as z:
        splits = {
            name: Split(*(z[f"{name}_{f}"] for f in ("images", "labels", "boxes", "parts", "ids")))
            for name in ("train", "test", "database") if f"{name}_ids" in z.files
        }
        meta = json.loads(str(z["meta"]))
    return Prepared(splits["train"], splits["test"], meta, splits.get("database"))
