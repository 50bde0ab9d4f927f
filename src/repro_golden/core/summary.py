"""Per-FOV statistics and a compact sketch that can *prove* an ``allclose`` failure.

Human statistics (:func:`array_stats`) are for people: row count, mean, std, min,
max (over finite values), non-finite counts and row-norm quantiles.

The sketch is for a sound tolerance check without the reference arrays. Per row
of an ``(n, D)`` array it keeps three float32 numbers of the reference: the row
sum ``Σ_i r_i``, the Euclidean norm ``‖r‖`` and a signed projection ``Σ_i s_i r_i``
(``s`` a stored ±1 vector; it catches changes that keep sums and norms, such as
swapped columns). Rows holding NaN or ±inf are listed sparsely with flags.
Per column, over the whole dataset, it keeps float64 sums and sums of squares.

Soundness (no false alarms)
---------------------------
Write ``a`` for obtained and ``r`` for reference values, ``ε`` and ``η`` for the unit
roundoff and smallest subnormal of the array dtype. ``numpy.isclose(a, r, rtol=rtol,
atol=atol)`` computes ``fl(|a-r|) <= fl(atol + rtol*|r|)`` in the array dtype (plus
``a == r`` and the NaN rule). Step 1 (:func:`inflated_tolerance`): with
``A' = (atol(1+ε) + 2η)(1+4ε) + 3η`` and ``R' = (rtol(1+ε) + η)(1+5ε)``, every
rounding in that expression (conversion of atol/rtol, product, sum, and the
rounding of ``|a-r|``, which can only tie, hence the next float) is covered: for
finite ``a_i, r_i`` with ``A' + R'|r_i|`` well below the largest float,
``|a_i - r_i| > A' + R'|r_i|`` in exact arithmetic implies numpy finds element ``i``
not close, so ``allclose`` is false. Step 2: suppose, for contradiction, that
``|a_i - r_i| <= A' + R'|r_i|`` for every ``i`` of a row. Then, exactly,

* ``|Σa - Σr| <= Σ|a_i - r_i| <= D·A' + R'·‖r‖₁ <= D·A' + R'·√D·‖r‖`` (triangle
  inequality, Cauchy-Schwarz); the same holds for ``Σsa - Σsr`` since ``|s_i| = 1``;
* ``|‖a‖ - ‖r‖| <= ‖a - r‖ <= ‖(A' + R'|r_i|)_i‖ <= √D·A' + R'·‖r‖`` (reverse
  triangle and Minkowski inequalities).

Step 3: the stored numbers are not exact. A float64 sum of ``D`` terms errs by at
most ``g·Σ|terms|`` with ``g = 2(D+2)·2⁻⁵³`` for any summation order, and rounding to
float32 adds ``2⁻²⁴`` relative plus a subnormal half-ulp. :func:`check_rows` widens
every stored quantity into an interval that contains the exact value, evaluates
the left-hand sides with their lower ends and the right-hand sides with their
upper ends, and adds a 1e-12 relative slack for its own float64 arithmetic (far
above the few roundings it does). If a left side still exceeds its right side, the
supposition is false, so some element violates the inflated tolerance and, by
step 1, the full ``allclose`` fails. Column checks are the same with ``D``
replaced by the number of rows. FOV extrema: if all values are finite,
``max a <= max_i (r_i + A' + R'|r_i|)``, which is ``max r + R'|max r| + A'`` when
``R' <= 1`` (the map ``x -> x + R'|x|`` is nondecreasing) and at most
``max r + R'·max|r| + A'`` otherwise; symmetric for the minimum. Non-finite
values: a different NaN count, a NaN anywhere with ``equal_nan=False``, more ``+inf``
(``-inf``) in one array than the other, or a row that is all-finite on one side
only, each pins an element that numpy finds not close (an infinite obtained value
against a finite reference is only claimed when ``atol + rtol|r|`` cannot
overflow). Otherwise the check says "consistent", which proves nothing.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPS32 = 2.0**-24
ETA32 = 2.0**-149
SLACK = 1e-12
NORM_QUANTILES = (0.0, 0.05, 0.5, 0.95, 1.0)

FLAG_NAN = 1
FLAG_POSINF = 2
FLAG_NEGINF = 4


@dataclass(frozen=True)
class Tolerance:
    """Inflated tolerances ``A'``, ``R'`` and the largest float of the dtype (see step 1)."""

    atol: float
    rtol: float
    max_float: float


def inflated_tolerance(atol: float, rtol: float, dtype: np.dtype[Any]) -> Tolerance:
    """``A'``, ``R'`` covering numpy's rounding of ``isclose`` in ``dtype`` (module docstring)."""
    info = np.finfo(dtype)
    eps = float(info.eps) / 2.0
    eta = float(info.smallest_subnormal)
    a = ((atol * (1 + eps) + 2 * eta) * (1 + 4 * eps) + 3 * eta) * (1 + SLACK)
    r = (rtol * (1 + eps) + eta) * (1 + 5 * eps) * (1 + SLACK)
    if rtol == 0.0:
        r = 0.0  # numpy multiplies by an exact 0: no rounding to cover
    return Tolerance(a, r, float(info.max))


