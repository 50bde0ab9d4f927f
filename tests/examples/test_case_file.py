"""The generated case files load as written and feed the data pipeline the expected rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from repro_golden.config.load import load_case
from repro_golden.examples.cases import CASES
from repro_golden.examples.inputs import CASE_FILE, TRACKS, TRACKS_FILE, read_tracks
from repro_golden.inference.data.datamodule import PlateDataModule
from repro_golden.inference.model.checkpoint import load_checkpoint
from repro_golden.inference.model.encoder import ContrastiveEncoder
from repro_golden.inference.model.module import ContrastiveModule


def _kept_rows(name: str, directory: Path) -> int:
    """Rows VisCy's border filter keeps, counted from the tracks files alone."""
    case = CASES[name]
    height, width = case.shape[2:]
    half_y, half_x = case.patch_size[0] // 2, case.patch_size[1] // 2
    kept = 0
    for fov in case.fov_names:
        table = read_tracks(directory / TRACKS / fov / TRACKS_FILE)
        y, x = table[:, 6], table[:, 7]
        kept += int(
            np.count_nonzero(
                (y > half_y) & (y < height - half_y) & (x > half_x) & (x < width - half_x)
            )
        )
    return kept


@pytest.mark.parametrize(
    ("name", "fixture", "anchor_shape"),
    [
        ("example", "example_dir", (1, 1, 160, 160)),
        ("zstack", "zstack_dir", (2, 3, 128, 128)),
    ],
)
def test_case_file_feeds_the_data_pipeline(
    name: str, fixture: str, anchor_shape: tuple[int, ...], request: pytest.FixtureRequest
) -> None:
    directory: Path = request.getfixturevalue(fixture)
    case = load_case(directory / CASE_FILE)
    assert case.name == name
    assert case.checkpoint == directory.resolve() / "model.ckpt"
    module = PlateDataModule(case.data)
    module.setup("predict")
    batches = list(module.predict_dataloader())
    sizes = [len(batch["row"]) for batch in batches]
    assert sum(sizes) == module.num_rows == _kept_rows(name, directory)
    assert sizes[:-1] == [CASES[name].batch_size] * (len(sizes) - 1)
    assert 0 < sizes[-1] < CASES[name].batch_size, "the last batch is partial"
    assert tuple(batches[0]["anchor"].shape[1:]) == anchor_shape
    assert all(np.isfinite(batch["anchor"].numpy()).all() for batch in batches)


@pytest.mark.parametrize(
    ("name", "fixture"), [("example", "example_dir"), ("zstack", "zstack_dir")]
)
def test_checkpoint_loads_strictly_and_its_batchnorm_statistics_matter(
    name: str, fixture: str, request: pytest.FixtureRequest
) -> None:
    directory: Path = request.getfixturevalue(fixture)
    module = ContrastiveModule(ContrastiveEncoder(**CASES[name].model_mapping()))
    loaded = load_checkpoint(module, directory / "model.ckpt")
    assert loaded.num_tensors == 194
    state = module.state_dict()
    for key in ("model.projection.1.running_mean", "model.projection.4.running_var"):
        assert not torch.allclose(
            state[key], torch.full_like(state[key], 0.0 if "mean" in key else 1.0)
        )
    case = load_case(directory / CASE_FILE)
    data = PlateDataModule(case.data)
    data.setup("predict")
    anchor = next(iter(data.predict_dataloader()))["anchor"][:4]
    with torch.inference_mode():
        module.eval()
        features, projections = module(anchor)
        module.train()
        _, batch_statistics_projections = module(anchor)
    assert features.shape == (4, 768)
    assert projections.shape == (4, 32)
    assert torch.isfinite(projections).all()
    assert features.std(dim=0).mean() > 0.01, "cells get distinct embeddings"
    assert not torch.allclose(projections, batch_statistics_projections)
