"""The golden file format: encode a :class:`Golden` to bytes, parse bytes back, validate once.

Why one module: a golden check that passes on a corrupted golden file is worse
than none, so nothing read from disk is trusted, and the manifest's keys are
spelled out in one place for both directions. Every key is checked for
presence, type and range before any comparison uses it; digests must be 32
lowercase hex digits; the per-FOV and dataset digests are recomputed from their
parts (a Merkle check, so one flipped digest is caught); the sketch's header must
describe exactly the arrays, dtypes and shapes the manifest implies. Every
problem is a :class:`~repro_golden.errors.GoldenFileError` naming the file and
the key (``fovs[2].arrays.X.digest``), never a ``KeyError`` or numpy error.

Schemas: ``repro-golden/golden/2`` (written) adds to schema 1 the recorded
``tolerance`` (default and per array), the ``environment`` fingerprint of the
run the values come from, ``expectations`` per environment
(:mod:`.expectations`), the ``full`` copy entry (:mod:`.full`) and the
``full_copy_limit``. Schema 1 files are still read: they have no tolerance of
their own (the case tolerance in their provenance applies), no expectations and
no full copy.

Contract: :func:`parse_manifest` returns the decoded manifest only if it is
valid; :func:`parse_sketch` returns the sketch arrays (read-only numpy views)
only if they fit the manifest; :func:`golden_from` turns both into typed values.
Torch-free.
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
from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden.expectations import Expectation
from repro_golden.core.golden.full import FULL_FORMAT
from repro_golden.core.golden.types import (
    DEFAULT_FULL_COPY_LIMIT,
    ArraySketch,
    FovGolden,
    FullCopy,
    Golden,
)
from repro_golden.core.jsonable import json_ready
from repro_golden.core.summary import ArrayStats, ColumnAccumulator, StoredRows
from repro_golden.core.tolerance import ArrayTolerances
from repro_golden.errors import ConfigError, GoldenFileError

SCHEMA = "repro-golden/golden/2"
SCHEMA_V1 = "repro-golden/golden/1"
SCHEMAS = (SCHEMA, SCHEMA_V1)
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
    if data.get("schema") not in SCHEMAS:
        raise GoldenFileError(
            f"expected schema {SCHEMA!r} (or {SCHEMA_V1!r}), found {_short(data.get('schema'))}"
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
    if data["schema"] == SCHEMA:
        _check_v2(data)


def _check_v2(data: dict[str, Any]) -> None:
    """The keys schema 2 adds; deep validation of tolerance/environment/expectations is
    done by their own ``from_mapping`` in :func:`golden_from`."""
    for key in ("tolerance", "environment", "full"):
        value = _get(data, key, "")
        if value is not None and not isinstance(value, dict):
            raise _BadKeyError(key, f"expected an object or null, got {_short(value)}")
    if not isinstance(_get(data, "expectations", ""), list):
        raise _BadKeyError("expectations", "expected a list")
    _int(_get(data, "full_copy_limit", ""), "full_copy_limit")
    full = data["full"]
    if full is not None:
        if _get(full, "format", "full.") != FULL_FORMAT:
            raise _BadKeyError("full.format", f"expected {FULL_FORMAT!r}")
        digest = _hex(_get(full, "xxh3_128", "full."), "full.xxh3_128")
        name = _get(full, "file", "full.")
        if name != f"full-{digest}.bin":
            raise _BadKeyError("full.file", f"expected 'full-{digest}.bin', got {_short(name)}")
        _int(_get(full, "bytes", "full."), "full.bytes")


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


# --- encoding -------------------------------------------------------------------------


def sketch_parts(golden: Golden) -> dict[str, np.ndarray]:
    """The named arrays of the sketch file, in file order."""
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


def encode_sketch(golden: Golden) -> bytes:
    """Deterministic bytes of the ``repro-golden/sketch/1`` file of ``golden``."""
    arrays = sketch_parts(golden)
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
    header = json.dumps({"format": SKETCH_FORMAT, "arrays": entries}, separators=(",", ":"))
    body = b"".join(np.ascontiguousarray(v).tobytes() for v in arrays.values())
    encoded = header.encode("utf-8")
    return SKETCH_MAGIC + struct.pack("<Q", len(encoded)) + encoded + body


def file_entry(kind: str, digest: str, size: int) -> dict[str, Any]:
    """The manifest entry of a content-addressed data file (``sketch`` or ``full``)."""
    fmt = SKETCH_FORMAT if kind == "sketch" else FULL_FORMAT
    return {"file": f"{kind}-{digest}.bin", "xxh3_128": digest, "bytes": size, "format": fmt}


def encode_manifest(golden: Golden, sketch: dict[str, Any], full: dict[str, Any] | None) -> str:
    """The text of ``golden.json`` (schema 2) for ``golden`` and its data-file entries."""
    manifest = {
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
        "tolerance": None if golden.tolerance is None else golden.tolerance.to_dict(),
        "environment": None if golden.environment is None else golden.environment.to_dict(),
        "expectations": [e.to_dict() for e in golden.expectations],
        "full_copy_limit": golden.full_copy_limit,
        "sketch": sketch,
        "full": full,
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
                    name: {"digest": f.array_digests[name], "stats": f.stats[name].to_dict()}
                    for name in f.array_digests
                },
            }
            for f in golden.fovs
        ],
    }
    return json.dumps(json_ready(manifest), indent=1, allow_nan=False, ensure_ascii=False) + "\n"


# --- decoding into typed values ---------------------------------------------------------


def golden_from(
    data: dict[str, Any],
    sketch: dict[str, np.ndarray],
    full: dict[str, np.ndarray] | None,
    path: Path,
) -> Golden:
    """A :class:`Golden` from a manifest and sketch validated here (and the full copy).

    The schema-2 objects (tolerance, environment, expectations) are parsed by their
    own ``from_mapping``; a problem is a :class:`GoldenFileError` naming ``path``.
    """
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
            stats={k: ArrayStats.from_mapping(v["stats"]) for k, v in f["arrays"].items()},
        )
        for f in data["fovs"]
    )
    tolerance = None
    if data.get("tolerance") is not None:
        try:
            tolerance = ArrayTolerances.from_mapping(data["tolerance"], source=path)
        except ConfigError as exc:
            raise GoldenFileError(
                f"recorded tolerance is unusable: {exc}", path=path, key="tolerance"
            ) from None
    environment = None
    if data.get("environment") is not None:
        environment = EnvironmentFingerprint.from_mapping(data["environment"], path=path)
    expectations = tuple(
        Expectation.from_mapping(e, path=path, key=f"expectations[{i}]")
        for i, e in enumerate(data.get("expectations") or ())
    )
    keys = [e.key for e in expectations]
    if len(set(keys)) != len(keys):
        raise GoldenFileError("two expectations for one environment", path=path, key="expectations")
    return Golden(
        dataset_digest=dataset["digest"],
        num_rows=int(dataset["rows"]),
        index_columns=tuple(dataset["index_columns"]),
        fovs=fovs,
        arrays=arrays,
        provenance=data.get("provenance") or {},
        case=data.get("case"),
        tolerance=tolerance,
        environment=environment,
        expectations=expectations,
        full=None if full is None else FullCopy(full),
        full_copy_limit=int(data.get("full_copy_limit", DEFAULT_FULL_COPY_LIMIT)),
    )
