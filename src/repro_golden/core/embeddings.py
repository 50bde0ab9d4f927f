"""Read an AnnData embeddings zarr (format 2 or 3) with ``zarr`` alone, FOV by FOV.

Why not anndata: the comparison core must start fast and never import heavy
libraries, and a streaming reader must not load the whole matrix. The contract
(docs/ARCHITECTURE.md) is: ``X`` float ``(N, D)``, ``obsm/X_projections`` float
``(N, P)``, ``obs`` with ``fov_name`` and integer index columns, and optional
provenance in ``uns/repro_golden``.

Rows are grouped per FOV by ``obs/fov_name`` in order of first appearance; a FOV's
rows keep their dataset order. :meth:`EmbeddingsStore.iter_fovs` reads one FOV at a
time (a contiguous slice when the FOV's rows are contiguous, an orthogonal
selection otherwise), so memory is bounded by the largest FOV plus ``O(N)`` small
integers for the grouping.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from repro_golden.core.names import INDEX_COLUMNS, MANIFEST
from repro_golden.core.provenance import Provenance
from repro_golden.errors import EmbeddingsError

ARRAY_KEYS: tuple[str, ...] = ("X", "obsm/X_projections")
"""Zarr keys of the compared arrays, in report order."""

ARRAY_NAMES: dict[str, str] = {"X": "X", "obsm/X_projections": "X_projections"}


_REQUIRED_COLUMNS = ("fov_name",)

WINDOW_ROWS = 1 << 16
"""Rows of each index column read at once (64 Ki rows: 0.5 MiB per int64 column)."""

WINDOW_BYTES = 1 << 23
"""Bytes of each array read at once (8 MiB, whole zarr chunks)."""


@dataclass(frozen=True)
class FovBlock:
    """One FOV's rows: their dataset positions, index columns and array values."""

    name: str
    rows: np.ndarray
    index: Mapping[str, np.ndarray]
    arrays: Mapping[str, np.ndarray]

    @property
    def num_rows(self) -> int:
        return int(self.rows.shape[0])


@dataclass(frozen=True)
class ArrayInfo:
    """Name (``X`` / ``X_projections``), dtype and shape of one stored array."""

    name: str
    key: str
    dtype: np.dtype[Any]
    shape: tuple[int, ...]


