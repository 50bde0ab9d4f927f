"""Reports are rendered from outcome values: worst first, capped, JSON/Markdown/HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro_golden.core.outcomes import (
    Cell,
    CellDiff,
    CellSet,
    CellSetKind,
    Outcome,
    Status,
    Violation,
)
from repro_golden.core.report import ComparisonReport, report_format
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
    assert "40 rows, " in lines[3]
    assert "rows [1,2...]" in lines[3]
    assert "A/" not in text
    assert len(listed) == 3
    # No JSON report was written: the cut-off line must not point to one.
    assert "JSON report" not in lines[-1]
    assert lines[-1].strip().startswith("... and 1 more (write them all with a .json report")
    pointed = report.render_terminal(max_rows=3, json_report="out/r.json").splitlines()[-1]
    assert pointed.strip() == "... and 1 more (see the JSON report out/r.json)"


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
    with pytest.raises(InputError, match=r"report\.txt"):
        report_format(tmp_path / "report.txt")
    assert report_format("r.JSON") == "json"


def _column_report(*row_findings: Outcome) -> ComparisonReport:
    columns = Outcome(
        None,
        "X",
        Status.VIOLATED,
        "proven by column sum",
        violation=Violation(rows=(0, 1, 2), num_rows=768, max_abs_error=0.01, columns=True),
    )
    return ComparisonReport((*row_findings, columns), ToleranceSpec(), "o", "g", "golden summaries")


def test_column_findings_are_columns_in_json_and_suppressed_when_rows_explain_them() -> None:
    alone = _column_report()
    data = alone.to_dict()
    (finding,) = data["outcomes"]
    assert finding["violation"]["columns"] == [0, 1, 2]
    assert finding["violation"]["num_columns"] == 768
    assert finding["violation"]["rows"] == []
    assert "768 columns [0,1,2...]" in alone.render_terminal()
    row = Outcome(
        "B/1/0",
        "X",
        Status.VIOLATED,
        "proven by row sum",
        rows=9,
        violation=Violation(rows=(5,), num_rows=1, max_abs_error=0.01, bound=True),
    )
    explained = _column_report(row)
    assert not explained.passed
    text = explained.render_terminal()
    assert "(all FOVs)" not in text
    assert "columns" not in text
    assert "1 violated" in explained.headline()
    assert len(explained.to_dict()["suppressed"]) == 1
    assert "max abs error at least 0.01" in text


def test_nan_and_unbounded_findings_are_named_as_such() -> None:
    nan_rows = Violation(
        rows=(3,),
        num_rows=1,
        max_abs_error=0.0,
        bound=True,
        checks=("non-finite obtained where reference row is finite",),
    )
    outcome = Outcome("A/1/0", "X", Status.VIOLATED, "proven", violation=nan_rows)
    report = ComparisonReport((outcome,), ToleranceSpec(), "o", "g", "golden summaries")
    text = report.render_terminal()
    assert ">= 0" not in text
    assert "at least 0" not in text
    assert "NaN or inf where the expected row is finite" in text


def test_cells_are_listed_by_key_worst_first_and_capped() -> None:
    diffs = tuple(
        CellDiff(
            Cell("B/1/0", row=r, track_id=r // 3, t=r % 3, id=r, y=80, x=96),
            columns=(7, 2),
            num_columns=2,
            obtained=1.5,
            expected=1.0,
            abs_error=0.5,
        )
        for r in (7, 4, 9, 1, 2)
    )
    violation = Violation(rows=(7, 4, 9, 1, 2), num_rows=5, max_abs_error=0.5, cells=diffs)
    outcome = Outcome("B/1/0", "X", Status.VIOLATED, "allclose", violation=violation)
    report = ComparisonReport((outcome,), ToleranceSpec(), "o", "r", "full tensors")
    line = report.render_terminal().splitlines()[-1]
    assert "B/1/0 track 2 t 1 id 7 (y 80, x 96): 2 columns [7,2] obtained 1.5, expected 1" in line
    assert line.count("track ") == 3
    assert line.endswith("and 2 more")
    cells = report.to_dict()["outcomes"][0]["violation"]["cells"]
    assert [c["cell"]["id"] for c in cells] == [7, 4, 9, 1, 2]
    assert report.to_dict()["schema"] == "repro-golden/report/2"
    missing = CellSet(CellSetKind.MISSING, (Cell("A/1/0", row=10, track_id=3, t=1, id=10),), 1)
    shape = Outcome(
        "A/1/0",
        None,
        Status.SHAPE_CHANGED,
        "number of rows",
        expected="40",
        obtained="39",
        cell_sets=(missing,),
    )
    text = ComparisonReport((shape,), ToleranceSpec(), "o", "r", "full tensors").render_terminal()
    assert "1 missing cell(s): A/1/0 track 3 t 1 id 10" in text


def test_every_rendering_shows_the_same_notes_warning_and_diagnosis(tmp_path: Path) -> None:
    """One report model: the Markdown report CI keeps shows the diagnosis and the
    summaries-only warning the terminal shows, and so do the HTML and JSON reports."""
    import dataclasses
    import html

    from repro_golden.core.attribution import Attribution, FieldChange

    consistent = Outcome(
        "D/1/0", "X", Status.CONSISTENT, "summaries agree", rows=4, detection_limit=0.007
    )
    report = dataclasses.replace(
        _report(),
        outcomes=(*_report().outcomes, consistent),
        notes=("results reproduce bit for bit here",),
        attribution=Attribution(
            (FieldChange("inputs", "checkpoint", "xxh3_128:aa", "xxh3_128:bb"),),
            "the inputs differ (checkpoint): the values are expected to change",
        ),
    )
    expected = (
        "results reproduce bit for bit here",
        "1 passed on summaries alone",
        "the inputs differ (checkpoint)",
        "inputs checkpoint: xxh3_128:aa -> xxh3_128:bb",
    )
    renderings = {
        "terminal": report.render_terminal(),
        "markdown": report.render_markdown(),
        "html": html.unescape(report.render_html()),
        "json": json.dumps(report.to_dict()["lines"]),
    }
    for name, text in renderings.items():
        for phrase in expected:
            assert phrase in text, (name, phrase)
