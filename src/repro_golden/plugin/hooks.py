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
- markers ``gpu`` and ``hpc`` that skip with the exact reason;
- parametrization of any test that asks for ``golden_case_name`` over the
  selected cases (session-scoped, so per-case session fixtures run once).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_datadir.plugin import LazyDataDir

    from repro_golden.plugin.fixtures import EmbeddingRegressionFixture, GoldenRegressionFixture

#: Lab default for the root of the cluster case's files (override with
#: ``--golden-data-root``, ini ``golden_data_root`` or ``REPRO_GOLDEN_HPC_ROOT``).
DEFAULT_HPC_ROOT = "/hpc/projects/intracellular_dashboard/repro_golden"

DEFAULT_CASES = ("example", "hpc")


@dataclass(frozen=True)
class ClusterPath:
    """One cluster input: its role, where it is expected, and what decided that."""

    role: str
    env_var: str
    path: Path
    origin: str

    def missing_reason(self) -> str | None:
        """``None`` when the path exists, else a sentence naming it and how to set it."""
        if self.path.exists():
            return None
        return (
            f"{self.role} {self.path} does not exist (from {self.origin}; "
            f"set {self.env_var} or --golden-data-root)"
        )


#: role -> (environment variable, file name under the data root)
_HPC_LAYOUT: Mapping[str, tuple[str, str]] = {
    "ckpt": ("REPRO_GOLDEN_HPC_CKPT", "model.ckpt"),
    "data": ("REPRO_GOLDEN_HPC_DATA", "plate.zarr"),
    "tracks": ("REPRO_GOLDEN_HPC_TRACKS", "tracks.zarr"),
    "reference": ("REPRO_GOLDEN_HPC_REFERENCE", "reference.zarr"),
}

_HPC_ROLE_NAMES: Mapping[str, str] = {
    "ckpt": "checkpoint",
    "data": "image plate",
    "tracks": "tracks",
    "reference": "reference embeddings",
}


@dataclass(frozen=True)
class ClusterPaths:
    """The cluster case's inputs, resolved once per session.

    Each path comes from its environment variable when set, else from
    ``<data root>/<default name>``; the data root comes from
    ``--golden-data-root``, ini ``golden_data_root``, ``REPRO_GOLDEN_HPC_ROOT``
    or :data:`DEFAULT_HPC_ROOT`, in that order.
    """

    root: Path
    paths: Mapping[str, ClusterPath]

    @classmethod
    def resolve(cls, root: Path, root_origin: str, environ: Mapping[str, str]) -> ClusterPaths:
        paths: dict[str, ClusterPath] = {}
        for role, (env_var, name) in _HPC_LAYOUT.items():
            value = environ.get(env_var, "")
            if value:
                path, origin = Path(value).expanduser(), f"${env_var}"
            else:
                path, origin = root / name, root_origin
            paths[role] = ClusterPath(_HPC_ROLE_NAMES[role], env_var, path, origin)
        return cls(root=root, paths=paths)

    def environ(self) -> dict[str, str]:
        """Environment variables a case file can expand (``${REPRO_GOLDEN_HPC_CKPT}`` ...)."""
        env = {"REPRO_GOLDEN_HPC_ROOT": str(self.root)}
        env.update({p.env_var: str(p.path) for p in self.paths.values()})
        return env

    def missing(self, roles: Sequence[str] | None = None) -> list[str]:
        """Reasons for each missing path among ``roles`` (all when ``None``)."""
        selected = list(self.paths) if roles is None else list(roles)
        unknown = sorted(set(selected) - set(self.paths))
        if unknown:
            raise pytest.UsageError(
                f"hpc marker: unknown cluster path roles {unknown}; expected some of "
                f"{sorted(self.paths)}"
            )
        reasons = (self.paths[role].missing_reason() for role in selected)
        return [reason for reason in reasons if reason is not None]


