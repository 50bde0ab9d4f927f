"""Atomic writes: complete or absent, never half; permissions as a plain write would give."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from repro_golden.core.atomic import atomic_directory, write_bytes_atomic, write_text_atomic
from repro_golden.errors import OutputExistsError


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_file_write_replaces_and_leaves_no_temporaries(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "golden.json"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert sorted(p.name for p in target.parent.iterdir()) == ["golden.json"]


def test_file_mode_follows_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "a.bin", b"x")
        with atomic_directory(tmp_path / "out.zarr") as tmp:
            (tmp / "x").write_text("x")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.bin") == 0o644
    assert _mode(tmp_path / "out.zarr") == 0o755


def test_directory_is_published_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "emb.zarr"

    def write_half() -> None:
        with atomic_directory(target) as tmp:
            (tmp / "X").write_text("partial")
            raise RuntimeError("killed halfway")

    with pytest.raises(RuntimeError):
        write_half()
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_directory_refused_then_replaced_on_request(tmp_path: Path) -> None:
    target = tmp_path / "emb.zarr"
    target.mkdir()
    (target / "old").write_text("old")
    with pytest.raises(OutputExistsError, match=r"emb\.zarr"), atomic_directory(target):
        pass
    assert (target / "old").exists()
    with atomic_directory(target, overwrite=True) as tmp:
        (tmp / "new").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.zarr"]
