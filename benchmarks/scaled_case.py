"""A case over a synthetic bench plate with the example case's model and checkpoint.

The example case (generated and hash-verified by :mod:`repro_golden.examples`)
brings a real ``convnext_tiny`` ContrastiveEncoder checkpoint, patch 160, one
``Phase3D`` channel; :func:`bench_input.build_plate` brings a plate of any
size with the same channel and statistics layout. Put together they give an
end-to-end predict at any scale (used by ``bench_memory.py`` and
``scripts/gpu_check.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def plate_arguments(**overrides: Any) -> argparse.Namespace:
    """``bench_input.build_plate``'s arguments, with its defaults."""
    values: dict[str, Any] = {
        "fovs": 1,
        "timepoints": 4,
        "cells": 150,
        "size": 1024,
        "patch": 160,
        "batch_size": 64,
        "workers": 0,
        "seed": 0,
    }
    values.update(overrides)
    return argparse.Namespace(**values)


def write_synthetic_plate(
    root: Path, *, fovs: int, timepoints: int, cells: int, size: int, seed: int = 0
) -> tuple[Path, Path]:
    """A plate of ``cells`` cells in all (spread over ``fovs`` x ``timepoints`` frames).

    Written with plain zarr as iohub writes (the example case's plate writer, so
    no iohub is needed: the GPU machine has none): 2048 x 2048-like float32
    frames, one blosc-zstd chunk per frame, ``Phase3D`` with fov statistics;
    tracks in ultrack's track-by-track order, every cell inside the border
    filter, so the row count is exactly ``cells``. Returns (plate, tracks).
    """
    import dataclasses

    import numpy as np
    import pandas as pd

    from repro_golden.examples.cases import EXAMPLE
    from repro_golden.examples.plate import write_plate

    wells = tuple(("A", str(i + 1)) for i in range(fovs))
    spec = dataclasses.replace(
        EXAMPLE,
        wells=wells,
        fovs_per_well=1,
        shape=(timepoints, 1, size, size),
        channel_names=("Phase3D",),
    )
    rng = np.random.default_rng(seed)
    half = 80
    per_fov = [cells // fovs + (1 if i < cells % fovs else 0) for i in range(fovs)]
    arrays, norms = {}, {}
    tracks_root = root / "tracks"
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for f, (row, col) in enumerate(wells):
        name = f"{row}/{col}/0"
        background = 100 + 20 * np.sin(6 * yy + f) * np.cos(5 * xx - f)
        data = np.empty((timepoints, len(spec.channel_names), 1, size, size), dtype=np.float32)
        for t in range(timepoints):
            for c in range(len(spec.channel_names)):
                data[t, c, 0] = background + 5 * rng.standard_normal((size, size), np.float32)
        arrays[name] = data
        stats = {"fov_statistics": {"mean": 100.0, "std": 15.0}}
        norms[name] = {channel: stats for channel in spec.channel_names}
        tracks = -(-per_fov[f] // timepoints)
        start = rng.integers(half + 4, size - half - 4, size=(tracks, 2))
        drift = rng.integers(-3, 4, size=(tracks, timepoints, 2))
        rows = [
            (k, t, k * 1000 + t, -1, -1, 0, *(int(v) for v in start[k] + drift[k, t]))
            for k in range(tracks)
            for t in range(timepoints)
        ][: per_fov[f]]
        directory = tracks_root / row / col / "0"
        directory.mkdir(parents=True)
        pd.DataFrame(
            rows, columns=["track_id", "t", "id", "parent_track_id", "parent_id", "z", "y", "x"]
        ).to_csv(directory / "tracks.csv", index=False)
    plate = root / "plate.zarr"
    write_plate(plate, spec, arrays, plate_normalization={}, position_normalization=norms)
    return plate, tracks_root


def example_case(directory: Path) -> Path:
    """Generate (once) the example case into ``directory``; its case file."""
    from repro_golden.examples import generate_example

    case_file = directory / "case.yaml"
    if not case_file.exists():
        case_file = generate_example(directory)
    return case_file


def scaled_case(
    example: Path,
    plate: Path,
    tracks: Path,
    target: Path,
    *,
    data: dict[str, Any] | None = None,
    trainer: dict[str, Any] | None = None,
    numerics: dict[str, Any] | None = None,
) -> Path:
    """Write ``target``: the example case file read from ``example``, over ``plate``/``tracks``.

    ``data``, ``trainer`` and ``numerics`` update those sections; paths are absolute.
    """
    import yaml

    from repro_golden.config.case import read_yaml_mapping

    mapping = json.loads(json.dumps(read_yaml_mapping(example, what="case file")))
    mapping["name"] = target.stem
    mapping["checkpoint"] = str((example.parent / mapping["checkpoint"]).resolve())
    mapping["output"] = str(target.with_suffix(".zarr"))
    mapping["data"].update(data_path=str(plate), tracks_path=str(tracks), **(data or {}))
    mapping["trainer"].update(trainer or {})
    mapping["numerics"].update(numerics or {})
    target.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return target
