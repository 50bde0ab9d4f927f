"""Bad embeddings and references: a precise outcome or an EmbeddingsError, never a crash.

Each bad store is tried in every role: checked against golden files, compared
as obtained and as reference, and summarized into golden files. The CLI turns
an EmbeddingsError into exit 2 with the file and key named, without a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rel_stores import arrays, cli, write_store

from repro_golden.api import check_golden, compare_embeddings, write_golden
from repro_golden.core.outcomes import Status
from repro_golden.errors import EmbeddingsError


def _no_x(d: dict) -> None:
    d["X"] = None


def _no_projections(d: dict) -> None:
    d["P"] = None


def _x_3d(d: dict) -> None:
    d["X"] = d["X"].reshape(60, 4, 4)


def _x_int(d: dict) -> None:
    d["X"] = d["X"].astype(np.int32)


def _rows_differ(d: dict) -> None:
    d["P"] = d["P"][:-1]


def _empty(d: dict) -> None:
    for key in d:
        d[key] = d[key][:0]


def _no_fov_name(d: dict) -> None:
    del d["fov_name"]


# Stores that cannot be used at all: EmbeddingsError naming the key.
ERROR_CASES: list[tuple[str, Callable[[dict], None] | None, str, str]] = [
    ("missing-X", _no_x, "X", "missing array"),
    ("missing-projections", _no_projections, "obsm/X_projections", "missing array"),
    ("X-3d", _x_3d, "X", "2-D floating-point"),
    ("X-integer", _x_int, "X", "2-D floating-point"),
    ("row-count-mismatch", _rows_differ, "obsm/X_projections", "expected 60 rows"),
    ("empty-obs", _empty, "obs", "no rows"),
    ("missing-fov_name", _no_fov_name, "obs/fov_name", "missing obs column"),
]


def _missing_chunk(path: Path) -> None:
    (path / "X" / "2.0").unlink()


def _missing_projection_chunk(path: Path) -> None:
    (path / "obsm" / "X_projections" / "0.0").unlink()


def _truncated_chunk(path: Path) -> None:
    chunk = path / "X" / "3.0"
    chunk.write_bytes(chunk.read_bytes()[:11])


def _garbage_chunk(path: Path) -> None:
    (path / "obsm" / "X_projections" / "1.0").write_bytes(b"\x00" * 7)


def _truncated_metadata(path: Path) -> None:
    meta = path / "X" / ".zarray"
    meta.write_bytes(meta.read_bytes()[:20])


FILE_CASES: list[tuple[str, Callable[[Path], None], str, str]] = [
    ("missing-X-chunk", _missing_chunk, "X", "1 of 8 chunk files missing"),
    ("missing-projection-chunk", _missing_projection_chunk, "obsm/X_projections", "missing"),
    ("truncated-X-chunk", _truncated_chunk, "X", "unreadable chunk"),
    ("garbage-projection-chunk", _garbage_chunk, "obsm/X_projections", "unreadable chunk"),
]


def _roles(bad: Path, reference: Path, golden: Path, tmp_path: Path) -> list[Callable[[], object]]:
    return [
        lambda: check_golden(bad, golden),
        lambda: compare_embeddings(bad, reference),
        lambda: compare_embeddings(reference, bad),
        lambda: write_golden(bad, tmp_path / "bad.golden"),
    ]


def _assert_refused(
    bad: Path, reference: Path, golden: Path, tmp_path: Path, key: str, message: str
) -> None:
    for role in _roles(bad, reference, golden, tmp_path):
        with pytest.raises(EmbeddingsError, match=message) as info:
            role()
        assert info.value.key == key
        assert info.value.path == bad
    assert not (tmp_path / "bad.golden" / "golden.json").exists()


@pytest.mark.parametrize(
    ("edit", "key", "message"), [pytest.param(e, k, m, id=i) for i, e, k, m in ERROR_CASES]
)
def test_unusable_store_raises_embeddings_error(
    tmp_path: Path,
    reference: Path,
    golden: Path,
    edit: Callable[[dict], None],
    key: str,
    message: str,
) -> None:
    data = arrays()
    edit(data)
    bad = write_store(tmp_path / "bad.zarr", data)
    _assert_refused(bad, reference, golden, tmp_path, key, message)


@pytest.mark.parametrize(
    ("damage", "key", "message"), [pytest.param(d, k, m, id=i) for i, d, k, m in FILE_CASES]
)
def test_damaged_chunk_files_raise_embeddings_error(
    tmp_path: Path,
    reference: Path,
    golden: Path,
    damage: Callable[[Path], None],
    key: str,
    message: str,
) -> None:
    bad = write_store(tmp_path / "bad.zarr")
    damage(bad)
    _assert_refused(bad, reference, golden, tmp_path, key, message)


def test_truncated_array_metadata_is_an_embeddings_error(
    tmp_path: Path, reference: Path, golden: Path
) -> None:
    bad = write_store(tmp_path / "bad.zarr")
    _truncated_metadata(bad)
    for role in _roles(bad, reference, golden, tmp_path):
        with pytest.raises(EmbeddingsError) as info:
            role()
        assert info.value.path == bad


def _with(edit: Callable[[dict], None]) -> dict:
    data = arrays()
    edit(data)
    return data


def _nan(d: dict) -> None:
    d["X"][5, 3] = np.nan


def _posinf(d: dict) -> None:
    d["P"][25, 0] = np.inf


def _neginf(d: dict) -> None:
    d["X"][45, 15] = -np.inf


def _float64(d: dict) -> None:
    d["X"] = d["X"].astype(np.float64)


def _float16(d: dict) -> None:
    d["P"] = d["P"].astype(np.float16)


def _wider(d: dict) -> None:
    d["X"] = np.concatenate([d["X"], d["X"][:, :1]], axis=1)


def _duplicate_rows(d: dict) -> None:
    for column in ("track_id", "t", "id"):
        d[column][7] = d[column][6]


def _swap_rows(d: dict) -> None:
    order = np.arange(60)
    order[[2, 3]] = [3, 2]
    for key in d:
        d[key] = d[key][order]


# Stores that are usable but differ: a failing outcome of the expected status.
OUTCOME_CASES: list[tuple[str, Callable[[dict], None], Status]] = [
    ("nan-in-X", _nan, Status.VIOLATED),
    ("posinf-in-projections", _posinf, Status.VIOLATED),
    ("neginf-in-X", _neginf, Status.VIOLATED),
    ("dtype-float64", _float64, Status.DTYPE_CHANGED),
    ("dtype-float16", _float16, Status.DTYPE_CHANGED),
    ("shape-wider", _wider, Status.SHAPE_CHANGED),
    ("duplicate-index-rows", _duplicate_rows, Status.INDEX_CHANGED),
    ("rows-swapped", _swap_rows, Status.ROWS_REORDERED),
]


@pytest.mark.parametrize(
    ("edit", "status"), [pytest.param(e, s, id=i) for i, e, s in OUTCOME_CASES]
)
def test_differing_store_gives_a_precise_failing_outcome(
    tmp_path: Path, reference: Path, golden: Path, edit: Callable[[dict], None], status: Status
) -> None:
    bad = write_store(tmp_path / "bad.zarr", _with(edit))
    # Value changes in one FOV of three: by default the identical-by-evidence rung names
    # them (the other FOVs reproduce); without it, the value rung's own status.
    by_evidence = {Status.CHANGED_WHILE_REST_REPRODUCES} if status is Status.VIOLATED else {status}
    for report, statuses in (
        (check_golden(bad, golden), by_evidence),
        (check_golden(bad, golden, reference=reference), by_evidence),
        (check_golden(bad, golden, evidence=False), {status}),
        (compare_embeddings(bad, reference), {status}),
        (compare_embeddings(reference, bad), {status}),
    ):
        assert not report.passed
        assert statuses <= {o.status for o in report.outcomes if not o.passed}, report.outcomes
    # The bad store as its own reference: golden files of it check it bit-for-bit.
    write_golden(bad, tmp_path / "self.golden")
    assert check_golden(bad, tmp_path / "self.golden").passed


def test_nan_in_reference_and_obtained_passes_only_with_equal_nan(tmp_path: Path) -> None:
    from repro_golden.core.tolerance import ToleranceSpec

    data = _with(_nan)
    left = write_store(tmp_path / "left.zarr", data)
    data["X"][0, 0] += 1e-6
    right = write_store(tmp_path / "right.zarr", data)
    loose = ToleranceSpec(atol=1e-4)
    assert compare_embeddings(left, right, tolerance=loose).passed
    strict = ToleranceSpec(atol=1e-4, equal_nan=False)
    assert not compare_embeddings(left, right, tolerance=strict).passed


@pytest.mark.parametrize("command", ["check", "compare", "write"])
def test_cli_exits_2_naming_file_and_key(
    tmp_path: Path, reference: Path, golden: Path, command: str
) -> None:
    bad = write_store(tmp_path / "bad.zarr")
    _missing_chunk(bad)
    args = {
        "check": ("check", bad, "--golden", golden),
        "compare": ("compare", bad, reference),
        "write": ("golden", "write", bad, "--out", tmp_path / "out"),
    }[command]
    result = cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{bad}: [X]" in result.stderr
    assert "Traceback" not in result.stderr
