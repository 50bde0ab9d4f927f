"""Row table rules stated as explicit expectations (VisCy 0.4.1 predict mode)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from data_scenarios import HALF, border_tracks
from synthetic_plates import data_mapping

from repro_golden.config.data import DataConfig
from repro_golden.inference.data.index import RowIndex, build_index
from repro_golden.inference.data.plate import open_plate

MakePlate = Callable[..., tuple[Path, Path]]


def index_for(plate: Path, tracks: Path, **overrides: Any) -> RowIndex:
    config = DataConfig.from_mapping(
        data_mapping(plate, tracks, **overrides), base_dir=plate.parent, source=plate / "c.yaml"
    )
    fovs = open_plate(
        plate, include_wells=config.include_wells, exclude_fov_names=config.exclude_fov_names
    )
    return build_index(fovs, config)


def test_centres_must_lie_strictly_inside_half_a_patch_from_every_border(
    make_plate: MakePlate,
) -> None:
    height, width = 40, 50
    plate, tracks = make_plate(
        fovs=("A/1/0",),
        shape=(2, 1, 1, height, width),
        channels=("Phase3D",),
        border_fovs=("A/1/0",),
    )
    index = index_for(plate, tracks)
    table = border_tracks(height, width)
    inside_y = {HALF + 1, height // 2, height - HALF - 1}
    inside_x = {HALF + 1, width // 2, width - HALF - 1}
    expected = table[
        table.y.isin(inside_y | {height // 2 + 1, height // 2 - 1}) & table.x.isin(inside_x)
    ]
    assert index.values["y"].tolist() == expected.y.tolist()
    assert index.values["x"].tolist() == expected.x.tolist()
    assert index.values["t"].tolist() == expected.t.tolist()  # file order, not sorted by t
    assert HALF not in index.values["y"]
    assert height - HALF not in index.values["y"]
    daughters = index.values["parent_track_id"] == 12
    assert index.values["track_id"][daughters].tolist() == [90, 91]


def test_fovs_come_in_sorted_group_name_order_after_well_and_fov_selection(
    make_plate: MakePlate,
) -> None:
    plate, tracks = make_plate(fovs=("B/2/0", "A/10/0", "A/2/1", "A/2/0", "B/10/0"))
    index = index_for(
        plate, tracks, include_wells=["A/10", "A/2", "B/10"], exclude_fov_names=["A/2/1"]
    )
    order = list(dict.fromkeys(index.fov_names(np.arange(len(index)))))
    assert order == ["A/10/0", "A/2/0", "B/10/0"]


def test_predict_cells_follows_the_pairs_in_order(make_plate: MakePlate) -> None:
    tracks_table = pd.DataFrame(
        {
            "track_id": [1, 2, 1, 2],
            "t": [0, 0, 1, 1],
            "id": [10, 20, 11, 21],
            "parent_track_id": -1,
            "parent_id": -1,
            "y": 24,
            "x": 28,
        }
    )
    plate, tracks = make_plate(
        fovs=("A/1/0", "A/1/1"), tracks={"A/1/0": tracks_table, "A/1/1": tracks_table}
    )
    index = index_for(
        plate,
        tracks,
        predict_cells=True,
        include_fov_names=["A/1/1", "A/1/0", "A/1/1"],
        include_track_ids=[2, 1, 9],
    )
    assert index.fov_names(np.arange(len(index))) == ["A/1/1", "A/1/1", "A/1/0", "A/1/0"]
    assert index.values["id"].tolist() == [20, 21, 10, 11]
    assert "z" not in index.values


def test_include_fov_names_without_predict_cells_is_ignored_as_in_viscy(
    make_plate: MakePlate,
) -> None:
    plate, tracks = make_plate()
    everything = index_for(plate, tracks)
    ignored = index_for(plate, tracks, include_fov_names=["A/1/0"], include_track_ids=[0])
    assert len(ignored) == len(everything)
