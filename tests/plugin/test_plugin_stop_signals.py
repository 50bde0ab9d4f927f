"""SIGTERM / SIGINT sent to a running pytest session: it stops, cleans up, exits 143 / 130."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SLOW_WRITE = """
import time
from pathlib import Path

from repro_golden.core.atomic import atomic_directory

def test_slow_write():
    here = Path(__file__).parent
    with atomic_directory(here / "out.golden", what="golden files") as tmp:
        (tmp / "half").write_text("half-written")
        (here / "started").write_text("yes")
        time.sleep(60)

def test_never_reached():
    pass
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_session_and_removes_partial_output(
    tmp_path: Path, signum: signal.Signals
) -> None:
    (tmp_path / "test_slow.py").write_text(SLOW_WRITE)
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_slow.py"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert process.poll() is None, process.communicate()[0]
        assert time.monotonic() < deadline, "the test never started"
        time.sleep(0.05)
    sent = time.monotonic()
    process.send_signal(signum)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, output
    assert time.monotonic() - sent < 30, "the session went on after the signal"
    assert "KeyboardInterrupt" in output
    assert "1 passed" not in output  # test_never_reached did not run
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "__pycache__")
    assert left == ["started", "test_slow.py"]  # no out.golden, no temporary tree
