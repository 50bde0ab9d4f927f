"""The lab's inference checks INFER-01/02/03, parametrized over cases.

Cases come from ``--golden-case`` (default ``example`` and ``hpc``):

- example cases (``repro_golden.examples``) are generated, hash-verified, into a
  session temp dir and checked on CPU against ``golden/<case>/``;
- any other case is read from ``<case dir>/<case>.yaml`` (``tests/cases/hpc.yaml``
  for the cluster case), its paths from the environment or
  ``--golden-data-root``; the case skips, naming each missing path, where they
  are absent.

Prediction runs once per case per session (the ``prediction`` fixture is
session-scoped and keyed by the case), whatever number of tests use it.
``--golden-device gpu`` predicts on a GPU (``nox -s gpu_repro``); it skips with
the reason where no CUDA device is present.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from repro_golden.plugin.hooks import (
    GoldenSettings,
    cuda_unavailable_reason,
    golden_settings_of,
    skip_unless_cuda,
)

if TYPE_CHECKING:
    from repro_golden.config.case import Case
    from repro_golden.inference.predict import PredictionResult

#: The lab's shapes (issue INFER-01/02, DESIGN.md section 1): input patch, features, projections.
LAB_INPUT_SHAPE = (1, 1, 1, 160, 160)
LAB_FEATURES = 768
LAB_PROJECTIONS = 32
#: Rows of the cluster reference prediction (DESIGN.md section 1).
HPC_EXPECTED_ROWS = 39_170


@dataclass(frozen=True)
class PreparedCase:
    """A loaded case and where its expected results live."""

    name: str
    case: Case
    case_file: Path
    golden_dir: Path
    generated: bool

    @property
    def lab_shapes(self) -> bool:
        """Whether the lab's literal INFER-01/02 shapes apply (its own cases; ``hpc_modular``
        is the case ``hpc`` predicted by the lab's modular pipeline)."""
        return self.case.name in ("example", "hpc")

    @property
    def expected_rows(self) -> int | None:
        return HPC_EXPECTED_ROWS if self.case.name == "hpc" else None

    @property
    def lab_pipeline(self) -> bool:
        """Whether the lab's own code predicts (``pipeline: lightning``), not the builtin."""
        return self.case.lightning is not None


def _example_case_names() -> frozenset[str]:
    from repro_golden.examples.cases import CASES

    return frozenset(CASES)


_UNSET = re.compile(r"\$\{(\w+)\}")


def _unset_variables(case_file: Path) -> list[str]:
    """``${VAR}`` (no default) that are unset, in a case file and in a lightning case's config."""
    import yaml

    texts = [case_file.read_text(encoding="utf-8")]
    mapping = yaml.safe_load(texts[0]) or {}
    config = mapping.get("config")
    if isinstance(config, str):
        path = case_file.parent / re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", config)
        if not _UNSET.search(config) and path.is_file():
            texts.append(path.read_text(encoding="utf-8"))
    names = {m.group(1) for text in texts for m in _UNSET.finditer(text)}
    return sorted(name for name in names if name not in os.environ)


