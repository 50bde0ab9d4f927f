"""Stopping: SIGINT/SIGTERM raise through Lightning, and the caller's death stops the group.

The caller starts the runner as the leader of its own process group and keeps
the write end of a pipe (:data:`WATCH_FD_VARIABLE`); end of file on the read
end means the caller died: the group gets SIGTERM, the private folder is
removed, and SIGKILL follows after :data:`STOP_GRACE` seconds.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

from .events import ORPHANED
from .protocol import STOP_GRACE, WATCH_FD_VARIABLE


class StoppedError(BaseException):
    """SIGINT or SIGTERM reached this runner (a ``BaseException``: Lightning re-raises it
    after its teardown instead of turning it into ``sys.exit(1)`` as a ``KeyboardInterrupt``)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by signal {signum}")


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_stop_handlers() -> dict[int, Any]:
    """SIGINT and SIGTERM raise :class:`StoppedError` once (Lightning composes its own SIGTERM
    handler with this one, so it still runs inside ``trainer.predict``); returns the old ones."""
    fired: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if fired:
            return
        fired.append(signum)
        raise StoppedError(signum)

    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    for signum in _STOP_SIGNALS:
        signal.signal(signum, handler)
    return previous


def signal_group(signum: int) -> None:
    """``signum`` to this runner's process group when it leads one (the caller starts it so),
    else to this process alone: never to a group the runner did not start."""
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signum)
        else:
            os.kill(os.getpid(), signum)
    except OSError:  # pragma: no cover - already gone
        pass


def remove_private(spec: Mapping[str, Any]) -> None:
    """Remove the caller's private ``*.partial`` folder (the caller died and cannot)."""
    import shutil

    private = spec.get("private")
    if isinstance(private, str) and private.endswith(".partial") and os.path.isdir(private):
        shutil.rmtree(private, ignore_errors=True)


def watch_parent(spec: Mapping[str, Any]) -> None:
    """Stop this run when the caller dies: end of file on the pipe only the caller writes.

    The variable is removed from the environment first, so processes this one
    starts (DDP ranks, DataLoader workers) neither inherit it nor watch a
    descriptor that is not theirs.
    """
    value = os.environ.pop(WATCH_FD_VARIABLE, None)
    if value is None or not value.isdigit():
        return
    fd = int(value)

    def watch() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        ORPHANED.set()
        signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while threading.main_thread().is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        remove_private(spec)
        signal_group(signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
