"""The regression fixtures' lifecycle, as pytest-regressions users know it.

missing expected files: fail and write; then pass; a change: fail, explain, leave the
files alone; ``--force-regen``: rewrite and fail; then pass. ``--regen-all``: rewrite
and pass. Each step runs a real pytest session through ``pytester``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

GOLDEN_TEST = """
from pathlib import Path

def test_embeddings(golden_regression):
    here = Path(__file__).parent
    golden_regression.check(here / "emb.zarr", golden_dir=here / "golden" / "demo")
"""

DEFAULT_DIR_TEST = """
from pathlib import Path

def test_embeddings(golden_regression):
    golden_regression.check(Path(__file__).parent / "emb.zarr")
"""

REFERENCE_TEST = """
from pathlib import Path

def test_embeddings(embedding_regression):
    here = Path(__file__).parent
    embedding_regression.check(here / "emb.zarr", reference=here / "ref.zarr")
"""


def _manifest(directory: Path) -> bytes:
    return (directory / "golden.json").read_bytes()


def test_golden_regression_lifecycle(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    emb = make_embeddings(pytester.path / "emb.zarr")
    golden = pytester.path / "golden" / "demo"
    reports = pytester.path / "reports"
    pytester.makepyfile(test_golden=GOLDEN_TEST)
    run = ("-p", "no:cacheprovider", f"--golden-report-dir={reports}")

    result = pytester.runpytest(*run)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*File not found in data directory, created:*", f"*{golden}*"])
    json.loads(_manifest(golden))
    written = _manifest(golden)

    pytester.runpytest(*run).assert_outcomes(passed=1)
    assert sorted(p.suffix for p in reports.iterdir()) == [".json", ".md"]

    make_embeddings(emb, shift_fov="A/1/1", shift=0.5)
    result = pytester.runpytest(*run)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*Embeddings differ from the golden files:*",
            f"*reference: {golden}*",
            "*A/1/1*",
            "*Reports: *.json, *.md*",
            "*--force-regen*",
        ]
    )
    assert "B/2/0" not in _failure_table(result.stdout.str())
    assert _manifest(golden) == written, "golden files changed without --force-regen"

    result = pytester.runpytest(*run, "--force-regen")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Files differ and --force-regen set, regenerating file at:*"])
    assert _manifest(golden) != written

    pytester.runpytest(*run).assert_outcomes(passed=1)


def _failure_table(output: str) -> str:
    """The part of the failure message between the headline and the reports line."""
    start = output.index("Embeddings differ from the golden files:")
    return output[start : output.index("Reports: ", start)]


def test_golden_regression_regen_all(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    emb = make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_golden=GOLDEN_TEST)
    golden = pytester.path / "golden" / "demo"
    pytester.runpytest("--regen-all").assert_outcomes(passed=1)
    first = _manifest(golden)

    make_embeddings(emb, seed=1)
    pytester.runpytest().assert_outcomes(failed=1)
    pytester.runpytest("--regen-all").assert_outcomes(passed=1)
    assert _manifest(golden) != first
    pytester.runpytest().assert_outcomes(passed=1)


def test_golden_regression_default_location(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    """Without ``golden_dir``, golden files go where pytest-regressions puts its files."""
    make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_where=DEFAULT_DIR_TEST)
    pytester.runpytest().assert_outcomes(failed=1)
    assert (pytester.path / "test_where" / "test_embeddings.golden" / "golden.json").is_file()
    pytester.runpytest().assert_outcomes(passed=1)


def test_corrupt_golden_fails_and_force_regen_repairs(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_golden=GOLDEN_TEST)
    golden = pytester.path / "golden" / "demo"
    pytester.runpytest("--regen-all").assert_outcomes(passed=1)
    (golden / "golden.json").write_text("{ not json")

    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*Golden files at {golden} cannot be used:*", "*--force-regen*"])
    pytester.runpytest("--force-regen").assert_outcomes(failed=1)
    pytester.runpytest().assert_outcomes(passed=1)


def test_embedding_regression_lifecycle(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    emb = make_embeddings(pytester.path / "emb.zarr")
    ref = pytester.path / "ref.zarr"
    pytester.makepyfile(test_reference=REFERENCE_TEST)

    # A missing reference fails, saying where it looked, and is never made from this run.
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*No reference at {ref}*rerun with --force-regen*"])
    assert not ref.exists()

    result = pytester.runpytest("--force-regen")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*File not found in data directory, created:*"])
    assert (ref / "X").is_dir()

    pytester.runpytest().assert_outcomes(passed=1)

    make_embeddings(emb, shift_fov="B/2/0", shift=1e-3)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*Embeddings differ from the reference:*", "*B/2/0*", "*--force-regen*"]
    )

    pytester.runpytest("--force-regen").assert_outcomes(failed=1)
    pytester.runpytest().assert_outcomes(passed=1)


def test_golden_regression_applies_the_recorded_case_tolerance(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    from repro_golden.api import write_golden

    golden = pytester.path / "golden" / "demo"
    write_golden(
        make_embeddings(pytester.path / "ref.zarr"),
        golden,
        case={"name": "demo", "tolerance": {"atol": 0.5, "rtol": 0.0}},
    )
    make_embeddings(
        pytester.path / "emb.zarr", shift_fov="*", shift=0.1
    )  # every FOV: see v3 evidence
    written = _manifest(golden)
    pytester.makepyfile(test_golden=GOLDEN_TEST)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)

    pytester.makepyfile(
        test_golden=GOLDEN_TEST.replace(
            'golden_dir=here / "golden" / "demo")',
            'golden_dir=here / "golden" / "demo", tolerance=ToleranceSpec())',
        ).replace(
            "from pathlib import Path",
            "from pathlib import Path\nfrom repro_golden.core.tolerance import ToleranceSpec",
        )
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*A/1/1*"])
    assert _manifest(golden) == written
