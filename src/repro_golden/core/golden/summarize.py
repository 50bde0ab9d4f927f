"""Summarize an embeddings store into a :class:`~repro_golden.core.golden.types.Golden`.

One streaming pass, FOV by FOV: digests, human statistics, the sound sketch and,
when the arrays are small enough, the full copy (kept only if its compressed
form fits ``full_copy_limit``). Torch-free.
"""

from __future__ import annotations

import platform
from pathlib import PurePath
from typing import Any

import numpy as np

import repro_golden
from repro_golden.core.digest import (
    array_digest,
    canonical_dtype,
    dataset_digest,
    fov_digest,
    index_digest,
    index_multiset_digest,
)
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden.full import encode_full
from repro_golden.core.golden.types import (
    DEFAULT_FULL_COPY_LIMIT,
    ArraySketch,
    FovGolden,
    FullCopy,
    Golden,
)
from repro_golden.core.summary import (
    FLAG_NAN,
    ArrayStats,
    ColumnAccumulator,
    RowStats,
    block_sketch,
    signs_for,
)

_MIN_COMPRESSION = 8
"""Arrays larger than this many times the limit are not even tried as a full copy."""


def checker_versions() -> dict[str, str]:
    """Versions of the libraries that computed the golden numbers."""
    import xxhash
    import zarr

    return {
        "repro_golden": repro_golden.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "zarr": zarr.__version__,
        "xxhash": xxhash.VERSION,
    }


#: Provenance keys that change from one run or folder to the next without a change of
#: results (``cwd``: the folder a lightning config's relative paths resolved against).
VOLATILE_KEYS = frozenset({"wall_seconds", "run_id", "seconds", "started", "finished", "cwd"})


def stable_provenance(value: Any) -> Any:
    """``value`` as golden files record it: no timings or run ids, no absolute paths.

    Golden files live in the lab's git history: writing them again for the same
    results from another folder or machine must give the same bytes. An absolute
    path keeps only its last component (``/work/.venv/bin/python`` -> ``python``);
    relative paths, as case files write them, are kept.
    """
    if isinstance(value, dict):
        return {k: stable_provenance(v) for k, v in value.items() if k not in VOLATILE_KEYS}
    if isinstance(value, list):
        return [stable_provenance(v) for v in value]
    if isinstance(value, str) and _absolute_path(value):
        return PurePath(value).name
    return value


def _absolute_path(text: str) -> bool:
    return (
        len(text) > 1
        and "\n" not in text
        and (text.startswith("/") or (len(text) > 2 and text[1:3] in (":\\", ":/")))
    )


def store_environment(store: EmbeddingsStore) -> EnvironmentFingerprint | None:
    """The fingerprint a prediction recorded in ``store`` (``None`` when it recorded none)."""
    return store.parsed_provenance().environment


def summarize(
    store: EmbeddingsStore,
    *,
    case: str | None = None,
    full_copy_limit: int = DEFAULT_FULL_COPY_LIMIT,
) -> Golden:
    """One streaming pass over ``store``: digests, statistics, the sketch, maybe the full copy.

    ``full_copy_limit`` is in compressed bytes (0: never keep a full copy).
    """
    names = tuple(store.arrays)
    signs = {name: signs_for(store.arrays[name].shape[1]) for name in names}
    columns = {name: ColumnAccumulator(store.arrays[name].shape[1]) for name in names}
    parts: dict[str, list[RowStats]] = {name: [] for name in names}
    raw_bytes = sum(int(np.prod(a.shape)) * a.dtype.itemsize for a in store.arrays.values())
    keep = full_copy_limit > 0 and raw_bytes <= full_copy_limit * _MIN_COMPRESSION
    blocks: dict[str, list[np.ndarray]] = {name: [] for name in names}
    fovs: list[FovGolden] = []
    offset = 0
    for block in store.iter_fovs():
        digests = {"index": index_digest(block.index)}
        stats: dict[str, ArrayStats] = {}
        for name in names:
            values = block.arrays[name]
            rows, stats[name] = block_sketch(values, signs[name], columns[name])
            parts[name].append(rows)
            nan_free = not (rows.flags & FLAG_NAN).any()
            digests[name] = array_digest(values, nan_free=nan_free)
            if keep:
                blocks[name].append(np.asarray(values))
        fovs.append(
            FovGolden(
                name=block.name,
                rows=block.num_rows,
                offset=offset,
                digest=fov_digest(block.name, block.num_rows, digests),
                index_digest=digests.pop("index"),
                index_multiset_digest=index_multiset_digest(block.index),
                array_digests=digests,
                stats=stats,
            )
        )
        offset += block.num_rows
    arrays = {
        name: ArraySketch(
            dtype=canonical_dtype(store.arrays[name].dtype).str,
            width=store.arrays[name].shape[1],
            signs=signs[name],
            rows=_concat_rows(parts[name]),
            columns=columns[name],
        )
        for name in names
    }
    provenance = {
        "embeddings": stable_provenance(store.provenance()),
        "checker": checker_versions(),
        "source": {"name": store.path.name, "zarr_format": store.zarr_format},
    }
    return Golden(
        dataset_digest=dataset_digest((f.name, f.digest) for f in fovs),
        num_rows=store.num_rows,
        index_columns=store.index_columns,
        fovs=tuple(fovs),
        arrays=arrays,
        provenance=provenance,
        case=case,
        environment=store_environment(store),
        full=_full_copy(blocks, arrays, full_copy_limit) if keep else None,
        full_copy_limit=full_copy_limit,
    )


def _full_copy(
    blocks: dict[str, list[np.ndarray]], arrays: dict[str, ArraySketch], limit: int
) -> FullCopy | None:
    full = {
        name: (
            np.concatenate(parts).astype(arrays[name].dtype, copy=False)
            if parts
            else np.zeros((0, arrays[name].width), dtype=arrays[name].dtype)
        )
        for name, parts in blocks.items()
    }
    encoded = encode_full(full)
    return FullCopy(full, encoded) if len(encoded) <= limit else None


def _concat_rows(parts: list[RowStats]) -> RowStats:
    if not parts:
        empty = np.zeros(0)
        return RowStats(empty, empty, empty, np.zeros(0, np.uint8))
    return RowStats(
        np.concatenate([p.sums for p in parts]),
        np.concatenate([p.norms for p in parts]),
        np.concatenate([p.projs for p in parts]),
        np.concatenate([p.flags for p in parts]),
    )
