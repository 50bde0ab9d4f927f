"""xxh3-128 digests of a canonical byte form, per FOV and for the whole dataset.

Canonical bytes of an array (schema tag ``repro-golden/array/1``)::

    b"repro-golden/array/1\\0" + dtype.str in little-endian form (e.g. b"<f4") + b"\\0"
    + shape as ASCII decimal joined by b"," + b"\\0"
    + the values in C order, little endian, every NaN replaced by the dtype's
      canonical quiet NaN (np.nan cast to the dtype: sign 0, payload 0)

So the same values in F order, or stored big endian, give the same digest, and a
NaN's payload or sign never matters. ``-0.0`` and ``0.0`` are *different* bytes and
give different digests: "identical" means bit-for-bit identical up to NaN payloads.
(A tolerance comparison treats them as equal, as ``numpy.isclose`` does.)

Canonical bytes of index rows (``repro-golden/index/1``): the tag, the row count and
the column names; then per column its name and either int64 little-endian values or,
for strings, each value as UTF-8 preceded by its byte length (uint32 LE). Row order
is part of the bytes; :func:`index_multiset_digest` hashes the rows sorted, so a pure
reordering is recognised.

A FOV digest hashes the FOV name, row count and its index and array digests; the
dataset digest hashes the FOV digests in first-appearance order (Merkle style): one
comparison says "identical", and the per-FOV digests point at what changed.
Paths and timestamps never enter a digest.

Inputs are hashed here too, in the tagged form ``xxh3_128:<hex>``:
:func:`file_digest` (checkpoint and config files), :func:`json_digest`
(metadata) and :func:`input_array_digest` (the example inputs' array form).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

ARRAY_TAG = b"repro-golden/array/1\0"
INDEX_TAG = b"repro-golden/index/1\0"
FOV_TAG = b"repro-golden/fov/1\0"
DATASET_TAG = b"repro-golden/dataset/1\0"

_CHUNK_BYTES = 1 << 16
"""Hash in 64 KiB pieces so the NaN check and the hash share a cache-resident piece."""


def canonical_dtype(dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The little-endian form of ``dtype``."""
    return dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype


def array_header(dtype: np.dtype[Any], shape: Sequence[int]) -> bytes:
    """The canonical header: tag, little-endian dtype string and shape."""
    dtype_str = canonical_dtype(np.dtype(dtype)).str.encode("ascii")
    shape_str = ",".join(str(int(n)) for n in shape).encode("ascii")
    return ARRAY_TAG + dtype_str + b"\0" + shape_str + b"\0"


