"""One test per plugin option that decides where things are, run as real pytest sessions.

Each test fails without the behaviour it names: a project that configures
nothing sees no header line; ``--golden-dir`` and ``--golden-case`` decide
where the ``golden_regression`` fixture keeps a case's golden files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the caller's shell has set, these sessions configure the plugin themselves."""
    for name in (
        "REPRO_GOLDEN_HPC_ROOT",
        "REPRO_GOLDEN_HPC_CKPT",
        "REPRO_GOLDEN_HPC_DATA",
        "REPRO_GOLDEN_HPC_TRACKS",
        "REPRO_GOLDEN_HPC_REFERENCE",
    ):
        monkeypatch.delenv(name, raising=False)


def test_plugin_is_silent_where_nothing_is_configured(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert "repro-golden:" not in result.stdout.str()


def test_header_appears_once_cases_are_configured(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess("--golden-case=example")
    result.stdout.fnmatch_lines(
        ["repro-golden: cases example; golden files in *; cluster root not configured"]
    )


def test_no_case_is_parametrized_by_default(pytester: pytest.Pytester) -> None:
    """The lab's cases are this repository's ini setting, not a library default."""
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        """
        def test_cases(golden_settings):
            assert golden_settings.cases == ()
            assert golden_settings.cluster.root is None
            assert golden_settings.cluster.missing(["ckpt"]) == [
                "checkpoint is not configured (set REPRO_GOLDEN_HPC_CKPT or --golden-data-root)"
            ]
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


_GOLDEN_TEST = """
import os
from pathlib import Path

def test_golden(golden_regression):
    golden_regression.check(Path(os.environ["EMBEDDINGS"]))
"""


def test_golden_dir_and_case_place_the_fixture_golden_files(
    pytester: pytest.Pytester,
    make_embeddings: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = make_embeddings(pytester.path / "emb.zarr")
    monkeypatch.setenv("EMBEDDINGS", str(store))
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_place=_GOLDEN_TEST)
    refs = pytester.path / "refs"
    first = pytester.runpytest("--golden-dir=refs", "--golden-case=demo")
    first.assert_outcomes(failed=1)  # missing golden files: written, and the test fails once
    assert (refs / "demo" / "golden.json").is_file()
    assert not (pytester.path / "test_place").exists(), "wrote into the data dir instead"
    pytester.runpytest("--golden-dir=refs", "--golden-case=demo").assert_outcomes(passed=1)


def test_without_golden_dir_the_fixture_uses_the_test_data_dir(
    pytester: pytest.Pytester,
    make_embeddings: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = make_embeddings(pytester.path / "emb.zarr")
    monkeypatch.setenv("EMBEDDINGS", str(store))
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(test_place=_GOLDEN_TEST)
    pytester.runpytest("--golden-case=demo").assert_outcomes(failed=1)
    assert (pytester.path / "test_place" / "test_golden.golden" / "golden.json").is_file()
