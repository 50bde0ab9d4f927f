"""Rung 5 of the verdict: is a run within its precision's noise of the fp64 truth?

Torch-free (numpy and the embeddings reader only). Bits differ across GPU
architectures, so a run that is not identical to the golden set is judged on
the oracle's sample of cells (:mod:`.oracle_format`) by its distance from the
float64 truth, against the noise its arithmetic class is measured to make on
this model (the budget), not by its distance from another noisy run.

The rule, per array (``X``, ``X_projections``), with ``b`` the budget of the
class, ``g`` the golden store's own error and ``gb`` the budget of the golden
store's class (all :class:`~repro_golden.core.oracle_format.ErrorStats`)::

    golden plausible  <=>  g.rms <= K_RMS[gc] * gb.rms  and  g.max <= K_MAX * gb.max
    reference r       =    max(b, g) if the golden is plausible, else b   (per figure)
    within            <=>  obtained.rms <= K_RMS[c] * r.rms  and  obtained.max <= K_MAX * r.max

(``c`` the class judged, ``gc`` the golden store's.)

PASS ("within <class> noise of the fp64 truth") when every array is within and
the golden is plausible; REFERENCE_OUTLIER ("the reference is the outlier")
when every array is within but the golden store is not plausible (the golden
values moved away from the truth, this run did not: rewrite the golden set);
FAIL ("moved away from the fp64 truth") when any array is not within.

Constants (measured by ``benchmarks/bench_oracle.py``, docs/golden-files.md
"Truth across devices"): on the example and zstack cases, emulated runs of the
same class at batch 16 and 64 and 1 and 2 threads have an error of 1.00x the
budget (two decimals: the rounding of operands dominates; on the CPU the
float32 kernels give each cell the same bits at any batch and thread count). A
TF32 path that truncates instead of rounding
(:func:`repro_golden.inference.model.precision.round_tf32` ``mode="truncate"``),
which some tensor-core paths may do, is biased: 1.50-1.63x the RNE budget in RMS
on ``X`` but 2.39x on zstack's ``X_projections`` (max 1.45-1.85x). Hence
``K_RMS`` is 3 for tf32 (covers 2.39 with 25 % room) and 2 for fp32 and bf16
(RNE conversions on every device), and ``K_MAX = 4``. The planted changes each
fails at are in the docs. For ``fp32`` the budget is the CPU's float32 noise
(3.7e-7 of the output RMS on the example); a GPU's float32 kernels sum in other
orders, which changes the error vector but not its size; no GPU run was
measured here (``scripts/gpu_check.sh`` should compare one with the budget).

The guaranteed detection limit in RMS is
``(K_RMS[c] + 1) * r.rms``: a change ``d`` added to noise ``n`` with
``rms(n) <= r.rms`` has ``rms(n + d) >= rms(d) - r.rms`` (triangle inequality),
which exceeds the bound once ``rms(d) > (K_RMS[c] + 1) * r.rms``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

import numpy as np

from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.oracle_format import (
    CLASSES,
    KEY_COLUMNS,
    ORACLE_ARRAYS,
    ErrorStats,
    OracleSection,
)
from repro_golden.errors import ConfigError, EmbeddingsError

K_RMS: Mapping[str, float] = MappingProxyType({"fp32": 2.0, "tf32": 3.0, "bf16": 2.0})
"""Per class, a run may be this many times the reference error in RMS (see module docs)."""
K_MAX = 4.0
"""A run may be this many times the reference error in max abs (see module docs)."""
WORST_CELLS = 5
_MAX_LISTED = 5


class OracleStatus(Enum):
    """Outcome of the truth rung."""

    PASS = "pass"
    FAIL = "fail"
    REFERENCE_OUTLIER = "reference_outlier"


@dataclass(frozen=True)
class ArrayVerdict:
    """One array: the obtained error vs its bound, and the figures behind the bound."""

    name: str
    obtained: ErrorStats
    budget: ErrorStats
    golden: ErrorStats
    golden_plausible: bool
    allowed_rms: float
    allowed_max: float
    k_rms: float
    """The class's :data:`K_RMS`."""

    @property
    def within(self) -> bool:
        return self.obtained.rms <= self.allowed_rms and self.obtained.max_abs <= self.allowed_max

    @property
    def reference_rms(self) -> float:
        return self.allowed_rms / self.k_rms

    @property
    def detection_limit_rms(self) -> float:
        """RMS of the smallest change this rung is sure to see: ``(k_rms + 1) * r.rms``."""
        return (self.k_rms + 1.0) * self.reference_rms

    @property
    def detection_limit_rel(self) -> float:
        """:attr:`detection_limit_rms` over the RMS of the output."""
        truth = self.budget.truth_rms
        return self.detection_limit_rms / truth if truth > 0 else math.inf

    def describe(self) -> str:
        """One line: obtained vs allowed and budget, golden's own error, detection limit."""
        mark = "ok" if self.within else "OVER"
        golden = "" if self.golden_plausible else " (golden store beyond its own budget)"
        return (
            f"{self.name}: obtained rms {self.obtained.rms:.2e} / allowed {self.allowed_rms:.2e}, "
            f"max {self.obtained.max_abs:.2e} / allowed {self.allowed_max:.2e} [{mark}]; "
            f"budget rms {self.budget.rms:.2e} max {self.budget.max_abs:.2e}; "
            f"golden store rms {self.golden.rms:.2e} max {self.golden.max_abs:.2e}{golden}; "
            f"detection limit rms {self.detection_limit_rms:.2e} "
            f"({self.detection_limit_rel:.1e} of output rms)"
        )


