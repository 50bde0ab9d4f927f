"""The builtin oracle: an fp64 truth for a sample of cells and the noise of each precision.

For a deterministic sample of cells (about :data:`DEFAULT_SAMPLE`, spread over
every FOV, named by ``fov_name/track_id/t/id``) the model inputs are cut by the
pipeline's own data path (:class:`~repro_golden.inference.data.datamodule.
PlateDataModule`, float32, bit for bit what a prediction feeds the model), the
model runs in float64 on the CPU (the truth), and again at each emulated
precision (:mod:`repro_golden.inference.model.precision`) to measure the noise
budgets; the golden store's own values on the sample are measured against the
truth too. The result is an :class:`~repro_golden.core.oracle_format.
OracleSection` that :func:`~repro_golden.core.oracle_format.write_oracle` stores.

Cost (example case, 151 cells, 2 threads, shared machine): see
docs/performance.md ("The fp64 oracle"); it is one float64 and three float32
forward passes over the sample, plus reading the batches that hold it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from repro_golden.config.case import Case
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden.summarize import summarize
from repro_golden.core.oracle_format import (
    CLASSES,
    DEFAULT_SAMPLE,
    KEY_COLUMNS,
    ORACLE_ARRAYS,
    ErrorStats,
    OracleSection,
)
from repro_golden.core.oracle_verdict import precision_class, sample_values
from repro_golden.errors import ConfigError, DataError
from repro_golden.inference.model.precision import emulate, model_input

#: Rows per forward pass of the oracle when the case does not say (the truth does
#: not depend on it beyond float64 rounding).
ORACLE_BATCH = 16


@dataclass(frozen=True)
class OracleInputs:
    """The sampled cells: keys in sample order and their float32 model inputs."""

    keys: dict[str, tuple[Any, ...]]
    inputs: torch.Tensor


def spread_sample(fov_of_row: np.ndarray, size: int = DEFAULT_SAMPLE) -> np.ndarray:
    """Dataset positions of a deterministic sample spread over every FOV (increasing).

    Every row when there are at most ``size``; otherwise each FOV gets a share
    proportional to its rows (at least one, largest remainders first, ties to
    the earlier FOV) and its rows are taken evenly spaced, first and last
    included. Depends only on the row table, so a rerun samples the same cells.
    """
    if size < 1:
        raise ValueError(f"expected a sample size >= 1, got {size}")
    n = int(fov_of_row.shape[0])
    if n <= size:
        return np.arange(n, dtype=np.int64)
    fovs, counts = np.unique(fov_of_row, return_counts=True)
    if len(fovs) > size:
        raise ConfigError(
            f"{len(fovs)} FOVs do not fit a sample of {size} cells (one per FOV at least)",
            key="oracle.sample",
        )
    exact = counts * (size - len(fovs)) / n
    share = np.floor(exact).astype(np.int64) + 1
    remainder = size - int(share.sum())
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    share[order[:remainder]] += 1
    share = np.minimum(share, counts)
    picked = []
    for fov, take in zip(fovs, share, strict=True):
        rows = np.flatnonzero(fov_of_row == fov)
        picked.append(rows[np.unique(np.linspace(0, len(rows) - 1, int(take)).round().astype(int))])
    return np.sort(np.concatenate(picked))


def load_inputs(case: Case, size: int = DEFAULT_SAMPLE) -> OracleInputs:
    """The sample's keys and float32 model inputs, cut by the pipeline's data module."""
    from repro_golden.inference.data.datamodule import PlateDataModule

    datamodule = PlateDataModule(case.data)
    datamodule.setup("predict")
    dataset = datamodule.predict_dataset
    assert dataset is not None
    index = dataset.index
    positions = spread_sample(index.fov, size)
    missing = [c for c in KEY_COLUMNS[1:] if c not in index.values]
    if missing:
        raise DataError(
            f"tracks lack the key columns {missing}; expected {list(KEY_COLUMNS)}",
            path=case.data.tracks_path,
        )
    batch_size = case.data.batch_size
    batches = sorted({int(p) // batch_size for p in positions})
    dataset.set_expected_order(batches)
    parts: list[torch.Tensor] = []
    try:
        for b in batches:
            anchor = dataset[b]["anchor"]
            local = positions[(positions // batch_size) == b] - b * batch_size
            parts.append(anchor[torch.as_tensor(local)].clone())
    finally:
        dataset.close()
    keys: dict[str, tuple[Any, ...]] = {"fov_name": tuple(index.fov_names(positions))}
    for column in KEY_COLUMNS[1:]:
        keys[column] = tuple(int(v) for v in index.values[column][positions])
    if len(set(zip(*keys.values(), strict=True))) != len(positions):
        raise DataError(
            "sampled cells are not unique by (fov_name, track_id, t, id); the oracle names "
            "cells by these keys",
            path=case.data.tracks_path,
        )
    return OracleInputs(keys=keys, inputs=torch.cat(parts))


def load_encoder(case: Case, checkpoint: Path | None = None) -> tuple[nn.Module, str]:
    """The case's encoder with its checkpoint loaded (strict, safe), and the checkpoint digest."""
    from repro_golden.inference.model.checkpoint import load_checkpoint
    from repro_golden.inference.model.encoder import ContrastiveEncoder
    from repro_golden.inference.model.module import ContrastiveModule

    module = ContrastiveModule(ContrastiveEncoder.from_config(case.model))
    loaded = load_checkpoint(module, checkpoint or case.checkpoint)
    return module.model.eval(), loaded.digest


