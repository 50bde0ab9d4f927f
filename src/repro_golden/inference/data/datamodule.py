"""``PlateDataModule``: VisCy-identical predict batches as a LightningDataModule.

Each dataset item is one whole batch (the DataLoader has ``batch_size=None``),
formed as VisCy's predict DataLoader forms them: batch ``b`` holds rows
``b * batch_size`` up to the next multiple, the last one partial. Under DDP,
Lightning's predict sampler then hands each rank whole batches
(``b = rank, rank + world, ...``), and ``row`` (the global row number) lets
the writer restore dataset order.

Item: ``{"anchor": float32 (B, C, Z, Y, X), "index": {column: int64 (B,)},
"fov_name": list[str], "row": int64 (B,)}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from repro_golden.config.data import DataConfig
from repro_golden.inference.data.index import RowIndex, build_index
from repro_golden.inference.data.loader import BatchStream
from repro_golden.inference.data.patches import Normalizer, PatchGeometry
from repro_golden.inference.data.plate import channel_indices, open_plate

#: How many batches ahead a request may be served by running the stream on
#: (dropping the batches in between) rather than restarting it.
_SKIP_LIMIT = 8


class PlateBatches(Dataset[dict[str, Any]]):
    """Map-style dataset of whole batches, served from a prefetching :class:`BatchStream`.

    Any batch can be asked for at any time (a jump restarts the stream there);
    asking in ``expected_order`` is what makes it fast.
    """

    def __init__(self, index: RowIndex, config: DataConfig, channels: tuple[int, ...]) -> None:
        self._stream: BatchStream | None = None
        self._offset = 0
        self.index = index
        self.config = config
        self.geometry = PatchGeometry.from_config(config, channels)
        self.normalizer = Normalizer(index.fovs, config.source_channel, config.normalizations)
        self.expected_order: list[int] = list(range(len(self)))
        self.pin_memory = False
        """Cut batches into pinned host memory (set for a CUDA device; see :func:`pins_memory`)."""

    def __len__(self) -> int:
        return math.ceil(len(self.index) / self.config.batch_size)

    @property
    def horizon(self) -> int:
        """Rows whose patches may be cut ahead: ``cache_bytes`` worth, at least one batch."""
        c, z, y, x = self.geometry.output_shape
        wide = any(np.dtype(f.dtype) == np.float64 for f in self.index.fovs)
        itemsize = 8 if wide else 4  # patches are kept as float32 (float64 plates: float64)
        return max(self.config.batch_size, self.config.cache_bytes // (c * z * y * x * itemsize))

    def set_expected_order(self, order: Sequence[int], *, pin_memory: bool = False) -> None:
        """Batches in the order they will be asked for (e.g. this DDP rank's share), and
        whether they go to pinned memory."""
        self.close()
        self.expected_order = list(order)
        self.pin_memory = pin_memory

    def __getitem__(self, batch: int) -> dict[str, Any]:
        if not 0 <= batch < len(self):
            raise IndexError(f"batch {batch} out of range 0..{len(self) - 1}")
        stream = self._stream
        if (
            stream is None
            or stream.finished
            or batch not in stream.order[self._offset : self._offset + _SKIP_LIMIT]
        ):
            stream = self._restart(batch)
        while True:
            entry = stream.get()
            if entry is None:  # pragma: no cover - the order lists the batch
                raise RuntimeError(f"batch stream ended before batch {batch}")
            self._offset += 1
            if entry[0] == batch:
                return entry[1]

    def _restart(self, batch: int) -> BatchStream:
        self.close()
        if batch in self.expected_order:
            start = self.expected_order.index(batch)
            order = self.expected_order[start:]
        else:
            order = list(range(batch, len(self)))
        self._stream = BatchStream(
            index=self.index,
            geometry=self.geometry,
            normalizer=self.normalizer,
            batch_size=self.config.batch_size,
            order=order,
            horizon=self.horizon,
            prefetch=self.config.prefetch_batches,
            read_threads=self.config.decode_threads,
            pin_memory=self.pin_memory,
        )
        self._offset = 0
        return self._stream

    def close(self) -> None:
        """Stop the background reader, if any."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_stream"] = None
        state["_offset"] = 0
        return state

    def __del__(self) -> None:
        self.close()


def pins_memory(trainer: Any) -> bool:
    """Whether batches should be cut into pinned host memory: when the trainer's device is CUDA.

    Lightning then copies them with ``non_blocking=True`` (it does so for every
    device but CPU and MPS), which overlaps the copy with the model only when the
    source is pinned. Without a trainer, or on any other device, pinning would
    only cost (and needs a CUDA build), so it is off.
    """
    if trainer is None:
        return False
    device = getattr(getattr(trainer, "strategy", None), "root_device", None)
    return isinstance(device, torch.device) and device.type == "cuda"


class PlateDataModule(pl.LightningDataModule):
    """Predict-only data module over an HCS plate and its tracks (see module docs)."""

    def __init__(self, config: DataConfig) -> None:
        super().__init__()
        self.config = config
        self.predict_dataset: PlateBatches | None = None

    def setup(self, stage: str | None = None) -> None:
        """Open the plate and build the row table (idempotent); only ``predict`` is supported."""
        if stage not in (None, "predict"):
            raise NotImplementedError(f"PlateDataModule only predicts, not {stage!r}")
        if self.predict_dataset is not None:
            return
        fovs = open_plate(
            self.config.data_path,
            include_wells=self.config.include_wells,
            exclude_fov_names=self.config.exclude_fov_names,
        )
        channels = channel_indices(fovs, self.config.source_channel)
        index = build_index(fovs, self.config)
        self.predict_dataset = PlateBatches(index, self.config, channels)

    def _dataset(self) -> PlateBatches:
        if self.predict_dataset is None:
            self.setup("predict")
        assert self.predict_dataset is not None
        return self.predict_dataset

    @property
    def num_rows(self) -> int:
        """Rows (cells) to predict, over all ranks."""
        return len(self._dataset().index)

    @property
    def index_columns(self) -> tuple[str, ...]:
        """Index columns in VisCy's order: ``fov_name`` (from ``item["fov_name"]``),
        then the integer columns of ``item["index"]``."""
        return self._dataset().index.columns

    def predict_dataloader(self) -> DataLoader[dict[str, Any]]:
        """Whole batches (``batch_size=None``); reading happens on the dataset's own thread."""
        dataset = self._dataset()
        trainer = self.trainer
        pin = pins_memory(trainer)
        if trainer is not None and trainer.world_size > 1:
            order = range(trainer.global_rank, len(dataset), trainer.world_size)
            dataset.set_expected_order(order, pin_memory=pin)
        else:
            dataset.set_expected_order(range(len(dataset)), pin_memory=pin)
        # The dataset pins its own buffers; the DataLoader's pinning would copy them again.
        return DataLoader(dataset, batch_size=None, shuffle=False, num_workers=0)

    def teardown(self, stage: str | None = None) -> None:
        """Stop the background reader."""
        if self.predict_dataset is not None:
            self.predict_dataset.close()
