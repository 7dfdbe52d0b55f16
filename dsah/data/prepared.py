"""Decoded, resized splits held in memory and stored as one `.npz` (no pickle) by the prepare stage.

Train split = training set and retrieval database; test split = queries (the fine-grained protocol).
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from dsah.data.cub import CubRecords, DatasetError
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
    meta: dict  # dataset, class_names, part_names, image_size, mean, std, part_size

    @property
    def num_classes(self) -> int:
        return len(self.meta["class_names"])


def _read(path: Path, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    try:
        with Image.open(path) as im:
            w, h = im.size
            im = im.convert("RGB")  # CUB holds a few grayscale images
            if im.size != (size, size):
                im = im.resize((size, size), Image.BILINEAR)
            return np.asarray(im).transpose(2, 0, 1).copy(), (w, h)
    except FileNotFoundError:
        raise DatasetError(f"{path}: image listed in images.txt is missing") from None
    except (UnidentifiedImageError, OSError) as err:
        raise DatasetError(f"{path}: unreadable image ({err})") from None


def from_records(rec: CubRecords, size: int, dataset: str, part_size: float | None = None) -> Prepared:
    """Decode every image of `rec`, resize to `size` x `size`, and scale boxes and parts alike."""
    n = len(rec)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    scale = np.empty((n, 2))
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

    train, test = take(rec.is_train), take(~rec.is_train)
    if len(train) == 0 or len(test) == 0:
        raise DatasetError(f"{rec.root / 'train_test_split.txt'}: need images in both splits, got {len(train)} train / {len(test)} test")
    pixels = train.images.astype(np.float64) / 255.0
    meta = {
        "dataset": dataset,
        "source": str(rec.root),
        "class_names": rec.class_names,
        "part_names": rec.part_names,
        "image_size": size,
        "mean": pixels.mean(axis=(0, 2, 3)).tolist(),
        "std": pixels.std(axis=(0, 2, 3)).tolist(),
        "part_size": None if part_size is None else float(part_size * scale[:, 0].mean()),
    }
    return Prepared(train, test, meta)


def save(prep: Prepared, path: str | Path) -> None:
    arrays = {}
    for name in ("train", "test"):
        s = getattr(prep, name)
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
            for name in ("train", "test")
        }
        meta = json.loads(str(z["meta"]))
    return Prepared(splits["train"], splits["test"], meta)
