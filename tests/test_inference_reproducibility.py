"""The lab's inference checks INFER-01/02/03, parametrized over cases.

Cases come from ``--golden-case`` (default ``example`` and ``hpc``):

- example cases (``repro_golden.examples``) are generated, hash-verified, into a
  session temp dir and checked on CPU against ``golden/<case>/``;
- any other case is read from ``<case dir>/<case>.yaml`` (``tests/cases/hpc.yaml``
  for the cluster case), its paths from the environment or
  ``--golden-data-root``; the case skips, naming each missing path, where they
  are absent.

These tests use the plugin's collected-case mechanism (what a lab gets from a
case file under ``golden_case_paths``): the case is prepared by
:func:`repro_golden.plugin.prepared.prepare_case` (loaded once per session; the
skip names every unset variable, missing path and absent CUDA device) and
predicted by :func:`repro_golden.plugin.prediction_cache.predict_once`, once per
case per session and shared by pytest-xdist workers. The checks themselves are
the collected items' (``builtin_infer01``, ``expected_rows``, ``order_mismatch``),
with the lab's literal shapes asserted on top.
``--golden-device gpu`` predicts on a GPU (``nox -s gpu_repro``); it skips with
the reason where no CUDA device is present.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from repro_golden.plugin.hooks import golden_settings_of

if TYPE_CHECKING:
    from repro_golden.config.case import Case
    from repro_golden.plugin.prediction_cache import Prediction
    from repro_golden.plugin.prepared import PreparedCase as PluginCase

#: The lab's shapes (issue INFER-01/02, DESIGN.md section 1): input patch, features, projections.
LAB_INPUT_SHAPE = (1, 1, 1, 160, 160)
LAB_FEATURES = 768
LAB_PROJECTIONS = 32
#: Rows of the cluster reference prediction (DESIGN.md section 1).
HPC_EXPECTED_ROWS = 39_170


@dataclass(frozen=True)
class PreparedCase:
    """A case prepared by the plugin, and whether this session generated its inputs."""

    name: str
    prepared: PluginCase
    generated: bool

    @property
    def case(self) -> Case:
        return self.prepared.case

    @property
    def case_file(self) -> Path:
        return self.prepared.case_file

    @property
    def golden_dir(self) -> Path:
        # golden/<case name>: a case predicted by another pipeline shares the case's golden files.
        return self.prepared.golden_dir

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


@pytest.fixture(scope="session")
def prepared_case(
    golden_case_name: str,
    pytestconfig: pytest.Config,
    tmp_path_factory: pytest.TempPathFactory,
) -> PreparedCase:
    """The case under test, prepared once per session; skips when its inputs are absent."""
    from repro_golden.plugin.prepared import prepare_case

    settings = golden_settings_of(pytestconfig)
    name = golden_case_name
    if name in _example_case_names():
        from repro_golden.examples import generate_example

        case_file = generate_example(tmp_path_factory.mktemp(f"{name}-inputs"), case=name)
        return PreparedCase(name, prepare_case(pytestconfig, case_file), True)
    found = settings.case_file(name)
    if found is None:
        dirs = ", ".join(str(d) for d in settings.case_dirs)
        pytest.fail(f"case {name!r}: no {name}.yaml in the case directories ({dirs})")
    try:
        return PreparedCase(name, prepare_case(pytestconfig, found), False)
    except pytest.skip.Exception as skip:
        if name != "hpc":
            raise
        hint = "; set REPRO_GOLDEN_HPC_CKPT, _DATA, _TRACKS, _REFERENCE or --golden-data-root"
        pytest.skip(f"{skip.msg}{hint}")


@pytest.fixture(scope="session")
def prediction(prepared_case: PreparedCase, pytestconfig: pytest.Config) -> Prediction:
    """Embeddings of the case, predicted once per session (and per xdist run) on
    ``--golden-device``; a failed run fails the test with the pipeline's verdict."""
    from repro_golden.plugin.prediction_cache import predict_once

    made = predict_once(pytestconfig, prepared_case.prepared)
    if made.failure is not None:
        pytest.fail(made.failure, pytrace=False)
    return made


# INFER-01 ---------------------------------------------------------------------------------------


