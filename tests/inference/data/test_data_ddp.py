"""Under Lightning DDP (2 CPU processes) each rank gets whole VisCy batches; together, every row."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from synthetic_plates import data_mapping

from repro_golden.config.data import DataConfig
from repro_golden.inference.data.datamodule import PlateDataModule

MakePlate = Callable[..., tuple[Path, Path]]


class _Passthrough(pl.LightningModule):
    """Returns what it was given: rows and anchors."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Linear(1, 1)  # DDP wants a parameter

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return {"row": batch["row"], "anchor": batch["anchor"], "fov_name": batch["fov_name"]}


class _SaveRank(BasePredictionWriter):
    def __init__(self, directory: Path) -> None:
        super().__init__(write_interval="batch")
        self.directory = directory
        self.count = 0

    def write_on_batch_end(  # type: ignore[override]
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: dict[str, Any],
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        np.savez(
            self.directory / f"rank{trainer.global_rank}_{self.count:03d}.npz",
            row=prediction["row"].numpy(),
            anchor=prediction["anchor"].numpy(),
        )
        self.count += 1


def test_ddp_two_processes_get_whole_batches_covering_every_row(
    make_plate: MakePlate, tmp_path: Path
) -> None:
    plate, tracks = make_plate(fovs=("A/1/0", "B/2/0"), cells_per_frame=5)
    config = DataConfig.from_mapping(
        data_mapping(plate, tracks, batch_size=4), base_dir=tmp_path, source=tmp_path / "c.yaml"
    )
    single = PlateDataModule(config)
    single.setup("predict")
    reference = list(single.predict_dataloader())
    single.teardown("predict")
    out = tmp_path / "ranks"
    out.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on workers and spawn
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=2,
            strategy="ddp_spawn",
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            callbacks=[_SaveRank(out)],
        )
        trainer.predict(
            _Passthrough(), datamodule=PlateDataModule(config), return_predictions=False
        )
    seen: list[int] = []
    for rank in (0, 1):
        files = sorted(out.glob(f"rank{rank}_*.npz"))
        expected = reference[rank::2]
        assert len(files) == len(expected)
        for file, batch in zip(files, expected, strict=True):
            saved = np.load(file)
            assert np.array_equal(saved["row"], batch["row"].numpy())
            assert np.array_equal(saved["anchor"], batch["anchor"].numpy())
            seen.extend(saved["row"].tolist())
    assert sorted(seen) == list(range(single.num_rows))
