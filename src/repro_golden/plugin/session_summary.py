"""The session summary: every golden check of a pytest session, counted, kept and drawn.

As pytest-mpl has one: a terminal line per session (how many checks were
identical, within tolerance, consistent only, violated), and with
``--golden-summary=html,json`` a self-contained HTML page (tables and inline
SVG pictures, :mod:`repro_golden.plugin.summary_html`) and a JSON file of the
same records. Under pytest-xdist each worker sends its records to the
controller through ``workeroutput`` and the controller writes one summary.

The fixtures call :func:`record_check` with each report; this module only
keeps small JSON-ready records (a few thousand numbers per check at most),
never the arrays. Imported by the plugin at start-up: stdlib and pytest only.

The files are written after every test ran, so a fault writing them (a folder
under a regular file, a read-only or full filesystem) is one warning line in
the terminal summary and never changes the session's exit status. The two
files are published as a pair (:func:`publish_together`): both new ones, or
the previous ones (or none) untouched.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import os
import secrets
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from repro_golden.core.report import ComparisonReport

SUMMARY_SCHEMA = "repro-golden/session-summary/1"
SUMMARY_FORMATS = ("html", "json")
_WORKER_KEY = "repro_golden_summary"
#: Per-row cosine values kept per check, and row errors kept per violated FOV.
MAX_COSINES = 4096
MAX_VIOLATED_SERIES = 6


class Verdict(enum.Enum):
    """What one check established, as the terminal line counts it."""

    IDENTICAL = "identical"
    WITHIN_TOLERANCE = "within tolerance"
    CONSISTENT = "consistent only"
    VIOLATED = "violated"


@dataclass
class SessionRecords:
    """The records of this process (a worker's, or the controller's merged ones)."""

    checks: list[dict[str, Any]] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    accounted: set[str] = field(default_factory=set)
    """Golden paths a collected test would use by default (ran, skipped or failed)."""
    module_dirs: set[str] = field(default_factory=set)
    """Data directories (``<module dir>/<module>/``) of the collected test modules."""
    incomplete: bool = False
    """Some collected tests were deselected: unused golden files are not judged."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "checks": self.checks,
                "used": sorted(self.used),
                "accounted": sorted(self.accounted),
                "module_dirs": sorted(self.module_dirs),
                "incomplete": self.incomplete,
            },
            allow_nan=False,
        )

    def merge_json(self, text: str) -> None:
        data = json.loads(text)
        self.checks.extend(data.get("checks", []))
        self.used.update(data.get("used", []))
        self.accounted.update(data.get("accounted", []))
        self.module_dirs.update(data.get("module_dirs", []))
        self.incomplete = self.incomplete or bool(data.get("incomplete"))


_RECORDS_KEY = pytest.StashKey[SessionRecords]()


def records_of(config: pytest.Config) -> SessionRecords:
    """This session's records (created on first use)."""
    if _RECORDS_KEY not in config.stash:
        config.stash[_RECORDS_KEY] = SessionRecords()
    return config.stash[_RECORDS_KEY]


def verdict_of(report: ComparisonReport) -> Verdict:
    """Violated if anything failed; else the weakest evidence any outcome rests on."""
    from repro_golden.core.outcomes import Status

    statuses = {o.status for o in report.outcomes}
    if not report.passed:
        return Verdict.VIOLATED
    if Status.CONSISTENT in statuses:
        return Verdict.CONSISTENT
    if Status.WITHIN_TOLERANCE in statuses:
        return Verdict.WITHIN_TOLERANCE
    return Verdict.IDENTICAL


def _number(value: float | None) -> float | str | None:
    if value is None or math.isfinite(value):
        return value
    return "inf" if value > 0 else ("-inf" if value < 0 else "nan")


def _fov_points(report: ComparisonReport) -> list[dict[str, Any]]:
    from repro_golden.core.outcomes import Status

    points = []
    for o in report.outcomes:
        if o.fov is None or o.array is None:
            continue
        error: float | None
        bound = False
        if o.measured is not None:
            error = o.measured.max_abs_error
        elif o.violation is not None:
            error, bound = o.violation.max_abs_error, o.violation.bound
        elif o.status is Status.IDENTICAL:
            error = 0.0
        else:
            error = None  # consistent: the summaries bound nothing
        points.append(
            {
                "fov": o.fov,
                "array": o.array,
                "status": o.status.value,
                "max_abs_error": _number(error),
                "bound": bound,
            }
        )
    return points


