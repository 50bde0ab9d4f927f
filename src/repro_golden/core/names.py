"""Names every layer agrees on: the manifest's file name, the columns that key a row,
and the rule for names that become folders.

It imports only ``re`` and the error types, so the pytest plugin uses it at
start-up for free; everything that writes, reads or finds golden files, builds
or reads the index rows, or turns a name into a folder, takes it from here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from repro_golden.errors import ConfigError

if TYPE_CHECKING:
    from pathlib import Path

MANIFEST = "golden.json"
"""File name of a golden set's manifest: its presence marks a golden directory."""

INDEX_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "track_id",
    "t",
    "id",
    "parent_track_id",
    "parent_id",
    "z",
    "y",
    "x",
)
"""VisCy's index columns, in its order and in digest order; ``z`` only when the tracks have it.

Columns absent from a store's ``obs`` are skipped (``z`` for 2D tracks).
"""

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