@dataclass(frozen=True)
class WorstCell:
    """A sampled cell by key, with its error per array (RMS over the row, max abs)."""

    key: tuple[Any, ...]
    rms: Mapping[str, float]
    max_abs: Mapping[str, float]
    score: float
    """Largest over arrays of the row's error RMS over the array's reference RMS."""

    def describe(self) -> str:
        fov, track, t, cell = self.key
        figures = ", ".join(
            f"{name} rms {self.rms[name]:.2e} max {self.max_abs[name]:.2e}" for name in self.rms
        )
        return f"{fov} track_id={track} t={t} id={cell}: {figures} ({self.score:.1f}x noise)"


@dataclass(frozen=True)
class OracleVerdict:
    """The truth rung's result (frozen); :attr:`message` and :meth:`lines` are the report."""

    status: OracleStatus
    precision: str
    precision_source: str
    rows: int
    arrays: tuple[ArrayVerdict, ...]
    worst_cells: tuple[WorstCell, ...]

    @property
    def passed(self) -> bool:
        """True only for PASS (REFERENCE_OUTLIER is no regression of the run, but the golden
        set must be rewritten: the caller decides how to surface it)."""
        return self.status is OracleStatus.PASS

    @property
    def message(self) -> str:
        if self.status is OracleStatus.PASS:
            return f"within {self.precision} noise of the fp64 truth"
        if self.status is OracleStatus.FAIL:
            return "moved away from the fp64 truth"
        return (
            f"the reference is the outlier: this run is within {self.precision} noise of the fp64 "
            "truth, the golden store is not (rewrite the golden set)"
        )

    def lines(self) -> list[str]:
        """Report lines: verdict, precision and its source, each array, and (unless PASS,
        where they are only the largest noise) the worst cells."""
        head = f"truth rung ({self.rows} sampled cells, {self.precision} from "
        out = [f"{head}{self.precision_source}): {self.message}"]
        out += [f"  {a.describe()}" for a in self.arrays]
        if self.worst_cells and self.status is not OracleStatus.PASS:
            out.append("  worst cells:")
            out += [f"    {cell.describe()}" for cell in self.worst_cells]
        return out


