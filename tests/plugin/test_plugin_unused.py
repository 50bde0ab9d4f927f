"""Stale golden files: listed after a complete session, failed on, or deleted inside the roots."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from repro_golden.api import write_golden

TWO_TESTS = """
from pathlib import Path

def test_kept(golden_regression):
    golden_regression.check(Path(__file__).parent / "emb.zarr")

def test_skipped(golden_regression):
    import pytest
    pytest.skip("skipped tests still account for their golden files")
"""


@pytest.fixture
def project(pytester: pytest.Pytester, make_embeddings: Callable[..., Path]) -> Path:
    """A module whose data dir holds the used, a skipped test's, and a stale golden dir."""
    emb = make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_mod=TWO_TESTS)
    data = pytester.path / "test_mod"
    for name in ("test_kept", "test_skipped", "test_renamed_long_ago"):
        write_golden(emb, data / f"{name}.golden")
    write_golden(emb, pytester.path / "golden" / "gone_case")  # under the golden root
    write_golden(emb, pytester.path / "elsewhere" / "keep.golden")  # outside every root
    return pytester.path


def _stale(root: Path) -> list[Path]:
    return [root / "golden" / "gone_case", root / "test_mod" / "test_renamed_long_ago.golden"]


def test_warn_lists_unused_golden_dirs(pytester: pytest.Pytester, project: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "repro-golden: 2 golden directories unused: no test of this session used them",
            *(f"  {p}" for p in _stale(project)),
        ]
    )
    assert "test_skipped.golden" not in result.stdout.str()
    assert "elsewhere" not in result.stdout.str()
    assert all(p.exists() for p in _stale(project))


def test_fail_fails_the_session(pytester: pytest.Pytester, project: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--golden-unused=fail")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*2 golden directories unused (failing the session)*"])


def test_delete_removes_only_inside_the_roots(pytester: pytest.Pytester, project: Path) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider", "--golden-unused=delete")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*2 golden directories deleted*"])
    assert not any(p.exists() for p in _stale(project))
    for kept in ("test_mod/test_kept.golden", "test_mod/test_skipped.golden"):
        assert (project / kept / "golden.json").is_file()
    assert (project / "elsewhere" / "keep.golden" / "golden.json").is_file()
    assert (project / "golden").is_dir()  # the root itself stays


def test_partial_sessions_judge_nothing(pytester: pytest.Pytester, project: Path) -> None:
    for selection in (("-k", "kept"), ("test_mod.py::test_kept",)):
        result = pytester.runpytest("-p", "no:cacheprovider", "--golden-unused=delete", *selection)
        result.assert_outcomes(passed=1)
        assert "unused" not in result.stdout.str()
        assert all(p.exists() for p in _stale(project)), selection
