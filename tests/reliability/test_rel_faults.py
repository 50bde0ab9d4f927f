"""Faults are never verdicts: a full disk, a read-only, vanished or forbidden directory is exit 2.

Each fault is made for real where the machine allows it (a 64 kB tmpfs, a
read-only tmpfs, a process running as ``nobody``; these need root and skip
saying so otherwise), and each run must end with one line naming the path and
what was being written, and leave nothing behind: no temporary tree, no
half-written file, no empty directory it created.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rel_stores import arrays, cli, write_store

from repro_golden.core.atomic import atomic_directory, write_bytes_atomic
from repro_golden.errors import OutputExistsError, StorageError


@pytest.fixture
def small_disk(tmpfs: Callable[[str], Path]) -> Path:
    """A 64 kB tmpfs: big enough for a directory entry, too small for any golden set."""
    return tmpfs("size=64k")


@pytest.fixture
def read_only_disk(tmpfs: Callable[[str], Path]) -> Path:
    return tmpfs("ro,size=1m")


@pytest.fixture
def big_store(tmp_path: Path) -> Path:
    """Golden files of this store take far more than 64 kB."""
    return write_store(
        tmp_path / "big.zarr", arrays(rows_per_fov=2000, width=64, proj=8), chunk_rows=500
    )


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_full_disk_golden_write_is_exit_2_naming_path_and_space(
    small_disk: Path, big_store: Path
) -> None:
    out = small_disk / "golden" / "case"
    result = cli("golden", "write", big_store, "--out", out)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert str(out) in line
    assert "golden files" in line
    assert "no space left on device" in line
    assert "free" in line
    # Nothing left behind: not the temporary tree, nor the parent it created.
    assert list(small_disk.iterdir()) == []


def test_full_disk_overwrite_leaves_no_empty_directory(small_disk: Path, big_store: Path) -> None:
    out = small_disk / "golden"
    result = cli("golden", "write", big_store, "--out", out, "--overwrite")
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "no space left on device" in line
    assert "needed" in line
    assert list(small_disk.iterdir()) == []


def test_read_only_directory_is_exit_2(read_only_disk: Path, big_store: Path) -> None:
    out = read_only_disk / "golden"
    result = cli("golden", "write", big_store, "--out", out)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "read-only filesystem" in line
    assert str(out) in line
    report = read_only_disk / "r.json"
    golden = big_store.with_suffix(".golden")
    assert cli("golden", "write", big_store, "--out", golden).returncode == 0
    result = cli("check", big_store, "--golden", golden, "--report", report)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "read-only filesystem" in _one_line(result.stderr)


def test_permission_denied_is_exit_2(tmp_path: Path) -> None:
    """A directory another user owns: run as root without capabilities, so modes apply."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and util-linux setpriv to drop the capabilities that bypass modes")
    store = write_store(tmp_path / "emb.zarr")
    shared = tmp_path / "theirs"
    shared.mkdir()
    os.chown(shared, 65534, 65534)
    shared.chmod(0o755)  # readable by everyone, writable by its owner only
    out = shared / "golden"
    command = [sys.executable, "-m", "repro_golden", "golden", "write", store, "--out", out]
    result = subprocess.run(
        [setpriv, "--bounding-set=-all", "--inh-caps=-all", *map(str, command)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        check=False,
    )
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "permission denied" in line
    assert str(out) in line
    assert list(shared.iterdir()) == []


def test_vanished_directory_is_a_storage_error_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "new" / "emb.zarr"
    with (  # noqa: PT012
        pytest.raises(StorageError, match=r"directory vanished") as caught,
        atomic_directory(target, what="embeddings") as tmp,
    ):
        shutil.rmtree(tmp_path / "runs")  # a cleanup job removed the run directory
        (tmp / "X").write_bytes(b"x")
    assert caught.value.path == target
    assert list(tmp_path.iterdir()) == []


def test_failed_file_write_removes_the_parents_it_created(small_disk: Path) -> None:
    target = small_disk / "a" / "b" / "sketch.bin"
    with pytest.raises(StorageError, match=r"about 200\.0 kB needed") as caught:
        write_bytes_atomic(target, b"x" * 200_000, what="a sketch")
    assert "cannot write a sketch: no space left on device" in str(caught.value)
    assert list(small_disk.iterdir()) == []


def test_publish_refuses_a_directory_created_meanwhile(tmp_path: Path) -> None:
    """The refusal holds at publish time: the rename never replaces, our work is removed."""
    target = tmp_path / "emb.zarr"
    with (  # noqa: PT012
        pytest.raises(OutputExistsError, match=r"another writer published it"),
        atomic_directory(target) as tmp,
    ):
        (tmp / "mine").write_text("mine")
        target.mkdir()  # the other writer wins the race
        (target / "theirs").write_text("theirs")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb.zarr"]
    assert sorted(p.name for p in target.iterdir()) == ["theirs"]


def test_publish_refuses_a_file_created_meanwhile(tmp_path: Path) -> None:
    target = tmp_path / "golden.json"
    target.write_text("theirs")
    with pytest.raises(OutputExistsError):
        write_bytes_atomic(target, b"mine", overwrite=False)
    assert target.read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["golden.json"]


def test_full_disk_predict_is_exit_2_and_leaves_nothing(small_disk: Path, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
    from tiny_case import write_tiny_case

    case = write_tiny_case(tmp_path / "case")
    out = small_disk / "runs" / "emb.zarr"
    result = cli("predict", case, "--output", out, "--no-progress", timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    line = _one_line(result.stderr)
    assert str(out) in line
    assert "cannot write embeddings: no space left on device" in line
    assert "needed" in line
    assert list(small_disk.iterdir()) == []


def test_full_disk_under_the_lab_writer_is_exit_2_and_leaves_nothing(
    small_disk: Path, tmp_path: Path
) -> None:
    """The lightning pipeline: the lab's own writer hits ENOSPC (was INFER-02 FAIL, exit 1)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
    from toy_configs import lab_env, predict_command, toy_checkpoint, toy_config

    config = toy_config(tmp_path)
    toy_checkpoint(tmp_path)
    out = small_disk / "runs" / "emb.zarr"
    result = subprocess.run(
        predict_command(config, "--output", out),
        capture_output=True,
        text=True,
        timeout=300,
        env=lab_env(),
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-3000:]
    line = _one_line(result.stderr)
    assert "cannot write the lab's writer output: no space left on device" in line
    assert str(out) in line
    assert "INFER-02" not in result.stdout
    assert list(small_disk.iterdir()) == []


def test_full_disk_calibrate_force_regen_leaves_nothing(
    small_disk: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``calibrate --force-regen`` to a new golden folder on a full disk: exit 2, and no
    ``sketch-*.bin`` left behind (it used to write the new set in place, not staged)."""
    import json
    import shutil
    import types

    import repro_golden.inference.predict as predict_module
    from repro_golden.cli import main
    from repro_golden.core.fingerprint import EnvironmentFingerprint

    pytest.importorskip("lightning")
    env = EnvironmentFingerprint(torch="2.14.1", device_type="cpu", num_threads=1, batch_size=4)
    provenance = json.dumps({"case_name": "tiny", "environment": env.to_dict()})
    data = arrays(rows_per_fov=2000, width=64, proj=8)
    store = write_store(tmp_path / "run.zarr", data, chunk_rows=500)
    import zarr

    uns = zarr.open_group(str(store), mode="r+").require_group("uns")
    uns.create_array("repro_golden", shape=(), dtype=str)[()] = provenance

    def copy(case: object, *, output: Path, **_: object) -> object:
        shutil.copytree(store, output)
        return types.SimpleNamespace(path=output)

    monkeypatch.setattr(predict_module, "predict", copy)
    case = tmp_path / "case.yaml"
    case.write_text(
        "schema: repro-golden/case/1\nname: tiny\ncheckpoint: model.ckpt\n"
        "model: {backbone: convnext_tiny, in_channels: 1, in_stack_depth: 1, embedding_dim: 64,"
        " projection_dim: 8}\n"
        "data: {data_path: plate.zarr, tracks_path: tracks.zarr, source_channel: [Phase3D],"
        " z_range: [0, 1]}\n"
    )
    out = small_disk / "golden"
    status = main(["calibrate", str(case), "--golden", str(out), "--force-regen"])
    assert status == 2, capsys.readouterr()
    assert "no space left on device" in capsys.readouterr().err
    assert list(small_disk.iterdir()) == []
