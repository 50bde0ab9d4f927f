"""Code provenance: per class that ran, its module, file, distribution, version and git state.

Collected on a thread while INFER-01 and the prediction run (metadata scans and
git calls take seconds in a big environment); it never decides the verdict.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .classes import import_class


@functools.lru_cache(maxsize=1)
def _packages() -> Mapping[str, list[str]]:
    """Top-level module -> distributions (one scan of the environment: ~0.5 s in a big one)."""
    from importlib import metadata

    return metadata.packages_distributions()


def _distribution_of(module_name: str) -> tuple[str | None, str | None]:
    from importlib import metadata

    top = module_name.split(".", 1)[0]
    names = _packages().get(top) or []
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            continue
    return None, None


def _git_state(path: Path) -> dict[str, Any] | None:
    import subprocess

    directory = path.parent
    try:
        top = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if top.returncode != 0:
        return None
    root, commit = top.stdout.split()[:2]
    tracked = subprocess.run(
        ["git", "-C", root, "ls-files", "--error-unmatch", str(path)],
        capture_output=True,
        timeout=10,
        check=False,
    )
    if tracked.returncode != 0:  # an installed copy inside some checkout: not its source
        return None
    status = subprocess.run(
        ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return {"root": root, "commit": commit, "dirty": bool(status.stdout.strip())}


def code_provenance(paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per class: its module, file, distribution and version, git commit and dirty flag."""
    import inspect

    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        if path in found or "." not in path:
            continue
        obj = import_class(path)
        module_name = getattr(obj, "__module__", path.rpartition(".")[0])
        try:
            source = inspect.getsourcefile(obj)
        except TypeError:
            source = None
        distribution, version = _distribution_of(module_name)
        found[path] = {
            "module": module_name,
            "file": source,
            "distribution": distribution,
            "version": version,
            "git": None if source is None else _git_state(Path(source)),
        }
    return found
