"""nox sessions: ``tests``, ``golden_check``, ``gpu_repro``, ``lint``, ``bench``.

All sessions share one virtual environment, ``.nox/shared``, created with the
standard library's ``venv`` by the Python running nox and filled with pip:
the project (editable) with its ``dev`` extras, and the pinned torch and
torchvision wheels. nox 2026.10 keys each environment by session name and has
no shared-location setting, so the sessions use ``venv_backend="none"`` and
this file manages the one environment itself. It is reinstalled only when
``pyproject.toml``, the pins or the Python version change (a stamp file
records what it was built from); delete ``.nox/shared`` to rebuild it.

Usage::

    python3 -m nox -s tests                    # the test suite (what CI runs)
    python3 -m nox -s golden_check             # example case end to end on CPU
    python3 -m nox -s gpu_repro                # cluster case on a GPU
    python3 -m nox -s gpu_repro -- --force-regen          # update references on purpose
    python3 -m nox -s gpu_repro -- --golden-case example  # GPU path on any CUDA machine
    python3 -m nox -s lint bench

Reports (JUnit XML, comparison reports in JSON and Markdown) go to ``reports/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import nox

ROOT = Path(__file__).resolve().parent
SHARED_ENV = ROOT / ".nox" / "shared"
REPORTS = ROOT / "reports"
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")
PLUGIN_IMPORT_BUDGET_S = 0.2
#: Bump when the way the shared environment is built changes, so old ones are rebuilt.
ENV_RECIPE = "2"

nox.options.sessions = ["lint", "tests", "golden_check"]
nox.options.default_venv_backend = "none"
nox.options.error_on_external_run = False


def _bin(name: str) -> Path:
    scripts = "Scripts" if os.name == "nt" else "bin"
    return SHARED_ENV / scripts / name


def _env_stamp() -> str:
    digest = hashlib.sha256()
    digest.update((ROOT / "pyproject.toml").read_bytes())
    digest.update(" ".join(TORCH_PINS).encode())
    digest.update(ENV_RECIPE.encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def shared_python(session: nox.Session) -> str:
    """Create or reuse ``.nox/shared`` and return its interpreter.

    Reused as is when its stamp matches this ``pyproject.toml``, these pins and
    this Python; otherwise rebuilt from scratch with pip (not uv: the pinned
    torch wheels resolve from local files through pip's configuration).
    """
    python = _bin("python")
    stamp_file = SHARED_ENV / ".repro-golden-stamp"
    stamp = _env_stamp()
    if python.exists() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        session.log(f"reusing {SHARED_ENV}")
        return str(python)
    start = time.perf_counter()
    if SHARED_ENV.exists():
        shutil.rmtree(SHARED_ENV)
    session.run(sys.executable, "-m", "venv", str(SHARED_ENV), external=True)
    # Byte-compile at install time (pip's default): with PYTHONDONTWRITEBYTECODE set, as
    # on some CI machines, nothing is cached later and every import would compile again.
    pip = (str(python), "-m", "pip", "install", "--disable-pip-version-check")
    session.run(*pip, *TORCH_PINS, "-e", f"{ROOT}[dev]", external=True)
    stamp_file.write_text(stamp)
    session.log(f"created {SHARED_ENV} in {time.perf_counter() - start:.0f} s")
    return str(python)


def _junit_counts(path: Path) -> tuple[int, int]:
    """(tests run, tests skipped) from a JUnit XML file pytest wrote."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return total, skipped


def _pytest(session: nox.Session, python: str, *args: str, junit: Path) -> tuple[int, int]:
    junit.parent.mkdir(parents=True, exist_ok=True)
    junit.unlink(missing_ok=True)
    session.run(python, "-m", "pytest", f"--junitxml={junit}", *args, external=True)
    return _junit_counts(junit)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite; fails when pytest collected or ran no test at all."""
    python = shared_python(session)
    args = session.posargs or ["-q"]
    total, skipped = _pytest(
        session,
        python,
        f"--golden-report-dir={REPORTS / 'tests'}",
        *args,
        junit=REPORTS / "junit-tests.xml",
    )
    if total == 0 or total == skipped:
        session.error(f"no test ran: {total} collected, {skipped} skipped")
    session.log(f"{total - skipped} tests ran, {skipped} skipped")


@nox.session
def golden_check(session: nox.Session) -> None:
    """Example case end to end on CPU: generate and verify inputs, predict, check golden files.

    Each step is the command a user would type; the report lands in
    ``reports/golden_check/`` (kept by CI as an artifact).
    """
    python = shared_python(session)
    cli = str(_bin("repro-golden"))
    work = ROOT / ".nox" / "golden_check"
    out = REPORTS / "golden_check"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    start = time.perf_counter()
    session.run(cli, "example", str(work), external=True)
    case_file = work / "case.yaml"
    embeddings = work / "embeddings.zarr"
    session.run(
        cli,
        "predict",
        str(case_file),
        "--device",
        "cpu",
        "--output",
        str(embeddings),
        "--overwrite",
        "--no-progress",
        external=True,
    )
    session.run(
        cli,
        "check",
        str(embeddings),
        "--golden",
        str(ROOT / "golden" / "example"),
        "--report",
        str(out / "report.json"),
        "--report",
        str(out / "report.md"),
        external=True,
    )
    session.log(f"golden_check passed in {time.perf_counter() - start:.0f} s ({python})")


@nox.session
def gpu_repro(session: nox.Session) -> None:
    """Cluster case on a GPU: full tensors vs the reference, golden files beside it and in golden/.

    Extra arguments go to pytest: ``-- --force-regen`` rewrites the reference
    and golden files that differ (on purpose), ``-- --golden-case example``
    runs the example case on the GPU and reports GPU-vs-CPU and GPU run-to-run
    differences. Without a CUDA device or the cluster files every test skips,
    the reasons are printed, and the session passes.
    """
    python = shared_python(session)
    args = list(session.posargs)
    if not any(a == "--golden-case" or a.startswith("--golden-case=") for a in args):
        args += ["--golden-case", "hpc"]
    total, skipped = _pytest(
        session,
        python,
        str(ROOT / "tests" / "test_inference_reproducibility.py"),
        "--golden-device=gpu",
        f"--golden-report-dir={REPORTS / 'gpu_repro'}",
        "-rs",
        *args,
        junit=REPORTS / "junit-gpu_repro.xml",
    )
    if total == 0:
        session.error("gpu_repro collected no test")
    if total == skipped:
        session.warn(f"gpu_repro: all {total} tests skipped (reasons above); nothing was compared")
    else:
        session.log(f"gpu_repro: {total - skipped} tests ran, {skipped} skipped")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, mypy on src."""
    shared_python(session)
    session.run(str(_bin("ruff")), "check", ".", external=True)
    session.run(str(_bin("ruff")), "format", "--check", ".", external=True)
    session.run(str(_bin("mypy")), "src", external=True)


def plugin_import_seconds(python: str, *, repeat: int = 7, after: str = "") -> float:
    """Best of ``repeat`` cumulative import times of the plugin module (``-X importtime``).

    ``after`` is imported first in the same process: ``"pytest"`` measures what
    the plugin adds to a pytest start-up (pytest itself is loaded by then).
    """
    code = (f"import {after}; " if after else "") + "import repro_golden.pytest_plugin"
    best = float("inf")
    for _ in range(repeat):
        result = subprocess.run(
            [python, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
        )
        match = re.search(r"\|\s*(\d+)\s*\|\s*repro_golden\.pytest_plugin\s*$", result.stderr, re.M)
        if match is None:
            raise RuntimeError(
                f"no import time for repro_golden.pytest_plugin in:\n{result.stderr}"
            )
        best = min(best, int(match.group(1)) / 1e6)
    return best


@nox.session
def bench(session: nox.Session) -> None:
    """Runs every ``benchmarks/*.py`` there is, then prints the plugin's import time."""
    python = shared_python(session)
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    if not scripts:
        session.log("no benchmarks/*.py to run")
    for script in scripts:
        session.run(python, str(script), *session.posargs, external=True)
    seconds = plugin_import_seconds(python)
    marginal = plugin_import_seconds(python, after="pytest")
    report = {
        "plugin_import_s": seconds,
        "plugin_import_after_pytest_s": marginal,
        "budget_s": PLUGIN_IMPORT_BUDGET_S,
    }
    REPORTS.mkdir(exist_ok=True)
    (REPORTS / "bench-plugin-import.json").write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"plugin import time: {seconds:.3f} s, pytest included (budget {PLUGIN_IMPORT_BUDGET_S} s);"
        f" {marginal:.3f} s on top of an imported pytest (best of 7, python -X importtime)"
    )
    if seconds >= PLUGIN_IMPORT_BUDGET_S:
        session.error(f"importing repro_golden.pytest_plugin took {seconds:.3f} s")