def _missing_inputs(case: Case) -> list[str]:
    paths = {
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


@pytest.fixture(scope="session")
def prepared_case(
    golden_case_name: str,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> PreparedCase:
    """The case under test, loaded once per session; skips when its inputs are absent."""
    from repro_golden.config.case import Case
    from repro_golden.errors import ConfigError

    settings = golden_settings_of(pytestconfig)
    name = golden_case_name
    if name in _example_case_names():
        from repro_golden.examples import generate_example

        case_file = generate_example(tmp_path_factory.mktemp(f"{name}-inputs"), case=name)
        return PreparedCase(name, Case.load(case_file), case_file, settings.golden_dir(name), True)
    found = settings.case_file(name)
    if found is None:
        dirs = ", ".join(str(d) for d in settings.case_dirs)
        pytest.fail(f"case {name!r}: no {name}.yaml in the case directories ({dirs})")
    with pytest.MonkeyPatch.context() as patch:
        for variable, value in settings.cluster.environ().items():
            patch.setenv(variable, value)
        unset = _unset_variables(found)
        for variable in unset:  # load anyway, to name the missing paths too
            patch.setenv(variable, "")
        try:
            case = Case.load(found)
        except ConfigError as exc:
            if not unset:
                raise
            case, problem = None, f"; {exc}"
        else:
            problem = ""
    missing = [f"environment variable {v} is not set" for v in unset]
    if case is None:
        pytest.skip(f"{name}: " + "; ".join(missing) + f"{problem} (case file {found})")
    missing += _missing_inputs(case)
    if missing:
        hint = ""
        if name == "hpc":
            hint = "; set REPRO_GOLDEN_HPC_CKPT, _DATA, _TRACKS, _REFERENCE or --golden-data-root"
            if settings.device == "gpu" and cuda_unavailable_reason(pytestconfig):
                hint += f"; gpu: {cuda_unavailable_reason(pytestconfig)}"
        pytest.skip(f"{name}: " + "; ".join(missing) + f" (case file {found}{hint})")
    # golden/<case name>: a case predicted by another pipeline shares the case's golden files.
    return PreparedCase(name, case, found, settings.golden_dir(case.name), False)


def _device(settings: GoldenSettings, config: pytest.Config) -> str | None:
    if settings.device == "gpu":
        skip_unless_cuda(config)
    return settings.device


@pytest.fixture(scope="session")
def prediction(
    prepared_case: PreparedCase,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> PredictionResult:
    """Embeddings of the case, predicted once per session on ``--golden-device``."""
    from repro_golden.inference.predict import predict

    device = _device(golden_settings_of(pytestconfig), pytestconfig)
    output = tmp_path_factory.mktemp(f"{prepared_case.name}-prediction") / "embeddings.zarr"
    return predict(prepared_case.case, output=output, device=device, progress=False)


def _read_adata(path: Path) -> Any:
    import warnings

    import anndata as ad

    with warnings.catch_warnings():
        # The lab's EmbeddingWriter repeats the obs index per batch ("0", "1", ... again).
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        return ad.read_zarr(path)


# INFER-01 ---------------------------------------------------------------------------------------


def test_infer01_checkpoint_loads_strictly_and_forward_shapes(
    prepared_case: PreparedCase,
) -> None:
    """The checkpoint loads with no missing or unexpected key; one forward pass has the shapes."""
    import torch

    from repro_golden.inference.model.checkpoint import load_checkpoint
    from repro_golden.inference.model.encoder import ContrastiveEncoder
    from repro_golden.inference.model.module import ContrastiveModule

    config = prepared_case.case.model
    module = ContrastiveModule(ContrastiveEncoder.from_config(config))
    loaded = load_checkpoint(module, prepared_case.case.checkpoint, strict=True)
    assert loaded.num_tensors == len(module.state_dict())
    assert all(key.startswith("model.") for key in module.state_dict())

    height, width = prepared_case.case.data.final_yx_patch_size
    shape = (1, config.in_channels, config.in_stack_depth, height, width)
    if prepared_case.lab_shapes:
        assert shape == LAB_INPUT_SHAPE
        assert (config.embedding_dim, config.projection_dim) == (LAB_FEATURES, LAB_PROJECTIONS)
    generator = torch.Generator().manual_seed(0)
    module.eval()
    with torch.inference_mode():
        features, projections = module(torch.randn(shape, generator=generator))
    assert tuple(features.shape) == (1, config.embedding_dim)
    assert tuple(projections.shape) == (1, config.projection_dim)
    assert features.dtype == projections.dtype == torch.float32
    assert bool(torch.isfinite(features).all())
    assert bool(torch.isfinite(projections).all())


def test_infer01_lab_module_loads_strictly(
    prepared_case: PreparedCase, prediction: PredictionResult
) -> None:
    """The lab's own LightningModule (``pipeline: lightning``): strict ``weights_only`` load,
    no missing, unexpected or shape-mismatched key, forward widths as configured."""
    if not prepared_case.lab_pipeline:
        pytest.skip(f"case {prepared_case.name} runs the builtin (its INFER-01 is above)")
    from repro_golden.inference.pipelines.base import Infer01Status

    outcome = prediction.infer01
    assert outcome is not None, "the lightning pipeline reported no INFER-01"
    assert outcome.status is Infer01Status.PASS, outcome.render()
    if prepared_case.lab_shapes:
        assert outcome.widths[:2] == (LAB_FEATURES, LAB_PROJECTIONS), outcome.render()


# INFER-02 ---------------------------------------------------------------------------------------


def test_infer02_predict_writes_anndata_zarr(
    prepared_case: PreparedCase, prediction: PredictionResult
) -> None:
    """``X`` is (N, 768) and ``obsm/X_projections`` (N, 32), one row per predicted cell."""
    import numpy as np

    from repro_golden.inference.data.datamodule import PlateDataModule

    adata = _read_adata(prediction.path)
    config = prepared_case.case.model
    rows = adata.n_obs
    assert rows == prediction.cells
    expected_rows = prepared_case.expected_rows
    if expected_rows is None:
        expected_rows = PlateDataModule(prepared_case.case.data).num_rows
    assert rows == expected_rows, (
        f"{rows} rows predicted; case {prepared_case.name} expects {expected_rows}"
    )
    assert adata.X.shape == (rows, config.embedding_dim)
    assert adata.obsm["X_projections"].shape == (rows, config.projection_dim)
    if prepared_case.lab_shapes:
        assert adata.X.shape[1] == LAB_FEATURES
        assert adata.obsm["X_projections"].shape[1] == LAB_PROJECTIONS
    assert adata.X.dtype == np.float32
    assert adata.obsm["X_projections"].dtype == np.float32
    if not prepared_case.lab_pipeline:  # the lab's writer repeats its index per batch
        assert adata.obs.index.is_unique
    for column in ("fov_name", "track_id", "t", "id", "parent_track_id", "parent_id"):
        assert column in adata.obs.columns, f"obs lacks {column!r}"
    assert not adata.obs["fov_name"].astype(str).str.startswith("/").any()


# INFER-03 ---------------------------------------------------------------------------------------


def test_infer03_embeddings_match_golden_files(
    prepared_case: PreparedCase, prediction: PredictionResult, golden_regression: Any
) -> None:
    """Digests equal the golden files in ``golden/<case>/``, or summaries (and the reference
    tensors, when the case has one) prove the difference within the case's tolerance.

    Row order is part of the golden index digests, so reordered ``fov_name``/``id`` fail here.
    """
    case = prepared_case.case
    golden_regression.check(
        prediction.path,
        golden_dir=prepared_case.golden_dir,
        tolerance=case.tolerance,
        reference=case.reference,
        case=case,
    )


def _requires_reference(prepared_case: PreparedCase) -> Path:
    if prepared_case.case.reference is None:
        pytest.skip(
            f"case {prepared_case.name} has no full reference zarr; its golden files in "
            f"{prepared_case.golden_dir} are checked by test_infer03_embeddings_match_golden_files"
        )
    return Path(prepared_case.case.reference)


def test_infer03_full_tensors_match_reference(
    prepared_case: PreparedCase, prediction: PredictionResult, embedding_regression: Any
) -> None:
    """Every value of X and projections is allclose to the reference within the case tolerance."""
    reference = _requires_reference(prepared_case)
    embedding_regression.check(
        prediction.path, reference=reference, tolerance=prepared_case.case.tolerance
    )


def test_infer03_golden_beside_reference(
    prepared_case: PreparedCase, prediction: PredictionResult, golden_regression: Any
) -> None:
    """The golden files stored next to the reference (``<reference>.golden``) agree too."""
    reference = _requires_reference(prepared_case)
    case = prepared_case.case
    golden_dir = Path(case.golden) if case.golden is not None else reference.with_suffix(".golden")
    golden_regression.check(
        prediction.path,
        golden_dir=golden_dir,
        tolerance=case.tolerance,
        reference=reference,
        case=case,
    )


def test_infer03_row_order_matches_reference(
    prepared_case: PreparedCase, prediction: PredictionResult
) -> None:
    """``obs["fov_name"]`` and ``obs["id"]`` are in the reference's order, row for row."""
    import numpy as np

    reference = _requires_reference(prepared_case)
    obtained = _read_adata(prediction.path).obs
    expected = _read_adata(reference).obs
    assert len(obtained) == len(expected), f"{len(obtained)} rows, reference has {len(expected)}"
    for column in ("fov_name", "id"):
        # VisCy writes fov_name with or without a leading slash; the name is what counts.
        got = obtained[column].astype(str).str.lstrip("/").to_numpy()
        want = expected[column].astype(str).str.lstrip("/").to_numpy()
        mismatch = np.flatnonzero(got != want)
        assert mismatch.size == 0, (
            f"obs[{column!r}] differs from the reference at {mismatch.size} rows, first at row "
            f"{mismatch[0]}: {got[mismatch[0]]!r} != {want[mismatch[0]]!r}"
        )


# GPU: run-to-run and GPU-vs-CPU (nox -s gpu_repro) ---------------------------------------------


def _cuda_device(pytestconfig: pytest.Config) -> str:
    device = golden_settings_of(pytestconfig).device
    if device != "gpu":
        pytest.skip("GPU comparisons run with --golden-device gpu (nox -s gpu_repro)")
    return device


def _write_reports(report: Any, directory: Path, stem: str) -> list[Path]:
    paths = [directory / f"{stem}.json", directory / f"{stem}.md"]
    directory.mkdir(parents=True, exist_ok=True)
    for path in paths:
        report.write(path)
    return paths


@pytest.mark.gpu
def test_gpu_run_to_run_identical(
    prepared_case: PreparedCase,
    prediction: PredictionResult,
    pytestconfig: pytest.Config,
    golden_report_dir: Path,
    tmp_path: Path,
    repro_note: Callable[[str], None],
) -> None:
    """Two GPU predictions of the case are bit-identical when the case asks for determinism."""
    from repro_golden.api import compare_embeddings
    from repro_golden.core.tolerance import ToleranceSpec
    from repro_golden.inference.predict import predict

    device = _cuda_device(pytestconfig)
    case = prepared_case.case
    second = predict(case, output=tmp_path / "second.zarr", device=device, progress=False)
    report = compare_embeddings(prediction.path, second.path, tolerance=ToleranceSpec())
    paths = _write_reports(report, golden_report_dir, f"{prepared_case.name}.gpu-run-to-run")
    verdict = "identical" if report.passed else "DIFFERENT"
    repro_note(f"{prepared_case.name}: GPU run-to-run on {device}: {verdict} (report {paths[1]})")
    if case.numerics.deterministic:
        assert report.passed, report.render_terminal(max_rows=20)


@pytest.mark.gpu
def test_gpu_vs_cpu_reported(
    prepared_case: PreparedCase,
    prediction: PredictionResult,
    pytestconfig: pytest.Config,
    golden_report_dir: Path,
    tmp_path: Path,
    repro_note: Callable[[str], None],
) -> None:
    """GPU and CPU embeddings of an example case, compared and reported (not asserted equal:
    different kernels round differently; the report measures by how much)."""
    from repro_golden.api import compare_embeddings
    from repro_golden.inference.predict import predict

    device = _cuda_device(pytestconfig)
    if not prepared_case.generated:
        pytest.skip(
            f"GPU-vs-CPU runs on example cases only (a CPU run of {prepared_case.name} "
            "is too slow to be useful)"
        )
    case = prepared_case.case
    cpu = predict(case, output=tmp_path / "cpu.zarr", device="cpu", progress=False)
    report = compare_embeddings(prediction.path, cpu.path, tolerance=case.tolerance)
    assert report.outcomes, "the GPU-vs-CPU comparison compared nothing"
    paths = _write_reports(report, golden_report_dir, f"{prepared_case.name}.gpu-vs-cpu")
    verdict = "within the case tolerance" if report.passed else "outside the case tolerance"
    repro_note(f"{prepared_case.name}: GPU ({device}) vs CPU: {verdict} (report {paths[1]})")
    repro_note(report.render_terminal(max_rows=5))
