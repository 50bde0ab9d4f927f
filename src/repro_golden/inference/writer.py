"""The prediction writer: an AnnData zarr with the layout of VisCy's ``EmbeddingWriter``.

``X`` float32 ``(N, D)``, ``obsm["X_projections"]`` float32 ``(N, P)``, ``obs``
with the index columns (``fov_name`` without a leading slash, the others
int64) and a unique string index ``"0".."N-1"``. Rows are put in dataset order
by the batch's ``row`` number and de-duplicated, so DDP (whose sampler pads the
last ranks with repeated batches) writes each row once and in order; every
rank's rows are gathered on rank 0, which writes. No PCA/PHATE/UMAP is
computed. The store is built in a temporary directory and renamed into place
only when complete (:func:`repro_golden.core.atomic.atomic_directory`); an existing
output is refused unless ``overwrite``. Provenance (the run's static facts
plus the environment seen at write time) is stored as one JSON string in
``uns["repro_golden"]``.
"""

from __future__ import annotations

import json
import platform
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter

from repro_golden.core.atomic import atomic_directory, refuse_existing
from repro_golden.core.stages import DIGEST_ALGORITHM, STAGES_SCHEMA
from repro_golden.errors import DataError
from repro_golden.inference.probes import batch_stage_record
from repro_golden.inference.store_provenance import ZARR_V2_NOTICE as _ZARR_V2_NOTICE
from repro_golden.inference.store_provenance import attach_provenance as attach_provenance

_VERSIONED = ("repro-golden", "torch", "lightning", "timm", "numpy", "anndata", "zarr")


