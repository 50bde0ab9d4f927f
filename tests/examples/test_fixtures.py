"""Digests and drift reports of the hashed fixtures (no generation needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from repro_golden.errors import FixtureDriftError, GoldenFileError
from repro_golden.examples import fixtures
from repro_golden.examples.fixtures import FixtureDrift, InputDigestDriftError

_ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.int64, np.uint16, np.uint8, np.bool_]),
    shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=5),
)


@given(_ARRAYS)
def test_array_digest_ignores_memory_layout_and_byte_order(array: np.ndarray) -> None:
    swapped = array.astype(array.dtype.newbyteorder(">"))
    fortran = np.asfortranarray(array)
    assert fixtures.array_digest(swapped) == fixtures.array_digest(array)
    assert fixtures.array_digest(fortran) == fixtures.array_digest(array)


def test_array_digest_sees_dtype_shape_and_values() -> None:
    base = np.arange(6, dtype=np.float32).reshape(2, 3)
    changed = base.copy()
    changed[1, 2] = np.nextafter(changed[1, 2], np.float32(np.inf))
    digests = {
        fixtures.array_digest(base),
        fixtures.array_digest(base.reshape(3, 2)),
        fixtures.array_digest(base.astype(np.float64)),
        fixtures.array_digest(changed),
    }
    assert len(digests) == 4


def test_json_digest_ignores_key_order_not_values() -> None:
    assert fixtures.json_digest({"a": 1.0, "b": [1, 2]}) == fixtures.json_digest(
        {"b": [1, 2], "a": 1.0}
    )
    assert fixtures.json_digest({"a": 1.0}) != fixtures.json_digest({"a": 1.0000000000000002})


def test_drift_names_changed_missing_and_extra_items() -> None:
    drift = FixtureDrift.between(
        {"plate A/1/0 array 0": "x", "tracks A/1/0": "y", "case file": "z"},
        {"plate A/1/0 array 0": "x2", "tracks A/1/0": "y", "checkpoint new": "w"},
    )
    assert drift.changed == ("plate A/1/0 array 0",)
    assert drift.missing == ("case file",)
    assert drift.extra == ("checkpoint new",)
    text = drift.describe()
    assert "1 changed: plate A/1/0 array 0" in text
    assert "recorded but not generated: case file" in text
    assert not FixtureDrift.between({"a": "1"}, {"a": "1"})


def test_drift_description_is_capped() -> None:
    drift = FixtureDrift.between(
        {f"k{i:02d}": "a" for i in range(30)}, {f"k{i:02d}": "b" for i in range(30)}
    )
    text = drift.describe(max_items=3)
    assert text == "30 changed: k00, k01, k02, ... and 27 more"


def test_verify_raises_drift_error_naming_file_and_items(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    fixtures.write_recorded(path, case="example", digests={"plate A/1/0 array 0": "old"})
    with pytest.raises(InputDigestDriftError, match=r"1 changed: plate A/1/0 array 0") as info:
        fixtures.verify(path, case="example", digests={"plate A/1/0 array 0": "new"})
    assert isinstance(info.value, FixtureDriftError)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert "--force-regen-fixtures" in str(info.value)
    fixtures.verify(path, case="example", digests={"plate A/1/0 array 0": "old"})


def test_recorded_file_is_readable_sorted_json(tmp_path: Path) -> None:
    path = tmp_path / "inputs.json"
    fixtures.write_recorded(path, case="zstack", digests={"b": "2", "a": "1"})
    text = path.read_text()
    document = json.loads(text)
    assert document["schema"] == fixtures.SCHEMA
    assert list(document["digests"]) == ["a", "b"]
    assert text.endswith("}\n")


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("not json", None),
        (json.dumps({"schema": "other/1", "case": "example", "digests": {}}), "schema"),
        (json.dumps({"schema": fixtures.SCHEMA, "case": "zstack", "digests": {}}), "case"),
        (json.dumps({"schema": fixtures.SCHEMA, "case": "example", "digests": [1]}), "digests"),
    ],
)
def test_load_recorded_rejects_unusable_files(
    tmp_path: Path, content: str, key: str | None
) -> None:
    path = tmp_path / "inputs.json"
    path.write_text(content)
    with pytest.raises(GoldenFileError) as info:
        fixtures.load_recorded(path, case="example")
    assert info.value.key == key
    assert info.value.path == path


def test_load_recorded_missing_file_says_how_to_record(tmp_path: Path) -> None:
    with pytest.raises(GoldenFileError, match="--force-regen-fixtures"):
        fixtures.load_recorded(tmp_path / "absent.json", case="example")


@pytest.mark.parametrize("case", ["example", "zstack"])
def test_committed_digests_load(case: str) -> None:
    digests = fixtures.load_recorded(fixtures.default_inputs_path(case), case=case)
    assert any(name.startswith("checkpoint model.") for name in digests)
    assert any(name.startswith("plate ") and name.endswith(" array 0") for name in digests)
