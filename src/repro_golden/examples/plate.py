"""An HCS OME-Zarr plate written the way iohub 0.2/0.3 writes one, with plain ``zarr``.

Layout (OME-NGFF 0.4 on zarr format 2): the root group's ``.zattrs`` holds
``plate`` metadata (rows, columns, wells); each well group holds ``well``
metadata; each position group holds ``multiscales`` and ``omero`` (channel
names and display windows) and one array ``0`` of shape ``(T, C, Z, Y, X)``,
float32, chunked one ``(1, 1, 1, Y, X)`` frame per chunk, ``/``-separated
chunk keys, Blosc zstd level 1 with bit shuffle (iohub's default
compressor). Normalization records go to ``.zattrs["normalization"]``, as
``viscy preprocess`` leaves them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from repro_golden.examples.cases import ExampleCase

_NGFF_VERSION = "0.4"
_AXES = [
    {"name": "T", "type": "time", "unit": "second"},
    {"name": "C", "type": "channel"},
    {"name": "Z", "type": "space", "unit": "micrometer"},
    {"name": "Y", "type": "space", "unit": "micrometer"},
    {"name": "X", "type": "space", "unit": "micrometer"},
]
_U16_MAX = 65535.0


def _channel_display(name: str) -> dict[str, Any]:
    """iohub's ``omero`` channel entry: grey phase, magenta fluorescence."""
    if name == "Phase3D":
        color, window = "FFFFFF", {"start": -0.2, "end": 0.2, "min": -10.0, "max": 10.0}
    else:
        color, window = "FF00FF", {"start": 0.0, "end": _U16_MAX, "min": 0.0, "max": _U16_MAX}
    return {
        "active": True,
        "coefficient": 1.0,
        "color": color,
        "family": "linear",
        "inverted": False,
        "label": name,
        "window": window,
    }


def plate_attributes(case: ExampleCase) -> dict[str, Any]:
    """Root ``plate`` metadata: rows and columns in first-use order, one acquisition."""
    rows = list(dict.fromkeys(row for row, _ in case.wells))
    columns = list(dict.fromkeys(col for _, col in case.wells))
    return {
        "version": _NGFF_VERSION,
        "acquisitions": [{"id": 0}],
        "rows": [{"name": row} for row in rows],
        "columns": [{"name": col} for col in columns],
        "wells": [
            {"path": f"{row}/{col}", "rowIndex": rows.index(row), "columnIndex": columns.index(col)}
            for row, col in case.wells
        ],
    }


def position_attributes(case: ExampleCase, fov: str) -> dict[str, Any]:
    """A position's ``multiscales`` (one level, unit scale) and ``omero`` metadata."""
    return {
        "multiscales": [
            {
                "version": _NGFF_VERSION,
                "axes": _AXES,
                "datasets": [
                    {
                        "path": "0",
                        "coordinateTransformations": [{"type": "scale", "scale": [1.0] * 5}],
                    }
                ],
                "name": "0",
            }
        ],
        "omero": {
            "version": _NGFF_VERSION,
            "id": 0,
            "name": fov,
            "channels": [_channel_display(name) for name in case.channel_names],
            "rdefs": {"defaultT": 0, "defaultZ": 0, "model": "color", "projection": "normal"},
        },
    }


def write_plate(
    path: Path,
    case: ExampleCase,
    arrays: Mapping[str, np.ndarray],
    *,
    plate_normalization: Mapping[str, Any],
    position_normalization: Mapping[str, Mapping[str, Any]],
) -> None:
    """Write a new plate at ``path`` (which must not exist) from ``{row/col/fov: array}``."""
    import numcodecs
    import zarr

    compressor = numcodecs.Blosc(cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE)
    root = zarr.open_group(str(path), mode="w-", zarr_format=2)
    root.attrs.update({"plate": plate_attributes(case), "normalization": dict(plate_normalization)})
    for row, col in case.wells:
        well = root.require_group(row).require_group(col)
        well.attrs.update(
            {
                "well": {
                    "version": _NGFF_VERSION,
                    "images": [
                        {"acquisition": 0, "path": str(fov)} for fov in range(case.fovs_per_well)
                    ],
                }
            }
        )
    for name, array in arrays.items():
        row, col, fov = name.split("/")
        position = root.require_group(row).require_group(col).create_group(fov)
        position.attrs.update(
            {
                **position_attributes(case, fov),
                "normalization": dict(position_normalization[name]),
            }
        )
        image = position.create_array(
            name="0",
            shape=array.shape,
            chunks=(1, 1, 1, *array.shape[-2:]),
            dtype="float32",
            compressors=compressor,
            chunk_key_encoding={"name": "v2", "separator": "/"},
            fill_value=0.0,
        )
        image[...] = array
