"""Fixtures of the data tests: synthetic plates in fresh directories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from synthetic_plates import PlateSpec, write_plate


@pytest.fixture
def make_plate(tmp_path: Path) -> Callable[..., tuple[Path, Path]]:
    """Write a plate from :class:`PlateSpec` fields into a fresh directory."""
    counter = iter(range(1000))

    def make(**fields: Any) -> tuple[Path, Path]:
        root = tmp_path / f"case{next(counter)}"
        root.mkdir()
        return write_plate(root, PlateSpec(**fields))

    return make
