"""``repro-golden predict CONFIG``: run a case file or a VisCy predict config.

Prints a progress bar while predicting, then one summary line
``N cells in S s (R cells/s)``. ``--pipeline lightning`` runs the config's own
classes through LightningCLI (``--python`` names the interpreter: the lab's
environment) and prints the INFER-01 verdict first. Exit 0 on success, 1 when
the pipeline under test crashed (a failed INFER-02, with its traceback tail),
wrote other rows than it predicted (DDP without a gather) or INFER-01 failed
(then nothing is predicted), 2 on bad input and faults, with one line: a class
that does not import, a ``--python`` that is not a usable Python or lacks
torch/lightning, a config that is not valid YAML (after ``${VAR}`` expansion),
a checkpoint ``weights_only`` loading refuses or whose hyper-parameters would
switch the config's class, a store the writer produced that is not AnnData
embeddings, a full or read-only disk under the writer.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

from repro_golden.cli import EXIT_OK, EXIT_REGRESSION
from repro_golden.cli.argtypes import int_at_least


def register(subparsers: Any) -> None:
    """Add the ``predict`` command."""
    parser = subparsers.add_parser(
        "predict",
        help="predict embeddings for a case file or a VisCy predict config",
        description=(
            "Predict embeddings as VisCy does and write them as an AnnData zarr. CONFIG is a "
            "repro-golden case file (schema: repro-golden/case/1; paths relative to it) or a "
            "VisCy LightningCLI predict config (paths relative to the current directory)."
        ),
    )
    parser.add_argument("config", type=Path, metavar="CONFIG", help="case file or VisCy config")
    parser.add_argument("--output", type=Path, help="output zarr (overrides the config's)")
    parser.add_argument("--ckpt", type=Path, help="checkpoint (overrides the config's)")
    parser.add_argument("--device", choices=("cpu", "gpu"), help="accelerator (default: config)")
    parser.add_argument(
        "--batch-size", type=int_at_least(1), help="batch size (changes the last bits of results)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--pipeline",
        choices=("builtin", "lightning"),
        help="builtin: this library's VisCy 0.4.1 oracle (default for a bare config); "
        "lightning: the config's own classes through LightningCLI",
    )
    parser.add_argument(
        "--python", help="interpreter of the lightning pipeline (default: this one)"
    )
    parser.add_argument(
        "--preimport",
        action="append",
        default=[],
        metavar="MODULE",
        help="module the lab's entry point imports first (VisCy 0.4.1: viscy.cli); repeatable",
    )
    parser.set_defaults(handler=run)


def _names_lightning(args: argparse.Namespace) -> bool:
    """Whether the command line or the case file says the lightning pipeline (a cheap look,
    before the config is loaded: a torch-free install may call the lab's interpreter)."""
    if args.pipeline == "lightning" or args.python is not None:
        return True
    try:
        import yaml

        mapping = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(mapping, dict) and mapping.get("pipeline") == "lightning"


def run(args: argparse.Namespace) -> int:
    """Load the config, predict, print the summary line and where the store went."""
    import logging

    from repro_golden.cli.extras import require_predict_extra
    from repro_golden.core.atomic import refuse_existing

    # The builtin needs the predict extra here; the lightning pipeline runs torch and the
    # lab's writer in the lab's interpreter, so a torch-free install can call it.
    lab_elsewhere = _names_lightning(args)
    if not lab_elsewhere:
        require_predict_extra("anndata")
    from repro_golden.config.load import load_case

    case = load_case(
        args.config, pipeline=args.pipeline, python=args.python, preimport=args.preimport
    )
    if case.lightning is None:
        require_predict_extra("torch", "lightning", "anndata")
    target = args.output if args.output is not None else case.output
    if target is not None:  # refused before torch and Lightning are imported (seconds)
        refuse_existing(target, overwrite=args.overwrite)

    if case.lightning is None:  # the lightning pipeline runs torch in its own interpreter
        import lightning.pytorch  # noqa: F401  (configures its loggers on import)

        # Lightning's start-up chatter (accelerator banners, tips) is not ours to print.
        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)

    from repro_golden.inference.pipelines.base import Infer01Status, PipelineFailedError
    from repro_golden.inference.predict import predict

    try:
        result = predict(
            case,
            output=args.output,
            ckpt=args.ckpt,
            device=args.device,
            batch_size=args.batch_size,
            overwrite=args.overwrite,
            progress=not args.no_progress and importlib.util.find_spec("tqdm") is not None,
        )
    except PipelineFailedError as exc:
        print(exc.failure.render(), flush=True)
        return EXIT_REGRESSION
    if result.infer01 is not None:
        print(result.infer01.render(), flush=True)
    print(f"wrote {result.path}", flush=True)
    print(result.summary(), flush=True)
    if result.infer01 is not None and result.infer01.status is Infer01Status.FAIL:
        return EXIT_REGRESSION
    return EXIT_OK
