"""pytest plugin: golden-file and reference checks for embeddings, case selection, markers.

Registered through the ``pytest11`` entry point, so every pytest start-up in a
project that installs repro-golden imports this module: it imports only the
standard library and pytest. Fixtures import their implementation
(:mod:`repro_golden.plugin.fixtures`, and through it numpy/zarr) when first used;
torch is imported only to answer whether a test marked ``gpu`` can run.

What it adds:

- fixtures ``golden_regression`` and ``embedding_regression`` built on
  pytest-regressions, so ``--force-regen`` and ``--regen-all`` mean what they
  mean there; golden files and references are never rewritten without them;
- options and ini settings for which cases run and where their files live
  (``--golden-case``, ``--golden-case-dir``, ``--golden-dir``,
  ``--golden-data-root``, ``--golden-report-dir``);
- the cluster paths (checkpoint, plate, tracks, reference) from environment
  variables ``REPRO_GOLDEN_HPC_CKPT``, ``..._DATA``, ``..._TRACKS``,
  ``..._REFERENCE``, or from a data root;
- a session summary (:mod:`repro_golden.plugin.session_summary`): one terminal
  line counting identical / within tolerance / consistent only / violated
  checks, and ``--golden-summary=html,json`` files merged across xdist workers;
- stale golden directories listed, failed on or deleted after a complete
  session (``--golden-unused``, :mod:`repro_golden.plugin.unused`);
- ``--golden-strict`` (ini ``golden_strict``): summary-only checks fail;
- markers ``gpu`` and ``hpc`` that skip with the exact reason;
- parametrization of any test that asks for ``golden_case_name`` over the
  selected cases (session-scoped, so per-case session fixtures run once);
- case files collected as tests under the ini ``golden_case_paths``
  (:mod:`repro_golden.plugin.collect`: items ``infer01``, ``infer02``, ``infer03``),
  and the fixtures ``golden_case`` and ``golden_prediction`` for Python tests, the
  prediction made once per case per session, across xdist workers too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from repro_golden.plugin.cluster import ClusterPath, ClusterPaths
from repro_golden.plugin.session_state import (
    cuda_unavailable_reason,
    golden_settings_of,
    skip_unless_cuda,
    store_settings,
)
from repro_golden.plugin.settings import GoldenSettings, add_options, resolve_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_datadir.plugin import LazyDataDir

    from repro_golden.plugin.fixtures import EmbeddingRegressionFixture, GoldenRegressionFixture
    from repro_golden.plugin.prediction_cache import Prediction
    from repro_golden.plugin.prepared import PreparedCase

__all__ = [
    "ClusterPath",
    "ClusterPaths",
    "GoldenSettings",
    "cuda_unavailable_reason",
    "golden_settings_of",
    "skip_unless_cuda",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gpu: needs a CUDA device; skipped with the reason when torch sees none.",
    )
    config.addinivalue_line(
        "markers",
        "hpc(*roles): needs the cluster case's files (roles among ckpt, data, tracks, "
        "reference; all when none given); skipped naming each missing path.",
    )
    settings = resolve_settings(config, os.environ)
    store_settings(config, settings)
    from repro_golden.plugin import session_summary, stop_signals, unused

    stop_signals.configure(config)

    assert settings.summary_dir is not None
    session_summary.configure(config, settings.summary_formats, settings.summary_dir)
    unused.configure(config, settings)


def pytest_runtest_setup(item: pytest.Item) -> None:
    hpc = item.get_closest_marker("hpc")
    if hpc is not None:
        roles = [str(arg) for arg in hpc.args] or None
        reasons = golden_settings_of(item.config).cluster.missing(roles)
        if reasons:
            pytest.skip("hpc: " + "; ".join(reasons))
    if item.get_closest_marker("gpu") is not None:
        skip_unless_cuda(item.config)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """A case file under the ini ``golden_case_paths`` becomes a test file (see ``collect``)."""
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    if not golden_settings_of(parent.config).collects(file_path.resolve()):
        return None
    from repro_golden.plugin.collect import CaseFile, is_case_file

    if not is_case_file(file_path):
        return None
    return CaseFile.from_parent(parent, path=file_path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "golden_case_name" in metafunc.fixturenames:
        cases = golden_settings_of(metafunc.config).cases
        metafunc.parametrize("golden_case_name", cases, ids=list(cases), scope="session")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """One line, and only in projects that configured cases, a golden root or cluster files."""
    settings = golden_settings_of(config)
    if not settings.active:
        return []
    cases = ", ".join(settings.cases) or "none"
    root = settings.cluster.root if settings.cluster.root is not None else "not configured"
    return [
        f"repro-golden: cases {cases}; golden files in {settings.golden_root}; cluster root {root}"
    ]


@pytest.fixture(scope="session")
def golden_settings(pytestconfig: pytest.Config) -> GoldenSettings:
    """The resolved options: cases, case dirs, golden root, report dir, cluster paths."""
    return golden_settings_of(pytestconfig)


@pytest.fixture
def golden_report_dir(golden_settings: GoldenSettings, tmp_path: Path) -> Path:
    """Where this test's check reports go: ``--golden-report-dir`` or the test's tmp_path."""
    return golden_settings.report_dir if golden_settings.report_dir is not None else tmp_path


@pytest.fixture
def golden_regression(
    lazy_datadir: LazyDataDir,
    original_datadir: Path,
    request: pytest.FixtureRequest,
    golden_settings: GoldenSettings,
    golden_report_dir: Path,
    tmp_path: Path,
) -> GoldenRegressionFixture:
    """Check an embeddings AnnData zarr against golden files (hybrid digest/summary check).

    ``golden_regression.check(embeddings, golden_dir=None, tolerance=None, reference=None)``:
    equal digests pass at once; otherwise the per-FOV summaries (and the full
    ``reference`` tensors, when given) decide and the failure explains where.
    A missing golden directory fails and is written; ``--force-regen`` rewrites
    golden files that differ; ``--regen-all`` rewrites them all and passes.
    The golden directory defaults to ``<golden root>/<case>`` when ``--golden-dir`` (or
    ini ``golden_dir``) is set and the test's case is known (its ``golden_case_name``
    parameter, or the single ``--golden-case``), else to
    ``<test module dir>/<module>/<test name>.golden``.
    """
    from repro_golden.plugin.fixtures import GoldenRegressionFixture

    case_name = _case_of(request, golden_settings)
    return GoldenRegressionFixture(
        datadir=lazy_datadir,
        original_datadir=original_datadir,
        request=request,
        report_dir=golden_report_dir,
        work_dir=tmp_path,
        max_rows=golden_settings.max_rows,
        golden_strict=golden_settings.strict,
        case_name=case_name,
        default_golden_dir=(
            golden_settings.golden_dir(case_name)
            if golden_settings.golden_root_configured and case_name is not None
            else None
        ),
    )


def _case_of(request: pytest.FixtureRequest, settings: GoldenSettings) -> str | None:
    """The case a test runs: its ``golden_case_name`` parameter, else the one selected case."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and "golden_case_name" in callspec.params:
        return str(callspec.params["golden_case_name"])
    return settings.cases[0] if len(settings.cases) == 1 else None


