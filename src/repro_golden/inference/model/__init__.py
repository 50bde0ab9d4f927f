"""The model: VisCy-compatible contrastive encoder, Lightning module and checkpoint loading.

Names are loaded lazily: ``repro_golden.config.model`` (used by case loading)
stays free of torch, timm and Lightning; touching the other names imports them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from repro_golden.config.model import SUPPORTED_BACKBONES, ModelConfig
    from repro_golden.inference.model.checkpoint import LoadedCheckpoint, load_checkpoint
    from repro_golden.inference.model.encoder import ContrastiveEncoder
    from repro_golden.inference.model.module import ContrastiveModule, ContrastivePrediction

_WHERE = {
    "LoadedCheckpoint": "repro_golden.inference.model.checkpoint",
    "load_checkpoint": "repro_golden.inference.model.checkpoint",
    "SUPPORTED_BACKBONES": "repro_golden.config.model",
    "ModelConfig": "repro_golden.config.model",
    "ContrastiveEncoder": "repro_golden.inference.model.encoder",
    "ContrastiveModule": "repro_golden.inference.model.module",
    "ContrastivePrediction": "repro_golden.inference.model.module",
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
    return getattr(importlib.import_module(_WHERE[name]), name)
