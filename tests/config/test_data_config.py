"""DataConfig: VisCy names, VisCy-CLI normalization blocks, errors naming file and key."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from repro_golden.config.data import MAX_DECODE_THREADS, DataConfig, NormalizationSpec
from repro_golden.errors import ConfigError

SOURCE = Path("/cases/case.yaml")
BASE: dict[str, Any] = {
    "data_path": "plate.zarr",
    "tracks_path": "/abs/tracks.zarr",
    "source_channel": "Phase3D",
    "z_range": [0, 1],
}


def load(**overrides: Any) -> DataConfig:
    return DataConfig.from_mapping({**BASE, **overrides}, base_dir=Path("/cases"), source=SOURCE)


def test_defaults_are_viscy_defaults_and_paths_resolve_against_base_dir() -> None:
    config = load()
    assert config.data_path == Path("/cases/plate.zarr")
    assert config.tracks_path == Path("/abs/tracks.zarr")
    assert config.source_channel == ("Phase3D",)
    assert config.initial_yx_patch_size == (512, 512)
    assert config.final_yx_patch_size == (224, 224)
    assert config.batch_size == 16
    assert config.final_z_size == 1
    assert config.normalizations == ()


def test_viscy_cli_normalization_block_and_aliases_and_ignored_training_keys() -> None:
    config = load(
        source_channel=["Phase3D", "GFP"],
        z_range=[2, 7],
        z_window_size=3,
        fit_include_wells=["A/1"],
        fit_exclude_fovs=["A/1/3"],
        split_ratio=0.8,
        augmentations=[],
        time_interval="any",
        normalizations=[
            {
                "class_path": "viscy.transforms.NormalizeSampled",
                "init_args": {"keys": ["GFP"], "level": "dataset_statistics", "divisor": "iqr"},
            },
            {"keys": "Phase3D", "level": "fov_statistics", "subtrahend": "median"},
        ],
    )
    assert config.include_wells == ("A/1",)
    assert config.exclude_fov_names == ("A/1/3",)
    assert config.final_z_size == 3
    assert config.normalizations == (
        NormalizationSpec(("GFP",), "dataset_statistics", "mean", "iqr"),
        NormalizationSpec(("Phase3D",), "fov_statistics", "median", "std"),
    )


def test_environment_variables_expand_in_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATES", "/hpc/plates")
    config = load(data_path="${PLATES}/a.zarr", tracks_path="${MISSING_VAR:-/tmp}/t.zarr")
    assert config.data_path == Path("/hpc/plates/a.zarr")
    assert config.tracks_path == Path("/tmp/t.zarr")


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"z_range": [3, 3]}, "data.z_range", "stop > start"),
        ({"z_range": [-1, 2]}, "data.z_range", "two integers >= 0"),
        ({"batch_size": 0}, "data.batch_size", "integer >= 1"),
        ({"initial_yx_patch_size": [160]}, "data.initial_yx_patch_size", "two integers"),
        ({"source_channel": []}, "data.source_channel", "at least one channel"),
        ({"source_channel": ["GFP", "GFP"]}, "data.source_channel", "distinct channel names"),
        ({"bogus": 1}, "data.bogus", "unknown key"),
        ({"data_path": None}, "data.data_path", "required"),
        ({"predict_cells": "yes"}, "data.predict_cells", "true or false"),
        ({"include_track_ids": ["a"]}, "data.include_track_ids", "integers"),
        ({"tracks_path": "${SURELY_UNSET_VAR_42}/t"}, "data.tracks_path", "SURELY_UNSET_VAR_42"),
        (
            {"normalizations": [{"keys": ["Phase3D"], "level": "timepoint_statistics"}]},
            "data.normalizations[0].level",
            "fov_statistics",
        ),
        (
            {
                "normalizations": [
                    {"class_path": "viscy.transforms.ScaleIntensityRangePercentilesd"}
                ]
            },
            "data.normalizations[0]",
            "only NormalizeSampled",
        ),
        (
            {"normalizations": [{"keys": ["GFP"], "level": "fov_statistics"}]},
            "data.normalizations",
            "not a source channel",
        ),
    ],
)
def test_bad_values_name_the_file_the_key_and_what_was_expected(
    overrides: dict[str, Any], key: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load(**overrides)
    assert caught.value.path == SOURCE
    assert caught.value.key == key
    assert str(SOURCE) in str(caught.value)
    assert expected in str(caught.value)


def test_decode_threads_follow_affinity_slurm_and_num_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(6)), raising=False)
    monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    assert load().decode_threads == 6  # the cores this process may run on
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert load().decode_threads == 3  # SLURM's share when smaller
    assert load(num_workers=5).decode_threads == 5
    assert load(read_threads=2, num_workers=5).decode_threads == 2  # the case decides
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "64")
    assert load().decode_threads == 6  # never more than the affinity allows
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert load().decode_threads == MAX_DECODE_THREADS


def test_alias_and_viscy_name_together_is_an_error() -> None:
    with pytest.raises(ConfigError, match="given twice"):
        load(include_wells=["A/1"], fit_include_wells=["A/2"])


def test_every_data_field_has_a_reader() -> None:
    """The table that reads ``data:`` covers every field (a new field must say how it is read)."""
    from dataclasses import fields

    from repro_golden.config.data import _FIELDS, DataConfig

    assert set(_FIELDS) == {f.name for f in fields(DataConfig)} - {"source"}


def test_unknown_key_hints_at_the_closest_name(tmp_path: Path) -> None:
    from repro_golden.config.data import DataConfig
    from repro_golden.errors import ConfigError

    mapping = {
        "data_path": "p.zarr",
        "tracks_path": "t.zarr",
        "source_channel": ["Phase3D"],
        "z_range": [0, 1],
        "batch_sise": 4,
    }
    with pytest.raises(ConfigError, match=r"did you mean 'batch_size'\?") as caught:
        DataConfig.from_mapping(mapping, base_dir=tmp_path, source=tmp_path / "case.yaml")
    assert caught.value.key == "data.batch_sise"
