"""The CLI as a user runs it: exit statuses, reports, and a torch-free start."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from core_stores import Embeddings

import repro_golden.core
from repro_golden.cli import main

Writer = Callable[..., Path]
HEAVY = ("torch", "lightning", "pytorch_lightning", "timm", "anndata")
#: Every module of the torch-free core, found by walking the package (no hand-kept list).
CORE = (
    *(m.name for m in pkgutil.walk_packages(repro_golden.core.__path__, "repro_golden.core.")),
    "repro_golden.api",
    "repro_golden.cli",
    "repro_golden.cli.golden_cmd",
    "repro_golden.plugin.hooks",
    "repro_golden.plugin.fixtures",
)


def test_core_and_check_help_import_nothing_heavy() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE!r}: importlib.import_module(name)\n"
        "from repro_golden.cli import main\n"
        "try:\n"
        "    main(['check', '--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0, exc.code\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert "--golden" in result.stdout
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_write_check_compare_exit_statuses(
    embeddings: Embeddings,
    write_store: Writer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = write_store("ref", embeddings)
    x = embeddings.X.copy()
    x[10] += np.float32(0.1)
    obt = write_store("obt", embeddings.with_(X=x))
    golden = tmp_path / "golden" / "demo"
    assert main(["golden", "write", str(ref), "--out", str(golden), "--case", "demo"]) == 0
    assert json.loads((golden / "golden.json").read_text())["case"] == "demo"
    assert main(["check", str(ref), "--golden", str(golden)]) == 0
    report = tmp_path / "out" / "check.json"
    assert (
        main(
            [
                "check",
                str(obt),
                "--golden",
                str(golden),
                "--report",
                str(report),
                "--report",
                str(tmp_path / "check.md"),
            ]
        )
        == 1
    )
    assert json.loads(report.read_text())["passed"] is False
    assert (tmp_path / "check.md").read_text().startswith("# repro-golden report: FAILED")
    # One FOV changed while the others are bit-identical: changed, whatever the tolerance
    # (identical by evidence); the tolerance judges once that rung is turned off.
    assert main(["check", str(obt), "--golden", str(golden), "--atol", "0.5"]) == 1
    assert "changed while the rest of this run" in capsys.readouterr().out
    no_evidence = ["--no-identical-by-evidence"]
    assert main(["check", str(obt), "--golden", str(golden), "--atol", "0.5", *no_evidence]) == 0
    assert main(["compare", str(obt), str(ref), "--atol", "0.01"]) == 1
    assert (
        main(["compare", str(obt), str(ref), "--atol", "0.2", "--report", str(tmp_path / "c.html")])
        == 0
    )
    out = capsys.readouterr().out
    assert "violated" in out
    assert "A/1/0 X" in out


def test_bad_input_exits_2(
    embeddings: Embeddings,
    write_store: Writer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ref = write_store("ref", embeddings)
    assert main(["check", str(ref), "--golden", str(tmp_path / "nowhere")]) == 2
    assert "golden.json" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "absent.zarr"), str(ref)]) == 2
    assert "absent.zarr" in capsys.readouterr().err
    assert main(["compare", str(ref), str(ref), "--atol", "-1"]) == 2
    assert "atol" in capsys.readouterr().err


def test_check_applies_the_case_tolerance_recorded_with_the_golden_files(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    case = {"name": "demo", "tolerance": {"atol": 0.5, "rtol": 0.0}}
    recorded = embeddings.with_(uns={"case": case})
    ref = write_store("ref", recorded)
    x = recorded.X.copy()
    x[10] += np.float32(0.1)
    obt = write_store("obt", recorded.with_(X=x))
    golden = tmp_path / "golden" / "demo"
    assert main(["golden", "write", str(ref), "--out", str(golden), "--case", "demo"]) == 0
    report = tmp_path / "check.json"
    tolerance_rung = ["--golden", str(golden), "--no-identical-by-evidence"]
    assert main(["check", str(obt), *tolerance_rung, "--report", str(report)]) == 0
    assert json.loads(report.read_text())["tolerance"]["atol"] == 0.5
    # An explicit field replaces its own recorded field only (rtol stays as recorded).
    assert main(["check", str(obt), *tolerance_rung, "--atol", "0"]) == 1
    assert (
        main(["check", str(obt), *tolerance_rung, "--rtol", "1e-4", "--report", str(report)]) == 0
    )
    assert json.loads(report.read_text())["tolerance"]["atol"] == 0.5


def test_unusable_recorded_tolerance_is_bad_input(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = {"name": "demo", "tolerance": {"atol": -1.0}}
    ref = write_store("ref", embeddings.with_(uns={"case": case}))
    golden = tmp_path / "golden"
    assert main(["golden", "write", str(ref), "--out", str(golden)]) == 0
    assert main(["check", str(ref), "--golden", str(golden)]) == 2
    err = capsys.readouterr().err
    assert "golden.json" in err
    assert "provenance.embeddings.case.tolerance" in err
