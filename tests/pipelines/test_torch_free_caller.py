"""The lab's interpreter does the work: a torch-free install can call it (issue 17).

``pip install repro-golden`` (no extras) has no torch, Lightning, anndata, pandas or
tqdm. ``repro-golden predict CONFIG --pipeline lightning --python LAB`` runs the
pipeline under test in LAB, so the calling side needs none of them: the run is
launched, its store validated with zarr and its provenance attached in anndata's
encoding by zarr alone. Here the calling process blocks those imports (as the
torch-free wheel would lack them); LAB is this test's interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from toy_configs import lab_env, toy_checkpoint, toy_config

from repro_golden.core.embeddings import EmbeddingsStore

HEAVY = ("torch", "lightning", "anndata", "pandas", "tqdm", "timm", "jsonargparse")

CALLER = """
import importlib.abc, importlib.util, sys

class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {heavy!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Absent())
_find_spec = importlib.util.find_spec
importlib.util.find_spec = lambda name, package=None: (
    None if name.split(".")[0] in {heavy!r} else _find_spec(name, package)
)
from repro_golden.cli import main
status = main({argv!r})
print("HEAVY", sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r}))
sys.exit(status)
"""


def test_a_torch_free_caller_runs_the_lab_interpreter(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    config = toy_config(tmp_path)
    toy_checkpoint(tmp_path)
    argv = [
        "predict",
        str(config),
        "--pipeline",
        "lightning",
        "--python",
        sys.executable,
        "--output",
        str(tmp_path / "out.zarr"),
    ]
    result = subprocess.run(
        [sys.executable, "-c", CALLER.format(heavy=HEAVY, argv=argv)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=lab_env(),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "HEAVY []" in result.stdout
    store = EmbeddingsStore(tmp_path / "out.zarr")
    assert store.num_rows == 6
    provenance = store.provenance()
    assert provenance is not None
    assert provenance["pipeline"]["kind"] == "lightning"
    import anndata as ad  # this process has it: the zarr-written element reads back

    uns = ad.read_zarr(tmp_path / "out.zarr").uns["repro_golden"]
    assert json.loads(uns)["pipeline"]["kind"] == "lightning"


def test_a_builtin_case_still_names_the_extra(tmp_path: Path) -> None:
    """Without the extra, the builtin pipeline says which one to install (exit 2)."""
    case = tmp_path / "case.yaml"
    case.write_text("schema: repro-golden/case/1\nname: x\n")
    argv = ["predict", str(case)]
    result = subprocess.run(
        [sys.executable, "-c", CALLER.format(heavy=HEAVY, argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "repro-golden[predict]" in result.stderr
