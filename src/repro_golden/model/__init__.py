"""The model: VisCy-compatible contrastive encoder, Lightning module and checkpoint loading.

Importing this package imports torch, timm and Lightning; the torch-free core
never imports it.
"""

from repro_golden.model.checkpoint import CheckpointError, LoadedCheckpoint, load_checkpoint
from repro_golden.model.config import SUPPORTED_BACKBONES, ModelConfig
from repro_golden.model.encoder import ContrastiveEncoder
from repro_golden.model.module import ContrastiveModule, ContrastivePrediction

__all__ = [
    "SUPPORTED_BACKBONES",
    "CheckpointError",
    "ContrastiveEncoder",
    "ContrastiveModule",
    "ContrastivePrediction",
    "LoadedCheckpoint",
    "ModelConfig",
    "load_checkpoint",
]
