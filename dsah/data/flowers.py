"""Oxford Flowers-102 and Flowers-17 in their official layouts.

Flowers-102: `jpg/image_00001.jpg ...` (5 digits, 1-based), `imagelabels.mat` (`labels`, 1..102: the
class of image i is labels[i - 1]), `setid.mat` (`trnid`, `valid`, `tstid`: 1-based image numbers).
Training set = database = trnid + valid (2,040), queries = tstid (6,149).

Flowers-17: `jpg/image_0001.jpg ... image_1360.jpg` (4 digits) and no label file: each run of 80
consecutive images is one class, label = (i - 1) // 80, in the order of FLOWERS17_CLASSES.
`datasplits.mat` holds three splits `trn1..3`, `val1..3`, `tst1..3` (1-based); training set =
database = trn<k> + val<k>, queries = tst<k> for the chosen split k.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dsah.data.records import DatasetError, Records

FLOWERS17_CLASSES = ["Daffodil", "Snowdrop", "LilyValley", "Bluebell", "Crocus", "Iris", "Tigerlily", "Tulip",
                     "Fritillary", "Sunflower", "Daisy", "ColtsFoot", "Dandelion", "Cowslip", "Buttercup",
                     "Windflower", "Pansy"]
PER_CLASS_17 = 80


def _find(root: str | Path, marker: str, what: str) -> Path:
    root = Path(root).expanduser()
    for cand in (root, root / "flowers-102", root / "flowers-17", root / "17flowers"):
        if (cand / marker).is_file() and (cand / "jpg").is_dir():
            return cand
    raise DatasetError(f"{root}: no {marker} next to a jpg/ folder; {what}")


def _mat(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    from scipy.io import loadmat

    if not path.is_file():
        raise DatasetError(f"{path}: missing file")
    try:
        mat = loadmat(path, squeeze_me=True)
    except (ValueError, OSError) as err:
        raise DatasetError(f"{path}: unreadable .mat file ({err})") from None
    missing = [k for k in keys if k not in mat]
    if missing:
        raise DatasetError(f"{path}: no field(s) {', '.join(missing)}")
    return {k: np.atleast_1d(mat[k]).astype(np.int64) for k in keys}


def _sets(root: Path, n: int, train_ids: np.ndarray, test_ids: np.ndarray, source: Path):
    for ids in (train_ids, test_ids):
        if ids.min() < 1 or ids.max() > n:
            raise DatasetError(f"{source}: image numbers must be 1..{n} (1-based)")
    train = np.zeros(n, dtype=bool)
    test = np.zeros(n, dtype=bool)
    train[train_ids - 1] = True
    test[test_ids - 1] = True
    if (train & test).any():
        raise DatasetError(f"{source}: image(s) {np.flatnonzero(train & test)[:5] + 1} in both training and test ids")
    return train, test


def load_102(root: str | Path) -> Records:
    root = _find(root, "imagelabels.mat", "extract 102flowers.tgz and put imagelabels.mat and setid.mat beside jpg/")
    labels = _mat(root / "imagelabels.mat", ("labels",))["labels"]
    if labels.min() < 1:
        raise DatasetError(f"{root / 'imagelabels.mat'}: labels must be 1..102 (1-based), found {labels.min()}")
    labels = labels - 1
    s = _mat(root / "setid.mat", ("trnid", "valid", "tstid"))
    n = len(labels)
    train, test = _sets(root, n, np.concatenate([s["trnid"], s["valid"]]), s["tstid"], root / "setid.mat")
    keep = train | test
    ids = np.arange(1, n + 1)[keep]
    return Records(root=root, ids=ids, labels=labels[keep], train=train[keep], query=test[keep],
                   database=train[keep], protocol="setid.mat: trnid + valid = training set = database, tstid = queries",
                   paths=[root / "jpg" / f"image_{i:05d}.jpg" for i in ids],
                   class_names=[f"class_{c + 1:03d}" for c in range(int(labels.max()) + 1)])


def load_17(root: str | Path, split: int = 1) -> Records:
    root = _find(root, "datasplits.mat", "extract 17flowers.tgz and put datasplits.mat beside jpg/")
    if split not in (1, 2, 3):
        raise DatasetError(f"data.flowers17_split={split}: datasplits.mat holds splits 1, 2 and 3")
    files = sorted((root / "jpg").glob("image_*.jpg"))
    n = len(files)
    if n == 0 or n % PER_CLASS_17:
        raise DatasetError(f"{root / 'jpg'}: {n} images; Flowers-17 has {PER_CLASS_17} per class in label order")
    expected = [root / "jpg" / f"image_{i:04d}.jpg" for i in range(1, n + 1)]
    if files != expected:
        raise DatasetError(f"{root / 'jpg'}: images must be image_0001.jpg .. image_{n:04d}.jpg without gaps")
    s = _mat(root / "datasplits.mat", (f"trn{split}", f"val{split}", f"tst{split}"))
    train, test = _sets(root, n, np.concatenate([s[f"trn{split}"], s[f"val{split}"]]), s[f"tst{split}"],
                        root / "datasplits.mat")
    labels = np.arange(n) // PER_CLASS_17
    keep = train | test
    ids = np.arange(1, n + 1)[keep]
    return Records(root=root, ids=ids, labels=labels[keep], train=train[keep], query=test[keep],
                   database=train[keep],
                   protocol=f"datasplits.mat split {split}: trn + val = training set = database, tst = queries",
                   paths=[expected[i - 1] for i in ids], class_names=FLOWERS17_CLASSES[: n // PER_CLASS_17])
