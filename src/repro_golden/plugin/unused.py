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
(``-k``, ``-m``), no node ids on the command line, no collection error, not
stopped early. ``--golden-unused=warn`` (default) lists them, ``fail`` also
fails the session, ``delete`` removes what the collection proves unused and
nothing else (:func:`plan_deletion`):

- only inside the rootdir, judged on the resolved path, so nothing reached
  through a symbolic link that leaves it (a module's data directory that is a
  link to another project is left alone); never a root itself;
- never a directory that holds a golden set, a reference or a module data
  directory this session uses or accounts for (a stale ``outer/golden.json``
  does not take ``outer/inner.golden`` with it);
- only golden files: the data files the manifest names (``sketch-<digest>.bin``,
  ``full-<digest>.bin``) and ``golden.json`` itself, which must be a
  repro-golden manifest; other files stay (``input.csv`` beside a stale
  manifest), and the folder is removed only when that leaves it empty.

Every path deleted is printed, and every unused directory kept says why.
A filesystem fault while deleting is reported, never raised.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from repro_golden.core.names import MANIFEST
from repro_golden.plugin.session_summary import records_of

if TYPE_CHECKING:
    from repro_golden.plugin.settings import GoldenSettings

#: Manifest keys naming a data file the golden set owns, and the names such a file may have.
_DATA_FILES = {kind: re.compile(rf"{kind}-[0-9a-f]{{32}}\.bin") for kind in ("sketch", "full")}
_MAX_MANIFEST_BYTES = 64 << 20
_SHOWN_OTHERS = 3


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


@dataclass(frozen=True)
class DeletionPlan:
    """What ``delete`` may remove of one unused golden directory, or why it keeps it all.

    ``files`` are the golden files to unlink, ``golden.json`` last (an interrupted
    delete leaves a manifest, so the next session judges the set again).
    """

    directory: Path
    files: tuple[Path, ...] = ()
    kept: str | None = None


@dataclass
class DeletionLog:
    """What ``delete`` did, in order, for the terminal summary."""

    deleted: list[Path] = field(default_factory=list)
    kept: list[tuple[Path, str]] = field(default_factory=list)


def _strictly_inside(path: Path, ancestor: Path) -> bool:
    return ancestor in path.parents


def _owned_files(directory: Path) -> tuple[list[Path], str | None]:
    """The files the manifest of ``directory`` owns (``golden.json`` last), or why none are.

    A ``golden.json`` that is not a regular file, not JSON, or of no
    repro-golden schema is not ours to delete (another tool may use the name).
    """
    from repro_golden.core.golden.format import SCHEMAS

    manifest = directory / MANIFEST
    if manifest.is_symlink() or not manifest.is_file():
        return [], f"its {MANIFEST} is not a regular file"
    try:
        if manifest.stat().st_size > _MAX_MANIFEST_BYTES:
            return [], f"its {MANIFEST} is too large to be a manifest"
        data: Any = json.loads(manifest.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        return [], f"its {MANIFEST} cannot be read as JSON ({type(exc).__name__})"
    schema = data.get("schema") if isinstance(data, dict) else None
    if schema not in SCHEMAS:
        return [], f"its {MANIFEST} is not a repro-golden manifest (schema {schema!r})"
    files = []
    for kind, pattern in _DATA_FILES.items():
        entry = data.get(kind)
        if entry is None:
            continue
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not pattern.fullmatch(name):
            return [], f"its {MANIFEST} names no valid {kind} file ([{kind}.file] {name!r})"
        if os.path.lexists(directory / name) and not (directory / name).is_dir():
            files.append(directory / name)
    from repro_golden.core.oracle_format import oracle_files

    # The oracle section belongs to the set: its data file, then oracle.json, before
    # golden.json (the set's commit file) goes last.
    return [*files, *oracle_files(directory), manifest], None


def plan_deletion(directory: Path, *, rootdir: Path, protected: set[Path]) -> DeletionPlan:
    """Decide what of the unused golden ``directory`` may be deleted.

    ``rootdir`` is the session's resolved rootdir; ``protected`` holds resolved
    paths this session uses or accounts for (golden sets, references, module
    data directories, the roots): a directory above any of them is kept whole.
    """
    real = directory.resolve()
    if directory.is_symlink() or not _strictly_inside(real, rootdir):
        return DeletionPlan(
            directory, kept=f"it is outside the rootdir {rootdir} (resolves to {real})"
        )
    held = sorted(p for p in protected if _strictly_inside(p, real))
    if held:
        return DeletionPlan(directory, kept=f"it holds {held[0]}, which this session uses")
    files, reason = _owned_files(directory)
    if reason is not None:
        return DeletionPlan(directory, kept=reason)
    return DeletionPlan(directory, files=tuple(files))


def carry_out(plan: DeletionPlan, log: DeletionLog) -> None:
    """Unlink the plan's files, then remove the folder if nothing else is in it; log each path."""
    if plan.kept is not None:
        log.kept.append((plan.directory, plan.kept))
        return
    try:
        for path in plan.files:
            path.unlink(missing_ok=True)
            log.deleted.append(path)
        others = sorted(p.name for p in plan.directory.iterdir())
        if not others:
            plan.directory.rmdir()
            log.deleted.append(plan.directory)
            return
    except OSError as exc:
        target = exc.filename or plan.directory
        log.kept.append((plan.directory, f"could not delete {target}: {exc.strerror or exc}"))
        return
    shown = ", ".join(others[:_SHOWN_OTHERS])
    if len(others) > _SHOWN_OTHERS:
        shown += f" and {len(others) - _SHOWN_OTHERS} more"
    log.kept.append((plan.directory, f"the folder holds files that are not golden files ({shown})"))


class UnusedPlugin:
    """Collect what tests account for, then judge and act at the end of the session."""

    def __init__(self, config: pytest.Config, settings: GoldenSettings) -> None:
        self.config = config
        self.settings = settings
        self.unused: list[Path] = []
        self.log = DeletionLog()
        self.reason: str | None = None
        self.collection_failed = False

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if items:
            records_of(self.config).incomplete = True

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_failed = True

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
        elif self.collection_failed:
            self.reason = "some tests could not be collected"
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
            protected = {Path(p) for p in taken} | set(roots)
            rootdir = self.config.rootpath.resolve()
            # Deepest first: an unused set inside another unused set goes before its parent.
            for directory in sorted(self.unused, key=lambda d: len(d.parts), reverse=True):
                carry_out(plan_deletion(directory, rootdir=rootdir, protected=protected), self.log)
        elif self.settings.unused == "fail" and self.unused and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput") or not self.unused:
            return
        verb = {"fail": "unused (failing the session)"}.get(self.settings.unused, "unused")
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
        if self.settings.unused == "delete":
            count = len(self.log.deleted)
            terminalreporter.write_line(
                f"repro-golden: --golden-unused=delete deleted {count} "
                f"{'path' if count == 1 else 'paths'}"
                + (f", kept {len(self.log.kept)} unused" if self.log.kept else "")
            )
            for path in self.log.deleted:
                terminalreporter.write_line(f"  deleted {path}")
            for directory, why in self.log.kept:
                terminalreporter.write_line(f"  kept {directory}: {why}")


def configure(config: pytest.Config, settings: GoldenSettings) -> UnusedPlugin:
    """Register the unused-golden hooks for this session."""
    plugin = UnusedPlugin(config, settings)
    config.pluginmanager.register(plugin, "repro-golden-unused")
    return plugin
