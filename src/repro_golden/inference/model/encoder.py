"""The contrastive encoder: a 3D depth-to-channels stem, a timm backbone, a projection head.

Parameter names and shapes are those of VisCy 0.4.1's
``viscy.representation.contrastive.ContrastiveEncoder`` (submodules ``stem``,
``encoder`` and ``projection``, registered in that order), so VisCy checkpoints
load strictly. Weights are never downloaded: the backbone is always created
with ``pretrained=False`` and then filled from a checkpoint.

``resnet50`` follows the later VisCy fix (``encoder.fc`` replaced and the
projection sized from ``num_features``): VisCy 0.4.1 itself fails to build it
(``'ResNet' object has no attribute 'head'``), so no 0.4.1 checkpoint exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import timm
from torch import Tensor, nn

from repro_golden.config.model import SUPPORTED_BACKBONES
from repro_golden.errors import ConfigError

if TYPE_CHECKING:
    from repro_golden.config.model import ModelConfig


def projection_head(in_features: int, hidden_features: int, out_features: int) -> nn.Sequential:
    """Two linear layers, each followed by BatchNorm, with a ReLU between (VisCy's head)."""
    return nn.Sequential(
        nn.Linear(in_features, hidden_features),
        nn.BatchNorm1d(hidden_features),
        nn.ReLU(inplace=True),
        nn.Linear(hidden_features, out_features),
        nn.BatchNorm1d(out_features),
    )


class DepthToChannelsStem(nn.Module):
    """A 3D convolution whose output depth is folded into channels.

    Input ``(B, C, Z, Y, X)``; output ``(B, out_channels, Y', X')`` where the
    conv's output channels times its output depth equals ``out_channels``
    exactly (otherwise :class:`ConfigError`: the stack depth does not fit).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        in_stack_depth: int,
        out_channels: int,
        kernel_size: tuple[int, int, int],
        stride: tuple[int, int, int],
    ) -> None:
        super().__init__()
        out_depth = (in_stack_depth - kernel_size[0]) // stride[0] + 1
        if out_depth <= 0 or out_channels % out_depth != 0:
            raise ConfigError(
                f"stem output depth {out_depth} (in_stack_depth={in_stack_depth}, "
                f"stem_kernel_size={list(kernel_size)}, stem_stride={list(stride)}) must divide "
                f"the backbone's {out_channels} stem channels",
                key="model.in_stack_depth",
            )
        self.conv = nn.Conv3d(
            in_channels,
            out_channels // out_depth,
            kernel_size=kernel_size,
            stride=stride,
        )

    def forward(self, x: Tensor) -> Tensor:
        """Convolve, then reshape ``(B, C, D, H, W)`` to ``(B, C*D, H, W)``."""
        y = self.conv(x)
        b, c, d, h, w = y.shape
        return y.reshape(b, c * d, h, w)


class ContrastiveEncoder(nn.Module):
    """Encoder returning ``(features, projections)`` for a ``(B, C, Z, Y, X)`` batch.

    ``features`` are the backbone's pooled features (``num_features`` wide, 768
    for convnext_tiny); ``projections`` go through the projection head
    (``embedding_dim`` hidden, ``projection_dim`` out), as in VisCy.
    """

    def __init__(
        self,
        *,
        backbone: str,
        in_channels: int,
        in_stack_depth: int,
        stem_kernel_size: tuple[int, int, int] = (5, 4, 4),
        stem_stride: tuple[int, int, int] = (5, 4, 4),
        embedding_dim: int = 768,
        projection_dim: int = 128,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if backbone not in SUPPORTED_BACKBONES:
            raise ConfigError(
                f"unsupported backbone {backbone!r}; expected one of {list(SUPPORTED_BACKBONES)}",
                key="model.backbone",
            )
        self.backbone = backbone
        network: Any = timm.create_model(
            backbone,
            pretrained=False,
            features_only=False,
            drop_path_rate=drop_path_rate,
            num_classes=embedding_dim,
        )
        if backbone.startswith("convnext"):
            stem_channels = int(network.stem[0].out_channels)
            network.stem[0] = nn.Identity()  # keep the stem's LayerNorm
            network.head.fc = nn.Identity()
        else:
            stem_channels = int(network.conv1.out_channels)
            network.conv1 = nn.Identity()  # keep bn1, act1, maxpool
            network.fc = nn.Identity()
        self.stem = DepthToChannelsStem(
            in_channels=in_channels,
            in_stack_depth=in_stack_depth,
            out_channels=stem_channels,
            kernel_size=stem_kernel_size,
            stride=stem_stride,
        )
        self.encoder = network
        self.projection = projection_head(int(network.num_features), embedding_dim, projection_dim)

    @classmethod
    def from_config(cls, config: ModelConfig) -> ContrastiveEncoder:
        """Build the encoder a :class:`ModelConfig` describes."""
        return cls(
            backbone=config.backbone,
            in_channels=config.in_channels,
            in_stack_depth=config.in_stack_depth,
            stem_kernel_size=config.stem_kernel_size,
            stem_stride=config.stem_stride,
            embedding_dim=config.embedding_dim,
            projection_dim=config.projection_dim,
            drop_path_rate=config.drop_path_rate,
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(features, projections)``."""
        features = self.encoder(self.stem(x))
        return features, self.projection(features)
