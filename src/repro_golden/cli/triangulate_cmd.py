"""``repro-golden triangulate CASE``: did the lab's pipeline move, or the reference?

Runs the case's pipeline under test (``pipeline: lightning``) and the builtin
oracle on the same inputs, judges both against the case's golden files (or
reference) and each other, and prints one verdict
(:mod:`repro_golden.triangulate`). Exit 0 when the pipeline
under test reproduces the reference, 1 when it does not (or crashed: a failed
INFER-02), 2 on bad input.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from repro_golden.cli import EXIT_OK, EXIT_REGRESSION


def register(subparsers: Any) -> None:
    """Add the ``triangulate`` command."""
    parser = subparsers.add_parser(
        "triangulate",
        help="run the pipeline under test and the builtin oracle; say which side moved",
        description=(
            "Predict CASE (a lightning case: the lab's pipeline) and the same case with the "
            "builtin oracle, check both against the case's golden files or reference, compare "
            "them with each other, and say whether the pipeline under test or the reference "
            "moved. Exit 0: the pipeline under test reproduces the reference; 1: it does not."
        ),
    )
    parser.add_argument("case", type=Path, metavar="CASE", help="case file (pipeline: lightning)")
    parser.add_argument("--device", choices=("cpu", "gpu"), help="accelerator (default: case)")
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep both predictions here (under_test.zarr, oracle.zarr; default: a temporary "
        "directory, removed afterwards)",
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the case, triangulate, print the comparisons and the verdict."""
    import logging

    from repro_golden.cli.extras import require_predict_extra

    require_predict_extra("torch", "lightning", "anndata")

    from repro_golden.config.load import load_case

    case = load_case(args.case)
    import lightning.pytorch  # noqa: F401  (configures its loggers on import)

    from repro_golden.inference.pipelines.base import PipelineFailedError
    from repro_golden.triangulate import triangulate

    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="repro-golden-triangulate-") as tmp:
        workdir = args.workdir if args.workdir is not None else Path(tmp)
        try:
            result = triangulate(case, workdir=workdir, device=args.device, progress=args.progress)
        except PipelineFailedError as exc:
            print(exc.failure.render(), flush=True)
            print("TRIANGULATE: the pipeline under test crashed (INFER-02 FAIL)", flush=True)
            return EXIT_REGRESSION
        print(result.render(), flush=True)
    return EXIT_OK if result.verdict.pipeline_reproduces else EXIT_REGRESSION
