"""Strict validation of golden files: ``golden.json`` and the sketch it names.

Why a module of its own: a golden check that passes on a corrupted golden file is
worse than none, so nothing read from disk is trusted. Every key is checked for
presence, type and range before any comparison uses it; digests must be 32
lowercase hex digits; the per-FOV and dataset digests are recomputed from their
parts (a Merkle check, so one flipped digest is caught); the sketch's header must
describe exactly the arrays, dtypes and shapes the manifest implies. Every
problem is a :class:`~repro_golden.errors.GoldenFileError` naming the file and
the key (``fovs[2].arrays.X.digest``), never a ``KeyError`` or numpy error.

Contract: :func:`parse_manifest` returns the decoded manifest only if it is
valid; :func:`parse_sketch` returns the sketch arrays (read-only numpy views)
only if they fit the manifest. Torch-free.
"""

from __future__ import annotations

import json
import math
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from repro_golden.core.digest import dataset_digest, fov_digest
from repro_golden.errors import GoldenFileError

SCHEMA = "repro-golden/golden/1"
SKETCH_FORMAT = "repro-golden/sketch/1"
SKETCH_MAGIC = b"RGSKETCH1\n"
ARRAY_NAMES = ("X", "X_projections")
"""Arrays every golden file describes (the embeddings contract)."""

_HEX = re.compile(r"[0-9a-f]{32}")
_SKETCH_NAME = re.compile(r"sketch-([0-9a-f]{32})\.bin")
_COUNTS = ("rows", "nan", "posinf", "neginf")
_FLOATS = ("mean", "std", "min", "max")
_MAX_HEADER = 1 << 20


