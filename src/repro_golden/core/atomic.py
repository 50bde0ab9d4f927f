"""Atomic writes: a reader sees the previous complete file or the new complete one, never half.

Files are written to a temporary sibling, flushed and fsynced, then moved into
place with :func:`os.replace` (atomic on POSIX within one filesystem).
Directories (zarr stores) are built under a temporary sibling and renamed into
place when complete; replacing an existing directory moves the old one aside
first, so a crash leaves either the old or the new tree (or, in the short
window between the two renames, the old tree under its aside name).

A new directory is published with a rename that never replaces
(:func:`rename_noreplace`: ``renameat2(RENAME_NOREPLACE)`` on Linux, else a
rename serialized by a lock), so the "output exists" refusal holds at publish
time too: of two writers racing for one new path, exactly one wins.

Faults of the filesystem (full disk, read-only or vanished directory,
permission) become :class:`~repro_golden.errors.StorageError` naming the
path, what was being written and, for space, how much; whatever the write had
made (temporary files, temporary trees, parent directories it created) is
removed first, so nothing half-written or empty is left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from repro_golden.core.names import safe_component as safe_component  # re-exported
from repro_golden.errors import OutputExistsError, StorageError


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


#: errno values that are faults of the filesystem, not of the data written.
_STORAGE_ERRNOS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large for the filesystem",
    errno.EROFS: "read-only filesystem",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOENT: "directory vanished (no such file or directory)",
    errno.ENOTDIR: "a path component is not a directory",
    errno.EIO: "input/output error",
}
_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} B"


def _free_bytes(path: Path) -> int | None:
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None  # pragma: no cover - not even "/" answers


def _tree_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_size
    return total


def storage_error(
    exc: OSError,
    *,
    path: str | Path,
    what: str,
    written: int | None = None,
    needed: int | None = None,
) -> StorageError | None:
    """The :class:`StorageError` for a filesystem fault ``exc`` while writing ``what`` to ``path``.

    ``None`` when ``exc`` is not such a fault (a bug or a bad input stays what it
    is). ``written`` is how much had been written when it failed, ``needed`` the
    size of the whole write when known; for a full disk both, with the free
    space, are named.
    """
    reason = _STORAGE_ERRNOS.get(exc.errno or -1)
    if reason is None:
        return None
    target = Path(path)
    detail = f"cannot write {what}: {reason}"
    if exc.errno in _SPACE_ERRNOS:
        sizes = []
        if needed is not None:
            sizes.append(f"about {_size(needed)} needed")
        elif written is not None:
            sizes.append(f"more than the {_size(written)} written before it failed needed")
        free = _free_bytes(target.parent)
        if free is not None:
            sizes.append(f"{_size(free)} free")
        if sizes:
            detail += " (" + ", ".join(sizes) + ")"
    elif exc.filename is not None and Path(exc.filename) != target:
        detail += f" at {exc.filename}"
    detail += "; nothing was left half-written"
    return StorageError(detail, path=target)


def make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created, deepest first.

    A failed write removes them again (:func:`remove_created`), so it leaves no
    empty folders behind.
    """
    missing: list[Path] = []
    for candidate in (directory, *directory.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    for created in reversed(missing):
        try:
            created.mkdir()
        except FileExistsError:
            continue
        except BaseException:
            remove_created(missing)
            raise
    return missing


def remove_created(directories: list[Path]) -> None:
    """Remove the directories of :func:`make_parents` that are still empty, deepest first."""
    for directory in directories:
        try:
            directory.rmdir()
        except OSError:
            break  # not empty (someone else wrote there) or gone: leave it and its parents


def write_bytes_atomic(
    path: str | Path, data: bytes, *, what: str = "a file", overwrite: bool = True
) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    ``overwrite=False`` publishes with a hard link, which fails when ``path``
    exists (:class:`OutputExistsError`), so a concurrent writer is never replaced.
    A filesystem fault is a :class:`StorageError` naming ``path``, ``what`` and
    the size, and leaves nothing behind (temporary file and created parents removed).
    """
    target = Path(path)
    created: list[Path] = []
    tmp: Path | None = None
    try:
        created = make_parents(target.parent)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        tmp = Path(tmp_name)
        os.fchmod(fd, _default_file_mode())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise OutputExistsError(
                    "output exists (published meanwhile by another writer); "
                    "pass overwrite to replace it",
                    path=target,
                ) from None
            tmp.unlink()
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        remove_created(created)
        if isinstance(exc, OSError):
            fault = storage_error(exc, path=target, what=what, needed=len(data))
            if fault is not None:
                raise fault from None
        raise
    _fsync_dir(target.parent)


def write_text_atomic(
    path: str | Path, text: str, *, what: str = "a file", overwrite: bool = True
) -> None:
    """Write UTF-8 ``text`` atomically (see :func:`write_bytes_atomic`)."""
    write_bytes_atomic(path, text.encode("utf-8"), what=what, overwrite=overwrite)


@contextlib.contextmanager
def atomic_directory(
    path: str | Path,
    *,
    overwrite: bool = False,
    what: str = "the output directory",
    needed: int | None = None,
) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` only if the block completes.

    Raises :class:`OutputExistsError` up front when ``path`` exists and
    ``overwrite`` is false, so nothing is computed for an output that would be
    refused, and again at publish time when another writer published ``path``
    meanwhile (the rename never replaces; this writer's tree is removed). On
    any exception the temporary directory, and the parents this call created,
    are removed and an existing ``path`` is left untouched; a filesystem fault
    becomes a :class:`StorageError` naming ``path``, ``what`` and (for space)
    ``needed`` bytes when the caller knows them.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise OutputExistsError(
            "output exists; pass overwrite (CLI: --overwrite) to replace it", path=target
        )
    created: list[Path] = []
    tmp: Path | None = None
    try:
        created = make_parents(target.parent)
        tmp = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        )
        tmp.chmod(0o777 & ~_umask())
        yield tmp
        if overwrite:
            replace_directory(tmp, target)
        else:
            rename_noreplace(tmp, target)
            _fsync_dir(target.parent)
    except BaseException as exc:
        written = None
        if tmp is not None:
            written = _tree_size(tmp) if isinstance(exc, OSError) else None
            shutil.rmtree(tmp, ignore_errors=True)
        remove_created(created)
        if isinstance(exc, StorageError) and tmp is not None and exc.path is not None:
            raise _moved(exc, tmp, target, what) from None
        if isinstance(exc, OSError):
            fault = storage_error(exc, path=target, what=what, written=written, needed=needed)
            if fault is not None:
                raise fault from None
        raise


def _moved(exc: StorageError, tmp: Path, target: Path, what: str) -> StorageError:
    """``exc`` naming the published path and ``what`` instead of the (removed) temporary file."""
    assert exc.path is not None
    try:
        relative = exc.path.relative_to(tmp)
    except ValueError:
        return exc
    _, _, reason = exc.detail.partition(": ")
    return StorageError(f"cannot write {what} ({relative}): {reason}", path=target)


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


_AT_FDCWD = -100
_RENAME_NOREPLACE = 1


def _renameat2() -> object | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError):  # pragma: no cover - glibc < 2.28, musl
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


_RENAMEAT2 = _renameat2()


def rename_noreplace(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target`` unless ``target`` exists (then :class:`OutputExistsError`).

    Linux: one ``renameat2(RENAME_NOREPLACE)`` call, atomic against any other
    process. Elsewhere, or on a filesystem without it (``EINVAL``): the check
    and the rename run under an exclusive lock keyed by ``target``, which every
    writer through this library takes.
    """
    if _RENAMEAT2 is not None and _renameat2_call(source, target):
        return
    key = hashlib.sha1(str(target.absolute()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"repro-golden-publish-{key}.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            if os.path.lexists(target):
                raise _exists(target)
            os.rename(source, target)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _renameat2_call(source: Path, target: Path) -> bool:
    """True when renamed; False when this filesystem lacks RENAME_NOREPLACE."""
    assert callable(_RENAMEAT2)
    result = _RENAMEAT2(
        _AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(target), _RENAME_NOREPLACE
    )
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code == errno.EEXIST:
        raise _exists(target)
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(target))


def refuse_existing(target: Path, *, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` when ``target`` exists and ``overwrite`` is false.

    The up-front refusal every writer makes before any work (predict, the
    writers, the pipelines); the non-replacing publish makes it hold at publish
    time too.
    """
    if not overwrite and target.exists():
        raise OutputExistsError(
            "output exists; pass overwrite (CLI: --overwrite) to replace it", path=target
        )


def _exists(target: Path) -> OutputExistsError:
    return OutputExistsError(
        "output exists: another writer published it while this one was writing (its work "
        "was removed); pass overwrite (CLI: --overwrite) to replace it",
        path=target,
    )
