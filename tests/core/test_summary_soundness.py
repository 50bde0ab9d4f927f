"""The summary check never cries wolf: "violated" implies ``numpy.allclose`` fails.

Hypothesis draws reference arrays (normal values at many scales, ±0, subnormals,
values near the largest float, NaN, ±inf), perturbation patterns (one element, one
row, one column, all rows, random sparse, special values) with sizes around the
tolerance, and tolerances from exact to huge. Every summary check (FOV extrema and
non-finite counts, per-row sums/norms/projections, dataset-wide columns) runs
against the reference sketch as stored (float32 rows); whenever any of them
claims a violation, the full ``numpy.allclose`` must fail.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro_golden.core.summary import (
    ColumnAccumulator,
    Evidence,
    StoredRows,
    array_stats,
    block_sketch,
    check_columns,
    check_extrema,
    check_rows,
    inflated_tolerance,
    signs_for,
)

SCALES = [1e-44, 1e-40, 1e-30, 1e-8, 1e-3, 1.0, 1e3, 1e20, 1e36, 3e37]
ATOLS = [0.0, 1e-45, 1e-30, 1e-8, 1e-6, 1e-3, 0.1, 1.0, 1e30]
RTOLS = [0.0, 1e-8, 1e-7, 1e-5, 1e-3, 0.5, 1.0, 3.0]
FACTORS = [0.0, 0.5, 0.999, 1.0, 1.001, 1.01, 1.5, 3.0, 30.0, 1e4, 1e8]
SPECIALS = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3.4e38, -3.4e38]


def summary_claims(
    obtained: np.ndarray, reference: np.ndarray, atol: float, rtol: float, equal_nan: bool
) -> list[Evidence]:
    """Run every summary check of obtained vs the stored reference sketch."""
    width = reference.shape[1]
    signs = signs_for(width)
    tol = inflated_tolerance(atol, rtol, reference.dtype)
    ref_cols, obt_cols = ColumnAccumulator(width), ColumnAccumulator(width)
    ref_rows, ref_stats = block_sketch(reference, signs, ref_cols)
    obt_rows, obt_stats = block_sketch(obtained, signs, obt_cols)
    with np.errstate(over="ignore"):
        stored = StoredRows(
            ref_rows.sums.astype(np.float32),
            ref_rows.norms.astype(np.float32),
            ref_rows.projs.astype(np.float32),
            ref_rows.flags,
        )
    return [
        check_extrema(obt_stats, ref_stats, tol=tol, equal_nan=equal_nan),
        check_rows(obt_rows, stored, width=width, tol=tol),
        check_columns(obt_cols, ref_cols, tol=tol),
    ]


def numpy_allclose(
    obtained: np.ndarray, reference: np.ndarray, atol: float, rtol: float, equal_nan: bool
) -> bool:
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bool(np.allclose(obtained, reference, rtol=rtol, atol=atol, equal_nan=equal_nan))


@st.composite
def cases(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, float, float, bool]:
    dtype = draw(st.sampled_from([np.float32, np.float32, np.float64, np.float16]))
    rows, width = draw(st.integers(1, 6)), draw(st.integers(1, 12))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from(SCALES))
    with np.errstate(all="ignore"):
        reference = (rng.normal(size=(rows, width)) * scale).astype(dtype)
        if draw(st.booleans()):
            mask = rng.random((rows, width)) < 0.2
            reference[mask] = rng.choice(SPECIALS, size=int(mask.sum())).astype(dtype)
        atol, rtol = draw(st.sampled_from(ATOLS)), draw(st.sampled_from(RTOLS))
        equal_nan = draw(st.booleans())
        pattern = draw(
            st.sampled_from(
                ["element", "row", "column", "all", "sparse", "special", "bits", "none"]
            )
        )
        factor = draw(st.sampled_from(FACTORS)) * draw(st.sampled_from([1.0, -1.0]))
        ref64 = reference.astype(np.float64)
        step = factor * (atol + rtol * np.abs(ref64))
        step = np.where(np.isfinite(step), step, 0.0)
        if draw(st.booleans()):  # random signs, not a coherent shift
            step = step * rng.choice([-1.0, 1.0], size=step.shape)
        mask = np.zeros((rows, width), dtype=bool)
        r, c = int(rng.integers(rows)), int(rng.integers(width))
        if pattern == "element":
            mask[r, c] = True
        elif pattern == "row":
            mask[r] = True
        elif pattern == "column":
            mask[:, c] = True
        elif pattern in ("all", "bits"):
            mask[:] = True
        elif pattern == "sparse":
            mask = rng.random((rows, width)) < 0.1
        obtained = np.where(mask, ref64 + step, ref64).astype(dtype)
        if pattern == "special":
            obtained = reference.copy()
            obtained[r, c] = rng.choice(SPECIALS)
        elif pattern == "bits":  # flip a low mantissa bit everywhere: ulp-sized noise
            bits = obtained.view(np.dtype(f"u{obtained.itemsize}"))
            bits ^= (rng.random((rows, width)) < 0.5).astype(bits.dtype)
    return obtained, reference, atol, rtol, equal_nan


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_summary_never_claims_a_violation_that_allclose_does_not_see(
    case: tuple[np.ndarray, np.ndarray, float, float, bool],
) -> None:
    obtained, reference, atol, rtol, equal_nan = case
    claims = [e for e in summary_claims(obtained, reference, atol, rtol, equal_nan) if e.violated]
    if claims:
        assert not numpy_allclose(obtained, reference, atol, rtol, equal_nan), claims


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([1e-6, 1e-4, 1e-2]))
def test_clear_drift_is_caught(seed: int, atol: float) -> None:
    """Not vacuous: a coherent shift of every value by 3x atol is always proven."""
    rng = np.random.default_rng(seed)
    reference = rng.normal(size=(8, 64)).astype(np.float32)
    obtained = (reference.astype(np.float64) + 3 * atol).astype(np.float32)
    claims = summary_claims(obtained, reference, atol, 0.0, True)
    assert claims[1].violated
    assert claims[1].num_rows == 8
    assert claims[1].max_abs_error_lower_bound <= 3 * atol * 1.001


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_identical_arrays_are_never_violated(dtype: type) -> None:
    reference = np.random.default_rng(3).normal(size=(5, 16)).astype(dtype)
    reference[0, 0], reference[1, 1], reference[2, 2] = np.nan, np.inf, -0.0
    claims = summary_claims(reference.copy(), reference, 0.0, 0.0, True)
    assert not any(e.violated for e in claims)


def test_nan_at_a_new_position_is_proven() -> None:
    reference = np.ones((3, 4), dtype=np.float32)
    obtained = reference.copy()
    obtained[1, 2] = np.nan
    extrema, rows, _ = summary_claims(obtained, reference, 1.0, 1.0, True)
    assert extrema.violated
    assert rows.rows == (1,)
    assert not numpy_allclose(obtained, reference, 1.0, 1.0, True)


def test_equal_nan_false_fails_on_any_nan() -> None:
    reference = np.ones((2, 2), dtype=np.float32)
    reference[0, 0] = np.nan
    extrema = summary_claims(reference.copy(), reference, 1.0, 0.0, False)[0]
    assert extrema.violated
    assert not numpy_allclose(reference.copy(), reference, 1.0, 0.0, False)


def test_tolerance_that_overflows_the_dtype_is_not_claimed() -> None:
    """atol beyond float16's range makes numpy's bound inf: everything is close."""
    reference = np.zeros((1, 4), dtype=np.float16)
    obtained = np.full((1, 4), 60000, dtype=np.float16)
    claims = summary_claims(obtained, reference, 1e30, 0.0, True)
    assert not any(e.violated for e in claims)
    assert numpy_allclose(obtained, reference, 1e30, 0.0, True)


def test_fast_statistics_match_the_direct_ones() -> None:
    block = np.random.default_rng(7).normal(3.0, 2.0, size=(50, 40)).astype(np.float32)
    _, fast = block_sketch(block, signs_for(40))
    slow = array_stats(block)
    assert fast.minimum == slow.minimum
    assert fast.maximum == slow.maximum
    assert fast.mean == pytest.approx(slow.mean, rel=1e-12)
    assert fast.std == pytest.approx(slow.std, rel=1e-9)
    assert fast.row_norm_quantiles == pytest.approx(slow.row_norm_quantiles, rel=1e-12)
