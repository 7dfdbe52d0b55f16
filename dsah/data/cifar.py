"""CIFAR-10 from its python batches, read by torchvision's `CIFAR10` (no download).

`cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`: pickled dicts whose `data` rows hold
3,072 bytes, the R plane then G then B of a 32 x 32 image (channel-first; torchvision turns them into
(N, 32, 32, 3)). Two retrieval protocols:

* `dpsh` (DPSH, DSDH, ADSH): from all 60,000 images, `query_per_class` (100) per class are queries,
  the other 59,000 the database, and `train_per_class` (500) per class of the database the training
  set; drawn with `split_seed`;
* `official`: queries = the 10,000 test images, training set = database = the 50,000 training images.

The archive's md5 is checked when it is extracted (`dsah.data.sources`); torchvision's per-file md5
check is turned off here so that the tests' miniatures (same format, other bytes) load too.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dsah.data.records import DatasetError, Records

BASE = "cifar-10-batches-py"
PROTOCOLS = ("dpsh", "official")


def find_root(root: str | Path) -> Path:
    """The folder that holds `cifar-10-batches-py/` (or that folder itself)."""
    root = Path(root).expanduser()
    for cand in (root, root.parent):
        if (cand / BASE / "batches.meta").is_file():
            return cand
    raise DatasetError(f"{root}: no {BASE}/batches.meta here; extract cifar-10-python.tar.gz into {root}")


def _dataset(root: Path, train: bool):
    from torchvision.datasets import CIFAR10

    class Unchecked(CIFAR10):
        train_list = [[f, None] for f, _ in CIFAR10.train_list]  # md5 None: existence only
        test_list = [[f, None] for f, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    try:
        return Unchecked(str(root), train=train, download=False)
    except RuntimeError:
        files = [f for f, _ in (CIFAR10.train_list if train else CIFAR10.test_list)]
        missing = [f for f in files if not (root / BASE / f).is_file()]
        raise DatasetError(f"{root / BASE}: missing {', '.join(missing) or 'files'}") from None
    except (ValueError, EOFError, KeyError, OSError) as err:  # a truncated or foreign pickle
        raise DatasetError(f"{root / BASE}: unreadable batch file ({type(err).__name__}: {err})") from None


def load(root: str | Path, protocol: str = "dpsh", query_per_class: int = 100, train_per_class: int = 500,
         seed: int = 0) -> Records:
    root = find_root(root)
    if protocol not in PROTOCOLS:
        raise DatasetError(f"data.protocol={protocol!r}: CIFAR-10 protocols are {', '.join(PROTOCOLS)}")
    tr, te = _dataset(root, True), _dataset(root, False)
    pixels = np.concatenate([tr.data, te.data])
    labels = np.concatenate([tr.targets, te.targets]).astype(np.int64)
    n = len(labels)
    official_train = np.arange(n) < len(tr.data)
    if protocol == "official":
        train, query, database = official_train, ~official_train, official_train
        text = "official: queries = test batch, training set = database = the five training batches"
    else:
        rng = np.random.default_rng(seed)
        query = np.zeros(n, dtype=bool)
        train = np.zeros(n, dtype=bool)
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            if len(idx) < query_per_class + train_per_class:
                raise DatasetError(f"{root / BASE}: class {tr.classes[c]} has {len(idx)} images, fewer than "
                                   f"query_per_class + train_per_class = {query_per_class + train_per_class}")
            query[idx[:query_per_class]] = True
            train[idx[query_per_class : query_per_class + train_per_class]] = True
        database = ~query
        text = (f"dpsh: {query_per_class} queries per class, the rest the database, {train_per_class} per class "
                f"of the database the training set (split_seed {seed})")
    return Records(root=root, ids=np.arange(1, n + 1), labels=labels, train=train, query=query, database=database,
                   protocol=text, pixels=pixels, class_names=list(tr.classes))
