"""Reports are rendered from outcome values: worst first, capped, JSON/Markdown/HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro_golden.core.outcomes import Outcome, Status, Violation
from repro_golden.core.report import ComparisonReport
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import InputError


def _report() -> ComparisonReport:
    outcomes = [
        Outcome(f"A/{i}/0", "X", Status.IDENTICAL, "digests equal", rows=5) for i in range(30)
    ]
    outcomes.append(Outcome("B/1/0", None, Status.EXTRA_FOV, "FOV not in the reference"))
    for i, error in enumerate((0.5, float("inf"), 0.01)):
        outcomes.append(
            Outcome(
                f"C/{i}/0",
                "X",
                Status.VIOLATED,
                "allclose",
                rows=9,
                violation=Violation(
                    rows=(1, 2),
                    num_rows=40,
                    max_abs_error=error,
                    max_rel_error=1.5,
                    min_cosine=0.98,
                ),
            )
        )
    return ComparisonReport(
        tuple(outcomes), ToleranceSpec(atol=1e-3), "obt.zarr", "ref.zarr", "full tensors"
    )


def test_terminal_lists_failures_worst_first_and_caps() -> None:
    report = _report()
    assert not report.passed
    text = report.render_terminal(max_rows=3)
    lines = text.splitlines()
    assert lines[0].startswith("FAILED (full tensors, atol=0.001")
    assert "30 identical" in lines[0]
    listed = [line.split()[-1] for line in lines[3:6]]
    assert [line.split(":")[0].split()[-2] for line in lines[3:6]] == ["C/1/0", "C/0/0", "C/2/0"]
    assert "max abs error inf" in lines[3]
    assert "40 rows [1,2...]" in lines[3]
    assert "A/" not in text
    assert len(listed) == 3
    assert lines[-1].strip() == "... and 1 more (see the JSON report)"


def test_passing_report_shows_passes() -> None:
    report = ComparisonReport(
        (Outcome("A/1/0", "X", Status.CONSISTENT, "summaries agree"),),
        ToleranceSpec(),
        "o",
        "g",
        "golden summaries",
    )
    assert report.passed
    assert "consistent" in report.render_terminal()


@pytest.mark.parametrize("suffix", [".json", ".md", ".html"])
def test_written_reports(tmp_path: Path, suffix: str) -> None:
    path = _report().write(tmp_path / f"report{suffix}")
    text = path.read_text()
    if suffix == ".json":
        data = json.loads(text)  # strict JSON: infinities become strings
        assert data["passed"] is False
        assert data["outcomes"][0]["violation"]["max_abs_error"] == "inf"
        assert data["counts"] == {"identical": 30, "violated": 3, "extra FOV": 1}
    else:
        assert "C/1/0" in text
        assert "FAILED" in text


def test_unknown_report_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.json, \.md or \.html"):
        _report().write(tmp_path / "report.txt")
