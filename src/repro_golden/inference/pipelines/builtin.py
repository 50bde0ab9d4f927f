"""The ``builtin`` pipeline: this library's re-implementation of VisCy 0.4.1, the oracle.

Data + model + checkpoint + writer in this interpreter, under the case
numerics: the numerical mode is applied for the duration of the run (and
torch's previous global settings restored after), the checkpoint is loaded
strictly and safely, and the store is written atomically with provenance. It
reads only the case's model and data sections, which a ``lightning`` case names
too (read from its config), so the oracle can run beside the pipeline under
test (``repro-golden triangulate``). Torch and Lightning are imported inside
:func:`run`, so importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from pathlib import Path
from typing import Any

from repro_golden.config.case import Case
from repro_golden.errors import ConfigError
from repro_golden.inference.pipelines.base import PredictionResult, RunOptions
from repro_golden.interrupts import through_lightning

#: Lightning's advice that does not apply here (our loader reads on its own threads and
#: hands out whole batches; rows travel in the batch),
#: and a deprecation inside Lightning 2.6 under torch >= 2.10 that is not ours to fix.
_IGNORED_WARNINGS = (
    r".*does not have many workers.*",
    r"Couldn't infer the batch indices.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


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
    from repro_golden.inference.data.input_record import normalization_digest
    from repro_golden.inference.data.tracks import find_tracks_csv
    from repro_golden.inference.model.checkpoint import file_digest

    digests: dict[str, dict[str, str]] = {}
    for fov in fovs:
        digests[fov.name] = {
            "array": f"{fov.dtype}{list(fov.shape)}",
            "normalization": normalization_digest(fov.normalization),
            "tracks": file_digest(find_tracks_csv(tracks_root, fov.name)),
        }
    return digests


def _check_gpu(accelerator: str) -> None:
    import torch

    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(
            "a GPU was asked for but torch sees no CUDA device "
            f"(torch {torch.__version__}, CUDA build {torch.version.cuda})",
            key="device",
        )


def run(case: Case, options: RunOptions) -> PredictionResult:
    """Predict ``case`` with the builtin pipeline, whatever pipeline the case names.

    ``options.output`` has been checked by the caller
    (:func:`repro_golden.inference.predict.predict`); bad input raises an
    :class:`~repro_golden.errors.InputError` subclass before anything is written.
    """
    accelerator = options.device if options.device is not None else case.trainer.accelerator
    _check_gpu(accelerator)
    data_config = case.data
    if options.batch_size is not None:
        data_config = dataclasses.replace(data_config, batch_size=options.batch_size)
    checkpoint = options.ckpt if options.ckpt is not None else case.checkpoint
    target = options.output

    from lightning.pytorch import Trainer

    from repro_golden.core.provenance import new_provenance
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
        loaded = load_checkpoint(module, checkpoint, weights_only=options.weights_only)
        datamodule = PlateDataModule(data_config)
        datamodule.setup("predict")
        provenance = new_provenance(
            case_name=case.name,
            case=case.to_dict(),
            numerics=case.numerics.to_dict(),
            checkpoint=(checkpoint.name, loaded.digest),
            input_record=inputs_provenance(
                data_config, checkpoint=checkpoint, precision=case.numerics.precision
            ),
            environment=capture_fingerprint(batch_size=data_config.batch_size, device=accelerator),
            inputs=input_digests(
                datamodule.predict_dataset.index.fovs if datamodule.predict_dataset else (),
                data_config.tracks_path,
            ),
            batch_size=data_config.batch_size,
            accelerator=accelerator,
        )
        writer = EmbeddingWriter(
            target,
            overwrite=options.overwrite,
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
            callbacks=[
                writer,
                *([_progress_callback(datamodule.num_rows)] if options.progress else []),
            ],
            default_root_dir=target.parent,
            **case.numerics.trainer_kwargs(),
        )
        start = time.perf_counter()
        with through_lightning():  # SIGINT/SIGTERM stop it, never swallowed by Lightning
            trainer.predict(module, datamodule=datamodule, return_predictions=False)
        seconds = time.perf_counter() - start
    cells = writer.rows_written if writer.rows_written is not None else datamodule.num_rows
    return PredictionResult(path=target, cells=cells, seconds=seconds)
