"""Bitwise parity with the public viscy 0.4.1 pipeline (run in its own interpreter).

``scripts/viscy_parity.py`` generates an example case and runs one VisCy config
twice: through the lightning pipeline (VisCy's own classes built by LightningCLI
in the VisCy interpreter, ``--preimport viscy.cli``) and through the builtin,
both with one intra-op thread, then compares ``X``, ``X_projections`` and
``obs`` (by index columns) bit for bit. Restricted to well A/1 (2 FOVs) and
batches of 16 to stay around a minute per case on CPU.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

VISCY_PYTHON = os.environ.get("REPRO_GOLDEN_VISCY_PYTHON") or None
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "viscy_parity.py"

pytestmark = pytest.mark.skipif(
    VISCY_PYTHON is None,
    reason="REPRO_GOLDEN_VISCY_PYTHON is not set (python of a viscy==0.4.1 environment)",
)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("viscy_parity", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "case",
    [
        "example",  # reference architecture: 1 channel, fov_statistics mean/std
        "zstack",  # 2 channels, z range [1, 4), dataset_statistics median/iqr
    ],
)
def test_bitwise_identical_to_viscy(case: str, tmp_path: Path) -> None:
    problems = _script().run_parity(tmp_path, case=case, wells=["A/1"], batch_size=16)
    assert problems == []
    assert (tmp_path / "ours.zarr").exists()
    assert (tmp_path / "viscy.zarr").exists()
