"""Pipelines benchmark: cells/s of the builtin and of the lightning pipeline, and its overhead.

One run, side by side, on an example case (generated and hash-verified), on CPU,
with one intra-op thread for every run (so they compute the same bits):

1. cells/s of ``repro-golden predict``: the builtin; the ``lightning`` pipeline
   running VisCy 0.4.1's own config in ``$REPRO_GOLDEN_VISCY_PYTHON``; the
   ``lightning`` pipeline running the lab's modular config (viscy-data/-models/
   -transforms/-utils 0.1.0, the test-only dynaclr stand-in, the test-only
   collate workaround) in ``$REPRO_GOLDEN_MODULAR_PYTHON``. The rate is the
   prediction loop's (``N cells in S s``), the wall time the whole command's.
2. overhead of the lightning pipeline over plain LightningCLI on the same config
   in the same interpreter: VisCy's own ``viscy predict -c`` entry point
   (through ``scripts/viscy_parity.py viscy-predict``: timm offline, as the
   pipeline does) and ``LightningCLI(args=["predict", "-c", CONFIG])`` for the
   modular packages; wall time of the whole command, medians of ``--repeat``.
   The goal is under 5 %.

A flavour whose interpreter variable is unset or empty is skipped, and says so.
Figures go to stdout and ``reports/bench-pipelines.json``; nothing is asserted
(the machine is shared).

    python benchmarks/bench_pipelines.py [--case example] [--wells A/1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "viscy_parity.py"
SUMMARY = re.compile(r"(\d+) cells in ([\d.]+) s")
GOAL_OVERHEAD = 0.05


def _parity() -> ModuleType:
    spec = importlib.util.spec_from_file_location("viscy_parity", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed (exit {result.returncode}):\n"
            + result.stdout[-3000:]
            + result.stderr[-3000:]
        )
    return wall, result.stdout + result.stderr


def _plain_command(flavour: str, python: str, config: Path) -> list[str]:
    """Plain LightningCLI on ``config`` in ``python``, no repro-golden."""
    if flavour == "viscy":
        return [python, str(SCRIPT), "viscy-predict", str(config)]
    code = (
        "import collate_workaround\n"  # the same test-only workaround the pipeline preimports
        "from lightning.pytorch.cli import LightningCLI\n"
        f"LightningCLI(args=['predict', '-c', {str(config)!r}], save_config_callback=None)\n"
    )
    return [python, "-c", code]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="example")
    parser.add_argument("--wells", nargs="*", default=None, help="only these wells (e.g. A/1)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs per overhead figure")
    parser.add_argument("--workdir", type=Path, help="keep the files here")
    args = parser.parse_args(argv)
    parity = _parity()
    interpreters = {
        "viscy": os.environ.get(parity.VISCY_PYTHON_ENV) or None,
        "modular": os.environ.get(parity.MODULAR_PYTHON_ENV) or None,
    }
    env = parity._env(1)
    env["PYTHONPATH"] = str(parity.MODULAR_LAB)
    results: dict[str, Any] = {"case": args.case, "wells": args.wells, "threads": 1}
    with tempfile.TemporaryDirectory(prefix="bench-pipelines-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        configs = parity.prepare(
            workdir, case=args.case, wells=args.wells, batch_size=args.batch_size
        )
        runs: dict[str, dict[str, Any]] = {}
        plans = [("builtin", "viscy", None, ())] + [
            (f"lightning ({f})", f, interpreters[f], parity.PREIMPORT[f])
            for f in ("viscy", "modular")
        ]
        for label, flavour, python, preimport in plans:
            if label != "builtin" and python is None:
                print(f"{label}: skipped ({flavour} interpreter variable unset)")
                continue
            output = workdir / f"rate-{flavour}-{label[0]}.zarr"
            command = parity.predict_command(
                configs[flavour],
                str(output),
                python=python,
                preimport=preimport,
                extra=["--overwrite"],
            )
            wall, text = _timed(command, cwd=workdir, env=env)
            match = SUMMARY.search(text)
            if match is None:
                raise RuntimeError(f"no summary line from {label}:\n{text[-2000:]}")
            cells, seconds = int(match.group(1)), float(match.group(2))
            runs[label] = {
                "cells": cells,
                "loop_s": seconds,
                "cells_per_s": cells / seconds if seconds else 0.0,
                "wall_s": wall,
            }
        results["rates"] = runs
        print(f"\ncells/s on the {args.case} case (CPU, 1 thread, batch {args.batch_size}):")
        print(f"  {'pipeline':<22} {'cells':>6} {'loop s':>8} {'cells/s':>8} {'wall s':>8}")
        for label, run in runs.items():
            print(
                f"  {label:<22} {run['cells']:>6} {run['loop_s']:>8.1f} "
                f"{run['cells_per_s']:>8.1f} {run['wall_s']:>8.1f}"
            )
        overhead: dict[str, Any] = {}
        for flavour, python in interpreters.items():
            if python is None:
                continue
            config = configs[flavour]
            plain_out = workdir / f"{flavour}.zarr"  # where the config's writer writes
            ours, plain = [], []
            for _ in range(max(1, args.repeat)):
                shutil.rmtree(plain_out, ignore_errors=True)
                (workdir / "config.yaml").unlink(missing_ok=True)  # VisCy's CLI saves one
                plain.append(
                    _timed(_plain_command(flavour, python, config), cwd=workdir, env=env)[0]
                )
                command = parity.predict_command(
                    config,
                    str(workdir / f"pipeline-{flavour}.zarr"),
                    python=python,
                    preimport=parity.PREIMPORT[flavour],
                    extra=["--overwrite"],
                )
                ours.append(_timed(command, cwd=workdir, env=env)[0])
            a, b = statistics.median(ours), statistics.median(plain)
            overhead[flavour] = {
                "pipeline_wall_s": ours,
                "plain_wall_s": plain,
                "overhead": a / b - 1,
            }
            print(
                f"\nlightning pipeline vs plain LightningCLI ({flavour}), median of {len(ours)}: "
                f"{a:.1f} s vs {b:.1f} s wall: {100 * (a / b - 1):+.1f} % "
                f"(goal < {100 * GOAL_OVERHEAD:.0f} %)"
            )
        results["overhead"] = overhead
    reports = ROOT / "reports"
    reports.mkdir(exist_ok=True)
    (reports / "bench-pipelines.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