@dataclass(frozen=True)
class GoldenSettings:
    """Everything the plugin's options decide, resolved once per session."""

    rootpath: Path
    cases: tuple[str, ...]
    case_dirs: tuple[Path, ...]
    golden_root: Path
    report_dir: Path | None
    cluster: ClusterPaths
    device: str | None = None
    max_rows: int = 20

    def golden_dir(self, case_name: str) -> Path:
        """``<golden root>/<case>``: where a case's golden files live in the repo."""
        from repro_golden.core.atomic import safe_component  # a name, never a path out of the root

        return self.golden_root / safe_component(case_name, what="case name", key="case")

    def case_file(self, case_name: str) -> Path | None:
        """The first ``<case dir>/<name>.yaml`` (or ``.yml``) that exists, else ``None``."""
        for directory in self.case_dirs:
            for suffix in (".yaml", ".yml"):
                candidate = directory / f"{case_name}{suffix}"
                if candidate.is_file():
                    return candidate
        return None


_SETTINGS_KEY = pytest.StashKey[GoldenSettings]()
_CUDA_KEY = pytest.StashKey[str | None]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("repro-golden", "golden embeddings (repro-golden)")
    group.addoption(
        "--golden-case",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="Case(s) to run, repeatable or comma-separated (default: ini golden_cases, "
        "else 'example,hpc').",
    )
    group.addoption(
        "--golden-case-dir",
        action="append",
        default=[],
        metavar="DIR",
        help="Directory holding <case>.yaml case files, repeatable (default: ini "
        "golden_case_dirs, else tests/cases).",
    )
    group.addoption(
        "--golden-dir",
        default=None,
        metavar="DIR",
        help="Root of the repo's golden files, one folder per case (default: ini "
        "golden_dir, else 'golden').",
    )
    group.addoption(
        "--golden-data-root",
        default=None,
        metavar="DIR",
        help="Root of the cluster case's files (model.ckpt, plate.zarr, tracks.zarr, "
        "reference.zarr); each may be overridden by REPRO_GOLDEN_HPC_CKPT, _DATA, _TRACKS, "
        f"_REFERENCE (default: ini golden_data_root, $REPRO_GOLDEN_HPC_ROOT, {DEFAULT_HPC_ROOT}).",
    )
    group.addoption(
        "--golden-report-dir",
        default=None,
        metavar="DIR",
        help="Write a JSON and a Markdown report of every golden/embedding check here "
        "(default: ini golden_report_dir; unset: reports go to each test's tmp_path).",
    )
    group.addoption(
        "--golden-device",
        default=None,
        metavar="DEVICE",
        choices=("cpu", "gpu"),
        help="Device the reproducibility tests predict on (default: each case's trainer "
        "settings). 'gpu' skips those tests, with the reason, where no CUDA device is present.",
    )
    group.addoption(
        "--golden-max-rows",
        type=int,
        default=None,
        metavar="N",
        help="Rows in the failure table of worst FOVs and rows (default 20).",
    )
    parser.addini("golden_cases", "Cases to run when --golden-case is not given.", type="args")
    parser.addini(
        "golden_case_dirs", "Directories holding <case>.yaml files.", type="paths", default=[]
    )
    parser.addini("golden_dir", "Root of the golden files, one folder per case.", default="")
    parser.addini("golden_data_root", "Root of the cluster case's files.", default="")
    parser.addini("golden_report_dir", "Where check reports are written.", default="")


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
    config.stash[_SETTINGS_KEY] = _resolve_settings(config, os.environ)


def _split_names(values: Sequence[str]) -> tuple[str, ...]:
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                    raise pytest.UsageError(
                        f"--golden-case: {name!r} is not a case name (letters, digits, '_.-')"
                    )
                names.append(name)
    return tuple(names)


