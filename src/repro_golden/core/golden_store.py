"""Golden files: build them from an embeddings store, write them atomically, read them back.

A golden directory holds ``golden.json`` (schema ``repro-golden/golden/1``: digests,
per-FOV statistics, provenance; what people read in diffs) and one binary sketch
file ``sketch-<xxh3-128>.bin`` named by its own digest. The sketch is written first
under its content address; replacing ``golden.json`` (atomic) is the single commit
step; older sketch files are removed after it. Other files (``inputs.json``) are
never touched.

Sketch format ``repro-golden/sketch/1``: ``b"RGSKETCH1\\n"``, a little-endian uint64
header length, a UTF-8 JSON header ``{"arrays": [{"name", "dtype", "shape",
"offset", "nbytes"}]}``, then the raw little-endian arrays. Deterministic bytes:
the same golden content always gives the same file and name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import platform
import struct
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import repro_golden
from repro_golden.core.atomic import write_bytes_atomic, write_text_atomic
from repro_golden.core.digest import (
    array_digest,
    bytes_digest,
    canonical_dtype,
    dataset_digest,
    fov_digest,
    index_digest,
    index_multiset_digest,
)
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden_schema import (
    SCHEMA,
    SKETCH_FORMAT,
    SKETCH_MAGIC,
    parse_manifest,
    parse_sketch,
)
from repro_golden.core.summary import (
    FLAG_NAN,
    ColumnAccumulator,
    RowStats,
    StoredRows,
    block_sketch,
    signs_for,
)
from repro_golden.errors import GoldenFileError

MANIFEST = "golden.json"
_READ_ATTEMPTS = 5


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
    stats: dict[str, dict[str, Any]]


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
class Golden:
    """Everything a golden check needs; built from embeddings or read from a directory."""

    dataset_digest: str
    num_rows: int
    index_columns: tuple[str, ...]
    fovs: tuple[FovGolden, ...]
    arrays: dict[str, ArraySketch]
    provenance: dict[str, Any] = field(default_factory=dict)
    case: str | None = None

    def fov(self, name: str) -> FovGolden | None:
        return next((f for f in self.fovs if f.name == name), None)


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


def summarize(store: EmbeddingsStore, *, case: str | None = None) -> Golden:
    """One streaming pass over ``store``: digests, statistics and the sketch (float64 rows)."""
    names = tuple(store.arrays)
    signs = {name: signs_for(store.arrays[name].shape[1]) for name in names}
    columns = {name: ColumnAccumulator(store.arrays[name].shape[1]) for name in names}
    parts: dict[str, list[RowStats]] = {name: [] for name in names}
    fovs: list[FovGolden] = []
    offset = 0
    for block in store.iter_fovs():
        digests = {"index": index_digest(block.index)}
        stats: dict[str, dict[str, Any]] = {}
        for name in names:
            values = block.arrays[name]
            rows, stats[name] = block_sketch(values, signs[name], columns[name])
            parts[name].append(rows)
            nan_free = not (rows.flags & FLAG_NAN).any()
            digests[name] = array_digest(values, nan_free=nan_free)
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
        "embeddings": store.provenance(),
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
    )


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


@contextlib.contextmanager
def _writer_lock(directory: Path) -> Iterator[None]:
    """Exclusive inter-process lock for writing ``directory`` (released on exit or death)."""
    key = hashlib.sha1(str(directory.resolve()).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"repro-golden-write-{key}.lock"
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class GoldenStore:
    """A golden directory: ``golden/<case>/`` in a repo or ``<name>.golden/`` beside a zarr."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def beside(cls, reference: str | Path) -> GoldenStore:
        """The sibling golden directory of a reference store: ``x.zarr`` -> ``x.golden``."""
        path = Path(reference)
        stem = path.name[: -len(".zarr")] if path.name.endswith(".zarr") else path.name
        return cls(path.with_name(stem + ".golden"))

    @property
    def manifest(self) -> Path:
        return self.directory / MANIFEST

    def exists(self) -> bool:
        return self.manifest.is_file()

    def write(self, golden: Golden) -> Path:
        """Write the sketch under its digest, then commit ``golden.json`` atomically.

        Writers of one directory are serialized by an exclusive lock (a file in the
        temp dir keyed by the resolved directory, so nothing is added to the golden
        directory): without it, two concurrent writers of different content could
        each remove the other's freshly committed sketch as stale. Readers need no
        lock (:meth:`read` retries when the manifest changed under it). Temp files
        left in the directory by writers killed mid-write are removed under the lock.
        """
        sketch = _sketch_bytes(golden)
        digest = bytes_digest(sketch)
        sketch_name = f"sketch-{digest}.bin"
        manifest = _manifest(golden, sketch_name, digest, len(sketch))
        text = json.dumps(manifest, indent=1, allow_nan=False, ensure_ascii=False) + "\n"
        self.directory.mkdir(parents=True, exist_ok=True)
        with _writer_lock(self.directory):
            # Under the lock, temp files are leftovers of writers killed mid-write.
            for pattern in (f".{MANIFEST}.*.tmp", ".sketch-*.bin.*.tmp"):
                for leftover in self.directory.glob(pattern):
                    leftover.unlink(missing_ok=True)
            target = self.directory / sketch_name
            if not (target.is_file() and bytes_digest(target.read_bytes()) == digest):
                write_bytes_atomic(target, sketch)
            write_text_atomic(self.manifest, text)
            for stale in self.directory.glob("sketch-*.bin"):
                if stale.name != sketch_name:
                    stale.unlink(missing_ok=True)
        return self.manifest

    def read(self, *, expected_case: str | None = None) -> Golden:
        """Read and verify ``golden.json`` and its sketch; :class:`GoldenFileError` if unusable.

        Every key is checked for type and range, the FOV and dataset digests are
        recomputed from their parts (a Merkle check: one corrupted digest is caught),
        and the sketch must match its recorded digest, format and array shapes.
        ``expected_case`` (when known, e.g. ``check --case``) must equal the
        recorded case name. A concurrent writer may switch the manifest and remove
        the old sketch between our two reads: the read is retried when the
        manifest changed meanwhile, so a reader never fails on a consistent store.
        """
        for attempt in range(_READ_ATTEMPTS):
            raw = self._manifest_bytes()
            try:
                golden = _parse(raw, self.manifest, self.directory)
            except GoldenFileError:
                if attempt + 1 < _READ_ATTEMPTS and self._manifest_bytes(missing_ok=True) != raw:
                    continue  # a writer committed meanwhile: read the new manifest
                raise
            if expected_case is not None and golden.case != expected_case:
                raise GoldenFileError(
                    f"golden files of case {golden.case!r}, expected case {expected_case!r}",
                    path=self.manifest,
                    key="case",
                )
            return golden
        raise AssertionError("unreachable")  # pragma: no cover

    def _manifest_bytes(self, *, missing_ok: bool = False) -> bytes:
        try:
            return self.manifest.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return b""
            raise GoldenFileError(
                "no golden.json (write one with `repro-golden golden write`)", path=self.manifest
            ) from None
        except OSError as exc:
            raise GoldenFileError(f"unreadable ({exc})", path=self.manifest) from exc


