"""Under pytest-xdist, concurrent writers of one golden directory leave it whole.

Eight tests on two workers check the same embeddings against the same golden
directory: all of them write it on the first run (missing) and under
``--regen-all``. Afterwards the golden files must parse and pass.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from repro_golden.api import check_golden

pytest.importorskip("xdist", reason="pytest-xdist is a test extra")

SHARED_GOLDEN_TEST = """
from pathlib import Path

import pytest

@pytest.mark.parametrize("i", range(8))
def test_same_golden(golden_regression, i):
    here = Path(__file__).parent
    golden_regression.check(here / "emb.zarr", golden_dir=here / "golden" / "shared")
"""


def _assert_whole(golden: Path) -> None:
    manifest = json.loads((golden / "golden.json").read_text())
    assert isinstance(manifest, dict)
    leftovers = [p.name for p in golden.parent.iterdir() if p.name.startswith(".")]
    leftovers += [p.name for p in golden.iterdir() if p.name.endswith((".tmp", ".partial"))]
    assert leftovers == [], f"temporary files left behind: {leftovers}"


def test_xdist_workers_leave_no_corrupt_golden(
    pytester: pytest.Pytester, make_embeddings: Callable[..., Path]
) -> None:
    emb = make_embeddings(pytester.path / "emb.zarr")
    pytester.makepyfile(test_shared=SHARED_GOLDEN_TEST)
    golden = pytester.path / "golden" / "shared"

    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) >= 1, result.stdout.str()
    _assert_whole(golden)
    assert check_golden(emb, golden).passed

    make_embeddings(emb, seed=3)
    pytester.runpytest_subprocess("-n", "2", "--regen-all").assert_outcomes(passed=8)
    _assert_whole(golden)
    pytester.runpytest_subprocess("-n", "2").assert_outcomes(passed=8)
