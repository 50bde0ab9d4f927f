"""The plugin's fixture classes, on pytest-regressions' ``perform_regression_check``.

Imported only when a test uses ``golden_regression`` or ``embedding_regression``
(never at pytest start-up). Reusing ``perform_regression_check`` is what makes
``--force-regen`` and ``--regen-all`` behave exactly as pytest-regressions
users know:

- expected golden files missing: they are written and the test fails, naming them;
- expected file present: the obtained data is compared; a difference fails
  with the explanation, and under ``--force-regen`` the expected file is
  rewritten (the test still fails, so the change is seen);
- ``--regen-all``: expected files are rewritten and the tests pass.

Guard rails beyond pytest-regressions: a full reference (a zarr) is never
created from the code under test unless ``--force-regen`` or ``--regen-all``
asks for it (a missing one fails, saying where it looked: a mistyped path
must not become next run's reference); golden files of another case are
never rewritten, not even under a regen flag; ``expected_case`` refuses
golden files or a reference recorded for another case; an unusable
embeddings store fails before anything is created, so no empty
``<test>.golden/`` folders are left behind.

pytest-regressions works on one expected *file*; ours are directories, so the
"file" it sees is a marker inside the directory (``golden.json`` for golden
files, ``zarr.json`` or ``.zgroup`` for a reference zarr) and the dump
functions write the whole directory. Writes are atomic and serialized across
processes (xdist workers) by a lock keyed on the target path, so a reader
never sees a half-written golden directory.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pytest_regressions.common import perform_regression_check

from repro_golden.core.atomic import atomic_directory, safe_component
from repro_golden.core.names import MANIFEST
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import InputError

if TYPE_CHECKING:
    from pytest_datadir.plugin import LazyDataDir

    from repro_golden.core.report import ComparisonReport

GOLDEN_MANIFEST = MANIFEST
REGEN_HINT = (
    "If this change is intended, rerun with --force-regen to rewrite the expected files "
    "(review their diff before committing), or --regen-all to rewrite every expected file."
)


def _locked(target: Path, *, shared: bool = False) -> contextlib.AbstractContextManager[None]:
    """The golden core's one lock (:func:`repro_golden.core.locking.directory_lock`) on
    ``target``: shared to read it, exclusive to write it. A reader holds it from the
    manifest to the last data file, since a writer removes old data files after
    switching the manifest."""
    from repro_golden.core.locking import directory_lock

    return directory_lock(target, shared=shared)


def _case_record(case: Any) -> str | Mapping[str, Any] | None:
    """What :func:`repro_golden.api.write_golden` records of ``case``.

    A name or a mapping passes through; a :class:`repro_golden.config.case.Case` gives
    its JSON-ready mapping (``to_dict``, the one conversion name in this library) or,
    failing that, its name.
    """
    if case is None or isinstance(case, str | Mapping):
        return case
    convert = getattr(case, "to_dict", None)
    if callable(convert):
        record = convert()
        if isinstance(record, Mapping):
            return record
    name = getattr(case, "name", None)
    return str(name) if name is not None else None


def _is_within(path: Path | None, directory: Path) -> bool:
    if path is None:
        return False
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


class _RegressionCheck:
    """Shared state of both fixtures: paths, report writing, message layout."""

    kind = "check"

    def __init__(
        self,
        *,
        datadir: LazyDataDir,
        original_datadir: Path,
        request: pytest.FixtureRequest,
        report_dir: Path,
        work_dir: Path,
        max_rows: int = 20,
        default_golden_dir: Path | None = None,
        golden_strict: bool = False,
        case_name: str | None = None,
    ) -> None:
        self._golden_strict = golden_strict
        self._case_name = case_name
        self._default_golden_dir = default_golden_dir
        self._datadir = datadir
        self._original_datadir = original_datadir
        self._request = request
        self._report_dir = report_dir
        self._work_dir = work_dir
        self._max_rows = max_rows
        self._checks = 0

    def _basename(self, basename: str | None) -> str:
        if basename:  # names files under the data dir: never a path out of it
            return safe_component(basename, what="basename", key="basename")
        return re.sub(r"\W", "_", self._request.node.name)

    def _report_stem(self) -> Path:
        self._checks += 1
        stem = re.sub(r"[^\w.-]+", "_", self._request.node.nodeid).strip("_")
        suffix = "" if self._checks == 1 else f"-{self._checks}"
        return self._report_dir / f"{stem}.{self.kind}{suffix}"

    def _write_reports(self, report: ComparisonReport) -> list[Path]:
        stem = self._report_stem()
        stem.parent.mkdir(parents=True, exist_ok=True)
        paths = [stem.with_name(stem.name + ".json"), stem.with_name(stem.name + ".md")]
        for path in paths:
            report.write(path)
        self._record(report)
        return paths

    def _record(self, report: ComparisonReport) -> None:
        """Hand the report to the session summary (:mod:`repro_golden.plugin.session_summary`)."""
        from repro_golden.plugin.session_summary import record_check

        record_check(self._request, self.kind, report)

    def _regen_asked(self) -> bool:
        config = self._request.config
        return bool(config.getoption("force_regen") or config.getoption("regen_all"))

    def _failure(self, headline: str, lines: list[str], report: ComparisonReport) -> str:
        reports = self._write_reports(report)
        parts = [headline, *(f"  {line}" for line in lines), ""]
        parts.append(report.render_terminal(max_rows=self._max_rows, json_report=reports[0]))
        parts += ["", "Reports: " + ", ".join(str(p) for p in reports), REGEN_HINT]
        return "\n".join(parts)

    def _run(
        self,
        *,
        marker: Path,
        obtained_marker: Path,
        check_fn: Callable[[Path, Path], None],
        dump_fn: Callable[[Path], None],
    ) -> None:
        __tracebackhide__ = True
        perform_regression_check(
            datadir=self._datadir,
            original_datadir=self._original_datadir,
            request=self._request,
            check_fn=check_fn,
            dump_fn=dump_fn,
            extension=marker.suffix or marker.name,
            fullpath=marker,
            obtained_filename=obtained_marker,
        )


class GoldenRegressionFixture(_RegressionCheck):
    """``golden_regression``: embeddings vs golden files (hybrid digest / summary check)."""

    kind = "golden"

    def check(
        self,
        embeddings: str | Path,
        *,
        golden_dir: str | Path | None = None,
        tolerance: ToleranceSpec | None = None,
        reference: str | Path | None = None,
        case: Any = None,
        basename: str | None = None,
        strict: bool | None = None,
        expected_case: str | None = None,
    ) -> None:
        """Check ``embeddings`` (an AnnData zarr) against the golden files in ``golden_dir``.

        ``expected_case``, as ``repro-golden check --case``: golden files written
        for another case fail the test (and are never rewritten, regen flag or
        not); golden files this check writes record it as their case.

        ``strict`` (default: ``--golden-strict`` / ini ``golden_strict``) fails checks
        that only summaries could judge ("consistent").

        Equal digests pass at once. Otherwise the per-FOV summaries, and the
        full ``reference`` tensors when given, decide within ``tolerance``
        (default: the case tolerance recorded with the golden files, as
        ``repro-golden check`` applies it, else exact) and a failure names the
        worst FOVs and rows. A report
        (JSON + Markdown) is written for every check. ``case`` (a
        :class:`repro_golden.config.case.Case`) is recorded in the provenance of
        golden files this check writes. ``golden_dir`` defaults to
        ``<golden root>/<case>`` under ``--golden-dir`` (see the fixture), else to
        ``<module data dir>/<basename>.golden``.
        """
        __tracebackhide__ = True
        embeddings = Path(embeddings)
        name = self._basename(basename)
        if golden_dir is not None:
            target = Path(golden_dir)
        elif self._default_golden_dir is not None and basename is None:
            target = self._default_golden_dir
        else:
            target = self._original_datadir / f"{name}.golden"
        obtained_dir = self._work_dir / f"{name}.obtained.golden"
        reference_path = Path(reference) if reference is not None else None
        record = _case_record(case)
        if record is None and expected_case is not None:
            record = expected_case
        _used(self._request, target)
        _usable_or_fail(embeddings)

        def dump(path: Path) -> None:
            from repro_golden.api import write_golden
            from repro_golden.core.golden.store import GoldenStore

            directory = path.parent
            if directory == obtained_dir:
                write_golden(embeddings, directory, case=record)
                return
            recorded = GoldenStore(directory).recorded_case()
            wanted = _case_name(record) or self._case_name
            if recorded is not None and wanted is not None and recorded != wanted:
                pytest.fail(
                    f"Golden files at {directory} are of case {recorded!r}, this check's case "
                    f"is {wanted!r}: they are not rewritten (a regen flag rewrites only a "
                    "case's own golden files). Point golden_dir at this case's directory.",
                    pytrace=False,
                )
            keep_case = record if record is not None else recorded

            # The store's one publish policy: new sets staged and published whole,
            # existing ones rewritten in place, publishers taking turns under its lock.
            def write(staging: Path) -> None:
                write_golden(embeddings, staging, case=keep_case)
                _write_oracle_if_asked(case, staging, embeddings)

            GoldenStore(directory).publish(write, overwrite=True)

        def compare(obtained: Path, expected: Path) -> None:
            __tracebackhide__ = True
            from repro_golden.api import check_golden

            try:
                with _locked(expected.parent, shared=True):
                    report = check_golden(
                        embeddings,
                        expected.parent,
                        tolerance=tolerance,
                        reference=reference_path,
                        strict=self._golden_strict if strict is None else strict,
                        case=expected_case,
                    )
            except InputError as exc:
                if exc.key == "case" and _is_within(exc.path, expected.parent):
                    # Not an AssertionError: a regen flag must not rewrite another case's files.
                    message = f"Golden files at {expected.parent}: {exc}"
                    raise pytest.fail.Exception(message, pytrace=False) from None
                if _is_within(exc.path, expected.parent):
                    raise AssertionError(
                        f"Golden files at {expected.parent} cannot be used: {exc}\n{REGEN_HINT}"
                    ) from exc
                raise
            if not report.passed:
                lines = [
                    f"golden files of this run, to diff with the expected ones: {obtained.parent}"
                ]
                raise AssertionError(
                    self._failure("Embeddings differ from the golden files:", lines, report)
                )
            self._write_reports(report)

        self._run(
            marker=target / GOLDEN_MANIFEST,
            obtained_marker=obtained_dir / GOLDEN_MANIFEST,
            check_fn=compare,
            dump_fn=dump,
        )


def _write_oracle_if_asked(case: Any, directory: Path, embeddings: Path) -> None:
    """The case's ``oracle:`` switch: the fp64 truth and budgets written with the golden set
    a regen publishes (as ``golden write --oracle CASE``)."""
    sample = getattr(case, "oracle", None)
    source = getattr(case, "source", None)
    if not sample or source is None:
        return
    from repro_golden.inference.oracle import write_oracle_section

    write_oracle_section(directory, source, embeddings, sample=sample)


def _used(request: pytest.FixtureRequest, target: Path) -> None:
    from repro_golden.plugin.session_summary import record_used

    record_used(request.config, target)


def _usable_or_fail(embeddings: Path) -> None:
    """Fail the test before anything is written when ``embeddings`` cannot be read."""
    __tracebackhide__ = True
    from repro_golden.core.embeddings import EmbeddingsStore

    try:
        EmbeddingsStore(embeddings)
    except InputError as exc:
        pytest.fail(f"Embeddings cannot be checked: {exc}", pytrace=False)


def _case_name(record: str | Mapping[str, Any] | None) -> str | None:
    if isinstance(record, Mapping):
        name = record.get("name")
        return None if name is None else str(name)
    return record


def _reference_case_or_fail(store: Path, expected_case: str) -> None:
    __tracebackhide__ = True
    from repro_golden.core.embeddings import EmbeddingsStore

    try:
        provenance = EmbeddingsStore(store).provenance() or {}
    except InputError:
        return  # reported as unusable by the comparison itself
    recorded = provenance.get("case_name")
    if recorded is None and isinstance(provenance.get("case"), Mapping):
        recorded = provenance["case"].get("name")
    if recorded is not None and recorded != expected_case:
        pytest.fail(
            f"Reference {store} was predicted for case {recorded!r}, expected case "
            f"{expected_case!r}",
            pytrace=False,
        )


def _zarr_marker(store: Path, fallback: Path | None = None) -> str:
    """The file that marks ``store`` as a zarr group: ``zarr.json`` (v3) or ``.zgroup`` (v2)."""
    for candidate in (store, fallback):
        if candidate is None:
            continue
        for marker in ("zarr.json", ".zgroup"):
            if (candidate / marker).is_file():
                return marker
    return ".zgroup"


class EmbeddingRegressionFixture(_RegressionCheck):
    """``embedding_regression``: embeddings vs a full reference AnnData zarr, with tolerances."""

    kind = "reference"

    def check(
        self,
        embeddings: str | Path,
        *,
        reference: str | Path | None = None,
        tolerance: ToleranceSpec | None = None,
        basename: str | None = None,
        expected_case: str | None = None,
    ) -> None:
        """Compare every tensor of ``embeddings`` with ``reference`` (allclose, ``tolerance``;
        default: the case tolerance the reference's prediction recorded, as ``repro-golden
        compare`` applies it, else exact).

        Rows are matched by the index columns (never the ``obs`` index), so
        reordered, missing or extra rows are reported as such. A missing
        reference fails, saying where it was looked for; only ``--force-regen``
        or ``--regen-all`` create it (as a copy of ``embeddings``), and
        ``--force-regen`` replaces a reference that differs. ``expected_case``
        refuses a reference whose provenance records another case.
        ``reference`` defaults to ``<module data dir>/<basename>.zarr``.
        """
        __tracebackhide__ = True
        embeddings = Path(embeddings)
        name = self._basename(basename)
        target = (
            Path(reference) if reference is not None else (self._original_datadir / f"{name}.zarr")
        )
        spec = tolerance  # None: the reference's recorded case tolerance, as compare applies
        marker = _zarr_marker(target, embeddings)
        _used(self._request, target)
        _usable_or_fail(embeddings)
        if not target.exists() and not self._regen_asked():
            how = "the reference argument" if reference is not None else "the default location"
            pytest.fail(
                f"No reference at {target} (from {how}). A full reference is never created "
                "from the code under test without being asked: rerun with --force-regen (or "
                "--regen-all) to make this run's embeddings the reference, or fix the path.",
                pytrace=False,
            )
        if expected_case is not None and target.exists():
            _reference_case_or_fail(target, expected_case)

        def dump(path: Path) -> None:
            store = path.parent
            if store.resolve() == embeddings.resolve():
                return  # the obtained store is already on disk
            with _locked(store), atomic_directory(store, overwrite=True) as tmp:
                shutil.copytree(embeddings, tmp, dirs_exist_ok=True)

        def compare(obtained: Path, expected: Path) -> None:
            __tracebackhide__ = True
            from repro_golden.api import compare_embeddings

            try:
                with _locked(expected.parent, shared=True):
                    report = compare_embeddings(embeddings, expected.parent, tolerance=spec)
            except InputError as exc:
                if _is_within(exc.path, expected.parent):
                    raise AssertionError(
                        f"Reference {expected.parent} cannot be used: {exc}\n{REGEN_HINT}"
                    ) from exc
                raise
            if not report.passed:
                lines: list[str] = []
                raise AssertionError(
                    self._failure("Embeddings differ from the reference:", lines, report)
                )
            self._write_reports(report)

        self._run(
            marker=target / marker,
            obtained_marker=embeddings / marker,
            check_fn=compare,
            dump_fn=dump,
        )