def build_record(nodeid: str, kind: str, report: ComparisonReport) -> dict[str, Any]:
    """The JSON-ready record of one check: verdict, counts, and what the pictures need."""
    cosines: list[float] = []
    series = []
    measured = [o for o in report.outcomes if o.measured is not None]
    for o in measured:
        assert o.measured is not None
        cosines += [c for c in o.measured.row_cosine if math.isfinite(c)]
    if len(cosines) > MAX_COSINES:
        step = len(cosines) / MAX_COSINES
        cosines = [cosines[int(i * step)] for i in range(MAX_COSINES)]
    violated = sorted(
        (o for o in measured if not o.passed),
        key=lambda o: -(o.measured.max_abs_error if o.measured is not None else 0.0),
    )
    for o in violated[:MAX_VIOLATED_SERIES]:
        assert o.measured is not None
        series.append(
            {
                "fov": o.fov,
                "array": o.array,
                "rows": list(o.measured.rows),
                "row_max_abs": [_number(v) for v in o.measured.row_max_abs],
            }
        )
    tolerance = report.tolerance
    return {
        "nodeid": nodeid,
        "kind": kind,
        "verdict": verdict_of(report).value,
        "passed": report.passed,
        "mode": report.mode,
        "obtained": report.obtained,
        "reference": report.reference,
        "tolerance": {"atol": tolerance.atol, "rtol": tolerance.rtol},
        "headline": report.headline(),
        "counts": report.counts(),
        "fovs": _fov_points(report),
        "cosines": cosines,
        "violated_rows": series,
        "failures": [
            {"status": o.status.value, "fov": o.fov, "array": o.array, "evidence": e}
            for o, e in _failures(report)
        ],
    }


def _failures(report: ComparisonReport) -> list[tuple[Any, str]]:
    from repro_golden.core.report import evidence_text

    return [(o, evidence_text(o)) for o in report.worst_first if not o.passed][:50]


def record_check(request: pytest.FixtureRequest, kind: str, report: ComparisonReport) -> None:
    """Keep one check's record and the golden directory or reference it used."""
    records = records_of(request.config)
    records.checks.append(build_record(request.node.nodeid, kind, report))
    records.used.add(str(Path(report.reference).resolve()))


def record_used(config: pytest.Config, path: Path) -> None:
    """Mark a golden directory as used by this session (also when its check failed early)."""
    records_of(config).used.add(str(path.resolve()))


def terminal_line(checks: list[dict[str, Any]]) -> str:
    counts = Counter(c["verdict"] for c in checks)
    parts = ", ".join(f"{counts[v.value]} {v.value}" for v in Verdict)
    noun = "check" if len(checks) == 1 else "checks"
    return f"repro-golden: {len(checks)} golden {noun}: {parts}"


