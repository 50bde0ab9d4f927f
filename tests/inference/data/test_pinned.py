"""Batches go to pinned host memory exactly when the trainer's device is CUDA."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
from synthetic_plates import data_mapping

from repro_golden.config.data import DataConfig
from repro_golden.inference.data.datamodule import PlateDataModule, pins_memory

MakePlate = Callable[..., tuple[Path, Path]]


def _trainer(device: str, world_size: int = 1) -> Any:
    return SimpleNamespace(
        strategy=SimpleNamespace(root_device=torch.device(device)),
        world_size=world_size,
        global_rank=0,
    )


@pytest.mark.parametrize(
    ("trainer", "pinned"),
    [
        (None, False),
        (_trainer("cpu"), False),
        (_trainer("meta"), False),
        (_trainer("cuda"), True),
        (_trainer("cuda:1"), True),
        (SimpleNamespace(), False),  # no strategy (yet): nothing to copy to
    ],
)
def test_pinned_exactly_for_cuda(trainer: Any, pinned: bool) -> None:
    assert pins_memory(trainer) is pinned


def _module(make_plate: MakePlate, **plate_fields: Any) -> PlateDataModule:
    plate, tracks = make_plate(**plate_fields)
    config = DataConfig.from_mapping(
        data_mapping(plate, tracks), base_dir=plate.parent, source=plate / "c.yaml"
    )
    module = PlateDataModule(config)
    module.setup("predict")
    return module


def test_the_dataloader_passes_the_decision_to_the_reader(
    make_plate: MakePlate, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _module(make_plate)
    dataset = module.predict_dataset
    assert dataset is not None
    monkeypatch.setattr(module, "trainer", _trainer("cuda"))
    module.predict_dataloader()
    assert dataset.pin_memory
    monkeypatch.setattr(module, "trainer", _trainer("cpu"))
    batches = list(module.predict_dataloader())
    assert not dataset.pin_memory
    assert not any(b["anchor"].is_pinned() for b in batches)
    module.teardown("predict")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs a CUDA device")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_cuda_batches_are_pinned_and_equal(
    make_plate: MakePlate, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:  # pragma: no cover - runs on a GPU machine (scripts/gpu_check.sh)
    module = _module(make_plate, dtype=dtype)
    plain = list(module.predict_dataloader())
    monkeypatch.setattr(module, "trainer", _trainer("cuda"))
    pinned = list(module.predict_dataloader())
    assert all(b["anchor"].is_pinned() for b in pinned)
    for a, b in zip(plain, pinned, strict=True):
        assert torch.equal(a["anchor"], b["anchor"])
        assert torch.equal(a["anchor"], b["anchor"].cuda(non_blocking=True).cpu())
    module.teardown("predict")
