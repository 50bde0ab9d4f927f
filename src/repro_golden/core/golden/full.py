"""The full-copy file of a small golden set: every value, compressed, canonical, verified.

Format ``repro-golden/full/1`` (file ``full-<xxh3-128 of the file>.bin``)::

    b"RGFULL1\\n" + uint64 LE header length + UTF-8 JSON header
    {"format", "codec": "shuffle-zlib9", "raw_bytes", "arrays": [{"name", "dtype",
     "shape", "offset", "nbytes"}]} + zlib(level 9) of the concatenated arrays

Each array is little endian, C order, rows in FOV-grouped order (the sketch's),
and byte-shuffled before compression (all first bytes of the values, then all
second bytes, ...), which makes float embeddings compress noticeably better. The
bytes are deterministic for one zlib build. Whatever zlib wrote them, the reader
trusts nothing: the file must match its recorded digest, the decompressed size
must be exactly ``raw_bytes`` (read with a bound, so a hostile file cannot
inflate), and every FOV slice must hash to the array digest the manifest
records for it. A full copy that passes is the golden values, bit for bit.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from repro_golden.errors import GoldenFileError

FULL_FORMAT = "repro-golden/full/1"
FULL_MAGIC = b"RGFULL1\n"
CODEC = "shuffle-zlib9"
_MAX_HEADER = 1 << 16


def _shuffle(values: np.ndarray) -> bytes:
    flat = np.ascontiguousarray(values, dtype=values.dtype.newbyteorder("<")).reshape(-1)
    planes = flat.view(np.uint8).reshape(-1, flat.itemsize).T
    return np.ascontiguousarray(planes).tobytes()


def _unshuffle(data: bytes, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    itemsize = np.dtype(dtype).itemsize
    planes = np.frombuffer(data, dtype=np.uint8).reshape(itemsize, -1)
    flat = np.ascontiguousarray(planes.T).view(dtype).reshape(shape)
    flat.setflags(write=False)
    return flat


def encode_full(arrays: Mapping[str, np.ndarray]) -> bytes:
    """The canonical file bytes of ``arrays`` (name order as given)."""
    entries, parts, offset = [], [], 0
    for name, values in arrays.items():
        dtype = np.dtype(values.dtype).newbyteorder("<").str
        data = _shuffle(values)
        entries.append(
            {
                "name": name,
                "dtype": dtype,
                "shape": [int(n) for n in values.shape],
                "offset": offset,
                "nbytes": len(data),
            }
        )
        parts.append(data)
        offset += len(data)
    header = {"format": FULL_FORMAT, "codec": CODEC, "raw_bytes": offset, "arrays": entries}
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8")
    body = zlib.compress(b"".join(parts), 9)
    return FULL_MAGIC + struct.pack("<Q", len(head)) + head + body


def _bad(path: Path, message: str, key: str | None = None) -> GoldenFileError:
    return GoldenFileError(message, path=path, key=key)


def decode_full(
    blob: bytes, path: Path, *, shapes: Mapping[str, tuple[str, tuple[int, int]]]
) -> dict[str, np.ndarray]:
    """The arrays of a full-copy file; ``shapes`` maps name -> (dtype, shape) from the manifest.

    Raises :class:`GoldenFileError` naming ``path`` for any mismatch; the caller
    then checks the per-FOV digests.
    """
    start = len(FULL_MAGIC) + 8
    if not blob.startswith(FULL_MAGIC) or len(blob) < start:
        raise _bad(path, f"not a {FULL_FORMAT} file", "magic")
    (length,) = struct.unpack("<Q", blob[len(FULL_MAGIC) : start])
    if length > min(_MAX_HEADER, len(blob) - start):
        raise _bad(path, f"header length {length} exceeds the file", "header")
    try:
        header: Any = json.loads(blob[start : start + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(path, f"header is not JSON ({type(exc).__name__})", "header") from None
    if not isinstance(header, dict) or header.get("format") != FULL_FORMAT:
        raise _bad(path, f"expected format {FULL_FORMAT!r}", "header.format")
    if header.get("codec") != CODEC:
        raise _bad(path, f"expected codec {CODEC!r}, got {header.get('codec')!r}", "header.codec")
    expected_entries: list[dict[str, Any]] = []
    offset = 0
    for name, (dtype, shape) in shapes.items():
        nbytes = int(np.dtype(dtype).itemsize * shape[0] * shape[1])
        expected_entries.append(
            {"name": name, "dtype": dtype, "shape": list(shape), "offset": offset, "nbytes": nbytes}
        )
        offset += nbytes
    if header.get("arrays") != expected_entries or header.get("raw_bytes") != offset:
        raise _bad(
            path,
            f"arrays {header.get('arrays')!r} do not match the manifest's {expected_entries!r}",
            "header.arrays",
        )
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(blob[start + length :], offset + 1)
    except zlib.error as exc:
        raise _bad(path, f"compressed body is corrupt ({exc})", "body") from None
    if len(raw) != offset or not inflater.eof or inflater.unused_data:
        raise _bad(path, f"body does not inflate to exactly {offset} bytes", "body")
    return {
        e["name"]: _unshuffle(
            raw[e["offset"] : e["offset"] + e["nbytes"]], e["dtype"], tuple(e["shape"])
        )
        for e in expected_entries
    }