class EmbeddingsStore:
    """An opened embeddings zarr; cheap to create (reads metadata and ``fov_name`` only)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise EmbeddingsError("no such embeddings store", path=self.path)
        if _is_golden_directory(self.path):
            raise EmbeddingsError(
                "this is a golden directory (it holds golden.json), not an embeddings store: "
                f"use `repro-golden check EMB.zarr --golden {self.path}`",
                path=self.path,
            )
        try:
            self._root = zarr.open_group(str(self.path), mode="r")
        except Exception as exc:
            raise EmbeddingsError(
                f"not a readable zarr group ({type(exc).__name__}: {exc})", path=self.path
            ) from exc
        self._nodes: dict[str, Any] = {}
        self._parsed: Provenance | None = None
        self.notes: tuple[str, ...] = ()
        self._windows: dict[str, tuple[int, int, np.ndarray]] = {}
        self.arrays: dict[str, ArrayInfo] = {}
        for key in ARRAY_KEYS:
            array = self._array(key)
            if array.ndim != 2 or array.dtype.kind != "f":
                raise EmbeddingsError(
                    f"expected a 2-D floating-point array, got {array.ndim}-D {array.dtype}",
                    path=self.path,
                    key=key,
                )
            self._require_chunks(array, key)
            self.arrays[ARRAY_NAMES[key]] = ArrayInfo(
                ARRAY_NAMES[key], key, np.dtype(array.dtype), tuple(array.shape)
            )
        self.num_rows = self.arrays["X"].shape[0]
        if self.num_rows == 0:
            raise EmbeddingsError(
                "no rows (empty obs): there is nothing to compare", path=self.path, key="obs"
            )
        for info in self.arrays.values():
            if info.shape[0] != self.num_rows:
                raise EmbeddingsError(
                    f"expected {self.num_rows} rows (as X), got {info.shape[0]}",
                    path=self.path,
                    key=info.key,
                )
        present = set(self._obs_columns())
        for column in _REQUIRED_COLUMNS:
            if column not in present:
                raise EmbeddingsError("missing obs column", path=self.path, key=f"obs/{column}")
        self.index_columns: tuple[str, ...] = tuple(c for c in INDEX_COLUMNS if c in present)
        self.fov_names, self._fov_rows = _group_rows(*self._fov_labels())

    @property
    def zarr_format(self) -> int:
        return int(self._root.metadata.zarr_format)

    def fov_rows(self, fov: str) -> np.ndarray:
        """Dataset positions (int64, increasing) of the rows of ``fov``."""
        return self._fov_rows[fov]

    def read_column(self, column: str, rows: np.ndarray | None = None) -> np.ndarray:
        """One obs column (strings as ``object`` arrays, integers as ``int64``)."""
        key = f"obs/{column}"
        if key not in self._nodes:
            self._nodes[key] = self._node(key, "missing obs column")
        try:
            values = self._windowed(column, self._nodes[key], rows)
        except EmbeddingsError:
            raise
        except Exception as exc:
            raise EmbeddingsError(
                f"unreadable column ({type(exc).__name__}: {exc})", path=self.path, key=key
            ) from exc
        if values.shape != ((self.num_rows,) if rows is None else rows.shape):
            raise EmbeddingsError(
                f"expected {self.num_rows} values, got shape {values.shape}",
                path=self.path,
                key=key,
            )
        if values.dtype.kind in "biu":
            return values.astype(np.int64, copy=False)
        if values.dtype.kind in "OTUS":
            strip = _canonical_fov if column == "fov_name" else str
            return np.asarray([strip(v) for v in values.tolist()], dtype=object)
        raise EmbeddingsError(
            f"expected integer or string values, got {values.dtype}", path=self.path, key=key
        )

    def read_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        """Rows ``rows`` (increasing) of array ``name`` (``X`` or ``X_projections``), C order.

        Reads go through a window of whole zarr chunks of about :data:`WINDOW_BYTES`,
        so consecutive FOVs that share a chunk do not decompress it again; memory is
        bounded by the window plus the returned block.
        """
        info = self.arrays[name]
        array = self._array(info.key)
        try:
            if not rows.size:
                return np.empty((0, *info.shape[1:]), dtype=info.dtype)
            low, high = int(rows[0]), int(rows[-1]) + 1
            row_bytes = max(1, info.dtype.itemsize * int(np.prod(info.shape[1:])))
            if (high - low) * row_bytes > WINDOW_BYTES and high - low > rows.size:
                # Rows scattered over more than a window (interleaved FOVs): select them.
                return np.asarray(array.get_orthogonal_selection((rows, slice(None))))
            cached = self._windows.get(info.key)
            if cached is None or low < cached[0] or high > cached[1]:
                chunk = int(array.chunks[0])
                span = max(high - low, WINDOW_BYTES // row_bytes)
                start = low - low % chunk
                stop = min(self.num_rows, -(-(low + span) // chunk) * chunk)
                cached = (start, max(stop, high), np.asarray(array[start : max(stop, high)]))
                self._windows[info.key] = cached
        except Exception as exc:
            raise EmbeddingsError(
                f"unreadable chunk ({type(exc).__name__}: {exc})", path=self.path, key=info.key
            ) from exc
        window = cached[2]
        if rows[-1] - rows[0] + 1 == rows.size:
            return np.ascontiguousarray(window[low - cached[0] : high - cached[0]])
        return window[rows - cached[0]]

    def read_fov(self, fov: str, *, arrays: tuple[str, ...] | None = None) -> FovBlock:
        """Index columns and arrays of one FOV."""
        rows = self.fov_rows(fov)
        names = tuple(self.arrays) if arrays is None else arrays
        index = {column: self.read_column(column, rows) for column in self.index_columns}
        return FovBlock(fov, rows, index, {name: self.read_rows(name, rows) for name in names})

    def iter_fovs(self, *, arrays: tuple[str, ...] | None = None) -> Iterator[FovBlock]:
        """FOV blocks in first-appearance order, one in memory at a time."""
        for fov in self.fov_names:
            yield self.read_fov(fov, arrays=arrays)

    def provenance(self) -> dict[str, Any] | None:
        """``uns["repro_golden"]`` decoded to JSON-ready values, or None when absent."""
        try:
            node = self._root["uns/repro_golden"]
        except KeyError:
            return None
        except Exception:
            node = None  # unreadable metadata: reported below with the key
        try:
            if node is None:
                raise ValueError("unreadable metadata")
            value = _decode_uns(node)
        except Exception as exc:
            raise EmbeddingsError(
                f"unreadable provenance ({type(exc).__name__}: {exc})",
                path=self.path,
                key="uns/repro_golden",
            ) from exc
        if isinstance(value, str):  # provenance stored as one JSON string
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        return value if isinstance(value, dict) else {"value": value}

    def parsed_provenance(self) -> Provenance:
        """:meth:`provenance` parsed once into a typed :class:`~repro_golden.core.provenance.
        Provenance` (cached: every reader of one store shares it)."""
        if self._parsed is None:
            self._parsed = Provenance.parse(
                self.provenance(), path=self.path, key="uns.repro_golden"
            )
        return self._parsed

    def _fov_labels(self) -> tuple[np.ndarray, list[str]]:
        """An integer label per row and the FOV name of each label.

        Categorical columns are grouped by their codes, never decoding a string per row.
        """
        node: Any = self._node("obs/fov_name", "missing obs column")
        if node.attrs.get("encoding-type") != "categorical":
            raw = _decode_column(node, None)
            if raw.dtype.kind in "OTUS":
                self._note_slashes(str(v) for v in np.unique(raw).tolist())
            unique, labels = np.unique(self.read_column("fov_name"), return_inverse=True)
            return labels, [str(u) for u in unique.tolist()]
        try:
            codes = np.asarray(node["codes"][...])
            categories = np.asarray(node["categories"][...])
        except Exception as exc:
            raise EmbeddingsError(
                f"unreadable column ({type(exc).__name__}: {exc})",
                path=self.path,
                key="obs/fov_name",
            ) from exc
        if codes.shape != (self.num_rows,) or (
            codes.size and (codes.min() < 0 or codes.max() >= categories.size)
        ):
            raise EmbeddingsError(
                f"expected {self.num_rows} codes within the categories",
                path=self.path,
                key="obs/fov_name",
            )
        raw_names = [str(c) for c in categories.tolist()]
        self._note_slashes(raw_names)
        # Canonical names may coincide ("/A/1/0" and "A/1/0"): one label per name.
        names = [_canonical_fov(c) for c in raw_names]
        unique_names, remap = np.unique(np.asarray(names, dtype=object), return_inverse=True)
        return remap.reshape(-1)[codes], [str(n) for n in unique_names.tolist()]

    def _note_slashes(self, names: Iterator[str] | list[str]) -> None:
        """Record, for the report, that FOV names were read without their leading slash."""
        slashed = sorted(n for n in names if n.startswith("/"))
        if slashed:
            self.notes += (
                f"{self.path}: obs/fov_name: leading '/' stripped from {len(slashed)} FOV "
                f"name(s) (e.g. {slashed[0]!r} read as {_canonical_fov(slashed[0])!r}): "
                "FOV names are compared without it",
            )

    def _windowed(self, column: str, node: Any, rows: np.ndarray | None) -> np.ndarray:
        """Column values at ``rows``, read through a window of :data:`WINDOW_ROWS` rows.

        FOVs are read in order and their rows are mostly contiguous, so one zarr read
        serves many FOVs while memory stays bounded by the window.
        """
        if rows is None or not rows.size or rows[-1] + 1 - rows[0] > WINDOW_ROWS:
            return _decode_column(node, rows)
        low, high = int(rows[0]), int(rows[-1]) + 1
        cached = self._windows.get(column)
        if cached is None or low < cached[0] or high > cached[1]:
            stop = min(self.num_rows, max(high, low + WINDOW_ROWS))
            cached = (low, stop, _decode_column(node, np.arange(low, stop)))
            self._windows[column] = cached
        return cached[2][rows - cached[0]]

    def _node(self, key: str, missing: str) -> Any:
        """The zarr node at ``key``; EmbeddingsError if absent or its metadata is unreadable."""
        try:
            return self._root[key]
        except KeyError:
            raise EmbeddingsError(missing, path=self.path, key=key) from None
        except Exception as exc:  # corrupt .zarray/.zattrs/zarr.json: JSON or codec errors
            raise EmbeddingsError(
                f"unreadable metadata ({type(exc).__name__}: {str(exc)[:200]})",
                path=self.path,
                key=key,
            ) from exc

    def _array(self, key: str) -> Any:
        if key in self._nodes:
            return self._nodes[key]
        node = self._node(key, "missing array")
        if not isinstance(node, zarr.Array):
            raise EmbeddingsError("expected an array, found a group", path=self.path, key=key)
        self._nodes[key] = node
        return node

    def _require_chunks(self, array: Any, key: str) -> None:
        """Refuse an array with chunk files missing (a partial copy or interrupted write).

        Zarr reads a missing chunk as the fill value, so a store that lost a chunk
        file would otherwise be compared, or recorded as golden, with zeros in
        place of its embeddings. Writers skip chunks that hold only the fill
        value; real embeddings never fill a whole chunk with it.
        """
        try:
            present, expected = int(array.nchunks_initialized), int(array.nchunks)
        except Exception as exc:
            raise EmbeddingsError(
                f"cannot list chunk files ({type(exc).__name__}: {exc})", path=self.path, key=key
            ) from exc
        if present < expected:
            raise EmbeddingsError(
                f"{expected - present} of {expected} chunk files missing "
                "(incomplete copy or interrupted write?)",
                path=self.path,
                key=key,
            )

    def _obs_columns(self) -> list[str]:
        obs = self._node("obs", "missing obs dataframe")
        if not isinstance(obs, zarr.Group):
            raise EmbeddingsError("expected a dataframe group", path=self.path, key="obs")
        return [str(k) for k in obs]


def _canonical_fov(name: object) -> str:
    """A FOV name as compared: ``row/col/fov`` without the leading slash some VisCy outputs have."""
    return str(name).lstrip("/")


def _is_golden_directory(path: Path) -> bool:
    """A golden directory (``golden.json``) that is no zarr group: a common mix-up of roles."""
    return (path / MANIFEST).is_file() and not any(
        (path / marker).is_file() for marker in (".zgroup", "zarr.json")
    )


def _group_rows(
    labels: np.ndarray, names: list[str]
) -> tuple[tuple[str, ...], dict[str, np.ndarray]]:
    """FOV names in first-appearance order and each FOV's row positions (increasing)."""
    used, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    ranks = rank[inverse.reshape(-1)]
    sorted_rows = np.argsort(ranks, kind="stable").astype(np.int64)
    bounds = np.searchsorted(ranks[sorted_rows], np.arange(order.size + 1))
    fovs = tuple(names[int(used[i])] for i in order)
    groups = {name: sorted_rows[bounds[i] : bounds[i + 1]] for i, name in enumerate(fovs)}
    return fovs, groups


