"""HCS OME-Zarr plate reader (OME-NGFF 0.4 on zarr v2 as iohub writes it, 0.5 on zarr v3).

Read with ``zarr`` directly, not iohub, and only what prediction needs: the
positions ``row/col/fov`` in iohub's iteration order (sorted group names at
each level, which is the order VisCy's rows come in), each position's array
``0`` shaped (T, C, Z, Y, X), its channel names from the omero metadata and
its ``normalization`` attributes (written there by ``viscy preprocess``).

Opening is a setup cost paid per FOV before the first batch, and zarr-python's
generic path costs a few milliseconds per node (its async machinery). Plain
local zarr v2 plates (iohub's layout, no consolidated metadata) are therefore
listed and opened by reading their ``.zgroup``/``.zattrs``/``.zarray`` JSON
directly, which gives the same names, shapes, dtypes and attributes (tested
against zarr); anything else, and anything unexpected, goes through zarr.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr
import zarr.errors

from repro_golden.errors import DataError

IMAGE_ARRAY = "0"


@dataclass(frozen=True)
class FieldOfView:
    """One position of the plate: ``name`` is ``row/col/fov`` without a leading slash."""

    name: str
    path: Path
    shape: tuple[int, int, int, int, int]
    dtype: np.dtype[Any]
    channel_names: tuple[str, ...]
    normalization: Mapping[str, Any] | None = field(compare=False)

    @property
    def well(self) -> str:
        """``row/col`` of the well holding this FOV."""
        return self.name.rsplit("/", 1)[0]


def _ome_attrs(attrs: Mapping[str, Any]) -> Mapping[str, Any]:
    """OME metadata: under ``ome`` in NGFF 0.5, at the top level in 0.4."""
    ome = attrs.get("ome")
    return ome if isinstance(ome, Mapping) else attrs


def _sorted_groups(group: zarr.Group) -> list[str]:
    return sorted(name for name, _ in group.groups())


def _channel_names(attrs: Mapping[str, Any], path: Path) -> tuple[str, ...]:
    omero = _ome_attrs(attrs).get("omero")
    if not isinstance(omero, Mapping) or not isinstance(omero.get("channels"), list):
        raise DataError(
            "no omero channel metadata; expected omero.channels[].label naming the channels",
            path=path,
            key="omero.channels",
        )
    names = []
    for i, channel in enumerate(omero["channels"]):
        label = channel.get("label") if isinstance(channel, Mapping) else None
        if not isinstance(label, str):
            raise DataError(
                f"channel {i} has no string label", path=path, key=f"omero.channels[{i}].label"
            )
        names.append(label)
    return tuple(names)


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None


def _is_v2_group(path: Path) -> bool:
    meta = _json(path / ".zgroup")
    return isinstance(meta, Mapping) and meta.get("zarr_format") == 2


def _v2_position(path: Path) -> tuple[Mapping[str, Any], tuple[int, ...], np.dtype[Any]] | None:
    """(attributes, shape, dtype) of a plain zarr v2 position, read from its JSON; else None."""
    if not _is_v2_group(path):
        return None
    meta = _json(path / IMAGE_ARRAY / ".zarray")
    attrs = _json(path / ".zattrs") if (path / ".zattrs").exists() else {}
    if (
        not isinstance(meta, Mapping)
        or meta.get("zarr_format") != 2
        or not isinstance(attrs, Mapping)
    ):
        return None
    try:
        shape = tuple(int(s) for s in meta["shape"])
        dtype = np.dtype(meta["dtype"])
    except (KeyError, TypeError, ValueError):
        return None
    if dtype.fields is not None:
        return None
    return attrs, shape, dtype


def _v2_sorted_groups(path: Path) -> list[str]:
    with os.scandir(path) as entries:
        return sorted(e.name for e in entries if e.is_dir() and _is_v2_group(Path(e.path)))


def open_fov(plate_path: Path, name: str) -> FieldOfView:
    """Open one position ``row/col/fov`` of the plate at ``plate_path``."""
    path = plate_path / name
    direct = _v2_position(path)
    if direct is not None:
        return _fov(name, path, *direct)
    try:
        group = zarr.open_group(path, mode="r")
        image = zarr.open_array(path / IMAGE_ARRAY, mode="r")
    except (FileNotFoundError, zarr.errors.NodeTypeValidationError, ValueError) as error:
        raise DataError(
            f"cannot open position array {IMAGE_ARRAY!r}: {error}", path=path, key=IMAGE_ARRAY
        ) from error
    return _fov(name, path, group.attrs.asdict(), tuple(image.shape), np.dtype(image.dtype))


def _fov(
    name: str, path: Path, attrs: Mapping[str, Any], shape: tuple[int, ...], dtype: np.dtype[Any]
) -> FieldOfView:
    """Check a position's array and channel metadata; the :class:`FieldOfView`."""
    if len(shape) != 5:
        raise DataError(
            f"expected a 5-D (T, C, Z, Y, X) array, found shape {shape}",
            path=path / IMAGE_ARRAY,
            key="shape",
        )
    channel_names = _channel_names(attrs, path)
    if len(channel_names) != shape[1]:
        raise DataError(
            f"omero lists {len(channel_names)} channels but the array has C={shape[1]}",
            path=path,
            key="omero.channels",
        )
    normalization = attrs.get("normalization", _ome_attrs(attrs).get("normalization"))
    t, c, z, y, x = (int(s) for s in shape)
    return FieldOfView(
        name=name,
        path=path,
        shape=(t, c, z, y, x),
        dtype=dtype,
        channel_names=channel_names,
        normalization=normalization if isinstance(normalization, Mapping) else None,
    )


