"""Stale golden files, as syrupy's unused snapshots: listed, failed on, or deleted after a session.

A golden directory is a folder holding ``golden.json`` under one of the
session's golden roots: the golden root (``--golden-dir``, ini
``golden_dir``, else ``<rootdir>/golden``) when the session ran the whole
suite, and the data directory of every collected test module
(``<module dir>/<module>/``, where the fixtures put ``<test>.golden``). It is
*unused* when no check of the session read or wrote it and no collected test
would by default (a skipped test still accounts for its own directory, and
``<golden root>/<case>`` is accounted for by any case with a case file).

Judged only for a session that saw every test it could: nothing deselected
(``-k``, ``-m``), no node ids on the command line, not stopped early.
``--golden-unused=warn`` (default) lists them, ``fail`` also fails the
session, ``delete`` removes them: only directories strictly inside a root,
never a symbolic link, never the root itself.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from repro_golden.core.names import MANIFEST
from repro_golden.plugin.session_summary import records_of

if TYPE_CHECKING:
    from repro_golden.plugin.settings import GoldenSettings


def default_names(item: pytest.Item) -> list[str]:
    """The golden paths a test uses when given none: ``<data dir>/<test name>.golden|.zarr``."""
    path = Path(str(item.path))
    datadir = path.parent / path.stem
    name = re.sub(r"\W", "_", item.name)
    return [str((datadir / f"{name}{suffix}").resolve()) for suffix in (".golden", ".zarr")]


def find_golden_dirs(root: Path) -> list[Path]:
    """Directories holding ``golden.json`` under ``root`` (no hidden ones, no symlinks)."""
    if not root.is_dir():
        return []
    found = []
    for manifest in root.rglob(MANIFEST):
        directory = manifest.parent
        relative = directory.relative_to(root).parts
        if any(part.startswith(".") for part in relative) or not relative:
            continue
        if any((root.joinpath(*relative[: i + 1])).is_symlink() for i in range(len(relative))):
            continue
        found.append(directory)
    return sorted(found)


def _inside(path: Path, roots: list[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved != r and r in resolved.parents for r in roots)


class UnusedPlugin:
    """Collect what tests account for, then judge and act at the end of the session."""

    def __init__(self, config: pytest.Config, settings: GoldenSettings) -> None:
        self.config = config
        self.settings = settings
        self.unused: list[Path] = []
        self.deleted: list[Path] = []
        self.reason: str | None = None

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if items:
            records_of(self.config).incomplete = True

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        records = records_of(self.config)
        for item in items:
            records.accounted.update(default_names(item))
            path = Path(str(item.path))
            records.module_dirs.add(str((path.parent / path.stem).resolve()))
            callspec = getattr(item, "callspec", None)
            if callspec is not None and "golden_case_name" in callspec.params:
                case = str(callspec.params["golden_case_name"])
                records.accounted.add(str((self.settings.golden_root / case).resolve()))

    def _roots(self) -> list[Path]:
        records = records_of(self.config)
        roots = [Path(d) for d in sorted(records.module_dirs)]
        if self._whole_suite():
            roots.append(self.settings.golden_root.resolve())
        return roots

    def _whole_suite(self) -> bool:
        source = getattr(self.config, "args_source", None)
        if source == pytest.Config.ArgsSource.TESTPATHS:
            return True
        invocation = Path(self.config.invocation_params.dir).resolve()
        return source == pytest.Config.ArgsSource.INVOCATION_DIR and (
            invocation == self.config.rootpath.resolve()
        )

    def _judged(self, session: pytest.Session, exitstatus: int) -> bool:
        if self.settings.unused == "off":
            return False
        if records_of(self.config).incomplete:
            self.reason = "some tests were deselected"
        elif any("::" in str(a) for a in self.config.args):
            self.reason = "tests were selected by node id"
        elif session.shouldstop or session.shouldfail or exitstatus not in (0, 1):
            self.reason = "the session stopped early"
        return self.reason is None

    def _accounted_case_dirs(self) -> set[str]:
        names = set()
        for directory in self.settings.case_dirs:
            for pattern in ("*.yaml", "*.yml"):
                for case_file in directory.glob(pattern):
                    names.add(str((self.settings.golden_root / case_file.stem).resolve()))
        return names

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if hasattr(self.config, "workerinput") or not self._judged(session, exitstatus):
            return
        records = records_of(self.config)
        if not records.module_dirs:
            return
        taken = {str(Path(p).resolve()) for p in records.used} | records.accounted
        taken |= self._accounted_case_dirs()
        roots = self._roots()
        found = {d for root in roots for d in find_golden_dirs(root)}
        self.unused = sorted(d for d in found if str(d.resolve()) not in taken)
        if self.settings.unused == "delete":
            for directory in self.unused:
                if _inside(directory, roots) and not directory.is_symlink():
                    shutil.rmtree(directory)
                    self.deleted.append(directory)
        elif self.settings.unused == "fail" and self.unused and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or not self.unused:
            return
        verb = {"delete": "deleted", "fail": "unused (failing the session)"}.get(
            self.settings.unused, "unused"
        )
        noun = "directory" if len(self.unused) == 1 else "directories"
        terminalreporter.write_line(
            f"repro-golden: {len(self.unused)} golden {noun} {verb}: "
            "no test of this session used them"
        )
        for directory in self.unused:
            terminalreporter.write_line(f"  {directory}")
        if self.settings.unused == "warn":
            terminalreporter.write_line(
                "  (--golden-unused=delete removes them, --golden-unused=fail fails on them)"
            )


def configure(config: pytest.Config, settings: GoldenSettings) -> UnusedPlugin:
    """Register the unused-golden hooks for this session."""
    plugin = UnusedPlugin(config, settings)
    config.pluginmanager.register(plugin, "repro-golden-unused")
    return plugin
