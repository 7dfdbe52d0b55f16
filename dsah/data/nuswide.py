"""NUS-WIDE, the 21-concept hashing subset, as image lists with multi-hot labels.

The layout of DeepHash-pytorch's `data/nuswide_21/`: `train.txt`, `test.txt` and `database.txt`,
one image per line, `<path> <l1> ... <l21>` (0/1), paths relative to the folder (HashNet's lists hold
absolute author paths: everything up to `images/` is replaced by this folder's `images/`). Queries =
test.txt, database = database.txt (which contains the training images), training set = train.txt.
Relevance: at least one shared concept; the usual metric is mAP@5000 (`eval.top_k: [5000]`).
The column order of the 21 concepts is the one widely quoted (alphabetical); it is not verified.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dsah.data.records import DatasetError, Records

LISTS = {"train": "train.txt", "query": "test.txt", "database": "database.txt"}
CONCEPTS_21 = ["animal", "beach", "buildings", "clouds", "flowers", "grass", "lake", "mountain", "ocean", "person",
               "plants", "reflection", "road", "rocks", "sky", "snow", "sunset", "tree", "vehicle", "water", "window"]


def find_root(root: str | Path) -> Path:
    root = Path(root).expanduser()
    for cand in (root, root / "nuswide_21", root / "nus_wide"):
        if all((cand / f).is_file() for f in LISTS.values()):
            return cand
    raise DatasetError(f"{root}: need {', '.join(LISTS.values())} here (DeepHash-pytorch's data/nuswide_21 lists; "
                       f"database.txt is made by its code.py) and the images they name")


def _image_path(root: Path, name: str) -> Path:
    p = Path(name)
    if not p.is_absolute():
        return root / p
    if "images" in p.parts:  # an author's absolute path: keep what follows images/
        return root / "images" / Path(*p.parts[len(p.parts) - p.parts[::-1].index("images"):])
    return p


def _read(path: Path, width: int | None) -> list[tuple[str, np.ndarray]]:
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        f = line.split()
        if not f:
            continue
        try:
            lab = np.array([int(v) for v in f[1:]], dtype=np.int64)
        except ValueError:
            raise DatasetError(f"{path}:{n}: labels must be 0/1 integers: {line[:80]!r}") from None
        if width is not None and len(lab) != width or not np.isin(lab, (0, 1)).all():
            raise DatasetError(f"{path}:{n}: expected a path and {width} labels of 0/1, got {line[:80]!r}")
        rows.append((f[0], lab))
    if not rows:
        raise DatasetError(f"{path}: empty list")
    return rows


def load(root: str | Path) -> Records:
    root = find_root(root)
    index: dict[str, int] = {}
    paths, labels, member = [], [], {k: [] for k in LISTS}
    for key, name in LISTS.items():
        for rel, lab in _read(root / name, len(CONCEPTS_21)):
            i = index.get(rel)
            if i is None:
                i = index[rel] = len(paths)
                paths.append(_image_path(root, rel))
                labels.append(lab)
            elif not np.array_equal(labels[i], lab):
                raise DatasetError(f"{root / name}: {rel} has other labels than in an earlier list")
            member[key].append(i)
    n = len(paths)
    masks = {}
    for key, idx in member.items():
        m = np.zeros(n, dtype=bool)
        m[idx] = True
        masks[key] = m
    return Records(root=root, ids=np.arange(1, n + 1), labels=np.stack(labels), train=masks["train"],
                   query=masks["query"], database=masks["database"],
                   protocol="lists: test.txt = queries, database.txt = database, train.txt = training set",
                   paths=paths, class_names=list(CONCEPTS_21))
