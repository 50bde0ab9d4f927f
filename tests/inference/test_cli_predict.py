"""``repro-golden predict``: as a user runs it (exit statuses, summary line, overrides)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anndata as ad
import pytest
import yaml
from tiny_case import write_tiny_case

from repro_golden.cli import main

SUMMARY = re.compile(r"^(\d+) cells in \d+\.\d s \(\d+\.\d cells/s\)$")


@pytest.fixture(scope="module")
def case_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_case(tmp_path_factory.mktemp("tiny"))


def _viscy_config(case_file: Path, directory: Path) -> Path:
    """The tiny case as a VisCy LightningCLI predict config (paths relative to ``directory``)."""
    case = yaml.safe_load(case_file.read_text())
    rel = Path("..") / case_file.parent.name
    data = dict(case["data"])
    data["data_path"] = str(rel / data["data_path"])
    data["tracks_path"] = str(rel / data["tracks_path"])
    data["normalizations"] = [
        {"class_path": "viscy.transforms.NormalizeSampled", "init_args": n}
        for n in data["normalizations"]
    ]
    config = {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "precision": "32-true",
            "callbacks": [
                {
                    "class_path": "viscy.representation.embedding_writer.EmbeddingWriter",
                    "init_args": {"output_path": "viscy_out.zarr"},
                }
            ],
        },
        "model": {
            "class_path": "viscy.representation.engine.ContrastiveModule",
            "init_args": {
                "encoder": {
                    "class_path": "viscy.representation.contrastive.ContrastiveEncoder",
                    "init_args": case["model"],
                }
            },
        },
        "data": {"class_path": "viscy.data.triplet.TripletDataModule", "init_args": data},
        "ckpt_path": str(rel / case["checkpoint"]),
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "predict.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_case_file_with_overrides(
    case_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.zarr"
    status = main(
        ["predict", str(case_file), "--output", str(output), "--batch-size", "5", "--no-progress"]
    )
    stdout = capsys.readouterr().out.strip().splitlines()
    assert status == 0
    match = SUMMARY.match(stdout[-1])
    assert match is not None, stdout
    assert int(match.group(1)) == ad.read_zarr(output).n_obs


def test_existing_output_is_exit_2_then_overwrite_works(
    case_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out.zarr"
    output.mkdir()
    assert main(["predict", str(case_file), "--output", str(output), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "output exists" in err
    assert str(output) in err
    args = ["predict", str(case_file), "--output", str(output), "--overwrite", "--no-progress"]
    assert main(args) == 0
    assert ad.read_zarr(output).n_obs > 0


def test_viscy_config_runs_relative_to_the_cwd(
    case_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _viscy_config(case_file, case_file.parent.parent / "run")
    monkeypatch.chdir(config.parent)
    assert main(["predict", "predict.yml", "--no-progress"]) == 0
    assert ad.read_zarr(config.parent / "viscy_out.zarr").n_obs > 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ckpt", "missing.ckpt"], "checkpoint file does not exist"),
        (["--device", "gpu"], "CUDA"),
    ],
)
def test_bad_input_is_exit_2(
    case_file: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    import torch

    if args[0] == "--device" and torch.cuda.is_available():
        pytest.skip("checks the no-GPU error; a GPU is present")
    status = main(["predict", str(case_file), "--output", str(tmp_path / "o.zarr"), *args])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.zarr").exists()


def test_bad_config_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: repro-golden/case/1\nname: x\n")
    assert main(["predict", str(bad)]) == 2
    assert "bad.yaml" in capsys.readouterr().err


def test_console_script_shows_progress_and_summary(case_file: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.zarr"
    done = subprocess.run(
        [sys.executable, "-m", "repro_golden", "predict", str(case_file), "--output", str(output)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Predicting" in done.stderr  # the tqdm progress bar
    assert SUMMARY.match(done.stdout.strip().splitlines()[-1])