def precision_class(provenance: Mapping[str, Any] | None) -> tuple[str | None, str]:
    """The precision class a store's provenance records, and why; ``(None, why)`` if none.

    bf16 from a ``bf16-*`` Lightning precision; on CUDA, TF32 when either TF32
    switch is on (``cudnn.allow_tf32`` is on by default in PyTorch) or the
    float32 matmul precision is ``high``/``medium``, else fp32; a CPU run is fp32.
    fp16 has no budget (None).
    """
    if not provenance:
        return None, "no provenance"
    case = provenance.get("case") if isinstance(provenance.get("case"), Mapping) else {}
    numerics = provenance.get("numerics") or (case or {}).get("numerics") or {}
    env = (
        provenance.get("environment") if isinstance(provenance.get("environment"), Mapping) else {}
    )
    env = env or {}
    precision = str(numerics.get("precision") or "") if isinstance(numerics, Mapping) else ""
    if precision.startswith("bf16"):
        return "bf16", f"provenance numerics.precision {precision}"
    if precision.startswith("16"):
        return None, f"provenance numerics.precision {precision} (fp16 has no budget)"
    device = env.get("device_type") or provenance.get("accelerator")
    if device in ("cuda", "gpu"):
        flags = {k: env.get(k) for k in ("allow_tf32", "cudnn_allow_tf32")}
        if any(v is True for v in flags.values()):
            on = ", ".join(f"{k}={v}" for k, v in flags.items())
            return "tf32", f"provenance environment ({on})"
        matmul = env.get("matmul_precision") or (
            numerics.get("matmul_precision") if isinstance(numerics, Mapping) else None
        )
        if matmul in ("high", "medium") and not all(v is False for v in flags.values()):
            return "tf32", f"provenance matmul_precision {matmul}"
        return "fp32", "provenance (CUDA, TF32 off)"
    if device == "cpu":
        return "fp32", "provenance (CPU run)"
    return None, "provenance records no device"


def sample_positions(store: EmbeddingsStore, keys: Mapping[str, tuple[Any, ...]]) -> np.ndarray:
    """Dataset positions in ``store`` of the sampled cells, in sample order.

    Raises :class:`EmbeddingsError` naming the store when a sampled cell is
    absent (listing the first ones by key), a key column is missing, or a key is
    ambiguous (two rows with it).
    """
    names = keys["fov_name"]
    positions = np.full(len(names), -1, dtype=np.int64)
    missing: list[tuple[Any, ...]] = []
    wanted: dict[str, list[int]] = {}
    for i, fov in enumerate(names):
        wanted.setdefault(fov, []).append(i)
    for column in KEY_COLUMNS[1:]:
        if column not in store.index_columns:
            raise EmbeddingsError(
                f"missing obs column; the oracle names cells by {list(KEY_COLUMNS)}",
                path=store.path,
                key=f"obs/{column}",
            )
    for fov, samples in wanted.items():
        if fov not in store.fov_names:
            missing += [tuple(keys[c][i] for c in KEY_COLUMNS) for i in samples]
            continue
        rows = store.fov_rows(fov)
        columns = [store.read_column(c, rows) for c in KEY_COLUMNS[1:]]
        lookup: dict[tuple[int, ...], int] = {}
        ambiguous: set[tuple[int, ...]] = set()
        for row, *found in zip(rows.tolist(), *(c.tolist() for c in columns), strict=True):
            if tuple(found) in lookup:
                ambiguous.add(tuple(found))
            lookup[tuple(found)] = row
        for i in samples:
            key: tuple[int, ...] = tuple(keys[c][i] for c in KEY_COLUMNS[1:])
            if key in ambiguous:
                raise EmbeddingsError(
                    f"two rows of FOV {fov} have (track_id, t, id) = {key}; expected one",
                    path=store.path,
                    key="obs",
                )
            if key not in lookup:
                missing.append((fov, *key))
            else:
                positions[i] = lookup[key]
    if missing:
        listed = ", ".join(str(k) for k in missing[:_MAX_LISTED])
        more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        raise EmbeddingsError(
            f"{len(missing)} of the oracle's {len(names)} sampled cells are missing, by "
            f"(fov_name, track_id, t, id): {listed}{more}; expected all of them",
            path=store.path,
            key="obs",
        )
    return positions


def sample_values(
    store: EmbeddingsStore, keys: Mapping[str, tuple[Any, ...]]
) -> dict[str, np.ndarray]:
    """``X`` and ``X_projections`` of the sampled cells, in sample order (see
    :func:`sample_positions` for the errors)."""
    positions = sample_positions(store, keys)
    order = np.argsort(positions, kind="stable")
    out: dict[str, np.ndarray] = {}
    for name in ORACLE_ARRAYS:
        values = store.read_rows(name, positions[order])
        placed = np.empty_like(values)
        placed[order] = values
        out[name] = placed
    return out


