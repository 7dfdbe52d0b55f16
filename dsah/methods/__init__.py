"""The method registry: every module of this package is imported, and each `Method` subclass with a
`name` registers itself (dsah.methods.base). A new method is one new file here."""
from __future__ import annotations

import importlib
import pkgutil

from dsah.methods.base import REGISTRY, Method

for _mod in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_mod.name}")

METHODS: dict[str, type[Method]] = REGISTRY  # name -> class, in registration order


def compose() -> None:
    """Register every composing method (the attention plug-in, the oracle) over every base it accepts:
    `<name>_<base>` (dsah_csq, dsah_nosal_csq, oracle_mask_csq, ...)."""
    for cls in list(REGISTRY.values()):
        if cls.composes and cls.base is None:
            for base in list(REGISTRY.values()):
                if f"{cls.name}_{base.name}" not in REGISTRY and cls.accepts(base) is None:
                    cls.over(base)


compose()


def refusal(name: str) -> str | None:
    """Why `name` is not a method when it reads as a composition `<composer>_<base>` that is refused."""
    for cls in list(REGISTRY.values()):
        if cls.composes and cls.base is None and name.startswith(cls.name + "_"):
            base = REGISTRY.get(name.removeprefix(cls.name + "_"))
            if base is not None and cls.accepts(base):
                return f"{name}: no {cls.name} over {base.name}: {cls.accepts(base)}"
    return None


def get(name: str) -> type[Method]:
    if name not in METHODS:
        raise KeyError(refusal(name) or f"unknown method {name!r}; allowed: {', '.join(sorted(METHODS))}")
    return METHODS[name]


def stage_of(name: str) -> str:
    """Which params.yaml list (and dvc.yaml stage) trains a method: attention_methods
    (train_attention), fitted_methods (train_fitted) or methods (train)."""
    cls = get(name)
    return "attention_methods" if cls.uses_attention else "fitted_methods" if cls.fitted else "methods"


def oracle_of(reference: str | None) -> str | None:
    """The oracle (a method with `oracle` set) built on `reference`: the upper end of the headroom that an
    attention method on the same reference can win; None when no such oracle is registered."""
    return next((n for n, c in METHODS.items() if c.oracle and c.reference == reference), None)


def headline(names: list[str]) -> str | None:
    """The first attention method of `names` that is not an ablation: whom a report's summary is about."""
    return next((n for n in names if n in METHODS and METHODS[n].uses_attention and not METHODS[n].ablation), None)
