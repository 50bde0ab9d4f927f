"""Plate scenarios shared by the parity test (VisCy) and the oracle test (plain numpy)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

HALF = 8  # initial patch 16 -> half 8


def border_tracks(height: int, width: int, with_divisions: bool = True) -> pd.DataFrame:
    """Cells exactly at, and one pixel inside, every border limit, at two time points."""
    ys = (HALF, HALF + 1, height // 2, height - HALF - 1, height - HALF)
    xs = (HALF, HALF + 1, width // 2, width - HALF - 1, width - HALF)
    rows = []
    for track, (y, x) in enumerate(itertools.product(ys, xs)):
        for t in (1, 0):  # not sorted by t, as ultrack tables need not be
            rows.append((track, t, track * 10 + t, -1, -1, 0, y, x))
    if with_divisions:
        rows.append((90, 1, 901, 12, 121, 0, height // 2 + 1, width // 2))
        rows.append((91, 1, 911, 12, 121, 0, height // 2 - 1, width // 2))
    return pd.DataFrame(
        rows, columns=["track_id", "t", "id", "parent_track_id", "parent_id", "z", "y", "x"]
    )


@dataclass(frozen=True)
class Scenario:
    """A plate (PlateSpec fields), the ``data:`` overrides, and per-FOV tracks builders."""

    name: str
    plate: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    border_fovs: tuple[str, ...] = ()


SCENARIOS = (
    Scenario("one_channel_fov_stats"),
    Scenario(
        "border_limits_and_divisions",
        plate={"shape": (2, 1, 1, 40, 50), "channels": ("Phase3D",)},
        border_fovs=("A/1/0", "A/1/1", "B/2/0"),
    ),
    Scenario(
        "two_channels_zstack_uint16",
        plate={
            "dtype": "uint16",
            "shape": (3, 3, 5, 48, 56),
            "channels": ("Phase3D", "GFP", "RFP"),
        },
        data={
            "source_channel": ["Phase3D", "RFP"],
            "z_range": [1, 4],
            "normalizations": [
                {"keys": ["Phase3D"], "level": "fov_statistics"},
                {
                    "keys": ["RFP"],
                    "level": "dataset_statistics",
                    "subtrahend": "median",
                    "divisor": "iqr",
                },
            ],
        },
    ),
    Scenario(
        "channels_reordered_z_window_crop",
        plate={"shape": (2, 2, 5, 48, 56)},
        data={
            "source_channel": ["GFP", "Phase3D"],
            "z_range": [0, 5],
            "z_window_size": 3,
            "normalizations": [{"keys": ["GFP", "Phase3D"], "level": "fov_statistics"}],
        },
    ),
    Scenario(
        "odd_patch_final_larger",
        data={"initial_yx_patch_size": [15, 17], "final_yx_patch_size": [20, 9], "batch_size": 3},
    ),
    Scenario(
        "include_wells_exclude_fovs_no_z",
        plate={"fovs": ("A/1/0", "A/1/1", "A/2/0", "B/1/0", "B/10/0", "B/2/0"), "with_z": False},
        data={"include_wells": ["A/1", "B/10", "B/2"], "exclude_fov_names": ["A/1/1"]},
    ),
    Scenario(
        "predict_cells",
        data={
            "predict_cells": True,
            "include_fov_names": ["B/2/0", "A/1/0", "B/2/0"],
            "include_track_ids": [3, 6, 0],
            "batch_size": 4,
        },
    ),
    Scenario(
        "small_cache_many_reads",
        plate={"cells_per_frame": 12},
        data={"cache_bytes": 1, "prefetch_batches": 1, "batch_size": 7, "num_workers": 2},
    ),
    Scenario(
        "four_decode_threads_small_cache",
        plate={"cells_per_frame": 12},
        data={"cache_bytes": 1, "prefetch_batches": 2, "batch_size": 5, "read_threads": 4},
    ),
    Scenario("ngff_0_5_zarr_v3", plate={"version": "0.5"}),
)
