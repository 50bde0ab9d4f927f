"""The one case loader: a case file, a VisCy predict config or a LightningCLI config -> a Case.

Every shell (the CLI's ``predict``, ``calibrate``, the pytest plugin's
collected case files and fixtures) loads through :func:`load_case`, so a
file means the same thing wherever it is given: the kind is told by content
(a ``schema:`` key makes a case file; ``model.class_path`` makes a
LightningCLI config), ``${VAR}`` references are expanded once before
anything is validated, and the command-line overrides (``--pipeline``,
``--python``, ``--preimport``) either apply or are refused with the reason,
never ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

from repro_golden.config.case import Case, LightningSpec, PipelineKind, read_yaml_mapping
from repro_golden.config.case_file import case_from_mapping
from repro_golden.config.viscy_config import case_from_viscy, is_viscy_config
from repro_golden.errors import ConfigError


def load_case(
    path: str | Path,
    *,
    pipeline: str | PipelineKind | None = None,
    python: str | None = None,
    preimport: Iterable[str] = (),
) -> Case:
    """The case ``path`` describes, with the caller's overrides applied.

    - A case file (``schema: repro-golden/case/1``): paths relative to the
      file. ``pipeline`` must agree with the file's; ``python`` and
      ``preimport`` replace the file's for a lightning case and are refused
      for a builtin one (it runs in this interpreter and imports nothing).
    - A LightningCLI config: paths relative to the current directory, as
      LightningCLI resolves them. ``pipeline='lightning'`` runs it with the
      config's own classes in ``python``; otherwise it is read as a VisCy
      0.4.1 config and predicted by the builtin oracle, and ``python`` or
      ``preimport`` are refused.

    Raises :class:`ConfigError` (an :class:`~repro_golden.config.expand.UnsetVariableError`
    for unset variables) naming the file and key.
    """
    source = Path(path)
    kind = None if pipeline is None else PipelineKind.parse(pipeline)
    modules = tuple(preimport)
    mapping = read_yaml_mapping(source, what="case file or config")
    if not is_viscy_config(mapping):
        case = case_from_mapping(mapping, base_dir=source.resolve().parent, source=source)
        if kind is not None and kind is not case.pipeline:
            raise ConfigError(
                f"--pipeline {kind.value} contradicts the case's pipeline {case.pipeline.value!r}",
                path=source,
                key="pipeline",
            )
        if case.lightning is None:
            if python or modules:
                raise ConfigError(
                    "--python/--preimport apply to a lightning case only; this case runs the "
                    "builtin pipeline in this interpreter",
                    path=source,
                    key="pipeline",
                )
            return case
        spec = case.lightning
        if python:
            spec = dataclasses.replace(spec, python=python)
        if modules:
            spec = dataclasses.replace(spec, preimport=modules)
        return dataclasses.replace(case, lightning=spec)
    if kind is not PipelineKind.LIGHTNING:
        if python or modules:
            raise ConfigError(
                "--python/--preimport need --pipeline lightning", path=source, key="pipeline"
            )
        return case_from_viscy(mapping, source=source, base_dir=Path.cwd())
    case = case_from_viscy(mapping, source=source, base_dir=Path.cwd(), any_classes=True)
    spec = LightningSpec(config=source.resolve(), python=python, cwd=Path.cwd(), preimport=modules)
    return dataclasses.replace(case, pipeline=PipelineKind.LIGHTNING, lightning=spec)
