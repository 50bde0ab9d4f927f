"""Where the cluster case's inputs are: one path per role, from the environment or a data root.

Nothing here knows the lab's own paths: a role's path comes from its
environment variable (``REPRO_GOLDEN_HPC_CKPT`` ...) or from ``<data root>/<file
name>``, where the data root is set by ``--golden-data-root``, ini
``golden_data_root`` or ``REPRO_GOLDEN_HPC_ROOT``. With neither, the role is
*not configured*, and a test that needs it skips saying how to configure it.
The lab's defaults live in its own case file (``tests/cases/hpc.yaml``, as
``${REPRO_GOLDEN_HPC_CKPT:-...}``), not in library code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

#: role -> (environment variable, file name under the data root)
CLUSTER_LAYOUT: Mapping[str, tuple[str, str]] = {
    "ckpt": ("REPRO_GOLDEN_HPC_CKPT", "model.ckpt"),
    "data": ("REPRO_GOLDEN_HPC_DATA", "plate.zarr"),
    "tracks": ("REPRO_GOLDEN_HPC_TRACKS", "tracks.zarr"),
    "reference": ("REPRO_GOLDEN_HPC_REFERENCE", "reference.zarr"),
}

ROLE_NAMES: Mapping[str, str] = {
    "ckpt": "checkpoint",
    "data": "image plate",
    "tracks": "tracks",
    "reference": "reference embeddings",
}

ROOT_ENV_VAR = "REPRO_GOLDEN_HPC_ROOT"


@dataclass(frozen=True)
class ClusterPath:
    """One cluster input: its role, where it is expected (``None``: not configured), and why."""

    role: str
    env_var: str
    path: Path | None
    origin: str

    def missing_reason(self) -> str | None:
        """``None`` when the path exists, else a sentence naming it and how to set it."""
        if self.path is None:
            return f"{self.role} is not configured (set {self.env_var} or --golden-data-root)"
        if self.path.exists():
            return None
        return (
            f"{self.role} {self.path} does not exist (from {self.origin}; "
            f"set {self.env_var} or --golden-data-root)"
        )


@dataclass(frozen=True)
class ClusterPaths:
    """The cluster case's inputs, resolved once per session.

    Each path comes from its environment variable when set, else from
    ``<data root>/<default name>`` when a data root is configured
    (``--golden-data-root``, ini ``golden_data_root``, ``REPRO_GOLDEN_HPC_ROOT``,
    in that order), else it is not configured.
    """

    root: Path | None
    paths: Mapping[str, ClusterPath]

    @classmethod
    def resolve(
        cls, root: Path | None, root_origin: str, environ: Mapping[str, str]
    ) -> ClusterPaths:
        paths: dict[str, ClusterPath] = {}
        for role, (env_var, name) in CLUSTER_LAYOUT.items():
            value = environ.get(env_var, "")
            path: Path | None
            if value:
                path, origin = Path(value).expanduser(), f"${env_var}"
            elif root is not None:
                path, origin = root / name, root_origin
            else:
                path, origin = None, "nothing"
            paths[role] = ClusterPath(ROLE_NAMES[role], env_var, path, origin)
        return cls(root=root, paths=paths)

    @property
    def configured(self) -> bool:
        """Whether anything points at cluster files (a root or any role's variable)."""
        return self.root is not None or any(p.path is not None for p in self.paths.values())

    def environ(self) -> dict[str, str]:
        """Variables a case file can expand (``${REPRO_GOLDEN_HPC_CKPT}`` ...), configured only."""
        env = {} if self.root is None else {ROOT_ENV_VAR: str(self.root)}
        env.update({p.env_var: str(p.path) for p in self.paths.values() if p.path is not None})
        return env

    def missing(self, roles: Sequence[str] | None = None) -> list[str]:
        """Reasons for each missing path among ``roles`` (all when ``None``)."""
        selected = list(self.paths) if roles is None else list(roles)
        unknown = sorted(set(selected) - set(self.paths))
        if unknown:
            raise pytest.UsageError(
                f"hpc marker: unknown cluster path roles {unknown}; expected some of "
                f"{sorted(self.paths)}"
            )
        reasons = (self.paths[role].missing_reason() for role in selected)
        return [reason for reason in reasons if reason is not None]
