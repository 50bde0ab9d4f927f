"""Patch geometry, normalization and the final centre crop, as VisCy computes them.

VisCy slices ``[t, channels, z_range, y - hy : y + hy, x - hx : x + hx]`` with
``hy, hx = initial_yx_patch_size // 2`` (so an odd size gives an even patch),
normalizes each channel of the batch with ``NormalizeSampled``
(``(x - meta[subtrahend]) / (meta[divisor] + 1e-8)``, statistics as float32
tensors of shape (B,) broadcast over the patch) and centre-crops to
``(z_window_size, *final_yx_patch_size)`` with MONAI's rule ``start = max(size
// 2 - roi // 2, 0)``. Normalization and crop are elementwise and slicing, so
cropping first gives bitwise the same numbers for less work, and so does
normalizing patch by patch: the statistics are made by torch exactly as VisCy
makes them, and each element then goes through the same two IEEE float
operations in the same dtype.
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
    """One normalized channel: per FOV, VisCy's float32 subtrahend and ``divisor + 1e-8``."""

    channel: int
    subtrahend: np.ndarray
    divisor: np.ndarray


class Normalizer:
    """VisCy's ``NormalizeSampled`` chain, applied patch by patch.

    Statistics are looked up once per FOV at construction, so a missing or
    malformed entry fails before any pixel is read. VisCy computes, per
    element, ``(x - subtrahend) / (divisor + 1e-8)`` with float32 statistics
    (the divisor's ``+ 1e-8`` done by torch in float32) broadcast over each
    channel of the batch; the same two IEEE operations on one patch at a time
    give the same bits, and let the reader's workers normalize in parallel.
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
                subtrahend = [_stat(f, channel, spec.level, spec.subtrahend) for f in fovs]
                divisor = [_stat(f, channel, spec.level, spec.divisor) for f in fovs]
                self._operations.append(
                    _Operation(
                        source_channels.index(channel),
                        torch.tensor(subtrahend, dtype=torch.float32).numpy(),
                        (torch.tensor(divisor, dtype=torch.float32) + 1e-8).numpy(),
                    )
                )

    def normalize_patch_(self, patch: np.ndarray, fov: int) -> None:
        """Normalize one float (C, Z, Y, X) patch (or region) of FOV number ``fov`` in place.

        float32 patches are computed in float32; float64 ones (float64 plates)
        in float64 with the float32 statistics widened, as VisCy's promotion
        does. Integer data must be converted to float32 before (exact for up
        to 24-bit integers, as VisCy's promotion is).
        """
        if patch.dtype not in (np.float32, np.float64):
            raise TypeError(f"expected a float32 or float64 patch, got {patch.dtype}")
        for op in self._operations:
            channel = patch[op.channel]
            np.subtract(channel, op.subtrahend[fov], out=channel)
            np.divide(channel, op.divisor[fov], out=channel)
