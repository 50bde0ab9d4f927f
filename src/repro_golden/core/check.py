"""The golden check: digests, then the full copy or the summaries, under the right expectation.

Order of evidence: digests decide "identical"; where they differ, the golden
set's full copy (small cases) judges every element with ``allclose``, else the
full ``reference`` store when given, else the sound summary checks, which can
prove a violation but otherwise only say "consistent" (with the detection limit
they actually had). Which rule applies is picked from the golden set's
expectations (:mod:`.golden.expectations`) by the obtained store's environment
fingerprint: under ``identical`` any digest difference fails; under a
calibrated tolerance that tolerance judges; with none, the recorded case
tolerance applies and the report says so. ``strict`` makes "consistent" fail.
A failing report carries an :class:`~repro_golden.core.attribution.Attribution`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from repro_golden.core.attribution import attribute
from repro_golden.core.cells import cells_at, name_violated_rows
from repro_golden.core.compare import (
    CompareMode,
    compare_full_copy,
    compare_stores,
    compare_summaries,
    fov_order,
)
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden.expectations import (
    Expectation,
    ExpectationKind,
    deterministic_by_configuration,
    select,
)
from repro_golden.core.golden.store import GoldenStore
from repro_golden.core.golden.summarize import store_environment, summarize
from repro_golden.core.golden.types import Golden
from repro_golden.core.inputs import InputsRecord, compare_inputs
from repro_golden.core.names import MANIFEST
from repro_golden.core.outcomes import Outcome, Status
from repro_golden.core.provenance import case_tolerance
from repro_golden.core.report import ComparisonReport
from repro_golden.core.stages import divergence_note
from repro_golden.core.tolerance import ArrayTolerances, ToleranceOverride, ToleranceSpec
from repro_golden.errors import EmbeddingsError

_JUDGED = (Status.CONSISTENT, Status.VIOLATED)


def recorded_tolerance(golden: Golden, directory: Path) -> ArrayTolerances | None:
    """The tolerance recorded with ``golden``: the manifest's own, else the case config's.

    Schema-1 files have none of their own; for them the case config in the
    provenance is looked up where the writers put it: ``provenance.case_config``
    (the pytest fixture) or ``provenance.embeddings.case`` (the prediction), through
    the one reader :func:`~repro_golden.core.provenance.case_tolerance` (a malformed
    one is a :class:`~repro_golden.errors.ProvenanceError` naming golden.json and the key).
    """
    if golden.tolerance is not None:
        return golden.tolerance
    manifest = directory / MANIFEST
    candidates = (
        ("provenance.case_config", golden.provenance.get("case_config")),
        ("provenance.embeddings.case", _get(golden.provenance, "embeddings", "case")),
    )
    for key, config in candidates:
        found = case_tolerance(config, path=manifest, key=key)
        if found is not None:
            return found
    return None


def _get(mapping: Mapping[str, Any], *keys: str) -> Any:
    value: Any = mapping
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _strict(outcome: Outcome) -> Outcome:
    if outcome.status is not Status.CONSISTENT:
        return outcome
    return dataclasses.replace(
        outcome,
        status=Status.UNPROVEN,
        detail=outcome.detail + "; strict: only summaries judged, which prove no agreement",
    )


def _as_changed(outcome: Outcome, status: Status, why: str) -> Outcome:
    """``outcome`` failed as ``status`` (a strict rung: the bits were expected to reproduce)
    when it judged values that differ (not identical, and not already a structural
    failure); unchanged otherwise. The value verdict stays in the detail."""
    if (
        outcome.array is None
        or outcome.status is Status.IDENTICAL
        or not (outcome.passed or outcome.status is Status.VIOLATED)
    ):
        return outcome
    detail = f"{why}; {outcome.status.value}: {outcome.detail}"
    return dataclasses.replace(outcome, status=status, detail=detail)


def _under_identical(outcome: Outcome, expectation: Expectation) -> Outcome:
    assumed = (
        ""
        if expectation.verified
        else "; assumed, not yet verified: if this environment drifts run to run, "
        "record that with `repro-golden calibrate CASE --force-regen`"
    )
    why = (
        "digests differ where the golden set expects bit-for-bit results "
        f"({expectation.environment.label()}{assumed})"
    )
    return _as_changed(outcome, Status.CHANGED_WHERE_REPRODUCIBLE, why)


def _resolved_tolerance(
    given: ToleranceSpec | ArrayTolerances | ToleranceOverride | None,
    expectation: Expectation | None,
    recorded: ArrayTolerances | None,
    notes: list[str],
    environment: EnvironmentFingerprint,
) -> tuple[ArrayTolerances, str]:
    """The tolerance that judges, and a phrase saying where it came from.

    A :class:`ToleranceOverride` replaces only the fields it gives, on top of the
    calibrated expectation's tolerance or the recorded one; a full spec replaces all.
    """
    if isinstance(given, ToleranceSpec | ArrayTolerances):
        tolerances = ArrayTolerances.coerce(given)
        return tolerances, f"the given tolerance {tolerances}"
    if expectation is not None and expectation.tolerance is not None:
        base, source = expectation.tolerance, f"the calibrated expectation {expectation.describe()}"
    else:
        base = recorded or ArrayTolerances()
        source = "the case tolerance"
        if expectation is None:
            notes.append(
                f"no expectation recorded for this environment ({environment.label()}): "
                "the case tolerance applies"
            )
    if isinstance(given, ToleranceOverride) and not given.is_empty:
        merged_tolerance = given.onto(base)
        return merged_tolerance, f"{source}, overridden ({given}): {merged_tolerance}"
    if source == "the case tolerance":
        source = f"the case tolerance {base}"
    return base, source


def _by_evidence(outcomes: tuple[Outcome, ...]) -> tuple[tuple[Outcome, ...], bool]:
    """Rung 4, identical by evidence: if some FOVs of this run are bit-identical to the
    golden set and others are not, the environment demonstrably reproduces the golden
    bits, so each differing FOV array fails. Needs at least one FOV fully identical and
    one not (a one-FOV case gives no evidence). Returns the outcomes and whether it fired.
    """
    per_fov: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        if outcome.fov is not None and outcome.array is not None:
            per_fov.setdefault(outcome.fov, []).append(outcome)
    identical = [f for f, out in per_fov.items() if all(o.status is Status.IDENTICAL for o in out)]
    if not identical or len(identical) == len(per_fov):
        return outcomes, False
    why = f"{len(identical)} of {len(per_fov)} FOVs of this run are bit-identical to the golden set"
    changed = tuple(
        o if o.fov is None else _as_changed(o, Status.CHANGED_WHILE_REST_REPRODUCES, why)
        for o in outcomes
    )
    return changed, True


MAX_MOVED_CELLS = 6


def _moved_cells(outcome: Outcome, obtained: EmbeddingsStore, golden: Golden) -> Outcome:
    """A reordered FOV with its first moved cells named, where the full copy can tell.

    Golden files hold no index values, but their full copy holds every row's values:
    a row of the obtained FOV whose values sit at another position of the golden
    block has moved. Both sides of a swap are named by their keys, capped; the
    JSON report carries the same list.
    """
    if golden.full is None or outcome.fov is None:
        return outcome
    entry = next((f for f in golden.fovs if f.name == outcome.fov), None)
    if entry is None:
        return outcome
    array = next(iter(golden.full.arrays))
    expected = golden.full.rows(array, entry.offset, entry.offset + entry.rows)
    rows = obtained.fov_rows(outcome.fov)
    values = obtained.read_rows(array, rows)
    if values.shape != expected.shape:
        return outcome
    where: dict[bytes, list[int]] = {}
    for position, row in enumerate(np.ascontiguousarray(expected)):
        where.setdefault(row.tobytes(), []).append(position)
    moved: list[tuple[int, int]] = []
    for position, row in enumerate(np.ascontiguousarray(values)):
        homes = where.get(row.tobytes(), [])
        if homes and position not in homes:
            moved.append((position, homes[0]))
    if not moved:
        return outcome
    index = {c: obtained.read_column(c, rows) for c in obtained.index_columns}
    named = [
        f"{cell.label()} at row {position} (golden row {home})"
        for (position, home), cell in zip(
            moved,
            cells_at(outcome.fov, index, [p for p, _ in moved[:MAX_MOVED_CELLS]]),
            strict=False,
        )
    ]
    more = f" (+{len(moved) - MAX_MOVED_CELLS} more)" if len(moved) > MAX_MOVED_CELLS else ""
    return dataclasses.replace(outcome, detail=f"{outcome.detail}; moved: {'; '.join(named)}{more}")


_VALUE_RUNGS = (Status.WITHIN_TOLERANCE, Status.VIOLATED, Status.CONSISTENT)
_STRICT = (Status.CHANGED_WHERE_REPRODUCIBLE, Status.CHANGED_WHILE_REST_REPRODUCES)


def _by_truth(
    outcomes: tuple[Outcome, ...],
    obtained: EmbeddingsStore,
    golden: Golden,
    directory: Path,
    precision: str | None,
) -> tuple[tuple[Outcome, ...], list[str]]:
    """Rung 5, truth across devices: where the golden set has an oracle section and values
    differ (no stricter rung failed them), the sampled cells' distance from the fp64 truth
    judges, against the noise budget of the run's precision class
    (:mod:`repro_golden.core.oracle_verdict`). The tolerance outcomes stay in the report,
    measured, their verdict superseded (``measured``); one outcome per array says within
    the noise, moved away, or that the reference is the outlier. Without an oracle, or
    with nothing to judge, the outcomes are returned as they are.
    """
    from repro_golden.core.oracle_format import read_oracle
    from repro_golden.core.oracle_verdict import OracleStatus, judge_oracle

    if not any(o.array is not None and o.status in _VALUE_RUNGS for o in outcomes):
        return outcomes, []
    oracle = read_oracle(directory, golden_dataset_digest=golden.dataset_digest)
    if oracle is None:
        return outcomes, []
    case_config = golden.provenance.get("case_config") or _get(
        golden.provenance, "embeddings", "case"
    )
    numerics = case_config.get("numerics") if isinstance(case_config, Mapping) else None
    try:
        verdict = judge_oracle(
            obtained,
            oracle,
            precision=precision,
            case_numerics=numerics if isinstance(numerics, Mapping) else None,
        )
    except EmbeddingsError as exc:
        return outcomes, [f"truth rung: cannot judge ({exc.message}); the tolerance judges"]
    measured = tuple(
        dataclasses.replace(
            o, status=Status.MEASURED, detail=f"{o.status.value} by the tolerance: {o.detail}"
        )
        if o.array is not None and o.status in _VALUE_RUNGS
        else o
        for o in outcomes
    )
    worst = "; ".join(c.describe() for c in verdict.worst_cells[:3])
    truth = []
    for array in verdict.arrays:
        if verdict.status is OracleStatus.REFERENCE_OUTLIER:
            status = Status.REFERENCE_OUTLIER
        else:
            status = Status.WITHIN_TRUTH_NOISE if array.within else Status.MOVED_FROM_TRUTH
        detail = f"{verdict.precision} from {verdict.precision_source}: {array.describe()}"
        if worst and status is not Status.WITHIN_TRUTH_NOISE:
            detail += f"; worst cells: {worst}"
        truth.append(Outcome(None, array.name, status, detail, rows=verdict.rows))
    return (*truth, *measured), verdict.lines()


def _arithmetic_matches(golden: InputsRecord, obtained: InputsRecord) -> bool:
    """Same batch size and precision where both recorded them (other bits are expected else)."""
    for name in ("batch_size", "precision"):
        a, b = golden.parameters.get(name), obtained.parameters.get(name)
        if a is not None and b is not None and a != b:
            return False
    return True


def check_store(
    obtained_path: str | Path,
    golden_dir: str | Path,
    *,
    tolerance: ToleranceSpec | ArrayTolerances | ToleranceOverride | None = None,
    reference: str | Path | None = None,
    case: str | None = None,
    strict: bool = False,
    assumed_environment: EnvironmentFingerprint | None = None,
    allow_input_changes: bool = False,
    evidence: bool = True,
    precision: str | None = None,
) -> ComparisonReport:
    """Check the embeddings at ``obtained_path`` against the golden files in ``golden_dir``.

    The verdict ladder (docs/golden-files.md): inputs, order, identical by key,
    identical by evidence, calibrated or case tolerance (full copy, reference or
    summaries). ``tolerance``: a full spec replaces the recorded one, a
    :class:`ToleranceOverride` only its own fields. ``allow_input_changes`` makes an
    input change a reported allowance instead of a failure. ``evidence=False`` turns
    off rung 4 (identical by evidence), leaving the tolerance to judge partly
    identical runs. ``precision`` (``fp32``/``tf32``/``bf16``) states the run's
    arithmetic for the truth rung when its provenance does not (see
    :func:`_by_truth`). ``assumed_environment``
    is only used when given and the obtained store records none (the CLI never
    passes it: a check assumes nothing about where a store came from).
    """
    store = GoldenStore(golden_dir)
    golden = store.read(expected_case=case)
    obtained = EmbeddingsStore(obtained_path)
    notes: list[str] = []
    environment = store_environment(obtained)
    assumed = environment is None and assumed_environment is not None
    if environment is None:
        environment = assumed_environment or EnvironmentFingerprint.unknown()
        notes.append(
            "the obtained store records no environment: it is judged by what the golden set "
            "records (no expectation applies)"
            if not assumed
            else "the obtained store records no environment: assumed it comes from the "
            f"checking process's environment ({environment.label()})"
        )
    expectation = select(golden.expectations, environment)
    tolerances, judged_by = _resolved_tolerance(
        tolerance, expectation, recorded_tolerance(golden, store.directory), notes, environment
    )
    golden_provenance = _get(golden.provenance, "embeddings")
    obtained_provenance = obtained.provenance()
    golden_inputs = InputsRecord.from_provenance(golden_provenance)
    obtained_inputs = obtained.parsed_provenance().inputs
    inputs = compare_inputs(golden_inputs, obtained_inputs)
    input_outcomes: tuple[Outcome, ...] = ()
    if inputs.inputs_changed:
        detail = "; ".join(inputs.details[:6])
        if allow_input_changes:
            notes.append(f"{inputs.describe()} (allowed on purpose): {detail}")
        else:
            input_outcomes = (
                Outcome(None, None, Status.INPUTS_CHANGED, f"{inputs.describe()}: {detail}"),
            )
    if inputs.arithmetic:
        notes.append(
            "arithmetic differs from the golden run (" + ", ".join(inputs.arithmetic) + "): "
            "its last bits are expected to differ; judged by the tolerance"
        )
    if inputs.unrecorded:
        notes.append("not compared, one side did not record it: " + ", ".join(inputs.unrecorded))
    if expectation is not None and expectation.kind is ExpectationKind.IDENTICAL:
        judged_by = f"the identical expectation for {environment.label()}"
        how = expectation.evidence or "recorded"
        notes.append(f"results reproduce bit for bit here ({how}): any change fails")
    stage_note = divergence_note(obtained_provenance, golden_provenance)
    if stage_note is not None:  # where a prediction started to differ (issue 10)
        notes.append(stage_note)
    obtained_summary = summarize(obtained, full_copy_limit=0)
    outcomes = compare_summaries(obtained_summary, golden, tolerances)
    order = fov_order([f.name for f in obtained_summary.fovs], [f.name for f in golden.fovs])
    if order is not None:
        outcomes = (order, *outcomes)
    pending: set[tuple[str | None, str | None]] = {
        (o.fov, o.array)
        for o in outcomes
        if o.fov is not None and o.array is not None and o.status in _JUDGED
    }
    mode = CompareMode.GOLDEN_SUMMARIES
    full: dict[tuple[str | None, str | None], Outcome] = {}
    if golden.full is not None and pending:
        full = {
            (o.fov, o.array): o
            for o in compare_full_copy(obtained, golden, tolerances, only=pending)
        }
    elif reference is not None and pending:
        full = {
            (o.fov, o.array): o
            for o in compare_stores(obtained, EmbeddingsStore(reference), tolerances, only=pending)
        }
    if golden.full is not None:
        mode = CompareMode.GOLDEN_FULL_COPY
    elif reference is not None:
        mode = CompareMode.GOLDEN_AND_REFERENCE
    if full:
        # Dataset-wide column outcomes (fov None) are superseded by the full comparison.
        outcomes = tuple(
            full.get((o.fov, o.array), o)
            for o in outcomes
            if not (o.fov is None and o.violation is not None and o.violation.columns)
        )
    if expectation is not None and expectation.kind is ExpectationKind.IDENTICAL:
        outcomes = tuple(_under_identical(o, expectation) for o in outcomes)
    elif (
        expectation is None
        and evidence
        and _arithmetic_matches(golden_inputs, obtained_inputs)
        and (not environment.is_known or deterministic_by_configuration(environment))
    ):
        outcomes, fired = _by_evidence(outcomes)
        if fired:
            judged_by = "the evidence of this run (other FOVs bit-identical to the golden set)"
    truth_lines: list[str] = []
    if not any(o.status in _STRICT for o in outcomes):
        outcomes, truth_lines = _by_truth(outcomes, obtained, golden, store.directory, precision)
        if truth_lines:
            judged_by = f"the fp64 truth ({truth_lines[0].split(': ', 1)[0]})"
    notes += truth_lines
    outcomes = input_outcomes + tuple(
        _moved_cells(o, obtained, golden)
        if o.status is Status.ROWS_REORDERED and o.fov is not None
        else o
        for o in outcomes
    )
    if strict:
        outcomes = tuple(_strict(o) for o in outcomes)
    passed = all(o.passed for o in outcomes)
    attribution = None
    if not passed:
        attribution = attribute(
            golden_provenance or {},
            obtained_provenance or {},
            inputs=inputs,
            golden_environment=golden.environment,
            obtained_environment=environment,
            environment_assumed=assumed,
            judged_by=judged_by,
        )
        failing = {o.status for o in outcomes if not o.passed}
        if failing == {Status.ROWS_REORDERED}:
            attribution = dataclasses.replace(
                attribution,
                diagnosis="the same cells come in another order (INFER-03: fov_name and id "
                "in the reference's order): the data order or the writer changed",
            )
    return ComparisonReport(
        outcomes=name_violated_rows(outcomes, obtained),
        tolerance=tolerances.default,
        obtained=str(obtained_path),
        reference=str(store.directory),
        mode=mode,
        extra={
            "case": golden.case,
            "dataset_digest": golden.dataset_digest,
            "tolerance": tolerances.to_dict(),
            "judged_by": judged_by,
            "expectation": None if expectation is None else expectation.to_dict(),
            "environment": environment.to_dict(),
            "environment_assumed": assumed,
            "strict": strict,
            "inputs": inputs.to_dict(),
            "allow_input_changes": allow_input_changes,
            "precision": precision,
        },
        notes=tuple(notes) + obtained.notes,
        attribution=attribution,
    )