def list_positions(plate_path: Path) -> list[str]:
    """``row/col/fov`` names of every position, in iohub's (sorted) iteration order."""
    if _is_v2_group(plate_path) and not (plate_path / ".zmetadata").exists():
        return [
            f"{row}/{col}/{fov}"
            for row in _v2_sorted_groups(plate_path)
            for col in _v2_sorted_groups(plate_path / row)
            for fov in _v2_sorted_groups(plate_path / row / col)
        ]
    try:
        plate = zarr.open_group(plate_path, mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError) as error:
        raise DataError(
            f"not a zarr group (expected an HCS OME-Zarr plate): {error}", path=plate_path
        ) from error
    names: list[str] = []
    for row in _sorted_groups(plate):
        row_group = plate[row]
        assert isinstance(row_group, zarr.Group)
        for col in _sorted_groups(row_group):
            well = row_group[col]
            assert isinstance(well, zarr.Group)
            names.extend(f"{row}/{col}/{fov}" for fov in _sorted_groups(well))
    return names


def open_plate(
    plate_path: Path,
    *,
    include_wells: tuple[str, ...] | None = None,
    exclude_fov_names: tuple[str, ...] | None = None,
) -> list[FieldOfView]:
    """Open the selected positions of a plate, in VisCy's order.

    A well is kept when ``include_wells`` is ``None`` or names it (``row/col``);
    a FOV is then dropped when ``exclude_fov_names`` names it (``row/col/fov``).
    Raises :class:`DataError` when no position is left.
    """
    selected = []
    for name in list_positions(plate_path):
        well = name.rsplit("/", 1)[0]
        if include_wells is not None and well not in include_wells:
            continue
        if exclude_fov_names is not None and name in exclude_fov_names:
            continue
        selected.append(open_fov(plate_path, name))
    if not selected:
        selection = ""
        if include_wells is not None or exclude_fov_names:
            selection = f" (include_wells={include_wells}, exclude_fov_names={exclude_fov_names})"
        raise DataError(
            f"no positions to read{selection}; expected an HCS OME-Zarr plate with at least "
            "one row/col/fov position",
            path=plate_path,
        )
    return selected


def channel_indices(fovs: list[FieldOfView], channels: tuple[str, ...]) -> tuple[int, ...]:
    """Indices of ``channels`` by name (VisCy takes them from the first position).

    Every other position must list the same channel names, or the indices
    would silently pick other channels there.
    """
    first = fovs[0]
    missing = [c for c in channels if c not in first.channel_names]
    if missing:
        raise DataError(
            f"unknown channel(s) {missing}; expected names from {list(first.channel_names)}",
            path=first.path,
            key="omero.channels",
        )
    indices = tuple(first.channel_names.index(c) for c in channels)
    for fov in fovs[1:]:
        if tuple(fov.channel_names[i] if i < len(fov.channel_names) else None for i in indices) != (
            channels
        ):
            raise DataError(
                f"channels {list(fov.channel_names)} differ from the first position's "
                f"{list(first.channel_names)}; expected the same channel order in every FOV",
                path=fov.path,
                key="omero.channels",
            )
    return indices
