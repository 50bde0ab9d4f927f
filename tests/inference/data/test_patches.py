"""Per-patch normalization gives the bits of VisCy's per-batch ``NormalizeSampled`` arithmetic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from repro_golden.config.data import NormalizationSpec
from repro_golden.inference.data.patches import Normalizer
from repro_golden.inference.data.plate import FieldOfView


def _fov(name: str, mean: float, std: float) -> FieldOfView:
    stats = {"fov_statistics": {"mean": mean, "std": std}}
    return FieldOfView(
        name=name,
        path=Path("/plate") / name,
        shape=(1, 2, 1, 8, 8),
        dtype=np.dtype(np.float32),
        channel_names=("Phase3D", "GFP"),
        normalization={"Phase3D": stats, "GFP": stats},
    )


def _viscy_batch(batch: torch.Tensor, stats: list[tuple[float, float]], fov: np.ndarray) -> Any:
    """VisCy 0.4.1's formula on a whole batch: float32 (B,) statistics broadcast per channel."""
    mean = torch.tensor([stats[i][0] for i in fov], dtype=torch.float32).reshape(-1, 1, 1, 1, 1)
    std = torch.tensor([stats[i][1] for i in fov], dtype=torch.float32).reshape(-1, 1, 1, 1, 1)
    out = batch.clone()
    out[:, 0:1] = (batch[:, 0:1] - mean) / (std + 1e-8)
    return out.to(torch.float32)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    stats=st.lists(
        st.tuples(st.floats(-1e4, 1e4, allow_nan=False), st.floats(1e-9, 1e4, allow_nan=False)),
        min_size=1,
        max_size=3,
    ),
    seed=st.integers(0, 2**31 - 1),
)
def test_patch_by_patch_equals_viscy_batch_arithmetic(
    dtype: type, stats: list[tuple[float, float]], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    fovs = [_fov(f"A/1/{i}", m, s) for i, (m, s) in enumerate(stats)]
    normalizer = Normalizer(
        fovs, ("Phase3D", "GFP"), (NormalizationSpec(keys=("Phase3D",), level="fov_statistics"),)
    )
    fov_of_row = rng.integers(0, len(fovs), size=6)
    batch = (rng.standard_normal((6, 2, 1, 8, 8)) * 1e3).astype(dtype)
    expected = _viscy_batch(torch.from_numpy(batch), stats, fov_of_row)
    ours = batch.copy()
    for row, fov in enumerate(fov_of_row):
        normalizer.normalize_patch_(ours[row], int(fov))
    obtained = torch.from_numpy(ours).to(torch.float32)
    assert torch.equal(obtained.view(torch.int32), expected.view(torch.int32))


def test_integer_patches_are_refused() -> None:
    normalizer = Normalizer(
        [_fov("A/1/0", 1.0, 2.0)],
        ("Phase3D",),
        (NormalizationSpec(keys=("Phase3D",), level="fov_statistics"),),
    )
    with pytest.raises(TypeError, match="float32 or float64"):
        normalizer.normalize_patch_(np.zeros((1, 1, 2, 2), dtype=np.uint16), 0)
