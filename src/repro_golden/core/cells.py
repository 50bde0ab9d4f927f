"""Name the cells behind a finding: row positions plus a FOV's index block -> :class:`Cell` values.

A row position ("row 7 of B/2/1") means nothing to a person; the cell's keys
(``track_id``, ``t``, ``id``, ``y``, ``x``) do, so every row-level finding is
turned into cells here, from the index columns the comparison already read.
Torch-free, numpy only; nothing here decides a verdict.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.outcomes import (
    CELL_KEYS,
    Cell,
    CellDiff,
    CellSet,
    CellSetKind,
    Measured,
    Outcome,
)

#: Cells listed per finding; the JSON report holds the same capped lists and the totals.
MAX_CELLS = 20
#: Columns listed per cell.
MAX_COLUMNS = 8
#: Rows kept per FOV and array for the session summary's pictures (evenly strided beyond).
MAX_MEASURED_ROWS = 4096

Index = Mapping[str, np.ndarray]


def cell_at(fov: str, index: Index, row: int) -> Cell:
    """The cell at position ``row`` of a FOV whose index columns are ``index``."""
    keys = {name: int(index[name][row]) for name in CELL_KEYS if name in index}
    return Cell(fov=fov, row=int(row), **keys)


def cells_at(fov: str, index: Index, rows: Iterable[int]) -> tuple[Cell, ...]:
    return tuple(cell_at(fov, index, int(r)) for r in rows)


def cell_diffs(
    fov: str,
    index: Index,
    obtained: np.ndarray,
    expected: np.ndarray,
    close: np.ndarray,
    *,
    limit: int = MAX_CELLS,
) -> tuple[tuple[CellDiff, ...], bool]:
    """The violating cells of one FOV and array, worst first, and whether NaN/inf is involved.

    ``close`` is the element-wise ``isclose`` mask of ``obtained`` against
    ``expected`` (both ``(rows, columns)``). A row's worst column is the one
    with the largest difference; a NaN or inf on one side only is worst of all.
    """
    bad = ~close
    bad_rows = np.flatnonzero(bad.any(axis=1))
    with np.errstate(invalid="ignore", over="ignore"):
        a = obtained[bad_rows].astype(np.float64)
        e = expected[bad_rows].astype(np.float64)
        diff = np.abs(a - e)
    nonfinite_elements = ~(np.isfinite(a) & np.isfinite(e)) & bad[bad_rows]
    score = np.where(bad[bad_rows], np.where(np.isnan(diff), np.inf, diff), -1.0)
    worst_col = np.argmax(score, axis=1)
    row_score = score[np.arange(bad_rows.size), worst_col]
    order = np.argsort(-row_score, kind="stable")[:limit]
    found = []
    for k in order:
        row = int(bad_rows[k])
        columns = np.flatnonzero(bad[row])
        ranked = columns[np.argsort(-score[k, columns], kind="stable")][:MAX_COLUMNS]
        col = int(worst_col[k])
        nonfinite = bool(nonfinite_elements[k, col])
        found.append(
            CellDiff(
                cell=cell_at(fov, index, row),
                columns=tuple(int(c) for c in ranked),
                num_columns=int(columns.size),
                obtained=float(a[k, col]),
                expected=float(e[k, col]),
                abs_error=None if nonfinite else float(diff[k, col]),
                nonfinite=nonfinite,
            )
        )
    return tuple(found), bool(nonfinite_elements.any())


def _keys(index: Index) -> list[tuple[object, ...]]:
    names = [n for n in index if n != "fov_name"]
    columns = [index[n].tolist() for n in names]
    return list(zip(*columns, strict=True)) if columns else []


def cell_sets(
    fov: str, obtained: Index, expected: Index, *, limit: int = MAX_CELLS
) -> tuple[CellSet, ...]:
    """Cells missing from, extra in, or moved within ``obtained`` compared with ``expected``.

    Cells are matched by their keys (every index column but ``fov_name``), never
    by position; "moved" are the cells present in both whose position differs
    once missing and extra cells are set aside.
    """
    obt_keys, exp_keys = _keys(obtained), _keys(expected)
    obt_set, exp_set = set(obt_keys), set(exp_keys)
    missing = [i for i, k in enumerate(exp_keys) if k not in obt_set]
    extra = [i for i, k in enumerate(obt_keys) if k not in exp_set]
    common_obt = [i for i, k in enumerate(obt_keys) if k in exp_set]
    common_exp = [i for i, k in enumerate(exp_keys) if k in obt_set]
    moved = [i for i, j in zip(common_obt, common_exp, strict=False) if obt_keys[i] != exp_keys[j]]
    sets = []
    for kind, rows, index in (
        (CellSetKind.MISSING, missing, expected),
        (CellSetKind.EXTRA, extra, obtained),
        (CellSetKind.MOVED, moved, obtained),
    ):
        if rows:
            sets.append(CellSet(kind, cells_at(fov, index, rows[:limit]), len(rows)))
    return tuple(sets)


def name_violated_rows(outcomes: Sequence[Outcome], store: EmbeddingsStore) -> tuple[Outcome, ...]:
    """``outcomes`` with the rows of each FOV-level violation named as cells of ``store``.

    For findings that carry row positions only (summary checks against golden
    files, which hold no index values): the cells come from the obtained
    store's index columns, read once per FOV that needs them.
    """
    named = []
    for outcome in outcomes:
        v = outcome.violation
        if v is None or v.columns or v.cells or outcome.fov is None or not v.rows:
            named.append(outcome)
            continue
        rows = store.fov_rows(outcome.fov)
        index = {c: store.read_column(c, rows) for c in store.index_columns}
        cells = tuple(CellDiff(cell=c) for c in cells_at(outcome.fov, index, v.rows[:MAX_CELLS]))
        named.append(dataclasses.replace(outcome, violation=dataclasses.replace(v, cells=cells)))
    return tuple(named)


def measure_rows(obtained: np.ndarray, expected: np.ndarray) -> Measured:
    """Per-row largest absolute error and cosine similarity of two ``(rows, columns)`` blocks.

    A NaN or inf that differs counts as an infinite error; rows beyond
    :data:`MAX_MEASURED_ROWS` are sampled evenly (the maximum is over all rows).
    """
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        a = obtained.astype(np.float64)
        e = expected.astype(np.float64)
        diff = np.abs(a - e)
        same = (a == e) | (np.isnan(a) & np.isnan(e))
        diff = np.where(same, 0.0, np.where(np.isnan(diff), np.inf, diff))
        row_max = diff.max(axis=1) if diff.size else np.zeros(a.shape[0])
        dots = np.einsum("ij,ij->i", a, e)
        norms = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", e, e))
        cosine = np.where(norms > 0, dots / norms, np.where(dots == 0, 1.0, np.nan))
    n = row_max.shape[0]
    keep = np.arange(n) if n <= MAX_MEASURED_ROWS else np.linspace(0, n - 1, MAX_MEASURED_ROWS)
    keep = keep.astype(np.int64)
    return Measured(
        max_abs_error=float(row_max.max()) if n else 0.0,
        rows=tuple(int(i) for i in keep),
        row_max_abs=tuple(float(v) for v in row_max[keep]),
        row_cosine=tuple(float(v) for v in cosine[keep]),
    )