def signs_for(width: int, *, seed: int = 20260401) -> np.ndarray:
    """The ±1 vector of the signed projection (stored in the sketch, so only written once)."""
    bits = np.random.default_rng(seed).integers(0, 2, size=width, dtype=np.int8)
    return (bits * 2 - 1).astype(np.int8)


@dataclass(frozen=True)
class RowStats:
    """Per-row sketch numbers of one block, float64 (exact inputs, rounded sums)."""

    sums: np.ndarray
    norms: np.ndarray
    projs: np.ndarray
    flags: np.ndarray


def block_sketch(
    block: np.ndarray, signs: np.ndarray, columns: ColumnAccumulator | None = None
) -> tuple[RowStats, ArrayStats]:
    """Row sketch and human statistics of one FOV block, converting to float64 once.

    When ``columns`` is given, the block is also added to it. One pass of each kind
    (convert, row sums, row squares, projection, column sums, extrema) keeps the
    cost near memory bandwidth.
    """
    with np.errstate(all="ignore"):  # signaling NaN, inf - inf, overflow: flagged below
        values = np.asarray(block, dtype=np.float64)
        weights = np.stack([np.ones(values.shape[1]), signs.astype(np.float64)], axis=1)
        sums, projs = (values @ weights).T  # one BLAS pass for both; any order is covered
        squares = np.einsum("ij,ij->i", values, values)
        norms = np.sqrt(squares)
    flags = np.zeros(values.shape[0], dtype=np.uint8)
    if not (np.isfinite(sums).all() and np.isfinite(norms).all()):
        flags |= np.where(np.isnan(values).any(axis=1), FLAG_NAN, 0).astype(np.uint8)
        flags |= np.where(np.isposinf(values).any(axis=1), FLAG_POSINF, 0).astype(np.uint8)
        flags |= np.where(np.isneginf(values).any(axis=1), FLAG_NEGINF, 0).astype(np.uint8)
    rows = RowStats(sums, norms, projs, flags)
    if columns is not None:
        columns.add(values, flags)
    if flags.any() or not values.size:
        return rows, array_stats(block, norms)
    count = values.size
    with np.errstate(over="ignore", invalid="ignore"):
        mean = float(sums.sum()) / count
        variance = max(float(squares.sum()) / count - mean * mean, 0.0)
    stats = _stats_dict(
        int(values.shape[0]),
        (0, 0, 0),
        mean,
        math.sqrt(variance),
        float(np.min(block)),
        float(np.max(block)),
        norms,
    )
    return rows, stats


