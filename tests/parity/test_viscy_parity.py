"""Three-way bitwise parity on CPU: builtin, VisCy 0.4.1 and the lab's modular packages.

``scripts/viscy_parity.py`` generates an example case and writes one
LightningCLI predict config per flavour. The builtin reads VisCy's config;
VisCy 0.4.1 (``$REPRO_GOLDEN_VISCY_PYTHON``, ``--preimport viscy.cli``) and the
modular packages (``$REPRO_GOLDEN_MODULAR_PYTHON``: viscy-data, viscy-models,
viscy-transforms, viscy-utils 0.1.0 on Python 3.12, with
``tests/parity/modular_lab/standin_dynaclr.py`` standing in for
``dynaclr.engine.ContrastiveModule``, which is not on PyPI) run their own
configs through ``repro-golden predict --pipeline lightning`` in their own
interpreters. All with one intra-op thread, restricted to well A/1 (2 FOVs)
and batches of 16 to stay around a minute per run on CPU. ``X``,
``X_projections`` and ``obs`` (by index columns) must be bit for bit equal,
and so must every per-batch stage digest (rows, model inputs, outputs).

The modular runs import the test-only ``collate_workaround`` first:
viscy-data 0.1.0 cannot collate the ``timepoint_statistics`` that ``viscy
preprocess`` writes (and the example plates carry). Without it the run is a
failed INFER-02 naming the TypeError; that is shown below as a strict xfail.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.stages import first_divergence

VISCY_PYTHON = os.environ.get("REPRO_GOLDEN_VISCY_PYTHON") or None
MODULAR_PYTHON = os.environ.get("REPRO_GOLDEN_MODULAR_PYTHON") or None
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "viscy_parity.py"
WELLS = ["A/1"]
COLLATE_ERROR = "expected Tensor as element 0 in argument 0, but got dict"

needs_viscy = pytest.mark.skipif(
    VISCY_PYTHON is None,
    reason="REPRO_GOLDEN_VISCY_PYTHON is not set (python of a viscy==0.4.1 environment)",
)
needs_modular = pytest.mark.skipif(
    MODULAR_PYTHON is None,
    reason="REPRO_GOLDEN_MODULAR_PYTHON is not set (python 3.12 with viscy-data/-models/"
    "-transforms/-utils[anndata] 0.1.0; nox builds .nox/modular)",
)
pytestmark = pytest.mark.skipif(
    VISCY_PYTHON is None and MODULAR_PYTHON is None,
    reason="neither REPRO_GOLDEN_VISCY_PYTHON nor REPRO_GOLDEN_MODULAR_PYTHON is set",
)


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("viscy_parity", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(
    scope="module",
    params=[
        "example",  # reference architecture: 1 channel, fov_statistics mean/std
        "zstack",  # 2 channels, z range [1, 4), dataset_statistics median/iqr
    ],
)
def runs(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, list[str]]]:
    """The builtin and every flavour whose interpreter is set, on one example case."""
    workdir = tmp_path_factory.mktemp(f"parity-{request.param}")
    flavours = [f for f, p in (("viscy", VISCY_PYTHON), ("modular", MODULAR_PYTHON)) if p]
    found = _script().run_parity(
        workdir, case=request.param, wells=WELLS, batch_size=16, flavours=flavours
    )
    return workdir, found


def _provenance(path: Path) -> dict[str, object]:
    provenance = EmbeddingsStore(path).provenance()
    assert provenance is not None
    return dict(provenance)


@needs_viscy
def test_viscy_bitwise_identical_to_builtin(runs: tuple[Path, dict[str, list[str]]]) -> None:
    workdir, found = runs
    assert found["viscy"] == []
    divergence = first_divergence(
        _provenance(workdir / "viscy.zarr"), _provenance(workdir / "builtin.zarr")
    )
    assert divergence.identical, divergence.render()


@needs_modular
def test_modular_bitwise_identical_to_builtin(runs: tuple[Path, dict[str, list[str]]]) -> None:
    workdir, found = runs
    assert found["modular"] == []
    provenance = _provenance(workdir / "modular.zarr")
    divergence = first_divergence(provenance, _provenance(workdir / "builtin.zarr"))
    assert divergence.identical, divergence.render()
    code = provenance["code"]
    assert isinstance(code, dict)
    assert code["viscy_data.triplet.TripletDataModule"]["version"] == "0.1.0"
    assert code["viscy_models.contrastive.ContrastiveEncoder"]["distribution"] == "viscy-models"


@needs_viscy
@needs_modular
def test_modular_bitwise_identical_to_viscy(runs: tuple[Path, dict[str, list[str]]]) -> None:
    workdir, _ = runs
    assert _script().compare_stores(workdir / "modular.zarr", workdir / "viscy.zarr") == []
    divergence = first_divergence(
        _provenance(workdir / "modular.zarr"), _provenance(workdir / "viscy.zarr")
    )
    assert divergence.identical, divergence.render()


@pytest.mark.parametrize("flavour", ["viscy", "modular"])
def test_checked_against_builtin_golden_files_no_input_change_and_identical(
    runs: tuple[Path, dict[str, list[str]]], flavour: str
) -> None:
    """Verdicts v3: golden files the builtin wrote judge the lab's pipeline (and VisCy
    0.4.1) on the same run; the pipeline-neutral input record shows no change, and every
    FOV is identical on the CPU."""
    from repro_golden.api import check_golden, write_golden

    if (VISCY_PYTHON if flavour == "viscy" else MODULAR_PYTHON) is None:
        pytest.skip(f"the {flavour} interpreter is not set")
    workdir, _ = runs
    golden = workdir / f"golden-for-{flavour}"
    if not golden.exists():
        write_golden(workdir / "builtin.zarr", golden)
    report = check_golden(workdir / f"{flavour}.zarr", golden)
    assert report.extra["inputs"]["changed"] == [], report.extra["inputs"]
    assert report.passed, report.render_terminal()
    assert {o.status.value for o in report.outcomes} == {"identical"}


@pytest.fixture(scope="module")
def unpatched(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    """The modular packages as shipped (no workaround) on the example plate: status, output."""
    if MODULAR_PYTHON is None:
        pytest.skip("REPRO_GOLDEN_MODULAR_PYTHON is not set")
    script = _script()
    workdir = tmp_path_factory.mktemp("unpatched")
    configs = script.prepare(workdir, case="example", wells=WELLS, batch_size=16)
    result = script.run_predict(
        workdir, configs["modular"], "modular.zarr", python=MODULAR_PYTHON, preimport=()
    )
    assert not (workdir / "modular.zarr").exists()
    return result.returncode, result.stdout + result.stderr


@needs_modular
def test_collate_failure_is_a_failed_infer02(unpatched: tuple[int, str]) -> None:
    status, output = unpatched
    assert status == 1, output
    verdict = next(line for line in output.splitlines() if line.startswith("INFER-02 FAIL"))
    assert "TypeError" in verdict, verdict
    assert COLLATE_ERROR in verdict, verdict
    assert "_collate_norm_meta" in output  # the traceback tail names where


@needs_modular
@pytest.mark.xfail(
    strict=True,
    reason="viscy-data 0.1.0 _collate_norm_meta stacks two levels of normalization metadata; "
    "the timepoint_statistics of `viscy preprocess` are three deep: TypeError: " + COLLATE_ERROR,
)
def test_modular_packages_as_shipped_pass_infer02(unpatched: tuple[int, str]) -> None:
    status, output = unpatched
    assert status == 0, output
