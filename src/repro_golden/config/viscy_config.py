"""Read a VisCy LightningCLI predict config as it stands and map it onto a :class:`Case`.

The lab's configs name VisCy classes (``viscy.representation.engine.ContrastiveModule``
with a ``viscy.representation.contrastive.ContrastiveEncoder``,
``viscy.data.triplet.TripletDataModule`` with ``viscy.transforms.NormalizeSampled``
normalizations, a ``viscy.representation.embedding_writer.EmbeddingWriter``
callback) and a top-level ``ckpt_path``. They are mapped onto this package's
classes by name; viscy is never imported. Paths are relative to the current
directory, as LightningCLI resolves them.

What a VisCy run implies and the config does not say is made explicit: seed
42 (``seed_everything`` default of VisCy's CLI), ``matmul_precision: high``
(VisCy's CLI sets it), Lightning's defaults for precision (``32-true``),
inference mode (on), determinism (off) and cuDNN benchmark (off).
The writer's PCA/PHATE/UMAP settings are ignored: they add ``obsm`` entries
but never change ``X``, ``X_projections`` or ``obs``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_golden.config.case import Case, TrainerSettings
from repro_golden.config.data import DataConfig
from repro_golden.config.expand import expand_tree
from repro_golden.config.model import ModelConfig
from repro_golden.config.numerics import NumericalMode
from repro_golden.config.validate import close_match_hint, refuse_unknown
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import ConfigError

MODULE_CLASSES = ("viscy.representation.engine.ContrastiveModule",)
ENCODER_CLASSES = ("viscy.representation.contrastive.ContrastiveEncoder",)
DATA_CLASSES = ("viscy.data.triplet.TripletDataModule",)
WRITER_CLASSES = ("viscy.representation.embedding_writer.EmbeddingWriter",)

_TOP_LEVEL = frozenset(
    {"seed_everything", "trainer", "model", "data", "ckpt_path", "return_predictions", "verbose"}
)
_TRAINER_USED = frozenset(
    {
        "accelerator",
        "devices",
        "strategy",
        "num_nodes",
        "precision",
        "inference_mode",
        "deterministic",
        "benchmark",
        "callbacks",
    }
)
#: Every ``lightning.pytorch.Trainer`` argument (Lightning 2.x): a VisCy config may set
#: any of them; another key is a typo that Lightning would refuse, and so do we.
TRAINER_KEYS = frozenset(
    {
        "accelerator", "strategy", "devices", "num_nodes", "precision", "logger", "callbacks",
        "fast_dev_run", "max_epochs", "min_epochs", "max_steps", "min_steps", "max_time",
        "limit_train_batches", "limit_val_batches", "limit_test_batches",
        "limit_predict_batches", "overfit_batches", "val_check_interval",
        "check_val_every_n_epoch", "num_sanity_val_steps", "log_every_n_steps",
        "enable_checkpointing", "enable_progress_bar", "enable_model_summary",
        "accumulate_grad_batches", "gradient_clip_val", "gradient_clip_algorithm",
        "deterministic", "benchmark", "inference_mode", "use_distributed_sampler", "profiler",
        "detect_anomaly", "barebones", "plugins", "sync_batchnorm",
        "reload_dataloaders_every_n_epochs", "default_root_dir", "model_registry",
    }
)  # fmt: skip
#: Trainer settings that would change which rows are predicted; refused when set.
_TRAINER_REFUSED = {"limit_predict_batches": (None, 1.0), "fast_dev_run": (None, False, 0)}


def is_viscy_config(mapping: Any) -> bool:
    """True for a LightningCLI-style mapping (``model``/``data`` with ``class_path``)."""
    return (
        isinstance(mapping, Mapping)
        and "schema" not in mapping
        and isinstance(mapping.get("model"), Mapping)
        and "class_path" in mapping["model"]
    )


def _known(args: Mapping[str, Any], config: type) -> dict[str, Any]:
    """Only the arguments ``config`` (a case dataclass) reads, VisCy's aliases included."""
    from dataclasses import fields

    from repro_golden.config.data import _ALIASES

    known = {f.name for f in fields(config)} | set(_ALIASES)
    return {k: v for k, v in args.items() if k in known}


