"""Bad plates and tracks fail at setup with a DataError naming file, key and expectation."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from synthetic_plates import data_mapping

from repro_golden.config.data import DataConfig
from repro_golden.errors import DataError
from repro_golden.inference.data.datamodule import PlateDataModule

MakePlate = Callable[..., tuple[Path, Path]]


def setup_error(plate: Path, tracks: Path, **overrides: Any) -> DataError:
    mapping = data_mapping(plate, tracks, **overrides)
    config = DataConfig.from_mapping(mapping, base_dir=plate.parent, source=plate.parent / "c.yaml")
    with pytest.raises(DataError) as caught:
        PlateDataModule(config).setup("predict")
    return caught.value


def test_unknown_channel(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    error = setup_error(
        plate,
        tracks,
        source_channel=["Phase3D", "DAPI"],
        normalizations=[],
    )
    assert error.path == plate / "A/1/0"
    assert error.key == "omero.channels"
    assert "DAPI" in str(error)
    assert "'Phase3D', 'GFP'" in str(error)


def test_z_range_beyond_the_stack(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()  # Z = 4
    error = setup_error(plate, tracks, z_range=[2, 5])
    assert error.path == plate / "A/1/0/0"
    assert error.key == "z_range"
    assert "Z=4" in str(error)
    assert "stop <= 4" in str(error)


def test_missing_tracks_csv(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    (tracks / "A/1/1/tracks.csv").unlink()
    error = setup_error(plate, tracks)
    assert error.path == tracks / "A/1/1"
    assert "expected one *.csv" in str(error)


def test_missing_tracks_directory(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    shutil.rmtree(tracks / "B")
    error = setup_error(plate, tracks)
    assert error.path == tracks / "B/2/0"
    assert "B/2/0/<name>.csv" in str(error)


def test_two_tracks_csvs_are_ambiguous(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    shutil.copy(tracks / "A/1/0/tracks.csv", tracks / "A/1/0/other.csv")
    error = setup_error(plate, tracks)
    assert error.path == tracks / "A/1/0"
    assert "expected exactly one" in str(error)


def rewrite_csv(path: Path, edit: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    edit(pd.read_csv(path)).to_csv(path, index=False)


def test_missing_column(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    csv = tracks / "A/1/1/tracks.csv"
    rewrite_csv(csv, lambda f: f.drop(columns=["parent_id"]))
    error = setup_error(plate, tracks)
    assert error.path == csv
    assert error.key == "parent_id"
    assert "missing column(s) ['parent_id']" in str(error)


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [("y", 20.5, "20.5"), ("t", "later", "'later'"), ("track_id", None, "nan")],
)
def test_non_integer_tracks(make_plate: MakePlate, column: str, value: object, shown: str) -> None:
    plate, tracks = make_plate()
    csv = tracks / "A/1/0/tracks.csv"

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[3, column] = value
        return frame

    rewrite_csv(csv, edit)
    error = setup_error(plate, tracks)
    assert error.path == csv
    assert error.key == column
    assert f"expected integers in column '{column}'" in str(error)
    assert shown in str(error)
    assert "data row 4" in str(error)


def test_integral_floats_are_integers(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    rewrite_csv(tracks / "A/1/0/tracks.csv", lambda f: f.astype({"y": float}))
    mapping = data_mapping(plate, tracks)
    config = DataConfig.from_mapping(mapping, base_dir=plate.parent, source=plate.parent / "c")
    module = PlateDataModule(config)
    module.setup("predict")
    assert module.num_rows > 0


def test_time_point_beyond_the_image(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()  # T = 3
    csv = tracks / "A/1/1/tracks.csv"

    def edit(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[2, "t"] = 3
        return frame

    rewrite_csv(csv, edit)
    error = setup_error(plate, tracks)
    assert error.path == csv
    assert error.key == "t"
    assert "expected 0 <= t < 3" in str(error)


def test_z_column_in_some_fovs_only(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    csv = tracks / "B/2/0/tracks.csv"
    rewrite_csv(csv, lambda f: f.drop(columns=["z"]))
    error = setup_error(plate, tracks)
    assert error.path == csv
    assert error.key == "z"


def test_empty_plate(tmp_path: Path) -> None:
    from iohub.ngff import open_ome_zarr

    with open_ome_zarr(tmp_path / "plate.zarr", layout="hcs", mode="w-", channel_names=["Phase3D"]):
        pass
    (tmp_path / "tracks").mkdir()
    error = setup_error(tmp_path / "plate.zarr", tmp_path / "tracks")
    assert error.path == tmp_path / "plate.zarr"
    assert "no positions" in str(error)


def test_not_a_zarr_group(tmp_path: Path) -> None:
    (tmp_path / "plate.zarr").mkdir()
    error = setup_error(tmp_path / "plate.zarr", tmp_path)
    assert error.path == tmp_path / "plate.zarr"
    assert "expected an HCS OME-Zarr plate" in str(error)


def test_plate_without_array_zero(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    shutil.rmtree(plate / "A/1/1/0")
    error = setup_error(plate, tracks)
    assert error.path == plate / "A/1/1"
    assert error.key == "0"


def test_selection_that_leaves_no_fov(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    error = setup_error(plate, tracks, include_wells=["C/9"])
    assert "no positions" in str(error)
    assert "C/9" in str(error)


def test_every_cell_on_the_border(make_plate: MakePlate) -> None:
    plate, tracks = make_plate(shape=(1, 1, 1, 16, 16), channels=("Phase3D",))
    error = setup_error(plate, tracks)
    assert error.path == tracks
    assert "no cells to predict" in str(error)


def test_missing_normalization_statistic(make_plate: MakePlate) -> None:
    plate, tracks = make_plate()
    error = setup_error(
        plate,
        tracks,
        normalizations=[{"keys": ["Phase3D"], "level": "fov_statistics", "divisor": "mad"}],
    )
    assert error.path == plate / "A/1/0"
    assert error.key == "normalization.Phase3D.fov_statistics.mad"
