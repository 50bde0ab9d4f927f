"""Tiny embeddings stores and golden directories for the reliability tests.

Stores are written with zarr alone (format 2, as anndata writes; plain chunk
files ``X/0.0`` a test can delete or truncate), so the tests stay torch-free
and fast. Helpers run the CLI in a subprocess, as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import zarr

FOVS = ("A/1/0", "B/2/0", "C/3/1")


def arrays(rows_per_fov: int = 20, width: int = 16, proj: int = 4, *, seed: int = 0) -> dict:
    """Columns and arrays of a small store: three FOVs of ``rows_per_fov`` rows."""
    rng = np.random.default_rng(seed)
    n = rows_per_fov * len(FOVS)
    return {
        "X": rng.normal(size=(n, width)).astype(np.float32),
        "P": rng.normal(size=(n, proj)).astype(np.float32),
        "fov_name": np.repeat(np.array(FOVS, dtype=object), rows_per_fov),
        "track_id": np.arange(n, dtype=np.int64) // 2,
        "t": np.arange(n, dtype=np.int64) % 2,
        "id": np.arange(n, dtype=np.int64),
        "parent_track_id": np.full(n, -1, dtype=np.int64),
        "parent_id": np.full(n, -1, dtype=np.int64),
    }


def write_store(path: Path, data: dict[str, Any] | None = None, *, chunk_rows: int = 8) -> Path:
    """An AnnData-layout zarr (format 2) at ``path``; ``data`` as from :func:`arrays`."""
    data = arrays() if data is None else data
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
    if data.get("X") is not None:
        x = data["X"]
        root.create_array(
            "X", data=x, chunks=(chunk_rows, *x.shape[1:]), config={"write_empty_chunks": True}
        )
    obsm = root.create_group("obsm")
    if data.get("P") is not None:
        p = data["P"]
        obsm.create_array(
            "X_projections",
            data=p,
            chunks=(chunk_rows, *p.shape[1:]),
            config={"write_empty_chunks": True},
        )
    obs = root.create_group("obs")
    columns = [k for k in data if k not in ("X", "P")]
    obs.attrs.update(
        {
            "encoding-type": "dataframe",
            "encoding-version": "0.2.0",
            "_index": "_index",
            "column-order": columns,
        }
    )
    n = len(data["id"])
    obs.create_array(
        "_index", data=np.array([str(i) for i in range(n)], dtype=np.dtypes.StringDType())
    )
    for name in columns:
        values = data[name]
        if values.dtype == object:
            array = obs.create_array(name, data=values.astype(np.dtypes.StringDType()))
            array.attrs["encoding-type"] = "string-array"
        else:
            obs.create_array(name, data=values)
    return path


def cli(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``repro-golden ARGS`` in a fresh interpreter; returns the completed process."""
    return subprocess.run(
        [sys.executable, "-m", "repro_golden", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
