"""How a finished runner becomes a verdict, without running one (fast unit tests).

``_raise_for`` turns the runner's exit status and events into a fault (exit 2),
a stop (exit 128 + n) or a failed INFER-02; ``_check_rows`` compares the rows a
writer wrote with the cells every rank predicted.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from repro_golden.config.case import LightningSpec
from repro_golden.errors import StorageError
from repro_golden.inference.pipelines.base import PipelineFailedError
from repro_golden.inference.pipelines.lightning import RunnerEvents, _check_rows, _raise_for
from repro_golden.inference.pipelines.runner import protocol
from repro_golden.inference.probes import ROW_KEYS
from repro_golden.interrupts import Interrupted


def _events(**by_kind: dict[str, Any]) -> RunnerEvents:
    events = RunnerEvents()
    events.by_kind.update({"start": {"event": "start"}, **by_kind})
    return events


def _raise(status: int, events: RunnerEvents, tmp_path: Path) -> None:
    spec = LightningSpec(config=tmp_path / "predict.yml", cwd=tmp_path)
    _raise_for(status, events, spec, "python3", expanded=False, output=tmp_path / "out.zarr")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_runner_killed_by_a_stop_signal_is_a_stop(tmp_path: Path, signum: int) -> None:
    """A signal before the runner's handlers were installed: a stop, not a regression."""
    with pytest.raises(Interrupted) as caught:
        _raise(-signum, _events(), tmp_path)
    assert caught.value.exit_status == 128 + signum


def test_runner_killed_by_sigkill_says_so(tmp_path: Path) -> None:
    with pytest.raises(PipelineFailedError, match=r"killed by SIGKILL: Lightning kills every"):
        _raise(-signal.SIGKILL, _events(), tmp_path)


def test_storage_fault_names_the_output_and_the_space(tmp_path: Path) -> None:
    failed = {"phase": "predict", "exception": "OSError", "message": "[Errno 28]"}
    failed["storage"] = {"errno": 28, "strerror": "No space left on device", "filename": None}
    with pytest.raises(StorageError) as caught:
        _raise(protocol.EXIT_PIPELINE, _events(failed=failed), tmp_path)
    assert str(tmp_path / "out.zarr") in str(caught.value)
    assert "cannot write the lab's writer output: no space left on device" in str(caught.value)


class _Store:
    """What :func:`_check_rows` reads of an embeddings store."""

    def __init__(self, ids: list[int]) -> None:
        self.num_rows = len(ids)
        self.index_columns = ROW_KEYS
        self._columns = {
            "fov_name": np.asarray(["/A/1/0"] * len(ids), dtype=object),
            "track_id": np.asarray(ids),
            "t": np.zeros(len(ids), dtype=np.int64),
            "id": np.asarray(ids),
        }

    def read_column(self, column: str) -> np.ndarray:
        return self._columns[column]


def _ranks(tmp_path: Path, shares: list[list[int]]) -> Path:
    ranks = [
        {"rank": r, "cells": len(ids), "batches": 1, "keys": [["A/1/0", i, 0, i] for i in ids]}
        for r, ids in enumerate(shares)
    ]
    (tmp_path / protocol.PREDICTED_ROWS).write_text(json.dumps({"ranks": ranks}))
    return tmp_path


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ([0, 2, 4], "3 rows written for 6 cells predicted, 3 missing; the writer kept rank 0's"),
        ([1, 3, 5], "3 missing; the writer kept rank 1's share only"),
        ([0, 1, 2, 3, 4, 5, 0, 2, 4], "9 rows written for 6 cells predicted, 3 duplicated"),
        ([0, 1, 2, 3, 4, 5, 9], "7 rows written for 6 cells predicted, 1 never predicted"),
    ],
    ids=["rank-0-share", "rank-1-share", "duplicated", "foreign"],
)
def test_rows_other_than_predicted_fail_infer02(
    tmp_path: Path, written: list[int], message: str
) -> None:
    private = _ranks(tmp_path, [[0, 2, 4], [1, 3, 5]])
    with pytest.raises(PipelineFailedError) as caught:
        _check_rows(_Store(written), private, {}, "lab.Writer", "python3")
    text = caught.value.failure.render()
    assert text.startswith("INFER-02 FAIL")
    assert message in text
    assert "cells predicted per rank: rank 0: 3, rank 1: 3" in text


def test_every_row_once_in_any_order_passes(tmp_path: Path) -> None:
    private = _ranks(tmp_path, [[0, 2, 4], [1, 3, 5]])
    _check_rows(_Store([5, 4, 3, 2, 1, 0]), private, {}, "lab.Writer", "python3")
