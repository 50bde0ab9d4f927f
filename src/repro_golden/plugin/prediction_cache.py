"""One prediction per case per session, shared by every test and every pytest-xdist worker.

A prediction costs seconds to hours, and INFER-01, -02 and -03 all read it.
Within one process a dict keeps it; across xdist workers a directory does:
``<root>/repro-golden-predictions/<case>-<digest>/`` holds the embeddings and
a ``result.json`` saying what happened (written last, atomically), and an
``flock`` on ``<digest>.lock`` makes one worker predict while the others
wait, then read its result. ``<root>`` is the session's base temp directory,
whose parent-child layout pytest-xdist keeps (each worker's basetemp is
``<controller basetemp>/popen-gwN``, so the workers share the parent): the
cache lives exactly one session, and a prediction of an earlier session,
possibly of other code, is never reused.

The digest is taken from what decides the prediction as loaded: the case
file's resolved path, the case as written, the paths its variables expanded
to, the lightning spec and the device. Every prediction actually run appends
one line to ``predictions.log`` beside the entries (case, digest, worker,
seconds), which is what the tests count.

A failed prediction is cached too (its rendered verdict), so the items that
need it fail with the pipeline's own message instead of predicting again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from repro_golden.core.atomic import write_text_atomic
from repro_golden.plugin.prepared import PreparedCase

_MEMO = pytest.StashKey[dict[str, "Prediction"]]()
CACHE_DIR = "repro-golden-predictions"
LOG = "predictions.log"


@dataclass(frozen=True)
class Prediction:
    """What one prediction of a case gave: its store, or the verdict of its failure.

    ``infer01`` is the lightning pipeline's INFER-01 record (``Infer01Outcome.to_dict``),
    ``infer01_text`` its rendering; both None for the builtin, whose loader is
    strict or raises. ``failure`` is the rendered verdict of a failed run (an
    ``INFER-01 FAIL`` listing when the run stopped there, else ``INFER-02 FAIL``).
    """

    path: Path
    cells: int = 0
    seconds: float = 0.0
    infer01: dict[str, Any] | None = None
    infer01_text: str | None = None
    failure: str | None = None

    @property
    def failed_at_infer01(self) -> bool:
        """Whether the run stopped at INFER-01 (the pipeline's strict load or forward)."""
        return self.failure is not None and self.failure.startswith("INFER-01")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "cells": self.cells,
            "seconds": self.seconds,
            "infer01": self.infer01,
            "infer01_text": self.infer01_text,
            "failure": self.failure,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Prediction:
        return cls(
            path=Path(data["path"]),
            cells=int(data["cells"]),
            seconds=float(data["seconds"]),
            infer01=data.get("infer01"),
            infer01_text=data.get("infer01_text"),
            failure=data.get("failure"),
        )


def case_digest(prepared: PreparedCase) -> str:
    """What decides the prediction, hashed (see the module docs)."""
    case = prepared.case
    key = {
        "case_file": str(prepared.case_file.resolve()),
        "case": case.to_dict(),
        "checkpoint": str(case.checkpoint),
        "data": [str(case.data.data_path), str(case.data.tracks_path)],
        "lightning": None if case.lightning is None else case.lightning.to_dict(),
        "device": prepared.device,
    }
    text = json.dumps(key, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root(config: pytest.Config) -> Path:
    """``<session basetemp>/repro-golden-predictions``, the same for every xdist worker."""
    factory = config._tmp_path_factory  # type: ignore[attr-defined]  # pytest's own
    basetemp = Path(factory.getbasetemp())
    shared = basetemp.parent if hasattr(config, "workerinput") else basetemp
    root = shared / CACHE_DIR
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def predict_once(config: pytest.Config, prepared: PreparedCase) -> Prediction:
    """The case's prediction: this session's, made here or by another worker, or made now."""
    digest = case_digest(prepared)
    memo = config.stash.setdefault(_MEMO, {})
    if digest in memo:
        return memo[digest]
    root = cache_root(config)
    entry = root / f"{prepared.name}-{digest}"
    result = entry / "result.json"
    with _exclusive(root / f"{digest}.lock"):
        if result.is_file():
            prediction = Prediction.from_dict(json.loads(result.read_text(encoding="utf-8")))
        else:
            entry.mkdir(exist_ok=True)
            start = time.perf_counter()
            prediction = run_prediction(prepared, entry / "embeddings.zarr")
            write_text_atomic(result, json.dumps(prediction.to_dict(), indent=2) + "\n")
            worker = getattr(config, "workerinput", {}).get("workerid", "main")
            line = {
                "case": prepared.name,
                "case_file": str(prepared.case_file),
                "digest": digest,
                "worker": worker,
                "pid": os.getpid(),
                "seconds": round(time.perf_counter() - start, 3),
            }
            with open(root / LOG, "a", encoding="utf-8") as log:
                log.write(json.dumps(line) + "\n")
    memo[digest] = prediction
    return prediction


def predictions_made(root: Path) -> list[dict[str, Any]]:
    """The predictions a session ran (its ``predictions.log``), oldest first."""
    log = root / CACHE_DIR / LOG
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]


def run_prediction(prepared: PreparedCase, output: Path) -> Prediction:
    """Predict ``prepared`` into ``output``; a failure becomes the verdict it renders to.

    Any exception of the prediction is kept as the failure (the pipeline
    under test failing is a verdict, not an error of the test), except an
    interrupt, which stops the session.
    """
    import logging
    import traceback

    from repro_golden.inference.pipelines.base import PipelineFailedError
    from repro_golden.inference.predict import predict

    if prepared.case.lightning is None:  # Lightning's start-up chatter is not the test's
        import lightning.pytorch  # noqa: F401

        for name in ("lightning.pytorch", "lightning.fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)
    try:
        result = predict(
            prepared.case, output=output, device=prepared.device, overwrite=True, progress=False
        )
    except PipelineFailedError as exc:
        outcome = getattr(exc.failure, "infer01", None)
        return Prediction(
            path=output,
            infer01=None if outcome is None else outcome.to_dict(),
            infer01_text=None if outcome is None else outcome.render(),
            failure=exc.failure.render(),
        )
    except Exception as exc:  # kept as the verdict, see the docstring
        tail = "".join(traceback.format_exception(exc)[-6:])
        return Prediction(
            path=output, failure=f"INFER-02 FAIL: {type(exc).__name__}: {exc}\n{tail}"
        )
    infer01 = result.infer01
    return Prediction(
        path=Path(result.path),
        cells=result.cells,
        seconds=result.seconds,
        infer01=None if infer01 is None else infer01.to_dict(),
        infer01_text=None if infer01 is None else infer01.render(),
    )