def _class_block(
    value: Any, expected: tuple[str, ...], *, key: str, source: Path, any_class: bool = False
) -> Mapping[str, Any]:
    """``init_args`` of a ``{class_path, init_args}`` block naming one of ``expected``.

    ``any_class`` accepts any class (the lightning pipeline builds whatever it names).
    """
    if not isinstance(value, Mapping) or "class_path" not in value:
        raise ConfigError(
            f"expected a mapping with class_path (one of {list(expected)})", path=source, key=key
        )
    class_path = value["class_path"]
    short = {name.rsplit(".", 1)[-1] for name in expected}
    if any_class and isinstance(class_path, str):
        pass
    elif not isinstance(class_path, str) or (
        class_path not in expected and class_path not in short
    ):
        raise ConfigError(
            f"unsupported class_path {class_path!r}; expected one of {list(expected)}",
            path=source,
            key=f"{key}.class_path",
        )
    init_args = value.get("init_args") or {}
    if not isinstance(init_args, Mapping):
        raise ConfigError("expected a mapping", path=source, key=f"{key}.init_args")
    return init_args


def _writer_output(
    callbacks: Any, *, source: Path, base_dir: Path, any_class: bool = False
) -> Path | None:
    if callbacks is None:
        return None
    if isinstance(callbacks, Mapping):
        callbacks = [callbacks]
    if not isinstance(callbacks, list):
        raise ConfigError("expected a list of callbacks", path=source, key="trainer.callbacks")
    short = {name.rsplit(".", 1)[-1] for name in WRITER_CLASSES}
    for position, callback in enumerate(callbacks):
        key = f"trainer.callbacks[{position}]"
        if not isinstance(callback, Mapping):
            raise ConfigError("expected a mapping with class_path", path=source, key=key)
        class_path = callback.get("class_path")
        args = callback.get("init_args")
        is_writer = isinstance(class_path, str) and (
            class_path in WRITER_CLASSES
            or class_path in short
            or (any_class and isinstance(args, Mapping) and "output_path" in args)
        )
        if is_writer:
            args = callback.get("init_args") or {}
            output = args.get("output_path") if isinstance(args, Mapping) else None
            if not isinstance(output, str | os.PathLike):
                raise ConfigError(
                    f"expected a path, got {output!r}",
                    path=source,
                    key=f"{key}.init_args.output_path",
                )
            return _resolve(output, base_dir, source=source, key=f"{key}.init_args.output_path")
    return None


def _resolve(value: str | os.PathLike[str], base_dir: Path, *, source: Path, key: str) -> Path:
    """``value`` (expanded already) as a path; a relative one is taken from ``base_dir``."""
    path = Path(value)
    return path if path.is_absolute() else base_dir / path


def _numerics(
    mapping: Mapping[str, Any], trainer: Mapping[str, Any], source: Path
) -> NumericalMode:
    seed = mapping.get("seed_everything", 42)
    if seed is None:
        seed = 42
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(
            f"expected an integer seed (a random seed cannot be reproduced), got {seed!r}",
            path=source,
            key="seed_everything",
        )
    values = {
        "seed": seed,
        "precision": str(trainer.get("precision") or "32-true"),
        "inference_mode": trainer.get("inference_mode", True),
        "deterministic": trainer.get("deterministic") or False,
        # One default with case files (config/numerics.py): no TF32 unless a case asks.
        "matmul_precision": "highest",
        "cudnn_benchmark": trainer.get("benchmark") or False,
    }
    if values["deterministic"] == "warn":
        raise ConfigError(
            "deterministic: warn is not supported; use true or false",
            path=source,
            key="trainer.deterministic",
        )
    return NumericalMode.from_mapping(values, source=source)


