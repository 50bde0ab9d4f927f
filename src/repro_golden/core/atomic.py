"""Atomic writes: a reader sees the previous complete file or the new complete one, never half.

Files are written to a temporary sibling, flushed and fsynced, then moved into
place with :func:`os.replace` (atomic on POSIX within one filesystem).
Directories (zarr stores) are built under a temporary sibling and renamed into
place when complete; replacing an existing directory moves the old one aside
first, so a crash leaves either the old or the new tree (or, in the short
window between the two renames, the old tree under its aside name).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from repro_golden.errors import ConfigError, OutputExistsError

_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*")


def safe_component(
    name: object, *, what: str = "name", path: str | Path | None = None, key: str | None = None
) -> str:
    """``name`` if it can be one path component under a directory we write into.

    Case names become folders (``golden/<case>/``); a name holding a path
    separator, ``..``, a leading dot or dash, a NUL or other unusual characters
    could write outside the golden directory or hide there, so it is refused
    with a :class:`~repro_golden.errors.ConfigError` naming ``path`` and ``key``.
    """
    if not isinstance(name, str) or not _SAFE_COMPONENT.fullmatch(name) or ".." in name:
        raise ConfigError(
            f"expected a {what} of letters, digits, '_', '.', '+' and '-' (no path separators, "
            f"no '..', not starting with '.' or '-'), got {name!r}",
            path=path,
            key=key,
        )
    return name


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _default_file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 less the umask).

    :mod:`tempfile` creates files as 0o600 and directories as 0o700; golden
    files, outputs and example inputs on a shared cluster must stay readable by
    the group, as a plain write would leave them.
    """
    return 0o666 & ~_umask()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, _default_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(target.parent)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block completes.

    Raises :class:`OutputExistsError` up front when ``path`` exists and
    ``overwrite`` is false, so nothing is computed for an output that would be
    refused. On any exception the temporary directory is removed and an
    existing ``path`` is left untouched.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            "output exists; pass overwrite (CLI: --overwrite) to replace it", path=target
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        tmp.chmod(0o777 & ~_umask())
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_directory(tmp, target)


def replace_directory(source: Path, target: Path) -> None:
    """Move the complete directory ``source`` to ``target``, replacing any old ``target``."""
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        aside.rmdir()
        os.replace(target, aside)
        os.replace(source, target)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.replace(source, target)
    _fsync_dir(target.parent)