def _select(array: Any, rows: np.ndarray | None) -> np.ndarray:
    """Read all of a 1-D zarr array, a contiguous slice, or an orthogonal selection."""
    if rows is None:
        return np.asarray(array[...])
    if rows.size and rows[-1] - rows[0] + 1 == rows.size:
        return np.asarray(array[int(rows[0]) : int(rows[-1]) + 1])
    return np.asarray(array.get_orthogonal_selection(rows))


def _decode_column(node: Any, rows: np.ndarray | None) -> np.ndarray:
    encoding = node.attrs.get("encoding-type")
    if encoding == "categorical":
        codes = _select(node["codes"], rows)
        categories = np.asarray(node["categories"][...])
        if codes.size and (codes.min() < 0 or codes.max() >= categories.size):
            raise EmbeddingsError("categorical codes outside the categories (missing values?)")
        return categories[codes]
    if encoding in ("nullable-integer", "nullable-boolean"):
        if _select(node["mask"], rows).any():
            raise EmbeddingsError("missing values in an index column")
        return _select(node["values"], rows)
    if not isinstance(node, zarr.Array):
        raise EmbeddingsError(f"unsupported column encoding {encoding!r}")
    return _select(node, rows)


def _decode_uns(node: Any) -> Any:
    if isinstance(node, zarr.Group):
        return {str(key): _decode_uns(node[key]) for key in sorted(node)}
    value = np.asarray(node[...])
    if value.ndim == 0:
        item = value.item()
        return str(item) if value.dtype.kind in "OTUS" else item
    return [str(v) if value.dtype.kind in "OTUS" else v for v in value.tolist()]
