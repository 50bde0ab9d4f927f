"""Fixtures of the reliability tests: one reference store and its golden files per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from rel_stores import write_store

from repro_golden.api import write_golden


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    """A small reference embeddings store (3 FOVs x 20 rows, X 16 and projections 4 wide)."""
    return write_store(tmp_path / "reference.zarr")


@pytest.fixture
def golden(tmp_path: Path, reference: Path) -> Path:
    """Golden files of ``reference`` for case ``tiny`` in ``tmp_path/golden``."""
    write_golden(reference, tmp_path / "golden", case="tiny")
    return tmp_path / "golden"
