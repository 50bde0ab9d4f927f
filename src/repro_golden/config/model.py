"""The case file's ``model:`` section: the architecture of the encoder.

VisCy checkpoints carry no ``hyper_parameters``, so the architecture always
comes from the run configuration, never from the checkpoint. Argument names are
VisCy's ``ContrastiveEncoder`` names so that a VisCy config maps one to one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from repro_golden.config import validate
from repro_golden.errors import ConfigError

SUPPORTED_BACKBONES = ("convnext_tiny", "convnextv2_tiny", "resnet50")


def _int_triple(value: Any, *, key: str, source: Path | None) -> tuple[int, int, int]:
    triple = validate.integers(value, source=source, key=key, length=3, minimum=1)
    return (triple[0], triple[1], triple[2])


def _positive_int(value: Any, *, key: str, source: Path | None) -> int:
    return validate.integer(value, source=source, key=key, minimum=1)


@dataclass(frozen=True)
class ModelConfig:
    """Arguments of :class:`~repro_golden.inference.model.encoder.ContrastiveEncoder`.

    Defaults are VisCy 0.4.1's defaults, so a config that omits a key builds
    the same network VisCy would build from it.
    """

    backbone: str
    in_channels: int
    in_stack_depth: int
    stem_kernel_size: tuple[int, int, int] = (5, 4, 4)
    stem_stride: tuple[int, int, int] = (5, 4, 4)
    embedding_dim: int = 768
    projection_dim: int = 128
    drop_path_rate: float = 0.0

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, source: str | Path | None = None
    ) -> ModelConfig:
        """Validate a ``model:`` mapping; raise :class:`ConfigError` naming ``source`` and key."""
        src = None if source is None else Path(source)
        if not isinstance(mapping, Mapping):
            raise ConfigError(
                f"expected a mapping, got {type(mapping).__name__}", path=src, key="model"
            )
        validate.refuse_unknown(mapping, {f.name for f in fields(cls)}, source=src, key="model")
        for required in ("backbone", "in_channels", "in_stack_depth"):
            if required not in mapping:
                raise ConfigError("required key is missing", path=src, key=f"model.{required}")
        backbone = mapping["backbone"]
        if backbone not in SUPPORTED_BACKBONES:
            raise ConfigError(
                f"unsupported backbone {backbone!r}; expected one of {list(SUPPORTED_BACKBONES)}",
                path=src,
                key="model.backbone",
            )
        drop_path_rate = mapping.get("drop_path_rate", 0.0)
        if (
            not isinstance(drop_path_rate, int | float)
            or isinstance(drop_path_rate, bool)
            or not 0.0 <= drop_path_rate < 1.0
        ):
            raise ConfigError(
                f"expected a number in [0, 1), got {drop_path_rate!r}",
                path=src,
                key="model.drop_path_rate",
            )
        return cls(
            backbone=backbone,
            in_channels=_positive_int(mapping["in_channels"], key="model.in_channels", source=src),
            in_stack_depth=_positive_int(
                mapping["in_stack_depth"], key="model.in_stack_depth", source=src
            ),
            stem_kernel_size=_int_triple(
                mapping.get("stem_kernel_size", cls.stem_kernel_size),
                key="model.stem_kernel_size",
                source=src,
            ),
            stem_stride=_int_triple(
                mapping.get("stem_stride", cls.stem_stride), key="model.stem_stride", source=src
            ),
            embedding_dim=_positive_int(
                mapping.get("embedding_dim", cls.embedding_dim),
                key="model.embedding_dim",
                source=src,
            ),
            projection_dim=_positive_int(
                mapping.get("projection_dim", cls.projection_dim),
                key="model.projection_dim",
                source=src,
            ),
            drop_path_rate=float(drop_path_rate),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-ready form (tuples as lists), the inverse of :meth:`from_mapping`."""
        data = asdict(self)
        data["stem_kernel_size"] = list(self.stem_kernel_size)
        data["stem_stride"] = list(self.stem_stride)
        return data
