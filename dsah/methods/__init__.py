"""The method registry: one small module per method, looked up by its `params.yaml` name."""
from __future__ import annotations

from dsah.methods.base import Method
from dsah.methods.dsah import Dsah
from dsah.methods.dsah_nosal import DsahNoSal
from dsah.methods.hash_only import HashOnly
from dsah.methods.oracle_mask import OracleMask

METHODS: dict[str, type[Method]] = {cls.name: cls for cls in (Dsah, DsahNoSal, HashOnly, OracleMask)}


def get(name: str) -> type[Method]:
    if name not in METHODS:
        raise KeyError(f"unknown method {name!r}; allowed: {', '.join(METHODS)}")
    return METHODS[name]
