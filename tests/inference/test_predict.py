"""predict(): the whole path on a tiny generated case (seconds on CPU)."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import numpy as np
import pytest
import torch
from tiny_case import write_tiny_case

from repro_golden.config.case import Case
from repro_golden.config.load import load_case
from repro_golden.errors import CheckpointError, ConfigError, DataError, OutputExistsError
from repro_golden.inference.model.checkpoint import file_digest
from repro_golden.inference.predict import PredictionResult, predict


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return load_case(write_tiny_case(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def first(case: Case, tmp_path_factory: pytest.TempPathFactory) -> PredictionResult:
    return predict(case, output=tmp_path_factory.mktemp("out") / "a.zarr", progress=False)


def test_writes_every_row_with_provenance(case: Case, first: PredictionResult) -> None:
    adata = ad.read_zarr(first.path)
    assert first.cells == adata.n_obs > 0
    assert first.seconds > 0
    assert adata.X.shape == (first.cells, 768)
    assert adata.obsm["X_projections"].shape == (first.cells, 32)
    assert np.isfinite(adata.X).all()
    provenance = json.loads(adata.uns["repro_golden"])
    assert provenance["numerics"] == case.numerics.to_dict()
    assert provenance["checkpoint"]["digest"] == file_digest(case.checkpoint)
    assert provenance["case"]["name"] == "tiny"
    assert provenance["batch_size"] == 4
    assert provenance["torch_state"]["float32_matmul_precision"] == "highest"
    assert provenance["torch_state"]["deterministic_algorithms"] is True
    assert sorted(provenance["inputs"]) == ["A/1/0", "B/2/0"]
    tracks = next((case.data.tracks_path / "A/1/0").glob("*.csv"))
    assert provenance["inputs"]["A/1/0"]["tracks"] == file_digest(tracks)
    assert provenance["inputs"]["A/1/0"]["array"] == "float32[3, 2, 1, 96, 96]"


def test_rerun_is_bitwise_identical(case: Case, first: PredictionResult, tmp_path: Path) -> None:
    again = predict(case, output=tmp_path / "b.zarr", progress=False)
    a, b = ad.read_zarr(first.path), ad.read_zarr(again.path)
    assert a.X.tobytes() == b.X.tobytes()
    assert a.obsm["X_projections"].tobytes() == b.obsm["X_projections"].tobytes()
    assert a.obs.equals(b.obs)


def test_batch_size_changes_batches_not_rows(
    case: Case, first: PredictionResult, tmp_path: Path
) -> None:
    other = predict(case, output=tmp_path / "c.zarr", batch_size=3, progress=False)
    a, b = ad.read_zarr(first.path), ad.read_zarr(other.path)
    assert a.obs.equals(b.obs)
    np.testing.assert_allclose(a.X, b.X, rtol=0, atol=1e-4)
    assert json.loads(b.uns["repro_golden"])["batch_size"] == 3


def test_global_torch_state_is_restored(case: Case, tmp_path: Path) -> None:
    before = (torch.get_float32_matmul_precision(), torch.are_deterministic_algorithms_enabled())
    predict(case, output=tmp_path / "d.zarr", progress=False)
    after = (torch.get_float32_matmul_precision(), torch.are_deterministic_algorithms_enabled())
    assert after == before


def test_existing_output_is_refused_up_front(case: Case, first: PredictionResult) -> None:
    stamp = first.path.stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="overwrite"):
        predict(case, output=first.path, progress=False)
    assert first.path.stat().st_mtime_ns == stamp


def test_overwrite_replaces(case: Case, tmp_path: Path) -> None:
    target = tmp_path / "e.zarr"
    (target / "junk").mkdir(parents=True)
    result = predict(case, output=target, overwrite=True, progress=False)
    assert not (target / "junk").exists()
    assert ad.read_zarr(target).n_obs == result.cells


def test_checkpoint_of_another_architecture(case: Case, tmp_path: Path) -> None:
    state = torch.load(case.checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    state["model.projection.3.weight"] = torch.zeros(16, 768)
    del state["model.stem.conv.bias"]
    torch.save({"state_dict": state}, tmp_path / "other.ckpt")
    with pytest.raises(CheckpointError, match=r"other\.ckpt") as info:
        predict(case, output=tmp_path / "f.zarr", ckpt=tmp_path / "other.ckpt", progress=False)
    assert "model.stem.conv.bias" in str(info.value)
    assert "expected [32, 768], found [16, 768]" in str(info.value)
    assert list(tmp_path.iterdir()) == [tmp_path / "other.ckpt"]


def test_bad_data_leaves_nothing(case: Case, tmp_path: Path) -> None:
    import dataclasses

    broken = dataclasses.replace(
        case, data=dataclasses.replace(case.data, source_channel=("DAPI",))
    )
    with pytest.raises(DataError, match="DAPI"):
        predict(broken, output=tmp_path / "g.zarr", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments(case: Case, tmp_path: Path) -> None:
    import dataclasses

    with pytest.raises(ConfigError, match="no output path"):
        predict(dataclasses.replace(case, output=None), progress=False)
    with pytest.raises(ConfigError, match="tpu"):
        predict(case, output=tmp_path / "h.zarr", device="tpu", progress=False)
    with pytest.raises(ConfigError, match="batch_size"):
        predict(case, output=tmp_path / "h.zarr", batch_size=0, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error; a GPU is present")
def test_gpu_without_cuda_is_a_clear_error(case: Case, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no CUDA device"):
        predict(case, output=tmp_path / "i.zarr", device="gpu", progress=False)
