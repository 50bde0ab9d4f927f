"""The oracle section of a golden set: an fp64 truth for a sample of cells and the noise budgets.

Why a section of its own: across GPU architectures bits differ, so a run is
judged by its distance from a float64 truth against the noise its arithmetic
is measured to make on this model (issue 19, DESIGN section 4 rung 5). The
section is written by the builtin oracle
(:func:`repro_golden.inference.oracle.compute_oracle`) and read, torch-free, by
the verdict (:func:`repro_golden.core.oracle_verdict.judge_oracle`).

Files, beside ``golden.json`` in the golden directory:

``oracle.json`` (schema ``repro-golden/oracle/1``; text, read in diffs)
    ``golden_dataset_digest`` (the golden values this was computed against),
    ``sample`` (row count, key columns, the keys of every sampled cell in
    truth order, cells per FOV), ``arrays`` (width and RMS of the truth per
    array), ``budgets`` (per precision class ``fp32``/``tf32``/``bf16``, per
    array, the :class:`ErrorStats` of the oracle run at that precision against
    the truth), ``golden_error`` (the golden store's own ErrorStats),
    ``golden_precision`` (the class of the run the golden values come from),
    ``oracle`` (how the truth was computed: batch size, threads, torch, the
    checkpoint digest) and ``truth`` (the data file's name, digest, size).
``oracle-<xxh3-128>.bin``
    The truth arrays, float64, rows in sample order, in the
    ``repro-golden/full/1`` container of :mod:`.golden.full` (byte-shuffled,
    zlib 9), named by its own digest.

Commit order: the data file first under its content address, then
``oracle.json`` atomically (the commit), then stale ``oracle-*.bin`` removed,
all under the directory's write lock (purpose ``oracle``). The golden store
never touches these files; since ``golden write`` without ``--oracle`` may
later replace ``golden.json`` with other values, the reader refuses a section
whose ``golden_dataset_digest`` is not the manifest's (stale truth-vs-golden
figures), naming both digests. No timing and no path is recorded (DESIGN 5).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from repro_golden.core.atomic import write_bytes_atomic, write_text_atomic
from repro_golden.core.digest import bytes_digest
from repro_golden.core.golden.full import decode_full, encode_full
from repro_golden.core.golden.store import read_content_file
from repro_golden.core.locking import directory_lock
from repro_golden.errors import GoldenFileError

ORACLE_SCHEMA = "repro-golden/oracle/1"
ORACLE_FILE = "oracle.json"
ORACLE_ARRAYS: tuple[str, ...] = ("X", "X_projections")
KEY_COLUMNS: tuple[str, ...] = ("fov_name", "track_id", "t", "id")
"""Columns that name a sampled cell (the lab's keys)."""
CLASSES: tuple[str, ...] = ("fp32", "tf32", "bf16")
"""Precision classes a run can be judged as (each has a budget)."""
DEFAULT_SAMPLE = 256
_STATS = ("rms", "max_abs", "p999", "truth_rms")


@dataclass(frozen=True)
class ErrorStats:
    """The error of one array against the truth: RMS, max abs, 99.9th percentile of |error|.

    ``truth_rms`` is the RMS of the truth itself, so ``rel_*`` put each figure
    on the scale of the output (what a relative tolerance would say).
    """

    rms: float
    max_abs: float
    p999: float
    truth_rms: float

    @classmethod
    def of(cls, values: np.ndarray, truth: np.ndarray) -> ErrorStats:
        """Statistics of ``values - truth`` (both ``(rows, width)``, computed in float64)."""
        if values.shape != truth.shape:
            raise ValueError(f"shape {values.shape} does not match the truth's {truth.shape}")
        error = np.abs(np.asarray(values, dtype=np.float64) - np.asarray(truth, dtype=np.float64))
        if not np.isfinite(error).all():
            inf = math.inf
            return cls(inf, inf, inf, float(np.sqrt(np.mean(np.square(truth)))))
        return cls(
            rms=float(np.sqrt(np.mean(np.square(error)))),
            max_abs=float(error.max()),
            p999=float(np.quantile(error, 0.999)),
            truth_rms=float(np.sqrt(np.mean(np.square(np.asarray(truth, dtype=np.float64))))),
        )

    @property
    def rel_rms(self) -> float:
        return self.rms / self.truth_rms if self.truth_rms > 0 else math.inf

    @property
    def rel_max(self) -> float:
        return self.max_abs / self.truth_rms if self.truth_rms > 0 else math.inf

    @property
    def rel_p999(self) -> float:
        return self.p999 / self.truth_rms if self.truth_rms > 0 else math.inf

    def to_dict(self) -> dict[str, float]:
        """JSON form (absolute figures; the relative ones are derived)."""
        return {
            "rms": self.rms,
            "max_abs": self.max_abs,
            "p999": self.p999,
            "truth_rms": self.truth_rms,
            "rel_rms": self.rel_rms,
            "rel_max": self.rel_max,
            "rel_p999": self.rel_p999,
        }

    def describe(self) -> str:
        """``rms 4.1e-04 (2.0e-03 of output rms), max 1.9e-03, p99.9 1.2e-03``."""
        return (
            f"rms {self.rms:.2e} ({self.rel_rms:.1e} of output rms), "
            f"max {self.max_abs:.2e}, p99.9 {self.p999:.2e}"
        )


@dataclass(frozen=True)
class OracleSection:
    """A golden set's oracle: sampled keys, fp64 truth, budgets per class, the golden's error.

    ``keys[column][i]`` names sample cell ``i`` (``fov_name`` strings, the rest
    ints); ``truth[array]`` is float64 ``(rows, width)`` in the same order.
    """

    golden_dataset_digest: str
    keys: Mapping[str, tuple[Any, ...]]
    truth: Mapping[str, np.ndarray]
    budgets: Mapping[str, Mapping[str, ErrorStats]]
    golden_error: Mapping[str, ErrorStats]
    golden_precision: str
    oracle: Mapping[str, Any]

    @property
    def rows(self) -> int:
        return len(self.keys["fov_name"])

    def key_of(self, i: int) -> tuple[Any, ...]:
        """``(fov_name, track_id, t, id)`` of sample cell ``i``."""
        return tuple(self.keys[c][i] for c in KEY_COLUMNS)


def oracle_path(directory: str | Path) -> Path:
    """Where a golden directory's ``oracle.json`` lives."""
    return Path(directory) / ORACLE_FILE


def _float(value: float) -> float | str:
    return value if math.isfinite(value) else repr(value)


def encode_oracle(section: OracleSection) -> tuple[str, bytes]:
    """``(oracle.json text, truth file bytes)``: canonical, so equal sections give equal bytes."""
    _check_section(section)
    blob = encode_full(
        {name: np.ascontiguousarray(section.truth[name], dtype="<f8") for name in ORACLE_ARRAYS}
    )
    fovs: dict[str, int] = {}
    for name in section.keys["fov_name"]:
        fovs[name] = fovs.get(name, 0) + 1
    document = {
        "schema": ORACLE_SCHEMA,
        "golden_dataset_digest": section.golden_dataset_digest,
        "golden_precision": section.golden_precision,
        "sample": {
            "rows": section.rows,
            "key_columns": list(KEY_COLUMNS),
            "fovs": fovs,
            "keys": {c: list(section.keys[c]) for c in KEY_COLUMNS},
        },
        "arrays": {
            name: {
                "width": int(section.truth[name].shape[1]),
                "truth_rms": section.golden_error[name].truth_rms,
            }
            for name in ORACLE_ARRAYS
        },
        "budgets": {
            cls: {n: _stats_json(section.budgets[cls][n]) for n in ORACLE_ARRAYS} for cls in CLASSES
        },
        "golden_error": {n: _stats_json(section.golden_error[n]) for n in ORACLE_ARRAYS},
        "oracle": dict(section.oracle),
        "truth": {
            "file": f"oracle-{bytes_digest(blob)}.bin",
            "xxh3_128": bytes_digest(blob),
            "bytes": len(blob),
            "dtype": "<f8",
            "codec": "repro-golden/full/1 shuffle-zlib9",
        },
    }
    text = json.dumps(document, indent=1, allow_nan=False, ensure_ascii=False) + "\n"
    return text, blob


def _stats_json(stats: ErrorStats) -> dict[str, float | str]:
    return {k: _float(v) for k, v in stats.to_dict().items()}


def _check_section(section: OracleSection) -> None:
    rows = section.rows
    for column in KEY_COLUMNS:
        if len(section.keys.get(column, ())) != rows:
            raise ValueError(f"key column {column!r} must have {rows} values")
    if len(set(zip(*(section.keys[c] for c in KEY_COLUMNS), strict=True))) != rows:
        raise ValueError("sample keys (fov_name, track_id, t, id) must be unique")
    for name in ORACLE_ARRAYS:
        truth = section.truth[name]
        if truth.ndim != 2 or truth.shape[0] != rows:
            raise ValueError(f"truth {name!r} must be ({rows}, width), got {truth.shape}")
        if not np.isfinite(truth).all():
            raise ValueError(f"truth {name!r} holds non-finite values")
    if set(section.budgets) != set(CLASSES):
        raise ValueError(f"budgets must cover {list(CLASSES)}, got {sorted(section.budgets)}")


def write_oracle(directory: str | Path, section: OracleSection) -> Path:
    """Write ``section`` into ``directory`` (data file, then ``oracle.json``); return its path.

    Serialized with other oracle writers of the directory by an exclusive lock;
    a reader sees the previous complete section or the new one.
    """
    text, blob = encode_oracle(section)
    target_dir = Path(directory)
    name = f"oracle-{bytes_digest(blob)}.bin"
    with directory_lock(target_dir, purpose="oracle"):
        for leftover in target_dir.glob(f".{ORACLE_FILE}.*.tmp"):
            leftover.unlink(missing_ok=True)
        for leftover in target_dir.glob(".oracle-*.bin.*.tmp"):
            leftover.unlink(missing_ok=True)
        data_path = target_dir / name
        if not (data_path.is_file() and bytes_digest(data_path.read_bytes()) == bytes_digest(blob)):
            write_bytes_atomic(data_path, blob, what="the oracle truth")
        write_text_atomic(oracle_path(target_dir), text, what="oracle.json")
        for stale in target_dir.glob("oracle-*.bin"):
            if stale.name != name:
                stale.unlink(missing_ok=True)
    return oracle_path(target_dir)


# --- reading ---------------------------------------------------------------------------


class _BadKeyError(Exception):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _get(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict):
        raise _BadKeyError(where, f"expected an object, got {type(mapping).__name__}")
    if key not in mapping:
        raise _BadKeyError(f"{where}.{key}" if where else key, "missing")
    return mapping[key]


def _number(value: Any, key: str) -> float:
    if isinstance(value, str) and value in ("inf", "nan"):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _BadKeyError(key, f"expected a number, got {value!r}")
    if value < 0:
        raise _BadKeyError(key, f"expected a number >= 0, got {value!r}")
    return float(value)


def _stats(value: Any, key: str) -> ErrorStats:
    return ErrorStats(*(_number(_get(value, s, key), f"{key}.{s}") for s in _STATS))


def _parse(data: Any, path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validated ``(document, truth entry)``; raises :class:`_BadKeyError` naming the key."""
    schema = _get(data, "schema", "")
    if schema != ORACLE_SCHEMA:
        raise _BadKeyError("schema", f"expected {ORACLE_SCHEMA!r}, got {schema!r}")
    digest = _get(data, "golden_dataset_digest", "")
    if not isinstance(digest, str) or not digest:
        raise _BadKeyError("golden_dataset_digest", f"expected a digest string, got {digest!r}")
    precision = _get(data, "golden_precision", "")
    if precision not in CLASSES:
        raise _BadKeyError(
            "golden_precision", f"expected one of {list(CLASSES)}, got {precision!r}"
        )
    sample = _get(data, "sample", "")
    rows = _get(sample, "rows", "sample")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise _BadKeyError("sample.rows", f"expected an integer >= 1, got {rows!r}")
    if _get(sample, "key_columns", "sample") != list(KEY_COLUMNS):
        raise _BadKeyError("sample.key_columns", f"expected {list(KEY_COLUMNS)}")
    keys = _get(sample, "keys", "sample")
    for column in KEY_COLUMNS:
        values = _get(keys, column, "sample.keys")
        kind: type = str if column == "fov_name" else int
        if (
            not isinstance(values, list)
            or len(values) != rows
            or not all(isinstance(v, kind) and not isinstance(v, bool) for v in values)
        ):
            raise _BadKeyError(
                f"sample.keys.{column}", f"expected {rows} values of type {kind.__name__}"
            )
    arrays = _get(data, "arrays", "")
    for name in ORACLE_ARRAYS:
        width = _get(_get(arrays, name, "arrays"), "width", f"arrays.{name}")
        if isinstance(width, bool) or not isinstance(width, int) or width < 1:
            raise _BadKeyError(f"arrays.{name}.width", f"expected an integer >= 1, got {width!r}")
    budgets = _get(data, "budgets", "")
    for cls in CLASSES:
        for name in ORACLE_ARRAYS:
            _stats(
                _get(_get(budgets, cls, "budgets"), name, f"budgets.{cls}"),
                f"budgets.{cls}.{name}",
            )
    for name in ORACLE_ARRAYS:
        _stats(_get(_get(data, "golden_error", ""), name, "golden_error"), f"golden_error.{name}")
    oracle = _get(data, "oracle", "")
    if not isinstance(oracle, dict):
        raise _BadKeyError("oracle", "expected an object")
    truth = _get(data, "truth", "")
    for field in ("file", "xxh3_128", "bytes"):
        _get(truth, field, "truth")
    name = truth["file"]
    if not isinstance(name, str) or name != f"oracle-{truth['xxh3_128']}.bin" or "/" in name:
        raise _BadKeyError("truth.file", f"expected 'oracle-<xxh3_128>.bin', got {name!r}")
    return data, truth


def read_oracle(
    directory: str | Path, *, golden_dataset_digest: str | None
) -> OracleSection | None:
    """The oracle section of a golden directory, verified; None when it has none.

    Raises :class:`GoldenFileError` (file, key, what was expected) for a
    section that is malformed, whose truth file is missing or does not match its
    digest and shapes, or (when ``golden_dataset_digest`` is given, as the check
    does with the manifest's) that was computed against other golden values.
    """
    path = oracle_path(directory)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise GoldenFileError(f"unreadable ({exc.strerror or exc})", path=path) from exc
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise GoldenFileError(f"not JSON ({type(exc).__name__})", path=path) from None
    try:
        data, truth_entry = _parse(data, path)
    except _BadKeyError as bad:
        raise GoldenFileError(str(bad), path=path, key=bad.key) from None
    if golden_dataset_digest is not None and data["golden_dataset_digest"] != golden_dataset_digest:
        raise GoldenFileError(
            f"computed for golden values {data['golden_dataset_digest']}, but golden.json now "
            f"records {golden_dataset_digest}: rewrite it with `golden write --oracle CONFIG` "
            f"or remove {ORACLE_FILE} and its oracle-*.bin",
            path=path,
            key="golden_dataset_digest",
        )
    data_path = Path(directory) / truth_entry["file"]
    blob = read_content_file(Path(directory), truth_entry, key="truth", manifest=ORACLE_FILE)
    rows = data["sample"]["rows"]
    shapes = {name: ("<f8", (rows, int(data["arrays"][name]["width"]))) for name in ORACLE_ARRAYS}
    truth = decode_full(blob, data_path, shapes=shapes)
    keys = {c: tuple(data["sample"]["keys"][c]) for c in KEY_COLUMNS}
    if len(set(zip(*keys.values(), strict=True))) != rows:
        raise GoldenFileError(
            "sample keys (fov_name, track_id, t, id) are not unique", path=path, key="sample.keys"
        )
    return OracleSection(
        golden_dataset_digest=data["golden_dataset_digest"],
        keys=keys,
        truth=truth,
        budgets={
            cls: {n: _stats(data["budgets"][cls][n], "") for n in ORACLE_ARRAYS} for cls in CLASSES
        },
        golden_error={n: _stats(data["golden_error"][n], "") for n in ORACLE_ARRAYS},
        golden_precision=data["golden_precision"],
        oracle=data["oracle"],
    )


def oracle_files(directory: str | Path) -> list[Path]:
    """The files an oracle section owns in ``directory`` (data file first, ``oracle.json``
    last), for whoever deletes a golden set (``--golden-unused=delete``); [] when there
    is no ``oracle.json`` of this schema. Only the data file it names is listed, so a
    file of another tool is never claimed."""
    path = oracle_path(directory)
    if path.is_symlink() or not path.is_file():
        return []
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(data, dict) or data.get("schema") != ORACLE_SCHEMA:
        return []
    truth = data.get("truth")
    name = truth.get("file") if isinstance(truth, dict) else None
    files = []
    if isinstance(name, str) and re.fullmatch(r"oracle-[0-9a-f]{32}\.bin", name):
        data_path = Path(directory) / name
        if data_path.is_file() and not data_path.is_symlink():
            files.append(data_path)
    return [*files, path]
