"""The plugin's options and ini settings, resolved once per session into :class:`GoldenSettings`.

Options win over ini settings, which win over environment variables and
defaults. Relative paths in options resolve against the directory pytest was
invoked from; relative paths in ini settings against the ini file's directory.
A project that configures nothing gets no cases and no header line: the plugin
stays silent where it is merely installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from repro_golden.core.names import safe_component
from repro_golden.errors import ConfigError
from repro_golden.plugin.cluster import ROOT_ENV_VAR, ClusterPaths

#: The case directory used when none is configured, relative to pytest's rootdir.
DEFAULT_CASE_DIR = Path("tests") / "cases"
#: The golden root used when none is configured, relative to pytest's rootdir.
DEFAULT_GOLDEN_DIR = Path("golden")


@dataclass(frozen=True)
class GoldenSettings:
    """Everything the plugin's options decide, resolved once per session.

    ``golden_root_configured`` says whether ``--golden-dir`` or ini
    ``golden_dir`` chose ``golden_root``: only then do the fixtures place a
    case's golden files under it (``<golden root>/<case>``) by default.
    """

    rootpath: Path
    cases: tuple[str, ...]
    case_dirs: tuple[Path, ...]
    golden_root: Path
    report_dir: Path | None
    cluster: ClusterPaths
    device: str | None = None
    max_rows: int = 20
    golden_root_configured: bool = False
    strict: bool = False
    summary_formats: tuple[str, ...] = ()
    summary_dir: Path | None = None
    unused: str = "warn"
    #: Files and folders whose case files pytest collects as tests (ini ``golden_case_paths``).
    case_paths: tuple[Path, ...] = ()

    @property
    def active(self) -> bool:
        """Whether this project configured anything (cases, golden root, cluster files)."""
        return (
            bool(self.cases)
            or bool(self.case_paths)
            or self.golden_root_configured
            or self.cluster.configured
        )

    def collects(self, path: Path) -> bool:
        """Whether ``path`` lies in (or is) one of the ``golden_case_paths``."""
        return any(path == root or root in path.parents for root in self.case_paths)

    def golden_dir(self, case_name: str) -> Path:
        """``<golden root>/<case>``: where a case's golden files live in the repo."""
        return self.golden_root / safe_component(case_name, what="case name", key="case")

    def case_file(self, case_name: str) -> Path | None:
        """The first ``<case dir>/<name>.yaml`` (or ``.yml``) that exists, else ``None``."""
        for directory in self.case_dirs:
            for suffix in (".yaml", ".yml"):
                candidate = directory / f"{case_name}{suffix}"
                if candidate.is_file():
                    return candidate
        return None