def _check_trainer_keys(trainer: Mapping[str, Any], source: Path) -> None:
    """Refuse a key ``Trainer`` does not take, with the closest one it does."""
    for key in trainer:
        if key not in TRAINER_KEYS:
            raise ConfigError(
                f"unknown Trainer argument {key!r}{close_match_hint(key, TRAINER_KEYS)} "
                "(Lightning would refuse it too; "
                "a misspelt key would otherwise run with the default)",
                path=source,
                key=f"trainer.{key}",
            )


def case_from_viscy(
    mapping: Mapping[str, Any], *, source: Path, base_dir: Path, any_classes: bool = False
) -> Case:
    """Map a parsed VisCy predict config onto a :class:`Case` (see module docs).

    ``any_classes`` reads a config naming other classes with VisCy's argument
    names (the lab's modular packages) for what a case needs to know of it;
    its classes and other keys are judged by LightningCLI when it runs.
    ``${VAR}`` references are expanded in every key before anything is judged,
    as the lightning pipeline expands the file before LightningCLI reads it.
    """
    as_written = mapping
    mapping = expand_tree(mapping, source=source)
    if not any_classes:
        refuse_unknown(mapping, _TOP_LEVEL, source=source)
    module_args = _class_block(
        mapping.get("model"), MODULE_CLASSES, key="model", source=source, any_class=any_classes
    )
    encoder_args = _class_block(
        module_args.get("encoder"),
        ENCODER_CLASSES,
        key="model.init_args.encoder",
        source=source,
        any_class=any_classes,
    )
    data_args = _class_block(
        mapping.get("data"), DATA_CLASSES, key="data", source=source, any_class=any_classes
    )
    if any_classes:  # the lab's own arguments are LightningCLI's to judge, not the oracle's
        data_args = _known(data_args, DataConfig)
        encoder_args = _known(encoder_args, ModelConfig)
    trainer = mapping.get("trainer") or {}
    if not isinstance(trainer, Mapping):
        raise ConfigError("expected a mapping", path=source, key="trainer")
    _check_trainer_keys(trainer, source)
    for key, allowed in _TRAINER_REFUSED.items():
        if key in trainer and trainer[key] not in allowed:
            raise ConfigError(
                f"{trainer[key]!r} would predict only part of the plate; remove it",
                path=source,
                key=f"trainer.{key}",
            )
    settings, _ = TrainerSettings.from_mapping(
        {
            "accelerator": "auto",  # Lightning's default
            **{
                k: v
                for k, v in trainer.items()
                if k
                in _TRAINER_USED - {"callbacks", "inference_mode", "deterministic", "benchmark"}
            },
        },
        source=source,
    )
    checkpoint = mapping.get("ckpt_path") or module_args.get("ckpt_path")
    if not isinstance(checkpoint, str | os.PathLike):
        raise ConfigError(
            f"expected the checkpoint path, got {checkpoint!r}", path=source, key="ckpt_path"
        )
    return Case(
        name=_case_name(source),
        model=ModelConfig.from_mapping(encoder_args, source=source),
        data=DataConfig.from_mapping(data_args, base_dir=base_dir, source=source, expand=False),
        trainer=settings,
        numerics=_numerics(mapping, trainer, source),
        checkpoint=_resolve(checkpoint, base_dir, source=source, key="ckpt_path"),
        output=_writer_output(
            trainer.get("callbacks"), source=source, base_dir=base_dir, any_class=any_classes
        ),
        tolerance=ToleranceSpec(),
        source=source,
        config={"viscy_config": dict(as_written)},
    )


def _case_name(source: Path) -> str:
    """A case name from the config's file name, made safe to be a folder name.

    VisCy configs have no case name; the stem names the case (and its golden
    folder), with characters a folder name should not hold replaced by ``_``.
    """
    name = re.sub(r"[^A-Za-z0-9_.+-]", "_", source.stem).lstrip(".-").replace("..", "_")
    return name or "viscy"
