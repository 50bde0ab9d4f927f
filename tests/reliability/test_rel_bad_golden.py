"""Bad golden files: each is refused (GoldenFileError / CLI exit 2) naming file and key.

None is ever treated as a pass, and none is silently rewritten: the golden
directory's bytes are the same after the failed check.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rel_stores import cli

from repro_golden.api import check_golden
from repro_golden.errors import GoldenFileError

Manifest = dict[str, Any]


def _sketch(golden: Path) -> Path:
    return next(golden.glob("sketch-*.bin"))


def _edit_sketch_header(golden: Path, manifest: Manifest, edit: Callable[[dict], None]) -> None:
    """Rewrite the sketch header with ``edit`` and re-point the manifest at the new file,
    so the sketch's digest matches and only its content is wrong."""
    import struct

    from repro_golden.core.digest import bytes_digest
    from repro_golden.core.golden.format import SKETCH_MAGIC

    old = _sketch(golden)
    blob = old.read_bytes()
    start = len(SKETCH_MAGIC) + 8
    (length,) = struct.unpack("<Q", blob[len(SKETCH_MAGIC) : start])
    header = json.loads(blob[start : start + length])
    edit(header)
    raw = json.dumps(header).encode()
    new = SKETCH_MAGIC + struct.pack("<Q", len(raw)) + raw + blob[start + length :]
    digest = bytes_digest(new)
    old.unlink()
    (golden / f"sketch-{digest}.bin").write_bytes(new)
    manifest["sketch"].update(file=f"sketch-{digest}.bin", xxh3_128=digest, bytes=len(new))


def _entry(header: dict, name: str) -> dict:
    return next(e for e in header["arrays"] if e["name"] == name)


# Each case: (id, manifest edit (may touch the directory), expected key or None, message regex)
def _wrong_shape(golden: Path, m: Manifest) -> None:
    _edit_sketch_header(golden, m, lambda h: _entry(h, "X.row_sum").update(shape=[59], nbytes=236))


def _wrong_dtype(golden: Path, m: Manifest) -> None:
    _edit_sketch_header(golden, m, lambda h: _entry(h, "X.row_norm").update(dtype="<f8"))


def _missing_sketch_array(golden: Path, m: Manifest) -> None:
    _edit_sketch_header(
        golden, m, lambda h: h.update(arrays=[e for e in h["arrays"] if e["name"] != "X.signs"])
    )


def _sketch_offset_outside(golden: Path, m: Manifest) -> None:
    _edit_sketch_header(golden, m, lambda h: _entry(h, "X.col_sum").update(offset=10**9))


def _drop(path: str) -> Callable[[Path, Manifest], None]:
    def edit(golden: Path, m: Manifest) -> None:
        *parents, last = path.split(".")
        node: Any = m
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node.pop(int(last))
        else:
            del node[last]

    return edit


def _set(path: str, value: Any) -> Callable[[Path, Manifest], None]:
    def edit(golden: Path, m: Manifest) -> None:
        *parents, last = path.split(".")
        node: Any = m
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value

    return edit


def _flip_digest(path: str) -> Callable[[Path, Manifest], None]:
    """A well-formed digest with one hex digit changed (caught by the Merkle re-check)."""

    def edit(golden: Path, m: Manifest) -> None:
        *parents, last = path.split(".")
        node: Any = m
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        old = node[last]
        node[last] = ("0" if old[0] != "0" else "1") + old[1:]

    return edit


def _delete_sketch(golden: Path, m: Manifest) -> None:
    _sketch(golden).unlink()


def _corrupt_sketch(golden: Path, m: Manifest) -> None:
    sketch = _sketch(golden)
    data = bytearray(sketch.read_bytes())
    data[-3] ^= 0x10
    sketch.write_bytes(bytes(data))


def _truncate_sketch(golden: Path, m: Manifest) -> None:
    sketch = _sketch(golden)
    sketch.write_bytes(sketch.read_bytes()[:100])


