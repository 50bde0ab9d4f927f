"""Measure drift between runs and propose a tolerance with a stated margin.

``repro-golden calibrate`` predicts a case several times here (run-to-run drift)
and compares with stores made elsewhere (cross-environment drift). Per array it
measures the largest absolute difference, its 99.9th percentile, the mean
absolute difference and the smallest per-row cosine similarity, FOV by FOV, so
memory stays at one FOV block per side. A proposal is ``identical`` where every
run matched bit for bit, else ``atol = margin x max |diff|`` (rtol 0): the margin
is stated in the report and recorded with the expectation. :func:`calibrate` makes
every decision (what is proposed for which environment, what is refused); the
``calibrate`` command predicts, prints its account and records under
``--force-regen``. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from repro_golden.core.digest import index_digest
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden.expectations import Expectation, ExpectationKind
from repro_golden.core.golden.types import Golden
from repro_golden.core.inputs import compare_inputs
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
from repro_golden.errors import InputError

PERCENTILE = 99.9
DEFAULT_MARGIN = 10.0


@dataclass(frozen=True)
class Drift:
    """How far one array of one store is from the same array of another."""

    max_abs: float
    p999_abs: float
    mean_abs: float
    min_row_cosine: float
    elements: int

    @property
    def identical(self) -> bool:
        return self.max_abs == 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_abs": self.max_abs,
            "p99.9_abs": self.p999_abs,
            "mean_abs": self.mean_abs,
            "min_row_cosine": self.min_row_cosine,
            "elements": self.elements,
        }

    def describe(self) -> str:
        return (
            f"max |diff| {self.max_abs:.3g}, p99.9 {self.p999_abs:.3g}, "
            f"mean {self.mean_abs:.3g}, min row cosine {self.min_row_cosine:.9f}"
        )


Rows = Callable[[str, str], np.ndarray]
"""``rows(fov, array)``: one FOV block of one array."""


def _drift(fovs: list[str], array: str, left: Rows, right: Rows, total: int) -> Drift:
    keep = max(1, total - math.floor((PERCENTILE / 100) * (total - 1)))
    top = np.zeros(0)
    max_abs, sum_abs, count, min_cos = 0.0, 0.0, 0, 1.0
    for fov in fovs:
        a = np.asarray(left(fov, array), dtype=np.float64)
        b = np.asarray(right(fov, array), dtype=np.float64)
        with np.errstate(invalid="ignore"):
            diff = np.abs(a - b).reshape(-1)
        diff = np.where(
            np.isnan(diff), np.where(np.isnan(a) & np.isnan(b), 0, np.inf).reshape(-1), diff
        )
        if diff.size:
            max_abs = max(max_abs, float(diff.max()))
            sum_abs += float(diff.sum())
            count += diff.size
            merged = np.concatenate([top, diff])
            top = np.partition(merged, merged.size - keep)[-keep:] if merged.size > keep else merged
        dots = np.einsum("ij,ij->i", a, b)
        norms = np.sqrt(np.einsum("ij,ij->i", a, a) * np.einsum("ij,ij->i", b, b))
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(norms > 0, dots / norms, 1.0)
        if cos.size and np.isfinite(cos).any():
            min_cos = min(min_cos, float(np.nanmin(cos)))
    p999 = 0.0
    if count:
        # numpy's linear-interpolation percentile from the largest ``keep`` values only.
        rank = (PERCENTILE / 100) * (count - 1)
        ordered = np.sort(top)
        base = math.floor(rank) - (count - ordered.size)
        frac = rank - math.floor(rank)
        upper = ordered[min(base + 1, ordered.size - 1)]
        p999 = float(ordered[base] + frac * (upper - ordered[base]))
    return Drift(max_abs, p999, sum_abs / count if count else 0.0, min_cos, count)


def store_drift(
    obtained: EmbeddingsStore, reference: EmbeddingsStore | Mapping[str, Rows]
) -> dict[str, Drift]:
    """Per-array drift of ``obtained`` from ``reference`` (rows must line up FOV by FOV)."""
    if isinstance(reference, EmbeddingsStore):
        if sorted(obtained.fov_names) != sorted(reference.fov_names):
            raise InputError(
                "the two stores hold different FOVs: drift needs the same cells",
                path=reference.path,
            )
        for fov in obtained.fov_names:
            sides = []
            for store in (obtained, reference):
                rows = store.fov_rows(fov)
                sides.append(
                    index_digest({c: store.read_column(c, rows) for c in store.index_columns})
                )
            if sides[0] != sides[1]:
                raise InputError(
                    f"FOV {fov}: index rows differ between the stores; drift needs the same cells",
                    path=reference.path,
                )
        ref_store = reference

        def right(fov: str, array: str) -> np.ndarray:
            return ref_store.read_rows(array, ref_store.fov_rows(fov))

        arrays = list(reference.arrays)
    else:
        arrays = list(reference)
        readers = reference

        def right(fov: str, array: str) -> np.ndarray:
            return readers[array](fov, array)

    def left(fov: str, array: str) -> np.ndarray:
        return obtained.read_rows(array, obtained.fov_rows(fov))

    total = {a: int(np.prod(obtained.arrays[a].shape)) for a in arrays}
    return {a: _drift(list(obtained.fov_names), a, left, right, total[a]) for a in arrays}


def propose(
    drifts: Sequence[Mapping[str, Drift]], *, margin: float = DEFAULT_MARGIN, floor: ToleranceSpec
) -> ArrayTolerances | None:
    """``None`` (identical) when every drift is zero, else ``atol = margin x max |diff|`` per
    array (never below ``floor``'s atol/rtol, the case tolerance)."""
    if all(d.identical for drift in drifts for d in drift.values()):
        return None
    names = sorted({name for drift in drifts for name in drift})
    arrays = {}
    for name in names:
        worst = max(drift[name].max_abs for drift in drifts if name in drift)
        arrays[name] = ToleranceSpec(max(floor.atol, margin * worst), floor.rtol, floor.equal_nan)
    return ArrayTolerances.of(floor, arrays)


@dataclass(frozen=True)
class CalibrationEntry:
    """One line of a calibration's account: a drift table (``drift``) or a note (``None``)."""

    title: str
    drift: Mapping[str, Drift] | None = None


@dataclass(frozen=True)
class Calibration:
    """What calibration measured here and what it proposes to record.

    ``entries`` is the account in the order the command prints it; ``proposals`` the
    expectations ``--force-regen`` records (this environment's first).
    """

    here: EnvironmentFingerprint
    margin: float
    entries: tuple[CalibrationEntry, ...]
    proposals: tuple[Expectation, ...]


def refuse_foreign(other: EmbeddingsStore, first: EmbeddingsStore, *, case_name: str) -> None:
    """:class:`InputError` (exit 2) when ``other`` is not a run of this case on these inputs.

    Drift measured against another case's store (another checkpoint, other inputs)
    is not drift of an environment: recording it would loosen the golden set.
    """
    recorded = other.parsed_provenance().case_name
    if recorded is not None and recorded != case_name:
        raise InputError(
            f"--against store is of case {recorded!r}, expected {case_name!r}",
            path=other.path,
            key="uns.repro_golden.case_name",
        )
    inputs = compare_inputs(first.parsed_provenance().inputs, other.parsed_provenance().inputs)
    if inputs.inputs_changed:
        raise InputError(
            f"--against store was predicted from other inputs ({inputs.describe()}): "
            "its drift says nothing about an environment",
            path=other.path,
            key="uns.repro_golden.input_record",
        )


def calibrate(
    runs: Sequence[EmbeddingsStore],
    *,
    case_name: str,
    golden: Golden | None,
    against: Sequence[EmbeddingsStore] = (),
    floor: ToleranceSpec,
    margin: float = DEFAULT_MARGIN,
) -> Calibration:
    """Measure ``runs`` (two or more predictions here) and ``against`` stores; propose.

    This environment gets ``identical`` when every run matched run 1 and the golden
    values bit for bit, else a tolerance of ``margin`` x the largest |diff| (never
    below ``floor``, the case tolerance). Each ``against`` store of another known
    environment gets a proposal of its own; one of this same environment proposes
    nothing (it can never loosen this environment's expectation), and one of another
    case or other inputs is refused (:func:`refuse_foreign`).
    """
    first = runs[0]
    here = first.parsed_provenance().environment
    if here is None:
        raise InputError("the prediction recorded no environment", path=first.path)
    entries: list[CalibrationEntry] = []
    local = [store_drift(r, first) for r in runs[1:]]
    entries += [
        CalibrationEntry(f"run {i} vs run 1 (run-to-run)", d) for i, d in enumerate(local, 2)
    ]
    if golden is not None and golden.full is not None:
        full = golden.full
        offsets = {f.name: (f.offset, f.offset + f.rows) for f in golden.fovs}

        def rows(fov: str, array: str) -> np.ndarray:
            return full.rows(array, *offsets[fov])

        vs_golden = store_drift(first, {name: rows for name in full.arrays})
        entries.append(CalibrationEntry("run 1 vs the golden full copy", vs_golden))
        local.append(vs_golden)
    tolerance = propose(local, margin=margin, floor=floor)
    if golden is not None and golden.full is None:
        from repro_golden.core.golden.summarize import summarize

        if golden.dataset_digest != summarize(first, full_copy_limit=0).dataset_digest:
            entries.append(
                CalibrationEntry(
                    "note: the golden set has no full copy and differs from run 1, so drift "
                    "against it cannot be measured; `identical` is not proposed"
                )
            )
            tolerance = tolerance or ArrayTolerances(floor)
    evidence = f"calibrate: {len(runs)} runs here"
    if tolerance is None:
        proposals = [
            Expectation(
                here,
                ExpectationKind.IDENTICAL,
                evidence=f"{evidence} matched the golden values bit for bit",
            )
        ]
    else:
        proposals = [
            Expectation(
                here,
                ExpectationKind.TOLERANCE,
                tolerance,
                evidence=f"{evidence}; atol = {margin:g} x max |diff|",
                calibration={n: d.to_dict() for n, d in local[-1].items()},
            )
        ]
    for other in against:
        refuse_foreign(other, first, case_name=case_name)
        drift = store_drift(other, first)
        entries.append(CalibrationEntry(f"{other.path} vs run 1 (cross-environment)", drift))
        env = other.parsed_provenance().environment
        if env is None or not env.is_known:
            entries.append(
                CalibrationEntry("  (no environment recorded: nothing to key an expectation by)")
            )
            continue
        if env.key == here.key:
            entries.append(
                CalibrationEntry("  (same environment as the runs here: nothing proposed for it)")
            )
            continue
        proposed = propose([drift], margin=margin, floor=floor)
        kind = ExpectationKind.IDENTICAL if proposed is None else ExpectationKind.TOLERANCE
        proposals.append(
            Expectation(
                env,
                kind,
                proposed,
                evidence=f"calibrate: {other.path} against a run in {here.label()}; "
                f"atol = {margin:g} x max |diff|",
                calibration={n: d.to_dict() for n, d in drift.items()},
            )
        )
    return Calibration(here, margin, tuple(entries), tuple(proposals))
