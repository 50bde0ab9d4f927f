"""The lightning pipeline end to end on a toy lab package, in a subprocess interpreter.

What a user sees: the config's own classes run (their writer's output is
published at the output path, with stage digests, INFER-01 and code
provenance); an unknown key is refused as LightningCLI refuses it (exit 2);
a class that does not import names class, interpreter and error (exit 2); a
crash of the pipeline under test is a failed INFER-02 with its traceback (exit 1).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from repro_golden.cli import main
from repro_golden.core.embeddings import EmbeddingsStore

HERE = Path(__file__).resolve().parent


def _config(tmp_path: Path, **model_args: Any) -> Path:
    config = {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "enable_progress_bar": False,
            "callbacks": [
                {"class_path": "toy_lab.ToyWriter", "init_args": {"output_path": "theirs.zarr"}}
            ],
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
                        "projection_dim": 2,
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
    path = tmp_path / "predict.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(autouse=True)
def _lab_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.chdir(tmp_path)


def _checkpoint(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(0)
    encoder = torch.nn.ModuleDict(
        {"stem": torch.nn.Linear(16, 3), "projection": torch.nn.Linear(3, 2)}
    )
    state = {f"model.{k}": v for k, v in encoder.state_dict().items()}
    torch.save({"state_dict": state, "pytorch-lightning_version": "2.6.6"}, tmp_path / "toy.ckpt")


def _predict(config: Path, *extra: str) -> int:
    _checkpoint(config.parent)
    return main(
        [
            "predict",
            str(config),
            "--pipeline",
            "lightning",
            "--python",
            sys.executable,
            "--output",
            "out.zarr",
            "--no-progress",
            *extra,
        ]
    )


def test_runs_their_classes_and_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _predict(_config(tmp_path)) == 0
    assert not (tmp_path / "theirs.zarr").exists()  # redirected, then published here:
    store = EmbeddingsStore(tmp_path / "out.zarr")
    assert store.num_rows == 6
    provenance = store.provenance()
    assert provenance is not None
    assert [b["rows"] for b in provenance["stages"]["batches"]] == [4, 2]
    assert set(provenance["code"]) == {
        "toy_lab.Toy",
        "toy_lab.ToyEncoder",
        "toy_lab.ToyData",
        "toy_lab.ToyWriter",
    }
    assert provenance["pipeline"]["kind"] == "lightning"
    assert provenance["infer01"]["status"] == "pass"
    out = capsys.readouterr().out
    assert "INFER-01 PASS" in out
    assert "6 cells" in out
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_unknown_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _predict(_config(tmp_path, fial=True)) == 2
    assert "fial" in capsys.readouterr().err
    assert not (tmp_path / "out.zarr").exists()


def test_class_that_does_not_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("toy_lab.ToyData", "toy_lab_missing.ToyData"))
    assert _predict(config) == 2
    err = capsys.readouterr().err
    assert "toy_lab_missing.ToyData" in err
    assert sys.executable in err
    assert "ModuleNotFoundError" in err


def test_crash_is_a_failed_infer02(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _predict(_config(tmp_path, fail=True)) == 1
    out = capsys.readouterr().out
    assert "INFER-02 FAIL" in out
    assert "planted failure in the pipeline under test" in out
    assert "predict_step" in out  # the traceback tail
    assert not (tmp_path / "out.zarr").exists()