def array_digest(values: np.ndarray, *, nan_free: bool = False) -> str:
    """xxh3-128 hex digest of the canonical bytes of ``values`` (any order or byte order).

    Hashes cache-sized pieces of the flattened canonical array; each piece is
    checked for NaN (a SIMD ``minimum.reduce``, which propagates NaN) just before
    it is hashed, and copied with canonical NaNs only if it holds one. A caller
    that already knows the values hold no NaN (the summary pass flags NaN rows)
    passes ``nan_free=True`` to skip the check; a wrong promise gives a wrong digest.
    """
    hasher = xxhash.xxh3_128()
    hasher.update(array_header(values.dtype, values.shape))
    flat = np.ascontiguousarray(values, dtype=canonical_dtype(values.dtype)).reshape(-1)
    if flat.dtype.kind != "f" or nan_free:
        hasher.update(flat.data)
        return hasher.hexdigest()
    step = max(1, _CHUNK_BYTES // flat.itemsize)
    with np.errstate(invalid="ignore"):  # signaling NaNs
        for start in range(0, flat.size, step):
            piece = flat[start : start + step]
            if np.isnan(np.minimum.reduce(piece)):
                piece = piece.copy()
                piece[np.isnan(piece)] = np.nan
            hasher.update(piece.data)
    return hasher.hexdigest()


def _column_bytes(values: np.ndarray) -> bytes:
    if values.dtype.kind in "biu":
        return b"i8\0" + np.ascontiguousarray(values, dtype="<i8").tobytes()
    encoded = [str(v).encode("utf-8") for v in values.tolist()]
    lengths = np.asarray([len(e) for e in encoded], dtype="<u4")
    parts = [b"str\0"]
    for length, text in zip(lengths.tolist(), encoded, strict=True):
        parts.append(int(length).to_bytes(4, "little"))
        parts.append(text)
    return b"".join(parts)


def index_digest(index: Mapping[str, np.ndarray]) -> str:
    """xxh3-128 of the index rows in order (columns in the mapping's order)."""
    hasher = xxhash.xxh3_128()
    rows = len(next(iter(index.values()))) if index else 0
    hasher.update(INDEX_TAG + str(rows).encode("ascii") + b"\0")
    hasher.update(",".join(index).encode("utf-8") + b"\0")
    for name, values in index.items():
        hasher.update(name.encode("utf-8") + b"\0")
        hasher.update(_column_bytes(np.asarray(values)))
    return hasher.hexdigest()


def index_multiset_digest(index: Mapping[str, np.ndarray]) -> str:
    """:func:`index_digest` of the rows sorted lexicographically: equal for any reordering."""
    if not index:
        return index_digest(index)
    keys = [
        np.asarray(v).astype(str) if np.asarray(v).dtype.kind == "O" else v for v in index.values()
    ]
    order = np.lexsort(tuple(reversed(keys)))
    return index_digest({name: np.asarray(v)[order] for name, v in index.items()})


def fov_digest(name: str, num_rows: int, parts: Mapping[str, str]) -> str:
    """Digest of one FOV from its name, row count and part digests (index and arrays)."""
    hasher = xxhash.xxh3_128()
    hasher.update(FOV_TAG + name.encode("utf-8") + b"\0" + str(num_rows).encode("ascii") + b"\0")
    for part in sorted(parts):
        hasher.update(part.encode("utf-8") + b"\0" + bytes.fromhex(parts[part]))
    return hasher.hexdigest()


def dataset_digest(fov_digests: Iterable[tuple[str, str]]) -> str:
    """Merkle root over ``(fov name, fov digest)`` pairs in first-appearance order."""
    hasher = xxhash.xxh3_128()
    hasher.update(DATASET_TAG)
    for name, digest in fov_digests:
        hasher.update(name.encode("utf-8") + b"\0" + bytes.fromhex(digest))
    return hasher.hexdigest()


def bytes_digest(data: bytes) -> str:
    """xxh3-128 hex digest of raw bytes (content addressing of sketch files)."""
    return xxhash.xxh3_128_hexdigest(data)


# --- tagged digests of inputs: files, JSON values, example input arrays ----------------

DIGEST_ALGORITHM = "xxh3_128"
_FILE_CHUNK = 1 << 20


def tagged(hexdigest: str) -> str:
    """``xxh3_128:<hex>``: the self-describing form provenance and ``inputs.json`` record."""
    return f"{DIGEST_ALGORITHM}:{hexdigest}"


def file_digest(path: str | Path) -> str:
    """Tagged digest of a file's bytes, streamed in 1 MiB pieces (checkpoints, configs)."""
    hasher = xxhash.xxh3_128()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_FILE_CHUNK):
            hasher.update(chunk)
    return tagged(hasher.hexdigest())


def json_digest(value: Any) -> str:
    """Tagged digest of a JSON value in canonical JSON (sorted keys, compact, no NaN)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return tagged(xxhash.xxh3_128(text.encode("utf-8")).hexdigest())


def input_array_digest(array: Any) -> str:
    """Tagged digest of an input array (plate images, tracks, checkpoint tensors).

    Canonical form of ``repro-golden/example-inputs/1``: a JSON header
    ``{"dtype": <little-endian dtype str>, "shape": [...]}`` and a newline, then the
    values in C order, little endian. It differs from :func:`array_digest` (a
    binary header, NaN canonicalised) because the recorded ``inputs.json`` digests
    were made with it; both forms live here so there is one digest module.
    """
    values = np.asarray(array)
    dtype = values.dtype.newbyteorder("<")  # single-byte dtypes keep "|"
    canonical = np.ascontiguousarray(values, dtype=dtype)
    header = json.dumps({"dtype": dtype.str, "shape": list(values.shape)}, separators=(",", ":"))
    hasher = xxhash.xxh3_128(header.encode("ascii") + b"\n")
    hasher.update(canonical.tobytes())
    return tagged(hasher.hexdigest())
