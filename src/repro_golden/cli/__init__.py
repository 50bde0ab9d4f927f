"""Command line: ``repro-golden <command> ...``, a thin shell over the library.

Each command lives in its own module under :mod:`repro_golden.cli` exposing
``register(subparsers)``, which adds its parser and sets ``handler`` (a
callable taking the parsed namespace and returning an exit status). Handler
modules import heavy libraries inside the handler, so ``--help`` stays fast.

Exit status: 0 everything passed, 1 a regression was found, 2 bad input or
unusable files (any :class:`~repro_golden.errors.InputError`, and filesystem
faults), 130 / 143 stopped by SIGINT / SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from typing import TextIO

from repro_golden import __version__
from repro_golden.cli.extras import PREDICT_EXTRA_MODULES
from repro_golden.core.atomic import storage_error
from repro_golden.errors import ReproGoldenError
from repro_golden.interrupts import Interrupted, SignalStop, stop_on_signals

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2

# Order is the order shown by --help.
_COMMAND_MODULES = (
    "repro_golden.cli.example_cmd",
    "repro_golden.cli.predict_cmd",
    "repro_golden.cli.golden_cmd",
    "repro_golden.cli.calibrate_cmd",
    "repro_golden.cli.triangulate_cmd",
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
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``repro-golden`` script; returns the exit status.

    Faults never read as verdicts: bad input and filesystem faults (full disk,
    read-only or vanished directory, permission) are exit 2 with one line;
    SIGINT and SIGTERM stop the command with exit 130 or 143, leaving no partial
    output (what was being written is removed on the way out; a result
    published just before the signal arrived is whole and stays); a closed
    stdout (``| head``) ends printing quietly without changing the command's
    own status.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    name = f"repro-golden {args.command}"
    with _pipe_safe_stdout():
        try:
            with stop_on_signals():
                status: int = args.handler(args)
        except (Interrupted, SignalStop) as exc:
            print(
                f"{name}: {exc}; stopped, no partial output left",
                file=sys.stderr,
            )
            return exc.exit_status
        except KeyboardInterrupt:  # a SIGINT that arrived before the handlers were installed
            print(
                f"{name}: interrupted by SIGINT; stopped, no partial output left", file=sys.stderr
            )
            return 128 + signal.SIGINT
        except ReproGoldenError as exc:  # InputError and StorageError among them
            print(f"{name}: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if missing not in PREDICT_EXTRA_MODULES:
                raise
            print(
                f"{name}: error: this command needs the 'predict' extra (missing module "
                f"{missing!r}): pip install 'repro-golden[predict]'",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        except OSError as exc:
            fault = storage_error(exc, path=exc.filename or "?", what="output")
            if fault is None:
                raise
            print(f"{name}: error: {fault}", file=sys.stderr)
            return EXIT_BAD_INPUT
    return status


class _PipeSafeStream(io.TextIOBase):
    """A text stream that, once its reader has gone (``EPIPE``), drops what is written.

    ``repro-golden check ... | head`` closes the pipe early; the command still
    finishes and returns its own exit status instead of dying in a traceback.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        if not self.broken:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._broke()
        return len(text)

    def flush(self) -> None:
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._broke()

    def _broke(self) -> None:
        self.broken = True
        # Python flushes sys.__stdout__ again at exit: point its descriptor at
        # /dev/null so that last flush is quiet too.
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, io.UnsupportedOperation):
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)

    def isatty(self) -> bool:
        return self._stream.isatty()


@contextlib.contextmanager
def _pipe_safe_stdout() -> Iterator[None]:
    original = sys.stdout
    safe = _PipeSafeStream(original)
    sys.stdout = safe
    try:
        yield
    finally:
        safe.flush()
        sys.stdout = original


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
