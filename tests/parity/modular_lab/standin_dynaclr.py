"""Test-only stand-in for ``dynaclr.engine.ContrastiveModule`` (dynaclr is not on PyPI).

The lab's application ``dynaclr`` lives in the public VisCy repository under
``applications/dynaclr``; its predict configs name
``dynaclr.engine.ContrastiveModule``. This module reproduces only what
prediction touches of that class, written here from its documented contract:

- ``__init__(encoder, ..., example_input_array_shape=...)`` stores the encoder
  as ``self.model`` (so checkpoint keys are ``model.*``) and keeps an
  ``example_input_array`` of that shape, drawn from the global RNG as the
  original does at construction time;
- ``forward(x)`` is ``self.model(x)``: ``(features, projections)``;
- ``predict_step(batch, ...)`` returns ``{"features", "projections", "index"}``
  from ``batch["anchor"]`` and ``batch["index"]``.

Training arguments (loss, learning rate, schedule, logging) are accepted and
unused: a predict config may still carry them. Used only by tests/parity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch import LightningModule
from torch import nn


class ContrastiveModule(LightningModule):
    """dynaclr's predict contract around any encoder returning ``(features, projections)``."""

    def __init__(
        self,
        encoder: nn.Module,
        loss_function: nn.Module | None = None,
        lr: float = 1e-3,
        schedule: str = "Constant",
        log_batches_per_epoch: int = 8,
        log_samples_per_batch: int = 1,
        log_embeddings: bool = False,
        example_input_array_shape: Sequence[int] = (1, 2, 15, 256, 256),
    ) -> None:
        super().__init__()
        self.model = encoder
        self.loss_function = loss_function
        self.lr = lr
        self.schedule = schedule
        self.example_input_array = torch.rand(*example_input_array_shape)

    def forward(self, x: torch.Tensor) -> Any:
        return self.model(x)

    def predict_step(self, batch: dict[str, Any], batch_idx: int, dataloader_idx: int = 0) -> Any:
        features, projections = self.model(batch["anchor"])
        return {"features": features, "projections": projections, "index": batch["index"]}
