"""The predict-mode row table, exactly as VisCy 0.4.1's ``TripletDataset`` builds it.

Rows come FOV by FOV in plate order (see :mod:`repro_golden.inference.data.plate`),
each FOV's rows in tracks-file order, keeping only centres strictly inside
``(half, size - half)`` in y and in x, where ``half = initial_patch // 2``. With
``predict_cells`` the table is then rebuilt from the ``(include_fov_names[i],
include_track_ids[i])`` pairs, pair by pair, each pair's rows in table order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro_golden.config.data import DataConfig
from repro_golden.core.names import INDEX_COLUMNS
from repro_golden.errors import DataError
from repro_golden.inference.data.plate import FieldOfView
from repro_golden.inference.data.tracks import read_tracks


@dataclass(frozen=True)
class RowIndex:
    """Rows to predict, in VisCy's order.

    ``fov`` holds, per row, the position of its FOV in ``fovs``; ``values``
    holds each integer index column (all of ``INDEX_COLUMNS`` but ``fov_name``
    that the tracks have) as int64 arrays of the same length.
    """

    fovs: tuple[FieldOfView, ...]
    fov: np.ndarray
    values: dict[str, np.ndarray]

    def __len__(self) -> int:
        return int(self.fov.shape[0])

    @property
    def columns(self) -> tuple[str, ...]:
        """Index columns in VisCy's order, ``fov_name`` first."""
        return ("fov_name", *self.values)

    def fov_names(self, rows: np.ndarray) -> list[str]:
        """``row/col/fov`` of each of ``rows``."""
        return [self.fovs[i].name for i in self.fov[rows]]


def _check_z_range(fov: FieldOfView, z_range: tuple[int, int]) -> None:
    depth = fov.shape[2]
    if z_range[1] > depth:
        raise DataError(
            f"z_range {list(z_range)} exceeds the image's Z={depth}; expected stop <= {depth}",
            path=fov.path / "0",
            key="z_range",
        )


def _check_time_points(t: np.ndarray, fov: FieldOfView, csv: Path) -> None:
    frames = fov.shape[0]
    outside = (t < 0) | (t >= frames)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        raise DataError(
            f"time point {int(t[row])} at data row {row + 1} is outside the image "
            f"(T={frames} in {fov.path / '0'}); expected 0 <= t < {frames}",
            path=csv,
            key="t",
        )


def _border_mask(
    y: np.ndarray, x: np.ndarray, fov: FieldOfView, patch: tuple[int, int]
) -> np.ndarray:
    half_y, half_x = patch[0] // 2, patch[1] // 2
    height, width = fov.shape[3], fov.shape[4]
    return (y > half_y) & (y < height - half_y) & (x > half_x) & (x < width - half_x)


def build_index(fovs: list[FieldOfView], config: DataConfig) -> RowIndex:
    """Read every FOV's tracks, drop border cells, order rows as VisCy does.

    Raises :class:`DataError` on a z range beyond a stack, tracks problems
    (see :func:`~repro_golden.inference.data.tracks.read_tracks`), tables that disagree
    on having ``z``, or when no row is left to predict.
    """
    fov_parts: list[np.ndarray] = []
    parts: dict[str, list[np.ndarray]] = {}
    has_z: bool | None = None
    first_csv: Path | None = None
    for position, fov in enumerate(fovs):
        _check_z_range(fov, config.z_range)
        table, csv = read_tracks(config.tracks_path, fov.name)
        if has_z is None:
            has_z, first_csv = "z" in table, csv
        elif has_z != ("z" in table):
            raise DataError(
                f"{'has no' if has_z else 'has a'} 'z' column, unlike {first_csv}; "
                "expected the same columns in every FOV",
                path=csv,
                key="z",
            )
        _check_time_points(table["t"], fov, csv)
        keep = _border_mask(table["y"], table["x"], fov, config.initial_yx_patch_size)
        fov_parts.append(np.full(int(keep.sum()), position, dtype=np.int64))
        for column in INDEX_COLUMNS[1:]:
            if column in table:
                parts.setdefault(column, []).append(table[column][keep])
    fov_of_row = np.concatenate(fov_parts)
    values = {c: np.concatenate(v).astype(np.int64) for c, v in parts.items()}
    if config.predict_cells:
        fov_of_row, values = _specific_cells(fovs, fov_of_row, values, config)
    if fov_of_row.shape[0] == 0:
        raise DataError(
            "no cells to predict: every track row is within half a patch "
            f"({config.initial_yx_patch_size[0] // 2}, {config.initial_yx_patch_size[1] // 2}) "
            "of the border or was not selected; expected at least one",
            path=config.tracks_path,
        )
    return RowIndex(fovs=tuple(fovs), fov=fov_of_row, values=values)


def _specific_cells(
    fovs: list[FieldOfView],
    fov_of_row: np.ndarray,
    values: dict[str, np.ndarray],
    config: DataConfig,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """VisCy's ``predict_cells``: rows of each (FOV, track) pair, pairs in the given order."""
    names = np.array([f.name for f in fovs], dtype=object)[fov_of_row]
    selected: list[np.ndarray] = []
    for fov_name, track_id in zip(
        config.include_fov_names or (), config.include_track_ids or (), strict=False
    ):
        selected.append(np.flatnonzero((names == fov_name) & (values["track_id"] == track_id)))
    rows = np.concatenate(selected) if selected else np.zeros(0, dtype=np.int64)
    return fov_of_row[rows], {c: v[rows] for c, v in values.items()}
