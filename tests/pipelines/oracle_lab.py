"""Test-only "lab package" built from repro-golden's own builtin classes.

The triangulation tests need a pipeline under test that, run through the
``lightning`` pipeline (LightningCLI in a subprocess), computes exactly what
the builtin oracle computes, in this interpreter: the builtin's encoder,
module and writer are LightningCLI-constructible as they are; only its data
module takes a :class:`DataConfig`, so :class:`PlateData` takes VisCy's data
arguments instead. ``shift`` plants a regression in the lab's data loading
(added to every ``anchor`` the model receives).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule

from repro_golden.config.data import DataConfig
from repro_golden.inference.data.datamodule import PlateDataModule


class NormalizeSampled:
    """Names a normalization in the config (the builtin reads its ``init_args``)."""

    def __init__(
        self, keys: list[str], level: str, subtrahend: str = "mean", divisor: str = "std"
    ) -> None:
        self.keys, self.level, self.subtrahend, self.divisor = keys, level, subtrahend, divisor


class PlateData(LightningDataModule):
    """The builtin's plate data module with VisCy's ``TripletDataModule`` argument names."""

    def __init__(
        self,
        data_path: str,
        tracks_path: str,
        source_channel: list[str],
        z_range: list[int],
        initial_yx_patch_size: list[int],
        final_yx_patch_size: list[int],
        batch_size: int = 16,
        num_workers: int = 0,
        normalizations: list[dict[str, Any]] | None = None,
        shift: float = 0.0,
    ) -> None:
        super().__init__()
        mapping = {
            "data_path": data_path,
            "tracks_path": tracks_path,
            "source_channel": source_channel,
            "z_range": z_range,
            "initial_yx_patch_size": initial_yx_patch_size,
            "final_yx_patch_size": final_yx_patch_size,
            "batch_size": batch_size,
            "num_workers": num_workers,
            "normalizations": [n.get("init_args", n) for n in normalizations or []],
        }
        config = DataConfig.from_mapping(mapping, base_dir=Path.cwd(), source=Path("config"))
        self.inner = PlateDataModule(config)
        self.shift = shift

    def setup(self, stage: str | None = None) -> None:
        self.inner.setup("predict")

    def predict_dataloader(self) -> Any:
        return self.inner.predict_dataloader()

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        if self.shift:
            batch["anchor"] = batch["anchor"] + self.shift
        return batch
