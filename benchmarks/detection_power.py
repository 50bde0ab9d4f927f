"""Detection power of the golden summary check: which drifts it proves, how often.

For a reference FOV block (rows x 768 float32, normal values with per-column
scales, like embedding features) the script perturbs a copy by
``factor * (atol + rtol * |r|)`` per touched element, in one of five patterns
(one element, one row, one column, all rows, random sparse = 1% of elements),
with either random signs per element or one sign for all (a coherent shift),
and runs the same checks ``repro-golden check`` runs against golden files
(FOV extrema and non-finite counts, per-row sum / norm / signed projection,
dataset-wide column sums and norms). It prints, per tolerance, the fraction of
seeds for which the check says "violated". Factor < 1 never fails the full
``allclose`` either (a violation there would be a false alarm, which soundness
rules out); factor > 1 always fails it, so those cells are the detection rate.

    python benchmarks/detection_power.py [--rows 400] [--seeds 20]
    python benchmarks/detection_power.py --false-pass [--seeds 10]

``--false-pass`` prints instead the false-pass rate (a real violation, factor > 1,
that the check lets pass) and the false-alarm rate (factor 0.5 failing) of the
verdict rules before and after issue 11, at the example case's tolerance
(atol 1e-5, rtol 1e-4): before, summaries judged everywhere and "consistent"
passed; after, where results reproduce (an ``identical`` expectation) any digest
change fails; across environments a small case is judged by its full copy
(``allclose`` on every element), a large one by the summaries, with
``--golden-strict`` failing what they cannot prove.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from repro_golden.core.compare import _full_values
from repro_golden.core.digest import array_digest
from repro_golden.core.outcomes import Status
from repro_golden.core.summary import (
    ColumnAccumulator,
    StoredRows,
    block_sketch,
    check_columns,
    check_extrema,
    check_rows,
    inflated_tolerance,
    signs_for,
)

PATTERNS = ("one element", "one row", "one column", "all rows", "random sparse")
FACTORS = (0.5, 1.5, 3.0, 10.0, 30.0, 100.0, 1000.0)
TOLERANCES = ((1e-5, 0.0), (0.0, 1e-4), (1e-6, 1e-5))
WIDTH = 768


def summary_violated(obtained: np.ndarray, reference: np.ndarray, atol: float, rtol: float) -> bool:
    signs = signs_for(WIDTH)
    tol = inflated_tolerance(atol, rtol, reference.dtype)
    ref_cols, obt_cols = ColumnAccumulator(WIDTH), ColumnAccumulator(WIDTH)
    ref_rows, ref_stats = block_sketch(reference, signs, ref_cols)
    obt_rows, obt_stats = block_sketch(obtained, signs, obt_cols)
    stored = StoredRows(
        ref_rows.sums.astype(np.float32),
        ref_rows.norms.astype(np.float32),
        ref_rows.projs.astype(np.float32),
        ref_rows.flags,
    )
    return (
        check_extrema(obt_stats, ref_stats, tol=tol, equal_nan=True).violated
        or check_rows(obt_rows, stored, width=WIDTH, tol=tol).violated
        or check_columns(obt_cols, ref_cols, tol=tol).violated
    )


def perturb(
    reference: np.ndarray,
    pattern: str,
    coherent: bool,
    factor: float,
    atol: float,
    rtol: float,
    rng: np.random.Generator,
) -> np.ndarray:
    rows, width = reference.shape
    mask = np.zeros(reference.shape, dtype=bool)
    if pattern == "one element":
        mask[rng.integers(rows), rng.integers(width)] = True
    elif pattern == "one row":
        mask[rng.integers(rows)] = True
    elif pattern == "one column":
        mask[:, rng.integers(width)] = True
    elif pattern == "all rows":
        mask[:] = True
    else:
        mask = rng.random(reference.shape) < 0.01
    ref64 = reference.astype(np.float64)
    sign = np.ones(reference.shape) if coherent else rng.choice([-1.0, 1.0], reference.shape)
    step = sign * factor * (atol + rtol * np.abs(ref64))
    return np.where(mask, ref64 + step, ref64).astype(reference.dtype)


SETTINGS = (
    "before: summaries, consistent passes",
    "after, same env: identical expectation",
    "after, other env: full copy",
    "after, other env: summaries",
    "after, other env: summaries, --golden-strict",
)


def verdicts(obtained: np.ndarray, reference: np.ndarray, atol: float, rtol: float) -> list[bool]:
    """Pass (True) or fail under each of :data:`SETTINGS`, by the library's own checks."""
    from repro_golden.core.tolerance import ToleranceSpec

    same = array_digest(obtained) == array_digest(reference)
    if same:
        return [True] * len(SETTINGS)
    violated = summary_violated(obtained, reference, atol, rtol)
    full = _full_values("fov", "X", obtained, reference, ToleranceSpec(atol, rtol))
    return [
        not violated,
        False,
        full.status is Status.WITHIN_TOLERANCE,
        not violated,
        False,
    ]


