"""EmbeddingsStore: both zarr formats, FOV grouping, streaming reads, clear errors."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import zarr
from core_stores import Embeddings, write_zarr_direct

from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.errors import EmbeddingsError


@pytest.mark.parametrize("how", ["anndata", "zarr2", "zarr3"])
def test_reads_arrays_obs_and_fovs_in_first_appearance_order(
    how: str, embeddings: Embeddings, write_store: Callable[..., Path]
) -> None:
    store = EmbeddingsStore(write_store("emb", embeddings, how))
    assert store.zarr_format == (3 if how == "zarr3" else 2)
    assert store.fov_names == ("A/1/0", "B/1/0", "C/1/0")
    assert store.index_columns == (
        "fov_name",
        "track_id",
        "t",
        "id",
        "parent_track_id",
        "parent_id",
    )
    blocks = list(store.iter_fovs())
    np.testing.assert_array_equal(np.concatenate([b.arrays["X"] for b in blocks]), embeddings.X)
    np.testing.assert_array_equal(
        np.concatenate([b.arrays["X_projections"] for b in blocks]), embeddings.P
    )
    assert blocks[1].index["fov_name"].tolist() == ["B/1/0"] * 30
    np.testing.assert_array_equal(blocks[1].index["id"], np.arange(40, 70))


def test_interleaved_fovs_keep_dataset_order(tmp_path: Path, embeddings: Embeddings) -> None:
    names = embeddings.obs["fov_name"].copy()
    names[::2] = "Z/9/9"  # first row: Z comes first, and rows interleave
    emb = embeddings.with_(obs={**embeddings.obs, "fov_name": names})
    store = EmbeddingsStore(write_zarr_direct(tmp_path / "e.zarr", emb, zarr_format=3))
    assert store.fov_names[0] == "Z/9/9"
    rows = store.fov_rows("Z/9/9")
    np.testing.assert_array_equal(rows, np.arange(0, 120, 2))
    np.testing.assert_array_equal(store.read_fov("Z/9/9").arrays["X"], emb.X[::2])


def test_provenance_is_decoded_from_uns(
    embeddings: Embeddings, write_store: Callable[..., Path]
) -> None:
    store = EmbeddingsStore(write_store("emb", embeddings))
    assert store.provenance() == {"device": "cpu", "numerics": {"deterministic": True, "seed": 42}}


def _drop(path: Path, key: str) -> None:
    shutil.rmtree(path / key)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("X", "missing array"),
        ("obsm/X_projections", "missing array"),
        ("obs/fov_name", "missing obs column"),
    ],
)
def test_missing_parts_are_named(
    tmp_path: Path, embeddings: Embeddings, key: str, message: str
) -> None:
    path = write_zarr_direct(tmp_path / "e.zarr", embeddings, zarr_format=3)
    _drop(path, key)
    with pytest.raises(EmbeddingsError, match=message) as info:
        EmbeddingsStore(path)
    assert info.value.key == key
    assert info.value.path == path


def test_integer_array_is_rejected(tmp_path: Path, embeddings: Embeddings) -> None:
    emb = embeddings.with_(X=np.zeros(embeddings.X.shape, dtype=np.int32))
    with pytest.raises(EmbeddingsError, match="floating-point") as info:
        EmbeddingsStore(write_zarr_direct(tmp_path / "e.zarr", emb, zarr_format=2))
    assert info.value.key == "X"


def test_row_count_mismatch_is_rejected(tmp_path: Path, embeddings: Embeddings) -> None:
    emb = embeddings.with_(P=embeddings.P[:-1])
    with pytest.raises(EmbeddingsError, match="expected 120 rows"):
        EmbeddingsStore(write_zarr_direct(tmp_path / "e.zarr", emb, zarr_format=3))


def test_unreadable_chunk_is_reported(tmp_path: Path, embeddings: Embeddings) -> None:
    path = write_zarr_direct(tmp_path / "e.zarr", embeddings, zarr_format=3)
    chunk = next(p for p in (path / "X").rglob("*") if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"definitely not a compressed chunk")
    store = EmbeddingsStore(path)
    with pytest.raises(EmbeddingsError, match="unreadable chunk") as info:
        list(store.iter_fovs())
    assert info.value.key == "X"


def test_not_a_zarr_store(tmp_path: Path) -> None:
    with pytest.raises(EmbeddingsError, match="no such"):
        EmbeddingsStore(tmp_path / "absent.zarr")
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(EmbeddingsError):
        EmbeddingsStore(tmp_path / "empty.zarr")


def test_group_instead_of_array(tmp_path: Path, embeddings: Embeddings) -> None:
    path = write_zarr_direct(tmp_path / "e.zarr", embeddings, zarr_format=3)
    _drop(path, "obsm/X_projections")
    zarr.open_group(str(path / "obsm"), mode="a").create_group("X_projections")
    with pytest.raises(EmbeddingsError, match="found a group"):
        EmbeddingsStore(path)


@pytest.mark.parametrize("interleaved", [False, True])
def test_small_read_windows_give_the_same_blocks(
    tmp_path: Path, embeddings: Embeddings, monkeypatch: pytest.MonkeyPatch, interleaved: bool
) -> None:
    """Window switching (and scattered rows) must not change what a FOV reads."""
    import repro_golden.core.embeddings as module

    monkeypatch.setattr(module, "WINDOW_BYTES", 24 * 4 * 7)
    monkeypatch.setattr(module, "WINDOW_ROWS", 9)
    names = embeddings.obs["fov_name"].copy()
    if interleaved:
        names[::3] = "Z/9/9"
    emb = embeddings.with_(obs={**embeddings.obs, "fov_name": names})
    store = EmbeddingsStore(write_zarr_direct(tmp_path / "e.zarr", emb, zarr_format=2))
    for block in store.iter_fovs():
        np.testing.assert_array_equal(block.arrays["X"], emb.X[block.rows])
        np.testing.assert_array_equal(block.arrays["X_projections"], emb.P[block.rows])
        np.testing.assert_array_equal(block.index["id"], emb.obs["id"][block.rows])
        assert block.index["fov_name"].tolist() == [block.name] * block.num_rows
