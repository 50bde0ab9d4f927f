"""The values a golden set is made of: per-FOV digests and stats, sketches, full copies.

Built by :func:`~repro_golden.core.golden.summarize.summarize` from an embeddings
store, or read by :class:`~repro_golden.core.golden.store.GoldenStore` through
:mod:`~repro_golden.core.golden.format`, which validates everything once; code
that holds one of these values can trust its types and ranges.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden.expectations import Expectation
from repro_golden.core.summary import ArrayStats, ColumnAccumulator, RowStats, StoredRows
from repro_golden.core.tolerance import ArrayTolerances

DEFAULT_FULL_COPY_LIMIT = 2 * 1024 * 1024
"""Arrays are stored whole when their compressed full copy is at most this many bytes."""


@dataclass(frozen=True)
class FovGolden:
    """Digests and statistics of one FOV; ``offset`` is its first row in the sketch."""

    name: str
    rows: int
    offset: int
    digest: str
    index_digest: str
    index_multiset_digest: str
    array_digests: dict[str, str]
    stats: dict[str, ArrayStats]


@dataclass(frozen=True)
class ArraySketch:
    """Bulk sketch numbers of one array, rows in FOV-grouped order."""

    dtype: str
    width: int
    signs: np.ndarray
    rows: RowStats | StoredRows
    columns: ColumnAccumulator

    def stored_rows(self, start: int, stop: int) -> StoredRows:
        r = self.rows
        return StoredRows(
            r.sums[start:stop].astype(np.float32),
            r.norms[start:stop].astype(np.float32),
            r.projs[start:stop].astype(np.float32),
            r.flags[start:stop],
        )


@dataclass(frozen=True)
class FullCopy:
    """Every value of every array, rows in FOV-grouped order (the sketch's order).

    Present when the compressed copy fits the golden set's ``full_copy_limit``; a
    check then judges changed FOVs with ``allclose`` on every element.
    """

    arrays: dict[str, np.ndarray]
    encoded: bytes = field(default=b"", compare=False, repr=False)
    """The file bytes when already encoded (by :func:`summarize`, which had to measure them)."""

    def rows(self, array: str, start: int, stop: int) -> np.ndarray:
        return self.arrays[array][start:stop]


@dataclass(frozen=True)
class Golden:
    """Everything a golden check needs; built from embeddings or read from a directory.

    ``environment`` is the fingerprint of the run the golden values come from
    (``None``: not recorded); ``tolerance`` the recorded per-array tolerance
    (``None``: none recorded, the case's applies); ``expectations`` one per
    environment; ``full`` the full copy when small enough.
    """

    dataset_digest: str
    num_rows: int
    index_columns: tuple[str, ...]
    fovs: tuple[FovGolden, ...]
    arrays: dict[str, ArraySketch]
    provenance: dict[str, Any] = field(default_factory=dict)
    case: str | None = None
    tolerance: ArrayTolerances | None = None
    environment: EnvironmentFingerprint | None = None
    expectations: tuple[Expectation, ...] = ()
    full: FullCopy | None = None
    full_copy_limit: int = DEFAULT_FULL_COPY_LIMIT