def false_pass_table(rows: int, seeds: int) -> None:
    atol, rtol = 1e-5, 1e-4
    print(
        f"false-pass rate (factor > 1: every case violates allclose) and false-alarm rate "
        f"(factor 0.5: none does); {rows} x {WIDTH} float32, atol={atol:g}, rtol={rtol:g}, "
        f"{len(PATTERNS)} patterns x 2 sign modes x {seeds} seeds per factor"
    )
    header = "| factor | " + " | ".join(SETTINGS) + " |"
    print(header)
    print("|" + "---|" * (len(SETTINGS) + 1))
    totals = np.zeros(len(SETTINGS))
    count = 0
    for factor in FACTORS:
        passes = np.zeros(len(SETTINGS))
        cases = 0
        for pattern in PATTERNS:
            for coherent in (False, True):
                for seed in range(seeds):
                    rng = np.random.default_rng(seed)
                    scales = rng.lognormal(0.0, 0.5, WIDTH)
                    reference = (rng.normal(size=(rows, WIDTH)) * scales).astype(np.float32)
                    obtained = perturb(reference, pattern, coherent, factor, atol, rtol, rng)
                    passes += verdicts(obtained, reference, atol, rtol)
                    cases += 1
        rate = passes / cases if factor > 1 else 1 - passes / cases
        kind = "false pass" if factor > 1 else "false alarm"
        print(f"| {factor:g} ({kind}) | " + " | ".join(f"{r:.2f}" for r in rate) + " |")
        if factor > 1:
            totals += passes
            count += cases
    print("| all factors > 1 | " + " | ".join(f"{t / count:.2f}" for t in totals) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--false-pass", action="store_true", help="the before/after table")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.false_pass:
        false_pass_table(args.rows, args.seeds)
        print(f"\n({time.perf_counter() - started:.0f} s)")
        return
    print(
        f"reference: {args.rows} x {WIDTH} float32, N(0, s_j) with s_j ~ lognormal(0, 0.5); "
        f"{args.seeds} seeds per cell; cell = P(summary check says violated)"
    )
    for atol, rtol in TOLERANCES:
        print(f"\natol={atol:g}, rtol={rtol:g}; perturbation = factor x (atol + rtol|r|)")
        print(f"{'pattern':<15}{'signs':<9}" + "".join(f"{f:>8g}" for f in FACTORS))
        for pattern in PATTERNS:
            for coherent in (False, True):
                cells = []
                for factor in FACTORS:
                    hits = 0
                    for seed in range(args.seeds):
                        rng = np.random.default_rng(seed)
                        scales = rng.lognormal(0.0, 0.5, WIDTH)
                        reference = (rng.normal(size=(args.rows, WIDTH)) * scales).astype(
                            np.float32
                        )
                        obtained = perturb(reference, pattern, coherent, factor, atol, rtol, rng)
                        hits += summary_violated(obtained, reference, atol, rtol)
                    cells.append(hits / args.seeds)
                label = "same" if coherent else "random"
                print(f"{pattern:<15}{label:<9}" + "".join(f"{c:>8.2f}" for c in cells))
    print(f"\n({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
