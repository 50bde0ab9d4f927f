"""The lab's config under DDP (2 CPU processes, gloo) through the lightning pipeline.

Lightning relaunches the runner for rank 1 with the runner's own arguments, so
the run spec must reach it (it was cut from ``sys.argv``: rank 1 died with
``IndexError``). After the run, the rows in the writer's store are compared
with the cells every rank predicted: a writer that gathers the ranks'
predictions gives the single-process store bit for bit; one that writes rank
0's predictions only fails INFER-02, naming each rank's count and what the
writer did. Six cells in batches of 4 make one batch of 3 per rank.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from toy_configs import lab_env, toy_checkpoint, toy_config

from repro_golden.cli import main
from repro_golden.core.embeddings import EmbeddingsStore

DDP = {"devices": 2, "strategy": "ddp"}


@pytest.fixture(autouse=True)
def _lab_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONPATH", lab_env()["PYTHONPATH"])
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # like for like: the thread count moves bits
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.chdir(tmp_path)
    toy_checkpoint(tmp_path)


def _predict(config: Path, output: str) -> int:
    return main(
        [
            "predict",
            str(config),
            "--pipeline",
            "lightning",
            "--python",
            sys.executable,
            "--output",
            output,
            "--no-progress",
        ]
    )


def _arrays(path: Path) -> dict[str, Any]:
    store = EmbeddingsStore(path)
    rows = np.arange(store.num_rows)
    return {
        "ids": store.read_column("id").tolist(),
        "X": store.read_rows("X", rows),
        "X_projections": store.read_rows("X_projections", rows),
        "provenance": store.provenance(),
    }


def test_gathering_writer_under_ddp_equals_single_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = "toy_lab.GatheringWriter"
    single = toy_config(tmp_path, writer=writer, name="single.yml")
    ddp = toy_config(tmp_path, writer=writer, trainer=DDP, name="ddp.yml")
    assert _predict(single, "single.zarr") == 0
    assert _predict(ddp, "ddp.zarr") == 0, capsys.readouterr()
    one, two = _arrays(tmp_path / "single.zarr"), _arrays(tmp_path / "ddp.zarr")
    assert one["ids"] == two["ids"] == list(range(6))
    assert one["X"].tobytes() == two["X"].tobytes()
    assert one["X_projections"].tobytes() == two["X_projections"].tobytes()
    provenance = two["provenance"]
    assert provenance["world_size"] == 2
    assert [(r["rank"], r["cells"]) for r in provenance["ranks"]] == [(0, 3), (1, 3)]
    assert provenance["rows"] == 6
    assert sorted({b["rank"] for b in provenance["stages"]["batches"]}) == [0, 1]
    assert "6 cells" in capsys.readouterr().out


def test_writer_without_gather_under_ddp_fails_infer02(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Upstream-like: each rank concatenates its own predictions, only rank 0 writes."""
    config = toy_config(tmp_path, writer="toy_lab.RankZeroWriter", trainer=DDP)
    assert _predict(config, "out.zarr") == 1
    out = capsys.readouterr().out
    assert "INFER-02 FAIL" in out
    assert "toy_lab.RankZeroWriter wrote other rows than were predicted" in out
    assert "3 rows written for 6 cells predicted, 3 missing" in out
    assert "the writer kept rank 0's share only" in out
    assert "cells predicted per rank: rank 0: 3, rank 1: 3" in out
    assert not (tmp_path / "out.zarr").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