def _resolve_settings(config: pytest.Config, environ: Mapping[str, str]) -> GoldenSettings:
    """Options win over ini settings, which win over environment variables and defaults.

    Relative paths in options resolve against the directory pytest was invoked
    from; relative paths in ini settings against the ini file's directory.
    """
    rootpath = config.rootpath
    invocation_dir = config.invocation_params.dir
    ini_dir = config.inipath.parent if config.inipath is not None else rootpath

    def resolve(value: str, base: Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path

    def option_or_ini(option: str, ini: str) -> tuple[Path | None, str]:
        if config.getoption(option):
            return resolve(config.getoption(option), invocation_dir), "--" + option.replace(
                "_", "-"
            )
        if config.getini(ini):
            return resolve(config.getini(ini), ini_dir), f"ini {ini}"
        return None, ""

    cases = _split_names(config.getoption("golden_case")) or _split_names(
        config.getini("golden_cases")
    )
    case_dirs_opt: list[str] = config.getoption("golden_case_dir")
    ini_case_dirs: list[Path] = config.getini("golden_case_dirs")
    if case_dirs_opt:
        case_dirs = tuple(resolve(d, invocation_dir) for d in case_dirs_opt)
    elif ini_case_dirs:
        case_dirs = tuple(ini_case_dirs)
    else:
        case_dirs = (rootpath / "tests" / "cases",)
    golden_root, _ = option_or_ini("golden_dir", "golden_dir")
    report_dir, _ = option_or_ini("golden_report_dir", "golden_report_dir")

    root, origin = option_or_ini("golden_data_root", "golden_data_root")
    if root is None and environ.get("REPRO_GOLDEN_HPC_ROOT"):
        root, origin = Path(environ["REPRO_GOLDEN_HPC_ROOT"]).expanduser(), "$REPRO_GOLDEN_HPC_ROOT"
    if root is None:
        root, origin = Path(DEFAULT_HPC_ROOT), "the lab default root"
    max_rows = config.getoption("golden_max_rows")
    return GoldenSettings(
        rootpath=rootpath,
        cases=cases or DEFAULT_CASES,
        case_dirs=case_dirs,
        golden_root=golden_root if golden_root is not None else rootpath / "golden",
        report_dir=report_dir,
        cluster=ClusterPaths.resolve(root, origin, environ),
        device=config.getoption("golden_device"),
        max_rows=20 if max_rows is None else max_rows,
    )


def golden_settings_of(config: pytest.Config) -> GoldenSettings:
    """The session's resolved :class:`GoldenSettings` (for conftest files and helpers)."""
    return config.stash[_SETTINGS_KEY]


def cuda_unavailable_reason(config: pytest.Config) -> str | None:
    """Why no CUDA device can be used, or ``None``; asks torch once per session."""
    if _CUDA_KEY not in config.stash:
        config.stash[_CUDA_KEY] = _probe_cuda()
    return config.stash[_CUDA_KEY]


def skip_unless_cuda(config: pytest.Config) -> None:
    """Skip the running test, saying why, when no CUDA device can be used."""
    reason = cuda_unavailable_reason(config)
    if reason is not None:
        pytest.skip(f"gpu: {reason}")


def _probe_cuda() -> str | None:
    try:
        import torch
    except ImportError as exc:
        return f"no CUDA device: torch cannot be imported ({exc})"
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (CPU-only build)"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = "" if visible is None else f", CUDA_VISIBLE_DEVICES={visible!r}"
        return (
            f"no CUDA device: torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, CUDA build {build}{hint})"
        )
    return None


def pytest_runtest_setup(item: pytest.Item) -> None:
    hpc = item.get_closest_marker("hpc")
    if hpc is not None:
        roles = [str(arg) for arg in hpc.args] or None
        reasons = golden_settings_of(item.config).cluster.missing(roles)
        if reasons:
            pytest.skip("hpc: " + "; ".join(reasons))
    if item.get_closest_marker("gpu") is not None:
        skip_unless_cuda(item.config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "golden_case_name" in metafunc.fixturenames:
        cases = golden_settings_of(metafunc.config).cases
        metafunc.parametrize("golden_case_name", cases, ids=list(cases), scope="session")


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = golden_settings_of(config)
    return [
        f"repro-golden: cases {', '.join(settings.cases)}; golden files in {settings.golden_root}; "
        f"cluster root {settings.cluster.root}"
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
    The golden directory defaults to ``<test module dir>/<module>/<test name>.golden``.
    """
    from repro_golden.plugin.fixtures import GoldenRegressionFixture

    return GoldenRegressionFixture(
        datadir=lazy_datadir,
        original_datadir=original_datadir,
        request=request,
        report_dir=golden_report_dir,
        work_dir=tmp_path,
        max_rows=golden_settings.max_rows,
    )


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
