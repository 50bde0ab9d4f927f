"""SIGINT and SIGTERM as an exception that unwinds, so partial output is removed on the way out.

A scheduler's time limit sends SIGTERM; a person presses Ctrl-C (SIGINT).
Either must stop a run within a batch, remove what it had half-written and
exit 130 (SIGINT) or 143 (SIGTERM), never end as "passed" or as a regression.

:func:`stop_on_signals` installs handlers that raise :class:`Interrupted`.
It derives from :class:`BaseException` but not from :class:`KeyboardInterrupt`
on purpose: Lightning's trainer catches ``KeyboardInterrupt`` and turns it
into ``sys.exit(1)`` (exit 1 would read as "regression found"), while any
other ``BaseException`` it re-raises after its own teardown. Lightning also
composes its SIGTERM handler with the one already installed (ours), so ours
still runs under ``trainer.predict``. Every writer in this library cleans up
on ``BaseException`` (:mod:`repro_golden.core.atomic`), which is what removes
the partial output.

Torch-free and dependency-free: usable from every layer.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

#: The signals that stop a run, and the exit status a shell would report for each.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """A run stopped by a signal; ``exit_status`` is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class SignalStop(KeyboardInterrupt):
    """:class:`Interrupted`, re-raised outside Lightning as the ``KeyboardInterrupt`` that
    pytest (and any caller that stops on Ctrl-C) stops on; keeps the signal number."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        super().__init__(f"interrupted by {self.signal_name}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


@contextlib.contextmanager
def through_lightning() -> Iterator[None]:
    """Around ``trainer.predict``: a signal stops it and leaves as :class:`SignalStop`.

    Inside, SIGINT and SIGTERM raise :class:`Interrupted`, which Lightning
    re-raises after its teardown (a ``KeyboardInterrupt`` it would turn into
    ``sys.exit(1)``, and its SIGTERM handler alone only takes note). Outside,
    it becomes a :class:`SignalStop`, so an in-process caller such as a pytest
    session stops instead of recording one failed test and going on.
    """
    with stop_on_signals():
        try:
            yield
        except Interrupted as exc:
            raise SignalStop(exc.signum) from None


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (once).

    Only the first signal raises: a second Ctrl-C while the partial output is
    being removed must not interrupt the removal. Previous handlers are
    restored on exit. Outside the main thread (where Python cannot install
    handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        if fired:
            return
        fired.append(signum)
        raise Interrupted(signum)

    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    for signum in STOP_SIGNALS:
        signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old if old is not None else signal.SIG_DFL)
