"""nox sessions: ``tests``, ``lab``, ``golden_check``, ``gpu_repro``, ``lint``, ``bench``.

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
benchmark) unless ``REPRO_GOLDEN_VISCY_PYTHON`` is set (empty: skip parity),
and ``.nox/modular`` (the lab's modular packages, viscy-data/-models/-transforms/
-utils 0.1.0, on Python 3.12: their Requires-Python) unless
``REPRO_GOLDEN_MODULAR_PYTHON`` is set (empty: skip the modular parity tests).
``lab`` (which ``tests`` runs after itself) builds ``.nox/lab``: Python 3.13 (3.12
where no 3.13 is found) with the modular packages and repro-golden installed
*into* it, as the lab installs it, and runs the lab-style folder ``tests/lab``
(case files, a predict config, one ini line, the viscy-data recipe module)
with plain ``pytest`` there; ``REPRO_GOLDEN_LAB_PYTHON`` names another such
interpreter (empty: skip the session).

Usage::

    python3 -m nox -s tests                    # the test suite, then lab (what CI runs)
    python3 -m nox -s lab                      # the lab's adoption, end to end on Python 3.13
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
MODULAR_ENV = ROOT / ".nox" / "modular"
MODULAR_PINS = (
    "viscy-data==0.1.0",
    "viscy-models==0.1.0",
    "viscy-transforms==0.1.0",
    # anndata is an extra of viscy-utils; without it EmbeddingWriter fails at the end of a run.
    "viscy-utils[anndata]==0.1.0",
    "jsonargparse[signatures]",
)
MODULAR_ENV_VAR = "REPRO_GOLDEN_MODULAR_PYTHON"
#: The modular packages require Python >= 3.12.
MODULAR_MIN_PYTHON = (3, 12)
LAB_ENV = ROOT / ".nox" / "lab"
LAB_ENV_VAR = "REPRO_GOLDEN_LAB_PYTHON"
#: The lab's CI runs 3.12 and 3.13; the newest that is found here is used.
LAB_PYTHONS = ((3, 13), (3, 12))
LAB_FOLDER = ROOT / "tests" / "lab"
LAB_WORK = ROOT / ".nox" / "lab-work"
#: dynaclr is not on PyPI: the suite's test-only stand-in is installed as ``dynaclr.engine``.
DYNACLR_STANDIN = ROOT / "tests" / "parity" / "modular_lab" / "standin_dynaclr.py"
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


def _python_version(interpreter: str) -> str:
    """``sys.version`` of ``interpreter`` (this one's without a subprocess)."""
    if interpreter == sys.executable:
        return sys.version
    result = subprocess.run(
        [interpreter, "-c", "import sys; print(sys.version)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def _ensure_env(
    session: nox.Session,
    location: Path,
    requirements: tuple[str, ...],
    *,
    project: bool,
    interpreter: str = sys.executable,
) -> str:
    """Create or reuse a pip-built virtual environment at ``location``; return its python.

    Reused as is when its stamp matches ``requirements``, the ``interpreter``
    that creates it (default: this one) and (when ``project``) this
    ``pyproject.toml``; otherwise rebuilt from scratch with pip (not uv: the
    pinned torch wheels resolve from local files through pip's configuration).
    """
    scripts = "Scripts" if os.name == "nt" else "bin"
    python = location / scripts / "python"
    stamp_file = location / ".repro-golden-stamp"
    base = _env_stamp() if project else f"{_python_version(interpreter)}\n{ENV_RECIPE}"
    stamp = base + "\n" + " ".join(requirements)
    if python.exists() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        session.log(f"reusing {location}")
        return str(python)
    start = time.perf_counter()
    if location.exists():
        shutil.rmtree(location)
    session.run(interpreter, "-m", "venv", str(location), external=True)
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


def _python_at_least(candidate: str, version: tuple[int, int]) -> bool:
    """Whether ``candidate`` starts and is at least ``version`` (a pyenv shim may not start)."""
    check = f"import sys; sys.exit(0 if sys.version_info >= {version!r} else 1)"
    try:
        result = subprocess.run([candidate, "-c", check], capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


def find_python(version: tuple[int, int]) -> tuple[str | None, list[str]]:
    """An interpreter of at least ``version``, and what was tried.

    Tried in order: this interpreter; ``pythonX.Y`` on PATH (a pyenv shim
    fails when pyenv's global version is another one, hence each candidate is
    started); the interpreters under ``$PYENV_ROOT/versions/X.Y*`` (default
    ``~/.pyenv``), newest first.
    """
    name = "python{}.{}".format(*version)
    tried: list[str] = []
    if sys.version_info >= version:
        return sys.executable, tried
    candidates: list[str] = []
    on_path = shutil.which(name)
    if on_path:
        candidates.append(on_path)
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installed = sorted((root / "versions").glob("{}.{}*".format(*version)), reverse=True)
    candidates += [str(path / "bin" / name) for path in installed]
    for candidate in candidates:
        tried.append(candidate)
        if Path(candidate).exists() and _python_at_least(candidate, version):
            return candidate, tried
    return None, tried


def modular_python(session: nox.Session) -> str | None:
    """A Python 3.12 env with the lab's modular packages, or None to skip their tests.

    ``REPRO_GOLDEN_MODULAR_PYTHON`` wins when set (empty: skip); otherwise
    ``.nox/modular`` is built once with a Python >= 3.12 (pyenv's, found by
    :func:`find_python`) and reused; without one the tests skip and the
    session says why.
    """
    if MODULAR_ENV_VAR in os.environ:
        return os.environ[MODULAR_ENV_VAR] or None
    interpreter, tried = find_python(MODULAR_MIN_PYTHON)
    if interpreter is None:
        session.warn(
            "no Python >= {}.{} found (tried: {}); the modular parity tests skip".format(
                *MODULAR_MIN_PYTHON, ", ".join(tried) or "nothing"
            )
        )
        return None
    return _ensure_env(
        session,
        MODULAR_ENV,
        (*TORCH_PINS, *MODULAR_PINS),
        project=False,
        interpreter=interpreter,
    )


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
    session.env[VISCY_ENV_VAR] = viscy or ""
    session.env[MODULAR_ENV_VAR] = modular_python(session) or ""
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
    if os.environ.get(LAB_ENV_VAR, None) != "":
        session.notify("lab")


def lab_python(session: nox.Session) -> str:
    """Python 3.13 (else 3.12) with torch, the modular packages and repro-golden installed in it.

    ``REPRO_GOLDEN_LAB_PYTHON`` names an interpreter to use instead (repro-golden
    and the dynaclr stand-in's ``.pth`` are installed into it all the same).
    ``.nox/lab`` is built once and reused;
    repro-golden itself is reinstalled from this checkout at every run (a
    wheel, not editable: the lab installs a release).
    """
    python = os.environ.get(LAB_ENV_VAR)
    if not python:
        tried: list[str] = []
        interpreter = None
        for version in LAB_PYTHONS:
            interpreter, more = find_python(version)
            tried += more
            if interpreter is not None:
                break
        if interpreter is None:
            session.error(f"lab: no Python 3.13 or 3.12 found (tried: {', '.join(tried)})")
        requirements = (*TORCH_PINS, *MODULAR_PINS, "pytest-xdist", str(ROOT))
        python = _ensure_env(session, LAB_ENV, requirements, project=False, interpreter=interpreter)
    pip = (python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet")
    session.run(*pip, str(ROOT), external=True)  # new dependencies, if any
    session.run(*pip, "--no-deps", "--force-reinstall", str(ROOT), external=True)
    _install_dynaclr_standin(session, python)
    return python


def _install_dynaclr_standin(session: nox.Session, python: str) -> None:
    """``dynaclr.engine.ContrastiveModule`` importable in the lab env, as the lab's is."""
    site = LAB_WORK.parent / "lab-site"
    package = site / "dynaclr"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text('"""Test-only stand-in for the lab\'s dynaclr."""\n')
    shutil.copyfile(DYNACLR_STANDIN, package / "engine.py")
    purelib = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "repro_golden_lab_dynaclr.pth").write_text(f"{site}\n")
    session.log(f"dynaclr stand-in importable from {site}")


def _junit_outcomes(path: Path) -> dict[str, object]:
    """Counts and the skip messages of a JUnit XML file pytest wrote."""
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    failed = [c for c in cases if c.find("failure") is not None or c.find("error") is not None]
    skipped = [c for c in cases if c.find("skipped") is not None]
    texts = []
    for case in failed:
        node = case.find("failure")
        node = node if node is not None else case.find("error")
        texts.append(f"{case.get('name')}: {'' if node is None else node.text or ''}")
    return {
        "failure_texts": texts,
        "total": len(cases),
        "failed": sorted(c.get("name", "") for c in failed),
        "skipped": len(skipped),
        "skip_messages": [c.find("skipped").get("message", "") for c in skipped],  # type: ignore[union-attr]
        "passed": len(cases) - len(failed) - len(skipped),
    }


def _lab_run(
    session: nox.Session,
    python: str,
    label: str,
    *args: str,
    example: Path,
    fails: bool = False,
) -> dict[str, object]:
    """Plain ``pytest`` in the lab folder, its example inputs at ``example``; the outcomes."""
    junit = LAB_WORK / f"junit-{label}.xml"
    start = time.perf_counter()
    with session.chdir(LAB_WORK / "lab"):
        session.run(
            python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-rs",
            f"--junitxml={junit}",
            *args,
            external=True,
            env={"DYNACLR_EXAMPLE": str(example)},
            success_codes=[1] if fails else [0],
        )
    outcomes = _junit_outcomes(junit)
    counts = {k: v for k, v in outcomes.items() if k not in ("skip_messages", "failure_texts")}
    session.log(f"lab {label}: {counts} in {time.perf_counter() - start:.0f} s")
    return outcomes


def _expect(session: nox.Session, label: str, outcomes: dict[str, object], **want: object) -> None:
    got = {key: outcomes[key] for key in want}
    if got != want:
        session.error(f"lab {label}: expected {want}, got {got}")


@nox.session
def lab(session: nox.Session) -> None:
    """The lab's adoption end to end: a folder of case files run by plain pytest on Python 3.13.

    ``tests/lab`` is copied out of the repository and run as the lab runs it,
    in the interpreter that holds their packages and repro-golden: one recorded
    regen (``--regen-all``), then it passes; ``-n 2`` predicts once per case;
    a planted weight change and two swapped FOVs fail INFER-03; a projection
    head the checkpoint lacks fails INFER-01 with the keys listed and nothing
    predicted; the cluster case skips, naming each missing path. Inputs:
    ``repro-golden example``.
    """
    if os.environ.get(LAB_ENV_VAR, None) == "":
        session.skip(f"{LAB_ENV_VAR} is set empty")
    start = time.perf_counter()
    python = lab_python(session)
    built = time.perf_counter() - start
    shutil.rmtree(LAB_WORK, ignore_errors=True)
    LAB_WORK.mkdir(parents=True)
    shutil.copytree(LAB_FOLDER, LAB_WORK / "lab")
    example = LAB_WORK / "example"
    session.run(python, "-m", "repro_golden", "example", str(example), external=True)

    regen = _lab_run(session, python, "regen", "--regen-all", example=example)
    _expect(session, "regen", regen, passed=3, failed=[], skipped=3)
    if not (LAB_WORK / "lab" / "golden" / "dynaclr_example" / "golden.json").is_file():
        session.error("lab regen: no golden files at golden/dynaclr_example")
    plain = _lab_run(session, python, "pass", example=example)
    _expect(session, "pass", plain, passed=3, failed=[], skipped=3)
    reasons = " ".join(map(str, plain["skip_messages"]))  # type: ignore[call-overload]
    for role in ("checkpoint", "image plate", "tracks", "reference embeddings"):
        if f"{role} /hpc/" not in reasons:
            session.error(f"lab pass: the cluster case's skip does not name its {role}: {reasons}")

    basetemp = LAB_WORK / "xdist-basetemp"
    xdist = _lab_run(session, python, "xdist", "-n", "2", f"--basetemp={basetemp}", example=example)
    _expect(session, "xdist", xdist, passed=3, failed=[], skipped=3)
    log = basetemp / "repro-golden-predictions" / "predictions.log"
    made = [json.loads(line) for line in log.read_text().splitlines() if line]
    if [m["case"] for m in made] != ["dynaclr_example"]:
        session.error(f"lab xdist: expected one prediction of dynaclr_example, got {made}")

    planted = LAB_WORK / "planted-weight"
    shutil.copytree(example, planted)
    session.run(
        python,
        "-c",
        "import sys, torch; path = sys.argv[1]; "
        "ckpt = torch.load(path, map_location='cpu', weights_only=True); "
        "weights = ckpt['state_dict']['model.projection.0.weight']; weights[0, 0] += 1e-3; "
        "torch.save(ckpt, path)",
        str(planted / "model.ckpt"),
        external=True,
    )
    weight = _lab_run(session, python, "planted-weight", example=planted, fails=True)
    _expect(session, "planted-weight", weight, failed=["infer03"], passed=2)

    swapped = LAB_WORK / "swapped-fov"
    shutil.copytree(example, swapped)
    first, second = (
        swapped / "plate.zarr" / "A" / "1" / "0" / "0",
        swapped / "plate.zarr" / "A" / "1" / "1" / "0",
    )
    first.rename(swapped / "fov-a")
    second.rename(first)
    (swapped / "fov-a").rename(second)
    swap = _lab_run(session, python, "swapped-fov", example=swapped, fails=True)
    _expect(session, "swapped-fov", swap, failed=["infer03"], passed=2)

    # A projection head the checkpoint does not have: INFER-01 lists the keys, nothing predicted.
    config = LAB_WORK / "lab" / "golden_cases" / "dynaclr_example_predict.yml"
    config.write_text(config.read_text().replace("projection_dim: 32", "projection_dim: 64"))
    head = _lab_run(session, python, "projection-head", example=example, fails=True)
    _expect(session, "projection-head", head, failed=["infer01", "infer02", "infer03"])
    infer01 = str(head["failure_texts"])
    if "shape-mismatched: model.projection" not in infer01 or "not reached" not in infer01:
        session.error(f"lab projection-head: no INFER-01 listing of the head: {infer01}")
    session.log(
        f"lab passed in {time.perf_counter() - start:.0f} s (environment {built:.0f} s; {python})"
    )


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
        # The cluster case by the builtin, and by the lab's own modular pipeline.
        args += ["--golden-case", "hpc,hpc_modular"]
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
        match = re.search(r"\|\s*(\d+)\s*\|\s*repro_golden\.plugin\.hooks\s*$", result.stderr, re.M)
        if match is None:
            raise RuntimeError(f"no import time for repro_golden.plugin.hooks in:\n{result.stderr}")
        best = min(best, int(match.group(1)) / 1e6)
    return best


@nox.session
def bench(session: nox.Session) -> None:
    """Runs every ``benchmarks/*.py`` there is, then prints the plugin's import time."""
    python = shared_python(session)
    session.env[VISCY_ENV_VAR] = viscy_python(session) or ""
    session.env[MODULAR_ENV_VAR] = modular_python(session) or ""
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
