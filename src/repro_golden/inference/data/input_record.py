"""Record a prediction's inputs in the pipeline-neutral form of :mod:`repro_golden.core.inputs`.

Both pipelines call :func:`record_inputs` with the data settings of the run (the
builtin's case, or what the lab's LightningCLI config says), so the same run
records the same values whichever code predicted it. Torch-free: the
``lightning`` pipeline's parent process calls it without torch or pandas.

Cost: the pixels are hashed as a prediction reads them,
the selected channels and z range of every time point, one frame at a time
(xxh3-128 over the canonical little-endian bytes): one extra pass over the
image data the run reads anyway. On the example plate that is 4 FOVs of
4 x 320 x 320 float32, milliseconds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from repro_golden.config.data import DataConfig
from repro_golden.core.digest import array_header, file_digest, tagged
from repro_golden.core.inputs import InputsRecord, data_parameters
from repro_golden.core.jsonable import json_ready
from repro_golden.errors import DataError
from repro_golden.inference.data.plate import FieldOfView, open_plate
from repro_golden.inference.data.tracks import find_tracks_csv


def normalization_digest(normalization: Mapping[str, Any] | None) -> str:
    """Digest of a position's ``normalization`` attributes (``null`` when it has none), in the
    form the builtin's per-FOV ``inputs`` have always recorded, so old and new records agree."""
    text = json.dumps(normalization, sort_keys=True, default=str)
    return tagged(xxhash.xxh3_128_hexdigest(text.encode()))


def pixels_digest(fov: FieldOfView, channels: tuple[str, ...], z_range: tuple[int, int]) -> str:
    """Digest of the pixels a prediction reads from ``fov``: its channels and z range, all T.

    Streamed one time point at a time; the header names dtype and the selected shape.
    """
    import zarr

    indices = [fov.channel_names.index(c) for c in channels]
    array = zarr.open_array(str(fov.path / "0"), mode="r")
    z0, z1 = z_range
    shape = (fov.shape[0], len(indices), max(0, min(z1, fov.shape[2]) - z0), *fov.shape[3:])
    hasher = xxhash.xxh3_128()
    hasher.update(array_header(np.dtype(fov.dtype), shape))
    for t in range(fov.shape[0]):
        for c in indices:
            frame = np.asarray(array[t, c, z0:z1])
            hasher.update(np.ascontiguousarray(frame, dtype=frame.dtype.newbyteorder("<")).data)
    return tagged(hasher.hexdigest())


def _selected(data: DataConfig) -> list[FieldOfView]:
    fovs = open_plate(
        data.data_path,
        include_wells=data.include_wells,
        exclude_fov_names=data.exclude_fov_names,
    )
    if data.include_fov_names is not None:
        wanted = {name.strip("/") for name in data.include_fov_names}
        fovs = [fov for fov in fovs if fov.name in wanted]
    return fovs


def record_inputs(
    data: DataConfig, *, checkpoint: Path | None, precision: str | None, pixels: bool = True
) -> InputsRecord:
    """The inputs of a run with these data settings and checkpoint (see module).

    A FOV whose pixels cannot be read with these settings records ``None`` there:
    the pipeline itself reports that error.
    """
    parameters = data_parameters(json_ready(dataclasses.asdict(data)))
    parameters["batch_size"] = data.batch_size
    parameters["precision"] = precision
    fovs: dict[str, dict[str, str | None]] = {}
    for fov in _selected(data):
        try:
            csv: Path | None = find_tracks_csv(data.tracks_path, fov.name)
        except DataError:
            csv = None  # the pipeline reports a missing or ambiguous tracks file itself
        digest = None
        if pixels:
            try:
                digest = pixels_digest(fov, tuple(data.source_channel), data.z_range)
            except (ValueError, DataError, KeyError, OSError):
                digest = None
        fovs[fov.name] = {
            "pixels": digest,
            "normalization": normalization_digest(fov.normalization),
            "tracks": None if csv is None else file_digest(csv),
        }
    checkpoint_digest = (
        file_digest(checkpoint) if checkpoint is not None and checkpoint.is_file() else None
    )
    return InputsRecord(checkpoint=checkpoint_digest, parameters=parameters, fovs=fovs)


def inputs_provenance(
    data: DataConfig, *, checkpoint: Path | None, precision: str | None
) -> dict[str, Any] | None:
    """:func:`record_inputs` as the provenance entry, or ``None`` when the plate cannot be read
    (the pipeline reports that itself, with the file and key)."""
    try:
        record = record_inputs(data, checkpoint=checkpoint, precision=precision)
    except (DataError, OSError, ValueError):
        return None
    return record.to_dict()
