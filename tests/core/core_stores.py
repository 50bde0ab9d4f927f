"""Small AnnData embeddings stores for the golden-core tests, written two ways.

``write_anndata`` uses anndata itself (zarr format 2, as predict writes);
``write_zarr_direct`` writes the same layout with zarr alone, in format 2 or 3,
so the reader is tested against both formats and against encodings anndata may
not choose (plain string columns, non-contiguous FOVs).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import zarr


@dataclass(frozen=True)
class Embeddings:
    """In-memory embeddings: arrays plus obs columns (``fov_name`` first)."""

    X: np.ndarray
    P: np.ndarray
    obs: dict[str, np.ndarray]
    uns: dict[str, Any] | None = None

    def with_(self, **changes: Any) -> Embeddings:
        return replace(self, **changes)


def make_embeddings(
    fov_rows: tuple[int, ...] = (40, 30, 50),
    width: int = 24,
    proj: int = 6,
    *,
    seed: int = 0,
    dtype: str = "float32",
) -> Embeddings:
    rng = np.random.default_rng(seed)
    n = sum(fov_rows)
    names = np.concatenate(
        [np.full(k, f"{chr(65 + i)}/1/0", dtype=object) for i, k in enumerate(fov_rows)]
    )
    obs = {
        "fov_name": names,
        "track_id": np.arange(n, dtype=np.int64) // 3,
        "t": np.arange(n, dtype=np.int64) % 3,
        "id": np.arange(n, dtype=np.int64),
        "parent_track_id": np.full(n, -1, dtype=np.int64),
        "parent_id": np.full(n, -1, dtype=np.int64),
    }
    return Embeddings(
        X=rng.normal(size=(n, width)).astype(dtype),
        P=rng.normal(size=(n, proj)).astype(dtype),
        obs=obs,
        uns={"device": "cpu", "numerics": {"seed": 42, "deterministic": True}},
    )


def write_anndata(path: Path, emb: Embeddings) -> Path:
    import anndata
    import pandas as pd

    obs = pd.DataFrame(
        {k: (v.astype(str) if v.dtype == object else v) for k, v in emb.obs.items()},
        index=[str(i) for i in range(emb.X.shape[0])],
    )
    adata = anndata.AnnData(X=emb.X, obs=obs, obsm={"X_projections": emb.P})
    if emb.uns is not None:
        adata.uns["repro_golden"] = emb.uns
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata.write_zarr(path)
    return path


def write_zarr_direct(
    path: Path, emb: Embeddings, *, zarr_format: int = 3, categorical: bool = False
) -> Path:
    root = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)  # type: ignore[arg-type]
    root.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
    root.create_array("X", data=emb.X, chunks=(max(1, emb.X.shape[0] // 3), emb.X.shape[1]))
    obsm = root.create_group("obsm")
    obsm.create_array("X_projections", data=emb.P)
    obs = root.create_group("obs")
    obs.attrs.update(
        {
            "encoding-type": "dataframe",
            "encoding-version": "0.2.0",
            "_index": "_index",
            "column-order": list(emb.obs),
        }
    )
    n = emb.X.shape[0]
    obs.create_array(
        "_index", data=np.array([str(i) for i in range(n)], dtype=np.dtypes.StringDType())
    )
    for name, values in emb.obs.items():
        if values.dtype == object:
            strings = values.astype(np.dtypes.StringDType())
            if categorical:
                categories, codes = np.unique(strings, return_inverse=True)
                group = obs.create_group(name)
                group.attrs.update({"encoding-type": "categorical", "ordered": False})
                group.create_array("categories", data=categories)
                group.create_array("codes", data=codes.astype(np.int16))
            else:
                array = obs.create_array(name, data=strings)
                array.attrs["encoding-type"] = "string-array"
        else:
            obs.create_array(name, data=values)
    return path
