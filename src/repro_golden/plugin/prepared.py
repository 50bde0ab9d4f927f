"""A case file made ready for INFER-01..03: loaded once per session, or the reasons it cannot run.

Shared by the collected case files (:mod:`repro_golden.plugin.collect`) and the
``golden_case`` fixture. A case whose inputs are absent skips, and the skip
names *every* reason at once: each unset environment variable (in the case
file and in the LightningCLI config it names), each missing path (checkpoint,
plate, tracks, reference, predict config, the pipeline's interpreter), and an
absent CUDA device when the case or ``--golden-device gpu`` asks for one. To
name missing paths even when variables are unset, the case is loaded a second
time with those variables empty.

Imported only when a case file is collected or the fixture is used: it loads
the case (yaml) but never torch, except to ask whether CUDA is there.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from repro_golden.config.case import read_yaml_mapping
from repro_golden.config.expand import expand_string, unset_variables
from repro_golden.errors import ConfigError

if TYPE_CHECKING:
    from repro_golden.config.case import Case

_PREPARED = pytest.StashKey[dict[Path, "PreparedCase | str"]]()
_GPU_ACCELERATORS = ("gpu", "cuda")


@dataclass(frozen=True)
class PreparedCase:
    """A loaded case, where its golden files live, and the device it predicts on."""

    case: Case
    case_file: Path
    golden_dir: Path
    device: str | None

    @property
    def name(self) -> str:
        """The case's name (``golden/<name>``); two files may name one case (two pipelines)."""
        return self.case.name


def _unset_in_files(case_file: Path, environ: Mapping[str, str]) -> list[str]:
    """Unset variables (no default) of the case file and of the config a lightning case names."""
    mapping = read_yaml_mapping(case_file, what="case file")
    names = set(unset_variables(mapping, environ))
    config = mapping.get("config")
    if isinstance(config, str):
        blank = {**environ, **{name: "" for name in unset_variables(config, environ)}}
        path = Path(expand_string(config, source=case_file, key="config", environ=blank))
        path = path if path.is_absolute() else case_file.resolve().parent / path
        if path.is_file():
            with contextlib.suppress(ConfigError):  # an unreadable config: the load says so
                names |= set(unset_variables(read_yaml_mapping(path), environ))
    return sorted(names)


def _missing_inputs(case: Case) -> list[str]:
    paths: dict[str, Path] = {
        "checkpoint": Path(case.checkpoint),
        "image plate": Path(case.data.data_path),
        "tracks": Path(case.data.tracks_path),
    }
    if case.reference is not None:
        paths["reference embeddings"] = Path(case.reference)
    if case.lightning is not None:
        paths["predict config"] = case.lightning.config
        if case.lightning.python is not None and os.sep in case.lightning.python:
            paths["pipeline interpreter"] = Path(case.lightning.python)
    return [f"{role} {path} does not exist" for role, path in paths.items() if not path.exists()]


def _device(case: Case, requested: str | None) -> str | None:
    """The device a prediction runs on: ``--golden-device``, else the case's accelerator."""
    if requested is not None:
        return requested
    return "gpu" if case.trainer.accelerator in _GPU_ACCELERATORS else None


def prepare_case(config: pytest.Config, case_file: Path) -> PreparedCase:
    """The case of ``case_file``, once per session; skips the caller naming every reason."""
    store = config.stash.setdefault(_PREPARED, {})
    key = case_file.resolve()
    if key not in store:
        store[key] = _prepare(config, case_file)
    found = store[key]
    if isinstance(found, str):
        # Reported at the case file (as a skipif mark is), not at this line of the plugin.
        raise pytest.skip.Exception(found, _use_item_location=True)
    return found


def _prepare(config: pytest.Config, case_file: Path) -> PreparedCase | str:
    """The prepared case, or the skip message naming every reason it cannot run."""
    from repro_golden.config.load import load_case
    from repro_golden.plugin.session_state import cuda_unavailable_reason, golden_settings_of

    settings = golden_settings_of(config)
    environ = {**os.environ, **settings.cluster.environ()}
    unset = _unset_in_files(case_file, environ)
    problem = ""
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in settings.cluster.environ().items():
            patch.setenv(variable, value)
        for variable in unset:  # load anyway, to name the missing paths too
            patch.setenv(variable, "")
        try:
            case: Case | None = load_case(case_file)
        except ConfigError as exc:
            if not unset:
                raise
            case, problem = None, f"; {exc}"
    reasons = [f"environment variable {name} is not set" for name in unset]
    if case is None:
        return f"{case_file.stem}: " + "; ".join(reasons) + f"{problem} (case file {case_file})"
    reasons += _missing_inputs(case)
    device = _device(case, settings.device)
    runs_here = case.lightning is None or case.lightning.python is None
    if device == "gpu" and runs_here:
        cuda = cuda_unavailable_reason(config)
        if cuda is not None:
            reasons.append(f"gpu: {cuda}")
    if reasons:
        return f"{case.name}: " + "; ".join(reasons) + f" (case file {case_file})"
    return PreparedCase(
        case=case,
        case_file=case_file,
        golden_dir=settings.golden_dir(case.name),
        device=settings.device,
    )
