"""Schema-2 parts of the golden format: full-copy bytes, fingerprints, expectations, new keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from core_stores import make_embeddings
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from repro_golden.api import write_golden
from repro_golden.core.digest import array_digest
from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden.expectations import Expectation, ExpectationKind, select
from repro_golden.core.golden.full import decode_full, encode_full
from repro_golden.core.golden.store import GoldenStore
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
from repro_golden.errors import GoldenFileError

Writer = Callable[..., Path]

_arrays = st.sampled_from(["<f4", "<f8", ">f4", "<f2"]).flatmap(
    lambda dtype: hnp.arrays(
        np.dtype(dtype),
        st.tuples(st.integers(0, 9), st.integers(1, 7)),
        elements=hnp.from_dtype(np.dtype(dtype), allow_nan=True, allow_infinity=True),
    )
)


@settings(max_examples=150, deadline=None)
@given(first=_arrays, second=_arrays)
def test_full_copy_round_trips_bit_for_bit(first: np.ndarray, second: np.ndarray) -> None:
    arrays = {"X": first, "X_projections": second}
    blob = encode_full(arrays)
    assert encode_full(arrays) == blob  # deterministic bytes
    shapes = {
        k: (v.dtype.newbyteorder("<").str, (int(v.shape[0]), int(v.shape[1])))
        for k, v in arrays.items()
    }
    back = decode_full(blob, Path("full.bin"), shapes=shapes)
    for name, values in arrays.items():
        assert array_digest(back[name]) == array_digest(values)
        assert back[name].tobytes() == values.astype(values.dtype.newbyteorder("<")).tobytes()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=64), cut=st.integers(0, 200))
def test_damaged_full_copy_is_refused_never_misread(data: bytes, cut: int) -> None:
    arrays = {"X": np.arange(12, dtype="<f4").reshape(3, 4)}
    blob = encode_full(arrays)
    damaged = blob[: min(cut, len(blob))] + data
    if damaged == blob:
        return
    try:
        back = decode_full(damaged, Path("full.bin"), shapes={"X": ("<f4", (3, 4))})
    except GoldenFileError:
        return
    # A tail that still inflates to the same bytes is the same values.
    assert back["X"].tobytes() == arrays["X"].tobytes()


_fingerprints = st.builds(
    EnvironmentFingerprint,
    torch=st.one_of(st.none(), st.text(max_size=8)),
    device_type=st.one_of(st.none(), st.sampled_from(["cpu", "cuda"])),
    num_threads=st.one_of(st.none(), st.integers(1, 64)),
    batch_size=st.one_of(st.none(), st.integers(1, 512)),
    cudnn_benchmark=st.one_of(st.none(), st.booleans()),
    cpu_model=st.one_of(st.none(), st.text(max_size=12)),
)


@settings(max_examples=100, deadline=None)
@given(env=_fingerprints)
def test_fingerprint_and_expectation_round_trip(env: EnvironmentFingerprint) -> None:
    assert EnvironmentFingerprint.from_mapping(json.loads(json.dumps(env.to_dict()))) == env
    tolerance = ArrayTolerances.of(ToleranceSpec(1e-5), {"X": ToleranceSpec(1e-3, 1e-4)})
    expectation = Expectation(env, ExpectationKind.TOLERANCE, tolerance, evidence="measured")
    data = json.loads(json.dumps(expectation.to_dict()))
    assert Expectation.from_mapping(data, path=None, key="e") == expectation
    assert select([expectation], env) == (expectation if env.is_known else None)


def test_fingerprint_fields_are_checked() -> None:
    with pytest.raises(GoldenFileError, match=r"\[environment.num_threads\] expected int"):
        EnvironmentFingerprint.from_mapping({"num_threads": "2"})
    with pytest.raises(GoldenFileError, match=r"\[environment.cudnn_benchmark\] expected bool"):
        EnvironmentFingerprint.from_mapping({"cudnn_benchmark": 1})
    with pytest.raises(GoldenFileError, match="unknown fields"):
        EnvironmentFingerprint.from_mapping({"gpu": "yes"})


def _edit_key(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


@pytest.mark.parametrize(
    ("dotted", "value", "key"),
    [
        ("tolerance.default.atol", -1.0, "tolerance"),
        ("tolerance", [1], "tolerance"),
        ("environment.num_threads", "two", "environment.num_threads"),
        ("expectations", {}, "expectations"),
        ("expectations.0.kind", "close", "expectations[0].kind"),
        ("expectations.0.key", "env-0000000000000000", "expectations[0].key"),
        ("expectations.0.tolerance", {"atol": 1}, "expectations[0]"),
        ("full_copy_limit", -5, "full_copy_limit"),
        ("full.file", "../full.bin", "full.file"),
        ("full.format", "other/1", "full.format"),
    ],
)
def test_bad_schema_2_keys_are_refused_naming_the_key(
    write_store: Writer, tmp_path: Path, dotted: str, value: Any, key: str
) -> None:
    env = EnvironmentFingerprint(torch="2", device_type="cpu", num_threads=2, batch_size=4)
    prov = json.dumps({"environment": env.to_dict()})
    first = write_store("a", make_embeddings().with_(uns=prov))
    second = write_store("b", make_embeddings().with_(uns=prov))
    manifest = write_golden(first, tmp_path / "g", verify_with=second, tolerance=ToleranceSpec(1))
    data = json.loads(manifest.read_text())
    _edit_key(data, dotted, value)
    manifest.write_text(json.dumps(data))
    with pytest.raises(GoldenFileError) as info:
        GoldenStore(tmp_path / "g").read()
    assert info.value.key == key
    assert str(manifest) in str(info.value)