@pytest.fixture
def embedding_regression(
    lazy_datadir: LazyDataDir,
    original_datadir: Path,
    request: pytest.FixtureRequest,
    golden_settings: GoldenSettings,
    golden_report_dir: Path,
    tmp_path: Path,
) -> EmbeddingRegressionFixture:
    """Check an embeddings AnnData zarr against a full reference zarr, within tolerances.

    ``embedding_regression.check(embeddings, reference=None, tolerance=None)``.
    A missing reference fails and the obtained store is copied there;
    ``--force-regen`` replaces a reference that differs; ``--regen-all``
    replaces it and passes. The reference defaults to
    ``<test module dir>/<module>/<test name>.zarr``.
    """
    from repro_golden.plugin.fixtures import EmbeddingRegressionFixture

    return EmbeddingRegressionFixture(
        datadir=lazy_datadir,
        original_datadir=original_datadir,
        request=request,
        report_dir=golden_report_dir,
        work_dir=tmp_path,
        max_rows=golden_settings.max_rows,
    )


@pytest.fixture
def golden_case(pytestconfig: pytest.Config) -> Callable[[str | Path], PreparedCase]:
    """``golden_case(name_or_path)``: the prepared case, loaded once per session.

    A name is looked up as ``<case dir>/<name>.yaml`` (``--golden-case-dir``, ini
    ``golden_case_dirs``); a path (relative to the rootdir) is used as given. The
    test skips, naming every unset variable, missing path and absent CUDA device,
    when the case cannot run here.
    """

    def prepared(name: str | Path) -> PreparedCase:
        from repro_golden.plugin.prepared import prepare_case

        settings = golden_settings_of(pytestconfig)
        path = Path(name)
        if path.suffix not in (".yaml", ".yml"):
            found = settings.case_file(str(name))
            if found is None:
                dirs = ", ".join(str(d) for d in settings.case_dirs)
                pytest.fail(f"case {name!r}: no {name}.yaml in the case directories ({dirs})")
            path = found
        elif not path.is_absolute():
            path = settings.rootpath / path
        return prepare_case(pytestconfig, path)

    return prepared


@pytest.fixture
def golden_prediction(
    pytestconfig: pytest.Config,
) -> Callable[[PreparedCase], Prediction]:
    """``golden_prediction(prepared_case)``: its prediction, made once per case per session.

    Shared by every test and every xdist worker of the session; a failed run is
    the test's failure, with the pipeline's own verdict (INFER-01 or INFER-02).
    """

    def prediction(prepared: PreparedCase) -> Prediction:
        from repro_golden.plugin.prediction_cache import predict_once

        made = predict_once(pytestconfig, prepared)
        if made.failure is not None:
            pytest.fail(made.failure, pytrace=False)
        return made

    return prediction
