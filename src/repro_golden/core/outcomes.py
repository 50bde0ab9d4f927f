"""Outcomes of a comparison: one frozen value per FOV and array, with an Enum status.

Reports are rendered from these values only; nothing here does I/O.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Any


class Status(enum.Enum):
    """What a comparison established for one FOV and array (or one FOV, or the dataset)."""

    IDENTICAL = "identical"
    """Digests equal: bit-for-bit the same (up to NaN payloads)."""
    WITHIN_TOLERANCE = "within tolerance"
    """Full tensors compared and ``allclose`` holds."""
    CONSISTENT = "consistent"
    """Only summaries compared; no violation proven (proves nothing more)."""
    VIOLATED = "violated"
    """``allclose`` fails (proven by summaries, or measured on full tensors)."""
    CHANGED_WHERE_REPRODUCIBLE = "changed where results reproduce bit for bit"
    """Digests differ in an environment whose golden expectation is ``identical``."""
    CHANGED_WHILE_REST_REPRODUCES = "changed while the rest of this run reproduces the golden bits"
    """Digests differ, in an environment with no expectation, while other FOVs of the same
    run are bit-identical to the golden set (identical by evidence)."""
    WITHIN_TRUTH_NOISE = "within noise of the fp64 truth"
    """The truth rung: the oracle's sampled cells are within this run's precision noise of
    the float64 truth (the golden set's oracle section); it judges the values."""
    MOVED_FROM_TRUTH = "moved away from the fp64 truth"
    """The truth rung: the sampled cells are farther from the float64 truth than this
    run's precision can explain."""
    REFERENCE_OUTLIER = "the reference is the outlier"
    """The truth rung: this run is within its noise of the truth, the golden store is not
    (the golden values moved: rewrite the golden set on purpose)."""
    MEASURED = "measured (the fp64 truth judges)"
    """Values compared with the golden set and measured, their verdict left to the truth
    rung (a tolerance between two noisy runs is not the judge where a truth exists)."""
    INPUTS_CHANGED = "inputs changed"
    """The recorded inputs (checkpoint, pixels, normalization, tracks, data parameters)
    differ from the golden set's: the values were computed from something else."""
    UNPROVEN = "consistent (strict: unproven)"
    """Only summaries judged and ``strict`` asked for proof: "consistent" fails."""
    MISSING_FOV = "missing FOV"
    EXTRA_FOV = "extra FOV"
    ROWS_REORDERED = "rows reordered"
    INDEX_CHANGED = "index changed"
    DTYPE_CHANGED = "dtype changed"
    SHAPE_CHANGED = "shape changed"

    @property
    def passed(self) -> bool:
        return self in _PASSING

    @property
    def severity(self) -> int:
        """Higher is worse; orders reports worst first."""
        return _SEVERITY[self]


_PASSING = frozenset(
    {
        Status.IDENTICAL,
        Status.WITHIN_TOLERANCE,
        Status.CONSISTENT,
        Status.WITHIN_TRUTH_NOISE,
        Status.MEASURED,
    }
)
_SEVERITY = {
    Status.IDENTICAL: 0,
    Status.WITHIN_TOLERANCE: 1,
    Status.CONSISTENT: 2,
    Status.EXTRA_FOV: 5,
    Status.ROWS_REORDERED: 6,
    Status.INDEX_CHANGED: 7,
    Status.MISSING_FOV: 8,
    Status.VIOLATED: 9,
    Status.CHANGED_WHERE_REPRODUCIBLE: 9,
    Status.CHANGED_WHILE_REST_REPRODUCES: 9,
    Status.INPUTS_CHANGED: 11,
    Status.WITHIN_TRUTH_NOISE: 1,
    Status.MEASURED: 1,
    Status.MOVED_FROM_TRUTH: 9,
    Status.REFERENCE_OUTLIER: 8,
    Status.UNPROVEN: 4,
    Status.SHAPE_CHANGED: 10,
    Status.DTYPE_CHANGED: 10,
}


#: Index columns that name a cell, in the order a report shows them.
CELL_KEYS: tuple[str, ...] = ("track_id", "t", "id", "y", "x")


@dataclass(frozen=True)
class Cell:
    """One row named by its keys: FOV, ``track_id``, ``t``, ``id`` (and ``y``, ``x``).

    ``row`` is its position within the FOV in the store the finding is about;
    keys the store does not have are ``None``.
    """

    fov: str
    row: int | None = None
    track_id: int | None = None
    t: int | None = None
    id: int | None = None
    y: int | None = None
    x: int | None = None

    def label(self) -> str:
        """``A/1/0 track 3 t 5 id 12 (y 80, x 96)``; the row position when no key is known."""
        keys = [f"{name} {getattr(self, name)}" for name in ("track_id", "t", "id")]
        known = [k for k in keys if not k.endswith(" None")]
        text = " ".join([self.fov, *(k.replace("track_id", "track") for k in known)])
        where = [f"{n} {getattr(self, n)}" for n in ("y", "x") if getattr(self, n) is not None]
        if where:
            text += f" ({', '.join(where)})"
        if not known and self.row is not None:
            text += f" row {self.row}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "fov": self.fov,
            "row": self.row,
            **{name: getattr(self, name) for name in CELL_KEYS},
        }


