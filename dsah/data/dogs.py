"""Stanford Dogs (120 breeds, 20,580 images) in its official layout.

`images.tar` -> `Images/<wnid>-<Breed>/<wnid>_<n>.jpg`; `lists.tar` -> `train_list.mat`, `test_list.mat`
(fields `file_list`, relative to `Images/`, and `labels`, 1..120); `annotation.tar` (optional) ->
`Annotation/<wnid>-<Breed>/<wnid>_<n>` VOC-style XML without extension, read for object boxes (the
union of the dogs' boxes). Official split: 12,000 train (100 per breed) / 8,580 test. One file,
`n02105855-Shetland_sheepdog/n02105855_2933.jpg`, is a PNG: PIL reads images by content, so it decodes.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from dsah.data.records import DatasetError, Records, split_sets

LISTS = ("train_list.mat", "test_list.mat")


def find_root(root: str | Path) -> Path:
    """The folder that holds the two list files and `Images/` (`images/`, or Kaggle's `images/Images/`)."""
    root = Path(root).expanduser()
    if all((root / f).is_file() for f in LISTS):
        return root
    raise DatasetError(f"{root}: no {' and '.join(LISTS)} here; extract lists.tar and images.tar into {root}")


def images_dir(root: Path) -> Path:
    for cand in (root / "Images", root / "images" / "Images", root / "images"):
        if cand.is_dir():
            return cand
    raise DatasetError(f"{root}: no Images/ folder; extract images.tar into {root}")


def _read_list(path: Path) -> tuple[list[str], np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path, squeeze_me=True)
        files = [str(f) for f in np.atleast_1d(mat["file_list"])]
        labels = np.atleast_1d(mat["labels"]).astype(np.int64)
    except (KeyError, ValueError, OSError) as err:
        raise DatasetError(f"{path}: not a Stanford Dogs list (need file_list and labels): {err}") from None
    if len(files) != len(labels):
        raise DatasetError(f"{path}: {len(files)} files but {len(labels)} labels")
    return files, labels


def _box(xml: Path) -> tuple[float, float, float, float]:
    """Union of the objects' boxes (x, y, w, h); NaN when the annotation is missing."""
    if not xml.is_file():
        return (np.nan,) * 4
    try:
        boxes = [[float(o.find(f"bndbox/{k}").text) for k in ("xmin", "ymin", "xmax", "ymax")]
                 for o in ET.parse(xml).getroot().iter("object")]
    except (ET.ParseError, AttributeError, ValueError) as err:
        raise DatasetError(f"{xml}: unreadable annotation ({err})") from None
    if not boxes:
        return (np.nan,) * 4
    b = np.array(boxes)
    x0, y0, x1, y1 = b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max()
    return (x0, y0, x1 - x0, y1 - y0)


def load(root: str | Path) -> Records:
    root = find_root(root)
    images = images_dir(root)
    (train_files, train_labels), (test_files, test_labels) = (_read_list(root / f) for f in LISTS)
    files = train_files + test_files
    labels = np.concatenate([train_labels, test_labels])
    if labels.min() < 1:
        raise DatasetError(f"{root / LISTS[0]}: labels must be 1..120 (1-based), found {labels.min()}")
    labels = labels - 1
    names: dict[int, str] = {}
    for f, c in zip(files, labels):
        names.setdefault(int(c), f.split("/")[0].split("-", 1)[-1])
    n_classes = int(labels.max()) + 1
    missing = sorted(set(range(n_classes)) - set(names))
    if missing:
        raise DatasetError(f"{root}: no image of class(es) {[m + 1 for m in missing[:5]]} in the lists")
    annotations = root / "Annotation"
    boxes = np.array([_box(annotations / f.rsplit(".", 1)[0]) for f in files]) if annotations.is_dir() else None
    return split_sets(root, np.arange(len(files)) < len(train_files),
                      protocol="official lists: train_list = training set = database, test_list = queries",
                      ids=np.arange(1, len(files) + 1), paths=[images / f for f in files], labels=labels,
                      class_names=[names[c] for c in range(n_classes)], boxes=boxes)
