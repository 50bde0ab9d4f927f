"""Reading one (t, channels, z, y, x) region of a position's array ``0``.

The loader asks for few, large regions (all cells of a frame at once), so the
per-call cost of zarr-python's generic machinery is small but its per-chunk
cost is not: for the lab's layout (zarr v2, one blosc chunk per (t, c)
Z-stack, as iohub writes) decoding the chunk file directly with its numcodecs
codec into a preallocated buffer is about a third faster. That fast path is
taken only for plain local zarr v2 arrays (C order, no filters, a numcodecs
compressor or none); any other array, and any region touching a chunk file
that is absent (whose fill value zarr knows best), is read through ``zarr``.
Both paths return identical values (tested against each other).

Memory: a reader used by many threads for many frames allocates nothing
chunk- or region-sized per read when given ``out``. Each thread decodes into
its own reused chunk buffer, and the caller's ``out`` is filled in place, so
glibc never fragments its per-thread arenas with short-lived 16 MiB blocks
(measured: that fragmentation alone let the reader's peak RSS grow with the
number of frames read, not with what it holds).
"""

from __future__ import annotations

import itertools
import json
import os
import threading
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import zarr


class RegionReader:
    """Reads regions of one 5-D (T, C, Z, Y, X) array; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._array = zarr.open_array(path, mode="r")
        self._direct = _DirectV2.open(path)

    @property
    def dtype(self) -> np.dtype[Any]:
        """The array's dtype (that of every region read)."""
        return np.dtype(self._array.dtype)

    def read(
        self,
        t: int,
        channels: tuple[int, ...],
        z: slice,
        y: slice,
        x: slice,
        *,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """The (C, Z, Y, X) region, channels in the order given; in ``out`` when given
        (which must have the region's shape and the array's dtype)."""
        shape = (len(channels), z.stop - z.start, y.stop - y.start, x.stop - x.start)
        if out is None:
            out = np.empty(shape, dtype=self.dtype)
        elif out.shape != shape or out.dtype != self.dtype:
            raise ValueError(f"out is {out.dtype}{out.shape}, expected {self.dtype}{shape}")
        if self._direct is not None and self._direct.read(t, channels, z, y, x, out):
            return out
        if list(channels) == list(range(channels[0], channels[0] + len(channels))):
            out[...] = self._array[t, channels[0] : channels[0] + len(channels), z, y, x]
        else:
            for position, channel in enumerate(channels):
                out[position] = self._array[t, channel, z, y, x]
        return out


class _DirectV2:
    """Chunk-file decoding for plain local zarr v2 arrays (see module docs)."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.chunks = tuple(int(c) for c in meta["chunks"])
        self.dtype = np.dtype(meta["dtype"])
        self.separator = meta.get("dimension_separator") or "."
        compressor = meta.get("compressor")
        self.codec = None if compressor is None else numcodecs.get_codec(compressor)
        self._scratch = threading.local()

    @classmethod
    def open(cls, path: Path) -> _DirectV2 | None:
        try:
            meta = json.loads((path / ".zarray").read_text())
        except (OSError, ValueError):
            return None
        if (
            meta.get("zarr_format") != 2
            or meta.get("order", "C") != "C"
            or meta.get("filters")
            or len(meta.get("chunks", ())) != 5
        ):
            return None
        try:
            reader = cls(path, meta)
        except (TypeError, ValueError, KeyError):
            return None
        if reader.dtype.hasobject or reader.dtype.kind not in "biuf":
            return None
        return reader

    def _chunk(self, key: tuple[int, ...], into: np.ndarray | None = None) -> np.ndarray | None:
        """The decoded chunk, in this thread's buffer or in ``into`` (a C-contiguous array of
        the chunk's size); None when its file is missing."""
        file = self.path / self.separator.join(str(k) for k in key)
        try:
            with open(file, "rb") as stream:
                size = os.fstat(stream.fileno()).st_size
                data = getattr(self._scratch, "data", None)
                if data is None or len(data) < size:
                    data = self._scratch.data = bytearray(size)
                raw = memoryview(data)[: stream.readinto(memoryview(data)[:size])]
        except FileNotFoundError:
            return None
        if self.codec is None:
            chunk = np.frombuffer(raw, dtype=self.dtype).reshape(self.chunks)
            if into is not None:
                into.reshape(self.chunks)[...] = chunk
            return chunk
        scratch = into if into is not None else getattr(self._scratch, "chunk", None)
        if scratch is None:
            scratch = self._scratch.chunk = np.empty(self.chunks, dtype=self.dtype)
        decoded = self.codec.decode(raw, out=scratch)
        return np.frombuffer(decoded, dtype=self.dtype).reshape(self.chunks)

    def read(
        self, t: int, channels: tuple[int, ...], z: slice, y: slice, x: slice, out: np.ndarray
    ) -> bool:
        """Fill ``out`` with the region; False when a chunk file is missing (the caller
        falls back to zarr, which knows the fill value)."""
        bounds = [(z.start, z.stop), (y.start, y.stop), (x.start, x.stop)]
        spans = [
            range(start // size, (stop - 1) // size + 1)
            for (start, stop), size in zip(bounds, self.chunks[2:], strict=True)
        ]
        whole_chunk = self.chunks[:2] == (1, 1) and all(
            start == 0 and stop == size
            for (start, stop), size in zip(bounds, self.chunks[2:], strict=True)
        )
        for position, channel in enumerate(channels):
            if whole_chunk and out[position].flags.c_contiguous:  # decode straight into out
                if self._chunk((t, channel, 0, 0, 0), into=out[position]) is None:
                    return False
                continue
            for key in itertools.product(*spans):
                chunk = self._chunk((t // self.chunks[0], channel // self.chunks[1], *key))
                if chunk is None:
                    return False
                source: list[slice] = [
                    slice(t % self.chunks[0], t % self.chunks[0] + 1),
                    slice(channel % self.chunks[1], channel % self.chunks[1] + 1),
                ]
                target: list[slice] = []
                for index, (start, stop), size in zip(key, bounds, self.chunks[2:], strict=True):
                    lo, hi = max(start, index * size), min(stop, (index + 1) * size)
                    source.append(slice(lo - index * size, hi - index * size))
                    target.append(slice(lo - start, hi - start))
                out[position][tuple(target)] = chunk[tuple(source)][0, 0]
        return True
