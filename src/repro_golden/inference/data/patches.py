"""Patch geometry, normalization and the final centre crop, as VisCy computes them.

VisCy slices ``[t, channels, z_range, y - hy : y + hy, x - hx : x + hx]`` with
``hy, hx = initial_yx_patch_size // 2`` (so an odd size gives an even patch),
normalizes each channel of the batch with ``NormalizeSampled``
(``(x - meta[subtrahend]) / (meta[divisor] + 1e-8)``, statistics as float32
tensors of shape (B,) broadcast over the patch) and centre-crops to
``(z_window_size, *final_yx_patch_size)`` with MONAI's rule ``start = max(size
// 2 - roi // 2, 0)``. Normalization and crop are elementwise and slicing, so
cropping first gives bitwise the same numbers for less work; the arithmetic
itself is done with torch on the same shapes and dtypes as VisCy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from repro_golden.config.data import DataConfig, NormalizationSpec
from repro_golden.errors import DataError
from repro_golden.inference.data.plate import FieldOfView


def _centre_crop(size: int, roi: int) -> slice:
    """MONAI ``CenterSpatialCrop`` along one axis (roi <= 0 means the whole axis)."""
    if roi <= 0:
        roi = size
    start = max(size // 2 - roi // 2, 0)
    return slice(start, min(start + roi, size))


@dataclass(frozen=True)
class PatchGeometry:
    """Where a row's patch lies in its FOV, and which part of it survives the crop."""

    channels: tuple[int, ...]
    z_range: tuple[int, int]
    half: tuple[int, int]
    crop: tuple[slice, slice, slice]

    @classmethod
    def from_config(cls, config: DataConfig, channels: tuple[int, ...]) -> PatchGeometry:
        half = (config.initial_yx_patch_size[0] // 2, config.initial_yx_patch_size[1] // 2)
        depth = config.z_range[1] - config.z_range[0]
        crop = (
            _centre_crop(depth, config.final_z_size),
            _centre_crop(2 * half[0], config.final_yx_patch_size[0]),
            _centre_crop(2 * half[1], config.final_yx_patch_size[1]),
        )
        return cls(channels=channels, z_range=config.z_range, half=half, crop=crop)

    @property
    def output_shape(self) -> tuple[int, int, int, int]:
        """(C, Z, Y, X) of one cropped patch."""
        z, y, x = (s.stop - s.start for s in self.crop)
        return (len(self.channels), z, y, x)

    def window(self, y: int, x: int) -> tuple[int, int, int, int]:
        """The cropped patch's extent in the FOV: ``(y0, y1, x0, x1)``, end exclusive."""
        y0 = y - self.half[0] + self.crop[1].start
        x0 = x - self.half[1] + self.crop[2].start
        return (
            y0,
            y0 + (self.crop[1].stop - self.crop[1].start),
            x0,
            x0 + (self.crop[2].stop - self.crop[2].start),
        )

    @property
    def z_slice(self) -> slice:
        """Z planes read from the FOV (after the crop)."""
        start = self.z_range[0] + self.crop[0].start
        return slice(start, self.z_range[0] + self.crop[0].stop)


def _stat(fov: FieldOfView, channel: str, level: str, stat: str) -> float:
    norm = fov.normalization
    key = f"normalization.{channel}.{level}.{stat}"
    node: Any = norm
    for part in (channel, level, stat):
        if not isinstance(node, Mapping) or part not in node:
            raise DataError(
                f"no normalization statistic {key}; expected it in the position's "
                ".zattrs (written by `viscy preprocess`)",
                path=fov.path,
                key=key,
            )
        node = node[part]
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise DataError(f"expected a number, found {node!r}", path=fov.path, key=key)
    return float(node)


@dataclass(frozen=True)
class _Operation:
    channel: int
    subtrahend: np.ndarray
    divisor: np.ndarray


class Normalizer:
    """VisCy's ``NormalizeSampled`` chain over a batch of raw patches.

    Statistics are looked up once per FOV at construction, so a missing or
    malformed entry fails before any pixel is read.
    """

    def __init__(
        self,
        fovs: Sequence[FieldOfView],
        source_channels: tuple[str, ...],
        specs: tuple[NormalizationSpec, ...],
    ) -> None:
        self._operations = []
        for spec in specs:
            for channel in spec.keys:
                subtrahend = np.array(
                    [_stat(f, channel, spec.level, spec.subtrahend) for f in fovs],
                    dtype=np.float64,
                )
                divisor = np.array(
                    [_stat(f, channel, spec.level, spec.divisor) for f in fovs], dtype=np.float64
                )
                self._operations.append(
                    _Operation(source_channels.index(channel), subtrahend, divisor)
                )

    def normalize_(self, batch: torch.Tensor, fov_of_row: np.ndarray) -> torch.Tensor:
        """Normalize a float (B, C, Z, Y, X) batch in place; returns it as float32.

        Per element this is VisCy's ``(x - subtrahend) / (divisor + 1e-8)`` with
        float32 statistics of shape (B,) broadcast over each channel; doing it
        in place changes no bit. Integer data must be converted to float32
        before (exact for up to 24-bit integers, as VisCy's promotion is).
        """
        if batch.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"expected a float32 or float64 batch, got {batch.dtype}")
        shape = (batch.shape[0], 1, 1, 1, 1)
        for op in self._operations:
            subtrahend = torch.tensor(op.subtrahend[fov_of_row].tolist(), dtype=torch.float32)
            divisor = torch.tensor(op.divisor[fov_of_row].tolist(), dtype=torch.float32) + 1e-8
            channel = batch[:, op.channel : op.channel + 1]
            channel.sub_(subtrahend.reshape(shape)).div_(divisor.reshape(shape))
        return batch if batch.dtype == torch.float32 else batch.to(torch.float32)
