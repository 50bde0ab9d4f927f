"""Every row-level finding names the cell: FOV, track_id, t, id, the columns and the values.

The defects are the ones a new user met: a changed value reported as a row
position, a dropped row as "expected 40, obtained 39", a swapped pair as "a
different order", a NaN as "max abs error >= 0", and a one-row shift that
also listed every column of the dataset.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from core_stores import Embeddings

from repro_golden.api import check_golden, compare_embeddings, write_golden
from repro_golden.core.outcomes import CellSetKind, Outcome, Status
from repro_golden.core.report import ComparisonReport
from repro_golden.core.tolerance import ToleranceSpec

Writer = Callable[..., Path]


def _only_failure(report: ComparisonReport) -> Outcome:
    failures = [o for o in report.worst_first if not o.passed]
    assert len(failures) == 1, report.render_terminal()
    return failures[0]


def _subset(emb: Embeddings, rows: np.ndarray) -> Embeddings:
    return emb.with_(X=emb.X[rows], P=emb.P[rows], obs={k: v[rows] for k, v in emb.obs.items()})


def test_changed_value_names_cell_column_and_values(
    embeddings: Embeddings, write_store: Writer
) -> None:
    x = embeddings.X.copy()
    x[45, 3] += np.float32(0.5)  # FOV B/1/0, its row 5: track 15, t 0, id 45
    report = compare_embeddings(
        write_store("obt", embeddings.with_(X=x)), write_store("ref", embeddings)
    )
    failure = _only_failure(report)
    assert failure.violation is not None
    (cell,) = failure.violation.cells
    assert (cell.cell.fov, cell.cell.track_id, cell.cell.t, cell.cell.id) == ("B/1/0", 15, 0, 45)
    assert cell.cell.row == 5
    assert cell.columns == (3,)
    assert cell.obtained == float(x[45, 3])
    assert cell.expected == float(embeddings.X[45, 3])
    text = report.render_terminal()
    assert "B/1/0 track 15 t 0 id 45: column [3] obtained" in text


def test_nan_is_named_as_nan(embeddings: Embeddings, write_store: Writer, tmp_path: Path) -> None:
    x = embeddings.X.copy()
    x[2, 7] = np.nan
    ref = write_store("ref", embeddings)
    obt = write_store("obt", embeddings.with_(X=x))
    write_golden(ref, tmp_path / "g", full_copy_limit=0)
    for report in (compare_embeddings(obt, ref), check_golden(obt, tmp_path / "g")):
        text = report.render_terminal()
        assert ">= 0" not in text
        assert "at least 0 " not in text
        assert "NaN or inf" in text
        assert "A/1/0 track 0 t 2 id 2" in text
    cell = _only_failure(compare_embeddings(obt, ref)).violation.cells[0]  # type: ignore[union-attr]
    assert cell.nonfinite
    assert "obtained NaN" in cell.describe()


def test_dropped_row_names_the_missing_cell(embeddings: Embeddings, write_store: Writer) -> None:
    kept = np.r_[0:10, 11:120]  # drop A/1/0 row 10: track 3, t 1, id 10
    report = compare_embeddings(
        write_store("obt", _subset(embeddings, kept)), write_store("ref", embeddings)
    )
    failure = _only_failure(report)
    assert failure.status is Status.SHAPE_CHANGED
    (missing,) = failure.cell_sets
    assert missing.kind is CellSetKind.MISSING
    assert [(c.track_id, c.t, c.id) for c in missing.cells] == [(3, 1, 10)]
    assert "1 missing cell(s): A/1/0 track 3 t 1 id 10" in report.render_terminal()


def test_swapped_pair_names_both_cells(embeddings: Embeddings, write_store: Writer) -> None:
    order = np.arange(120)
    order[[50, 51]] = [51, 50]  # B/1/0 rows 10 and 11
    report = compare_embeddings(
        write_store("obt", _subset(embeddings, order)), write_store("ref", embeddings)
    )
    failure = _only_failure(report)
    assert failure.status is Status.ROWS_REORDERED
    (moved,) = failure.cell_sets
    assert moved.kind is CellSetKind.MOVED
    assert sorted(c.id for c in moved.cells) == [50, 51]


def test_one_row_shift_is_not_also_reported_as_every_column(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    x = embeddings.X.copy()
    x[45] += np.float32(0.01)
    ref = write_store("ref", embeddings)
    write_golden(ref, tmp_path / "g", full_copy_limit=0)
    report = check_golden(
        write_store("obt", embeddings.with_(X=x)), tmp_path / "g", tolerance=ToleranceSpec()
    )
    text = report.render_terminal()
    assert "(all FOVs)" not in text
    assert "columns" not in text
    failure = _only_failure(report)
    assert failure.fov == "B/1/0"
    assert failure.violation is not None
    assert failure.violation.bound
    assert "max abs error at least" in text
    assert [c.cell.id for c in failure.violation.cells] == [45]
    assert all(o.violation is None or not o.violation.columns for o in report.worst_first)