@contextmanager
def _threads(count: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def run_model(
    model: nn.Module,
    inputs: torch.Tensor,
    precision: str,
    *,
    batch_size: int = ORACLE_BATCH,
    threads: int | None = None,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    tf32_mode: Literal["nearest", "truncate"] = "nearest",
) -> dict[str, np.ndarray]:
    """``X`` and ``X_projections`` of ``inputs`` with ``model`` emulating ``precision``.

    ``transform`` (float32 batch -> batch) is applied to the inputs first: the
    benchmark plants input changes with it. Results are float64 for ``fp64``,
    float32 otherwise (as a store holds them). ``tf32_mode="truncate"`` emulates
    a TF32 path that drops the bits instead of rounding (the benchmark's check of
    the verdict's margin).
    """
    emulated = emulate(model, precision, tf32_mode=tf32_mode)
    features, projections = [], []
    with _threads(threads), torch.inference_mode():
        for start in range(0, inputs.shape[0], batch_size):
            batch = inputs[start : start + batch_size]
            if transform is not None:
                batch = transform(batch)
            x, p = emulated(model_input(batch, precision))
            features.append(x.numpy())
            projections.append(p.numpy())
    return {"X": np.concatenate(features), "X_projections": np.concatenate(projections)}


def errors(
    values: Mapping[str, np.ndarray], truth: Mapping[str, np.ndarray]
) -> dict[str, ErrorStats]:
    """Per array :class:`ErrorStats` of ``values`` against ``truth``."""
    return {name: ErrorStats.of(values[name], truth[name]) for name in ORACLE_ARRAYS}


@dataclass(frozen=True)
class OracleRun:
    """A computed section and what it cost (seconds are printed, never stored)."""

    section: OracleSection
    seconds: float
    model_inputs: OracleInputs
    stages: Mapping[str, float]
    """Seconds per stage: ``inputs`` (data and model), ``fp64`` (the truth), each class."""


def compute_oracle(
    case: Case,
    golden_store: str | Path,
    *,
    sample: int = DEFAULT_SAMPLE,
    threads: int | None = None,
    golden_dataset_digest: str | None = None,
) -> OracleRun:
    """The oracle section for the golden values in ``golden_store`` (an embeddings zarr).

    The budgets run at the case's batch size and CPU threads (``threads``
    overrides), as the pipeline would; the truth in batches of
    :data:`ORACLE_BATCH`. Raises :class:`~repro_golden.errors.InputError`
    subclasses when the case's inputs or checkpoint are unusable, or when the
    store lacks a sampled cell (it was not predicted from these inputs).
    ``golden_dataset_digest`` (the written manifest's) spares summarizing the
    store again to learn it.
    """
    started = time.perf_counter()
    store = EmbeddingsStore(golden_store)
    threads = threads if threads is not None else case.numerics.cpu_threads
    stages: dict[str, float] = {}
    with _threads(threads):
        data = load_inputs(case, sample)
        model, digest = load_encoder(case)
    stages["inputs"] = time.perf_counter() - started
    truth = run_model(model, data.inputs, "fp64", threads=threads)
    stages["fp64"] = time.perf_counter() - started - sum(stages.values())
    budgets = {}
    for cls in CLASSES:
        budgets[cls] = errors(
            run_model(model, data.inputs, cls, batch_size=case.data.batch_size, threads=threads),
            truth,
        )
        stages[cls] = time.perf_counter() - started - sum(stages.values())
    golden = sample_values(store, data.keys)
    provenance = store.provenance() or {}
    golden_class, _ = precision_class(provenance)
    section = OracleSection(
        golden_dataset_digest=golden_dataset_digest
        or summarize(store, full_copy_limit=0).dataset_digest,
        keys=data.keys,
        truth=truth,
        budgets=budgets,
        golden_error=errors(golden, truth),
        golden_precision=golden_class or "fp32",
        oracle={
            "case": case.name,
            "checkpoint": digest,
            "model": case.model.backbone,
            "torch": torch.__version__.split("+")[0],
            "budget_batch_size": case.data.batch_size,
            "truth_batch_size": ORACLE_BATCH,
            "threads": threads,
            "device": "cpu",
        },
    )
    return OracleRun(
        section=section,
        seconds=time.perf_counter() - started,
        model_inputs=data,
        stages=stages,
    )


def write_oracle_section(
    directory: str | Path,
    config: str | Path,
    golden_store: str | Path,
    *,
    sample: int = DEFAULT_SAMPLE,
) -> tuple[Path, OracleRun]:
    """Compute the oracle of the golden set in ``directory`` and write it there.

    ``config`` is a case file or a VisCy predict config (the builtin pipeline's
    data and model are used either way); ``golden_store`` the embeddings zarr
    the golden set was written from. The golden set must already be in
    ``directory`` (its dataset digest ties the section to it). Returns
    ``oracle.json``'s path and the run (seconds, section) for the caller to print.
    """
    from repro_golden.config.load import load_case
    from repro_golden.core.golden.store import GoldenStore
    from repro_golden.core.oracle_format import write_oracle

    case = load_case(config)
    golden = GoldenStore(directory).read()
    run = compute_oracle(
        case, golden_store, sample=sample, golden_dataset_digest=golden.dataset_digest
    )
    return write_oracle(directory, run.section), run