class _BadKeyError(Exception):
    """Internal: a problem at ``key``; turned into a GoldenFileError naming the file."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


def _reject_constant(name: str) -> float:
    raise ValueError(f"non-standard JSON constant {name}")


def parse_manifest(raw: bytes, path: Path) -> dict[str, Any]:
    """The validated content of ``golden.json`` (``raw`` bytes read from ``path``)."""
    if not raw.strip():
        raise GoldenFileError("empty file (an interrupted or failed write?)", path=path)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise GoldenFileError(
            f"not readable JSON ({type(exc).__name__}: {str(exc)[:200]})", path=path
        ) from None
    if not isinstance(data, dict):
        raise GoldenFileError(f"expected a JSON object, got {type(data).__name__}", path=path)
    if data.get("schema") != SCHEMA:
        raise GoldenFileError(
            f"expected schema {SCHEMA!r}, found {_short(data.get('schema'))}"
            " (written by another version of repro-golden?)",
            path=path,
            key="schema",
        )
    try:
        _check_manifest(data)
    except _BadKeyError as fail:
        raise GoldenFileError(fail.message, path=path, key=fail.key) from None
    return data


def parse_sketch(
    blob: bytes, path: Path, *, widths: dict[str, int], rows: int
) -> dict[str, np.ndarray]:
    """The arrays of a ``repro-golden/sketch/1`` file, checked against the manifest.

    ``widths`` maps each array name to its column count and ``rows`` is the
    dataset's row count, both from the validated manifest.
    """
    try:
        return _sketch_arrays(blob, widths, rows)
    except _BadKeyError as fail:
        raise GoldenFileError(fail.message, path=path, key=fail.key) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _get(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise _BadKeyError(f"{where}{key}", "missing key")
    return mapping[key]


def _obj(value: Any, key: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _BadKeyError(key, f"expected an object, got {_short(value)}")
    return value


def _int(value: Any, key: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _BadKeyError(key, f"expected an integer >= {minimum}, got {_short(value)}")
    return value


def _hex(value: Any, key: str) -> str:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        raise _BadKeyError(
            key, f"expected a 32-digit lowercase hex xxh3-128 digest, got {_short(value)}"
        )
    return value


def _number(value: Any, key: str, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _BadKeyError(
            key, f"expected a finite number{' or null' if optional else ''}, got {_short(value)}"
        )


def _check_manifest(data: dict[str, Any]) -> None:
    case = _get(data, "case", "")
    if case is not None and not isinstance(case, str):
        raise _BadKeyError("case", f"expected a string or null, got {_short(case)}")
    if not isinstance(data.get("provenance", {}), dict | None):
        raise _BadKeyError("provenance", "expected an object")
    dataset = _obj(_get(data, "dataset", ""), "dataset")
    _hex(_get(dataset, "digest", "dataset."), "dataset.digest")
    total = _int(_get(dataset, "rows", "dataset."), "dataset.rows")
    columns = _get(dataset, "index_columns", "dataset.")
    if (
        not isinstance(columns, list)
        or "fov_name" not in columns
        or not all(isinstance(c, str) for c in columns)
        or len(set(columns)) != len(columns)
    ):
        raise _BadKeyError(
            "dataset.index_columns", f"expected distinct names with fov_name, got {_short(columns)}"
        )
    arrays = _obj(_get(dataset, "arrays", "dataset."), "dataset.arrays")
    if sorted(arrays) != sorted(ARRAY_NAMES):
        raise _BadKeyError(
            "dataset.arrays", f"expected arrays {list(ARRAY_NAMES)}, got {sorted(arrays)}"
        )
    for name in ARRAY_NAMES:
        where = f"dataset.arrays.{name}"
        info = _obj(arrays[name], where)
        dtype = _get(info, "dtype", where + ".")
        try:
            ok = isinstance(dtype, str) and np.dtype(dtype).kind == "f"
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise _BadKeyError(
                where + ".dtype", f"expected a floating dtype such as '<f4', got {_short(dtype)}"
            )
        _int(_get(info, "width", where + "."), where + ".width")
        if not isinstance(_get(info, "columns_finite", where + "."), bool):
            raise _BadKeyError(where + ".columns_finite", "expected true or false")
    _check_sketch_entry(_obj(_get(data, "sketch", ""), "sketch"))
    fovs = _get(data, "fovs", "")
    if not isinstance(fovs, list):
        raise _BadKeyError("fovs", f"expected a list, got {_short(fovs)}")
    count = _int(_get(dataset, "fovs", "dataset."), "dataset.fovs")
    if count != len(fovs):
        raise _BadKeyError(
            "fovs", f"dataset.fovs says {count} FOVs, the list has {len(fovs)} entries"
        )
    offset, names, pairs = 0, set(), []
    for i, entry in enumerate(fovs):
        name, digest = _check_fov(_obj(entry, f"fovs[{i}]"), i, offset)
        if name in names:
            raise _BadKeyError(f"fovs[{i}].name", f"FOV {name!r} listed twice")
        names.add(name)
        pairs.append((name, digest))
        offset += entry["rows"]
    if offset != total:
        raise _BadKeyError("dataset.rows", f"{total} rows, but the FOVs add up to {offset}")
    if dataset_digest(pairs) != dataset["digest"]:
        raise _BadKeyError("dataset.digest", "does not match the FOV digests (edited or corrupted)")


def _check_sketch_entry(sketch: dict[str, Any]) -> None:
    if _get(sketch, "format", "sketch.") != SKETCH_FORMAT:
        raise _BadKeyError(
            "sketch.format", f"expected {SKETCH_FORMAT!r}, got {_short(sketch['format'])}"
        )
    digest = _hex(_get(sketch, "xxh3_128", "sketch."), "sketch.xxh3_128")
    name = _get(sketch, "file", "sketch.")
    match = _SKETCH_NAME.fullmatch(name) if isinstance(name, str) else None
    if match is None or match.group(1) != digest:
        raise _BadKeyError("sketch.file", f"expected 'sketch-{digest}.bin', got {_short(name)}")
    _int(_get(sketch, "bytes", "sketch."), "sketch.bytes")


def _check_fov(entry: dict[str, Any], i: int, offset: int) -> tuple[str, str]:
    where = f"fovs[{i}]."
    name = _get(entry, "name", where)
    if not isinstance(name, str) or not name:
        raise _BadKeyError(where + "name", f"expected a non-empty string, got {_short(name)}")
    rows = _int(_get(entry, "rows", where), where + "rows")
    if _int(_get(entry, "offset", where), where + "offset") != offset:
        raise _BadKeyError(where + "offset", f"expected {offset} (the rows of the FOVs before it)")
    digest = _hex(_get(entry, "digest", where), where + "digest")
    parts = {"index": _hex(_get(entry, "index_digest", where), where + "index_digest")}
    _hex(_get(entry, "index_multiset_digest", where), where + "index_multiset_digest")
    arrays = _obj(_get(entry, "arrays", where), where + "arrays")
    if sorted(arrays) != sorted(ARRAY_NAMES):
        raise _BadKeyError(where + "arrays", f"expected {list(ARRAY_NAMES)}, got {sorted(arrays)}")
    for array in ARRAY_NAMES:
        at = f"{where}arrays.{array}"
        info = _obj(arrays[array], at)
        parts[array] = _hex(_get(info, "digest", at + "."), at + ".digest")
        stats = _obj(_get(info, "stats", at + "."), at + ".stats")
        for key in _COUNTS:
            _int(_get(stats, key, at + ".stats."), f"{at}.stats.{key}")
        if stats["rows"] != rows:
            raise _BadKeyError(at + ".stats.rows", f"expected {rows} (the FOV's rows)")
        for key in _FLOATS:
            _number(_get(stats, key, at + ".stats."), f"{at}.stats.{key}")
        quantiles = _get(stats, "row_norm_quantiles", at + ".stats.")
        if not isinstance(quantiles, list):
            raise _BadKeyError(at + ".stats.row_norm_quantiles", "expected a list")
        for q in quantiles:
            _number(q, at + ".stats.row_norm_quantiles", optional=False)
    if fov_digest(name, rows, parts) != digest:
        raise _BadKeyError(
            where + "digest", "does not match the FOV's part digests (edited or corrupted)"
        )
    return name, digest


def _sketch_arrays(blob: bytes, widths: dict[str, int], rows: int) -> dict[str, np.ndarray]:
    if not blob.startswith(SKETCH_MAGIC) or len(blob) < len(SKETCH_MAGIC) + 8:
        raise _BadKeyError("magic", f"not a {SKETCH_FORMAT} file")
    start = len(SKETCH_MAGIC) + 8
    (length,) = struct.unpack("<Q", blob[len(SKETCH_MAGIC) : start])
    if length > min(_MAX_HEADER, len(blob) - start):
        raise _BadKeyError("header", f"header length {length} exceeds the file")
    try:
        header = json.loads(blob[start : start + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _BadKeyError("header", f"header is not JSON ({type(exc).__name__})") from None
    if not isinstance(header, dict) or header.get("format") != SKETCH_FORMAT:
        raise _BadKeyError("header.format", f"expected {SKETCH_FORMAT!r}")
    entries = header.get("arrays")
    if not isinstance(entries, list):
        raise _BadKeyError("header.arrays", "expected a list")
    body = memoryview(blob)[start + length :]
    found: dict[str, Any] = {}
    for i, entry in enumerate(entries):
        where = f"header.arrays[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise _BadKeyError(where, "expected an object with a name")
        found[entry["name"]] = entry
    out: dict[str, np.ndarray] = {}
    for name, width in widths.items():
        nonfinite = found.get(f"{name}.nonfinite_rows", {}).get("shape", [None])
        flagged = nonfinite[0] if isinstance(nonfinite, list) and nonfinite else None
        expected: dict[str, tuple[str, list[Any]]] = {
            "row_sum": ("<f4", [rows]),
            "row_norm": ("<f4", [rows]),
            "row_proj": ("<f4", [rows]),
            "nonfinite_rows": ("<i8", [flagged]),
            "nonfinite_flags": ("|u1", [flagged]),
            "signs": ("|i1", [width]),
            "col_sum": ("<f8", [width]),
            "col_sumsq": ("<f8", [width]),
        }
        for part, (dtype, shape) in expected.items():
            key = f"{name}.{part}"
            out[key] = _sketch_array(found.get(key), key, dtype, shape, body)
        listed = out[f"{name}.nonfinite_rows"]
        if listed.size and (
            listed.min() < 0 or listed.max() >= rows or (np.diff(listed) <= 0).any()
        ):
            raise _BadKeyError(
                f"{name}.nonfinite_rows", f"expected increasing row numbers below {rows}"
            )
        if listed.size and (out[f"{name}.nonfinite_flags"] == 0).any():
            raise _BadKeyError(f"{name}.nonfinite_flags", "expected non-zero flags")
        _check_values(out, name)
        if not np.isin(out[f"{name}.signs"], (-1, 1)).all():
            raise _BadKeyError(f"{name}.signs", "expected only +1 and -1")
    return out


def _check_values(out: dict[str, np.ndarray], name: str) -> None:
    """Norms and sums of squares cannot be negative; a non-finite row number must be flagged.

    The summary checks take square roots and differences of these numbers; a
    damaged value must be refused here rather than turn into NaN verdicts there.
    """
    flagged = np.zeros(out[f"{name}.row_sum"].shape[0], dtype=bool)
    flagged[out[f"{name}.nonfinite_rows"]] = True
    for part in ("row_sum", "row_norm", "row_proj"):
        values = out[f"{name}.{part}"]
        if (~np.isfinite(values) & ~flagged).any():
            raise _BadKeyError(f"{name}.{part}", "non-finite value in a row not flagged non-finite")
    with np.errstate(invalid="ignore"):
        if (out[f"{name}.row_norm"] < 0).any() or (out[f"{name}.col_sumsq"] < 0).any():
            raise _BadKeyError(f"{name}.row_norm", "negative norm or sum of squares")


def _sketch_array(
    entry: dict[str, Any] | None, key: str, dtype: str, shape: list[Any], body: memoryview
) -> np.ndarray:
    if entry is None:
        raise _BadKeyError(key, "array missing from the sketch")
    got = (entry.get("dtype"), entry.get("shape"))
    if (
        got[0] != dtype
        or not isinstance(got[1], list)
        or len(got[1]) != len(shape)
        or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 0 or (s is not None and n != s)
            for n, s in zip(got[1], shape, strict=True)
        )
    ):
        raise _BadKeyError(key, f"expected dtype {dtype} and shape {shape}, got {_short(got)}")
    offset, nbytes = entry.get("offset"), entry.get("nbytes")
    size = int(np.dtype(dtype).itemsize * math.prod(got[1]))
    if (
        isinstance(offset, bool)
        or not isinstance(offset, int)
        or offset < 0
        or nbytes != size
        or offset + size > len(body)
    ):
        raise _BadKeyError(
            key, f"offset {_short(offset)} / nbytes {_short(nbytes)} outside the file"
        )
    return np.frombuffer(body[offset : offset + size], dtype=dtype).reshape(got[1])
