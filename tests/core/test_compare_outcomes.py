"""Every outcome, against golden files and against a full reference store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from core_stores import Embeddings

from repro_golden.api import check_golden, compare_embeddings, write_golden
from repro_golden.core.outcomes import Outcome, Status
from repro_golden.core.report import ComparisonReport
from repro_golden.core.tolerance import ToleranceSpec

Writer = Callable[..., Path]


def _status(report: ComparisonReport, fov: str | None, array: str | None) -> Outcome:
    matches = [o for o in report.outcomes if o.fov == fov and o.array == array]
    assert len(matches) == 1, report.outcomes
    return matches[0]


def _both(
    write_store: Writer,
    reference: Embeddings,
    obtained: Embeddings,
    tmp_path: Path,
    tolerance: ToleranceSpec | None = None,
) -> tuple[ComparisonReport, ComparisonReport]:
    ref = write_store("ref", reference)
    obt = write_store("obt", obtained, "zarr3")
    write_golden(ref, tmp_path / "ref.golden", full_copy_limit=0)  # judged by summaries
    return (
        check_golden(obt, tmp_path / "ref.golden", tolerance=tolerance, evidence=False),
        compare_embeddings(obt, ref, tolerance=tolerance or ToleranceSpec()),
    )


def test_identical(embeddings: Embeddings, write_store: Writer, tmp_path: Path) -> None:
    golden, full = _both(write_store, embeddings, embeddings, tmp_path)
    for report in (golden, full):
        assert report.passed
        assert {o.status for o in report.outcomes} == {Status.IDENTICAL}
        assert len(report.outcomes) == 6


def test_tiny_noise_is_within_tolerance_or_consistent(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    x = embeddings.X.copy()
    x[45, 2] = np.nextafter(x[45, 2], np.float32(np.inf))
    tolerance = ToleranceSpec(atol=1e-6)
    golden, full = _both(write_store, embeddings, embeddings.with_(X=x), tmp_path, tolerance)
    assert golden.passed
    assert full.passed
    assert _status(golden, "B/1/0", "X").status is Status.CONSISTENT
    assert _status(full, "B/1/0", "X").status is Status.WITHIN_TOLERANCE
    assert _status(full, "A/1/0", "X").status is Status.IDENTICAL


def test_drift_is_violated_with_where_and_how_much(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    x = embeddings.X.copy()
    x[45:48] += np.float32(0.05)  # rows 5..7 of FOV B
    tolerance = ToleranceSpec(atol=1e-3)
    golden, full = _both(write_store, embeddings, embeddings.with_(X=x), tmp_path, tolerance)
    assert not golden.passed
    assert not full.passed
    summary = _status(golden, "B/1/0", "X")
    assert summary.status is Status.VIOLATED
    assert summary.violation is not None
    assert summary.violation.bound
    assert summary.violation.rows == (5, 6, 7)
    assert 1e-3 < summary.violation.max_abs_error <= 0.05 * 1.001
    exact = _status(full, "B/1/0", "X")
    assert exact.violation is not None
    assert exact.violation.rows == (5, 6, 7)
    assert exact.violation.max_abs_error == pytest.approx(0.05, rel=1e-4)
    assert exact.violation.max_rel_error is not None
    assert exact.violation.min_cosine is not None
    assert exact.violation.min_cosine < 1.0
    assert _status(full, "B/1/0", "X_projections").status is Status.IDENTICAL


def test_check_with_reference_replaces_summary_verdicts(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    x = embeddings.X.copy()
    x[0, 0] += np.float32(1e-4)
    ref = write_store("ref", embeddings)
    obt = write_store("obt", embeddings.with_(X=x))
    write_golden(ref, tmp_path / "g")
    report = check_golden(
        obt, tmp_path / "g", tolerance=ToleranceSpec(atol=1e-3), reference=ref, evidence=False
    )
    assert _status(report, "A/1/0", "X").status is Status.WITHIN_TOLERANCE
    report = check_golden(obt, tmp_path / "g", reference=ref, evidence=False)
    assert _status(report, "A/1/0", "X").status is Status.VIOLATED
    assert not any(o.fov is None for o in report.outcomes)


def _drop_fov(emb: Embeddings, fov: str) -> Embeddings:
    keep = emb.obs["fov_name"] != fov
    return emb.with_(X=emb.X[keep], P=emb.P[keep], obs={k: v[keep] for k, v in emb.obs.items()})


def test_missing_and_extra_fov(embeddings: Embeddings, write_store: Writer, tmp_path: Path) -> None:
    names = embeddings.obs["fov_name"].copy()
    names[names == "C/1/0"] = "D/1/0"
    obtained = _drop_fov(embeddings.with_(obs={**embeddings.obs, "fov_name": names}), "A/1/0")
    golden, full = _both(write_store, embeddings, obtained, tmp_path)
    for report in (golden, full):
        assert not report.passed
        assert _status(report, "A/1/0", None).status is Status.MISSING_FOV
        assert _status(report, "C/1/0", None).status is Status.MISSING_FOV
        assert _status(report, "D/1/0", None).status is Status.EXTRA_FOV
        assert _status(report, "B/1/0", "X").status is Status.IDENTICAL


def test_rows_reordered_and_index_changed(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    order = np.arange(embeddings.X.shape[0])
    order[[40, 41]] = order[[41, 40]]  # swap two rows of FOV B
    obs = {k: v[order] for k, v in embeddings.obs.items()}
    obs["t"] = obs["t"].copy()
    obs["t"][100] += 7  # FOV C: a changed index value
    obtained = embeddings.with_(X=embeddings.X[order], P=embeddings.P[order], obs=obs)
    golden, full = _both(write_store, embeddings, obtained, tmp_path)
    for report in (golden, full):
        assert not report.passed
        assert _status(report, "B/1/0", None).status is Status.ROWS_REORDERED
        assert _status(report, "C/1/0", None).status is Status.INDEX_CHANGED
        assert _status(report, "A/1/0", "X").status is Status.IDENTICAL
    assert _status(full, "B/1/0", None).detail.endswith(
        "after matching rows by index: X identical, X_projections identical"
    )


def test_dtype_is_strict(embeddings: Embeddings, write_store: Writer, tmp_path: Path) -> None:
    obtained = embeddings.with_(X=embeddings.X.astype(np.float64))
    golden, full = _both(write_store, embeddings, obtained, tmp_path, ToleranceSpec(atol=1.0))
    for report in (golden, full):
        outcome = _status(report, None, "X")
        assert outcome.status is Status.DTYPE_CHANGED
        assert (outcome.expected, outcome.obtained) == ("float32", "float64")
        assert _status(report, "A/1/0", "X_projections").status is Status.IDENTICAL


def test_shape_changed_columns_and_rows(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    obtained = embeddings.with_(P=embeddings.P[:, :-1])
    golden, full = _both(write_store, embeddings, obtained, tmp_path)
    for report in (golden, full):
        assert _status(report, None, "X_projections").status is Status.SHAPE_CHANGED
    keep = np.ones(embeddings.X.shape[0], dtype=bool)
    keep[55] = False  # one row of FOV B (rows 40..69) dropped
    fewer = embeddings.with_(
        X=embeddings.X[keep],
        P=embeddings.P[keep],
        obs={k: v[keep] for k, v in embeddings.obs.items()},
    )
    golden, full = _both(write_store, embeddings, fewer, tmp_path / "rows")
    for report in (golden, full):
        outcome = _status(report, "B/1/0", None)
        assert outcome.status is Status.SHAPE_CHANGED
        assert (outcome.expected, outcome.obtained) == ("30", "29")


@pytest.mark.parametrize("equal_nan", [True, False])
def test_nan_policy(
    equal_nan: bool, embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    reference = embeddings.X.copy()
    reference[3, 3] = np.nan
    same = reference.copy()
    moved = reference.copy()
    moved[3, 3], moved[4, 4] = 0.0, np.nan  # to another row: summaries can prove it
    tolerance = ToleranceSpec(atol=1e-3, equal_nan=equal_nan)
    golden, full = _both(
        write_store,
        embeddings.with_(X=reference),
        embeddings.with_(X=same),
        tmp_path / "same",
        tolerance,
    )
    # Identical bytes are identical whatever the policy; the policy judges differences.
    assert {o.status for o in golden.outcomes} == {Status.IDENTICAL}
    assert golden.passed
    assert full.passed
    golden, full = _both(
        write_store,
        embeddings.with_(X=reference),
        embeddings.with_(X=moved),
        tmp_path / "moved",
        tolerance,
    )
    assert _status(full, "A/1/0", "X").status is Status.VIOLATED
    assert _status(golden, "A/1/0", "X").status is Status.VIOLATED


def test_nan_moved_within_a_row_is_only_consistent_for_summaries(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    """Same NaN count, same rows: summaries cannot tell positions; the full check can."""
    reference = embeddings.X.copy()
    reference[3, 3] = np.nan
    moved = reference.copy()
    moved[3, 3], moved[3, 4] = 0.0, np.nan
    golden, full = _both(
        write_store,
        embeddings.with_(X=reference),
        embeddings.with_(X=moved),
        tmp_path,
        ToleranceSpec(atol=1e-3),
    )
    assert _status(golden, "A/1/0", "X").status is Status.CONSISTENT
    assert _status(full, "A/1/0", "X").status is Status.VIOLATED


def test_big_endian_storage_is_the_same_dtype(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    big = embeddings.with_(X=embeddings.X.astype(">f4"))
    ref = write_store("ref", embeddings)
    obt = write_store("obt", big, "zarr2")
    from repro_golden.core.embeddings import EmbeddingsStore

    assert EmbeddingsStore(obt).arrays["X"].dtype.byteorder == ">"
    write_golden(ref, tmp_path / "g")
    for report in (
        check_golden(obt, tmp_path / "g", evidence=False),
        compare_embeddings(obt, ref),
    ):
        assert report.passed
        assert {o.status for o in report.outcomes} == {Status.IDENTICAL}


def test_index_columns_changed(embeddings: Embeddings, write_store: Writer, tmp_path: Path) -> None:
    obs = {k: v for k, v in embeddings.obs.items() if k != "parent_id"}
    golden, full = _both(write_store, embeddings, embeddings.with_(obs=obs), tmp_path)
    for report in (golden, full):
        outcome = _status(report, None, None)
        assert outcome.status is Status.INDEX_CHANGED
        assert outcome.expected is not None
        assert outcome.expected.endswith("parent_id")
        assert _status(report, "A/1/0", None).status is Status.INDEX_CHANGED


def test_reordered_rows_with_changed_values_say_so(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    order = np.arange(embeddings.X.shape[0])
    order[[40, 41]] = order[[41, 40]]
    x = embeddings.X[order]
    x[40] += np.float32(1.0)
    obtained = embeddings.with_(
        X=x, P=embeddings.P[order], obs={k: v[order] for k, v in embeddings.obs.items()}
    )
    report = compare_embeddings(
        write_store("obt", obtained), write_store("ref", embeddings), tolerance=ToleranceSpec()
    )
    outcome = _status(report, "B/1/0", None)
    assert outcome.status is Status.ROWS_REORDERED
    assert outcome.detail.endswith("X violated, X_projections identical")
