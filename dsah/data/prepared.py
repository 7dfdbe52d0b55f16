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
    images: np.ndarray  # (N, 3, S, S) uint8: what the networks see at evaluation (S = meta["image_size"])
    labels: np.ndarray  # (N,) int64
    boxes: np.ndarray  # (N, 4) x, y, w, h in pixels of `images`
    parts: np.ndarray  # (N, P, 3) x, y, visible in pixels of `images`
    ids: np.ndarray  # (N,) image ids of the source dataset
    # The stored images when they are larger than the view (data.store_size > data.image_size):
    # `images` is their centre crop at `offset`, and training crops (train.augment: crop_flip) come from them.
    stored: np.ndarray | None = None  # (N, 3, T, T) uint8
    offset: int = 0
    # data.hires_size: the same field of view as `images` at a higher resolution (N, 3, H, H) uint8
    hires: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index) -> "Split":
        """The rows `index` (a mask or indices), read into memory."""
        opt = lambda a: None if a is None else a[index]  # noqa: E731
        return Split(self.images[index], self.labels[index], self.boxes[index], self.parts[index], self.ids[index],
                     opt(self.stored), self.offset, opt(self.hires))

    @property
    def source(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, boxes, parts) at the stored resolution: what training crops are taken from."""
        if self.stored is None:
            return self.images, self.boxes, self.parts
        o = self.offset
        parts = self.parts.copy()
        parts[..., :2] += o
        return self.stored, self.boxes + np.array([o, o, 0, 0], dtype=self.boxes.dtype), parts


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


def holdout(data: "Prepared", share: float) -> "Prepared":
    """(train', validation) from the training split: the first `share` of each class's images are held out."""
    from dsah.data.records import first_label

    labels = first_label(data.train.labels)
    held = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        held[idx[: max(1, int(round(share * len(idx))))]] = True
    if held.all():
        raise ValueError(f"--holdout {share}: nothing left to train on")

    return Prepared(data.train.take(~held), data.train.take(held), data.meta)


def _fit(im: Image.Image, size: int) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The shorter side resized to `size`, then the centre `size` x `size` crop (aspect kept).

    Returns the (3, size, size) uint8 image and (x scale, y scale, x offset, y offset): a source
    pixel coordinate x maps to x * x_scale - x_offset.
    """
    im = im.convert("RGB")  # CUB holds grayscale images, Stanford Dogs an RGBA PNG named .jpg
    w, h = im.size
    s = size / min(w, h)
    nw, nh = max(size, round(w * s)), max(size, round(h * s))
    if (nw, nh) != (w, h):
        im = im.resize((nw, nh), Image.BILINEAR)
    ox, oy = (nw - size) // 2, (nh - size) // 2
    if (nw, nh) != (size, size):
        im = im.crop((ox, oy, ox + size, oy + size))
    return np.asarray(im).transpose(2, 0, 1).copy(), (nw / w, nh / h, float(ox), float(oy))


def _hires(im: Image.Image, scale, size: int, view: int, hires: int) -> np.ndarray:
    """The field of view of the centre `view` crop of `_fit(im, size)` (whose `scale` is given), resampled
    from the source image at `hires` x `hires` (antialiased bilinear, straight from the source pixels)."""
    sx, sy, ox, oy = scale
    o = (size - view) // 2
    box = ((ox + o) / sx, (oy + o) / sy, (ox + o + view) / sx, (oy + o + view) / sy)
    out = im.convert("RGB").resize((hires, hires), Image.BILINEAR, box=box)
    return np.asarray(out).transpose(2, 0, 1).copy()


def _read(path: Path, size: int, hires: tuple[int, int] | None = None):
    """(image, scale) of `_fit`, and with `hires` = (view, hires side) also the high-resolution copy."""
    try:
        with Image.open(path) as im:  # PIL reads the format from the content, not the extension
            img, scale = _fit(im, size)
            return img, scale, (None if hires is None else _hires(im, scale, size, *hires))
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


def _decode(rec: Records, size: int, hires: tuple[int, int] | None = None):
    """Yield (index, (3, size, size) uint8 image, (x scale, y scale, x offset, y offset), high-resolution
    copy or None) per record, in order; `hires` = (view, hires side) as in `_hires`."""
    if rec.pixels is not None:
        for i in range(len(rec)):
            im = Image.fromarray(rec.pixels[i])
            img, scale = _fit(im, size)
            yield i, img, scale, (None if hires is None else _hires(im, scale, size, *hires))
        return
    # One progress line at most every 10 s: readable in papermill/DVC logs (no carriage-return spam).
    for i, path in enumerate(tqdm(rec.paths, desc="decoding", mininterval=10, file=sys.stdout, leave=False)):
        yield i, *_read(path, size, hires)


def _masks(rec: Records) -> dict[str, np.ndarray]:
    """The sets to store: the database only when the protocol draws it apart from the training set."""
    masks = {"train": rec.train, "test": rec.query}
    if not np.array_equal(rec.database, rec.train):
        masks["database"] = rec.database
    return masks


def _assemble(rec: Records, size: int, dataset: str, part_size, images: dict, scale: np.ndarray,
              view: int | None = None) -> Prepared:
    """Prepared data around already decoded `images` (one array per set), mapping boxes and parts alike.

    `size`: the stored side; `view`: the side the networks see (centre crop; default `size`)."""
    sx, sy, ox, oy = (scale[:, i] for i in range(4))
    boxes = rec.boxes * np.stack([sx, sy, sx, sy], axis=1) - np.stack([ox, oy, 0 * ox, 0 * oy], axis=1)
    x0, y0 = boxes[:, 0].clip(0, size), boxes[:, 1].clip(0, size)  # the part of the box left after the crop
    boxes = np.stack([x0, y0, (boxes[:, 0] + boxes[:, 2]).clip(0, size) - x0,
                      (boxes[:, 1] + boxes[:, 3]).clip(0, size) - y0], axis=1)
    parts = rec.part_locs.copy()
    parts[..., 0] = parts[..., 0] * sx[:, None] - ox[:, None]
    parts[..., 1] = parts[..., 1] * sy[:, None] - oy[:, None]
    outside = (parts[..., 0] < 0) | (parts[..., 0] >= size) | (parts[..., 1] < 0) | (parts[..., 1] >= size)
    parts[..., 2] = np.where(outside, 0, parts[..., 2])  # cropped away: no longer visible
    splits = {name: Split(images[name], rec.labels[m], boxes[m], parts[m], rec.ids[m])
              for name, m in _masks(rec).items()}
    mean, std = channel_stats(splits["train"].images)
    meta = {
        "dataset": dataset,
        "source": str(rec.root),
        "protocol": rec.protocol,
        "class_names": rec.class_names,
        "part_names": rec.part_names,
        "image_size": view or size,
        "store_size": size,
        "mean": mean,
        "std": std,
        "part_size": None if part_size is None else float(part_size * sx.mean()),
    }
    return Prepared(splits["train"], splits["test"], meta, splits.get("database"))


def _fill(rec: Records, size: int, images: dict, hires: dict | None = None,
          view: int | None = None) -> np.ndarray:
    """Decode every record into the image array of each set it belongs to (and into `hires`, the
    high-resolution arrays of the centre `view` crop, when given); returns the scales."""
    masks = _masks(rec)
    slot = {name: np.cumsum(m) - 1 for name, m in masks.items()}  # record -> row in that set
    scale = np.empty((len(rec), 4))
    spec = None if hires is None else (view or size, next(iter(hires.values())).shape[-1])
    for i, img, sc, hi in _decode(rec, size, spec):
        scale[i] = sc
        for name, m in masks.items():
            if m[i]:
                images[name][slot[name][i]] = img
                if hires is not None:
                    hires[name][slot[name][i]] = hi
    return scale


def from_records(rec: Records, size: int, dataset: str, part_size: float | None = None) -> Prepared:
    """Decode every image of `rec` in memory, fit to `size` x `size` (shorter side, centre crop), and map
    boxes and parts alike."""
    images = {name: np.empty((int(m.sum()), 3, size, size), dtype=np.uint8) for name, m in _masks(rec).items()}
    scale = _fill(rec, size, images)
    return _assemble(rec, size, dataset, part_size, images, scale)


def build(rec: Records, size: int, dataset: str, path: str | Path, part_size: float | None = None,
          view: int | None = None, data_params: dict | None = None, hires: int | None = None) -> Prepared:
    """Decode `rec` at `size` (the stored side) straight into the folder `path` (written atomically) and
    return it memory-mapped; the networks see the centre `view` x `view` crop (default: all of it).
    `hires`: also store that crop's field of view at `hires` x `hires` px from the source images
    (`<set>_hires.npy`). `data_params` (the `data` section that made it) is kept in meta.json (`made_with`)."""
    def arrays(kind: str, side: int) -> dict:
        return {name: np.lib.format.open_memmap(tmp / f"{name}_{kind}.npy", mode="w+", dtype=np.uint8,
                                                shape=(int(m.sum()), 3, side, side))
                for name, m in _masks(rec).items()}

    with atomic_dir(path) as tmp:
        images = arrays("images", size)
        high = None if hires is None else arrays("hires", hires)
        scale = _fill(rec, size, images, high, view)
        for arr in [*images.values(), *(high or {}).values()]:
            arr.flush()
        _write(_assemble(rec, size, dataset, part_size, images, scale, view), tmp, skip_images=True)
        del images, high
        meta = json.loads((tmp / "meta.json").read_text())
        extra = ({"hires_size": hires} if hires is not None else {}) | (
            {"data_params": data_params} if data_params is not None else {})
        (tmp / "meta.json").write_text(json.dumps({**meta, **extra}, indent=1))
    return load(path)


def made_with(path: str | Path) -> dict | None:
    """The `data` parameters the prepared data at `path` was made with (None: missing, or older data)."""
    meta = Path(path) / "meta.json"
    return json.loads(meta.read_text()).get("data_params") if meta.is_file() else None


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
    meta = json.loads((path / "meta.json").read_text())
    def hires(name: str):
        f = path / f"{name}_hires.npy"
        return np.load(f, mmap_mode="r", allow_pickle=False) if meta.get("hires_size") and f.is_file() else None

    splits = {
        name: _view(Split(*(np.load(path / f"{name}_{f}.npy", mmap_mode="r" if f == "images" else None,
                                    allow_pickle=False) for f in FIELDS)), meta, hires(name))
        for name in SETS if (path / f"{name}_ids.npy").is_file()
    }
    return Prepared(splits["train"], splits["test"], meta, splits.get("database"))


def _view(stored: Split, meta: dict, hires: np.ndarray | None = None) -> Split:
    """The centre `image_size` crop of images stored at `store_size` (a memory-mapped view, no copy)."""
    size, full = meta["image_size"], meta.get("store_size", meta["image_size"])
    if full == size:
        return Split(*(getattr(stored, f) for f in FIELDS), hires=hires)
    o = (full - size) // 2
    parts = stored.parts.copy()
    parts[..., :2] -= o
    outside = (parts[..., 0] < 0) | (parts[..., 0] >= size) | (parts[..., 1] < 0) | (parts[..., 1] >= size)
    parts[..., 2] = np.where(outside, 0, parts[..., 2])
    return Split(stored.images[:, :, o : o + size, o : o + size], stored.labels,
                 stored.boxes - np.array([o, o, 0, 0], dtype=stored.boxes.dtype), parts, stored.ids, stored.images, o,
                 hires)
