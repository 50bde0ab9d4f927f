"""nox sessions: ``tests``, ``golden_check``, ``gpu_repro``, ``lint``, ``bench``.

All sessions share one virtual environment, ``.nox/shared``, created with the
standard library's ``venv`` by the Python running nox and filled with pip:
the project (editable) with its ``dev`` extras, and the pinned torch and
torchvision wheels. nox 2026.10 keys each environment by session name and has
no shared-location setting, so the sessions use ``venv_backend="none"`` and
this file manages the one environment itself. It is reinstalled only when
``pyproject.toml``, the pins or the Python version change (a stamp file
records what it was built from); delete ``.nox/shared`` to rebuild it.
``tests`` and ``bench`` also build ``.nox/viscy`` (the public VisCy 0.4.1, run
only in subprocesses as the reference for the parity tests and the input
benchmark) unless ``REPRO_GOLDEN_VISCY_PYTHON`` is set (empty: skip parity).

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
VISCY_ENV = ROOT / ".nox" / "viscy"
VISCY_PINS = ("viscy==0.4.1", "umap-learn==0.5.12")
VISCY_ENV_VAR = "REPRO_GOLDEN_VISCY_PYTHON"
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


def _ensure_env(
    session: nox.Session, location: Path, requirements: tuple[str, ...], *, project: bool
) -> str:
    """Create or reuse a pip-built virtual environment at ``location``; return its python.

    Reused as is when its stamp matches ``requirements``, this Python and (when
    ``project``) this ``pyproject.toml``; otherwise rebuilt from scratch with pip
    (not uv: the pinned torch wheels resolve from local files through pip's
    configuration).
    """
    scripts = "Scripts" if os.name == "nt" else "bin"
    python = location / scripts / "python"
    stamp_file = location / ".repro-golden-stamp"
    base = _env_stamp() if project else f"{sys.version}\n{ENV_RECIPE}"
    stamp = base + "\n" + " ".join(requirements)
    if python.exists() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        session.log(f"reusing {location}")
        return str(python)
    start = time.perf_counter()
    if location.exists():
        shutil.rmtree(location)
    session.run(sys.executable, "-m", "venv", str(location), external=True)
    pip = (str(python), "-m", "pip", "install", "--disable-pip-version-check")
    session.run(*pip, *requirements, external=True)
    stamp_file.write_text(stamp)
    session.log(f"created {location} in {time.perf_counter() - start:.0f} s")
    return str(python)


def shared_python(session: nox.Session) -> str:
    """The one environment every session runs in: this project (editable, dev extras) + torch."""
    return _ensure_env(session, SHARED_ENV, (*TORCH_PINS, "-e", f"{ROOT}[dev]"), project=True)


def viscy_python(session: nox.Session) -> str | None:
    """A Python with the public VisCy 0.4.1, for the parity tests, or None to skip them.

    ``REPRO_GOLDEN_VISCY_PYTHON`` wins when set (set it empty to skip the parity
    tests); otherwise ``.nox/viscy`` is built once (VisCy imports ``umap`` at
    import time, hence umap-learn) and reused. repro-golden itself never depends
    on viscy: this environment only runs the reference pipeline in subprocesses.
    """
    if VISCY_ENV_VAR in os.environ:
        return os.environ[VISCY_ENV_VAR] or None
    return _ensure_env(session, VISCY_ENV, (*TORCH_PINS, *VISCY_PINS), project=False)


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
    """The test suite, VisCy parity included; fails when pytest collected or ran no test at all."""
    python = shared_python(session)
    viscy = viscy_python(session)
    if viscy is not None:
        session.env[VISCY_ENV_VAR] = viscy
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
    code = (f"import {after}; " if after else "") + "import repro_golden.plugin.hooks"
    best = float("inf")
    for _ in range(repeat):
        result = subprocess.run(
            [python, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
        )
        match = re.search(r"\|\s*(\d+)\s*\|\s*repro_golden\.pytest_plugin\s*$", result.stderr, re.M)
        if match is None:
            raise RuntimeError(f"no import time for repro_golden.plugin.hooks in:\n{result.stderr}")
        best = min(best, int(match.group(1)) / 1e6)
    return best


@nox.session
def bench(session: nox.Session) -> None:
    """Runs every ``benchmarks/*.py`` there is, then prints the plugin's import time."""
    python = shared_python(session)
    viscy = viscy_python(session)
    if viscy is not None:
        session.env[VISCY_ENV_VAR] = viscy
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
        session.error(f"importing repro_golden.plugin.hooks took {seconds:.3f} s")
