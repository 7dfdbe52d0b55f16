"""Decoded, resized splits, stored by the prepare stage as a folder of `.npy` files (no pickle).

The images are written straight to disk while they are decoded and read back memory-mapped, so a
224-px dataset larger than memory (NUS-WIDE: ~29 GB) can be prepared and trained on; the small
arrays (labels, boxes, parts, ids) and `meta.json` are read whole.

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
from dsah.io import atomic_dir


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


FIELDS = ("images", "labels", "boxes", "parts", "ids")
SETS = ("train", "test", "database")


def _decode(rec: Records, size: int):
    """Yield (index, (3, size, size) uint8 image, (x scale, y scale)) for every record, in order."""
    if rec.pixels is not None:
        h, w = rec.pixels.shape[1:3]
        for i in range(len(rec)):
            yield i, _resize(Image.fromarray(rec.pixels[i]), size), (size / w, size / h)
        return
    # One progress line at most every 10 s: readable in papermill/DVC logs (no carriage-return spam).
    for i, path in enumerate(tqdm(rec.paths, desc="decoding", mininterval=10, file=sys.stdout, leave=False)):
        img, (w, h) = _read(path, size)
        yield i, img, (size / w, size / h)


def _masks(rec: Records) -> dict[str, np.ndarray]:
    """The sets to store: the database only when the protocol draws it apart from the training set."""
    masks = {"train": rec.train, "test": rec.query}
    if not np.array_equal(rec.database, rec.train):
        masks["database"] = rec.database
    return masks


def _assemble(rec: Records, size: int, dataset: str, part_size, images: dict, scale: np.ndarray) -> Prepared:
    """Prepared data around already decoded `images` (one array per set), scaling boxes and parts."""
    boxes = rec.boxes * np.concatenate([scale, scale], axis=1)
    parts = rec.part_locs.copy()
    parts[..., 0] *= scale[:, None, 0]
    parts[..., 1] *= scale[:, None, 1]
    splits = {name: Split(images[name], rec.labels[m], boxes[m], parts[m], rec.ids[m])
              for name, m in _masks(rec).items()}
    mean, std = channel_stats(splits["train"].images)
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
    return Prepared(splits["train"], splits["test"], meta, splits.get("database"))


def _fill(rec: Records, size: int, images: dict) -> np.ndarray:
    """Decode every record into the image array of each set it belongs to; returns the scales."""
    masks = _masks(rec)
    slot = {name: np.cumsum(m) - 1 for name, m in masks.items()}  # record -> row in that set
    scale = np.empty((len(rec), 2))
    for i, img, sc in _decode(rec, size):
        scale[i] = sc
        for name, m in masks.items():
            if m[i]:
                images[name][slot[name][i]] = img
    return scale


def from_records(rec: Records, size: int, dataset: str, part_size: float | None = None) -> Prepared:
    """Decode every image of `rec` in memory, resize to `size` x `size`, and scale boxes and parts alike."""
    images = {name: np.empty((int(m.sum()), 3, size, size), dtype=np.uint8) for name, m in _masks(rec).items()}
    scale = _fill(rec, size, images)
    return _assemble(rec, size, dataset, part_size, images, scale)


def build(rec: Records, size: int, dataset: str, path: str | Path, part_size: float | None = None) -> Prepared:
    """Decode `rec` straight into the folder `path` (written atomically) and return it memory-mapped."""
    with atomic_dir(path) as tmp:
        images = {name: np.lib.format.open_memmap(tmp / f"{name}_images.npy", mode="w+", dtype=np.uint8,
                                                  shape=(int(m.sum()), 3, size, size))
                  for name, m in _masks(rec).items()}
        scale = _fill(rec, size, images)
        for arr in images.values():
            arr.flush()
        _write(_assemble(rec, size, dataset, part_size, images, scale), tmp, skip_images=True)
        del images
    return load(path)


def _write(prep: Prepared, folder: Path, skip_images: bool = False) -> None:
    for name in SETS:
        s = getattr(prep, name)
        if s is None:
            continue
        for field in FIELDS:
            if not (skip_images and field == "images"):
                np.save(folder / f"{name}_{field}.npy", getattr(s, field))
    (folder / "meta.json").write_text(json.dumps(prep.meta, indent=1))


def save(prep: Prepared, path: str | Path) -> None:
    with atomic_dir(path) as tmp:
        _write(prep, tmp)


def load(path: str | Path) -> Prepared:
    path = Path(path)
    if not (path / "meta.json").is_file():
        raise FileNotFoundError(f"{path}: prepared data missing; run the prepare stage first (dvc repro prepare)")
    splits = {
        name: Split(*(np.load(path / f"{name}_{f}.npy", mmap_mode="r" if f == "images" else None, allow_pickle=False)
                      for f in FIELDS))
        for name in SETS if (path / f"{name}_ids.npy").is_file()
    }
    meta = json.loads((path / "meta.json").read_text())
    return Prepared(splits["train"], splits["test"], meta, splits.get("database"))
