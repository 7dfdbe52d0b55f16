"""CUB-200-2011 in its official layout (also the layout of the embedded synthetic dataset).

Files are joined on image id, never on line order: the real `images.txt` is not in sorted file
order. Ids and class ids are 1-based in the files and 0-based here. `is_training_image` 1 = train.
The real archive drops a stray `attributes.txt` next to the `CUB_200_2011/` folder; either folder
may be given as the root.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dsah.data.records import DatasetError, Records, split_sets

REQUIRED = ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt")


def find_root(root: str | Path) -> Path:
    """The folder that holds `images.txt`: `root` itself or its `CUB_200_2011/` child."""
    root = Path(root).expanduser()
    for cand in (root, root / "CUB_200_2011"):
        if (cand / "images.txt").is_file():
            return cand
    raise DatasetError(
        f"{root}: no images.txt here or in {root / 'CUB_200_2011'}; extract CUB_200_2011.tgz so that "
        f"{root / 'CUB_200_2011' / 'images.txt'} exists"
    )


def _table(path: Path, ncols: int, types: tuple) -> dict[int, tuple]:
    """Read `<id> <col> ...` lines into {id: (cols...)}; the last text column may hold spaces."""
    if not path.is_file():
        raise DatasetError(f"{path}: missing file")
    rows: dict[int, tuple] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=ncols - 1) if types[-1] is str else line.split()
        if len(parts) != ncols:
            raise DatasetError(f"{path}:{n}: expected {ncols} fields, got {len(parts)}: {line!r}")
        try:
            vals = tuple(t(v) for t, v in zip(types, parts))
        except ValueError:
            raise DatasetError(f"{path}:{n}: cannot parse {line!r}") from None
        if vals[0] in rows:
            raise DatasetError(f"{path}:{n}: id {vals[0]} appears twice")
        rows[vals[0]] = vals[1:]
    return rows


def _float(v: str) -> float:
    return float(v)


def load(root: str | Path) -> Records:
    """Read the index files of a CUB-style folder (images are not opened here)."""
    root = find_root(root)
    images = _table(root / "images.txt", 2, (int, str))
    labels = _table(root / "image_class_labels.txt", 2, (int, int))
    split = _table(root / "train_test_split.txt", 2, (int, int))
    classes = _table(root / "classes.txt", 2, (int, str))
    ids = np.array(sorted(images), dtype=np.int64)
    for name, table in (("image_class_labels.txt", labels), ("train_test_split.txt", split)):
        missing = set(images) - set(table)
        if missing:
            raise DatasetError(f"{root / name}: no line for image id(s) {sorted(missing)[:5]}")
    class_ids = sorted(classes)
    if class_ids != list(range(1, len(class_ids) + 1)):
        raise DatasetError(f"{root / 'classes.txt'}: class ids must be 1..{len(class_ids)}")
    lab = np.array([labels[i][0] for i in ids]) - 1
    if lab.min() < 0 or lab.max() >= len(class_ids):
        raise DatasetError(f"{root / 'image_class_labels.txt'}: class id outside 1..{len(class_ids)}")
    flags = np.array([split[i][0] for i in ids])
    if not np.isin(flags, (0, 1)).all():
        raise DatasetError(f"{root / 'train_test_split.txt'}: is_training_image must be 0 or 1")

    boxes = np.full((len(ids), 4), np.nan)
    if (root / "bounding_boxes.txt").is_file():
        bb = _table(root / "bounding_boxes.txt", 5, (int, _float, _float, _float, _float))
        boxes = np.array([bb[i] if i in bb else (np.nan,) * 4 for i in ids], dtype=float)

    part_names: list[str] = []
    part_locs = np.zeros((len(ids), 0, 3))
    if (root / "parts" / "parts.txt").is_file() and (root / "parts" / "part_locs.txt").is_file():
        pn = _table(root / "parts" / "parts.txt", 2, (int, str))
        part_names = [pn[k][0] for k in sorted(pn)]
        part_locs = np.zeros((len(ids), len(part_names), 3))
        index = {int(i): n for n, i in enumerate(ids)}
        for n, line in enumerate((root / "parts" / "part_locs.txt").read_text().splitlines(), 1):
            f = line.split()
            if not f:
                continue
            if len(f) != 5:
                raise DatasetError(f"{root / 'parts/part_locs.txt'}:{n}: expected 5 fields: {line!r}")
            i, k = int(f[0]), int(f[1])
            if i in index and 1 <= k <= len(part_names):
                part_locs[index[i], k - 1] = (float(f[2]), float(f[3]), float(f[4]))

    return split_sets(
        root,
        flags.astype(bool),
        ids=ids,
        paths=[root / "images" / images[i][0] for i in ids],
        labels=lab.astype(np.int64),
        boxes=boxes,
        part_locs=part_locs,
        class_names=[classes[k][0] for k in class_ids],
        part_names=part_names,
    )
