"""Golden directory: schema, content-addressed sketch, atomic commit, errors, size."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from core_stores import Embeddings, make_embeddings

from repro_golden.api import write_golden
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden.format import SCHEMA
from repro_golden.core.golden.store import GoldenStore
from repro_golden.core.golden.summarize import summarize
from repro_golden.errors import GoldenFileError

Writer = Callable[..., Path]


def test_round_trip_keeps_digests_stats_and_sketch(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    store = EmbeddingsStore(write_store("ref", embeddings))
    built = summarize(store, case="demo")
    GoldenStore(tmp_path / "g").write(built)
    read = GoldenStore(tmp_path / "g").read()
    assert read.dataset_digest == built.dataset_digest
    assert read.case == "demo"
    assert [f.name for f in read.fovs] == ["A/1/0", "B/1/0", "C/1/0"]
    assert read.fovs[1].offset == 40
    assert read.fovs[1].stats["X"] == built.fovs[1].stats["X"]
    np.testing.assert_array_equal(
        read.arrays["X"].rows.norms, built.arrays["X"].rows.norms.astype(np.float32)
    )
    np.testing.assert_array_equal(read.arrays["X"].columns.sums, built.arrays["X"].columns.sums)
    assert read.provenance["embeddings"] == embeddings.uns
    assert read.provenance["checker"]["numpy"] == np.__version__


def test_manifest_is_readable_json_with_schema_and_sketch_reference(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    manifest = write_golden(write_store("ref", embeddings), tmp_path / "g", case="demo")
    data = json.loads(manifest.read_text())
    assert data["schema"] == SCHEMA
    sketch = tmp_path / "g" / data["sketch"]["file"]
    assert sketch.name == f"sketch-{data['sketch']['xxh3_128']}.bin"
    assert sketch.stat().st_size == data["sketch"]["bytes"]
    assert data["fovs"][0]["arrays"]["X"]["stats"]["rows"] == 40


def test_rewrite_is_deterministic_and_removes_stale_sketches_only(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    golden_dir = tmp_path / "g"
    golden_dir.mkdir()
    (golden_dir / "inputs.json").write_text('{"kept": true}\n')
    first = write_golden(write_store("ref", embeddings), golden_dir).read_bytes()
    again = write_golden(write_store("ref", embeddings), golden_dir).read_bytes()
    assert again == first
    other = make_embeddings(seed=5)
    write_golden(write_store("other", other), golden_dir)
    sketches = sorted(p.name for p in golden_dir.glob("sketch-*.bin"))
    assert len(sketches) == 1
    assert (golden_dir / "inputs.json").read_text() == '{"kept": true}\n'


def test_missing_wrong_schema_and_corrupt_sketch(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    with pytest.raises(GoldenFileError, match=r"no golden\.json"):
        GoldenStore(tmp_path / "absent").read()
    manifest = write_golden(write_store("ref", embeddings), tmp_path / "g")
    data = json.loads(manifest.read_text())
    sketch = tmp_path / "g" / data["sketch"]["file"]
    sketch.write_bytes(sketch.read_bytes()[:-1] + b"\x00")
    with pytest.raises(GoldenFileError, match="does not match its digest"):
        GoldenStore(tmp_path / "g").read()
    manifest.write_text(json.dumps({**data, "schema": "repro-golden/golden/0"}))
    with pytest.raises(GoldenFileError, match="expected schema") as info:
        GoldenStore(tmp_path / "g").read()
    assert info.value.key == "schema"
    manifest.write_text("{not json")
    with pytest.raises(GoldenFileError, match="not readable JSON"):
        GoldenStore(tmp_path / "g").read()


def test_sketch_grows_by_24_bytes_per_row(write_store: Writer, tmp_path: Path) -> None:
    """3 float32 per row and array: the size budget (<= 1% at 800 columns) rests on this."""
    sizes = []
    for rows in (100, 300):
        emb = make_embeddings((rows,), width=32, proj=8)
        manifest = write_golden(write_store(f"e{rows}", emb), tmp_path / f"g{rows}")
        sizes.append(json.loads(manifest.read_text())["sketch"]["bytes"])
    # 24 bytes per row; the JSON header grows by a few digits of offsets and shapes.
    assert 200 * 24 <= sizes[1] - sizes[0] <= 200 * 24 + 32


def test_golden_digests_equal_direct_digests_with_nan(write_store: Writer) -> None:
    """The golden pass skips the NaN check only where its flags prove there is no NaN."""
    from repro_golden.core.digest import array_digest

    emb = make_embeddings()
    x = emb.X.copy()
    x[41, 0] = np.nan  # FOV B
    store = EmbeddingsStore(write_store("nan", emb.with_(X=x)))
    built = summarize(store)
    for fov in built.fovs:
        block = store.read_fov(fov.name)
        assert fov.array_digests["X"] == array_digest(block.arrays["X"])


def test_case_mapping_and_provenance_become_strict_json(
    embeddings: Embeddings, write_store: Writer, tmp_path: Path
) -> None:
    case = {
        "name": "demo",
        "data": {"data_path": tmp_path / "plate.zarr", "z_range": (0, 1)},
        "tolerance": {"atol": float("inf")},
    }
    manifest = write_golden(write_store("ref", embeddings), tmp_path / "g", case=case)
    data = json.loads(manifest.read_text())
    assert data["case"] == "demo"
    assert data["provenance"]["case_config"]["data"] == {
        "data_path": str(tmp_path / "plate.zarr"),
        "z_range": [0, 1],
    }
    assert data["provenance"]["case_config"]["tolerance"]["atol"] == "inf"


def test_publish_is_the_one_policy_new_staged_existing_in_place_or_refused(
    write_store: Callable[..., Path], tmp_path: Path
) -> None:
    """New: published whole (a failing writer leaves nothing); existing: rewritten in
    place with overwrite (files beside the set, like inputs.json, stay), refused without."""
    from repro_golden.errors import OutputExistsError

    store = write_store("ref", make_embeddings())
    target = GoldenStore(tmp_path / "golden" / "demo")

    def failing(directory: Path) -> None:
        write_golden(store, directory)
        raise RuntimeError("writer died")

    with pytest.raises(RuntimeError):
        target.publish(failing, overwrite=False)
    assert not (tmp_path / "golden").exists()  # nothing left, parents included
    manifest = target.publish(lambda d: write_golden(store, d, case="demo"), overwrite=False)
    assert GoldenStore(manifest.parent).read().case == "demo"
    (target.directory / "inputs.json").write_text("{}")
    with pytest.raises(OutputExistsError, match="output exists"):
        target.publish(lambda d: write_golden(store, d), overwrite=False)
    target.publish(lambda d: write_golden(store, d, case="demo"), overwrite=True)
    assert (target.directory / "inputs.json").read_text() == "{}"
    assert target.recorded_case() == "demo"


def test_two_publishers_take_turns(write_store: Callable[..., Path], tmp_path: Path) -> None:
    """Two publishers of one new directory (xdist workers regenerating one set): one stages
    and publishes it, the other waits for the lock and rewrites it in place; no error."""
    import threading

    store = write_store("ref", make_embeddings())
    target = GoldenStore(tmp_path / "g")
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            target.publish(lambda d: write_golden(store, d, case="demo"), overwrite=True)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert target.read().case == "demo"


def test_recorded_case_reads_the_manifest_alone(
    write_store: Callable[..., Path], tmp_path: Path
) -> None:
    """A damaged set of another case is still recognized (and so never rewritten)."""
    write_golden(write_store("ref", make_embeddings()), tmp_path / "g", case="other")
    for data_file in (tmp_path / "g").glob("sketch-*.bin"):
        data_file.write_bytes(b"damaged")
    with pytest.raises(GoldenFileError):
        GoldenStore(tmp_path / "g").read()
    assert GoldenStore(tmp_path / "g").recorded_case() == "other"
    assert GoldenStore(tmp_path / "absent").recorded_case() is None
