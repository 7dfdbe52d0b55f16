"""The method registry: one small module per method, looked up by its `params.yaml` name."""
from __future__ import annotations

from dsah.methods.base import Method
from dsah.methods.csq import Csq
from dsah.methods.dpsh import Dpsh
from dsah.methods.dsah import Dsah
from dsah.methods.dsah_nosal import DsahNoSal
from dsah.methods.dsh import Dsh
from dsah.methods.dtq import Dtq
from dsah.methods.greedyhash import GreedyHash
from dsah.methods.hash_only import HashOnly
from dsah.methods.hashnet import HashNet
from dsah.methods.itq import Itq
from dsah.methods.lsh import Lsh
from dsah.methods.oracle_mask import OracleMask
from dsah.methods.orthohash import OrthoHash

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (
    Dsah, DsahNoSal, HashOnly, OracleMask,  # DSaH, its ablations and the oracle
    Dpsh, Dsh, HashNet, GreedyHash, Csq, OrthoHash, Dtq,  # deep baselines
    Lsh, Itq,  # shallow baselines on backbone features
)}


def get(name: str) -> type[Method]:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    return METHODS[name]
