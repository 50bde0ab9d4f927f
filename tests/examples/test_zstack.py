"""The zstack case: two source channels, a z-stack, a [3, 4, 4] stem."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
import zarr

from repro_golden.examples import fixtures
from repro_golden.examples.cases import ZSTACK
from repro_golden.examples.inputs import CASE_FILE, CHECKPOINT, PLATE, input_digests


def test_zstack_generates_as_recorded(zstack_dir: Path) -> None:
    recorded = fixtures.load_recorded(fixtures.default_inputs_path("zstack"), case="zstack")
    assert input_digests(ZSTACK, zstack_dir) == recorded
    for fov in ZSTACK.fov_names:
        array = zarr.open_array(str(zstack_dir / PLATE / fov / "0"), mode="r", zarr_format=2)
        assert array.shape == (3, 2, 5, 256, 256)


def test_zstack_case_file_and_checkpoint_agree(zstack_dir: Path) -> None:
    case = yaml.safe_load((zstack_dir / CASE_FILE).read_text())
    assert case["model"]["in_channels"] == 2
    assert case["model"]["in_stack_depth"] == 3
    assert case["model"]["stem_kernel_size"] == [3, 4, 4]
    assert case["data"]["source_channel"] == ["Phase3D", "RFP"]
    assert case["data"]["z_range"] == [1, 4]
    state = torch.load(zstack_dir / CHECKPOINT, weights_only=True)["state_dict"]
    assert tuple(state["model.stem.conv.weight"].shape) == (96, 2, 3, 4, 4)
    assert len(state) == 194
