"""VisCy LightningCLI predict configs map onto a Case without importing viscy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from repro_golden.config.load import load_case
from repro_golden.config.viscy_config import is_viscy_config
from repro_golden.errors import ConfigError


def _viscy(**changes: Any) -> dict[str, Any]:
    """A predict config as the lab writes them (VisCy 0.4.1 class paths)."""
    config: dict[str, Any] = {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "gpu",
            "strategy": "auto",
            "devices": 1,
            "num_nodes": 1,
            "precision": "32-true",
            "inference_mode": True,
            "callbacks": [
                {
                    "class_path": "viscy.representation.embedding_writer.EmbeddingWriter",
                    "init_args": {"output_path": "out/embeddings.zarr"},
                }
            ],
        },
        "model": {
            "class_path": "viscy.representation.engine.ContrastiveModule",
            "init_args": {
                "encoder": {
                    "class_path": "viscy.representation.contrastive.ContrastiveEncoder",
                    "init_args": {
                        "backbone": "convnext_tiny",
                        "in_channels": 1,
                        "in_stack_depth": 1,
                        "stem_kernel_size": [1, 4, 4],
                        "stem_stride": [1, 4, 4],
                        "embedding_dim": 768,
                        "projection_dim": 32,
                        "drop_path_rate": 0.0,
                    },
                },
                "example_input_array_shape": [1, 1, 1, 160, 160],
            },
        },
        "data": {
            "class_path": "viscy.data.triplet.TripletDataModule",
            "init_args": {
                "data_path": "data/plate.zarr",
                "tracks_path": "data/tracks.zarr",
                "source_channel": ["Phase3D"],
                "z_range": [0, 1],
                "initial_yx_patch_size": [160, 160],
                "final_yx_patch_size": [160, 160],
                "batch_size": 64,
                "num_workers": 16,
                "normalizations": [
                    {
                        "class_path": "viscy.transforms.NormalizeSampled",
                        "init_args": {
                            "keys": ["Phase3D"],
                            "level": "fov_statistics",
                            "subtrahend": "mean",
                            "divisor": "std",
                        },
                    }
                ],
            },
        },
        "return_predictions": False,
        "ckpt_path": "ckpt/epoch=99.ckpt",
    }
    config.update(changes)
    return config


def _write(directory: Path, mapping: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "predict.yml"
    path.write_text(yaml.safe_dump(mapping))
    return path


def test_maps_model_data_trainer_checkpoint_and_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path / "configs", _viscy())
    monkeypatch.chdir(tmp_path)
    case = load_case(path)
    assert case.name == "predict"
    assert case.model.backbone == "convnext_tiny"
    assert case.model.projection_dim == 32
    assert case.data.source_channel == ("Phase3D",)
    assert case.data.batch_size == 64
    assert case.data.normalizations[0].level == "fov_statistics"
    assert case.trainer.accelerator == "gpu"
    # Paths are relative to the current directory, as LightningCLI resolves them.
    assert case.data.data_path == tmp_path / "data" / "plate.zarr"
    assert case.checkpoint == tmp_path / "ckpt" / "epoch=99.ckpt"
    assert case.output == tmp_path / "out" / "embeddings.zarr"
    assert case.numerics.seed == 42
    # One default with case files: no TF32 (VisCy's CLI sets "high": a case says so).
    assert case.numerics.matmul_precision == "highest"
    assert case.numerics.precision == "32-true"
    assert case.numerics.deterministic is False  # Lightning's default
    assert case.config["viscy_config"]["ckpt_path"] == "ckpt/epoch=99.ckpt"


def test_load_config_detects_the_kind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert is_viscy_config(_viscy())
    assert not is_viscy_config({"schema": "repro-golden/case/1", "model": {"class_path": "x"}})
    assert load_case(_write(tmp_path, _viscy())).checkpoint == tmp_path / "ckpt/epoch=99.ckpt"


def test_defaults_when_the_config_is_silent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _viscy()
    del config["seed_everything"]
    config["trainer"] = {"accelerator": "cpu"}
    monkeypatch.chdir(tmp_path)
    case = load_case(_write(tmp_path, config))
    assert case.numerics.seed == 42
    assert case.numerics.precision == "32-true"
    assert case.numerics.inference_mode is True
    assert case.output is None


def test_module_level_ckpt_path_is_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _viscy()
    del config["ckpt_path"]
    config["model"]["init_args"]["ckpt_path"] = "weights.ckpt"
    monkeypatch.chdir(tmp_path)
    assert load_case(_write(tmp_path, config)).checkpoint == tmp_path / "weights.ckpt"


def _set(config: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    node = config
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return config


@pytest.mark.parametrize(
    ("dotted", "value", "key"),
    [
        ("model.class_path", "viscy.representation.engine.BetaVaeModule", "model.class_path"),
        (
            "model.init_args.encoder.class_path",
            "viscy.representation.contrastive.ResNet3dEncoder",
            "model.init_args.encoder.class_path",
        ),
        ("data.class_path", "viscy.data.hcs.HCSDataModule", "data.class_path"),
        ("ckpt_path", None, "ckpt_path"),
        ("seed_everything", True, "seed_everything"),
        ("trainer.limit_predict_batches", 2, "trainer.limit_predict_batches"),
        ("optimizer", {"lr": 1}, "optimizer"),
        (
            "data.init_args.normalizations",
            [{"class_path": "viscy.transforms.ScaleIntensityRangePercentilesd"}],
            "data.normalizations[0]",
        ),
        ("data.init_args.source_channel", 3, "data.source_channel"),
    ],
)
def test_unsupported_configs_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dotted: str, value: Any, key: str
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _write(tmp_path, _set(_viscy(), dotted, value))
    with pytest.raises(ConfigError) as info:
        load_case(path)
    assert info.value.key == key
    assert info.value.path == path


def test_mapping_never_imports_viscy(tmp_path: Path) -> None:
    path = _write(tmp_path, _viscy())
    code = (
        "import sys; from repro_golden.config.load import load_case; "
        f"load_case({str(path)!r}); print('viscy' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize(
    ("file_name", "case_name"),
    [("my predict.yml", "my_predict"), (".hidden cfg.yml", "hidden_cfg"), ("a..b.yml", "a_b")],
)
def test_any_config_file_name_gives_a_safe_case_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_name: str, case_name: str
) -> None:
    path = tmp_path / file_name
    path.write_text(yaml.safe_dump(_viscy()))
    monkeypatch.chdir(tmp_path)
    assert load_case(path).name == case_name
