"""The fast reader: each (FOV, time point) region is decoded once and all of its cells cut from it.

VisCy reads one patch per cell, so a frame stored as one chunk is decompressed
once per cell on it. Here batches are still VisCy's (same rows, same order,
same size), but the rows are served from a *plan*: walking the batches in the
order they will be asked for, the earliest row not yet cut names the next
frame to read, and that read cuts every not-yet-cut row of the frame within
``horizon`` rows ahead. Rows are then complete in order and batches can be
handed out as soon as their last row is cut, while at most ``horizon`` cut
patches wait in memory (plus the finished batches in the prefetch queue).
VisCy's row order is tracks-file order, typically track by track, so a frame
is needed again and again across a FOV; a horizon that spans a FOV's rows
reads each frame exactly once without ever holding a frame time series.

A producer thread walks the plan while the model works on earlier batches;
each read is done by one of ``read_threads`` workers, which decodes the
frame's region, cuts its patches straight into their batch buffers and
normalizes them there. The producer only allocates buffers and hands out
finished batches, so the reading work (decode, copy, arithmetic, all of which
release the GIL) scales with the workers; normalization is elementwise, so
doing it per patch gives bitwise what VisCy's per-batch arithmetic gives.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from repro_golden.errors import DataError
from repro_golden.inference.data.index import RowIndex
from repro_golden.inference.data.patches import Normalizer, PatchGeometry
from repro_golden.inference.data.regions import RegionReader

_Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FrameRead:
    """One planned read: frame ``(fov, t)``, and the sequence positions to cut from it."""

    fov: int
    t: int
    positions: np.ndarray
    complete: int
    """Number of leading sequence positions cut once this read is done."""


def plan_reads(fov: np.ndarray, t: np.ndarray, horizon: int) -> list[FrameRead]:
    """Plan frame reads for rows consumed in sequence order ``0..N-1``.

    ``fov[p]``, ``t[p]`` name the frame of sequence position ``p``. Each step
    reads the frame of the earliest uncut position and cuts all its uncut
    positions ``< frontier + horizon``. Every position is cut exactly once,
    ``complete`` never decreases, and when ``horizon >= N`` each frame is read
    once.
    """
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    n = int(fov.shape[0])
    if n == 0:
        return []
    frame_keys = fov.astype(np.int64) * (int(t.max()) + 1) + t.astype(np.int64)
    _, frame_of_position = np.unique(frame_keys, return_inverse=True)
    order = np.argsort(frame_of_position, kind="stable")
    starts = np.searchsorted(frame_of_position[order], np.arange(frame_of_position.max() + 2))
    next_uncut = starts[:-1].copy()
    cut = np.zeros(n, dtype=bool)
    reads = []
    frontier = 0
    while frontier < n:
        frame = frame_of_position[frontier]
        begin, end = next_uncut[frame], starts[frame + 1]
        members = order[begin:end]
        take = int(np.searchsorted(members, frontier + horizon))
        positions = members[:take]
        next_uncut[frame] = begin + take
        cut[positions] = True
        while frontier < n and cut[frontier]:
            frontier += 1
        reads.append(FrameRead(int(fov[positions[0]]), int(t[positions[0]]), positions, frontier))
    return reads


class _Failure:
    """An exception raised in the producer, carried to the consumer."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class BatchStream:
    """Produces the batches ``order`` (batch numbers) in that order, on a background thread.

    ``get()`` returns ``(batch_number, item)``; the producer stays at most
    ``prefetch`` finished batches ahead. ``close()`` stops it.
    """

    def __init__(
        self,
        *,
        index: RowIndex,
        geometry: PatchGeometry,
        normalizer: Normalizer,
        batch_size: int,
        order: Sequence[int],
        horizon: int,
        prefetch: int,
        read_threads: int,
        pin_memory: bool = False,
    ) -> None:
        self.order = list(order)
        self.finished = False
        """True once the last batch or a failure was handed out: ``get`` gives nothing more."""
        self._index = index
        self._geometry = geometry
        self._normalizer = normalizer
        self._batch_size = batch_size
        self._rows = np.concatenate(
            [self._batch_rows(b) for b in self.order] or [np.zeros(0, dtype=np.int64)]
        )
        self._horizon = horizon
        self._queue: queue.Queue[tuple[int, dict[str, Any]] | _Failure | None] = queue.Queue(
            maxsize=prefetch
        )
        self._stop = threading.Event()
        self._read_threads = max(1, read_threads)
        self._pin_memory = pin_memory
        self._scratch = threading.local()  # each worker's region buffer, reused (see regions)
        self._thread = threading.Thread(
            target=self._produce, name="repro-golden-reader", daemon=True
        )
        self._thread.start()

    def _batch_rows(self, batch: int) -> np.ndarray:
        start = batch * self._batch_size
        return np.arange(start, min(start + self._batch_size, len(self._index)), dtype=np.int64)

    def get(self) -> tuple[int, dict[str, Any]] | None:
        """The next batch as ``(batch_number, item)``, or ``None`` after the last one."""
        if self.finished:
            return None
        entry = self._queue.get()
        if isinstance(entry, _Failure):
            self.finished = True
            raise entry.error
        if entry is None:
            self.finished = True
        return entry

    def close(self) -> None:
        """Stop the producer and wait for it (it drops whatever it was doing)."""
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get_nowait()
            except queue.Empty:
                self._thread.join(timeout=0.05)

    def _put(self, entry: tuple[int, dict[str, Any]] | _Failure | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            self._run()
        except BaseException as error:  # handed to the consumer, which re-raises it
            self._put(_Failure(error))
            return
        self._put(None)

    def _run(self) -> None:
        rows = self._rows
        reads = plan_reads(self._index.fov[rows], self._index.values["t"][rows], self._horizon)
        sizes = [len(self._batch_rows(b)) for b in self.order]
        starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        batches = _BatchBuffers(
            starts, self._geometry.output_shape, self._buffer_dtype(), pinned=self._pin_memory
        )
        readers: dict[int, RegionReader] = {}
        emitted = 0
        pool = ThreadPoolExecutor(self._read_threads, thread_name_prefix="repro-golden-decode")
        with pool:
            pending: list[Future[None]] = []
            plan = iter(reads)
            done = 0
            while True:
                while len(pending) <= self._read_threads and not self._stop.is_set():
                    step = next(plan, None)
                    if step is None:
                        break
                    if step.fov not in readers:
                        readers[step.fov] = RegionReader(self._index.fovs[step.fov].path / "0")
                    box = self._region(step, rows)
                    slots = batches.slots(step.positions)
                    future = pool.submit(self._read, step, readers[step.fov], box, rows, slots)
                    pending.append(future)
                if not pending or self._stop.is_set():
                    break
                pending.pop(0).result()
                step = reads[done]
                done += 1
                while emitted < len(self.order) and starts[emitted + 1] <= step.complete:
                    batch_rows = rows[starts[emitted] : starts[emitted + 1]]
                    item = self._assemble(batch_rows, batches.pop(emitted))
                    if not self._put((self.order[emitted], item)):
                        return
                    emitted += 1
            for future in pending:
                future.cancel()

    def _buffer_dtype(self) -> np.dtype[Any]:
        """float64 for float64 plates (VisCy computes in float64 there), float32 otherwise."""
        wide = any(np.dtype(f.dtype) == np.float64 for f in self._index.fovs)
        return np.dtype(np.float64 if wide else np.float32)

    def _region(self, step: FrameRead, rows: np.ndarray) -> _Box:
        """Bounding box (y0, y1, x0, x1) of the cropped patches cut from one frame."""
        values = self._index.values
        selected = rows[step.positions]
        y = values["y"][selected]
        x = values["x"][selected]
        y0, y1, x0, x1 = self._geometry.window(0, 0)
        box = (int(y.min()) + y0, int(y.max()) + y1, int(x.min()) + x0, int(x.max()) + x1)
        height, width = self._index.fovs[step.fov].shape[3:]
        if 2 * (box[1] - box[0]) * (box[3] - box[2]) >= height * width:
            return (0, height, 0, width)  # most of it: the whole frame decodes without a copy
        return box

    def _read(
        self,
        step: FrameRead,
        reader: RegionReader,
        box: _Box,
        rows: np.ndarray,
        slots: list[np.ndarray],
    ) -> None:
        """One planned read, on a worker: decode the region, cut and normalize its patches.

        Normalization is elementwise, so it is done on whichever holds fewer
        elements: the region before cutting (float plates, crowded frames) or
        each cut patch; the bits are the same either way.
        """
        region = self._read_frame(step, reader, box)
        whole_region = (
            bool(slots)
            and region.dtype == slots[0].dtype
            and region.size <= len(slots) * slots[0].size
        )
        if whole_region:
            self._normalizer.normalize_patch_(region, step.fov)
        selected = rows[step.positions]
        top, bottom, left, right = self._geometry.window(0, 0)
        ys = (self._index.values["y"][selected] + (top - box[0])).tolist()
        xs = (self._index.values["x"][selected] + (left - box[2])).tolist()
        height, width = bottom - top, right - left
        for y, x, slot in zip(ys, xs, slots, strict=True):
            slot[...] = region[:, :, y : y + height, x : x + width]
            if not whole_region:
                self._normalizer.normalize_patch_(slot, step.fov)

    def _read_frame(self, step: FrameRead, reader: RegionReader, box: _Box) -> np.ndarray:
        """Decode the (C, Z, Y, X) region ``box`` of the step's frame into this worker's
        region buffer (valid until the worker's next read).

        A failure is reported as a :class:`DataError` naming the frame.
        """
        y0, y1, x0, x1 = box
        z = self._geometry.z_slice
        shape = (len(self._geometry.channels), z.stop - z.start, y1 - y0, x1 - x0)
        size = int(np.prod(shape))
        buffer = getattr(self._scratch, "region", None)
        if buffer is None or buffer.size < size or buffer.dtype != reader.dtype:
            buffer = self._scratch.region = np.empty(size, dtype=reader.dtype)
        try:
            return reader.read(
                step.t,
                self._geometry.channels,
                z,
                slice(y0, y1),
                slice(x0, x1),
                out=buffer[:size].reshape(shape),
            )
        except Exception as error:
            fov = self._index.fovs[step.fov]
            raise DataError(
                f"cannot read time point {step.t}, region y/x {box}: {error}; "
                "expected a readable (T, C, Z, Y, X) array",
                path=fov.path / "0",
                key=f"t={step.t}",
            ) from error

    def _assemble(self, batch_rows: np.ndarray, normalized: np.ndarray) -> dict[str, Any]:
        """One batch item from its filled buffer of normalized patches."""
        anchor = torch.from_numpy(normalized)
        if anchor.dtype != torch.float32:
            wide, anchor = (
                anchor,
                torch.empty(anchor.shape, dtype=torch.float32, pin_memory=self._pin_memory),
            )
            anchor.copy_(wide)
        return {
            "anchor": anchor,
            "index": {c: torch.from_numpy(v[batch_rows]) for c, v in self._index.values.items()},
            "fov_name": self._index.fov_names(batch_rows),
            "row": torch.from_numpy(batch_rows.copy()),
        }


class _BatchBuffers:
    """Batch-sized buffers, allocated when their first patch is cut and handed over when full.

    ``pinned`` puts them in page-locked host memory (for a CUDA device): the
    workers then cut straight into memory the GPU can copy from asynchronously,
    and no extra pinning copy is made on the way.
    """

    def __init__(
        self,
        starts: np.ndarray,
        patch_shape: tuple[int, ...],
        dtype: np.dtype[Any],
        *,
        pinned: bool = False,
    ):
        self._starts = starts
        self._patch_shape = patch_shape
        self._dtype = dtype
        self._pinned = pinned
        self._buffers: dict[int, np.ndarray] = {}

    def slots(self, positions: np.ndarray) -> list[np.ndarray]:
        """The buffer slices that the patches of sequence ``positions`` go to."""
        batches = np.searchsorted(self._starts, positions, side="right") - 1
        return [
            self.slot(position, batch)
            for position, batch in zip(positions.tolist(), batches.tolist(), strict=True)
        ]

    def slot(self, position: int, batch: int) -> np.ndarray:
        """The slice of ``batch``'s buffer that sequence ``position``'s patch goes to."""
        buffer = self._buffers.get(batch)
        if buffer is None:
            size = int(self._starts[batch + 1] - self._starts[batch])
            if self._pinned:
                dtype = torch.float64 if self._dtype == np.float64 else torch.float32
                shape = (size, *self._patch_shape)
                buffer = torch.empty(shape, dtype=dtype, pin_memory=True).numpy()
            else:
                buffer = np.empty((size, *self._patch_shape), dtype=self._dtype)
            self._buffers[batch] = buffer
        return buffer[position - int(self._starts[batch])]

    def pop(self, batch: int) -> np.ndarray:
        """Hand over (and forget) batch ``batch``'s buffer; every slot must have been cut."""
        return self._buffers.pop(batch)
