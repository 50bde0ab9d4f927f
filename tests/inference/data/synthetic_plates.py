"""Tiny synthetic HCS plates and tracks, written with iohub as the lab writes them.

Imported by the data tests (``tests/inference/data`` is on ``sys.path`` under pytest's
default import mode).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATASET_STATISTICS = {"mean": 99.5, "std": 19.25, "median": 100.0, "iqr": 27.0}
TRACK_COLUMNS = ["track_id", "t", "id", "parent_track_id", "parent_id", "z", "y", "x"]


@dataclass
class PlateSpec:
    """What to write: FOV names, (T, C, Z, Y, X), channels, dtype, cells per frame."""

    fovs: Sequence[str] = ("A/1/0", "A/1/1", "B/2/0")
    shape: tuple[int, int, int, int, int] = (3, 2, 4, 48, 56)
    channels: Sequence[str] = ("Phase3D", "GFP")
    dtype: str = "float32"
    cells_per_frame: int = 6
    version: str = "0.4"
    seed: int = 0
    with_z: bool = True
    tracks: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    border_fovs: Sequence[str] = ()


def random_tracks(spec: PlateSpec, rng: np.random.Generator) -> pd.DataFrame:
    """Cells over all time points, ordered track by track, with a division and border cells."""
    t_count, _, z_count, height, width = spec.shape
    rows = []
    for track in range(spec.cells_per_frame):
        for t in range(t_count):
            rows.append(
                {
                    "track_id": track,
                    "t": t,
                    "id": track * 100 + t,
                    "parent_track_id": -1,
                    "parent_id": -1,
                    "z": int(rng.integers(0, z_count)),
                    "y": int(rng.integers(0, height)),
                    "x": int(rng.integers(0, width)),
                }
            )
    # a division: two daughters of the last track at the last time point
    parent = spec.cells_per_frame - 1
    for daughter in (spec.cells_per_frame, spec.cells_per_frame + 1):
        rows.append(
            {
                "track_id": daughter,
                "t": t_count - 1,
                "id": daughter * 100,
                "parent_track_id": parent,
                "parent_id": parent * 100 + t_count - 2,
                "z": 0,
                "y": height // 2,
                "x": width // 2,
            }
        )
    frame = pd.DataFrame(rows, columns=TRACK_COLUMNS)
    return frame if spec.with_z else frame.drop(columns=["z"])


def write_plate(root: Path, spec: PlateSpec) -> tuple[Path, Path]:
    """Write ``plate.zarr`` (with normalization metadata) and ``tracks/``; return both paths."""
    from iohub.ngff import open_ome_zarr

    rng = np.random.default_rng(spec.seed)
    plate_path, tracks_path = root / "plate.zarr", root / "tracks"
    with open_ome_zarr(
        plate_path,
        layout="hcs",
        mode="w-",
        channel_names=list(spec.channels),
        version=spec.version,  # type: ignore[arg-type]
    ) as plate:
        for name in spec.fovs:
            row, col, fov = name.split("/")
            position = plate.create_position(row, col, fov)
            if np.dtype(spec.dtype).kind == "f":
                data = rng.normal(100.0, 20.0, size=spec.shape).astype(spec.dtype)
            else:
                data = rng.integers(0, 4000, size=spec.shape).astype(spec.dtype)
            position.create_image("0", data)
            position.zattrs["normalization"] = {
                channel: {
                    "fov_statistics": {
                        "mean": float(data[:, c].mean()),
                        "std": float(data[:, c].std()),
                        "median": float(np.median(data[:, c])),
                        "iqr": float(rng.uniform(5, 50)),
                    },
                    "dataset_statistics": DATASET_STATISTICS,
                }
                for c, channel in enumerate(spec.channels)
            }
            tracks = spec.tracks.get(name)
            if tracks is None and name in spec.border_fovs:
                from data_scenarios import border_tracks

                tracks = border_tracks(spec.shape[3], spec.shape[4])
            if tracks is None:
                tracks = random_tracks(spec, rng)
            directory = tracks_path / name
            directory.mkdir(parents=True)
            tracks.to_csv(directory / "tracks.csv", index=False)
    return plate_path, tracks_path


def data_mapping(plate: Path, tracks: Path, **overrides: Any) -> dict[str, Any]:
    """A case-file ``data:`` mapping for a written plate."""
    mapping: dict[str, Any] = {
        "data_path": str(plate),
        "tracks_path": str(tracks),
        "source_channel": ["Phase3D"],
        "z_range": [0, 1],
        "initial_yx_patch_size": [16, 16],
        "final_yx_patch_size": [12, 12],
        "batch_size": 5,
        "num_workers": 1,
        "normalizations": [
            {"keys": ["Phase3D"], "level": "fov_statistics", "subtrahend": "mean", "divisor": "std"}
        ],
    }
    mapping.update(overrides)
    return mapping
