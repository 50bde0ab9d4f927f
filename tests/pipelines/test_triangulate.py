"""``repro-golden triangulate``: which side moved, the lab's pipeline or the reference?

The pipeline under test is :mod:`oracle_lab` (the builtin's own classes
through the lightning pipeline, in a subprocess of this interpreter) on the
tiny case; its golden files are written from a builtin prediction. Planted:
a shift in the lab's data loading (the pipeline moved, first at its inputs),
golden files written from a checkpoint with one changed weight (the
reference moved: both pipelines agree with each other, not with it).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
import zarr
from tiny_case import write_tiny_case

from repro_golden.api import write_golden
from repro_golden.cli import main
from repro_golden.config.load import load_case
from repro_golden.inference.predict import predict
from repro_golden.triangulate import Verdict, decide

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize(
    ("under_test", "oracle", "agree", "verdict"),
    [
        (True, True, True, Verdict.NOTHING_MOVED),
        (False, True, False, Verdict.PIPELINE_MOVED),
        (False, False, True, Verdict.REFERENCE_MOVED),
        (False, False, False, Verdict.BOTH_MOVED),
        (True, False, False, Verdict.ORACLE_MOVED),
    ],
)
def test_decide(under_test: bool, oracle: bool, agree: bool, verdict: Verdict) -> None:
    assert decide(under_test=under_test, oracle=oracle, agree=agree) is verdict
    assert verdict.pipeline_reproduces is under_test
    changed = decide(under_test=under_test, oracle=oracle, agree=agree, inputs_changed=True)
    assert changed is Verdict.NOT_INDEPENDENT
    assert not changed.pipeline_reproduces


def _lab_config(directory: Path, tiny: dict[str, Any], *, shift: float = 0.0) -> Path:
    data = dict(tiny["data"])
    normalizations = [
        {"class_path": "oracle_lab.NormalizeSampled", "init_args": n}
        for n in data.pop("normalizations")
    ]
    config = {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "enable_progress_bar": False,
            "callbacks": [
                {
                    "class_path": "repro_golden.inference.writer.EmbeddingWriter",
                    "init_args": {"output_path": "lab.zarr"},
                }
            ],
        },
        "model": {
            "class_path": "repro_golden.inference.model.module.ContrastiveModule",
            "init_args": {
                "encoder": {
                    "class_path": "repro_golden.inference.model.encoder.ContrastiveEncoder",
                    "init_args": tiny["model"],
                }
            },
        },
        "data": {
            "class_path": "oracle_lab.PlateData",
            "init_args": {
                **{k: data[k] for k in ("data_path", "tracks_path", "source_channel", "z_range")},
                **{k: data[k] for k in ("initial_yx_patch_size", "final_yx_patch_size")},
                "batch_size": data["batch_size"],
                "num_workers": 0,
                "normalizations": normalizations,
                "shift": shift,
            },
        },
        "ckpt_path": tiny["checkpoint"],
    }
    path = directory / f"lab_predict_{shift}.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _case(directory: Path, config: Path, golden: Path) -> Path:
    case = {
        "schema": "repro-golden/case/1",
        "name": "tiny",
        "pipeline": "lightning",
        "config": config.name,
        "golden": str(golden),
        "numerics": {"seed": 42, "deterministic": True, "cpu_threads": 1},
        "tolerance": {"atol": 1e-5, "rtol": 1e-4},
    }
    path = directory / f"triangulate_{config.stem}.yaml"
    path.write_text(yaml.safe_dump(case, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The tiny case, golden files from the builtin, and golden files from a changed weight."""
    case_file = write_tiny_case(tmp_path_factory.mktemp("triangulate") / "case")
    directory = case_file.parent
    mapping = yaml.safe_load(case_file.read_text())
    mapping["numerics"] = {"seed": 42, "deterministic": True, "cpu_threads": 1}
    case_file.write_text(yaml.safe_dump(mapping, sort_keys=False))
    case = load_case(case_file)
    predict(case, output=directory / "builtin.zarr", progress=False)
    write_golden(directory / "builtin.zarr", directory / "golden", case="tiny")
    payload = torch.load(directory / mapping["checkpoint"], weights_only=True)
    key = next(k for k, v in payload["state_dict"].items() if v.dtype.is_floating_point)
    payload["state_dict"][key] = payload["state_dict"][key] * 1.001
    torch.save(payload, directory / "moved.ckpt")
    predict(case, output=directory / "moved.zarr", ckpt=directory / "moved.ckpt", progress=False)
    write_golden(directory / "moved.zarr", directory / "golden_moved", case="tiny")
    # A reference whose values moved while its recorded inputs did not (an edited store).
    shutil.copytree(directory / "builtin.zarr", directory / "values_moved.zarr")
    root = zarr.open_group(str(directory / "values_moved.zarr"), mode="r+")
    for name in ("X", "obsm/X_projections"):
        root[name][...] = np.asarray(root[name][...]) * np.float32(1.001)
    write_golden(directory / "values_moved.zarr", directory / "golden_values_moved", case="tiny")
    return directory, mapping


@pytest.fixture(autouse=True)
def _lab_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))


def _triangulate(case: Path, workdir: Path) -> int:
    return main(["triangulate", str(case), "--workdir", str(workdir)])


def test_nothing_moved(
    tiny: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory, mapping = tiny
    case = _case(directory, _lab_config(directory, mapping), directory / "golden")
    assert _triangulate(case, tmp_path) == 0
    out = capsys.readouterr().out
    assert "TRIANGULATE: nothing moved" in out
    assert "first diverging stage: none" in out  # bit for bit the same as the oracle


def test_pipeline_moved(
    tiny: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory, mapping = tiny
    case = _case(directory, _lab_config(directory, mapping, shift=0.01), directory / "golden")
    assert _triangulate(case, tmp_path) == 1
    out = capsys.readouterr().out
    assert "TRIANGULATE: the pipeline under test moved" in out
    assert "first diverging stage: inputs" in out


def test_reference_moved(
    tiny: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory, mapping = tiny
    case = _case(directory, _lab_config(directory, mapping), directory / "golden_values_moved")
    assert _triangulate(case, tmp_path) == 1
    out = capsys.readouterr().out
    assert "TRIANGULATE: the reference moved" in out


def test_changed_inputs_are_not_called_a_moved_reference(
    tiny: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The golden set records another checkpoint: both predictions read the case's, so
    they agree and neither reproduces; that is an input change, not a moved reference."""
    directory, mapping = tiny
    case = _case(directory, _lab_config(directory, mapping), directory / "golden_moved")
    assert _triangulate(case, tmp_path) == 1
    out = capsys.readouterr().out
    assert "TRIANGULATE: the inputs changed" in out
    assert "not independent" in out
    assert "the reference moved" not in out


def test_builtin_case_is_refused(
    tiny: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    directory, _ = tiny
    assert main(["triangulate", str(directory / "case.yaml")]) == 2
    assert "pipeline: lightning" in capsys.readouterr().err
