"""Guard rails: fixtures never make a reference from the code under test, nor touch another case.

Each scenario is one a user ran into: a mistyped reference path that became
the next run's reference; ``--force-regen`` with an explicit ``golden_dir`` of
another case that rewrote it (and dropped its case); an unusable store that
left an empty ``<test>.golden/`` folder behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from repro_golden.api import write_golden

MISTYPED_REFERENCE = """
from pathlib import Path

def test_embeddings(embedding_regression):
    here = Path(__file__).parent
    embedding_regression.check(here / "emb.zarr", reference=here / "refernce.zarr")
"""

OTHER_CASE = """
from pathlib import Path

def test_embeddings(golden_regression):
    here = Path(__file__).parent
    golden_regression.check(
        here / "emb.zarr", golden_dir=here / "golden" / "other", expected_case="demo"
    )
"""

NO_CASE = """
from pathlib import Path

def test_embeddings(golden_regression):
    here = Path(__file__).parent
    golden_regression.check(here / "emb.zarr", golden_dir=here / "golden" / "demo")
"""

UNUSABLE = """
from pathlib import Path

def test_embeddings(golden_regression):
    golden_regression.check(Path(__file__).parent / "not-a-store.zarr")

def test_reference(embedding_regression):
    embedding_regression.check(Path(__file__).parent / "not-a-store.zarr")
"""


def test_mistyped_reference_fails_and_is_never_created(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_ref=MISTYPED_REFERENCE)
    for _ in range(2):  # the second run must fail too: nothing was made by the first
        result = pytester.runpytest("-p", "no:cacheprovider")
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines([f"*No reference at {pytester.path / 'refernce.zarr'}*"])
        assert not (pytester.path / "refernce.zarr").exists()


def test_golden_files_of_another_case_are_refused_and_never_rewritten(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    write_golden(
        make_embeddings(pytester.path / "old.zarr", seed=7),
        pytester.path / "golden" / "other",
        case="other",
    )
    manifest = (pytester.path / "golden" / "other" / "golden.json").read_bytes()
    make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_given_case=OTHER_CASE)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*golden files of case 'other', expected case 'demo'*"])
    for flag in ("--force-regen", "--regen-all"):
        result = pytester.runpytest("-p", "no:cacheprovider", flag)
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*case 'other'*case*'demo'*"])
        assert "During handling" not in result.stdout.str()
        assert (pytester.path / "golden" / "other" / "golden.json").read_bytes() == manifest


def test_force_regen_keeps_the_recorded_case(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    golden = pytester.path / "golden" / "demo"
    write_golden(make_embeddings(pytester.path / "old.zarr", seed=7), golden, case="demo")
    make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_given_case=NO_CASE)
    pytester.runpytest("-p", "no:cacheprovider", "--force-regen").assert_outcomes(failed=1)
    assert json.loads((golden / "golden.json").read_text())["case"] == "demo"
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_unusable_store_leaves_no_empty_folders(pytester: pytest.Pytester) -> None:
    (pytester.path / "not-a-store.zarr").mkdir()
    pytester.makepyfile(test_unusable=UNUSABLE)
    for flags in ((), ("--force-regen",), ("--regen-all",)):
        result = pytester.runpytest("-p", "no:cacheprovider", *flags)
        result.assert_outcomes(failed=2)
        result.stdout.fnmatch_lines(["*Embeddings cannot be checked:*not-a-store.zarr*"])
        assert not (pytester.path / "test_unusable").exists(), flags