MANIFEST_CASES: list[tuple[str, Callable[[Path, Manifest], None], str | None, str]] = [
    ("future-schema", _set("schema", "repro-golden/golden/3"), "schema", "expected schema"),
    ("unknown-schema", _set("schema", "something/else"), "schema", "expected schema"),
    ("no-schema", _drop("schema"), "schema", "expected schema"),
    ("missing-fov-entry", _drop("fovs.1"), "fovs", "3 FOVs, the list has 2"),
    ("no-fovs", _set("fovs", []), "fovs", "the list has 0"),
    ("fovs-not-list", _set("fovs", {}), "fovs", "expected a list"),
    ("fov-missing-name", _drop("fovs.0.name"), "fovs[0].name", "missing key"),
    ("fov-missing-arrays", _drop("fovs.2.arrays"), "fovs[2].arrays", "missing key"),
    ("fov-missing-array-X", _drop("fovs.0.arrays.X"), "fovs[0].arrays", "expected"),
    (
        "fov-missing-stats-key",
        _drop("fovs.1.arrays.X.stats.max"),
        "fovs[1].arrays.X.stats.max",
        "missing key",
    ),
    ("fov-renamed-duplicate", _set("fovs.1.name", "A/1/0"), "fovs[1].digest", "part digests"),
    ("fov-rows-wrong", _set("fovs.0.rows", 19), "fovs[0].arrays.X.stats.rows", "expected 19"),
    ("fov-offset-wrong", _set("fovs.1.offset", 3), "fovs[1].offset", "expected 20"),
    ("fov-rows-negative", _set("fovs.0.rows", -1), "fovs[0].rows", "integer >= 0"),
    ("fov-rows-string", _set("fovs.0.rows", "20"), "fovs[0].rows", "integer >= 0"),
    (
        "stats-nan-string",
        _set("fovs.0.arrays.X.stats.mean", "nan"),
        "fovs[0].arrays.X.stats.mean",
        "finite number",
    ),
    ("digest-short", _set("fovs.0.digest", "abc"), "fovs[0].digest", "32-digit"),
    ("digest-long", _set("dataset.digest", "0" * 33), "dataset.digest", "32-digit"),
    ("digest-upper", _set("fovs.0.index_digest", "A" * 32), "fovs[0].index_digest", "32-digit"),
    (
        "digest-null",
        _set("fovs.2.arrays.X_projections.digest", None),
        "fovs[2].arrays.X_projections.digest",
        "32-digit",
    ),
    (
        "multiset-digest-short",
        _set("fovs.0.index_multiset_digest", "00"),
        "fovs[0].index_multiset_digest",
        "32-digit",
    ),
    (
        "array-digest-flipped",
        _flip_digest("fovs.0.arrays.X.digest"),
        "fovs[0].digest",
        "part digests",
    ),
    ("index-digest-flipped", _flip_digest("fovs.1.index_digest"), "fovs[1].digest", "part digests"),
    ("fov-digest-flipped", _flip_digest("fovs.2.digest"), "fovs[2].digest", "part digests"),
    ("dataset-digest-flipped", _flip_digest("dataset.digest"), "dataset.digest", "FOV digests"),
    ("dataset-rows-wrong", _set("dataset.rows", 61), "dataset.rows", "add up to 60"),
    ("dataset-fovs-wrong", _set("dataset.fovs", 4), "fovs", "4 FOVs"),
    ("no-dataset", _drop("dataset"), "dataset", "missing key"),
    ("array-missing", _drop("dataset.arrays.X_projections"), "dataset.arrays", "expected arrays"),
    (
        "array-dtype-int",
        _set("dataset.arrays.X.dtype", "<i4"),
        "dataset.arrays.X.dtype",
        "floating dtype",
    ),
    (
        "array-dtype-garbage",
        _set("dataset.arrays.X.dtype", "float99"),
        "dataset.arrays.X.dtype",
        "floating dtype",
    ),
    ("array-width-wrong", _set("dataset.arrays.X.width", 15), "X.signs", "shape \\[15\\]"),
    (
        "index-columns-no-fov",
        _set("dataset.index_columns", ["t"]),
        "dataset.index_columns",
        "fov_name",
    ),
    ("sketch-path-escape", _set("sketch.file", "../../etc/passwd"), "sketch.file", "expected"),
    ("sketch-name-mismatch", _set("sketch.xxh3_128", "0" * 32), "sketch.file", "expected"),
    ("sketch-format", _set("sketch.format", "repro-golden/sketch/9"), "sketch.format", "expected"),
    ("sketch-missing", _delete_sketch, "sketch.file", "missing or unreadable"),
    ("sketch-bit-flip", _corrupt_sketch, None, "does not match its digest"),
    ("sketch-truncated", _truncate_sketch, None, "does not match its digest"),
    ("sketch-array-wrong-shape", _wrong_shape, "X.row_sum", "expected dtype <f4 and shape"),
    ("sketch-array-wrong-dtype", _wrong_dtype, "X.row_norm", "expected dtype <f4"),
    ("sketch-array-missing", _missing_sketch_array, "X.signs", "missing from the sketch"),
    ("sketch-array-outside", _sketch_offset_outside, "X.col_sum", "outside the file"),
    ("case-not-string", _set("case", 3), "case", "string or null"),
]

