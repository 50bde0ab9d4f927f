"""Command line: ``repro-golden <command> ...``, a thin shell over the library.

Each command lives in its own module under :mod:`repro_golden.cli` exposing
``register(subparsers)``, which adds its parser and sets ``handler`` (a
callable taking the parsed namespace and returning an exit status). Handler
modules import heavy libraries inside the handler, so ``--help`` stays fast.

Exit status: 0 everything passed, 1 a regression was found, 2 bad input or
unusable files (any :class:`~repro_golden.errors.InputError`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from repro_golden import __version__
from repro_golden.errors import InputError, ReproGoldenError

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2

# Order is the order shown by --help.
_COMMAND_MODULES = (
    "repro_golden.cli.example_cmd",
    "repro_golden.cli.predict_cmd",
    "repro_golden.cli.golden_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every available command registered."""
    parser = argparse.ArgumentParser(
        prog="repro-golden",
        description=(
            "Prove that an embedding pipeline still produces the embeddings it produced before: "
            "generate the example case, predict embeddings, write golden files, check and compare."
        ),
        epilog="Exit status: 0 pass, 1 regression found, 2 bad input or unusable files.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a command module not built yet
            if exc.name != module_name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``repro-golden`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.handler(args)
    except InputError as exc:
        print(f"repro-golden {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ReproGoldenError as exc:
        print(f"repro-golden {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"repro-golden {args.command}: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
