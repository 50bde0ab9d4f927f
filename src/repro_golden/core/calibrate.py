"""Measure drift between runs and propose a tolerance with a stated margin.

``repro-golden calibrate`` predicts a case several times here (run-to-run drift)
and compares with stores made elsewhere (cross-environment drift). Per array it
measures the largest absolute difference, its 99.9th percentile, the mean
absolute difference and the smallest per-row cosine similarity, FOV by FOV, so
memory stays at one FOV block per side. A proposal is ``identical`` where every
run matched bit for bit, else ``atol = margin x max |diff|`` (rtol 0): the margin
is stated in the report and recorded with the expectation. Torch-free.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from repro_golden.core.digest import index_digest
from repro_golden.core.embeddings import EmbeddingsStore
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
