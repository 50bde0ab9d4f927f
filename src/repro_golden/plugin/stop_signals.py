"""SIGTERM and SIGINT stop a pytest session cleanly: partial output removed, exit 143 / 130.

A scheduler's time limit sends SIGTERM, which by default kills pytest on the
spot: a golden directory or report being written stays behind half-done. Here
SIGTERM becomes the ``KeyboardInterrupt`` pytest already stops on gracefully
(the running test unwinds, and every writer of this library removes its
temporary files on the way out), and the session's exit status then says
which signal stopped it: 143 for SIGTERM, 130 for SIGINT (pytest's own
"interrupted" status, 2, would read as a usage error to a scheduler script).

A SIGTERM handler someone else installed is left alone.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import pytest


class StopSignals:
    """The session's SIGTERM handler and the signal that stopped it, if any."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: Any = None
        self._installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if previous not in (signal.SIG_DFL, None):
            return
        self._previous = previous
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self._installed = True

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None:
            return  # already stopping: let the cleanup finish
        self.received = signum
        raise KeyboardInterrupt("SIGTERM: stopping the session")

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if self.received is None:  # SignalStop (a signal inside Lightning) carries its number
            self.received = int(getattr(excinfo.value, "signum", signal.SIGINT))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.received is not None:
            session.exitstatus = 128 + self.received

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous or signal.SIG_DFL)
            self._installed = False


def configure(config: pytest.Config) -> StopSignals:
    plugin = StopSignals()
    plugin.install()
    config.pluginmanager.register(plugin, "repro-golden-stop-signals")
    return plugin
