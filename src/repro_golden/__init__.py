"""repro-golden: prove that an inference pipeline still produces the embeddings it did before.

The names a test needs are here, so that no test imports a private module
path::

    from repro_golden import check, load_case, predict

    case = load_case("tests/golden_cases/dynaclr.yaml")
    result = predict(case, output=tmp_path / "embeddings.zarr")
    report = check(result.path, "golden/dynaclr", case=case.name)
    assert report.passed, report.render_terminal()

Importing this package is cheap on purpose: each name is imported when it is
first used (a module ``__getattr__``, PEP 562), so ``import repro_golden``
loads neither torch, Lightning, anndata nor numpy, and even the package's
version is looked up only when asked for (``importlib.metadata`` costs tens of
milliseconds, which every pytest start-up would pay through the plugin).
``predict`` imports torch when called; the checking side is torch-free.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the lazy names are, for type checkers and IDEs
    from repro_golden.api import (
        check_golden,
        compare_embeddings,
        recorded_tolerance,
        write_golden,
    )
    from repro_golden.api import check_golden as check
    from repro_golden.config.case import Case, PipelineKind
    from repro_golden.config.expand import UnsetVariableError
    from repro_golden.config.load import load_case
    from repro_golden.core.report import ComparisonReport
    from repro_golden.core.tolerance import ArrayTolerances, ToleranceOverride, ToleranceSpec
    from repro_golden.errors import (
        CheckpointError,
        ConfigError,
        DataError,
        EmbeddingsError,
        GoldenFileError,
        InputError,
        ReproGoldenError,
    )
    from repro_golden.inference.predict import PredictionResult, predict

#: Public name -> (module, attribute) it is imported from on first use.
_LAZY: dict[str, tuple[str, str]] = {
    "ArrayTolerances": ("repro_golden.core.tolerance", "ArrayTolerances"),
    "Case": ("repro_golden.config.case", "Case"),
    "CheckpointError": ("repro_golden.errors", "CheckpointError"),
    "ComparisonReport": ("repro_golden.core.report", "ComparisonReport"),
    "ConfigError": ("repro_golden.errors", "ConfigError"),
    "DataError": ("repro_golden.errors", "DataError"),
    "EmbeddingsError": ("repro_golden.errors", "EmbeddingsError"),
    "GoldenFileError": ("repro_golden.errors", "GoldenFileError"),
    "InputError": ("repro_golden.errors", "InputError"),
    "PipelineKind": ("repro_golden.config.case", "PipelineKind"),
    "PredictionResult": ("repro_golden.inference.predict", "PredictionResult"),
    "ReproGoldenError": ("repro_golden.errors", "ReproGoldenError"),
    "ToleranceOverride": ("repro_golden.core.tolerance", "ToleranceOverride"),
    "ToleranceSpec": ("repro_golden.core.tolerance", "ToleranceSpec"),
    "UnsetVariableError": ("repro_golden.config.expand", "UnsetVariableError"),
    "check": ("repro_golden.api", "check_golden"),
    "check_golden": ("repro_golden.api", "check_golden"),
    "compare_embeddings": ("repro_golden.api", "compare_embeddings"),
    "load_case": ("repro_golden.config.load", "load_case"),
    "predict": ("repro_golden.inference.predict", "predict"),
    "recorded_tolerance": ("repro_golden.api", "recorded_tolerance"),
    "write_golden": ("repro_golden.api", "write_golden"),
}

__all__ = [
    "ArrayTolerances",
    "Case",
    "CheckpointError",
    "ComparisonReport",
    "ConfigError",
    "DataError",
    "EmbeddingsError",
    "GoldenFileError",
    "InputError",
    "PipelineKind",
    "PredictionResult",
    "ReproGoldenError",
    "ToleranceOverride",
    "ToleranceSpec",
    "UnsetVariableError",
    "__version__",
    "check",
    "check_golden",
    "compare_embeddings",
    "load_case",
    "predict",
    "recorded_tolerance",
    "write_golden",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("repro-golden")
        except PackageNotFoundError:  # a source tree without install
            return "0+unknown"
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'repro_golden' has no attribute {name!r}")
    value = getattr(import_module(target[0]), target[1])
    globals()[name] = value  # the next access skips this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
