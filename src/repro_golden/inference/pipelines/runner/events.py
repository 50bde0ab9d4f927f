"""Events: single lines ``@@repro-golden@@ {json}`` on stdout, from global rank 0 only."""

from __future__ import annotations

import json
import os
import sys
import threading
import traceback
from typing import Any

from .protocol import MARKER

_TRACEBACK_LINES = 30


def _rank() -> int:
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return 0


_EMIT_LOCK = threading.Lock()
#: Set when the caller is gone (its pipe closed, or stdout broken): nothing left to report to.
ORPHANED = threading.Event()


def emit(event: str, **fields: Any) -> None:
    """One event line on stdout (global rank 0 only; whole lines, from any thread)."""
    if _rank() != 0:
        return
    line = MARKER + json.dumps({"event": event, **fields}, default=str) + "\n"
    with _EMIT_LOCK:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # the caller is gone: nobody to tell
            ORPHANED.set()


def one_line(text: str) -> str:
    """``text`` on one line (jsonargparse's messages are indented lists over many lines)."""
    return " ".join(text.split())


def traceback_tail(exc: BaseException, lines: int = _TRACEBACK_LINES) -> str:
    """The last ``lines`` lines of ``exc``'s formatted traceback."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])
