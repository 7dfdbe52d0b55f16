"""The building blocks of validated parameter sections (pydantic), shared by dsah.config and the
methods, which declare their own sections with them."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict


def _number(v: Any) -> Any:
    """YAML 1.1 reads `1e-3` as a string and `1` as an int; both are meant as floats here."""
    if isinstance(v, int) and not isinstance(v, bool):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


# A float field that also takes what YAML 1.1 reads as an int or a string.
Float = Annotated[float, BeforeValidator(_number)]


class Section(BaseModel):
    """A section of params.yaml: unknown keys and wrong types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True)
