"""``repro-golden predict CONFIG``: run a case file or a VisCy predict config.

Prints a progress bar while predicting, then one summary line
``N cells in S s (R cells/s)``. Exit 0 on success, 2 on bad input.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from repro_golden.cli import EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


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
        "--batch-size", type=_positive_int, help="batch size (changes the last bits of results)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Load the config, predict, print the summary line and where the store went."""
    import logging

    from repro_golden.config.viscy_config import load_config
    from repro_golden.errors import OutputExistsError

    case = load_config(args.config)
    target = args.output if args.output is not None else case.output
    if target is not None and target.exists() and not args.overwrite:
        # Refused before torch and Lightning are imported (seconds), not after.
        raise OutputExistsError(
            "output exists; pass overwrite (CLI: --overwrite) to replace it", path=target
        )

    import lightning.pytorch  # noqa: F401  (configures its loggers on import)

    from repro_golden.inference.predict import predict

    # Lightning's start-up chatter (accelerator banners, tips) is not ours to print.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    result = predict(
        case,
        output=args.output,
        ckpt=args.ckpt,
        device=args.device,
        batch_size=args.batch_size,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    print(f"wrote {result.path}", flush=True)
    print(result.summary(), flush=True)
    return EXIT_OK
