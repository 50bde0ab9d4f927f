"""Names every layer agrees on: the manifest's file name and the columns that key a row.

A module of constants with no imports, so the pytest plugin can use it at
start-up for free; everything that writes, reads or finds golden files, or
builds or reads the index rows, takes its names from here.
"""

from __future__ import annotations

MANIFEST = "golden.json"
"""File name of a golden set's manifest: its presence marks a golden directory."""

INDEX_COLUMNS: tuple[str, ...] = (
    "fov_name",
    "track_id",
    "t",
    "id",
    "parent_track_id",
    "parent_id",
    "z",
    "y",
    "x",
)
"""VisCy's index columns, in its order and in digest order; ``z`` only when the tracks have it.

Columns absent from a store's ``obs`` are skipped (``z`` for 2D tracks).
"""
