"""The golden check: digests, then the full copy or the summaries, under the right expectation.

Order of evidence: digests decide "identical"; where they differ, the golden
set's full copy (small cases) judges every element with ``allclose``, else the
full ``reference`` store when given, else the sound summary checks, which can
prove a violation but otherwise only say "consistent" (with the detection limit
they actually had). Which rule applies is picked from the golden set's
expectations (:mod:`.expectations`) by the obtained store's environment
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

from repro_golden.core.attribution import attribute
from repro_golden.core.cells import name_violated_rows
from repro_golden.core.compare import (
    CompareMode,
    compare_full_copy,
    compare_stores,
    compare_summaries,
)
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.expectations import Expectation, ExpectationKind, select
from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden_store import GoldenStore
from repro_golden.core.golden_summarize import store_environment, summarize
from repro_golden.core.golden_types import Golden
from repro_golden.core.names import MANIFEST
from repro_golden.core.outcomes import Outcome, Status
from repro_golden.core.report import ComparisonReport
from repro_golden.core.stages import divergence_note
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
from repro_golden.errors import ConfigError, GoldenFileError

_JUDGED = (Status.CONSISTENT, Status.VIOLATED)


def recorded_tolerance(golden: Golden, directory: Path) -> ArrayTolerances | None:
    """The tolerance recorded with ``golden``: the manifest's own, else the case config's.

    Schema-1 files have none of their own; for them the case config in the
    provenance is looked up where the writers put it: ``provenance.case_config``
    (the pytest fixture) or ``provenance.embeddings.case`` (the prediction). A
    malformed one is a :class:`GoldenFileError`.
    """
    if golden.tolerance is not None:
        return golden.tolerance
    candidates = (
        ("provenance.case_config.tolerance", golden.provenance.get("case_config")),
        ("provenance.embeddings.case.tolerance", _get(golden.provenance, "embeddings", "case")),
    )
    for key, config in candidates:
        if isinstance(config, Mapping) and config.get("tolerance") is not None:
            try:
                return ArrayTolerances(ToleranceSpec.from_mapping(config["tolerance"]))
            except ConfigError as exc:
                raise GoldenFileError(
                    f"recorded tolerance is unusable: {exc}",
                    path=directory / MANIFEST,
                    key=key,
                ) from None
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


def _under_identical(outcome: Outcome, expectation: Expectation) -> Outcome:
    if (
        outcome.array is None
        or outcome.status in (Status.IDENTICAL,)
        or not (outcome.passed or outcome.status is Status.VIOLATED)
    ):
        return outcome
    return dataclasses.replace(
        outcome,
        status=Status.CHANGED_WHERE_REPRODUCIBLE,
        detail=(
            f"digests differ where the golden set expects bit-for-bit results "
            f"({expectation.environment.label()}); {outcome.status.value}: {outcome.detail}"
        ),
    )


def check_store(
    obtained_path: str | Path,
    golden_dir: str | Path,
    *,
    tolerance: ToleranceSpec | ArrayTolerances | None = None,
    reference: str | Path | None = None,
    case: str | None = None,
    strict: bool = False,
    assumed_environment: EnvironmentFingerprint | None = None,
) -> ComparisonReport:
    """Check the embeddings at ``obtained_path`` against the golden files in ``golden_dir``.

    ``tolerance`` replaces the expectation's or recorded one; ``assumed_environment``
    is the checking process's fingerprint, used when the obtained store records none.
    """
    store = GoldenStore(golden_dir)
    golden = store.read(expected_case=case)
    obtained = EmbeddingsStore(obtained_path)
    notes: list[str] = []
    environment = store_environment(obtained)
    assumed = environment is None
    if environment is None:
        environment = assumed_environment or EnvironmentFingerprint.unknown()
        notes.append(
            "the obtained store records no environment: assumed it comes from the checking "
            f"process's environment ({environment.label()})"
        )
    expectation = select(golden.expectations, environment)
    if tolerance is not None:
        tolerances = ArrayTolerances.coerce(tolerance)
        judged_by = f"the given tolerance {tolerances}"
    elif expectation is not None and expectation.tolerance is not None:
        tolerances = expectation.tolerance
        judged_by = f"the calibrated expectation {expectation.describe()}"
    else:
        tolerances = recorded_tolerance(golden, store.directory) or ArrayTolerances()
        judged_by = f"the case tolerance {tolerances}"
        if expectation is None:
            notes.append(
                f"no expectation recorded for this environment ({environment.label()}): "
                "the case tolerance applies"
            )
    if expectation is not None and expectation.kind is ExpectationKind.IDENTICAL:
        judged_by = f"the identical expectation for {environment.label()}"
        notes.append(
            f"results reproduce bit for bit here ({expectation.evidence}): any change fails"
        )
    stage_note = divergence_note(obtained.provenance(), _get(golden.provenance, "embeddings"))
    if stage_note is not None:  # where a prediction started to differ (issue 10)
        notes.append(stage_note)
    outcomes = compare_summaries(summarize(obtained, full_copy_limit=0), golden, tolerances)
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
    if strict:
        outcomes = tuple(_strict(o) for o in outcomes)
    passed = all(o.passed for o in outcomes)
    attribution = None
    if not passed:
        attribution = attribute(
            _get(golden.provenance, "embeddings") or {},
            obtained.provenance() or {},
            golden_environment=golden.environment,
            obtained_environment=environment,
            environment_assumed=assumed,
            judged_by=judged_by,
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
        },
        notes=tuple(notes) + obtained.notes,
        attribution=attribution,
    )
