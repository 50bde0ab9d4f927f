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


_PASSING = frozenset({Status.IDENTICAL, Status.WITHIN_TOLERANCE, Status.CONSISTENT})
_SEVERITY = {
    Status.IDENTICAL: 0,
    Status.WITHIN_TOLERANCE: 1,
    Status.CONSISTENT: 2,
    Status.EXTRA_FOV: 5,
    Status.ROWS_REORDERED: 6,
    Status.INDEX_CHANGED: 7,
    Status.MISSING_FOV: 8,
    Status.VIOLATED: 9,
    Status.SHAPE_CHANGED: 10,
    Status.DTYPE_CHANGED: 10,
}


@dataclass(frozen=True)
class Violation:
    """Where and by how much ``allclose`` fails.

    ``rows`` are positions within the FOV (capped; ``num_rows`` is the full count);
    for a dataset-wide column check they are column numbers (``columns`` true).
    ``bound`` true means the errors are proven *lower bounds* from summaries, not
    measurements; ``max_rel_error`` and ``min_cosine`` are then unknown (None).
    """

    rows: tuple[int, ...]
    num_rows: int
    max_abs_error: float | None
    max_rel_error: float | None = None
    min_cosine: float | None = None
    bound: bool = False
    checks: tuple[str, ...] = ()
    columns: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": list(self.rows),
            "num_rows": self.num_rows,
            "max_abs_error": _json_float(self.max_abs_error),
            "max_rel_error": _json_float(self.max_rel_error),
            "min_cosine": _json_float(self.min_cosine),
            "bound": self.bound,
            "checks": list(self.checks),
            "columns": self.columns,
        }


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
        }


def _json_float(value: float | None) -> float | str | None:
    """Strict JSON has no infinities or NaN: those become their ``repr`` string."""
    if value is None or math.isfinite(value):
        return value
    return repr(value)