def summary_document(checks: list[dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(c["verdict"] for c in checks)
    return {
        "schema": SUMMARY_SCHEMA,
        "counts": {v.value: counts[v.value] for v in Verdict},
        "checks": sorted(checks, key=lambda c: c["nodeid"]),
    }


def parse_formats(value: str | None) -> tuple[str, ...]:
    """``html,json`` -> ``("html", "json")``; anything else is a usage error."""
    if not value:
        return ()
    formats = tuple(dict.fromkeys(v.strip().lower() for v in value.split(",") if v.strip()))
    unknown = [f for f in formats if f not in SUMMARY_FORMATS]
    if unknown:
        raise pytest.UsageError(
            f"--golden-summary: unknown format(s) {unknown}; expected some of "
            f"{', '.join(SUMMARY_FORMATS)} (e.g. --golden-summary=html,json)"
        )
    return formats


class SummaryPlugin:
    """Session hooks: collect across xdist workers, write the files, print the line."""

    def __init__(self, config: pytest.Config, formats: tuple[str, ...], directory: Path) -> None:
        self.config = config
        self.formats = formats
        self.directory = directory
        self.written: list[Path] = []
        self.fault: str | None = None

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", {}) or {}
        if _WORKER_KEY in output:
            records_of(self.config).merge_json(output[_WORKER_KEY])

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        records = records_of(self.config)
        if self.is_worker:
            self.config.workeroutput[_WORKER_KEY] = records.to_json()  # type: ignore[attr-defined]
            return
        if self.formats and records.checks:
            from repro_golden.errors import StorageError

            try:
                self.written = write_summary(records.checks, self.directory, self.formats)
            except StorageError as exc:
                self.fault = str(exc)
            except OSError as exc:  # a fault the storage mapping does not name (EISDIR, ...)
                self.fault = f"{exc.filename or self.directory}: {exc.strerror or exc}"

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.is_worker:
            return
        checks = records_of(self.config).checks
        if not checks:
            return
        terminalreporter.write_line(terminal_line(checks))
        for path in self.written:
            terminalreporter.write_line(f"repro-golden: summary {path}")
        if self.fault is not None:
            line = " ".join(self.fault.split())
            terminalreporter.write_line(
                f"repro-golden: warning: session summary not written: {line}", yellow=True
            )


def write_summary(
    checks: list[dict[str, Any]], directory: Path, formats: tuple[str, ...]
) -> list[Path]:
    """Write ``summary.json`` / ``summary.html`` into ``directory`` as one pair; their paths.

    Both are rendered before anything is written, then published together
    (:func:`publish_together`): a fault leaves the previous pair, or nothing,
    and raises :class:`~repro_golden.errors.StorageError`.
    """
    document = summary_document(checks)
    contents: dict[str, bytes] = {}
    if "json" in formats:
        contents["summary.json"] = (json.dumps(document, indent=1, allow_nan=False) + "\n").encode()
    if "html" in formats:
        from repro_golden.plugin.summary_html import render_summary_html

        contents["summary.html"] = render_summary_html(document).encode()
    publish_together(directory, contents, what="the session summary")
    return [directory / name for name in contents]


def publish_together(directory: Path, contents: dict[str, bytes], *, what: str) -> None:
    """Write the files ``contents`` (name -> bytes) into ``directory``: all of them or none.

    Each file is first staged beside its target, complete and fsynced, by
    :func:`~repro_golden.core.atomic.write_bytes_atomic` (where a full disk
    shows); the previous files get a second hard link (a copy where links are
    refused); then every stage is renamed into place. A fault at any step puts
    the previous files back (or removes the new ones when there were none),
    removes every stage and the folders this call created, and raises
    :class:`~repro_golden.errors.StorageError` naming the file. Readers never
    see a half-written file; only a crash inside the last renames can leave a
    new file beside an old one.
    """
    from repro_golden.core.atomic import (
        make_parents,
        remove_created,
        storage_error,
        write_bytes_atomic,
    )
    from repro_golden.errors import StorageError

    token = secrets.token_hex(4)
    staged = {name: directory / f".{name}.{token}.staged" for name in contents}
    previous = {name: directory / f".{name}.{token}.previous" for name in contents}
    kept: list[str] = []
    published: list[str] = []
    created: list[Path] = []
    current = directory
    try:
        created = make_parents(directory)
        for name, data in contents.items():
            current = directory / name
            try:
                write_bytes_atomic(staged[name], data, what=f"{what} ({name})")
            except StorageError as exc:
                raise StorageError(exc.detail, path=current) from None
        for name in contents:
            current = directory / name
            if os.path.lexists(current):
                _second_link(current, previous[name])
                kept.append(name)
        for name in contents:
            current = directory / name
            os.replace(staged[name], current)
            published.append(name)
    except BaseException as exc:
        stranded = set()
        for name in reversed(published):
            try:
                if name in kept:
                    os.replace(previous[name], directory / name)
                else:
                    (directory / name).unlink()
            except OSError:
                stranded.add(previous[name])  # the only copy of the old file: keep it
        for path in (*staged.values(), *previous.values()):
            if path not in stranded:
                with contextlib.suppress(OSError):
                    path.unlink()
        remove_created(created)
        if isinstance(exc, OSError):
            needed = sum(len(data) for data in contents.values())
            fault = storage_error(exc, path=current, what=what, needed=needed)
            if fault is not None:
                raise fault from None
        raise
    for name in kept:
        with contextlib.suppress(OSError):
            previous[name].unlink()
    _fsync_directory(directory)


def _second_link(path: Path, link: Path) -> None:
    """Keep ``path``'s current content reachable at ``link`` while it is replaced."""
    try:
        os.link(path, link)
    except OSError:  # a filesystem without hard links: a copy does as well
        shutil.copyfile(path, link)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def configure(config: pytest.Config, formats: tuple[str, ...], directory: Path) -> SummaryPlugin:
    """Register the summary hooks for this session (from the plugin's ``pytest_configure``)."""
    plugin = SummaryPlugin(config, formats, directory)
    config.pluginmanager.register(plugin, "repro-golden-session-summary")
    return plugin
