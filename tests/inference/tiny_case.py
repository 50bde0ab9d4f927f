"""A tiny generated case for predict-side tests: the example generator at toy sizes.

Same generator as ``repro_golden.examples`` (VisCy-style plate, tracks,
normalization metadata and a seeded convnext_tiny checkpoint) but 96x96
frames, 32x32 patches and batches of 4, so one prediction takes a second or
two on CPU. Not hash-verified: these inputs are scratch, not fixtures.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from repro_golden.examples.cases import EXAMPLE
from repro_golden.examples.generate import write_inputs

TINY = dataclasses.replace(
    EXAMPLE,
    name="tiny",
    wells=(("A", "1"), ("B", "2")),
    fovs_per_well=1,
    shape=(3, 1, 96, 96),
    cells_per_fov=5,
    patch_size=(32, 32),
    batch_size=4,
    grid_spacing=8,
)


def write_tiny_case(directory: Path, **changes: Any) -> Path:
    """Write the tiny case (with ``changes`` to its fields) into ``directory``; return case.yaml."""
    case = dataclasses.replace(TINY, **changes)
    directory.mkdir(parents=True, exist_ok=True)
    write_inputs(case, directory)
    return directory / "case.yaml"
