"""The example plate: lab format (zarr and iohub open it), tracks match pixels, VisCy statistics."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import zarr

from repro_golden.examples.cases import EXAMPLE, ExampleCase
from repro_golden.examples.cells import NO_PARENT, TRACK_COLUMNS
from repro_golden.examples.inputs import PLATE, TRACKS, TRACKS_FILE, read_tracks

#: A Python with viscy==0.4.1 (``nox -s tests`` builds .nox/viscy and sets this).
VISCY_PYTHON = os.environ.get("REPRO_GOLDEN_VISCY_PYTHON") or None


def _valid_rows(case: ExampleCase, table: np.ndarray) -> np.ndarray:
    """VisCy's border filter: centres strictly more than half a patch from every edge."""
    height, width = case.shape[2:]
    half_y, half_x = case.patch_size[0] // 2, case.patch_size[1] // 2
    y, x = table[:, 6], table[:, 7]
    return (y > half_y) & (y < height - half_y) & (x > half_x) & (x < width - half_x)


def test_plate_opens_with_plain_zarr(example_dir: Path) -> None:
    root = zarr.open_group(str(example_dir / PLATE), mode="r", zarr_format=2)
    wells = [well["path"] for well in root.attrs["plate"]["wells"]]  # type: ignore[index]
    assert wells == ["A/1", "B/2"]
    for fov in EXAMPLE.fov_names:
        array = zarr.open_array(str(example_dir / PLATE / fov / "0"), mode="r", zarr_format=2)
        assert array.shape == (4, 2, 1, 320, 320)
        assert array.dtype == np.float32
        assert array.chunks == (1, 1, 1, 320, 320)
        labels = [c["label"] for c in root[fov].attrs["omero"]["channels"]]  # type: ignore[index]
        assert labels == ["Phase3D", "RFP"]
    metadata = json.loads((example_dir / PLATE / "A/1/0/0/.zarray").read_text())
    assert metadata["dimension_separator"] == "/"
    assert metadata["compressor"] == {
        "id": "blosc",
        "cname": "zstd",
        "clevel": 1,
        "shuffle": 2,
        "blocksize": 0,
    }


def test_plate_opens_with_iohub(example_dir: Path) -> None:
    iohub = pytest.importorskip("iohub", reason="iohub (the lab's reader) is a test extra")
    with iohub.open_ome_zarr(example_dir / PLATE, layout="hcs", mode="r") as plate:
        assert plate.channel_names == ["Phase3D", "RFP"]
        positions = dict(plate.positions())
        assert sorted(positions) == sorted(EXAMPLE.fov_names)
        for position in positions.values():
            assert position["0"].shape == (4, 2, 1, 320, 320)
            assert position["0"].dtype == np.float32
            assert set(position.zattrs["normalization"]) == {"Phase3D", "RFP"}


def test_tracks_have_lab_columns_and_lineage(example_dir: Path) -> None:
    divisions = 0
    for fov in EXAMPLE.fov_names:
        path = example_dir / TRACKS / fov / TRACKS_FILE
        assert path.read_text().splitlines()[0] == ",".join(TRACK_COLUMNS)
        table = read_tracks(path)
        track_id, node = table[:, 0], table[:, 2]
        assert len(np.unique(node)) == len(node)
        by_node = {int(n): row for n, row in zip(node, table, strict=True)}
        for row in table:
            if row[4] == NO_PARENT:
                assert row[3] == NO_PARENT
                assert row[1] == 0
                continue
            previous = by_node[int(row[4])]
            assert previous[1] == row[1] - 1
            if row[3] == NO_PARENT or previous[0] == row[0]:
                assert previous[0] == row[0]
            else:
                assert previous[0] == row[3]
                divisions += 1
        assert np.all(np.diff(track_id) >= 0)
    assert divisions >= 2


def test_tracks_mark_cells_in_the_images(example_dir: Path) -> None:
    for fov in EXAMPLE.fov_names:
        table = read_tracks(example_dir / TRACKS / fov / TRACKS_FILE)
        image = zarr.open_array(str(example_dir / PLATE / fov / "0"), mode="r", zarr_format=2)[...]
        phase = image[:, 0]
        at_cells = phase[table[:, 1], table[:, 5], table[:, 6], table[:, 7]]
        assert np.all(at_cells > 0.05), "every tracked centre lies on a cell"
        assert float(np.median(phase)) < 0.02, "most pixels are background"


def test_example_size_fits_the_cpu_budget(example_dir: Path) -> None:
    tables = [read_tracks(example_dir / TRACKS / fov / TRACKS_FILE) for fov in EXAMPLE.fov_names]
    kept = sum(int(_valid_rows(EXAMPLE, table).sum()) for table in tables)
    total = sum(len(table) for table in tables)
    print(f"example: {total} track rows, {kept} kept by the border filter")
    assert 100 <= kept <= 300
    assert kept < total, "the border filter must drop some rows"


@pytest.mark.skipif(VISCY_PYTHON is None, reason="REPRO_GOLDEN_VISCY_PYTHON (viscy 0.4.1) not set")
def test_normalization_equals_viscy_preprocess(example_dir: Path, tmp_path: Path) -> None:
    plate = tmp_path / PLATE
    shutil.copytree(example_dir / PLATE, plate)
    script = """
import json, sys
import iohub.ngff as ngff
from viscy.utils.meta_utils import generate_normalization_metadata

path = sys.argv[1]
with ngff.open_ome_zarr(path, mode="r+") as plate:
    ours = {"": plate.zattrs["normalization"]}
    del plate.zattrs["normalization"]
    for name, pos in plate.positions():
        ours[name] = pos.zattrs["normalization"]
        del pos.zattrs["normalization"]
generate_normalization_metadata(path, num_workers=1, grid_spacing=32)
with ngff.open_ome_zarr(path, mode="r") as plate:
    theirs = {"": plate.zattrs["normalization"]}
    theirs.update({name: pos.zattrs["normalization"] for name, pos in plate.positions()})
print(json.dumps({"ours": ours, "theirs": theirs}))
"""
    done = subprocess.run(
        [str(VISCY_PYTHON), "-c", script, str(plate)], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ours"] == result["theirs"]
