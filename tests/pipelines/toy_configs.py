"""Predict configs and checkpoints for :mod:`toy_lab`, shared by the lightning pipeline's tests.

``toy_config`` writes a LightningCLI predict config that names toy_lab's
classes; ``toy_checkpoint`` writes a checkpoint for it (optionally with other
widths, ``hyper_parameters`` or extra objects); ``lab_env`` is the environment
a ``repro-golden`` subprocess needs to import toy_lab in the runner.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent


def toy_config(
    directory: Path,
    *,
    writer: str = "toy_lab.ToyWriter",
    writer_args: dict[str, Any] | None = None,
    trainer: dict[str, Any] | None = None,
    projection_dim: int = 2,
    name: str = "predict.yml",
    **model_args: Any,
) -> Path:
    """A predict config in ``directory`` (paths in it are relative to the runner's cwd)."""
    config = {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "enable_progress_bar": False,
            "callbacks": [
                {
                    "class_path": writer,
                    "init_args": {"output_path": "theirs.zarr", **(writer_args or {})},
                }
            ],
            **(trainer or {}),
        },
        "model": {
            "class_path": "toy_lab.Toy",
            "init_args": {
                "encoder": {
                    "class_path": "toy_lab.ToyEncoder",
                    "init_args": {
                        "backbone": "convnext_tiny",
                        "in_channels": 1,
                        "in_stack_depth": 1,
                        "embedding_dim": 3,
                        "projection_dim": projection_dim,
                    },
                },
                **model_args,
            },
        },
        "data": {
            "class_path": "toy_lab.ToyData",
            "init_args": {
                "data_path": "unused.zarr",
                "tracks_path": "unused.zarr",
                "source_channel": ["Phase3D"],
                "z_range": [0, 1],
                "initial_yx_patch_size": [4, 4],
                "final_yx_patch_size": [4, 4],
                "batch_size": 4,
            },
        },
        "ckpt_path": "toy.ckpt",
    }
    path = directory / name
    path.write_text(yaml.safe_dump(config))
    return path


def toy_checkpoint(
    directory: Path,
    *,
    projection_dim: int = 2,
    hyper_parameters: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """``directory/toy.ckpt``: ToyEncoder weights (seed 0) under ``model.``."""
    import torch

    torch.manual_seed(0)
    encoder = torch.nn.ModuleDict(
        {"stem": torch.nn.Linear(16, 3), "projection": torch.nn.Linear(3, projection_dim)}
    )
    payload: dict[str, Any] = {
        "state_dict": {f"model.{k}": v for k, v in encoder.state_dict().items()},
        "pytorch-lightning_version": "2.6.6",
    }
    if hyper_parameters is not None:
        payload["hyper_parameters"] = hyper_parameters
    payload.update(extra or {})
    path = directory / "toy.ckpt"
    torch.save(payload, path)
    return path


def lab_env() -> dict[str, str]:
    """This environment with toy_lab importable (by the runner and its DDP ranks)."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "PYTHONWARNINGS": "ignore",
    }


def predict_command(config: Path, *extra: str | Path, python: str | None = None) -> list[str]:
    """``repro-golden predict CONFIG --pipeline lightning ...`` as a subprocess command."""
    return [
        sys.executable,
        "-m",
        "repro_golden",
        "predict",
        str(config),
        "--pipeline",
        "lightning",
        "--python",
        python or sys.executable,
        "--no-progress",
        *map(str, extra),
    ]
