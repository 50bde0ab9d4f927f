"""SIGINT and SIGTERM stop a run, remove its partial output and exit 130 / 143; racing writers.

Signals are sent to real ``repro-golden`` processes: ``predict`` of the example
case while it is inside Lightning's prediction loop (Lightning installs its
own SIGTERM handler and turns Ctrl-C into ``sys.exit(1)``: neither may swallow
the signal or end as exit 1), and ``golden write`` at points spread over a
run. The lightning pipeline's runner leads its own process group: a signal stops
the whole group (a SIGTERM-ignoring child of the lab's code included), and a
runner whose caller was killed stops itself. Two ``golden write`` processes
without ``--overwrite`` racing for one new directory: exactly one wins, the
other exits 2 and leaves nothing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from rel_stores import arrays, cli, write_store

from repro_golden.api import check_golden

ENV = {**os.environ, "PYTHONWARNINGS": "ignore"}


def _leftovers(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f".{name}."))


@pytest.fixture(scope="module")
def example_case(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("example")
    result = cli("example", directory, timeout=300)
    assert result.returncode == 0, result.stderr
    return directory / "case.yaml"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_predict_stops_removes_partial_output_and_exits_128_plus_n(
    example_case: Path, tmp_path: Path, signum: signal.Signals
) -> None:
    out = tmp_path / "emb.zarr"
    log = tmp_path / "predict.log"
    with (
        log.open("wb") as stderr,
        subprocess.Popen(
            [sys.executable, "-m", "repro_golden", "predict", example_case, "--output", out],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=ENV,
        ) as process,
    ):
        deadline = time.monotonic() + 240
        while "Predicting:" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "predict never reached its prediction loop"
            time.sleep(0.05)
        sent = time.monotonic()
        process.send_signal(signum)
        status = process.wait(timeout=120)
        stopped_after = time.monotonic() - sent
    text = log.read_text(errors="replace")
    assert status == 128 + signum, text[-3000:]
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1].split("\r")[-1]
    assert f"repro-golden predict: interrupted by {signum.name}" in last
    assert "no partial output left" in last
    assert not out.exists()
    assert _leftovers(tmp_path, "emb.zarr") == []
    assert stopped_after < 60  # within a batch or two, not at the end of the run


def test_signal_mid_golden_write_leaves_nothing(tmp_path: Path) -> None:
    store = write_store(
        tmp_path / "big.zarr", arrays(rows_per_fov=4000, width=128, proj=16), chunk_rows=1000
    )
    started = time.perf_counter()
    assert cli("golden", "write", store, "--out", tmp_path / "timing").returncode == 0
    duration = time.perf_counter() - started
    interrupted = 0
    for i in range(6):
        out = tmp_path / f"golden-{i}"
        process = subprocess.Popen(
            [sys.executable, "-m", "repro_golden", "golden", "write", store, "--out", out],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        time.sleep(duration * (0.5 + i / 12))  # past start-up, into the write
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=120)
        assert _leftovers(tmp_path, out.name) == [], err
        if process.returncode == 0:  # finished before the signal came
            assert check_golden(store, out).passed
            continue
        assert process.returncode in (143, -signal.SIGTERM), err
        if process.returncode == 143:
            assert "interrupted by SIGTERM" in err
            assert "no partial output left" in err
            assert "Traceback" not in err
        if out.exists():  # the signal came after the set was published: it is whole
            assert check_golden(store, out).passed
            continue
        interrupted += 1
    assert interrupted >= 1, "no signal landed inside a golden write"


def test_two_writers_without_overwrite_exactly_one_wins(tmp_path: Path) -> None:
    stores = [
        write_store(
            tmp_path / f"s{seed}.zarr",
            arrays(rows_per_fov=2000, width=64, proj=8, seed=seed),
            chunk_rows=500,
        )
        for seed in (1, 2)
    ]
    for round_ in range(3):
        out = tmp_path / f"golden-{round_}"
        writers = [
            subprocess.Popen(
                [sys.executable, "-m", "repro_golden", "golden", "write", store, "--out", out],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=ENV,
            )
            for store in stores
        ]
        results = [(w.wait(timeout=120), *w.communicate()) for w in writers]
        statuses = sorted(status for status, _, _ in results)
        assert statuses == [0, 2], results
        loser = next(err for status, _, err in results if status == 2)
        assert "output exists" in loser
        assert "Traceback" not in loser
        winner = next(i for i, (status, _, _) in enumerate(results) if status == 0)
        assert check_golden(stores[winner], out).passed
        assert _leftovers(tmp_path, out.name) == []


def test_two_predicts_without_overwrite_exactly_one_wins(tmp_path: Path) -> None:
    """Both pass the up-front check; the refusal at publish time decides."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inference"))
    from tiny_case import write_tiny_case

    case = write_tiny_case(tmp_path / "case")
    out = tmp_path / "emb.zarr"
    command = [sys.executable, "-m", "repro_golden", "predict", case, "--output", out]
    runs = [
        subprocess.Popen(
            [*command, "--no-progress"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for _ in range(2)
    ]
    results = [(run.wait(timeout=300), *run.communicate()) for run in runs]
    assert sorted(status for status, _, _ in results) == [0, 2], results
    loser = next(err for status, _, err in results if status == 2)
    assert "output exists" in loser
    assert "Traceback" not in loser
    assert out.is_dir()
    assert _leftovers(tmp_path, "emb.zarr") == []


IN_PROCESS_PREDICT = """
from pathlib import Path

from repro_golden.config.load import load_case
from repro_golden.inference.predict import predict

def test_predict_in_process():
    predict(load_case({case!r}), output={out!r})

def test_after():
    pass
"""


def test_sigterm_mid_predict_inside_pytest_stops_the_session(
    example_case: Path, tmp_path: Path
) -> None:
    """In-process under pytest, Lightning must not turn the signal into one failed test."""
    out = tmp_path / "emb.zarr"
    (tmp_path / "test_in_process.py").write_text(
        IN_PROCESS_PREDICT.format(case=str(example_case), out=str(out))
    )
    log = tmp_path / "pytest.log"
    with (
        log.open("wb") as output,
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"],
            cwd=tmp_path,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=ENV,
        ) as process,
    ):
        deadline = time.monotonic() + 240
        while "Predicting:" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "predict never reached its prediction loop"
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=120)
    text = log.read_text(errors="replace")
    assert status == 128 + signal.SIGTERM, text[-3000:]
    assert "SignalStop: interrupted by SIGTERM" in text  # pytest's KeyboardInterrupt banner
    assert "passed" not in text  # test_after never ran
    assert not out.exists()
    assert _leftovers(tmp_path, "emb.zarr") == []


