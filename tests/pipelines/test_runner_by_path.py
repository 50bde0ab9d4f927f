"""The runner package run by path, as the lightning pipeline starts it (fast: no prediction).

It must run where repro-golden is not installed (the lab's interpreter), and its
modules (``events``, ``stop``, ``predict``...) must neither shadow the lab's
top-level modules of the same names nor be shadowed by them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from repro_golden.inference.pipelines.lightning import RUNNER
from repro_golden.inference.pipelines.runner import protocol


def _run(args: list[str], spec: dict[str, Any], tmp_path: Path, **env: str) -> tuple[int, list]:
    spec_path = tmp_path / "spec.json"
    spec_path.write_text(json.dumps(spec))
    done = subprocess.run(
        [sys.executable, *args, str(RUNNER), str(spec_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, **env},
        check=False,
    )
    events = [
        json.loads(line[len(protocol.MARKER) :])
        for line in done.stdout.splitlines()
        if line.startswith(protocol.MARKER)
    ]
    return done.returncode, events


def test_runs_without_site_packages_and_names_what_is_missing(tmp_path: Path) -> None:
    # -S: no site-packages, so neither repro-golden nor torch can be imported.
    status, events = _run(["-S"], {"config": str(tmp_path / "c.yaml")}, tmp_path)
    assert status == protocol.EXIT_ENVIRONMENT, events
    assert [e["event"] for e in events] == ["start", "environment_error"]
    assert "torch" in events[1]["modules"]


def test_a_lab_module_named_like_a_runner_module_is_the_one_imported(tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    lab.mkdir()
    seen = tmp_path / "seen.json"
    # The lab's own `events` module records what the runner's process has loaded.
    (lab / "events.py").write_text(
        f"import json, sys\nopen({str(seen)!r}, 'w').write(json.dumps(sorted(sys.modules)))\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text("model: [unclosed\n")
    spec = {"config": str(config), "preimport": ["events"], "numerics": {"offline": True}}
    status, events = _run([], spec, tmp_path, PYTHONPATH=str(lab))
    assert status == protocol.EXIT_CONFIG, events
    assert events[-1]["event"] == "config_error"
    assert "not valid YAML" in events[-1]["error"]
    modules = json.loads(seen.read_text())
    assert "_repro_golden_runner.pipelines.runner.main" in modules
    # The shared probes come through the same private mount, never as repro_golden.
    assert "_repro_golden_runner.probes" in modules
    assert not [m for m in modules if m.startswith("repro_golden")]
