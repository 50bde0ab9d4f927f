"""One coercion of configuration and provenance values into strict JSON types.

Golden manifests, reports and case records are written as strict JSON (no NaN)
and read back by people and diff tools, so every writer coerces alike: paths and
other objects become strings, tuples and sets lists, numpy scalars and arrays
plain numbers and lists, NaN and infinities their ``repr``. Imports nothing
heavy: numpy values are recognised by their ``tolist`` method.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


def json_ready(value: Any) -> Any:
    """``value`` with JSON types only (see the module docstring); mappings keep their order."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_ready(v) for v in value]
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return json_ready(value.tolist())  # numpy scalar or array
    return str(value)
