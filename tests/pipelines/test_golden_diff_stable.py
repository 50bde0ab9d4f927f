"""golden.json is diff-stable (verdicts v3): the same results written again from another
folder give the same bytes, for both pipelines.

Golden files live in the lab's git history: no absolute path (venv, site-packages,
pytest temporary folders), no timing, no run id may reach them. Each pipeline predicts
the same case twice, from two folders, and golden files are written for each.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from tiny_case import write_tiny_case
from toy_configs import lab_env, toy_checkpoint, toy_config

from repro_golden.api import write_golden
from repro_golden.cli import main
from repro_golden.config.load import load_case

pytest.importorskip("torch")


def _golden_bytes(store: Path, out: Path) -> bytes:
    write_golden(store, out, case="stable")
    return (out / "golden.json").read_bytes()


def test_builtin_golden_json_is_byte_identical_from_two_folders(tmp_path: Path) -> None:
    from repro_golden.inference.predict import predict

    written = []
    for side in ("first", "second"):
        case_file = write_tiny_case(tmp_path / side / "case")
        store = predict(
            load_case(case_file), output=tmp_path / side / "emb.zarr", progress=False
        ).path
        written.append(_golden_bytes(Path(store), tmp_path / side / "golden"))
    assert written[0] == written[1]
    assert str(tmp_path).encode() not in written[0]


def test_lightning_golden_json_is_byte_identical_from_two_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", lab_env()["PYTHONPATH"])
    written = []
    for side in ("first", "second"):
        folder = tmp_path / side
        folder.mkdir()
        monkeypatch.chdir(folder)
        config = toy_config(folder)
        toy_checkpoint(folder)
        argv = ["predict", str(config), "--pipeline", "lightning", "--python", sys.executable]
        assert main([*argv, "--output", "emb.zarr", "--no-progress"]) == 0
        written.append(_golden_bytes(folder / "emb.zarr", folder / "golden"))
        shutil.rmtree(folder / "emb.zarr")
    assert written[0] == written[1]
    text = written[0].decode()
    assert str(tmp_path) not in text
    assert sys.prefix not in text
    assert "wall_seconds" not in text
