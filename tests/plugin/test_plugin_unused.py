"""Stale golden files: listed after a complete session, failed on, or deleted inside the roots."""

from __future__ import annotations

import json
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
    result.stdout.fnmatch_lines(["*2 golden directories unused*", "*delete deleted 8 paths"])
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


def _deleted_lines(stdout: str) -> list[str]:
    return [line.strip()[len("deleted ") :] for line in stdout.splitlines() if "  deleted " in line]


def test_delete_prints_each_path_it_deletes(pytester: pytest.Pytester, project: Path) -> None:
    stale = _stale(project)
    expected = {str(p) for p in stale}
    for directory in stale:
        expected |= {str(f) for f in directory.iterdir()}
    result = pytester.runpytest("-p", "no:cacheprovider", "--golden-unused=delete")
    assert set(_deleted_lines(result.stdout.str())) == expected
    result.stdout.fnmatch_lines(
        [f"repro-golden: --golden-unused=delete deleted {len(expected)} paths"]
    )


NESTED = """
from pathlib import Path

def test_inner(golden_regression):
    here = Path(__file__).parent
    inner = here / "test_nested" / "outer" / "inner.golden"
    golden_regression.check(here / "emb.zarr", golden_dir=inner)
"""


def test_delete_keeps_a_stale_manifest_above_a_used_set(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    """A stale ``outer/golden.json`` must not take the used ``outer/inner.golden`` with it."""
    emb = make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_nested=NESTED)
    outer = pytester.path / "test_nested" / "outer"
    write_golden(emb, outer)
    write_golden(emb, outer / "inner.golden")
    before = sorted(p.relative_to(outer) for p in outer.rglob("*"))
    for _ in range(2):  # the second session still finds the inner set
        result = pytester.runpytest("-p", "no:cacheprovider", "--golden-unused=delete")
        result.assert_outcomes(passed=1)
        assert sorted(p.relative_to(outer) for p in outer.rglob("*")) == before
        result.stdout.fnmatch_lines(
            [f"  kept {outer}: it holds {outer / 'inner.golden'}, which this session uses"]
        )
        assert _deleted_lines(result.stdout.str()) == []


def test_delete_removes_only_golden_files_from_a_data_folder(
    pytester: pytest.Pytester, project: Path
) -> None:
    """A stale manifest among a module's data removes its own files, never ``input.csv``."""
    data = project / "test_mod" / "data"
    write_golden(project / "emb.zarr", data)
    (data / "input.csv").write_text("a,b\n1,2\n")
    (data / "plate.zarr").mkdir()
    (data / "plate.zarr" / ".zattrs").write_text("{}")
    golden_files = sorted(p for p in data.iterdir() if p.suffix in (".json", ".bin"))
    assert len(golden_files) >= 2  # golden.json and its sketch
    foreign = project / "test_mod" / "foreign"
    foreign.mkdir()
    (foreign / "golden.json").write_text('{"schema": "another-tool/1"}')
    result = pytester.runpytest("-p", "no:cacheprovider", "--golden-unused=delete")
    result.assert_outcomes(passed=1, skipped=1)
    assert sorted(p.name for p in data.iterdir()) == ["input.csv", "plate.zarr"]
    assert (data / "plate.zarr" / ".zattrs").read_text() == "{}"
    assert (foreign / "golden.json").read_text() == '{"schema": "another-tool/1"}'
    deleted = set(_deleted_lines(result.stdout.str()))
    assert {str(p) for p in golden_files} <= deleted
    assert not any(str(data / name) in deleted for name in ("input.csv", "plate.zarr"))
    assert str(data) not in deleted
    result.stdout.fnmatch_lines(
        [
            f"  kept {data}: the folder holds files that are not golden files "
            "(input.csv, plate.zarr)",
            f"  kept {foreign}: its golden.json is not a repro-golden manifest*",
        ]
    )


SYM = """
def test_sym():
    pass
"""


