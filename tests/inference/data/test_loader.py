"""The fast reader: the read plan's guarantees, random access, DDP shares, failures, threads."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from synthetic_plates import data_mapping
from torch.utils.data import DataLoader, DistributedSampler

from repro_golden.config.data import DataConfig
from repro_golden.errors import DataError
from repro_golden.inference.data.datamodule import PlateBatches, PlateDataModule
from repro_golden.inference.data.loader import plan_reads

MakePlate = Callable[..., tuple[Path, Path]]


@settings(max_examples=200, deadline=None)
@given(
    frames=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 4)), min_size=1, max_size=60),
    horizon=st.integers(1, 70),
)
def test_plan_cuts_every_row_once_in_completion_order(
    frames: list[tuple[int, int]], horizon: int
) -> None:
    fov = np.array([f for f, _ in frames])
    t = np.array([t for _, t in frames])
    reads = plan_reads(fov, t, horizon)
    seen = np.concatenate([r.positions for r in reads])
    assert sorted(seen.tolist()) == list(range(len(frames)))
    completes = [r.complete for r in reads]
    assert completes == sorted(completes)
    assert completes[-1] == len(frames)
    done = 0
    for read in reads:
        assert all(fov[p] == read.fov and t[p] == read.t for p in read.positions)
        assert done in read.positions  # each read serves the earliest row still missing
        assert read.positions.max() < done + horizon  # memory: never beyond the horizon
        done = read.complete
    if horizon >= len(frames):
        assert len(reads) == len(set(frames))  # each frame decoded exactly once


def test_plan_rejects_an_empty_horizon() -> None:
    with pytest.raises(ValueError, match="horizon"):
        plan_reads(np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64), 0)


def module_for(plate: Path, tracks: Path, **overrides: Any) -> PlateDataModule:
    config = DataConfig.from_mapping(
        data_mapping(plate, tracks, **overrides), base_dir=plate.parent, source=plate / "c.yaml"
    )
    module = PlateDataModule(config)
    module.setup("predict")
    return module


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (
        torch.equal(a["anchor"], b["anchor"])
        and torch.equal(a["row"], b["row"])
        and a["fov_name"] == b["fov_name"]
        and all(torch.equal(a["index"][k], b["index"][k]) for k in a["index"])
    )


@pytest.fixture
def two_channel_module(make_plate: MakePlate) -> PlateDataModule:
    plate, tracks = make_plate(cells_per_frame=8)
    return module_for(
        plate,
        tracks,
        source_channel=["GFP", "Phase3D"],
        z_range=[1, 3],
        normalizations=[{"keys": ["GFP", "Phase3D"], "level": "fov_statistics"}],
        batch_size=4,
        cache_bytes=3 * 2 * 2 * 12 * 12 * 4,  # three rows ahead: frames are read many times
    )


def test_random_access_equals_sequential(two_channel_module: PlateDataModule) -> None:
    dataset = two_channel_module.predict_dataset
    assert isinstance(dataset, PlateBatches)
    assert dataset.horizon == 4  # at least one batch
    sequential = list(two_channel_module.predict_dataloader())
    count = len(sequential)
    assert count == len(dataset) > 5
    order = [count - 1, 0, 3, 2, 2, 5, 1, *range(count)]
    for batch in order:
        assert same(dataset[batch], sequential[batch]), batch
    with pytest.raises(IndexError):
        dataset[count]
    two_channel_module.teardown("predict")


@pytest.mark.parametrize("world", [2, 3])
def test_ddp_ranks_get_whole_batches_that_together_are_the_dataset(
    two_channel_module: PlateDataModule, world: int
) -> None:
    dataset = two_channel_module.predict_dataset
    assert dataset is not None
    reference = list(two_channel_module.predict_dataloader())
    rows: list[int] = []
    for rank in range(world):
        dataset.set_expected_order(range(rank, len(dataset), world))
        sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=False)
        loader = DataLoader(dataset, batch_size=None, sampler=sampler)
        for number, item in zip(list(sampler), loader, strict=True):
            assert same(item, reference[number])
            rows.extend(item["row"].tolist())
    # DistributedSampler pads with repeats; `row` lets the writer drop them.
    assert sorted(set(rows)) == list(range(two_channel_module.num_rows))
    two_channel_module.teardown("predict")


def test_dataset_pickles_without_its_thread(two_channel_module: PlateDataModule) -> None:
    dataset = two_channel_module.predict_dataset
    assert dataset is not None
    first = dataset[0]
    copy = pickle.loads(pickle.dumps(dataset))
    assert same(copy[0], first)
    copy.close()
    two_channel_module.teardown("predict")


def reader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("repro-golden")]


def test_teardown_stops_the_reader_mid_stream(two_channel_module: PlateDataModule) -> None:
    iterator = iter(two_channel_module.predict_dataloader())
    next(iterator)
    assert reader_threads()
    two_channel_module.teardown("predict")
    assert not reader_threads()


def test_a_read_failure_reaches_the_consumer(make_plate: MakePlate) -> None:
    plate, tracks = make_plate(fovs=("A/1/0",), shape=(2, 1, 1, 48, 56), channels=("Phase3D",))
    module = module_for(plate, tracks)
    for chunk in (plate / "A/1/0/0").rglob("*"):
        if chunk.is_file() and not chunk.name.startswith("."):
            chunk.write_bytes(b"not a blosc chunk")
    with pytest.raises(DataError, match="cannot read time point 0") as caught:
        list(module.predict_dataloader())
    assert caught.value.path == plate / "A/1/0/0"
    dataset = module.predict_dataset
    assert dataset is not None
    with pytest.raises(DataError):  # asked again: a fresh attempt, not a hang
        dataset[0]
    module.teardown("predict")
    assert not reader_threads()


def test_module_facade(make_plate: MakePlate) -> None:
    plate, tracks = make_plate(with_z=False)
    module = module_for(plate, tracks)
    assert module.index_columns == (
        "fov_name",
        "track_id",
        "t",
        "id",
        "parent_track_id",
        "parent_id",
        "y",
        "x",
    )
    item = next(iter(module.predict_dataloader()))
    assert set(item) == {"anchor", "index", "fov_name", "row"}
    assert item["anchor"].shape == (5, 1, 1, 12, 12)
    assert set(item["index"]) == set(module.index_columns[1:])
    with pytest.raises(NotImplementedError):
        module.setup("fit")
    module.teardown("predict")