@dataclass(frozen=True)
class CellDiff:
    """How one cell's values differ: the columns outside tolerance, worst first.

    ``obtained`` / ``expected`` are the values at the worst column and
    ``abs_error`` their difference, when measured (``None`` when only a summary
    check proved the row wrong). ``nonfinite`` names a NaN or inf obtained where
    the expected value is finite (or the other way round).
    """

    cell: Cell
    columns: tuple[int, ...] = ()
    num_columns: int = 0
    obtained: float | None = None
    expected: float | None = None
    abs_error: float | None = None
    nonfinite: bool = False

    def describe(self) -> str:
        text = self.cell.label()
        if self.columns:
            more = "..." if self.num_columns > len(self.columns) else ""
            cols = ",".join(str(c) for c in self.columns) + more
            noun = "column" if self.num_columns == 1 else f"{self.num_columns} columns"
            text += f": {noun} [{cols}]"
        if self.obtained is not None or self.expected is not None:
            text += f" obtained {_value(self.obtained)}, expected {_value(self.expected)}"
        if self.nonfinite:
            text += " (non-finite)"
        elif self.abs_error is not None:
            text += f" (|diff| {self.abs_error:.3g})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell.to_dict(),
            "columns": list(self.columns),
            "num_columns": self.num_columns,
            "obtained": _json_float(self.obtained),
            "expected": _json_float(self.expected),
            "abs_error": _json_float(self.abs_error),
            "nonfinite": self.nonfinite,
        }


class CellSetKind(enum.Enum):
    """Which way a set of cells differs between the obtained and the expected rows."""

    MISSING = "missing"
    """In the expected rows, absent from the obtained ones."""
    EXTRA = "extra"
    """In the obtained rows, absent from the expected ones."""
    MOVED = "moved"
    """In both, at another position."""


@dataclass(frozen=True)
class CellSet:
    """Cells missing, extra or moved in one FOV (``cells`` capped; ``total`` the full count)."""

    kind: CellSetKind
    cells: tuple[Cell, ...]
    total: int

    def describe(self) -> str:
        shown = "; ".join(c.label() for c in self.cells)
        more = f"; and {self.total - len(self.cells)} more" if self.total > len(self.cells) else ""
        return f"{self.total} {self.kind.value} cell(s): {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "total": self.total,
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class Violation:
    """Where and by how much ``allclose`` fails.

    ``rows`` are positions within the FOV (capped; ``num_rows`` is the full count);
    for a dataset-wide column check they are column numbers (``columns`` true).
    ``bound`` true means the errors are proven *lower bounds* from summaries, not
    measurements; ``max_rel_error`` and ``min_cosine`` are then unknown (None).
    ``cells`` names the violating rows by their keys, worst first (capped), with
    the columns and values where they were measured. ``nonfinite`` is true when
    NaN or inf values are among the findings (the error is then not a number).
    """

    rows: tuple[int, ...]
    num_rows: int
    max_abs_error: float | None
    max_rel_error: float | None = None
    min_cosine: float | None = None
    bound: bool = False
    checks: tuple[str, ...] = ()
    columns: bool = False
    cells: tuple[CellDiff, ...] = ()
    nonfinite: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [] if self.columns else list(self.rows),
            "num_rows": 0 if self.columns else self.num_rows,
            "columns": list(self.rows) if self.columns else [],
            "num_columns": self.num_rows if self.columns else 0,
            "max_abs_error": _json_float(self.max_abs_error),
            "max_rel_error": _json_float(self.max_rel_error),
            "min_cosine": _json_float(self.min_cosine),
            "bound": self.bound,
            "nonfinite": self.nonfinite,
            "checks": list(self.checks),
            "cells": [c.to_dict() for c in self.cells],
        }


@dataclass(frozen=True)
class Measured:
    """What a full-tensor comparison measured row by row, for pictures people look at.

    ``row_max_abs[i]`` is the largest ``|obtained - expected|`` in row ``rows[i]``
    (``inf`` where NaN or inf differ) and ``row_cosine[i]`` the cosine similarity
    of the two rows; at most a few thousand rows are kept (evenly strided), so
    ``rows`` says which. Not part of the JSON report (its size would follow the
    data); the session summary draws from it.
    """

    max_abs_error: float
    rows: tuple[int, ...]
    row_max_abs: tuple[float, ...]
    row_cosine: tuple[float, ...]


@dataclass(frozen=True)
class Outcome:
    """The result for one FOV (``None``: whole dataset) and array (``None``: the FOV's rows)."""

    fov: str | None
    array: str | None
    status: Status
    detail: str = ""
    rows: int | None = None
    violation: Violation | None = None
    expected: str | None = None
    obtained: str | None = None
    cell_sets: tuple[CellSet, ...] = ()
    detection_limit: float | None = None
    """Where only summaries judged: a single-element change below this could go unseen."""
    measured: Measured | None = None
    """Per-row errors measured on full tensors (None: identical, or only summaries judged)."""

    @property
    def passed(self) -> bool:
        return self.status.passed

    @property
    def sort_key(self) -> tuple[float, ...]:
        """Worst first: severity, then larger errors, then name."""
        error = self.violation.max_abs_error if self.violation else None
        return (-self.status.severity, -(error or 0.0))

    def to_dict(self) -> dict[str, Any]:
        return {
            "fov": self.fov,
            "array": self.array,
            "status": self.status.value,
            "passed": self.passed,
            "detail": self.detail,
            "rows": self.rows,
            "expected": self.expected,
            "obtained": self.obtained,
            "violation": None if self.violation is None else self.violation.to_dict(),
            "cell_sets": [c.to_dict() for c in self.cell_sets],
            "detection_limit": _json_float(self.detection_limit),
            "measured_max_abs_error": (
                None if self.measured is None else _json_float(self.measured.max_abs_error)
            ),
        }


def _value(value: float | None) -> str:
    if value is None:
        return "?"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.7g}"


def _json_float(value: float | None) -> float | str | None:
    """Strict JSON has no infinities or NaN: those become their ``repr`` string."""
    if value is None or math.isfinite(value):
        return value
    return repr(value)