def test_delete_never_follows_a_symlink_out_of_the_rootdir(
    pytester: pytest.Pytester,
    make_embeddings: Callable[..., Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``tests/test_sym`` linking to another folder: its golden sets are not this project's."""
    emb = make_embeddings(pytester.path / "emb.zarr")
    outside = tmp_path_factory.mktemp("symdata")
    write_golden(emb, outside / "victim2.golden")
    before = sorted(p.name for p in (outside / "victim2.golden").iterdir())
    tests = pytester.mkpydir("tests")
    (tests / "test_sym.py").write_text(SYM)
    (tests / "test_sym").symlink_to(outside, target_is_directory=True)
    result = pytester.runpytest("-p", "no:cacheprovider", "--golden-unused=delete")
    result.assert_outcomes(passed=1)
    assert sorted(p.name for p in (outside / "victim2.golden").iterdir()) == before
    assert _deleted_lines(result.stdout.str()) == []
    result.stdout.fnmatch_lines(
        [f"  kept {outside / 'victim2.golden'}: it is outside the rootdir*"]
    )


def test_collection_errors_judge_nothing(pytester: pytest.Pytester, project: Path) -> None:
    """A module that failed to import proves nothing unused: its tests were never seen."""
    pytester.makepyfile(test_broken="import a_module_that_does_not_exist_here\n")
    result = pytester.runpytest(
        "-p", "no:cacheprovider", "--golden-unused=delete", "--continue-on-collection-errors"
    )
    result.assert_outcomes(passed=1, skipped=1, errors=1)
    assert "unused" not in result.stdout.str()
    assert all(p.exists() for p in _stale(project))


def test_a_fault_while_deleting_is_reported_not_raised(tmp_path: Path) -> None:
    from repro_golden.plugin.unused import DeletionLog, DeletionPlan, carry_out

    blocker = tmp_path / "a_file"
    blocker.write_text("")
    plan = DeletionPlan(tmp_path / "set", files=(blocker / "golden.json",))
    log = DeletionLog()
    carry_out(plan, log)
    assert log.deleted == []
    assert log.kept == [
        (tmp_path / "set", f"could not delete {blocker / 'golden.json'}: Not a directory")
    ]


def _manifest(directory: Path, sketch_file: str) -> Path:
    directory.mkdir(parents=True)
    text = '{"schema": "repro-golden/golden/2", "sketch": {"file": "%s"}, "full": null}'
    (directory / "golden.json").write_text(text % sketch_file)
    return directory


def test_delete_unlinks_links_and_never_what_they_point_to(tmp_path: Path) -> None:
    """A data file or manifest that is a symlink: the link may go, its target never."""
    from repro_golden.plugin.unused import DeletionLog, carry_out, plan_deletion

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.bin").write_text("keep me")
    (outside / "golden.json").write_text('{"schema": "repro-golden/golden/2"}')
    root = tmp_path / "project"
    sketch = "sketch-" + "0" * 32 + ".bin"
    linked_data = _manifest(root / "tests" / "test_a" / "linked.golden", sketch)
    (linked_data / sketch).symlink_to(outside / "precious.bin")
    linked_manifest = root / "tests" / "test_a" / "manifest_link.golden"
    linked_manifest.mkdir()
    (linked_manifest / "golden.json").symlink_to(outside / "golden.json")
    escaping = _manifest(root / "tests" / "test_a" / "escaping.golden", "../../../outside/x.bin")
    log = DeletionLog()
    for directory in (linked_data, linked_manifest, escaping):
        carry_out(plan_deletion(directory, rootdir=root, protected=set()), log)
    assert log.deleted == [linked_data / sketch, linked_data / "golden.json", linked_data]
    assert (outside / "precious.bin").read_text() == "keep me"
    assert (outside / "golden.json").is_file()
    assert dict(log.kept) == {
        linked_manifest: "its golden.json is not a regular file",
        escaping: "its golden.json names no valid sketch file "
        "([sketch.file] '../../../outside/x.bin')",
    }


def test_delete_takes_the_oracle_section_with_its_set(tmp_path: Path) -> None:
    """An unused set with an oracle section (``golden write --oracle``): its oracle files go
    with it, so the folder is left empty and removed; another tool's file stays."""
    from repro_golden.plugin.unused import DeletionLog, carry_out, plan_deletion

    root = tmp_path / "project"
    sketch = "sketch-" + "0" * 32 + ".bin"
    truth = "oracle-" + "1" * 32 + ".bin"
    directory = _manifest(root / "tests" / "test_a" / "stale.golden", sketch)
    (directory / sketch).write_bytes(b"sketch")
    (directory / truth).write_bytes(b"truth")
    oracle = {"schema": "repro-golden/oracle/1", "truth": {"file": truth}}
    (directory / "oracle.json").write_text(json.dumps(oracle))
    log = DeletionLog()
    carry_out(plan_deletion(directory, rootdir=root, protected=set()), log)
    assert log.deleted == [
        directory / sketch,
        directory / truth,
        directory / "oracle.json",
        directory / "golden.json",
        directory,
    ]
    other = _manifest(root / "tests" / "test_a" / "other.golden", sketch)
    (other / sketch).write_bytes(b"sketch")
    (other / "oracle.json").write_text('{"schema": "another/tool"}')
    log = DeletionLog()
    carry_out(plan_deletion(other, rootdir=root, protected=set()), log)
    assert (other / "oracle.json").is_file()
    assert other not in log.deleted
