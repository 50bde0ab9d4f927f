"""Opening a plain zarr v2 plate from its JSON gives what zarr gives, and is taken for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import zarr

from repro_golden.inference.data import plate as plate_module
from repro_golden.inference.data.plate import FieldOfView, open_plate

MakePlate = Callable[..., tuple[Path, Path]]


def _through_zarr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plate_module, "_is_v2_group", lambda path: False)
    monkeypatch.setattr(plate_module, "_v2_position", lambda path: None)


def _described(fovs: list[FieldOfView]) -> list[tuple[object, ...]]:
    return [
        (f.name, f.path, f.shape, f.dtype, f.channel_names, dict(f.normalization or {}))
        for f in fovs
    ]


@pytest.mark.parametrize("dtype", ["float32", "uint16", "float64"])
def test_direct_v2_opening_equals_zarr(
    make_plate: MakePlate, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    plate, _ = make_plate(
        fovs=("A/1/0", "A/1/1", "A/10/0", "A/2/0", "B/1/0"), dtype=dtype, shape=(2, 2, 2, 20, 24)
    )
    assert plate_module._is_v2_group(plate)  # iohub's NGFF 0.4 layout: the direct path
    direct = open_plate(plate)
    with monkeypatch.context() as patch:
        _through_zarr(patch)
        reference = open_plate(plate)
    assert _described(direct) == _described(reference)
    assert [f.name for f in direct] == ["A/1/0", "A/1/1", "A/10/0", "A/2/0", "B/1/0"]


def test_direct_path_is_not_taken_for_zarr_v3_or_consolidated_plates(make_plate: MakePlate) -> None:
    v3, _ = make_plate(version="0.5")
    assert not plate_module._is_v2_group(v3)
    assert plate_module._v2_position(v3 / "A/1/0") is None
    v2, _ = make_plate()
    zarr.consolidate_metadata(str(v2), zarr_format=2)  # zarr then reads members from it
    assert (v2 / ".zmetadata").exists()
    calls: list[Path] = []
    original = plate_module._v2_sorted_groups
    plate_module._v2_sorted_groups = lambda path: calls.append(path) or original(path)  # type: ignore[assignment]
    try:
        open_plate(v2)
    finally:
        plate_module._v2_sorted_groups = original  # type: ignore[assignment]
    assert calls == []
