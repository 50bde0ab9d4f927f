"""Fixtures of the golden-core tests: tiny embeddings stores made in the test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from core_stores import Embeddings, make_embeddings, write_anndata, write_zarr_direct


@pytest.fixture
def embeddings() -> Embeddings:
    return make_embeddings()


@pytest.fixture
def write_store(tmp_path: Path) -> Callable[..., Path]:
    """``write_store(name, emb, how="anndata"|"zarr2"|"zarr3")`` -> path of the written zarr."""

    def write(name: str, emb: Embeddings, how: str = "anndata") -> Path:
        path = tmp_path / f"{name}.zarr"
        if how == "anndata":
            return write_anndata(path, emb)
        return write_zarr_direct(path, emb, zarr_format=int(how[-1]), categorical=True)

    return write
