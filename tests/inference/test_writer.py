"""The embeddings writer: VisCy's layout, row order by ``row``, atomic and refusing overwrite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anndata as ad
import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.errors import DataError, OutputExistsError
from repro_golden.inference.model.module import ContrastiveModule
from repro_golden.inference.writer import EmbeddingWriter, merge_rank_rows, write_embeddings

COLUMNS = ("track_id", "t", "id", "parent_track_id", "parent_id", "y", "x")


def _pack(rows: list[int], fovs: list[str] | None = None) -> dict[str, Any]:
    r = np.asarray(rows, dtype=np.int64)
    return {
        "rows": r,
        "features": np.stack([np.full(4, row, dtype=np.float32) for row in rows]),
        "projections": np.stack([np.full(2, -row, dtype=np.float32) for row in rows]),
        "fov_names": fovs or [f"A/1/{row // 3}" for row in rows],
        "index": {c: r * 10 + i for i, c in enumerate(COLUMNS)},
    }


def test_merge_sorts_by_row_and_drops_sampler_padding() -> None:
    # Two DDP ranks over batches of 2 rows: rank 0 has batches 0 and 2, rank 1 has
    # batch 1 and batch 0 again (DistributedSampler padding).
    merged = merge_rank_rows([_pack([0, 1, 4]), _pack([2, 3, 0, 1])])
    assert merged["rows"].tolist() == [0, 1, 2, 3, 4]
    assert merged["features"][:, 0].tolist() == [0, 1, 2, 3, 4]
    assert merged["projections"][:, 0].tolist() == [0, -1, -2, -3, -4]
    assert merged["fov_names"] == ["A/1/0", "A/1/0", "A/1/0", "A/1/1", "A/1/1"]
    assert merged["index"]["t"].tolist() == [1, 11, 21, 31, 41]


def test_merge_of_nothing_is_a_data_error() -> None:
    empty = {
        "rows": np.zeros(0, np.int64),
        "features": np.zeros((0, 4), np.float32),
        "projections": np.zeros((0, 2), np.float32),
        "fov_names": [],
        "index": {},
    }
    with pytest.raises(DataError, match="no cells"):
        merge_rank_rows([empty])


def test_layout_matches_viscy_and_the_golden_reader(tmp_path: Path) -> None:
    merged = merge_rank_rows([_pack([0, 1, 2, 3, 4], ["/A/1/0"] * 3 + ["/B/2/0"] * 2)])
    path = tmp_path / "emb.zarr"
    write_embeddings(path, merged, provenance={"numerics": {"seed": 42}, "missing": None})
    adata = ad.read_zarr(path)
    assert adata.X.dtype == np.float32
    assert adata.X.shape == (5, 4)
    assert adata.obsm["X_projections"].dtype == np.float32
    assert list(adata.obs.columns) == ["fov_name", *COLUMNS]
    assert all(adata.obs[c].dtype == np.int64 for c in COLUMNS)
    assert list(adata.obs["fov_name"]) == ["A/1/0"] * 3 + ["B/2/0"] * 2
    assert list(adata.obs.index) == ["0", "1", "2", "3", "4"]
    assert set(adata.obsm) == {"X_projections"}  # no PCA/PHATE/UMAP
    assert json.loads(adata.uns["repro_golden"]) == {"missing": None, "numerics": {"seed": 42}}
    store = EmbeddingsStore(path)
    assert store.fov_names == ("A/1/0", "B/2/0")
    assert store.provenance() == {"missing": None, "numerics": {"seed": 42}}
    assert store.index_columns == ("fov_name", *COLUMNS)


def test_existing_output_is_refused_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "emb.zarr"
    merged = merge_rank_rows([_pack([0, 1])])
    write_embeddings(path, merged, provenance={})
    with pytest.raises(OutputExistsError, match="overwrite"):
        write_embeddings(path, merge_rank_rows([_pack([0])]), provenance={})
    assert ad.read_zarr(path).n_obs == 2
    write_embeddings(path, merge_rank_rows([_pack([0])]), provenance={}, overwrite=True)
    assert ad.read_zarr(path).n_obs == 1


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: ad.AnnData, store: Any, **kwargs: Any) -> None:
        Path(store, "X").mkdir()
        raise OSError("disk full")

    monkeypatch.setattr(ad.AnnData, "write_zarr", broken)
    with pytest.raises(OSError, match="disk full"):
        write_embeddings(tmp_path / "emb.zarr", merge_rank_rows([_pack([0])]), provenance={})
    assert list(tmp_path.iterdir()) == []


class _Encoder(nn.Module):
    """Stand-in encoder: features are the pixel sums, projections their negatives."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        features = x.flatten(1).sum(1, keepdim=True).repeat(1, 3) * self.scale
        return features, -features[:, :2]


