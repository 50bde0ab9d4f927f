"""Compare obtained embeddings with golden summaries or with a full reference store.

Order of evidence, cheapest first: FOV sets, dtypes and shapes; index rows (their
digest, then an order-free digest to tell reordering from change); array digests
("identical"); then values. Against golden files the values are judged by the sound
summary checks of :mod:`repro_golden.core.summary` ("violated" only when the full
``allclose`` would fail; otherwise "consistent"). Against a reference store they are
judged with ``numpy.isclose`` on the full tensors, FOV by FOV and one array at a
time, so memory stays bounded by about two FOV blocks of one array plus float64
temporaries. Dtype is strict: float32 against float64 is a change, not a tolerance
question. NaN policy follows :class:`~repro_golden.core.tolerance.ToleranceSpec`
(``equal_nan`` true: NaN must be at the same positions).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence

import numpy as np

from repro_golden.core.cells import cell_diffs, cell_sets, measure_rows
from repro_golden.core.digest import (
    array_digest,
    canonical_dtype,
    index_digest,
    index_multiset_digest,
)
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden.types import Golden
from repro_golden.core.outcomes import Outcome, Status, Violation
from repro_golden.core.summary import (
    Evidence,
    EvidenceKind,
    RowStats,
    StoredRows,
    check_columns,
    check_extrema,
    check_rows,
    inflated_tolerance,
    single_element_limit,
)
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec

Tolerances = ToleranceSpec | ArrayTolerances
"""One tolerance for every array, or a default with per-array overrides."""


class CompareMode(enum.StrEnum):
    """What judged the values of a report (``ComparisonReport.mode``)."""

    GOLDEN_SUMMARIES = "golden summaries"
    GOLDEN_FULL_COPY = "golden full copy"
    GOLDEN_AND_REFERENCE = "golden summaries + full reference"
    FULL_TENSORS = "full tensors"


MAX_LISTED_ROWS = 20


def _fov_sets(
    obtained: Iterable[str], reference: Iterable[str], rows: dict[str, int]
) -> tuple[list[str], list[Outcome]]:
    obtained_list = list(obtained)
    obtained_set = set(obtained_list)
    reference_list = list(reference)
    reference_set = set(reference_list)
    outcomes = [
        Outcome(
            name, None, Status.MISSING_FOV, "FOV of the reference is absent", rows=rows.get(name)
        )
        for name in reference_list
        if name not in obtained_set
    ]
    outcomes += [
        Outcome(name, None, Status.EXTRA_FOV, "FOV not in the reference")
        for name in obtained_list
        if name not in reference_set
    ]
    return [n for n in reference_list if n in obtained_set], outcomes


def fov_order(obtained: Sequence[str], reference: Sequence[str]) -> Outcome | None:
    """A dataset-level "rows reordered" when the FOV blocks come in another order, else None.

    Row order is identity (the lab's INFER-03: ``fov_name`` and ``id`` in the
    reference's order): the order of FOV blocks is compared here, the order inside
    each FOV by its index digest. Only FOVs both sides hold are compared; missing and
    extra FOVs are outcomes of their own. Names the first moved blocks, capped.
    """
    names = set(reference)
    mine = [name for name in obtained if name in names]
    common = set(mine)
    theirs = [name for name in reference if name in common]
    if mine == theirs:
        return None
    moved = [(i, a, b) for i, (a, b) in enumerate(zip(theirs, mine, strict=True)) if a != b]
    shown = "; ".join(f"block {i}: expected {a}, got {b}" for i, a, b in moved[:4])
    more = f" (+{len(moved) - 4} more)" if len(moved) > 4 else ""
    return Outcome(
        None,
        None,
        Status.ROWS_REORDERED,
        f"FOV blocks in another order: {shown}{more}",
        expected=" ".join(theirs),
        obtained=" ".join(mine),
    )


def _array_kinds(
    obtained: dict[str, tuple[str, int]], reference: dict[str, tuple[str, int]]
) -> tuple[list[str], list[Outcome]]:
    """Arrays whose dtype and width agree, and outcomes for those that do not."""
    usable, outcomes = [], []
    for name, (ref_dtype, ref_width) in reference.items():
        obt_dtype, obt_width = obtained[name]
        if canonical_dtype(np.dtype(obt_dtype)) != canonical_dtype(np.dtype(ref_dtype)):
            outcomes.append(
                Outcome(
                    None,
                    name,
                    Status.DTYPE_CHANGED,
                    "dtype is strict",
                    expected=np.dtype(ref_dtype).name,
                    obtained=np.dtype(obt_dtype).name,
                )
            )
        elif obt_width != ref_width:
            outcomes.append(
                Outcome(
                    None,
                    name,
                    Status.SHAPE_CHANGED,
                    "number of columns",
                    expected=str(ref_width),
                    obtained=str(obt_width),
                )
            )
        else:
            usable.append(name)
    return usable, outcomes


def _index_columns(obtained: tuple[str, ...], reference: tuple[str, ...]) -> list[Outcome]:
    """A dataset-level outcome when the index columns themselves differ."""
    if obtained == reference:
        return []
    return [
        Outcome(
            None,
            None,
            Status.INDEX_CHANGED,
            "index columns differ",
            expected=",".join(reference),
            obtained=",".join(obtained),
        )
    ]


def _structure(
    fov: str,
    rows: tuple[int, int],
    index: tuple[str, str],
    multiset: tuple[str, str],
) -> Outcome | None:
    """Outcome for a FOV whose rows do not correspond one to one, else None."""
    obt_rows, ref_rows = rows
    if obt_rows != ref_rows:
        return Outcome(
            fov,
            None,
            Status.SHAPE_CHANGED,
            "number of rows",
            rows=obt_rows,
            expected=str(ref_rows),
            obtained=str(obt_rows),
        )
    if index[0] == index[1]:
        return None
    if multiset[0] == multiset[1]:
        return Outcome(
            fov, None, Status.ROWS_REORDERED, "same index rows in a different order", rows=obt_rows
        )
    return Outcome(
        fov,
        None,
        Status.INDEX_CHANGED,
        "index rows differ",
        rows=obt_rows,
        expected=index[1],
        obtained=index[0],
    )


def _from_evidence(
    fov: str | None,
    array: str,
    rows: int | None,
    evidence: Evidence,
    *,
    columns: bool = False,
    limit: float | None = None,
) -> Outcome:
    if not evidence.violated:
        detail = "summaries agree within tolerance"
        if limit is not None:
            detail += f"; a single-element change below {limit:.2g} could go unseen here"
        return Outcome(fov, array, Status.CONSISTENT, detail, rows=rows, detection_limit=limit)
    violation = Violation(
        rows=evidence.rows,
        num_rows=evidence.num_rows,
        max_abs_error=evidence.max_abs_error_lower_bound,
        bound=True,
        checks=evidence.checks,
        columns=columns,
    )
    return Outcome(
        fov,
        array,
        Status.VIOLATED,
        "proven by " + ", ".join(evidence.checks),
        rows=rows,
        violation=violation,
    )


def _merge(first: Evidence, second: Evidence) -> Evidence:
    rows = sorted(set(first.rows) | set(second.rows))
    return Evidence(
        tuple(rows[:MAX_LISTED_ROWS]),
        max(first.num_rows, second.num_rows, len(rows)),
        max(first.max_abs_error_lower_bound, second.max_abs_error_lower_bound),
        tuple(sorted(set(first.checks) | set(second.checks))),
    )


def _obtained_rows(rows: RowStats | StoredRows, start: int, stop: int) -> RowStats:
    return RowStats(
        np.asarray(rows.sums[start:stop], dtype=np.float64),
        np.asarray(rows.norms[start:stop], dtype=np.float64),
        np.asarray(rows.projs[start:stop], dtype=np.float64),
        rows.flags[start:stop],
    )


def compare_summaries(
    obtained: Golden, reference: Golden, tolerance: Tolerances
) -> tuple[Outcome, ...]:
    """Obtained summary (from :func:`~repro_golden.core.golden.summarize.summarize`) vs golden.

    "consistent" outcomes carry their detection limit
    (:func:`~repro_golden.core.summary.single_element_limit`).
    """
    tolerances = ArrayTolerances.coerce(tolerance)
    ref_rows = {f.name: f.rows for f in reference.fovs}
    common, outcomes = _fov_sets((f.name for f in obtained.fovs), ref_rows, ref_rows)
    kinds = {name: (a.dtype, a.width) for name, a in reference.arrays.items()}
    obt_kinds = {name: (a.dtype, a.width) for name, a in obtained.arrays.items()}
    usable, array_outcomes = _array_kinds(obt_kinds, kinds)
    outcomes += array_outcomes
    outcomes += _index_columns(obtained.index_columns, reference.index_columns)
    aligned = not outcomes
    ref_fovs = {f.name: f for f in reference.fovs}
    obt_fovs = {f.name: f for f in obtained.fovs}
    for name in common:
        ref_fov, obt_fov = ref_fovs[name], obt_fovs[name]
        broken = _structure(
            name,
            (obt_fov.rows, ref_fov.rows),
            (obt_fov.index_digest, ref_fov.index_digest),
            (obt_fov.index_multiset_digest, ref_fov.index_multiset_digest),
        )
        if broken is not None:
            outcomes.append(broken)
            aligned = False
            continue
        for array in usable:
            if obt_fov.array_digests[array] == ref_fov.array_digests[array]:
                outcomes.append(
                    Outcome(name, array, Status.IDENTICAL, "digests equal", rows=obt_fov.rows)
                )
                continue
            ref_sketch, obt_sketch = reference.arrays[array], obtained.arrays[array]
            spec = tolerances.for_array(array)
            tol = inflated_tolerance(spec.atol, spec.rtol, np.dtype(ref_sketch.dtype))
            evidence = check_extrema(
                obt_fov.stats[array], ref_fov.stats[array], tol=tol, equal_nan=spec.equal_nan
            )
            stored = ref_sketch.stored_rows(ref_fov.offset, ref_fov.offset + ref_fov.rows)
            rows_evidence = check_rows(
                _obtained_rows(obt_sketch.rows, obt_fov.offset, obt_fov.offset + obt_fov.rows),
                stored,
                width=ref_sketch.width,
                tol=tol,
            )
            limit = single_element_limit(stored, width=ref_sketch.width, tol=tol)
            outcomes.append(
                _from_evidence(
                    name, array, obt_fov.rows, _merge(evidence, rows_evidence), limit=limit
                )
            )
    if aligned:
        for array in usable:
            ref_sketch = reference.arrays[array]
            spec = tolerances.for_array(array)
            tol = inflated_tolerance(spec.atol, spec.rtol, np.dtype(ref_sketch.dtype))
            evidence = check_columns(obtained.arrays[array].columns, ref_sketch.columns, tol=tol)
            if evidence.violated:
                outcomes.append(_from_evidence(None, array, None, evidence, columns=True))
    return tuple(outcomes)


def _full_values(
    fov: str,
    array: str,
    obtained: np.ndarray,
    reference: np.ndarray,
    tolerance: ToleranceSpec,
    index: Mapping[str, np.ndarray] | None = None,
) -> Outcome:
    rows = obtained.shape[0]
    if array_digest(obtained) == array_digest(reference):
        return Outcome(fov, array, Status.IDENTICAL, "digests equal", rows=rows)
    with np.errstate(all="ignore"):
        close = np.isclose(
            obtained,
            reference,
            rtol=tolerance.rtol,
            atol=tolerance.atol,
            equal_nan=tolerance.equal_nan,
        )
    if close.all():
        return Outcome(
            fov,
            array,
            Status.WITHIN_TOLERANCE,
            f"allclose holds ({tolerance})",
            rows=rows,
            measured=measure_rows(obtained, reference),
        )
    bad_rows = np.flatnonzero(~close.all(axis=1))
    bad = ~close
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        a = obtained.astype(np.float64)
        r = reference.astype(np.float64)
        diff = np.abs(a[bad] - r[bad])
        diff = np.where(np.isnan(diff), np.inf, diff)
        scale = np.abs(r[bad])
        rel = np.where(scale > 0, diff / scale, np.inf)
        dots = np.einsum("ij,ij->i", a, r)
        norms = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", r, r))
        cosine = np.where(norms > 0, dots / norms, np.where(dots == 0, 1.0, np.nan))
    finite_cos = cosine[bad_rows][np.isfinite(cosine[bad_rows])]
    cells, nonfinite = cell_diffs(fov, index or {}, obtained, reference, close)
    violation = Violation(
        cells=cells,
        nonfinite=nonfinite,
        rows=tuple(int(i) for i in bad_rows[:MAX_LISTED_ROWS]),
        num_rows=int(bad_rows.size),
        max_abs_error=float(diff.max()),
        max_rel_error=float(rel.max()),
        min_cosine=float(finite_cos.min()) if finite_cos.size else None,
        checks=(EvidenceKind.ALLCLOSE,),
    )
    elements = int(bad.sum())
    return Outcome(
        fov,
        array,
        Status.VIOLATED,
        f"{elements} of {close.size} elements outside {tolerance}",
        rows=rows,
        violation=violation,
        measured=measure_rows(obtained, reference),
    )


def compare_full_copy(
    obtained: EmbeddingsStore,
    golden: Golden,
    tolerance: Tolerances,
    *,
    only: set[tuple[str | None, str | None]],
) -> Iterator[Outcome]:
    """``allclose`` on every element of the (fov, array) pairs in ``only``, against the
    golden set's full copy. Callers pass only pairs whose rows line up (the summary
    pass reported the others' structure)."""
    full = golden.full
    if full is None:
        return
    tolerances = ArrayTolerances.coerce(tolerance)
    by_name = {f.name: f for f in golden.fovs}
    for fov, array in sorted(only, key=lambda p: (p[0] or "", p[1] or "")):
        if fov is None or array is None or fov not in by_name:
            continue
        entry = by_name[fov]
        rows = obtained.fov_rows(fov)
        index = {c: obtained.read_column(c, rows) for c in obtained.index_columns}
        yield _full_values(
            fov,
            array,
            obtained.read_rows(array, rows),
            full.rows(array, entry.offset, entry.offset + entry.rows),
            tolerances.for_array(array),
            index,
        )


def compare_stores(
    obtained: EmbeddingsStore,
    reference: EmbeddingsStore,
    tolerance: Tolerances,
    *,
    only: set[tuple[str | None, str | None]] | None = None,
) -> Iterator[Outcome]:
    """Full-tensor comparison, streaming FOV by FOV (``only``: restrict to (fov, array) pairs)."""
    tolerances = ArrayTolerances.coerce(tolerance)
    ref_rows = {name: reference.fov_rows(name).size for name in reference.fov_names}
    common, outcomes = _fov_sets(obtained.fov_names, reference.fov_names, ref_rows)
    kinds = {n: (a.dtype.str, a.shape[1]) for n, a in reference.arrays.items()}
    obt_kinds = {n: (a.dtype.str, a.shape[1]) for n, a in obtained.arrays.items()}
    usable, array_outcomes = _array_kinds(obt_kinds, kinds)
    if only is None:
        order = fov_order(obtained.fov_names, reference.fov_names)
        if order is not None:
            yield order
        yield from outcomes
        yield from array_outcomes
        yield from _index_columns(obtained.index_columns, reference.index_columns)
    for name in common:
        arrays = [a for a in usable if only is None or (name, a) in only]
        if not arrays:
            continue
        obt_rows, ref_rows_ = obtained.fov_rows(name), reference.fov_rows(name)
        obt_index = {c: obtained.read_column(c, obt_rows) for c in obtained.index_columns}
        ref_index = {c: reference.read_column(c, ref_rows_) for c in reference.index_columns}
        broken = _structure(
            name,
            (obt_rows.size, ref_rows_.size),
            (index_digest(obt_index), index_digest(ref_index)),
            (index_multiset_digest(obt_index), index_multiset_digest(ref_index)),
        )
        if broken is not None and broken.status is Status.ROWS_REORDERED:
            broken = _after_matching(
                broken,
                obtained,
                reference,
                arrays,
                tolerances,
                (obt_rows, ref_rows_),
                (obt_index, ref_index),
            )
        if broken is not None:
            yield dataclasses.replace(broken, cell_sets=cell_sets(name, obt_index, ref_index))
            continue
        for array in arrays:
            yield _full_values(
                name,
                array,
                obtained.read_rows(array, obt_rows),
                reference.read_rows(array, ref_rows_),
                tolerances.for_array(array),
                obt_index,
            )


def _index_order(index: dict[str, np.ndarray]) -> np.ndarray:
    keys = [v.astype(str) if v.dtype.kind == "O" else v for v in index.values()]
    return np.lexsort(tuple(reversed(keys)))


def _after_matching(
    outcome: Outcome,
    obtained: EmbeddingsStore,
    reference: EmbeddingsStore,
    arrays: list[str],
    tolerances: ArrayTolerances,
    rows: tuple[np.ndarray, np.ndarray],
    index: tuple[dict[str, np.ndarray], dict[str, np.ndarray]],
) -> Outcome:
    """A reordered FOV, with what its values say once rows are matched by index.

    The status stays "rows reordered" (order is part of the contract); the detail
    tells whether the values themselves moved, so a pure order change is told
    apart from an order change hiding a numerical one.
    """
    obt_order, ref_order = _index_order(index[0]), _index_order(index[1])
    verdicts = []
    for array in arrays:
        matched = _full_values(
            outcome.fov or "",
            array,
            obtained.read_rows(array, rows[0])[obt_order],
            reference.read_rows(array, rows[1])[ref_order],
            tolerances.for_array(array),
        )
        verdicts.append(f"{array} {matched.status.value}")
    detail = f"{outcome.detail}; after matching rows by index: {', '.join(verdicts)}"
    return Outcome(outcome.fov, None, Status.ROWS_REORDERED, detail, rows=outcome.rows)
