"""``${VAR}`` and ``${VAR:-default}`` in case files and LightningCLI configs, expanded once.

Cluster paths, the lab's interpreter and switches such as the accelerator
live in the environment, never in test files. Every string of a case file or
of a LightningCLI predict config is expanded *before* it is validated, so
``accelerator: ${DYNACLR_REPRO_ACCELERATOR:-cpu}`` is judged as ``cpu``, not
refused as an unknown accelerator named ``${...}``.

Typing follows the text the lightning pipeline hands LightningCLI (it expands
the config file as text, then YAML reads it): a value that is *exactly* one
reference and expands to a YAML integer, float, boolean or null takes that
type (``devices: ${NDEV:-1}`` is the integer 1); anything else stays a string.

An unset variable without a default is an :class:`UnsetVariableError` that
names every such variable of the file at once (with the first key it appears
in), so a skip or an error message can list them all instead of one per try.
Expansion is not recursive: a variable's value is used as it is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from repro_golden.errors import ConfigError

#: ``${NAME}`` or ``${NAME:-default}``; the default may be empty and holds no ``}``.
REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_WHOLE = re.compile(r"\A\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}\Z")
_INTEGER = re.compile(r"\A[-+]?(?:0|[1-9][0-9]*)\Z")
_FLOAT = re.compile(
    r"\A[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z|\A[-+]?[0-9]+[eE][-+]?[0-9]+\Z"
)
_LITERALS: dict[str, bool | None] = {
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    "null": None,
    "Null": None,
    "NULL": None,
    "~": None,
}


class UnsetVariableError(ConfigError):
    """Environment variables a file needs (``${VAR}``, no default) that are not set.

    ``names`` lists each of them once, sorted; a pytest skip names them all.
    """

    def __init__(self, names: list[str], *, path: str | Path | None, key: str | None) -> None:
        self.names = tuple(sorted(set(names)))
        listed = ", ".join(self.names)
        noun = "variable" if len(self.names) == 1 else "variables"
        verb = "is" if len(self.names) == 1 else "are"
        super().__init__(
            f"environment {noun} {listed} {verb} not set "
            f"(write ${{{self.names[0]}:-default}} for a default)",
            path=path,
            key=key,
        )


def expand_string(
    value: str,
    *,
    source: str | Path | None,
    key: str | None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``value`` with every reference replaced; an unset one without default raises."""
    env = os.environ if environ is None else environ
    unset: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        unset.append(name)
        return match.group(0)

    expanded = REFERENCE.sub(replace, value)
    if unset:
        raise UnsetVariableError(unset, path=source, key=key)
    return expanded


def _typed(original: str, expanded: str) -> Any:
    """The YAML scalar ``expanded`` stands for when ``original`` is one whole reference."""
    if not _WHOLE.match(original):
        return expanded
    if expanded in _LITERALS:
        return _LITERALS[expanded]
    if _INTEGER.match(expanded):
        return int(expanded)
    if _FLOAT.match(expanded):
        return float(expanded)
    return expanded


def _walk(value: Any, key: str) -> Iterator[tuple[str, str]]:
    """(key, string) for every string in a parsed YAML tree, keys included in dotted form."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, Mapping):
        for child_key, child in value.items():
            yield from _walk(child, f"{key}.{child_key}" if key else str(child_key))
    elif isinstance(value, list | tuple):
        for position, child in enumerate(value):
            yield from _walk(child, f"{key}[{position}]")


def unset_variables(value: Any, environ: Mapping[str, str] | None = None) -> list[str]:
    """Variables referenced without default in ``value``'s strings that are not set, sorted."""
    env = os.environ if environ is None else environ
    names = {
        match.group(1)
        for _, text in _walk(value, "")
        for match in REFERENCE.finditer(text)
        if match.group(2) is None and match.group(1) not in env
    }
    return sorted(names)


def expand_tree(
    value: Any,
    *,
    source: str | Path | None,
    key: str = "",
    environ: Mapping[str, str] | None = None,
) -> Any:
    """A copy of a parsed YAML tree with every string expanded (see the module docs).

    Raises :class:`UnsetVariableError` naming every unset variable of the tree
    and the first key that needs one.
    """
    env = os.environ if environ is None else environ
    missing = unset_variables(value, env)
    if missing:
        first = next(
            k
            for k, text in _walk(value, key)
            if any(m.group(1) in missing and m.group(2) is None for m in REFERENCE.finditer(text))
        )
        raise UnsetVariableError(missing, path=source, key=first or None)
    return _expand(value, env)


def _expand(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        if "${" not in value:
            return value
        return _typed(value, expand_string(value, source=None, key=None, environ=env))
    if isinstance(value, Mapping):
        return {k: _expand(v, env) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_expand(v, env) for v in value]
    return value