class _Batches(Dataset[dict[str, Any]]):
    """Whole batches as ``PlateDataModule`` yields them (ARCHITECTURE "data -> predict")."""

    def __init__(self, rows: int, batch_size: int) -> None:
        self.rows, self.batch_size = rows, batch_size

    def __len__(self) -> int:
        return -(-self.rows // self.batch_size)

    def __getitem__(self, batch: int) -> dict[str, Any]:
        rows = torch.arange(batch * self.batch_size, min(self.rows, (batch + 1) * self.batch_size))
        return {
            "anchor": rows.float().reshape(-1, 1, 1, 1, 1).expand(-1, 1, 1, 2, 2).contiguous(),
            "index": {"track_id": rows // 2, "t": rows % 2, "id": rows + 100},
            "fov_name": [f"A/1/{int(r) // 4}" for r in rows],
            "row": rows,
        }


class _DataModule(pl.LightningDataModule):
    def __init__(self, rows: int, batch_size: int) -> None:
        super().__init__()
        self.dataset = _Batches(rows, batch_size)

    def predict_dataloader(self) -> Iterator[dict[str, Any]]:
        return DataLoader(self.dataset, batch_size=None)  # type: ignore[return-value]


def _trainer(writer: EmbeddingWriter) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[writer],
    )


@pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")
@pytest.mark.filterwarnings("ignore:Couldn't infer the batch indices:UserWarning")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
def test_callback_writes_what_predict_step_returned(tmp_path: Path) -> None:
    path = tmp_path / "emb.zarr"
    writer = EmbeddingWriter(path, provenance={"case": "fake"}, expected_rows=7)
    _trainer(writer).predict(
        ContrastiveModule(_Encoder()), datamodule=_DataModule(7, 3), return_predictions=False
    )
    assert writer.rows_written == 7
    adata = ad.read_zarr(path)
    sums = np.arange(7, dtype=np.float32) * 4
    np.testing.assert_array_equal(adata.X, np.repeat(sums[:, None], 3, axis=1))
    np.testing.assert_array_equal(adata.obsm["X_projections"], -np.repeat(sums[:, None], 2, 1))
    assert list(adata.obs.columns) == ["fov_name", "track_id", "t", "id"]
    assert adata.obs["id"].tolist() == list(range(100, 107))
    provenance = json.loads(adata.uns["repro_golden"])
    assert provenance["case"] == "fake"
    assert provenance["rows"] == 7
    assert provenance["world_size"] == 1
    assert provenance["device"]["type"] == "cpu"
    assert set(provenance["versions"]) >= {"repro-golden", "torch", "lightning", "timm", "numpy"}
    assert {"cuda", "cudnn", "torch_state"} <= set(provenance)


@pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")
@pytest.mark.filterwarnings("ignore:Couldn't infer the batch indices:UserWarning")
@pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")
def test_callback_checks_every_row_arrived(tmp_path: Path) -> None:
    writer = EmbeddingWriter(tmp_path / "emb.zarr", expected_rows=8)
    with pytest.raises(RuntimeError, match=r"not 0\.\.7"):
        _trainer(writer).predict(
            ContrastiveModule(_Encoder()), datamodule=_DataModule(7, 3), return_predictions=False
        )
    assert not (tmp_path / "emb.zarr").exists()


def test_callback_refuses_existing_output_before_predicting(tmp_path: Path) -> None:
    (tmp_path / "emb.zarr").mkdir()
    writer = EmbeddingWriter(tmp_path / "emb.zarr")
    with pytest.raises(OutputExistsError):
        writer.on_predict_start(_trainer(writer), ContrastiveModule(_Encoder()))
