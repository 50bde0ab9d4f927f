"""The smaller ways a command can mislead: each as a user would meet it.

- ``--report r.txt`` must be refused before a verdict is printed;
- ``| head`` must not end in a BrokenPipeError traceback, nor change the status;
- ``compare emb.zarr GOLDEN_DIR`` must say "this is a golden directory: use check";
- ``golden write`` must refuse an existing directory without ``--overwrite``;
- a leading slash in ``fov_name`` is the same FOV, with a note in the report;
- ``predict`` refuses an existing output before importing Lightning, and says
  where it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from rel_stores import arrays, cli, write_store

from repro_golden.api import compare_embeddings


def test_unknown_report_format_is_refused_before_the_verdict(reference: Path, golden: Path) -> None:
    result = cli("check", reference, "--golden", golden, "--report", "r.txt")
    assert result.returncode == 2
    assert "PASSED" not in result.stdout
    assert "FAILED" not in result.stdout
    assert "r.txt" in result.stderr
    assert ".json, .md or .html" in result.stderr


def test_closed_pipe_keeps_the_status_and_prints_no_traceback(tmp_path: Path) -> None:
    data = arrays(rows_per_fov=400)
    # One FOV per row, every one violated: a report far longer than a pipe's buffer.
    data["fov_name"] = np.asarray([f"A/1/{i}" for i in range(data["X"].shape[0])], dtype=object)
    reference = write_store(tmp_path / "reference-many.zarr", data, chunk_rows=400)
    data = {**data, "X": data["X"] + np.float32(1.0)}
    obtained = write_store(tmp_path / "obtained.zarr", data, chunk_rows=400)
    command = [
        *(sys.executable, "-m", "repro_golden", "compare", obtained, reference),
        *("--max-rows", "100000"),
    ]
    pipeline = subprocess.run(
        ["bash", "-o", "pipefail", "-c", '"$@" | head -n 1', "_", *map(str, command)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert pipeline.stdout.startswith("FAILED")
    assert "Traceback" not in pipeline.stderr
    assert "BrokenPipe" not in pipeline.stderr
    assert pipeline.returncode == 1  # the regression, not a crash (pipefail reports it)


def test_compare_with_a_golden_directory_says_use_check(reference: Path, golden: Path) -> None:
    result = cli("compare", reference, golden)
    assert result.returncode == 2
    assert "this is a golden directory" in result.stderr
    assert f"repro-golden check EMB.zarr --golden {golden}" in result.stderr
    assert "Traceback" not in result.stderr


def test_golden_write_refuses_an_existing_directory_without_overwrite(
    tmp_path: Path, reference: Path, golden: Path
) -> None:
    manifest = (golden / "golden.json").read_bytes()
    other = write_store(tmp_path / "other.zarr", arrays(seed=5))
    result = cli("golden", "write", other, "--out", golden)
    assert result.returncode == 2
    assert "output exists" in result.stderr
    assert "--overwrite" in result.stderr
    assert (golden / "golden.json").read_bytes() == manifest
    assert cli("golden", "write", other, "--out", golden, "--overwrite").returncode == 0
    assert (golden / "golden.json").read_bytes() != manifest


def test_leading_slash_in_fov_name_is_the_same_fov_with_a_note(
    tmp_path: Path, reference: Path
) -> None:
    data = arrays()
    data["fov_name"] = np.asarray(["/" + str(name) for name in data["fov_name"]], dtype=object)
    slashed = write_store(tmp_path / "slashed.zarr", data)
    report = compare_embeddings(slashed, reference)
    assert report.passed, report.render_terminal()
    assert {o.fov for o in report.outcomes} == {str(n) for n in arrays()["fov_name"]}
    assert any("leading '/' stripped" in note for note in report.notes)
    assert "leading '/' stripped" in report.render_terminal()
    written = report.write(tmp_path / "r.json")
    assert json.loads(written.read_text())["notes"] == list(report.notes)


def test_predict_refuses_existing_output_before_importing_lightning(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
    from tiny_case import write_tiny_case

    case = write_tiny_case(tmp_path / "case")
    existing = tmp_path / "emb.zarr"
    existing.mkdir()
    probe = (
        "import sys\n"
        "from repro_golden.cli import main\n"
        f"status = main(['predict', {str(case)!r}, '--output', {str(existing)!r}])\n"
        "print(status, 'lightning' in sys.modules, 'torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert result.stdout.split() == ["2", "False", "False"], result.stderr
    assert "output exists" in result.stderr


def test_predict_says_where_it_wrote(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
    from tiny_case import write_tiny_case

    case = write_tiny_case(tmp_path / "case")
    out = tmp_path / "emb.zarr"
    result = cli("predict", case, "--output", out, "--no-progress", timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout.splitlines()
