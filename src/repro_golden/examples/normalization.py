"""Normalization statistics computed the way ``viscy preprocess`` computes them.

VisCy samples every ``grid_spacing``-th pixel in Y and X of all time points
and Z slices (``array[:, c, :, ::g, ::g]``, float32 as stored) and records,
per channel: ``fov_statistics`` (one position's samples),
``dataset_statistics`` (the samples of all positions stacked, in plate order)
and ``timepoint_statistics`` (per time point, all positions stacked). Each
record holds ``mean``, ``std`` (``np.nanmean``/``np.nanstd`` of the float32
samples), ``median``, ``iqr`` and the 1/5/95/99 percentiles
(``np.nanpercentile``, linear). Positions carry all three levels; the plate
root carries ``dataset_statistics`` and ``timepoint_statistics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

Stats = dict[str, float]
_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


def value_statistics(samples: np.ndarray) -> Stats:
    """VisCy's per-sample statistics record (keys as ``viscy`` writes them)."""
    values = dict(zip(_PERCENTILES, np.nanpercentile(samples, _PERCENTILES), strict=True))
    p = {k: float(v) for k, v in values.items()}
    return {
        "mean": float(np.nanmean(samples)),
        "std": float(np.nanstd(samples)),
        "median": p[50],
        "iqr": p[75] - p[25],
        "p5": p[5],
        "p95": p[95],
        "p95_p5": p[95] - p[5],
        "p1": p[1],
        "p99": p[99],
        "p99_p1": p[99] - p[1],
    }


def plate_normalization(
    arrays: Mapping[str, np.ndarray], channel_names: tuple[str, ...], *, grid_spacing: int
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``(plate record, {fov_name: position record})`` for ``.zattrs["normalization"]``.

    ``arrays`` maps FOV names, in plate order, to their ``(T, C, Z, Y, X)``
    arrays, all of one shape.
    """
    plate: dict[str, Any] = {}
    positions: dict[str, dict[str, Any]] = {name: {} for name in arrays}
    for c, channel in enumerate(channel_names):
        samples = {
            name: array[:, c, :, ::grid_spacing, ::grid_spacing] for name, array in arrays.items()
        }
        dataset = value_statistics(np.stack(list(samples.values())))
        n_t = next(iter(arrays.values())).shape[0]
        timepoints = {
            str(t): value_statistics(np.stack([s[t] for s in samples.values()])) for t in range(n_t)
        }
        plate[channel] = {"dataset_statistics": dataset, "timepoint_statistics": timepoints}
        for name, fov_samples in samples.items():
            positions[name][channel] = {
                "dataset_statistics": dataset,
                "fov_statistics": value_statistics(fov_samples),
                "timepoint_statistics": timepoints,
            }
    return plate, positions