def _row_errors(values: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    error = np.abs(values.astype(np.float64) - truth)
    return np.sqrt(np.mean(np.square(error), axis=1)), error.max(axis=1)


def judge_oracle(
    obtained: EmbeddingsStore,
    oracle: OracleSection,
    precision: str | None = None,
    *,
    case_numerics: Mapping[str, Any] | None = None,
    worst: int = WORST_CELLS,
) -> OracleVerdict:
    """Judge ``obtained`` on the oracle's sample against the fp64 truth (rule: module docs).

    Contract:

    - ``precision`` (``fp32``/``tf32``/``bf16``, what ``check --precision``
      states) wins; else the class from the obtained store's provenance
      (:func:`precision_class`); else the class of ``case_numerics`` (the case's
      ``numerics`` mapping); else ``fp32``. The verdict records which
      (:attr:`OracleVerdict.precision_source`).
    - Every sampled cell must be in ``obtained`` (matched by ``fov_name,
      track_id, t, id``, any order): otherwise :class:`EmbeddingsError` naming
      the missing keys (other rungs report missing cells; this one cannot judge).
    - Pure: reads the sampled rows only, writes nothing, never imports torch.
    - Returns a frozen :class:`OracleVerdict`: status, message, per array the
      obtained vs allowed and budget figures, golden's error and detection
      limit, and the ``worst`` cells by key (largest error over noise first).

    Raises :class:`ConfigError` for a precision outside ``fp32|tf32|bf16``.
    """
    if precision is not None:
        cls: str | None = precision
        source = "--precision"
    else:
        cls, source = precision_class(obtained.provenance())
        if cls is None and case_numerics is not None:
            cls, why = precision_class(
                {"numerics": case_numerics, "accelerator": case_numerics.get("accelerator")}
            )
            source = f"the case's numerics ({why})" if cls is not None else source
        if cls is None:
            cls, source = "fp32", f"default fp32 ({source}, no --precision)"
    if cls not in CLASSES:
        raise ConfigError(f"expected one of {list(CLASSES)}, got {cls!r}", key="precision")
    return judge_values(
        sample_values(obtained, oracle.keys), oracle, cls, source=source, worst=worst
    )


def judge_values(
    values: Mapping[str, np.ndarray],
    oracle: OracleSection,
    precision: str,
    *,
    source: str = "the caller",
    worst: int = WORST_CELLS,
) -> OracleVerdict:
    """The rule of :func:`judge_oracle` on values already in sample order (``(rows, width)``
    per array): what the benchmark calls on emulated runs without writing a store."""
    if precision not in CLASSES:
        raise ConfigError(f"expected one of {list(CLASSES)}, got {precision!r}", key="precision")
    cls = precision
    arrays = []
    scores = np.zeros(oracle.rows)
    per_row: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in ORACLE_ARRAYS:
        truth = oracle.truth[name]
        budget = oracle.budgets[cls][name]
        golden = oracle.golden_error[name]
        golden_budget = oracle.budgets[oracle.golden_precision][name]
        plausible = (
            golden.rms <= K_RMS[oracle.golden_precision] * golden_budget.rms
            and golden.max_abs <= K_MAX * golden_budget.max_abs
        )
        ref_rms = max(budget.rms, golden.rms) if plausible else budget.rms
        ref_max = max(budget.max_abs, golden.max_abs) if plausible else budget.max_abs
        verdict = ArrayVerdict(
            name=name,
            obtained=ErrorStats.of(values[name], truth),
            budget=budget,
            golden=golden,
            golden_plausible=plausible,
            allowed_rms=K_RMS[cls] * ref_rms,
            allowed_max=K_MAX * ref_max,
            k_rms=K_RMS[cls],
        )
        arrays.append(verdict)
        rms, mx = _row_errors(values[name], truth)
        per_row[name] = (rms, mx)
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = np.maximum(scores, np.nan_to_num(rms / ref_rms, nan=np.inf))
    if all(a.within for a in arrays):
        status = (
            OracleStatus.PASS
            if all(a.golden_plausible for a in arrays)
            else OracleStatus.REFERENCE_OUTLIER
        )
    else:
        status = OracleStatus.FAIL
    ranked = np.argsort(-scores, kind="stable")[: max(0, worst)]
    cells = tuple(
        WorstCell(
            key=oracle.key_of(int(i)),
            rms={n: float(per_row[n][0][i]) for n in ORACLE_ARRAYS},
            max_abs={n: float(per_row[n][1][i]) for n in ORACLE_ARRAYS},
            score=float(scores[i]),
        )
        for i in ranked
    )
    return OracleVerdict(
        status=status,
        precision=cls,
        precision_source=source,
        rows=oracle.rows,
        arrays=tuple(arrays),
        worst_cells=cells,
    )
