"""Fixtures for the plugin's pytester tests: a tiny AnnData embeddings zarr made in the test."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import anndata  # noqa: F401
import numpy.fft  # noqa: F401
import pytest

# In-process pytester sessions restore sys.modules after each run, and numpy's
# and torch's extension modules cannot be loaded twice in one process (torch
# re-imported after an inner session dropped it crashes the interpreter): import
# everything the inner sessions import here, before any of them runs.
import torch  # noqa: F401

import repro_golden.api
import repro_golden.plugin.fixtures  # noqa: F401

FOVS = ("A/1/0", "A/1/1", "B/2/0")
ROWS_PER_FOV = 4


def write_embeddings(
    path: Path, *, seed: int = 0, shift_fov: str | None = None, shift: float = 0.0
) -> Path:
    """Write a small AnnData zarr following the embeddings contract (docs/ARCHITECTURE.md).

    ``shift`` is added to every value of ``X`` in FOV ``shift_fov``, to make a
    known, located change.
    """
    import anndata as ad
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = len(FOVS) * ROWS_PER_FOV
    fov_name = np.repeat(np.array(FOVS, dtype=object), ROWS_PER_FOV)
    obs = pd.DataFrame(
        {
            "fov_name": pd.array(fov_name, dtype="string").astype(object),
            "track_id": np.arange(n, dtype=np.int64) % 3,
            "t": np.arange(n, dtype=np.int64) // 3,
            "id": np.arange(n, dtype=np.int64),
            "parent_track_id": np.full(n, -1, dtype=np.int64),
            "parent_id": np.full(n, -1, dtype=np.int64),
            "y": np.arange(n, dtype=np.int64) + 80,
            "x": np.arange(n, dtype=np.int64) + 90,
        },
        index=pd.Index([str(i) for i in range(n)], dtype=object),
    )
    x = rng.standard_normal((n, 8)).astype(np.float32)
    if shift_fov == "*":  # every FOV: no FOV stays bit-identical (no evidence of reproduction)
        x += np.float32(shift)
    elif shift_fov is not None:
        x[fov_name == shift_fov] += np.float32(shift)
    projections = rng.standard_normal((n, 4)).astype(np.float32)
    adata = ad.AnnData(X=x, obs=obs, obsm={"X_projections": projections})
    if path.exists():
        shutil.rmtree(path)
    with warnings.catch_warnings():
        # anndata announces its future v3 default; format 2 is the contract's default.
        warnings.filterwarnings("ignore", message="Writing zarr v2", category=UserWarning)
        adata.write_zarr(path)
    return path


@pytest.fixture
def make_embeddings() -> Callable[..., Path]:
    """``make_embeddings(path, *, seed=0, shift_fov=None, shift=0.0) -> path``."""
    return write_embeddings
