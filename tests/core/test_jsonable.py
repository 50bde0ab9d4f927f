"""The one JSON coercion: strict JSON out, whatever a config or provenance holds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from repro_golden.core.jsonable import json_ready


def test_objects_numpy_and_non_finite_become_strict_json() -> None:
    value = {
        "path": Path("/a/b"),
        "pair": (1, 2),
        "set": {3},
        "scalar": np.float32(0.5),
        "array": np.arange(3, dtype=np.int64),
        "nan": float("nan"),
        "inf": -math.inf,
        1: None,
    }
    out = json_ready(value)
    assert out == {
        "path": "/a/b",
        "pair": [1, 2],
        "set": [3],
        "scalar": 0.5,
        "array": [0, 1, 2],
        "nan": "nan",
        "inf": "-inf",
        "1": None,
    }
    json.dumps(out, allow_nan=False)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(JSONISH)
def test_output_is_always_strict_json_and_a_fixed_point(value: object) -> None:
    out = json_ready(value)
    json.dumps(out, allow_nan=False)
    assert json_ready(out) == out
