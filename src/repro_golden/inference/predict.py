"""Predict embeddings for a case: the one way a run happens (the CLI, the pytest plugin and nox).

:func:`predict` checks what the caller overrides, once, for every pipeline (an
output that exists is refused up front, before anything is imported or run),
then hands the case to the pipeline its :class:`~repro_golden.config.case.PipelineKind`
names (:data:`PIPELINES`): the builtin oracle in this interpreter
(:mod:`~repro_golden.inference.pipelines.builtin`) or the lab's LightningCLI
config in its own (:mod:`~repro_golden.inference.pipelines.lightning`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from repro_golden.config.case import Case, PipelineKind
from repro_golden.core.atomic import refuse_existing
from repro_golden.errors import ConfigError
from repro_golden.inference.pipelines import builtin, lightning
from repro_golden.inference.pipelines.base import (
    DEVICES,
    Pipeline,
    PredictionResult,
    RunOptions,
)

__all__ = ["DEVICES", "PIPELINES", "PredictionResult", "predict"]

#: The pipeline that runs each kind of case.
PIPELINES: Mapping[PipelineKind, Pipeline] = MappingProxyType(
    {PipelineKind.BUILTIN: builtin.run, PipelineKind.LIGHTNING: lightning.run}
)


def predict(
    case: Case,
    *,
    output: str | Path | None = None,
    ckpt: str | Path | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    weights_only: bool = True,
) -> PredictionResult:
    """Run ``case`` and write its embeddings store; return where, how many cells and how long.

    ``output``, ``ckpt``, ``device`` (``cpu``/``gpu``) and ``batch_size``
    override the case. ``weights_only=False`` unpickles arbitrary objects in
    the checkpoint: only for files you trust (builtin pipeline). Raises
    :class:`~repro_golden.errors.InputError` subclasses on bad input, before
    anything is written.
    """
    target = Path(output) if output is not None else case.output
    if target is None:
        raise ConfigError(
            "no output path: set 'output' in the case or pass output (CLI: --output)",
            path=case.source,
            key="output",
        )
    refuse_existing(target, overwrite=overwrite)
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ConfigError(f"expected an integer >= 1, got {batch_size!r}", key="batch_size")
    if device is not None and device not in DEVICES:
        raise ConfigError(f"expected one of {list(DEVICES)}, got {device!r}", key="device")
    options = RunOptions(
        output=target,
        overwrite=overwrite,
        device=device,
        batch_size=batch_size,
        ckpt=None if ckpt is None else Path(ckpt),
        progress=progress,
        weights_only=weights_only,
    )
    return PIPELINES[case.pipeline](case, options)
