"""Predict embeddings for a case: data + model + checkpoint + writer under the case numerics.

This is the one way a run happens (the CLI, the pytest plugin and nox call
it): the numerical mode is applied for the duration of the call (and torch's
previous global settings restored after), the checkpoint is loaded strictly
and safely, the output is refused up front when it exists, and the store is
written atomically with provenance.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_golden.config.case import Case
from repro_golden.core.atomic import refuse_existing
from repro_golden.errors import ConfigError
from repro_golden.interrupts import through_lightning

DEVICES = ("cpu", "gpu")

#: Lightning's advice that does not apply here (our loader reads on its own threads and
#: hands out whole batches; rows travel in the batch),
#: and a deprecation inside Lightning 2.6 under torch >= 2.10 that is not ours to fix.
_IGNORED_WARNINGS = (
    r".*does not have many workers.*",
    r"Couldn't infer the batch indices.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


@dataclass(frozen=True)
class PredictionResult:
    """Where the embeddings went, how many cells, how long the prediction loop took."""

    path: Path
    cells: int
    seconds: float
    #: INFER-01 of a ``lightning`` run (an :class:`~repro_golden.inference.pipelines.base.
    #: Infer01Outcome`); None for the builtin, whose loader is strict or raises.
    infer01: Any = None

    @property
    def cells_per_second(self) -> float:
        """Throughput of the prediction loop (0 when it took no measurable time)."""
        return self.cells / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """``N cells in S s (R cells/s)``, the CLI's last line."""
        return f"{self.cells} cells in {self.seconds:.1f} s ({self.cells_per_second:.1f} cells/s)"


def _progress_callback(total_cells: int) -> Any:
    """A tqdm bar counting cells on global rank 0 (Lightning's own bar counts batches)."""
    from lightning.pytorch import Callback, LightningModule, Trainer
    from tqdm import tqdm

    class CellProgress(Callback):
        def __init__(self) -> None:
            self.bar: Any = None

        def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
            if trainer.is_global_zero:
                self.bar = tqdm(total=total_cells, desc="Predicting", unit="cells", leave=True)

        def on_predict_batch_end(
            self,
            trainer: Trainer,
            pl_module: LightningModule,
            outputs: Any,
            batch: Any,
            batch_idx: int,
            dataloader_idx: int = 0,
        ) -> None:
            if self.bar is not None:
                # Under DDP only rank 0's share is seen; scale to the whole plate.
                self.bar.update(len(batch["row"]) * trainer.world_size)

        def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
            if self.bar is not None:
                self.bar.n = min(self.bar.n, total_cells)
                self.bar.close()
                self.bar = None

        def on_exception(
            self, trainer: Trainer, pl_module: LightningModule, exception: BaseException
        ) -> None:
            # Interrupted or failed: close the bar now, so the CLI's last line stays last.
            if self.bar is not None:
                self.bar.close()
                self.bar = None

    return CellProgress()


def input_digests(fovs: Any, tracks_root: Path) -> dict[str, dict[str, str]]:
    """Per FOV: image array shape/dtype, xxh3-128 of its normalization metadata and tracks CSV.

    Cheap on any plate (pixels are not hashed: a full plate is many GB); enough
    to tell that a rerun read other tracks or other statistics.
    """
    import json

    import xxhash

    from repro_golden.inference.data.tracks import find_tracks_csv
    from repro_golden.inference.model.checkpoint import file_digest

    digests: dict[str, dict[str, str]] = {}
    for fov in fovs:
        normalization = json.dumps(fov.normalization, sort_keys=True, default=str)
        digests[fov.name] = {
            "array": f"{fov.dtype}{list(fov.shape)}",
            "normalization": f"xxh3_128:{xxhash.xxh3_128_hexdigest(normalization.encode())}",
            "tracks": file_digest(find_tracks_csv(tracks_root, fov.name)),
        }
    return digests


def _accelerator(case: Case, device: str | None) -> str:
    if device is None:
        return case.trainer.accelerator
    if device not in DEVICES:
        raise ConfigError(f"expected one of {list(DEVICES)}, got {device!r}", key="device")
    return device


def _check_gpu(accelerator: str) -> None:
    import torch

    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "a GPU was asked for but torch sees no CUDA device "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda})",
            key="device",
        )