def json_ready(value: Any) -> Any:
    """``value`` with JSON types only: paths and other objects as strings, tuples as lists,
    NaN and infinities as their ``repr`` (strict JSON has none)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        return json_ready(value.item())
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = value.tolist() if isinstance(value, np.ndarray) else list(value)
        return [json_ready(v) for v in items]
    return str(value)


def _manifest(golden: Golden, sketch_name: str, digest: str, size: int) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "case": golden.case,
        "dataset": {
            "digest": golden.dataset_digest,
            "rows": golden.num_rows,
            "fovs": len(golden.fovs),
            "index_columns": list(golden.index_columns),
            "arrays": {
                name: {
                    "dtype": a.dtype,
                    "width": a.width,
                    "columns_finite": a.columns.finite,
                }
                for name, a in golden.arrays.items()
            },
        },
        "sketch": {"file": sketch_name, "xxh3_128": digest, "bytes": size, "format": SKETCH_FORMAT},
        "provenance": json_ready(golden.provenance),
        "fovs": [
            {
                "name": f.name,
                "rows": f.rows,
                "offset": f.offset,
                "digest": f.digest,
                "index_digest": f.index_digest,
                "index_multiset_digest": f.index_multiset_digest,
                "arrays": {
                    name: {"digest": f.array_digests[name], "stats": f.stats[name]}
                    for name in f.array_digests
                },
            }
            for f in golden.fovs
        ],
    }


def _sketch_arrays(golden: Golden) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, a in golden.arrays.items():
        flagged = np.flatnonzero(a.rows.flags)
        out[f"{name}.row_sum"] = a.rows.sums.astype("<f4")
        out[f"{name}.row_norm"] = a.rows.norms.astype("<f4")
        out[f"{name}.row_proj"] = a.rows.projs.astype("<f4")
        out[f"{name}.nonfinite_rows"] = flagged.astype("<i8")
        out[f"{name}.nonfinite_flags"] = a.rows.flags[flagged].astype("u1")
        out[f"{name}.signs"] = a.signs.astype("i1")
        out[f"{name}.col_sum"] = a.columns.sums.astype("<f8")
        out[f"{name}.col_sumsq"] = a.columns.squares.astype("<f8")
    return out


def _sketch_bytes(golden: Golden) -> bytes:
    arrays = _sketch_arrays(golden)
    entries, offset = [], 0
    for name, values in arrays.items():
        entries.append(
            {
                "name": name,
                "dtype": values.dtype.str,
                "shape": list(values.shape),
                "offset": offset,
                "nbytes": values.nbytes,
            }
        )
        offset += values.nbytes
    header = json.dumps({"format": SKETCH_FORMAT, "arrays": entries}, separators=(",", ":")).encode(
        "utf-8"
    )
    body = b"".join(np.ascontiguousarray(v).tobytes() for v in arrays.values())
    return SKETCH_MAGIC + struct.pack("<Q", len(header)) + header + body


def _parse(raw: bytes, manifest: Path, directory: Path) -> Golden:
    """Validated :class:`Golden` from the manifest bytes and the sketch file they name."""
    data = parse_manifest(raw, manifest)
    info = data["sketch"]
    sketch_path = directory / info["file"]
    try:
        blob = sketch_path.read_bytes()
    except OSError as exc:
        raise GoldenFileError(
            f"sketch file missing or unreadable ({exc.strerror or exc})",
            path=sketch_path,
            key="sketch.file",
        ) from exc
    if bytes_digest(blob) != info["xxh3_128"] or len(blob) != info["bytes"]:
        raise GoldenFileError(
            f"sketch file content does not match its digest {info['xxh3_128']} "
            f"or size {info['bytes']} recorded in {manifest.name}",
            path=sketch_path,
        )
    dataset = data["dataset"]
    widths = {name: a["width"] for name, a in dataset["arrays"].items()}
    sketch = parse_sketch(blob, sketch_path, widths=widths, rows=dataset["rows"])
    return _golden_from(data, sketch)


def _golden_from(data: dict[str, Any], sketch: dict[str, np.ndarray]) -> Golden:
    """A :class:`Golden` from a manifest and sketch validated by :mod:`.golden_schema`."""
    dataset = data["dataset"]
    arrays: dict[str, ArraySketch] = {}
    for name, info in dataset["arrays"].items():
        sums = sketch[f"{name}.row_sum"]
        flags = np.zeros(sums.shape[0], dtype=np.uint8)
        flags[sketch[f"{name}.nonfinite_rows"]] = sketch[f"{name}.nonfinite_flags"]
        columns = ColumnAccumulator(int(info["width"]))
        columns.rows = int(dataset["rows"])
        columns.finite = bool(info["columns_finite"])
        columns.sums = sketch[f"{name}.col_sum"].astype(np.float64)
        columns.squares = sketch[f"{name}.col_sumsq"].astype(np.float64)
        rows = StoredRows(sums, sketch[f"{name}.row_norm"], sketch[f"{name}.row_proj"], flags)
        arrays[name] = ArraySketch(
            info["dtype"], int(info["width"]), sketch[f"{name}.signs"], rows, columns
        )
    fovs = tuple(
        FovGolden(
            name=f["name"],
            rows=int(f["rows"]),
            offset=int(f["offset"]),
            digest=f["digest"],
            index_digest=f["index_digest"],
            index_multiset_digest=f["index_multiset_digest"],
            array_digests={k: v["digest"] for k, v in f["arrays"].items()},
            stats={k: v["stats"] for k, v in f["arrays"].items()},
        )
        for f in data["fovs"]
    )
    return Golden(
        dataset_digest=dataset["digest"],
        num_rows=int(dataset["rows"]),
        index_columns=tuple(dataset["index_columns"]),
        fovs=fovs,
        arrays=arrays,
        provenance=data.get("provenance") or {},
        case=data.get("case"),
    )
