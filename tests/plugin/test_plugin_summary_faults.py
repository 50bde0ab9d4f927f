"""Faults writing the session summary are one warning line; the tests decide the exit status.

The summary is written after every test ran, so a folder that cannot be
written (under a regular file, on a read-only or full filesystem) must not turn
a passing session into a failing one, nor print a traceback. ``summary.json``
and ``summary.html`` are written as a pair: both, or neither (a previous pair
stays whole). Real faults where the machine allows it (a tmpfs needs root;
those tests skip elsewhere), plus a simulated failing rename for the pair.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from repro_golden.api import write_golden

EIGHT_CHECKS = """
from pathlib import Path

import pytest

HERE = Path(__file__).parent

@pytest.mark.parametrize("i", range(8))
def test_identical(golden_regression, i):
    golden_regression.check(HERE / "emb.zarr", golden_dir=HERE / "emb.golden")
"""
FAILING = """
def test_fails():
    assert False
"""
WARNING = "repro-golden: warning: session summary not written: *"
SUMMARY = ("--golden-summary=html,json",)


@pytest.fixture
def checks(pytester: pytest.Pytester, make_embeddings: Callable[..., Path]) -> Path:
    """A session of eight passing golden checks (summary.json ~11 kB, summary.html ~27 kB)."""
    emb = make_embeddings(pytester.path / "emb.zarr")
    write_golden(emb, pytester.path / "emb.golden", case="demo")
    pytester.makepyfile(test_eight=EIGHT_CHECKS)
    return pytester.path


@pytest.fixture
def read_only_dir(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("ro,size=1m")


@pytest.fixture
def nearly_full_dir(tmpfs: Callable[[str], Path]) -> Path:
    """A tmpfs with 16 kB free: room for one check's ``summary.json``, not its ``summary.html``."""
    mount = tmpfs("size=256k")
    stats = os.statvfs(mount)
    (mount / "filler").write_bytes(b"\0" * (stats.f_bavail * stats.f_frsize - 16 * 1024))
    return mount


def _assert_one_warning(result: pytest.RunResult) -> None:
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output, output
    assert "INTERNALERROR" not in output, output
    warnings = [line for line in result.stdout.lines if "session summary not written" in line]
    assert len(warnings) == 1, output
    assert "summary" in warnings[0]


def test_summary_dir_under_a_regular_file_warns_and_keeps_exit_0(
    pytester: pytest.Pytester, checks: Path
) -> None:
    blocker = checks / "a_file"
    blocker.write_text("not a folder\n")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", *SUMMARY, f"--golden-summary-dir={blocker / 'summary'}"
    )
    result.assert_outcomes(passed=8)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([WARNING + "a path component is not a directory*"])
    _assert_one_warning(result)
    assert blocker.read_text() == "not a folder\n"


def test_summary_fault_keeps_the_exit_status_of_failing_tests(
    pytester: pytest.Pytester, checks: Path
) -> None:
    pytester.makepyfile(test_two=FAILING)
    blocker = checks / "a_file"
    blocker.write_text("")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", *SUMMARY, f"--golden-summary-dir={blocker / 'summary'}"
    )
    result.assert_outcomes(passed=8, failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    _assert_one_warning(result)


def test_read_only_summary_dir_warns_and_keeps_exit_0(
    pytester: pytest.Pytester, checks: Path, read_only_dir: Path
) -> None:
    result = pytester.runpytest(
        "-p", "no:cacheprovider", *SUMMARY, f"--golden-summary-dir={read_only_dir / 'summary'}"
    )
    result.assert_outcomes(passed=8)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([WARNING + "read-only filesystem*"])
    _assert_one_warning(result)


def test_full_disk_writes_neither_summary_file(
    pytester: pytest.Pytester, checks: Path, nearly_full_dir: Path
) -> None:
    """Room for ``summary.json`` but not ``summary.html``: neither is left, exit 0, one line."""
    assert (nearly_full_dir / "filler").is_file()
    result = pytester.runpytest(
        "-p", "no:cacheprovider", *SUMMARY, f"--golden-summary-dir={nearly_full_dir}"
    )
    result.assert_outcomes(passed=8)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([WARNING + "no space left on device*"])
    _assert_one_warning(result)
    assert sorted(p.name for p in nearly_full_dir.iterdir()) == ["filler"]


def test_a_summary_path_taken_by_a_folder_warns_and_keeps_exit_0(
    pytester: pytest.Pytester, checks: Path
) -> None:
    """A fault the storage mapping does not name (``summary.json`` is a folder) is a warning too."""
    out = checks / "summary"
    (out / "summary.json").mkdir(parents=True)
    result = pytester.runpytest("-p", "no:cacheprovider", *SUMMARY, f"--golden-summary-dir={out}")
    assert result.ret == pytest.ExitCode.OK
    _assert_one_warning(result)
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]
    assert not any((out / "summary.json").iterdir())


def _pair(directory: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(directory.iterdir())}


def _failing_replace(monkeypatch: pytest.MonkeyPatch, victim: Path) -> None:
    """Make the rename onto ``victim`` fail with an I/O error, as a dying disk would."""
    real = os.replace

    def replace(source: object, target: object, **kwargs: object) -> None:
        if Path(str(target)) == victim:
            raise OSError(errno.EIO, "Input/output error", str(target))
        real(source, target, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "replace", replace)


def test_pair_fault_after_the_first_rename_restores_the_previous_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repro_golden.errors import StorageError
    from repro_golden.plugin.session_summary import publish_together

    publish_together(tmp_path, {"summary.json": b"old json", "summary.html": b"old html"}, what="s")
    assert _pair(tmp_path) == {"summary.html": "old html", "summary.json": "old json"}
    _failing_replace(monkeypatch, tmp_path / "summary.html")
    with pytest.raises(StorageError, match=r"summary\.html: cannot write s: input/output error"):
        publish_together(tmp_path, {"summary.json": b"new", "summary.html": b"new"}, what="s")
    assert _pair(tmp_path) == {"summary.html": "old html", "summary.json": "old json"}


def test_pair_fault_without_a_previous_pair_leaves_neither_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repro_golden.errors import StorageError
    from repro_golden.plugin.session_summary import publish_together

    out = tmp_path / "new" / "summary"
    _failing_replace(monkeypatch, out / "summary.html")
    with pytest.raises(StorageError):
        publish_together(out, {"summary.json": b"{}", "summary.html": b"<p>"}, what="s")
    assert list(tmp_path.iterdir()) == []  # the folders it created are gone too


def test_pair_replaces_a_previous_pair_without_leftovers(tmp_path: Path) -> None:
    from repro_golden.plugin.session_summary import publish_together

    publish_together(tmp_path, {"summary.json": b"1", "summary.html": b"1"}, what="s")
    publish_together(tmp_path, {"summary.json": b"2", "summary.html": b"2"}, what="s")
    assert _pair(tmp_path) == {"summary.html": "2", "summary.json": "2"}