class EvidenceKind(enum.StrEnum):
    """Which summary check proved a violation (``Violation.checks`` holds these values)."""

    ROW_SUM = "row sum"
    ROW_PROJECTION = "row signed projection"
    ROW_NORM = "row norm"
    COLUMN_SUM = "column sum"
    COLUMN_NORM = "column norm"
    FOV_MAXIMUM = "FOV maximum"
    FOV_MINIMUM = "FOV minimum"
    NAN_NOT_EQUAL = "NaN present and equal_nan is false"
    NAN_COUNT = "NaN count"
    POSINF_COUNT = "posinf count"
    NEGINF_COUNT = "neginf count"
    NONFINITE_OBTAINED = "non-finite obtained where reference row is finite"
    FINITE_OBTAINED = "finite obtained where reference row has NaN/inf"
    ALLCLOSE = "allclose"


@dataclass(frozen=True)
class ArrayStats:
    """Human statistics of one FOV's array (what ``golden.json`` shows per FOV and array).

    ``mean``, ``std``, ``minimum``, ``maximum`` are over finite values (``None`` when
    there are none); ``nan``, ``posinf``, ``neginf`` count non-finite values;
    ``row_norm_quantiles`` are the 0, 5, 50, 95 and 100 % quantiles of finite row norms.
    """

    rows: int
    nan: int
    posinf: int
    neginf: int
    mean: float | None
    std: float | None
    minimum: float | None
    maximum: float | None
    row_norm_quantiles: tuple[float, ...]

    def count(self, kind: str) -> int:
        """The count of ``"nan"``, ``"posinf"`` or ``"neginf"``."""
        return int(getattr(self, kind))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (keys ``min``/``max`` as in schema 1); inverse of :meth:`from_mapping`."""
        return {
            "rows": self.rows,
            "nan": self.nan,
            "posinf": self.posinf,
            "neginf": self.neginf,
            "mean": self.mean,
            "std": self.std,
            "min": self.minimum,
            "max": self.maximum,
            "row_norm_quantiles": list(self.row_norm_quantiles),
        }

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ArrayStats:
        """From :meth:`to_dict`'s form, already validated by the golden format."""

        def number(key: str) -> float | None:
            value = data[key]
            return None if value is None else float(value)

        return cls(
            rows=int(data["rows"]),
            nan=int(data["nan"]),
            posinf=int(data["posinf"]),
            neginf=int(data["neginf"]),
            mean=number("mean"),
            std=number("std"),
            minimum=number("min"),
            maximum=number("max"),
            row_norm_quantiles=tuple(float(q) for q in data["row_norm_quantiles"]),
        )


def _stats_dict(
    rows: int,
    counts: tuple[int, int, int],
    mean: float | None,
    std: float | None,
    low: float | None,
    high: float | None,
    norms: np.ndarray,
) -> ArrayStats:
    finite_norms = norms[np.isfinite(norms)]
    return ArrayStats(
        rows=rows,
        nan=counts[0],
        posinf=counts[1],
        neginf=counts[2],
        mean=mean if mean is not None and math.isfinite(mean) else None,
        std=std if std is not None and math.isfinite(std) else None,
        minimum=low,
        maximum=high,
        row_norm_quantiles=(
            tuple(float(q) for q in np.quantile(finite_norms, NORM_QUANTILES))
            if finite_norms.size
            else ()
        ),
    )


def array_stats(block: np.ndarray, norms: np.ndarray | None = None) -> ArrayStats:
    """Human statistics of one FOV's array; float64, over finite values only."""
    values = np.asarray(block)
    finite = np.isfinite(values)
    with np.errstate(all="ignore"):  # signaling NaN payloads, overflow near 1e308
        data = values[finite].astype(np.float64)
        if norms is None:
            wide = values.astype(np.float64)
            norms = np.sqrt(np.einsum("ij,ij->i", wide, wide))
        mean = float(data.mean()) if data.size else None
        std = float(data.std()) if data.size else None
    counts = (
        int(np.isnan(values).sum()),
        int(np.isposinf(values).sum()),
        int(np.isneginf(values).sum()),
    )
    low = float(data.min()) if data.size else None
    high = float(data.max()) if data.size else None
    return _stats_dict(int(values.shape[0]), counts, mean, std, low, high, norms)


