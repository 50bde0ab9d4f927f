"""The model: VisCy-compatible contrastive encoder, Lightning module and checkpoint loading.

Names are loaded lazily: ``repro_golden.model.config`` (used by case loading)
stays free of torch, timm and Lightning; touching the other names imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from repro_golden.model.checkpoint import LoadedCheckpoint, load_checkpoint
    from repro_golden.model.config import SUPPORTED_BACKBONES, ModelConfig
    from repro_golden.model.encoder import ContrastiveEncoder
    from repro_golden.model.module import ContrastiveModule, ContrastivePrediction

_WHERE = {
    "LoadedCheckpoint": "checkpoint",
    "load_checkpoint": "checkpoint",
    "SUPPORTED_BACKBONES": "config",
    "ModelConfig": "config",
    "ContrastiveEncoder": "encoder",
    "ContrastiveModule": "module",
    "ContrastivePrediction": "module",
}

__all__ = [
    "SUPPORTED_BACKBONES",
    "ContrastiveEncoder",
    "ContrastiveModule",
    "ContrastivePrediction",
    "LoadedCheckpoint",
    "ModelConfig",
    "load_checkpoint",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