# ------------------------------------------------ the lightning pipeline: the whole process group


def _lab_run(tmp_path: Path) -> tuple[list[str], dict[str, str], Path]:
    """A lightning run whose lab code starts a SIGTERM-ignoring child, then predicts slowly."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pipelines"))
    from toy_configs import lab_env, predict_command, toy_checkpoint, toy_config

    pid_file = tmp_path / "child.pid"
    config = toy_config(tmp_path, slow=60.0, child_pid_file=str(pid_file))
    toy_checkpoint(tmp_path)
    return predict_command(config, "--output", tmp_path / "emb.zarr"), lab_env(), pid_file


def _wait_for(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 240
    while not path.exists() or len(path.read_text().split()) < 2:
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        assert time.monotonic() < deadline, "the lab's code never started its child"
        time.sleep(0.05)


def _survivors(processes: list[psutil.Process], within: float) -> list[psutil.Process]:
    """Those of ``processes`` still running (zombies count as gone) after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        alive = []
        for process in processes:
            try:
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    alive.append(process)
            except psutil.NoSuchProcess:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_the_lab_process_group(tmp_path: Path, signum: signal.Signals) -> None:
    """The runner and a child of the lab's code that ignores SIGTERM are gone within seconds:
    SIGTERM to the runner's process group, SIGKILL after the grace period."""
    command, env, pid_file = _lab_run(tmp_path)
    log = tmp_path / "predict.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
        try:
            _wait_for(pid_file, process, log)
            descendants = psutil.Process(process.pid).children(recursive=True)
            runner_pid, child_pid = map(int, pid_file.read_text().split())
            assert {runner_pid, child_pid} <= {p.pid for p in descendants}
            sent = time.monotonic()
            process.send_signal(signum)
            status = process.wait(timeout=60)
            stopped_after = time.monotonic() - sent
        finally:
            if process.poll() is None:  # pragma: no cover - a failed test leaves nothing running
                process.kill()
                process.wait()
    text = log.read_text(errors="replace")
    assert status == 128 + signum, text[-3000:]
    assert stopped_after < 20, f"stopped after {stopped_after:.1f} s"
    assert f"repro-golden predict: interrupted by {signum.name}" in text
    assert "Traceback" not in text
    assert _survivors(descendants, within=5) == []
    assert not (tmp_path / "emb.zarr").exists()
    assert _leftovers(tmp_path, "emb.zarr") == []


def test_runner_stops_itself_when_its_caller_dies(tmp_path: Path) -> None:
    """SIGKILL to repro-golden (no handler runs): the runner sees its pipe close, stops its
    group and removes the private folder the caller can no longer remove."""
    command, env, pid_file = _lab_run(tmp_path)
    log = tmp_path / "predict.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
        _wait_for(pid_file, process, log)
        descendants = psutil.Process(process.pid).children(recursive=True)
        assert _leftovers(tmp_path, "emb.zarr") != []  # the run's private folder, in use
        process.kill()
        process.wait()
    assert _survivors(descendants, within=20) == []
    assert _leftovers(tmp_path, "emb.zarr") == []
    assert not (tmp_path / "emb.zarr").exists()


def test_sigterm_to_the_runner_alone_stops_the_run(tmp_path: Path) -> None:
    """A scheduler or an administrator signals the runner, not repro-golden: Lightning no
    longer swallows it, the caller reports the stop (exit 143) and the group is cleaned."""
    command, env, pid_file = _lab_run(tmp_path)
    log = tmp_path / "predict.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=tmp_path
        )
        try:
            _wait_for(pid_file, process, log)
            descendants = psutil.Process(process.pid).children(recursive=True)
            runner_pid, _ = map(int, pid_file.read_text().split())
            os.kill(runner_pid, signal.SIGTERM)
            status = process.wait(timeout=60)
        finally:
            if process.poll() is None:  # pragma: no cover - a failed test leaves nothing running
                process.kill()
                process.wait()
    text = log.read_text(errors="replace")
    assert status == 128 + signal.SIGTERM, text[-3000:]
    assert "repro-golden predict: interrupted by SIGTERM" in text
    assert "INFER-02" not in text
    assert _survivors(descendants, within=5) == []
    assert _leftovers(tmp_path, "emb.zarr") == []
