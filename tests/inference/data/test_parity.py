"""Batches equal VisCy 0.4.1's predict batches, bit for bit.

Two references for every scenario of :mod:`data_scenarios`:

* VisCy itself: when ``REPRO_GOLDEN_VISCY_PYTHON`` names a Python with viscy
  0.4.1, its ``TripletDataModule`` runs in predict mode in a subprocess (one
  for all scenarios) and its batches after ``on_after_batch_transfer`` are
  compared with ours: anchors bitwise, batch sizes, index columns;
* a plain per-cell oracle written here from the documented rules (iohub read,
  border filter, slice, normalize, crop), which runs everywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from data_scenarios import SCENARIOS, Scenario
from synthetic_plates import PlateSpec, data_mapping, write_plate

from repro_golden.config.data import DataConfig
from repro_golden.inference.data.datamodule import PlateDataModule

VISCY_PYTHON = os.environ.get("REPRO_GOLDEN_VISCY_PYTHON") or None
REFERENCE_SCRIPT = Path(__file__).with_name("viscy_triplet_reference.py")


def _written(root: Path, scenario: Scenario) -> dict[str, Any]:
    directory = root / scenario.name
    directory.mkdir()
    plate, tracks = write_plate(
        directory, PlateSpec(**scenario.plate, border_fovs=scenario.border_fovs)
    )
    return data_mapping(plate, tracks, **scenario.data)


@pytest.fixture(scope="module")
def scenario_mappings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    root = tmp_path_factory.mktemp("scenarios")
    return {s.name: _written(root, s) for s in SCENARIOS}


@pytest.fixture(scope="module")
def viscy_batches(
    scenario_mappings: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    if not VISCY_PYTHON:
        pytest.skip("REPRO_GOLDEN_VISCY_PYTHON is not set (a Python with viscy==0.4.1 installed)")
    root = tmp_path_factory.mktemp("viscy")
    jobs = [
        {"config": mapping, "out": str(root / f"{name}.npz")}
        for name, mapping in scenario_mappings.items()
    ]
    (root / "jobs.json").write_text(json.dumps(jobs))
    result = subprocess.run(
        [VISCY_PYTHON, str(REFERENCE_SCRIPT), str(root / "jobs.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return {name: root / f"{name}.npz" for name in scenario_mappings}


def _ours(mapping: dict[str, Any]) -> tuple[np.ndarray, list[int], dict[str, np.ndarray]]:
    config = DataConfig.from_mapping(mapping, base_dir=Path.cwd(), source=Path("case.yaml"))
    module = PlateDataModule(config)
    module.setup("predict")
    batches = list(module.predict_dataloader())
    module.teardown("predict")
    rows = np.concatenate([b["row"].numpy() for b in batches])
    assert np.array_equal(rows, np.arange(module.num_rows))
    index = {"fov_name": np.array([n for b in batches for n in b["fov_name"]])}
    for column in module.index_columns[1:]:
        index[column] = np.concatenate([b["index"][column].numpy() for b in batches])
        assert index[column].dtype == np.int64
    anchors = torch.cat([b["anchor"] for b in batches]).numpy()
    assert anchors.dtype == np.float32
    return anchors, [len(b["row"]) for b in batches], index


def _assert_bitwise(ours: np.ndarray, reference: np.ndarray) -> None:
    assert ours.shape == reference.shape
    assert ours.dtype == reference.dtype == np.float32
    differ = ours.view(np.uint32) != reference.view(np.uint32)
    assert not differ.any(), f"{int(differ.sum())} of {differ.size} values differ"


@pytest.mark.parametrize("scenario", [s.name for s in SCENARIOS])
def test_batches_equal_viscy(
    scenario: str, scenario_mappings: dict[str, dict[str, Any]], viscy_batches: dict[str, Path]
) -> None:
    reference = np.load(viscy_batches[scenario])
    anchors, sizes, index = _ours(scenario_mappings[scenario])
    assert sizes == reference["batch_sizes"].tolist()
    _assert_bitwise(anchors, reference["anchor"])
    columns = [k.removeprefix("index_") for k in reference.files if k.startswith("index_")]
    assert sorted(columns) == sorted(index)
    for column, values in index.items():
        assert values.tolist() == reference[f"index_{column}"].tolist(), column


def _oracle(mapping: dict[str, Any]) -> tuple[np.ndarray, list[int], dict[str, np.ndarray]]:
    """VisCy's predict semantics, one cell at a time, straight from the plate via iohub."""
    from iohub.ngff import open_ome_zarr

    plate = open_ome_zarr(mapping["data_path"], mode="r")
    hy, hx = (s // 2 for s in mapping["initial_yx_patch_size"])
    z0, z1 = mapping["z_range"]
    channels = mapping["source_channel"]
    wells, excluded = mapping.get("include_wells"), mapping.get("exclude_fov_names") or []
    cells = []
    for well_name, well in plate.wells():
        if wells is not None and well_name not in wells:
            continue
        for _, fov in well.positions():
            name = fov.zgroup.name.strip("/")
            if name in excluded:
                continue
            tracks = pd.read_csv(next((Path(mapping["tracks_path"]) / name).glob("*.csv")))
            image = fov["0"]
            height, width = image.shape[-2:]
            for _, cell in tracks.iterrows():
                if hy < cell.y < height - hy and hx < cell.x < width - hx:
                    cells.append((name, fov, cell))
    if mapping.get("predict_cells"):
        pairs = zip(mapping["include_fov_names"], mapping["include_track_ids"], strict=False)
        cells = [c for f, t in pairs for c in cells if c[0] == f and c[2].track_id == t]
    depth = mapping.get("z_window_size") or z1 - z0
    fy, fx = mapping["final_yx_patch_size"]
    crop = [
        slice(max(n // 2 - r // 2, 0), max(n // 2 - r // 2, 0) + r)
        for n, r in ((z1 - z0, depth), (2 * hy, fy), (2 * hx, fx))
    ]
    patches = []
    for _, fov, cell in cells:
        stack = []
        for channel in channels:
            c = fov.channel_names.index(channel)
            raw = fov["0"][cell.t, c, z0:z1, cell.y - hy : cell.y + hy, cell.x - hx : cell.x + hx]
            patch = torch.from_numpy(raw.astype(np.float32))
            for spec in mapping["normalizations"]:
                if channel in spec["keys"]:
                    stats = fov.zattrs["normalization"][channel][spec["level"]]
                    sub = torch.tensor(stats[spec.get("subtrahend", "mean")], dtype=torch.float32)
                    div = torch.tensor(stats[spec.get("divisor", "std")], dtype=torch.float32)
                    patch = (patch - sub) / (div + 1e-8)
            stack.append(patch[crop[0], crop[1], crop[2]].numpy())
        patches.append(np.stack(stack))
    size = mapping["batch_size"]
    sizes = [min(size, len(cells) - i) for i in range(0, len(cells), size)]
    index = {"fov_name": np.array([c[0] for c in cells])}
    for column in ("track_id", "t", "id", "parent_track_id", "parent_id", "z", "y", "x"):
        if cells and column in cells[0][2].index:
            index[column] = np.array([int(c[2][column]) for c in cells], dtype=np.int64)
    return np.stack(patches), sizes, index


@pytest.mark.parametrize("scenario", [s.name for s in SCENARIOS])
def test_batches_equal_per_cell_oracle(
    scenario: str, scenario_mappings: dict[str, dict[str, Any]]
) -> None:
    expected, expected_sizes, expected_index = _oracle(scenario_mappings[scenario])
    anchors, sizes, index = _ours(scenario_mappings[scenario])
    assert sizes == expected_sizes
    _assert_bitwise(anchors, expected)
    assert list(index) == list(expected_index)
    for column, values in index.items():
        assert values.tolist() == expected_index[column].tolist(), column
