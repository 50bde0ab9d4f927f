"""One inter-process lock for golden directories and reference stores, used alike by all.

A writer of a golden directory replaces its sketch and full-copy files and
removes the old ones after switching the manifest; two writers must not
interleave, and a reader that must not see that switch (the pytest fixtures)
holds the lock shared from the manifest to the last data file. The lock file
lives in the temp dir, keyed by the resolved path, so nothing is added to the
directory; ``flock`` releases it when the holder exits or dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path


def lock_path(target: str | Path, *, purpose: str = "") -> Path:
    """The lock file of ``target`` (temp dir, keyed by the resolved path and ``purpose``)."""
    key = hashlib.sha1(str(Path(target).resolve()).encode()).hexdigest()[:16]
    tag = f"{purpose}-" if purpose else ""
    return Path(tempfile.gettempdir()) / f"repro-golden-{tag}{key}.lock"


@contextlib.contextmanager
def directory_lock(
    target: str | Path, *, shared: bool = False, purpose: str = ""
) -> Iterator[None]:
    """Hold the lock of ``target``: exclusive to write it, ``shared=True`` to read it.

    ``flock`` locks are not re-entrant across open handles, so nested holders use
    different ``purpose`` values: the fixtures lock a directory for the whole
    check or regen (``purpose=""``) while :meth:`GoldenStore.write` serializes the
    commit itself (``purpose="write"``) inside that.
    """
    with open(lock_path(target, purpose=purpose), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
