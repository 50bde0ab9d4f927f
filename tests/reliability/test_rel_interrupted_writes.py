"""Interrupted writes: processes SIGKILLed at many points leave the previous complete
files, the new complete files, or nothing, never a half-written file a check accepts.

Kills are real (SIGKILL, no hooks) at delays spread over the write. The golden
writer runs as ``repro-golden golden write`` (16 kills). The prediction writer
is killed two ways: 16 forked children of one process that imported it once
(torch and Lightning take ~10 s to import here, so one interpreter per kill
would blow the time budget), each killed at a different point of
``write_embeddings``; and one real ``repro-golden predict`` killed as soon as
its temporary output directory appears.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rel_stores import arrays, write_store

from repro_golden.api import check_golden, write_golden
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden.store import GoldenStore
from repro_golden.errors import ReproGoldenError

KILLS = 16


def _golden_state(golden: Path, stores: dict[str, Path]) -> str:
    """Which complete golden set ``golden`` holds ("a" or "b"); fails on anything else."""
    read = GoldenStore(golden).read()  # raises on a half-written set
    matches = [name for name, store in stores.items() if check_golden(store, golden).passed]
    assert len(matches) == 1, (read.dataset_digest, matches)
    return matches[0]


def test_killed_golden_write_leaves_previous_or_new_golden(
    tmp_path: Path, repro_note: Callable[[str], None]
) -> None:
    stores = {
        name: write_store(
            tmp_path / f"{name}.zarr",
            arrays(rows_per_fov=3000, width=128, proj=16, seed=seed),
            chunk_rows=1000,
        )
        for name, seed in (("a", 1), ("b", 2))
    }
    golden = tmp_path / "golden"
    write_golden(stores["a"], golden)
    state, killed, changed = "a", 0, 0
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "repro_golden", "golden", "write"]
    started = time.perf_counter()
    subprocess.run(
        [*command, stores["a"], "--out", tmp_path / "timing"],
        check=True,
        env=env,
        capture_output=True,
    )
    duration = time.perf_counter() - started  # kills spread over one whole run
    for i in range(KILLS):
        source = "b" if state == "a" else "a"
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "repro_golden",
                "golden",
                "write",
                stores[source],
                "--out",
                golden,
                "--overwrite",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        time.sleep(duration * (i + 1) / (KILLS + 1))
        process.send_signal(signal.SIGKILL)
        killed += process.wait() == -signal.SIGKILL
        new_state = _golden_state(golden, stores)
        assert new_state in (state, source)
        changed += new_state != state
        state = new_state
    assert killed >= KILLS // 2, f"only {killed} of {KILLS} runs were interrupted"
    # The next complete write cleans up whatever the killed writers left.
    write_golden(stores["a"], golden)
    assert sorted(p.name for p in golden.iterdir() if p.name.startswith(".")) == []
    assert len(list(golden.glob("sketch-*.bin"))) == 1
    repro_note(f"golden write: {killed}/{KILLS} runs killed, {changed} committed a new set")


_WRITER_LOOP = textwrap.dedent(
    """
    import json, os, signal, sys, time
    from pathlib import Path
    import numpy as np
    import anndata  # noqa: F401  (imported once here, not in every forked child)
    from repro_golden.inference.writer import write_embeddings

    out, kills = Path(sys.argv[1]), int(sys.argv[2])
    def merged(seed):
        rng = np.random.default_rng(seed)
        n = 1500
        return {
            "rows": np.arange(n),
            "features": rng.normal(size=(n, 128)).astype(np.float32),
            "projections": rng.normal(size=(n, 32)).astype(np.float32),
            "fov_names": [f"A/1/{i % 4}" for i in range(n)],
            "index": {"track_id": np.arange(n), "t": np.zeros(n, dtype=np.int64),
                      "id": np.arange(n), "parent_track_id": np.full(n, -1),
                      "parent_id": np.full(n, -1)},
        }
    data = {"a": merged(1), "b": merged(2)}
    def child(name):
        write_embeddings(out, data[name], provenance={"seed": name}, overwrite=True)
        os._exit(0)
    from repro_golden.api import check_golden, write_golden
    from repro_golden.errors import ReproGoldenError

    goldens = {}
    for name in data:
        if os.fork() == 0:
            child(name)
        os.wait()
        goldens[name] = out.parent / f"{name}.golden"
        write_golden(out, goldens[name])

    def state_of(path):
        if not path.exists():
            return "absent"
        try:
            passed = [n for n, g in goldens.items() if check_golden(path, g).passed]
        except ReproGoldenError as exc:
            return f"refused: {exc}"
        return passed[0] if len(passed) == 1 else f"accepted but neither a nor b: {passed}"

    started = time.perf_counter()
    if os.fork() == 0:
        child("a")
    os.wait()
    duration = time.perf_counter() - started
    results = []
    for i in range(kills):
        name = "b" if i % 2 == 0 else "a"
        pid = os.fork()
        if pid == 0:
            child(name)
        time.sleep(duration * (i + 1) / (kills + 1))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status)
        partial = sorted(p.name for p in out.parent.glob(".out.zarr.*"))
        results.append(
            {"name": name, "killed": killed, "leftovers": partial, "state": state_of(out)}
        )
        print(json.dumps(results[-1]), flush=True)
    print(json.dumps({"duration": duration}))
    """
)


def test_killed_prediction_writer_leaves_previous_or_new_store(
    tmp_path: Path, repro_note: Callable[[str], None]
) -> None:
    """16 children killed inside ``write_embeddings`` overwriting a complete store."""
    import json

    out = tmp_path / "out.zarr"
    script = tmp_path / "loop.py"
    script.write_text(_WRITER_LOOP)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    # The loop checks the store after each kill and prints
    # one JSON line per kill: what was written, whether it was killed, the state.
    result = subprocess.run(
        [sys.executable, script, out, str(KILLS)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    kills = lines[:-1]
    assert len(kills) == KILLS
    previous = "a"
    for i, kill in enumerate(kills):
        # The previous complete store, the new one, or nothing: never a partial one.
        assert kill["state"] in (previous, kill["name"], "absent"), (i, kill)
        previous = kill["state"]
    interrupted = sum(k["killed"] for k in kills)
    mid_write = sum(bool(k["leftovers"]) for k in kills)
    assert interrupted >= KILLS // 2, kills
    assert mid_write >= 1, kills  # some kills did land inside the write
    repro_note(
        f"prediction writer: {interrupted}/{KILLS} children killed, {mid_write} mid-write "
        f"(write took {lines[-1]['duration']:.2f} s)"
    )


def test_killed_predict_cli_leaves_previous_store(tmp_path: Path) -> None:
    """``repro-golden predict --overwrite`` killed while writing keeps the previous store."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tiny_case import write_tiny_case

    case = write_tiny_case(tmp_path / "case")
    out = tmp_path / "out.zarr"
    write_store(out)  # the previous complete output
    write_golden(out, tmp_path / "previous.golden")
    log = tmp_path / "predict.log"
    with (
        log.open("wb") as stderr,
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "repro_golden",
                "predict",
                case,
                "--output",
                out,
                "--overwrite",
                "--no-progress",
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        ) as process,
    ):
        deadline = time.monotonic() + 240
        while not list(tmp_path.glob(".out.zarr.*.partial")):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "predict never started writing"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        assert process.wait() == -signal.SIGKILL
    assert list(tmp_path.glob(".out.zarr.*"))  # killed mid-write: its temp dir is left
    if out.exists():
        assert check_golden(out, tmp_path / "previous.golden").passed
    else:  # killed between moving the old store aside and the new one in: nothing there
        with pytest.raises(ReproGoldenError):
            EmbeddingsStore(out)