@dataclass
class _Rows:
    """One rank's predictions, moved to CPU numpy as they arrive."""

    rows: list[np.ndarray]
    features: list[np.ndarray]
    projections: list[np.ndarray]
    fov_names: list[str]
    index: dict[str, list[np.ndarray]]
    stages: list[dict[str, Any]]

    @classmethod
    def empty(cls) -> _Rows:
        return cls(rows=[], features=[], projections=[], fov_names=[], index={}, stages=[])

    def add(self, prediction: Mapping[str, Any]) -> None:
        self.rows.append(_numpy(prediction["row"]).astype(np.int64, copy=False))
        self.features.append(_numpy(prediction["features"]).astype(np.float32, copy=False))
        self.projections.append(_numpy(prediction["projections"]).astype(np.float32, copy=False))
        self.fov_names.extend(str(name) for name in prediction["fov_name"])
        for column, values in prediction["index"].items():
            self.index.setdefault(column, []).append(_numpy(values).astype(np.int64, copy=False))

    def packed(self) -> dict[str, Any]:
        """Concatenated arrays (picklable, for gathering across ranks)."""
        return {
            "rows": _cat(self.rows, np.int64, (0,)),
            "features": _cat(self.features, np.float32, (0, 0)),
            "projections": _cat(self.projections, np.float32, (0, 0)),
            "fov_names": list(self.fov_names),
            "index": {k: _cat(v, np.int64, (0,)) for k, v in self.index.items()},
            "stages": list(self.stages),
        }


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _cat(parts: list[np.ndarray], dtype: type, empty: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(empty, dtype=dtype)


def merge_rank_rows(packs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Merge per-rank packs: sort by ``rows``, keep the first of each repeated row."""
    packs = [p for p in packs if len(p["rows"])]
    if not packs:
        raise DataError("no cells were predicted; expected at least one row")
    columns = list(packs[0]["index"])
    rows = np.concatenate([p["rows"] for p in packs])
    order = np.argsort(rows, kind="stable")
    unique_rows, first = np.unique(rows[order], return_index=True)
    take = order[first]
    fov_names = [name for p in packs for name in p["fov_names"]]
    return {
        "rows": unique_rows,
        "features": np.concatenate([p["features"] for p in packs])[take],
        "projections": np.concatenate([p["projections"] for p in packs])[take],
        "fov_names": [fov_names[i] for i in take],
        "index": {c: np.concatenate([p["index"][c] for p in packs])[take] for c in columns},
        "stages": sorted(
            (r for p in packs for r in p.get("stages", ())),
            key=lambda r: (r["batch"], r.get("rank", 0)),
        ),
    }


def environment_provenance(device: torch.device) -> dict[str, Any]:
    """Library versions, CUDA/cuDNN versions, the device and torch's effective numeric state."""
    versions: dict[str, str | None] = {}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - a broken install
            versions[name] = None
    if device.type == "cuda":
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = platform.processor() or platform.machine() or device.type
    return {
        "versions": versions,
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": {"type": device.type, "name": device_name},
        "torch_state": {
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "num_threads": torch.get_num_threads(),
        },
    }


def write_embeddings(
    path: Path,
    merged: Mapping[str, Any],
    *,
    provenance: Mapping[str, Any],
    overwrite: bool = False,
    stages: Mapping[str, Any] | None = None,
) -> None:
    """Write merged rows as an AnnData zarr at ``path``, atomically.

    ``stages`` (the per-batch stage digests) is stored in the provenance with the
    digests of the written layout, read back from the finished store.
    """
    import anndata as ad

    n = len(merged["rows"])
    obs = pd.DataFrame(
        {
            "fov_name": pd.Series([str(n).strip("/") for n in merged["fov_names"]], dtype=object),
            **{c: np.asarray(v, dtype=np.int64) for c, v in merged["index"].items()},
        }
    )
    obs.index = pd.Index([str(i) for i in range(n)], dtype=object)
    adata = ad.AnnData(
        X=np.ascontiguousarray(merged["features"], dtype=np.float32),
        obs=obs,
    )
    adata.obsm["X_projections"] = np.ascontiguousarray(merged["projections"], dtype=np.float32)
    adata.uns["repro_golden"] = json.dumps(dict(provenance), sort_keys=True)
    needed = adata.X.nbytes + adata.obsm["X_projections"].nbytes + obs.memory_usage(deep=True).sum()
    with (
        atomic_directory(path, overwrite=overwrite, what="embeddings", needed=int(needed)) as tmp,
        warnings.catch_warnings(),
    ):
        # zarr format 2 is what VisCy's writer produces with the same anndata; anndata
        # announces that its default will change, which is why we stay explicit about it.
        warnings.filterwarnings("ignore", message=_ZARR_V2_NOTICE, category=UserWarning)
        with ad.settings.override(zarr_write_format=2):
            adata.write_zarr(tmp)
        if stages is not None:
            from repro_golden.core.stages import layout_digests

            record = {**stages, "layout": layout_digests(tmp)}
            attach_provenance(tmp, {**provenance, "stages": record})


class EmbeddingWriter(BasePredictionWriter):
    """Collects ``predict_step`` outputs and writes one embeddings store at the end.

    ``expected_rows``, when given, is checked: the written rows must be
    exactly ``0 .. expected_rows - 1`` (no row lost across ranks).
    """

    def __init__(
        self,
        output_path: str | Path,
        *,
        overwrite: bool = False,
        provenance: Mapping[str, Any] | None = None,
        expected_rows: int | None = None,
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_path = Path(output_path)
        self.overwrite = overwrite
        self.provenance = dict(provenance or {})
        self.expected_rows = expected_rows
        self.rows_written: int | None = None
        self._collected = _Rows.empty()

    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Refuse an existing output before anything is computed."""
        refuse_existing(self.output_path, overwrite=self.overwrite)
        self._collected = _Rows.empty()
        self.rows_written = None

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep this batch's rows (on CPU) and its stage digests."""
        self._collected.add(prediction)
        record = batch_stage_record(batch, prediction, batch_idx)
        record["rank"] = trainer.global_rank
        self._collected.stages.append(record)

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Gather every rank's rows on rank 0, write there, and share the outcome."""
        pack = self._collected.packed()
        self._collected = _Rows.empty()
        distributed = trainer.world_size > 1 and torch.distributed.is_initialized()
        if distributed:
            packs: list[Any] | None = (
                [None] * trainer.world_size if trainer.is_global_zero else None
            )
            torch.distributed.gather_object(pack, packs, dst=0)
        else:
            packs = [pack]
        error: BaseException | None = None
        count = 0
        if trainer.is_global_zero:
            assert packs is not None
            try:
                count = self._write(packs, device=pl_module.device, world_size=trainer.world_size)
            except BaseException as exc:  # shared with the other ranks below, then re-raised
                error = exc
        if distributed:
            shared: list[Any] = [None if error is None else repr(error), count]
            torch.distributed.broadcast_object_list(shared, src=0)
            if error is None and shared[0] is not None:
                raise RuntimeError(f"rank 0 failed to write {self.output_path}: {shared[0]}")
            count = int(shared[1])
        if error is not None:
            raise error
        self.rows_written = count

    def _write(
        self, packs: Sequence[Mapping[str, Any]], *, device: torch.device, world_size: int
    ) -> int:
        merged = merge_rank_rows(packs)
        rows = merged["rows"]
        if self.expected_rows is not None and not np.array_equal(
            rows, np.arange(self.expected_rows, dtype=np.int64)
        ):
            raise RuntimeError(
                f"predicted rows are not 0..{self.expected_rows - 1}: got {len(rows)} distinct rows"
                f" from {rows.min() if len(rows) else None} to {rows.max() if len(rows) else None}"
            )
        provenance = {
            **self.provenance,
            **environment_provenance(device),
            "world_size": world_size,
            "rows": len(rows),
        }
        stages = {
            "schema": STAGES_SCHEMA,
            "algorithm": DIGEST_ALGORITHM,
            "batches": merged["stages"],
        }
        write_embeddings(
            self.output_path,
            merged,
            provenance=provenance,
            overwrite=self.overwrite,
            stages=stages,
        )
        return len(rows)