def test_infer01_checkpoint_loads_strictly_and_forward_shapes(
    prepared_case: PreparedCase,
) -> None:
    """The checkpoint loads with no missing or unexpected key; one forward pass has the shapes."""
    from repro_golden.plugin.collect import builtin_infer01

    builtin_infer01(prepared_case.prepared)  # raises the INFER-01 FAIL listing
    config = prepared_case.case.model
    height, width = prepared_case.case.data.final_yx_patch_size
    shape = (1, config.in_channels, config.in_stack_depth, height, width)
    if prepared_case.lab_shapes:
        assert shape == LAB_INPUT_SHAPE
        assert (config.embedding_dim, config.projection_dim) == (LAB_FEATURES, LAB_PROJECTIONS)


def test_infer01_lab_module_loads_strictly(
    prepared_case: PreparedCase, prediction: Prediction
) -> None:
    """The lab's own LightningModule (``pipeline: lightning``): strict ``weights_only`` load,
    no missing, unexpected or shape-mismatched key, forward widths as configured."""
    if not prepared_case.lab_pipeline:
        pytest.skip(f"case {prepared_case.name} runs the builtin (its INFER-01 is above)")
    outcome = prediction.infer01
    assert outcome is not None, "the lightning pipeline reported no INFER-01"
    assert outcome["status"] == "pass", prediction.infer01_text
    widths = tuple(outcome["widths"][:2])
    model = prepared_case.case.model
    assert widths == (model.embedding_dim, model.projection_dim), prediction.infer01_text
    if prepared_case.lab_shapes:
        assert widths == (LAB_FEATURES, LAB_PROJECTIONS), prediction.infer01_text


# INFER-02 ---------------------------------------------------------------------------------------


def test_infer02_predict_writes_anndata_zarr(
    prepared_case: PreparedCase, prediction: Prediction
) -> None:
    """``X`` is (N, 768) and ``obsm/X_projections`` (N, 32), one row per predicted cell."""
    import numpy as np

    from repro_golden.plugin.collect import expected_rows as rows_of_plate
    from repro_golden.plugin.collect import read_store

    adata = read_store(prediction.path)
    config = prepared_case.case.model
    rows = adata.n_obs
    assert rows == prediction.cells
    expected_rows = prepared_case.expected_rows
    if expected_rows is None:
        expected_rows = rows_of_plate(prepared_case.prepared)
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
    prepared_case: PreparedCase, prediction: Prediction, golden_regression: Any
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
    prepared_case: PreparedCase, prediction: Prediction, embedding_regression: Any
) -> None:
    """Every value of X and projections is allclose to the reference within the case tolerance."""
    reference = _requires_reference(prepared_case)
    embedding_regression.check(
        prediction.path, reference=reference, tolerance=prepared_case.case.tolerance
    )


def test_infer03_golden_beside_reference(
    prepared_case: PreparedCase, prediction: Prediction, golden_regression: Any
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
    prepared_case: PreparedCase, prediction: Prediction
) -> None:
    """``obs["fov_name"]`` and ``obs["id"]`` are in the reference's order, row for row."""

    from repro_golden.plugin.collect import order_mismatch

    reference = _requires_reference(prepared_case)
    problem = order_mismatch(prediction.path, reference)
    assert problem is None, problem


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
    prediction: Prediction,
    pytestconfig: pytest.Config,
    golden_report_dir: Path,
    tmp_path: Path,
    repro_note: Callable[[str], None],
) -> None:
    """Two GPU predictions of the case are bit-identical when the case asks for determinism,
    and within the case tolerance when it does not (a bound either way)."""
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
    else:
        bounded = compare_embeddings(prediction.path, second.path, tolerance=case.tolerance)
        assert bounded.passed, bounded.render_terminal(max_rows=20)


@pytest.mark.gpu
def test_gpu_vs_cpu_reported(
    prepared_case: PreparedCase,
    prediction: Prediction,
    pytestconfig: pytest.Config,
    golden_report_dir: Path,
    tmp_path: Path,
    repro_note: Callable[[str], None],
) -> None:
    """GPU and CPU embeddings of an example case: not bit-equal (other kernels round
    differently), but within the case tolerance when the case computes in full float32
    (no TF32); the report measures by how much. With TF32 the truth rung judges instead
    (``check --precision tf32`` against golden files with an oracle section)."""
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
    if case.numerics.tf32:
        pytest.skip(
            f"{prepared_case.name} computes with TF32 (matmul_precision "
            f"{case.numerics.matmul_precision}): measured and reported above; its bound is the "
            "oracle's TF32 budget, not the case tolerance"
        )
    assert report.passed, report.render_terminal(max_rows=20)
