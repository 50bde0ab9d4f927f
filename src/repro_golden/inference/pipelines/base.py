"""Pipelines under test: which code computes the embeddings, and how its verdicts look.

``builtin`` is this library's re-implementation of VisCy 0.4.1 (the
independent oracle, :mod:`repro_golden.inference.pipelines.builtin`);
``lightning`` runs whatever a LightningCLI predict config names, in its own
interpreter (:mod:`repro_golden.inference.pipelines.lightning`). Both are a
:class:`Pipeline`: one function from a case and the caller's
:class:`RunOptions` to a :class:`PredictionResult`, chosen by the case's
:class:`PipelineKind` in :func:`repro_golden.inference.predict.predict`. The
values here are torch-free so that configs and reports can use them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from repro_golden.config.case import Case, LightningSpec, PipelineKind
from repro_golden.errors import InputError, ReproGoldenError

__all__ = [
    "DEVICES",
    "Infer01FailedError",
    "Infer01Outcome",
    "Infer01Status",
    "LightningSpec",
    "Pipeline",
    "PipelineFailedError",
    "PipelineFailure",
    "PipelineImportError",
    "PipelineKind",
    "PredictionResult",
    "RunOptions",
]

#: What ``device`` may name (``--device``): the case's accelerator is used when it names none.
DEVICES = ("cpu", "gpu")


@dataclass(frozen=True)
class RunOptions:
    """What the caller overrides for one run, checked once before a pipeline starts.

    ``output`` is where the store goes (the case's or the caller's, already
    refused when it exists without ``overwrite``); ``device`` is one of
    :data:`DEVICES` or None (the case's accelerator); ``ckpt`` replaces the
    case's checkpoint; ``weights_only=False`` lets the builtin unpickle arbitrary
    objects (the lightning runner always loads weights only).
    """

    output: Path
    overwrite: bool = False
    device: str | None = None
    batch_size: int | None = None
    ckpt: Path | None = None
    progress: bool = True
    weights_only: bool = True


@dataclass(frozen=True)
class PredictionResult:
    """Where the embeddings went, how many cells, how long the prediction loop took."""

    path: Path
    cells: int
    seconds: float
    #: INFER-01 of a ``lightning`` run (an :class:`Infer01Outcome`); None for the builtin,
    #: whose loader is strict or raises.
    infer01: Any = None

    @property
    def cells_per_second(self) -> float:
        """Throughput of the prediction loop (0 when it took no measurable time)."""
        return self.cells / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """``N cells in S s (R cells/s)``, the CLI's last line."""
        return f"{self.cells} cells in {self.seconds:.1f} s ({self.cells_per_second:.1f} cells/s)"


class Pipeline(Protocol):
    """One kind of pipeline: run ``case`` as ``options`` say and write its embeddings store.

    Raises :class:`~repro_golden.errors.InputError` subclasses on bad input,
    :class:`PipelineFailedError` when the code under test fails.
    """

    def __call__(self, case: Case, options: RunOptions) -> PredictionResult: ...


class Infer01Status(Enum):
    """INFER-01: the checkpoint loads strictly into the module and the widths are right."""

    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True)
class Infer01Outcome:
    """Strict load (missing / unexpected / shape-mismatched keys) and one forward pass."""

    status: Infer01Status
    module: str | None = None
    checkpoint: str | None = None
    keys: int | None = None
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    input_shape: tuple[int, ...] | None = None
    widths: tuple[int, ...] = ()
    problems: tuple[str, ...] = ()

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> Infer01Outcome:
        """From the runner's ``infer01`` event."""
        mismatched = tuple(
            f"{m['key']}: checkpoint {m['checkpoint']}, module {m['module']}"
            for m in event.get("mismatched") or ()
        )
        shape = event.get("input_shape")
        return cls(
            status=Infer01Status(event.get("status", "fail")),
            module=event.get("module"),
            checkpoint=event.get("checkpoint"),
            keys=event.get("keys"),
            missing=tuple(event.get("missing") or ()),
            unexpected=tuple(event.get("unexpected") or ()),
            mismatched=mismatched,
            input_shape=None if shape is None else tuple(int(s) for s in shape),
            widths=tuple(int(w) for w in event.get("widths") or ()),
            problems=tuple(event.get("problems") or ()),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for provenance."""
        return {
            "status": self.status.value,
            "module": self.module,
            "checkpoint": self.checkpoint,
            "keys": self.keys,
            "missing": list(self.missing),
            "unexpected": list(self.unexpected),
            "mismatched": list(self.mismatched),
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "widths": list(self.widths),
            "problems": list(self.problems),
        }

    def render(self, limit: int = 10) -> str:
        """``INFER-01 PASS|FAIL: ...`` with the first ``limit`` keys of each kind."""
        head = f"INFER-01 {self.status.value.upper()}: {self.module} <- {self.checkpoint}"
        lines = [head, *(f"  {p}" for p in self.problems)]
        for name, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("shape-mismatched", self.mismatched),
        ):
            for key in keys[:limit]:
                lines.append(f"  {name}: {key}")
            if len(keys) > limit:
                lines.append(f"  ... {len(keys) - limit} more {name}")
        return "\n".join(lines)


@dataclass(frozen=True)
class PipelineFailure:
    """INFER-02 failed: the pipeline under test raised; its own exception and traceback tail."""

    phase: str
    exception: str
    message: str
    traceback: str
    python: str
    stderr_tail: str = ""
    #: Set when the run stopped at INFER-01, before ``trainer.predict``: the listing is the verdict.
    infer01: Infer01Outcome | None = None

    def render(self) -> str:
        """The verdict as the CLI prints it."""
        if self.infer01 is not None:
            return f"{self.infer01.render()}\n  {self.message}"
        return (
            f"INFER-02 FAIL: the pipeline under test raised {self.exception} during "
            f"{self.phase} ({self.python}): {self.message}\n{self.traceback}"
        )


class PipelineFailedError(ReproGoldenError):
    """The pipeline under test crashed (a failed INFER-02 verdict, CLI exit 1)."""

    def __init__(self, failure: PipelineFailure) -> None:
        self.failure = failure
        super().__init__(failure.render())


class Infer01FailedError(PipelineFailedError):
    """INFER-01 failed in the pipeline's interpreter, so ``trainer.predict`` never ran (exit 1).

    A subclass of :class:`PipelineFailedError` so that every caller that reports a
    failed pipeline prints this verdict too; ``outcome`` holds the listing of
    missing, unexpected and shape-mismatched keys.
    """

    def __init__(self, outcome: Infer01Outcome, python: str) -> None:
        self.outcome = outcome
        super().__init__(
            PipelineFailure(
                phase="infer01",
                exception="INFER-01 FAIL",
                message="stopped before trainer.predict: nothing was predicted or written",
                traceback="",
                python=python,
                infer01=outcome,
            )
        )


class PipelineImportError(InputError):
    """A ``class_path`` of the config does not import in the pipeline's interpreter (exit 2)."""


def stage_records(events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The per-batch stage records of a run's ``done`` event (empty when absent)."""
    for event in events:
        if event.get("event") == "done":
            return [dict(r) for r in event.get("stages") or ()]
    return []
