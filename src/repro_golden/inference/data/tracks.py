"""Per-FOV tracks tables: ``<tracks>/<row>/<col>/<fov>/*.csv``.

VisCy reads the first CSV that ``glob`` returns (file-system order) and casts
every column to ``int``, truncating fractions silently. For a reproducibility
tool both are hazards, so here a FOV directory must hold exactly one CSV and
every column we use must hold integers (integral floats such as ``3.0`` are
accepted, as VisCy's cast would keep them exact).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from repro_golden.errors import DataError

if TYPE_CHECKING:  # pandas is imported where tracks are read, not to find their file
    import pandas as pd

#: Columns every tracks table must have.
REQUIRED_COLUMNS = ("track_id", "t", "id", "parent_track_id", "parent_id", "y", "x")
#: Columns used when present.
OPTIONAL_COLUMNS = ("z",)


def find_tracks_csv(tracks_root: Path, fov_name: str) -> Path:
    """The single CSV in ``tracks_root/fov_name``; :class:`DataError` if none or several."""
    directory = tracks_root / fov_name
    if not directory.is_dir():
        raise DataError(
            f"no tracks directory for FOV {fov_name}; expected {fov_name}/<name>.csv "
            "under the tracks path",
            path=directory,
        )
    found = sorted(directory.glob("*.csv"))
    if not found:
        raise DataError(
            f"no tracks CSV for FOV {fov_name}; expected one *.csv file", path=directory
        )
    if len(found) > 1:
        raise DataError(
            f"{len(found)} CSV files {[p.name for p in found]}; expected exactly one "
            "(VisCy would pick one in file-system order)",
            path=directory,
        )
    return found[0]


def _integer_column(frame: pd.DataFrame, column: str, path: Path) -> np.ndarray:
    import pandas as pd

    values = frame[column]
    if pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=np.int64)
    if pd.api.types.is_float_dtype(values.dtype):
        array = values.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(array) | (array != np.round(array))
        if not bad.any():
            return array.astype(np.int64)
        row = int(np.flatnonzero(bad)[0])
    else:
        numeric = pd.to_numeric(values, errors="coerce")
        row = int(np.flatnonzero(numeric.isna().to_numpy())[0]) if numeric.isna().any() else 0
    raise DataError(
        f"expected integers in column {column!r}, found {values.iloc[row]!r} "
        f"at data row {row + 1} (dtype {values.dtype})",
        path=path,
        key=column,
    )


def read_tracks(tracks_root: Path, fov_name: str) -> tuple[dict[str, np.ndarray], Path]:
    """Read and validate one FOV's tracks: int64 columns, in file order.

    Returns the table as ``{column: int64 array}`` (required columns, plus ``z``
    when present; plain arrays, as building a second DataFrame was most of the
    row table's setup time) and the CSV path. Raises :class:`DataError` naming
    the CSV and column on a missing column or a non-integer value.
    """
    import pandas as pd

    path = find_tracks_csv(tracks_root, fov_name)
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise DataError(f"unreadable CSV: {error}", path=path) from error
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"missing column(s) {missing}; expected columns {list(REQUIRED_COLUMNS)} (and 'z')",
            path=path,
            key=missing[0],
        )
    columns = [c for c in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS) if c in frame.columns]
    return {c: _integer_column(frame, c, path) for c in columns}, path
