"""Triangulation: did the lab's pipeline move, or the reference?

A failed check alone cannot say which side changed. Triangulation predicts the
case twice on this machine, with the pipeline under test (the case's
``lightning`` config) and with the builtin oracle (this library's independent
re-implementation of VisCy 0.4.1, on the same inputs and checkpoint), judges
both against the case's golden files (or full reference), and compares the
two with each other:

==================  ===============  ===============================================
pipeline under test  builtin oracle   verdict
==================  ===============  ===============================================
reproduces           reproduces       nothing moved
differs              reproduces       the pipeline under test moved
differs              differs, agree   the reference moved (or this environment)
differs              differs, differ  both moved
reproduces           differs          the oracle moved (the lab's pipeline is fine)
==================  ===============  ===============================================

Both predictions read the case as it is now. When a judge finds the recorded
inputs changed (a normalization edited in the case, another checkpoint), the
oracle shares that change: the verdict is "the inputs changed" (not independent),
never "the reference moved", so a real regression does not invite regenerating
the reference.

When the two predictions differ from each other, their stage digests name
where they start to (:func:`repro_golden.core.stages.first_divergence`).
A top-level module beside :mod:`repro_golden.api`: it predicts (inference) and
judges (the api's check and compare).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from repro_golden.config.case import Case, PipelineKind
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.outcomes import Status
from repro_golden.core.report import ComparisonReport
from repro_golden.core.stages import Divergence, first_divergence
from repro_golden.errors import ConfigError


class Verdict(Enum):
    """What moved, from the three comparisons (see the module docs)."""

    NOTHING_MOVED = "nothing moved"
    PIPELINE_MOVED = "the pipeline under test moved"
    REFERENCE_MOVED = "the reference moved"
    BOTH_MOVED = "both moved"
    ORACLE_MOVED = "the builtin oracle moved"
    NOT_INDEPENDENT = "the inputs changed"

    @property
    def explanation(self) -> str:
        """The sentence the CLI prints after the verdict."""
        return {
            Verdict.NOTHING_MOVED: "the pipeline under test and the builtin oracle both "
            "reproduce the reference",
            Verdict.PIPELINE_MOVED: "the builtin oracle still reproduces the reference here, "
            "the pipeline under test does not: the lab's code (or its environment) changed "
            "the embeddings",
            Verdict.REFERENCE_MOVED: "neither reproduces the reference, but the two independent "
            "pipelines agree with each other: the reference (or this machine's numerics) "
            "moved; regenerate it on purpose if the change is expected",
            Verdict.BOTH_MOVED: "neither reproduces the reference, and they disagree with each "
            "other: the lab's pipeline moved, and the reference or the oracle too",
            Verdict.ORACLE_MOVED: "the pipeline under test reproduces the reference; this "
            "library's oracle does not (report it to repro-golden)",
            Verdict.NOT_INDEPENDENT: "the inputs differ from those the golden set recorded, and "
            "the oracle read the same ones, so the triangulation is not independent: it says "
            "nothing about the reference; fix the inputs (or regenerate on purpose if the "
            "change is intended)",
        }[self]

    @property
    def pipeline_reproduces(self) -> bool:
        """Whether the pipeline under test reproduces the reference (the exit status)."""
        return self in (Verdict.NOTHING_MOVED, Verdict.ORACLE_MOVED)


def decide(*, under_test: bool, oracle: bool, agree: bool, inputs_changed: bool = False) -> Verdict:
    """The verdict from: under test reproduces, oracle reproduces, the two agree.

    ``inputs_changed``: a judge found the recorded inputs changed. Both predictions read
    the case as it is now, so neither is independent of that change, and the reference
    is never called moved.
    """
    if inputs_changed:
        return Verdict.NOT_INDEPENDENT
    if under_test:
        return Verdict.NOTHING_MOVED if oracle else Verdict.ORACLE_MOVED
    if oracle:
        return Verdict.PIPELINE_MOVED
    return Verdict.REFERENCE_MOVED if agree else Verdict.BOTH_MOVED


@dataclass(frozen=True)
class Triangulation:
    """The three comparisons, where the two predictions diverge, and the verdict."""

    under_test: ComparisonReport
    oracle: ComparisonReport
    agreement: ComparisonReport
    divergence: Divergence
    verdict: Verdict
    under_test_path: Path
    oracle_path: Path

    def render(self) -> str:
        """What the CLI prints: one line per comparison, the divergence, the verdict."""
        return "\n".join(
            [
                f"pipeline under test vs reference: {self.under_test.headline()}",
                f"builtin oracle vs reference:      {self.oracle.headline()}",
                f"pipeline under test vs oracle:    {self.agreement.headline()}",
                f"  {self.divergence.render()}",
                f"TRIANGULATE: {self.verdict.value}: {self.verdict.explanation}",
            ]
        )


def oracle_case(case: Case) -> Case:
    """``case`` run by the builtin oracle: the same inputs, checkpoint, numerics and tolerance."""
    return dataclasses.replace(case, pipeline=PipelineKind.BUILTIN, lightning=None)


def _judge(case: Case, path: Path) -> ComparisonReport:
    from repro_golden.api import check_golden, compare_embeddings

    if case.golden is not None:
        return check_golden(path, case.golden, case=case.name)
    assert case.reference is not None
    return compare_embeddings(path, case.reference)


def triangulate(
    case: Case,
    *,
    workdir: Path,
    device: str | None = None,
    progress: bool = False,
) -> Triangulation:
    """Predict ``case`` with its pipeline and with the oracle into ``workdir``; judge both.

    Raises :class:`ConfigError` when the case runs no pipeline under test or names
    neither golden files nor a reference, and
    :class:`~repro_golden.inference.pipelines.base.PipelineFailedError` when the
    pipeline under test crashes (a failed INFER-02).
    """
    from repro_golden.api import compare_embeddings
    from repro_golden.inference.predict import predict

    if case.lightning is None:
        raise ConfigError(
            "triangulate needs a case with `pipeline: lightning` (the pipeline under test); "
            "the builtin is the oracle it is compared with",
            path=case.source,
            key="pipeline",
        )
    if case.golden is None and case.reference is None:
        raise ConfigError(
            "triangulate judges against the case's golden files or reference; set `golden:` "
            "or `reference:`",
            path=case.source,
            key="golden",
        )
    workdir.mkdir(parents=True, exist_ok=True)
    under = predict(
        case, output=workdir / "under_test.zarr", overwrite=True, device=device, progress=progress
    )
    oracle = predict(
        oracle_case(case),
        output=workdir / "oracle.zarr",
        overwrite=True,
        device=device,
        progress=progress,
    )
    under_report, oracle_report = _judge(case, under.path), _judge(case, oracle.path)
    agreement = compare_embeddings(under.path, oracle.path)
    divergence = first_divergence(
        EmbeddingsStore(under.path).provenance(), EmbeddingsStore(oracle.path).provenance()
    )
    inputs_changed = any(
        o.status is Status.INPUTS_CHANGED
        for report in (under_report, oracle_report)
        for o in report.outcomes
    )
    verdict = decide(
        under_test=under_report.passed,
        oracle=oracle_report.passed,
        agree=agreement.passed,
        inputs_changed=inputs_changed,
    )
    return Triangulation(
        under_test=under_report,
        oracle=oracle_report,
        agreement=agreement,
        divergence=divergence,
        verdict=verdict,
        under_test_path=under.path,
        oracle_path=oracle.path,
    )