RAW_CASES: list[tuple[str, bytes, str]] = [
    ("empty", b"", "empty file"),
    ("whitespace", b"  \n", "empty file"),
    ("truncated-json", b'{"schema": "repro-golden/golden/1", "case": "ti', "not readable JSON"),
    ("json-array", b"[1, 2]", "expected a JSON object"),
    ("json-nan", b'{"schema": NaN}', "not readable JSON"),
    ("binary", b"\xff\xfe\x00garbage", "not readable JSON"),
    ("deep-nesting", b"[" * 100_000 + b"]" * 100_000, "not readable JSON"),
]


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


@pytest.mark.parametrize(
    ("edit", "key", "message"),
    [pytest.param(e, k, m, id=i) for i, e, k, m in MANIFEST_CASES],
)
def test_bad_golden_manifest_is_refused_naming_file_and_key(
    golden: Path,
    reference: Path,
    edit: Callable[[Path, Manifest], None],
    key: str | None,
    message: str,
) -> None:
    manifest = json.loads((golden / "golden.json").read_text())
    edit(golden, manifest)
    (golden / "golden.json").write_text(json.dumps(manifest))
    before = _snapshot(golden)
    with pytest.raises(GoldenFileError, match=message) as info:
        check_golden(reference, golden)
    assert info.value.key == key
    assert info.value.path is not None
    assert info.value.path.parent == golden
    assert str(info.value.path) in str(info.value)
    assert _snapshot(golden) == before  # never silently rewritten


@pytest.mark.parametrize(("raw", "message"), [pytest.param(r, m, id=i) for i, r, m in RAW_CASES])
def test_unparsable_golden_json_is_refused(
    golden: Path, reference: Path, raw: bytes, message: str
) -> None:
    (golden / "golden.json").write_bytes(raw)
    with pytest.raises(GoldenFileError, match=message) as info:
        check_golden(reference, golden)
    assert info.value.path == golden / "golden.json"


def test_golden_of_another_case_is_refused(golden: Path, reference: Path) -> None:
    assert check_golden(reference, golden, case="tiny").passed
    with pytest.raises(GoldenFileError, match="case 'tiny', expected case 'other'") as info:
        check_golden(reference, golden, case="other")
    assert info.value.key == "case"


@pytest.mark.parametrize(
    "case_id", ["future-schema", "missing-fov-entry", "digest-short", "sketch-array-wrong-shape"]
)
def test_cli_exits_2_on_bad_golden_naming_file_and_key(
    golden: Path, reference: Path, case_id: str
) -> None:
    _, edit, key, _ = next(c for c in MANIFEST_CASES if c[0] == case_id)
    manifest = json.loads((golden / "golden.json").read_text())
    edit(golden, manifest)
    (golden / "golden.json").write_text(json.dumps(manifest))
    before = _snapshot(golden)
    result = cli("check", reference, "--golden", golden)
    assert result.returncode == 2, result.stdout + result.stderr
    assert str(golden) in result.stderr
    assert f"[{key}]" in result.stderr
    assert "Traceback" not in result.stderr
    assert _snapshot(golden) == before


def test_cli_case_option_refuses_another_case(golden: Path, reference: Path) -> None:
    ok = cli("check", reference, "--golden", golden, "--case", "tiny")
    assert ok.returncode == 0, ok.stderr
    wrong = cli("check", reference, "--golden", golden, "--case", "other")
    assert wrong.returncode == 2
    assert "[case]" in wrong.stderr
    assert "golden.json" in wrong.stderr


def test_cli_truncated_and_empty_golden_exit_2(
    golden: Path, reference: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(golden, copy)
    text = (golden / "golden.json").read_bytes()
    for raw in (b"", text[: len(text) // 2]):
        (copy / "golden.json").write_bytes(raw)
        result = cli("check", reference, "--golden", copy)
        assert result.returncode == 2, result.stdout
        assert str(copy / "golden.json") in result.stderr


def test_valid_golden_still_reads_with_nonfinite_rows(tmp_path: Path) -> None:
    """The strict reader accepts what the writer writes, non-finite rows included."""
    from rel_stores import arrays, write_store

    from repro_golden.api import write_golden

    data = arrays()
    data["X"][[3, 30], 1] = [np.nan, np.inf]
    store = write_store(tmp_path / "nan.zarr", data)
    write_golden(store, tmp_path / "g")
    assert check_golden(store, tmp_path / "g").passed