def predict(
    case: Case,
    *,
    output: str | Path | None = None,
    ckpt: str | Path | None = None,
    device: str | None = None,
    batch_size: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
    weights_only: bool = True,
) -> PredictionResult:
    """Run ``case`` and write its embeddings store; return where, how many cells and how long.

    ``output``, ``ckpt``, ``device`` (``cpu``/``gpu``) and ``batch_size``
    override the case. ``weights_only=False`` unpickles arbitrary objects in
    the checkpoint: only for files you trust. Raises
    :class:`~repro_golden.errors.InputError` subclasses on bad input, before
    anything is written.
    """
    target = Path(output) if output is not None else case.output
    if target is None:
        raise ConfigError(
            "no output path: set 'output' in the case or pass output (CLI: --output)",
            path=case.source,
            key="output",
        )
    refuse_existing(target, overwrite=overwrite)
    if batch_size is not None and (isinstance(batch_size, bool) or batch_size < 1):
        raise ConfigError(f"expected an integer >= 1, got {batch_size!r}", key="batch_size")
    if case.lightning is not None:
        from repro_golden.inference.pipelines.lightning import predict_lightning

        run = predict_lightning(
            case,
            output=target,
            overwrite=overwrite,
            device=_accelerator(case, device) if device is not None else None,
            batch_size=batch_size,
            ckpt=None if ckpt is None else Path(ckpt),
            progress=progress,
        )
        return PredictionResult(
            path=run.path, cells=run.cells, seconds=run.seconds, infer01=run.infer01
        )
    accelerator = _accelerator(case, device)
    _check_gpu(accelerator)
    data_config = case.data
    if batch_size is not None:
        data_config = dataclasses.replace(data_config, batch_size=batch_size)
    checkpoint = Path(ckpt) if ckpt is not None else case.checkpoint

    from lightning.pytorch import Trainer

    from repro_golden.inference.data.datamodule import PlateDataModule
    from repro_golden.inference.data.input_record import inputs_provenance
    from repro_golden.inference.fingerprint import capture_fingerprint
    from repro_golden.inference.model.checkpoint import load_checkpoint
    from repro_golden.inference.model.encoder import ContrastiveEncoder
    from repro_golden.inference.model.module import ContrastiveModule
    from repro_golden.inference.writer import EmbeddingWriter

    with case.numerics.applied(), warnings.catch_warnings():
        for message in _IGNORED_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        module = ContrastiveModule(ContrastiveEncoder.from_config(case.model))
        loaded = load_checkpoint(module, checkpoint, weights_only=weights_only)
        datamodule = PlateDataModule(data_config)
        datamodule.setup("predict")
        provenance: dict[str, Any] = {
            "schema": "repro-golden/provenance/1",
            "case_name": case.name,
            "case": case.to_dict(),
            "numerics": case.numerics.to_dict(),
            "checkpoint": {"file": checkpoint.name, "digest": loaded.digest},
            "inputs": input_digests(
                datamodule.predict_dataset.index.fovs if datamodule.predict_dataset else (),
                data_config.tracks_path,
            ),
            "input_record": inputs_provenance(
                data_config, checkpoint=checkpoint, precision=case.numerics.precision
            ),
            "run_id": uuid.uuid4().hex,
            "batch_size": data_config.batch_size,
            "accelerator": accelerator,
            "environment": capture_fingerprint(
                batch_size=data_config.batch_size, device=accelerator
            ),
        }
        writer = EmbeddingWriter(
            target,
            overwrite=overwrite,
            provenance=provenance,
            expected_rows=datamodule.num_rows,
        )
        trainer = Trainer(
            accelerator=accelerator,
            devices=case.trainer.devices,
            strategy=case.trainer.strategy,
            num_nodes=case.trainer.num_nodes,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,
            callbacks=[writer, *([_progress_callback(datamodule.num_rows)] if progress else [])],
            default_root_dir=target.parent,
            **case.numerics.trainer_kwargs(),
        )
        start = time.perf_counter()
        with through_lightning():  # SIGINT/SIGTERM stop it, never swallowed by Lightning
            trainer.predict(module, datamodule=datamodule, return_predictions=False)
        seconds = time.perf_counter() - start
    cells = writer.rows_written if writer.rows_written is not None else datamodule.num_rows
    return PredictionResult(path=target, cells=cells, seconds=seconds)
