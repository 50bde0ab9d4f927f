"""Reading a case file (schema ``repro-golden/case/1``) into a :class:`~.case.Case`.

Kept apart from :mod:`repro_golden.config.case` (the value types) so that the
VisCy / LightningCLI reader, which a lightning case file uses to derive what its
config implies, can import those types without an import circle:
``case`` <- ``viscy_config`` <- ``case_file`` <- ``load``. Callers load files
through :func:`repro_golden.config.load.load_case`, the one loader.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_golden.config import validate
from repro_golden.config.case import (
    SCHEMA,
    Case,
    LightningSpec,
    PipelineKind,
    TrainerSettings,
    read_yaml_mapping,
)
from repro_golden.config.data import DataConfig
from repro_golden.config.expand import expand_tree
from repro_golden.config.model import ModelConfig
from repro_golden.config.numerics import NumericalMode
from repro_golden.config.viscy_config import case_from_viscy
from repro_golden.core.atomic import safe_component
from repro_golden.core.oracle_format import DEFAULT_SAMPLE
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import ConfigError

_TOP_LEVEL = frozenset(
    {
        "schema",
        "name",
        "model",
        "data",
        "trainer",
        "numerics",
        "checkpoint",
        "output",
        "reference",
        "golden",
        "tolerance",
        "pipeline",
        "config",
        "python",
        "preimport",
        "env",
        "oracle",
    }
)

#: What only a lightning case may set.
_LIGHTNING_ONLY = ("config", "python", "preimport", "env")
_ENV_NAME = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]*\Z")
#: What a ``lightning`` case may leave out: its LightningCLI config says it.
_FROM_CONFIG = ("model", "data", "checkpoint")


def case_from_mapping(mapping: Mapping[str, Any], *, base_dir: Path, source: Path) -> Case:
    """Build from a parsed case mapping; relative paths resolve against ``base_dir``.

    ``${VAR}`` references are expanded in every key first; an unset one
    without default is an :class:`~repro_golden.config.expand.UnsetVariableError`
    naming all of them.
    """
    as_written = mapping
    schema = mapping.get("schema")
    if schema != SCHEMA:
        raise ConfigError(f"expected {SCHEMA!r}, got {schema!r}", path=source, key="schema")
    validate.refuse_unknown(mapping, _TOP_LEVEL, source=source)
    mapping = expand_tree(mapping, source=source)
    pipeline = PipelineKind.parse(mapping.get("pipeline", "builtin"), source=source)
    lightning = derived = None
    if pipeline is PipelineKind.LIGHTNING:
        lightning, derived = _lightning(mapping, base_dir=base_dir, source=source)
    elif any(mapping.get(k) is not None for k in _LIGHTNING_ONLY):
        raise ConfigError(
            "config/python/preimport/env belong to a lightning case; add `pipeline: lightning`",
            path=source,
            key="pipeline",
        )
    for required in ("name", "model", "data", "checkpoint"):
        if mapping.get(required) is None and not (derived and required in _FROM_CONFIG):
            raise ConfigError("required key is missing", path=source, key=required)
    name = mapping["name"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"expected a non-empty string, got {name!r}", path=source, key="name")
    safe_component(name, what="case name", path=source, key="name")  # names golden/<case>/
    trainer, trainer_precision = TrainerSettings.from_mapping(mapping.get("trainer"), source=source)
    numerics_raw = mapping.get("numerics") or {}
    if not isinstance(numerics_raw, Mapping):
        raise ConfigError(
            f"expected a mapping, got {type(numerics_raw).__name__}",
            path=source,
            key="numerics",
        )
    numerics_map = dict(numerics_raw)
    if trainer_precision is not None:
        given = numerics_map.get("precision")
        if given is not None and str(given) != trainer_precision:
            raise ConfigError(
                f"trainer.precision {trainer_precision!r} contradicts numerics.precision {given!r}",
                path=source,
                key="trainer.precision",
            )
        numerics_map["precision"] = trainer_precision
    if derived is not None and mapping.get("numerics") is None and trainer_precision is None:
        numerics = derived.numerics
    else:
        numerics = NumericalMode.from_mapping(numerics_map, source=source)
    output = _optional_path(mapping.get("output"), "output", base_dir, source)
    return Case(
        name=name,
        model=derived.model
        if derived is not None and mapping.get("model") is None
        else ModelConfig.from_mapping(mapping["model"], source=source),
        data=derived.data
        if derived is not None and mapping.get("data") is None
        else DataConfig.from_mapping(
            mapping["data"], base_dir=base_dir, source=source, expand=False
        ),
        trainer=derived.trainer
        if derived is not None and mapping.get("trainer") is None
        else trainer,
        numerics=numerics,
        checkpoint=derived.checkpoint
        if derived is not None and mapping.get("checkpoint") is None
        else _path(mapping["checkpoint"], "checkpoint", base_dir, source),
        output=derived.output if derived is not None and output is None else output,
        reference=_optional_path(mapping.get("reference"), "reference", base_dir, source),
        golden=_optional_path(mapping.get("golden"), "golden", base_dir, source),
        tolerance=ToleranceSpec.from_mapping(mapping.get("tolerance"), source=source),
        source=source,
        config=dict(as_written),
        pipeline=pipeline,
        lightning=lightning,
        oracle=_oracle(mapping.get("oracle"), source=source),
    )


def _lightning(
    mapping: Mapping[str, Any], *, base_dir: Path, source: Path
) -> tuple[LightningSpec, Case]:
    """The lightning spec of a case, and what its config implies (model, data, output...)."""
    if mapping.get("config") is None:
        raise ConfigError(
            "a lightning case names its LightningCLI predict config", path=source, key="config"
        )
    config = _path(mapping["config"], "config", base_dir, source)
    python = mapping.get("python")
    if python is not None:
        if not isinstance(python, str) or not python:
            raise ConfigError(
                f"expected an interpreter path, got {python!r}", path=source, key="python"
            )
        if os.sep in python:  # a bare name is looked up on PATH, as a shell would
            python = os.fspath(_path(python, "python", base_dir, source))
    preimport = mapping.get("preimport") or []
    if not isinstance(preimport, list) or not all(isinstance(m, str) for m in preimport):
        raise ConfigError(
            f"expected a list of module names, got {preimport!r}", path=source, key="preimport"
        )
    spec = LightningSpec(
        config=config,
        python=python,
        cwd=base_dir,
        preimport=tuple(preimport),
        env=_environment(mapping.get("env"), base_dir=base_dir, source=source),
    )
    derived = case_from_viscy(
        read_yaml_mapping(config), source=config, base_dir=base_dir, any_classes=True
    )
    return spec, derived


def _environment(value: Any, *, base_dir: Path, source: Path) -> tuple[tuple[str, str], ...]:
    """The case's ``env:`` as (name, value) pairs, relative paths resolved.

    A relative path is resolved against the case file's directory wherever a
    path is certain: in every entry of a variable whose name ends in ``PATH``
    (``PYTHONPATH``, ``LD_LIBRARY_PATH``; entries split on ``os.pathsep``), and
    in any other value that starts with ``./`` or ``../``. Other values are
    passed as written (after ``${VAR}`` expansion). Numbers and booleans are
    written as YAML would print them, since the environment holds only text.
    """
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"expected a mapping of variable names to values, got {value!r}",
            path=source,
            key="env",
        )
    pairs: list[tuple[str, str]] = []
    for name, raw in value.items():
        key = f"env.{name}"
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ConfigError(
                "expected a variable name (letters, digits, _; not starting with a digit)",
                path=source,
                key=key,
            )
        if isinstance(raw, bool):
            text = "true" if raw else "false"
        elif isinstance(raw, int | float | str):
            text = str(raw)
        else:
            raise ConfigError(f"expected a string, got {raw!r}", path=source, key=key)
        if name.endswith("PATH"):
            text = os.pathsep.join(
                os.fspath(base_dir / part) if part and not os.path.isabs(part) else part
                for part in text.split(os.pathsep)
            )
        elif text.startswith(("./", "../")):
            text = os.fspath(base_dir / text)
        pairs.append((name, text))
    return tuple(pairs)


def _path(value: Any, key: str, base_dir: Path, source: Path) -> Path:
    """``value`` (expanded already) as a path; a relative one is taken from ``base_dir``."""
    if not isinstance(value, str | os.PathLike):
        raise ConfigError(f"expected a path, got {value!r}", path=source, key=key)
    path = Path(value)
    return path if path.is_absolute() else base_dir / path


def _optional_path(value: Any, key: str, base_dir: Path, source: Path) -> Path | None:
    return None if value is None else _path(value, key, base_dir, source)


def _oracle(value: Any, *, source: Path) -> int | None:
    """The case's ``oracle:``: ``true`` (the default sample), a number of cells, or off."""
    if value is None or value is False:
        return None
    if value is True:
        return DEFAULT_SAMPLE
    if isinstance(value, int) and value >= 1:
        return value
    raise ConfigError(
        f"expected true, false or a number of cells >= 1, got {value!r}",
        path=source,
        key="oracle",
    )
