"""Your own images: one subfolder per class, with or without `train/` and `test/` subfolders.

`root/<class>/<image>` — a seeded per-class split: `test_share` of each class's images (at least one)
become queries, the rest the training set = database; or `root/train/<class>/...` and
`root/test/<class>/...` — that split, the same classes on both sides. Folders are read with
torchvision's `ImageFolder` conventions (class = subfolder name, sorted; its image extensions).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dsah.data.records import DatasetError, Records, split_sets


def _scan(folder: Path) -> tuple[list[str], list[Path], np.ndarray]:
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    try:
        classes, to_idx = find_classes(str(folder))
        samples = make_dataset(str(folder), to_idx, extensions=IMG_EXTENSIONS)
    except FileNotFoundError as err:
        raise DatasetError(f"{folder}: {err}; put one folder of images per class there") from None
    return classes, [Path(p) for p, _ in samples], np.array([c for _, c in samples], dtype=np.int64)


def load(root: str | Path, test_share: float = 0.2, seed: int = 0) -> Records:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder; put one folder of images per class there")
    if (root / "train").is_dir() and (root / "test").is_dir():
        (c_tr, p_tr, l_tr), (c_te, p_te, l_te) = _scan(root / "train"), _scan(root / "test")
        if c_tr != c_te:
            raise DatasetError(f"{root}: train/ and test/ hold different classes: "
                               f"{sorted(set(c_tr) ^ set(c_te))[:5]}")
        paths, labels = p_tr + p_te, np.concatenate([l_tr, l_te])
        is_train = np.arange(len(paths)) < len(p_tr)
        classes, text = c_tr, "train/ = training set = database, test/ = queries"
    else:
        classes, paths, labels = _scan(root)
        rng = np.random.default_rng(seed)
        is_train = np.ones(len(paths), dtype=bool)
        for c in range(len(classes)):
            idx = np.flatnonzero(labels == c)
            if len(idx) < 2:
                raise DatasetError(f"{root / classes[c]}: {len(idx)} image(s); a class needs two to be split")
            k = min(len(idx) - 1, max(1, int(round(test_share * len(idx)))))
            is_train[rng.permutation(idx)[:k]] = False
        text = f"seeded split (split_seed {seed}): {test_share:g} of each class = queries, the rest training set = database"
    return split_sets(root, is_train, protocol=text, ids=np.arange(1, len(paths) + 1), paths=paths, labels=labels,
                      class_names=list(classes))