def add_options(parser: pytest.Parser) -> None:
    """Register the command-line options and ini settings (called from ``pytest_addoption``)."""
    group = parser.getgroup("repro-golden", "golden embeddings (repro-golden)")
    group.addoption(
        "--golden-case",
        action="append",
        default=[],
        metavar="NAME[,NAME...]",
        help="Case(s) to run, repeatable or comma-separated; tests asking for "
        "golden_case_name are parametrized over them (default: ini golden_cases, else none).",
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
        help="Root of the golden files, one folder per case; when set, the fixtures keep a "
        "case's golden files in DIR/<case> (default: ini golden_dir, else 'golden' for case "
        "tests and the test's data dir for the fixtures).",
    )
    group.addoption(
        "--golden-data-root",
        default=None,
        metavar="DIR",
        help="Root of the cluster case's files (model.ckpt, plate.zarr, tracks.zarr, "
        "reference.zarr); each may be overridden by REPRO_GOLDEN_HPC_CKPT, _DATA, _TRACKS, "
        f"_REFERENCE (default: ini golden_data_root, else ${ROOT_ENV_VAR}).",
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
    group.addoption(
        "--golden-strict",
        action="store_true",
        default=None,
        help="Fail golden checks that only summaries could judge ('consistent'): only "
        "identical or measured within-tolerance results pass (default: ini golden_strict).",
    )
    group.addoption(
        "--golden-summary",
        default=None,
        metavar="FORMATS",
        help="Write a session summary of every golden check: html, json or html,json "
        "(merged across xdist workers; default: ini golden_summary, else none).",
    )
    group.addoption(
        "--golden-summary-dir",
        default=None,
        metavar="DIR",
        help="Where --golden-summary writes summary.html / summary.json (default: ini "
        "golden_summary_dir, else the report dir, else <rootdir>/golden-summary).",
    )
    group.addoption(
        "--golden-unused",
        default=None,
        choices=("off", "warn", "fail", "delete"),
        help="Golden directories under the golden roots that no test of a complete session "
        "used: list them (warn, the default), fail the session, or delete them (only "
        "inside the roots); off: say nothing (default: ini golden_unused).",
    )
    parser.addini("golden_strict", "Fail summary-only ('consistent') golden checks.", type="bool")
    parser.addini("golden_summary", "Session summary formats (html, json).", default="")
    parser.addini("golden_summary_dir", "Where the session summary is written.", default="")
    parser.addini("golden_unused", "off, warn, fail or delete unused golden files.", default="")
    parser.addini("golden_cases", "Cases to run when --golden-case is not given.", type="args")
    parser.addini(
        "golden_case_dirs", "Directories holding <case>.yaml files.", type="paths", default=[]
    )
    parser.addini(
        "golden_case_paths",
        "Case files, or folders of them, that pytest collects as tests (items infer01, "
        "infer02, infer03 per case); none by default.",
        type="paths",
        default=[],
    )
    parser.addini("golden_dir", "Root of the golden files, one folder per case.", default="")
    parser.addini("golden_data_root", "Root of the cluster case's files.", default="")
    parser.addini("golden_report_dir", "Where check reports are written.", default="")


def split_case_names(values: Sequence[str]) -> tuple[str, ...]:
    """Case names from repeatable, comma-separated values, in order, without repeats."""
    names: list[str] = []
    for value in values:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                try:
                    safe_component(name, what="case name")
                except ConfigError as exc:
                    raise pytest.UsageError(f"--golden-case: {exc}") from None
                names.append(name)
    return tuple(names)


def resolve_settings(config: pytest.Config, environ: Mapping[str, str]) -> GoldenSettings:
    """Read the options, ini settings and environment once (see the module docstring)."""
    rootpath = config.rootpath
    invocation_dir = config.invocation_params.dir
    ini_dir = config.inipath.parent if config.inipath is not None else rootpath

    def resolve(value: str, base: Path) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else base / path

    def option_or_ini(option: str, ini: str) -> tuple[Path | None, str]:
        if config.getoption(option):
            flag = "--" + option.replace("_", "-")
            return resolve(config.getoption(option), invocation_dir), flag
        if config.getini(ini):
            return resolve(config.getini(ini), ini_dir), f"ini {ini}"
        return None, ""

    cases = split_case_names(config.getoption("golden_case")) or split_case_names(
        config.getini("golden_cases")
    )
    case_dirs_opt: list[str] = config.getoption("golden_case_dir")
    ini_case_dirs: list[Path] = config.getini("golden_case_dirs")
    if case_dirs_opt:
        case_dirs = tuple(resolve(d, invocation_dir) for d in case_dirs_opt)
    elif ini_case_dirs:
        case_dirs = tuple(ini_case_dirs)
    else:
        case_dirs = (rootpath / DEFAULT_CASE_DIR,)
    golden_root, _ = option_or_ini("golden_dir", "golden_dir")
    report_dir, _ = option_or_ini("golden_report_dir", "golden_report_dir")

    root, origin = option_or_ini("golden_data_root", "golden_data_root")
    if root is None and environ.get(ROOT_ENV_VAR):
        root, origin = Path(environ[ROOT_ENV_VAR]).expanduser(), f"${ROOT_ENV_VAR}"
    max_rows = config.getoption("golden_max_rows")
    strict = config.getoption("golden_strict")
    summary_dir, _ = option_or_ini("golden_summary_dir", "golden_summary_dir")
    unused = config.getoption("golden_unused") or config.getini("golden_unused") or "warn"
    if unused not in ("off", "warn", "fail", "delete"):
        raise pytest.UsageError(
            f"ini golden_unused: expected off, warn, fail or delete, got {unused!r}"
        )
    from repro_golden.plugin.session_summary import parse_formats

    return GoldenSettings(
        strict=bool(config.getini("golden_strict")) if strict is None else bool(strict),
        summary_formats=parse_formats(
            config.getoption("golden_summary") or config.getini("golden_summary")
        ),
        summary_dir=summary_dir or report_dir or rootpath / "golden-summary",
        unused=unused,
        rootpath=rootpath,
        cases=cases,
        case_dirs=case_dirs,
        golden_root=golden_root if golden_root is not None else rootpath / DEFAULT_GOLDEN_DIR,
        report_dir=report_dir,
        cluster=ClusterPaths.resolve(root, origin, environ),
        device=config.getoption("golden_device"),
        max_rows=20 if max_rows is None else max_rows,
        golden_root_configured=golden_root is not None,
        case_paths=tuple(Path(p).resolve() for p in config.getini("golden_case_paths")),
    )