@dataclass(frozen=True)
class Evidence:
    """What a summary check proved: violating rows (positions in the FOV) and lower bounds."""

    rows: tuple[int, ...] = ()
    num_rows: int = 0
    max_abs_error_lower_bound: float = 0.0
    checks: tuple[str, ...] = ()

    @property
    def violated(self) -> bool:
        return bool(self.checks)


@dataclass
class _Collector:
    rows: set[int] = field(default_factory=set)
    bound: float = 0.0
    checks: set[str] = field(default_factory=set)

    def add(self, check: str, rows: np.ndarray | None, bound: float) -> None:
        self.checks.add(check)
        if rows is not None:
            self.rows.update(int(r) for r in rows)
        if math.isfinite(bound):
            self.bound = max(self.bound, bound)

    def evidence(self, cap: int = 20) -> Evidence:
        rows = sorted(self.rows)
        return Evidence(tuple(rows[:cap]), len(rows), self.bound, tuple(sorted(self.checks)))


def _gamma(terms: int) -> float:
    return 2.0 * (terms + 2) * 2.0**-53


def _interval_checks(
    *,
    obt_sum: np.ndarray,
    obt_norm: np.ndarray,
    ref_sum: np.ndarray,
    ref_norm: np.ndarray,
    terms: int,
    stored_eps: float,
    stored_eta: float,
    tol: Tolerance,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Lower bounds on ``|Σ(a-r)|`` and ``|‖a‖-‖r‖|`` minus their allowances, per entry.

    ``obt_*`` are float64 computations over ``terms`` values, ``ref_*`` the same
    rounded to storage (``stored_eps``, ``stored_eta``; zero for float64 storage).
    ``obt_sum``/``ref_sum`` may be stacked sums and projections. Returns, per check,
    ``(excess, lower_bound)``: the check proves a violation where ``excess > 0``.
    """
    g = _gamma(terms)
    root = math.sqrt(terms) * (1 + SLACK)
    rel_ref = 2 * (stored_eps + g)
    abs_ref = 2 * stored_eta + 2 * math.sqrt(terms * 2.0**-1074)
    ref_norm_hi = ref_norm * (1 + rel_ref) + abs_ref
    ref_norm_lo = np.maximum(ref_norm * (1 - rel_ref) - abs_ref, 0.0)
    obt_norm_hi = obt_norm * (1 + 2 * g) + abs_ref
    obt_norm_lo = np.maximum(obt_norm * (1 - 2 * g) - abs_ref, 0.0)
    ref_l1_hi = root * ref_norm_hi
    err_ref = rel_ref * ref_l1_hi + abs_ref
    err_obt = g * root * obt_norm_hi + abs_ref
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with np.errstate(invalid="ignore", over="ignore"):
        allowance = (terms * tol.atol + tol.rtol * ref_l1_hi) * (1 + SLACK)
        diff = np.abs(obt_sum - ref_sum)
        lower = diff - err_ref - err_obt - SLACK * (np.abs(obt_sum) + np.abs(ref_sum))
        out["sum"] = (lower - allowance, lower / terms)
        allowance_n = (root * tol.atol + tol.rtol * ref_norm_hi) * (1 + SLACK)
        lower_n = np.maximum(obt_norm_lo - ref_norm_hi, ref_norm_lo - obt_norm_hi)
        lower_n = lower_n - SLACK * (obt_norm_hi + ref_norm_hi)
        out["norm"] = (lower_n - allowance_n, lower_n / root)
        overflow_safe = tol.atol + tol.rtol * ref_norm_hi < tol.max_float / 4
    for name, (excess, bound) in out.items():
        ok = overflow_safe & np.isfinite(excess)
        out[name] = (np.where(ok, excess, -np.inf), np.where(ok, bound, 0.0))
    return out


@dataclass(frozen=True)
class StoredRows:
    """One FOV's stored reference sketch for one array (float32 rows, sparse flags)."""

    sums: np.ndarray
    norms: np.ndarray
    projs: np.ndarray
    flags: np.ndarray


def check_rows(obtained: RowStats, stored: StoredRows, *, width: int, tol: Tolerance) -> Evidence:
    """Sound per-row check of one FOV and array (rows aligned by position)."""
    found = _Collector()
    ref_flags, obt_flags = stored.flags, obtained.flags
    ref_clean = ref_flags == 0
    obt_clean = obt_flags == 0
    ref_norm = stored.norms.astype(np.float64)
    # A non-finite obtained value against an all-finite reference row.
    with np.errstate(invalid="ignore", over="ignore"):
        safe = tol.atol + tol.rtol * (ref_norm * (1 + 4 * EPS32) + 1) < tol.max_float / 4
    nan_rows = ref_clean & ((obt_flags & FLAG_NAN) != 0)
    inf_rows = ref_clean & (obt_flags != 0) & safe
    bad = np.flatnonzero(nan_rows | inf_rows)
    if bad.size:
        found.add(EvidenceKind.NONFINITE_OBTAINED, bad, math.inf)
    bad = np.flatnonzero(obt_clean & ~ref_clean)
    if bad.size:
        found.add(EvidenceKind.FINITE_OBTAINED, bad, math.inf)
    both = np.flatnonzero(ref_clean & obt_clean)
    if both.size:
        checks = _interval_checks(
            obt_sum=np.stack([obtained.sums[both], obtained.projs[both]]),
            obt_norm=np.stack([obtained.norms[both]] * 2),
            ref_sum=np.stack(
                [stored.sums[both].astype(np.float64), stored.projs[both].astype(np.float64)]
            ),
            ref_norm=np.stack([ref_norm[both]] * 2),
            terms=width,
            stored_eps=EPS32,
            stored_eta=ETA32,
            tol=tol,
        )
        labels = {
            "sum": (EvidenceKind.ROW_SUM, EvidenceKind.ROW_PROJECTION),
            "norm": (EvidenceKind.ROW_NORM, None),
        }
        for key, (excess, bound) in checks.items():
            for which, label in enumerate(labels[key]):
                if label is None:
                    continue
                hit = np.flatnonzero(excess[which] > 0)
                if hit.size:
                    found.add(label, both[hit], float(bound[which][hit].max()))
    return found.evidence()


def single_element_limit(stored: StoredRows, *, width: int, tol: Tolerance) -> float:
    """The smallest single-element change the row checks are certain to flag, over all rows.

    A change ``δ`` of one element moves the row sum (and the signed projection) by
    exactly ``|δ|``; :func:`check_rows` proves a violation once ``|δ|`` exceeds the
    sum allowance ``D·A' + R'·√D·‖r‖`` plus the widened rounding errors of both
    sums. This returns an upper bound of that threshold for the worst finite row:
    a single-element change above it is flagged in any row; one below it *could*
    go unseen (the norm and extrema checks may still catch it). ``inf`` when no row
    is finite (no row check applies), 0 for an empty FOV.
    """
    clean = stored.flags == 0
    if not clean.any():
        return math.inf if stored.flags.size else 0.0
    g = _gamma(width)
    root = math.sqrt(width) * (1 + SLACK)
    rel_ref = 2 * (EPS32 + g)
    abs_ref = 2 * ETA32 + 2 * math.sqrt(width * 2.0**-1074)
    norm = stored.norms[clean].astype(np.float64)
    total = np.abs(stored.sums[clean].astype(np.float64))
    with np.errstate(over="ignore", invalid="ignore"):
        norm_hi = norm * (1 + rel_ref) + abs_ref
        l1_hi = root * norm_hi
        allowance = (width * tol.atol + tol.rtol * l1_hi) * (1 + SLACK)
        errors = rel_ref * l1_hi + 2 * abs_ref + g * root * (norm_hi + 1.0) * 2
        slack = 2 * SLACK * (total + l1_hi + 1.0)
        limit = (allowance + errors + slack) * (1 + 1e-9)
    return float(np.max(limit))


def check_extrema(
    obtained: ArrayStats, reference: ArrayStats, *, tol: Tolerance, equal_nan: bool
) -> Evidence:
    """Sound FOV-level check from :func:`array_stats` of both sides (module docstring)."""
    found = _Collector()
    if not equal_nan and (obtained.nan or reference.nan):
        found.add(EvidenceKind.NAN_NOT_EQUAL, None, math.inf)
    if obtained.nan != reference.nan:
        found.add(f"{EvidenceKind.NAN_COUNT} {obtained.nan} != {reference.nan}", None, math.inf)
    ref_absmax = max(abs(reference.minimum or 0.0), abs(reference.maximum or 0.0))
    safe = tol.atol + tol.rtol * ref_absmax < tol.max_float / 4
    for kind in (EvidenceKind.POSINF_COUNT, EvidenceKind.NEGINF_COUNT):
        key = kind.value.split()[0]
        a, r = obtained.count(key), reference.count(key)
        if a < r or (a > r and safe):
            found.add(f"{kind} {a} != {r}", None, math.inf)
    clean = not any(s.nan or s.posinf or s.neginf for s in (obtained, reference))
    if clean and safe and reference.maximum is not None and obtained.maximum is not None:
        r_max, a_max = reference.maximum, obtained.maximum
        r_min = reference.minimum if reference.minimum is not None else r_max
        a_min = obtained.minimum if obtained.minimum is not None else a_max
        big = max(abs(r_max), abs(r_min))
        scale = (abs(r_max) + abs(r_min) + abs(a_max) + abs(a_min) + tol.atol) * SLACK
        up = r_max + tol.rtol * (abs(r_max) if tol.rtol <= 1 else big) + tol.atol
        if a_max - up > scale + tol.rtol * big * SLACK:
            found.add(EvidenceKind.FOV_MAXIMUM, None, a_max - r_max)
        down = r_min - tol.rtol * (abs(r_min) if tol.rtol <= 1 else big) - tol.atol
        if down - a_min > scale + tol.rtol * big * SLACK:
            found.add(EvidenceKind.FOV_MINIMUM, None, r_min - a_min)
    return found.evidence()


@dataclass
class ColumnAccumulator:
    """Streaming float64 column sums and sums of squares over all rows of a dataset."""

    width: int
    rows: int = 0
    sums: np.ndarray = field(init=False)
    squares: np.ndarray = field(init=False)
    finite: bool = True

    def __post_init__(self) -> None:
        self.sums = np.zeros(self.width, dtype=np.float64)
        self.squares = np.zeros(self.width, dtype=np.float64)

    def add(self, block: np.ndarray, flags: np.ndarray) -> None:
        """Add a block's rows; ``flags`` from :func:`block_sketch` (non-finite: no claims)."""
        self.rows += block.shape[0]
        if flags.any():
            self.finite = False
            return
        values = np.asarray(block, dtype=np.float64)
        with np.errstate(over="ignore"):  # float64 overflow: inf, and no claim is made
            self.sums += values.sum(axis=0)
            self.squares += np.einsum("ij,ij->j", values, values)


def check_columns(
    obtained: ColumnAccumulator, reference: ColumnAccumulator, *, tol: Tolerance
) -> Evidence:
    """Sound dataset-wide column check; rows of both sides must correspond one to one.

    Returned ``rows`` are *column* numbers here.
    """
    found = _Collector()
    if not (obtained.finite and reference.finite) or obtained.rows != reference.rows:
        return found.evidence()
    checks = _interval_checks(
        obt_sum=obtained.sums,
        obt_norm=np.sqrt(obtained.squares),
        ref_sum=reference.sums,
        ref_norm=np.sqrt(reference.squares),
        terms=max(reference.rows, 1),
        stored_eps=0.0,
        stored_eta=0.0,
        tol=tol,
    )
    for key, label in (("sum", EvidenceKind.COLUMN_SUM), ("norm", EvidenceKind.COLUMN_NORM)):
        excess, bound = checks[key]
        hit = np.flatnonzero(excess > 0)
        if hit.size:
            found.add(label, hit, float(bound[hit].max()))
    return found.evidence()
