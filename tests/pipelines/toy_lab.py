"""A toy "lab package" for the lightning pipeline's tests: tiny module, data and writer.

Imported by class_path inside the runner's interpreter (the tests put this
folder on its PYTHONPATH); ``Toy.fail`` makes predict_step raise, as a broken
pipeline under test would; ``Toy.slow`` and ``Toy.child_pid_file`` make a long
run that starts a child process of its own (which ignores SIGTERM), for the
signal tests; ``Toy.lazy_import`` imports a module in predict_step (one this
environment lacks: an incomplete install); ``ToyWriter.mode`` writes an
unusable store; ``GatheringWriter`` and ``RankZeroWriter`` are the two DDP
writers (with and without a gather).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningDataModule, LightningModule
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader


class ToyEncoder(torch.nn.Module):
    """``(B, 1, 1, 4, 4)`` -> features (``embedding_dim``), projections (``projection_dim``);
    VisCy's argument names, so the case can read its widths."""

    def __init__(
        self,
        backbone: str = "convnext_tiny",
        in_channels: int = 1,
        in_stack_depth: int = 1,
        embedding_dim: int = 3,
        projection_dim: int = 2,
    ) -> None:
        super().__init__()
        self.stem = torch.nn.Linear(16 * in_channels * in_stack_depth, embedding_dim)
        self.projection = torch.nn.Linear(embedding_dim, projection_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.stem(x.flatten(1))
        return features, self.projection(features)


class Toy(LightningModule):
    """dynaclr's predict contract: ``self.model`` is the encoder, outputs keyed as VisCy's."""

    def __init__(
        self,
        encoder: torch.nn.Module,
        fail: bool = False,
        slow: float = 0.0,
        child_pid_file: str | None = None,
        lazy_import: str | None = None,
    ) -> None:
        super().__init__()
        self.fail = fail
        self.lazy_import = lazy_import
        self.slow = slow
        self.child_pid_file = child_pid_file
        self.model = encoder

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(x)  # type: ignore[no-any-return]

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        if self.fail:
            raise ValueError("planted failure in the pipeline under test")
        if self.lazy_import is not None:  # a dependency the lab's code imports when it runs
            __import__(self.lazy_import)
        if self.child_pid_file is not None and batch_idx == 0:
            # A helper process of the lab's code that ignores SIGTERM (only SIGKILL stops it).
            child = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                    "time.sleep(600)",
                ]
            )
            Path(self.child_pid_file).write_text(f"{os.getpid()} {child.pid}")
        if self.slow:
            time.sleep(self.slow)
        features, projections = self(batch["anchor"])
        return {"features": features, "projections": projections, "index": batch["index"]}


class OtherToy(Toy):
    """Another module class, for a checkpoint whose ``hyper_parameters`` name it."""

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        raise AssertionError("OtherToy ran: the checkpoint switched the config's class")


class ToyData(LightningDataModule):
    """Six cells in batches of ``batch_size`` (VisCy's argument names; paths unused)."""

    def __init__(
        self,
        data_path: str,
        tracks_path: str,
        source_channel: list[str],
        z_range: list[int],
        initial_yx_patch_size: list[int],
        final_yx_patch_size: list[int],
        batch_size: int = 4,
    ) -> None:
        super().__init__()
        self.batch_size = batch_size

    def predict_dataloader(self) -> DataLoader[dict[str, Any]]:
        items = [
            {
                "anchor": torch.full((1, 1, 4, 4), float(i)),
                "index": {
                    "fov_name": "A/1/0",
                    "track_id": i,
                    "t": 0,
                    "id": i,
                    "parent_track_id": -1,
                    "parent_id": -1,
                    "y": 8,
                    "x": 8,
                },
            }
            for i in range(6)
        ]
        return DataLoader(items, batch_size=self.batch_size)  # type: ignore[arg-type]


def write_anndata(path: Path, predictions: Sequence[Any]) -> None:
    """X, X_projections and obs of ``predictions`` as an AnnData zarr at ``path``."""
    import anndata as ad
    import pandas as pd

    obs = pd.concat(
        [
            pd.DataFrame(
                {k: list(v) if isinstance(v, list) else v.tolist() for k, v in p["index"].items()}
            )
            for p in predictions
        ]
    )
    obs.index = [str(i) for i in range(len(obs))]
    adata = ad.AnnData(X=torch.cat([p["features"] for p in predictions]).numpy(), obs=obs)
    adata.obsm["X_projections"] = torch.cat([p["projections"] for p in predictions]).numpy()
    adata.write_zarr(path)


class ToyWriter(BasePredictionWriter):
    """Writes X, X_projections and obs as an AnnData zarr at ``output_path``.

    ``mode``: ``"anndata"`` (a good store), ``"empty"`` (an empty directory),
    ``"flat"`` (a store whose ``X`` is 1-D).
    """

    def __init__(self, output_path: str, mode: str = "anndata") -> None:
        super().__init__("epoch")
        self.output_path = Path(output_path)
        self.mode = mode

    def write_on_epoch_end(
        self, trainer: Any, pl_module: Any, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        if self.mode == "empty":
            self.output_path.mkdir(parents=True)
            return
        write_anndata(self.output_path, predictions)
        if self.mode == "flat":
            import zarr

            root = zarr.open_group(str(self.output_path), mode="a")
            rows = root["X"].shape[0]
            del root["X"]
            root.create_array("X", shape=(rows,), dtype="float32")
            zarr.consolidate_metadata(str(self.output_path))


class RankZeroWriter(BasePredictionWriter):
    """Writes only on global rank 0, only rank 0's predictions: no gather (upstream-like)."""

    def __init__(self, output_path: str) -> None:
        super().__init__("epoch")
        self.output_path = Path(output_path)

    def write_on_epoch_end(
        self, trainer: Any, pl_module: Any, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        if trainer.is_global_zero:
            write_anndata(self.output_path, predictions)


class GatheringWriter(BasePredictionWriter):
    """Gathers every rank's predictions to rank 0 and writes them once, in dataset order."""

    def __init__(self, output_path: str) -> None:
        super().__init__("epoch")
        self.output_path = Path(output_path)

    def write_on_epoch_end(
        self, trainer: Any, pl_module: Any, predictions: Sequence[Any], batch_indices: Any
    ) -> None:
        mine = [
            {
                "features": p["features"].cpu(),
                "projections": p["projections"].cpu(),
                "index": {
                    k: list(v) if isinstance(v, list) else v.tolist() for k, v in p["index"].items()
                },
            }
            for p in predictions
        ]
        packs: list[Any] = [mine]
        if trainer.world_size > 1:
            packs = [None] * trainer.world_size
            torch.distributed.all_gather_object(packs, mine)
        if not trainer.is_global_zero:
            return
        rows = [
            {
                "features": p["features"][i : i + 1],
                "projections": p["projections"][i : i + 1],
                "index": {k: [v[i]] for k, v in p["index"].items()},
            }
            for pack in packs
            for p in pack
            for i in range(len(p["features"]))
        ]
        rows.sort(key=lambda r: r["index"]["id"][0])
        write_anndata(self.output_path, rows)
