"""The session summary: one terminal line, HTML + JSON merged across xdist, opened in Chromium.

Four checks of four kinds in one real pytest session (identical; within
tolerance, measured on the golden full copy; consistent, judged by summaries
only; violated, against a full reference), run in-process and on two xdist
workers. The HTML page is loaded by headless Chromium, which must find its
tables and its three kinds of figure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from repro_golden.api import write_golden

FOUR_CHECKS = """
from pathlib import Path

from repro_golden.core.tolerance import ToleranceSpec

HERE = Path(__file__).parent
LOOSE = ToleranceSpec(atol=0.1, rtol=0.0)

def test_identical(golden_regression):
    golden_regression.check(HERE / "emb.zarr", golden_dir=HERE / "full.golden")

def test_within(golden_regression):
    golden_regression.check(HERE / "small.zarr", golden_dir=HERE / "full.golden", tolerance=LOOSE)

def test_consistent(golden_regression):
    golden_regression.check(HERE / "small.zarr", golden_dir=HERE / "sketch.golden", tolerance=LOOSE)

def test_violated(embedding_regression):
    embedding_regression.check(HERE / "big.zarr", reference=HERE / "emb.zarr", tolerance=LOOSE)
"""

LINE = (
    "repro-golden: 4 golden checks: 1 identical, 1 within tolerance, 1 consistent only, 1 violated"
)


@pytest.fixture
def session_dir(pytester: pytest.Pytester, make_embeddings: Callable[..., Path]) -> Path:
    emb = make_embeddings(pytester.path / "emb.zarr")
    # Every FOV shifted: with one FOV shifted and the rest bit-identical, v3 says "changed".
    make_embeddings(pytester.path / "small.zarr", shift_fov="*", shift=1e-3)
    make_embeddings(pytester.path / "big.zarr", shift_fov="B/2/0", shift=0.5)
    write_golden(emb, pytester.path / "full.golden", case="demo")
    write_golden(emb, pytester.path / "sketch.golden", case="demo", full_copy_limit=0)
    pytester.makepyfile(test_four=FOUR_CHECKS)
    return pytester.path


def test_terminal_line_counts_each_kind_of_check(
    pytester: pytest.Pytester, session_dir: Path
) -> None:
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([LINE])
    assert not (session_dir / "golden-summary").exists()  # no files unless asked


def test_summary_files_merge_xdist_workers(pytester: pytest.Pytester, session_dir: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist is a test extra")
    out = session_dir / "summary"
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", "--golden-summary=html,json",
        f"--golden-summary-dir={out}",
    )  # fmt: skip
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines([LINE, f"repro-golden: summary {out / 'summary.json'}"])
    document = json.loads((out / "summary.json").read_text())
    assert document["schema"] == "repro-golden/session-summary/1"
    assert document["counts"] == {
        "identical": 1,
        "within tolerance": 1,
        "consistent only": 1,
        "violated": 1,
    }
    verdicts = {c["nodeid"].rsplit("::", 1)[1]: c["verdict"] for c in document["checks"]}
    assert verdicts == {
        "test_identical": "identical",
        "test_within": "within tolerance",
        "test_consistent": "consistent only",
        "test_violated": "violated",
    }
    (violated,) = [c for c in document["checks"] if not c["passed"]]
    assert [s["fov"] for s in violated["violated_rows"]] == ["B/2/0"]
    assert violated["cosines"], "full-tensor checks keep per-row cosines"


def test_unknown_summary_format_is_a_usage_error(
    pytester: pytest.Pytester, session_dir: Path
) -> None:
    result = pytester.runpytest("--golden-summary=pdf")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--golden-summary: unknown format(s) *pdf*html, json*"])


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.table_rows = 0
        self.charts: list[str] = []
        self.marks = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table":
            self.tables += 1
        elif tag == "tr":
            self.table_rows += 1
        elif tag == "svg" and found.get("data-chart"):
            self.charts.append(str(found["data-chart"]))
        elif tag in ("rect", "circle") and found.get("class") in ("bar", "row"):
            self.marks += 1


def test_html_summary_opens_in_chromium_with_tables_and_figures(
    pytester: pytest.Pytester, session_dir: Path, tmp_path: Path
) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless Chromium is not installed (Debian: apt-get install chromium)")
    out = session_dir / "summary"
    pytester.runpytest(
        "-p", "no:cacheprovider", "--golden-summary=html", f"--golden-summary-dir={out}"
    )
    page = out / "summary.html"
    assert page.is_file()
    assert not (out / "summary.json").exists()
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    elements = _Elements()
    elements.feed(dom.stdout)
    assert elements.tables >= 3  # counts, checks, the violated check's failures
    assert elements.table_rows >= 2 + 5
    assert elements.charts.count("fov-errors") == 4
    assert elements.charts.count("cosine") >= 2  # the full-tensor checks
    assert elements.charts.count("row-errors") == 1  # the violated FOV
    assert elements.marks > 20
    assert "B/2/0" in dom.stdout


def test_golden_strict_fails_summary_only_checks(
    pytester: pytest.Pytester, session_dir: Path
) -> None:
    """``--golden-strict`` (or ini ``golden_strict``): "consistent" is not enough to pass."""
    result = pytester.runpytest("-p", "no:cacheprovider", "--golden-strict", "-k", "consistent")
    result.assert_outcomes(failed=1)
    pytester.makeini("[pytest]\ngolden_strict = true\n")
    pytester.runpytest("-p", "no:cacheprovider", "-k", "consistent").assert_outcomes(failed=1)
    pytester.makeini("[pytest]\ngolden_strict = false\n")
    pytester.runpytest("-p", "no:cacheprovider", "-k", "consistent").assert_outcomes(passed=1)
