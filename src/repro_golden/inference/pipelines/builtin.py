"""The ``builtin`` pipeline: this library's re-implementation of VisCy 0.4.1, the oracle.

It is :func:`repro_golden.inference.predict.predict` on the case's model and
data sections; a ``lightning`` case names them too (read from its config), so
the oracle can run beside the pipeline under test (``repro-golden triangulate``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from repro_golden.config.case import Case, PipelineKind
from repro_golden.inference.predict import PredictionResult, predict


def run_builtin(case: Case, *, output: Path, **options: Any) -> PredictionResult:
    """Predict ``case`` with the builtin pipeline whatever pipeline the case names."""
    oracle = dataclasses.replace(case, pipeline=PipelineKind.BUILTIN, lightning=None)
    return predict(oracle, output=output, **options)
