"""A case: one run described by a YAML file (schema ``repro-golden/case/1``), as values.

A case names the model architecture, the data, the trainer settings, the
numerical mode, the checkpoint, where the output goes and what it is compared
with. Paths are relative to the case file's directory, and ``${VAR}`` /
``${VAR:-default}`` in them is expanded from the environment, so cluster paths
live in the environment, never in test files. YAML is read with
``yaml.safe_load`` only. Loading a case imports neither torch nor the data
readers' heavy dependencies.

This module holds the value types; reading a case file is
:func:`repro_golden.config.case_file.case_from_mapping`, and every file is loaded
through :func:`repro_golden.config.load.load_case`, the one loader.

Every string is expanded before any key is validated (``config/expand.py``), so
``accelerator: ${ACCEL:-cpu}`` is judged as ``cpu``; :meth:`Case.to_dict` keeps
the file as written (references unexpanded), for provenance. A lightning case
may carry ``env:``, variables for the pipeline's interpreter (``PYTHONPATH``
to a preimport module beside the case, say).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from repro_golden.config import validate
from repro_golden.config.data import DataConfig
from repro_golden.config.model import ModelConfig
from repro_golden.config.numerics import NumericalMode
from repro_golden.core.jsonable import json_ready
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import ConfigError

SCHEMA = "repro-golden/case/1"
ACCELERATORS = ("cpu", "gpu", "cuda", "mps", "auto")


class PipelineKind(Enum):
    """Which pipeline a case runs: this library's oracle or the lab's LightningCLI config."""

    BUILTIN = "builtin"
    LIGHTNING = "lightning"

    @classmethod
    def parse(
        cls, value: Any, *, source: str | Path | None = None, key: str = "pipeline"
    ) -> PipelineKind:
        """The kind named ``value``; :class:`ConfigError` naming the choices otherwise."""
        for kind in cls:
            if value is kind or value == kind.value:
                return kind
        raise ConfigError(
            f"expected one of {[k.value for k in cls]}, got {value!r}", path=source, key=key
        )


@dataclass(frozen=True)
class LightningSpec:
    """What the ``lightning`` pipeline runs: a config, in an interpreter, from a directory.

    ``python`` is the interpreter (None: this one); ``cwd`` is the directory the
    config's relative paths resolve against, as LightningCLI resolves them
    against the current directory (a case's own directory for a case file);
    ``preimport`` lists modules imported before the config's classes, as the
    lab's own entry point does (VisCy 0.4.1 needs ``viscy.cli`` first: its
    embedding writer has a circular import otherwise); ``env`` holds variables
    set for that interpreter on top of this process's environment (the case's
    ``env:``, paths already resolved against the case file's directory).
    """

    config: Path
    python: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    preimport: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, for provenance."""
        return {
            "config": str(self.config),
            "python": self.python,
            "cwd": str(self.cwd),
            "preimport": list(self.preimport),
            "env": dict(self.env),
        }


@dataclass(frozen=True)
class TrainerSettings:
    """The Lightning ``Trainer`` settings a case controls (precision lives in numerics)."""

    accelerator: str = "cpu"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = 1

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any] | None, *, source: Path | None
    ) -> tuple[TrainerSettings, str | None]:
        """Settings plus the ``precision`` found in the section (None when absent)."""
        if mapping is None:
            return cls(), None
        if not isinstance(mapping, Mapping):
            raise ConfigError(
                f"expected a mapping, got {type(mapping).__name__}", path=source, key="trainer"
            )
        known = {"accelerator", "devices", "strategy", "num_nodes", "precision"}
        validate.refuse_unknown(mapping, known, source=source, key="trainer")
        accelerator = mapping.get("accelerator", "cpu")
        if accelerator not in ACCELERATORS:
            raise ConfigError(
                f"expected one of {list(ACCELERATORS)}, got {accelerator!r}",
                path=source,
                key="trainer.accelerator",
            )
        devices = mapping.get("devices", 1)
        if not (
            devices == "auto"
            or (isinstance(devices, int) and not isinstance(devices, bool) and devices >= 1)
        ):
            raise ConfigError(
                f"expected an integer >= 1 or 'auto', got {devices!r}",
                path=source,
                key="trainer.devices",
            )
        strategy = mapping.get("strategy", "auto")
        if not isinstance(strategy, str):
            raise ConfigError(
                f"expected a strategy name, got {strategy!r}", path=source, key="trainer.strategy"
            )
        num_nodes = validate.integer(
            mapping.get("num_nodes", 1), source=source, key="trainer.num_nodes", minimum=1
        )
        precision = mapping.get("precision")
        return (
            cls(accelerator=accelerator, devices=devices, strategy=strategy, num_nodes=num_nodes),
            None if precision is None else str(precision),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "accelerator": self.accelerator,
            "devices": self.devices,
            "strategy": self.strategy,
            "num_nodes": self.num_nodes,
        }


@dataclass(frozen=True)
class Case:
    """One run: what to load, how to compute, where to write, what to compare with."""

    name: str
    model: ModelConfig
    data: DataConfig
    trainer: TrainerSettings
    numerics: NumericalMode
    checkpoint: Path
    output: Path | None
    reference: Path | None = None
    golden: Path | None = None
    tolerance: ToleranceSpec = field(default_factory=ToleranceSpec)
    source: Path | None = field(default=None, compare=False)
    config: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    pipeline: PipelineKind = PipelineKind.BUILTIN
    lightning: LightningSpec | None = None
    oracle: int | None = None
    """Cells in the oracle section its golden files carry (``oracle:`` in the case file:
    ``true`` for the default sample, or a number); ``None``: no oracle section."""

    def to_dict(self) -> dict[str, Any]:
        """The case as given (its mapping, unexpanded), JSON-ready, for provenance."""
        return json_ready(self.config)


def read_yaml_mapping(source: Path, *, what: str = "config") -> Mapping[str, Any]:
    """The top-level mapping of a YAML file, loaded safely (no tags that run code).

    Every failure (unreadable file, invalid YAML, a Python tag, a top level
    that is not a mapping) is a :class:`ConfigError` naming ``source``.
    """
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror or exc}", path=source) from exc
    try:
        mapping = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", path=source) from exc
    if not isinstance(mapping, Mapping):
        raise ConfigError("expected a YAML mapping at the top level", path=source)
    return mapping
