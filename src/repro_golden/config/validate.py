"""Shared readers for config values: every refusal names the file, the key and what was expected.

Case files, VisCy configs and their sections (``data``, ``model``, ``trainer``,
``numerics``) are checked with these few functions instead of a hand-written
block per key, so the same mistake reads the same everywhere. An unknown key
gets the closest known key as a hint: a typo must never fall back silently
to a default (``precison: 16-mixed`` running at 32-true).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from repro_golden.errors import ConfigError


def close_match_hint(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``known`` to ``name``, else ``""``."""
    match = difflib.get_close_matches(str(name), sorted(map(str, known)), n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def refuse_unknown(
    mapping: Mapping[str, Any],
    known: Iterable[str],
    *,
    source: str | Path | None,
    key: str | None = None,
    section: str | None = None,
) -> None:
    """Raise :class:`ConfigError` when ``mapping`` has keys outside ``known``.

    The error's key is ``key`` when given, else ``<section>.<first unknown key>``
    (or the bare key without a section); the message lists what is accepted and
    hints at the closest known name.
    """
    allowed = set(map(str, known))
    unknown = sorted(str(k) for k in mapping if str(k) not in allowed)
    if not unknown:
        return
    where = key if key is not None else (f"{section}.{unknown[0]}" if section else unknown[0])
    raise ConfigError(
        f"unknown key(s) {unknown}; expected some of {sorted(allowed)}"
        f"{close_match_hint(unknown[0], allowed)}",
        path=source,
        key=where,
    )


def require_mapping(value: Any, *, source: str | Path | None, key: str) -> Mapping[str, Any]:
    """``value`` when it is a mapping, else a :class:`ConfigError`."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"expected a mapping, found {type(value).__name__}", path=source, key=key)
    return value


def integer(value: Any, *, source: str | Path | None, key: str, minimum: int | None = None) -> int:
    """An ``int`` (never a ``bool``) of at least ``minimum``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or (minimum is not None and value < minimum)
    ):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ConfigError(f"expected an integer{bound}, found {value!r}", path=source, key=key)
    return value


def boolean(value: Any, *, source: str | Path | None, key: str) -> bool:
    """``true`` or ``false``, nothing else (no 0/1, no strings)."""
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, found {value!r}", path=source, key=key)
    return value


def integers(
    value: Any,
    *,
    source: str | Path | None,
    key: str,
    length: int | None = None,
    minimum: int | None = None,
) -> tuple[int, ...]:
    """A list of ``int`` (of ``length`` items when given), each at least ``minimum``."""
    if (
        isinstance(value, str | bytes)
        or not isinstance(value, Sequence)
        or (length is not None and len(value) != length)
        or any(
            isinstance(v, bool) or not isinstance(v, int) or (minimum is not None and v < minimum)
            for v in value
        )
    ):
        spelled = {2: "two", 3: "three"}.get(length or 0, str(length))
        count = "a list of integers" if length is None else f"{spelled} integers"
        bound = "" if minimum is None else f" >= {minimum}"
        raise ConfigError(f"expected {count}{bound}, found {value!r}", path=source, key=key)
    return tuple(value)


def names(value: Any, *, source: str | Path | None, key: str) -> tuple[str, ...]:
    """A list of strings (a bare string is refused: it is not a list of names)."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(f"expected a list of names, found {value!r}", path=source, key=key)
    if not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"expected a list of strings, found {list(value)!r}", path=source, key=key
        )
    return tuple(value)
