"""The Lightning module that wraps the encoder for prediction.

The encoder is stored as ``self.model`` so that state-dict keys are
``model.<...>``, exactly as in VisCy 0.4.1's ``ContrastiveModule``; the module
holds no other parameters or buffers. It is inference-only: no loss, no
optimizer.
"""

from __future__ import annotations

from typing import Any, TypedDict

from lightning.pytorch import LightningModule
from torch import Tensor, nn


class ContrastivePrediction(TypedDict):
    """One predicted batch, as the writer consumes it.

    ``features`` and ``projections`` are VisCy's keys; ``index`` maps each
    index column to an int64 tensor; ``fov_name`` and ``row`` (global row
    number in dataset order) come straight from the batch.
    """

    features: Tensor
    projections: Tensor
    index: dict[str, Tensor]
    fov_name: list[str]
    row: Tensor


class ContrastiveModule(LightningModule):
    """``ContrastiveModule(encoder)``: forward returns ``(features, projections)``."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.model = encoder

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Run the encoder on an ``anchor`` batch ``(B, C, Z, Y, X)``."""
        features, projections = self.model(x)
        return features, projections

    def predict_step(
        self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0
    ) -> ContrastivePrediction:
        """Embed ``batch["anchor"]``; pass the batch's index rows through unchanged."""
        features, projections = self.model(batch["anchor"])
        return {
            "features": features,
            "projections": projections,
            "index": batch["index"],
            "fov_name": batch["fov_name"],
            "row": batch["row"],
        }
