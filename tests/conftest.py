"""Shared test configuration.

Enables ``pytester`` (the plugin's integration tests) and collects short notes
that tests want shown after the run (GPU-vs-CPU and run-to-run differences in
``nox -s gpu_repro``), printed in the terminal summary.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

_NOTES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_NOTES] = []


@pytest.fixture
def repro_note(pytestconfig: pytest.Config) -> Callable[[str], None]:
    """``repro_note(text)``: show ``text`` in the terminal summary under 'repro-golden notes'."""
    return pytestconfig.stash[_NOTES].append


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    notes = terminalreporter.config.stash.get(_NOTES, [])
    if notes:
        terminalreporter.section("repro-golden notes")
        for note in notes:
            terminalreporter.write_line(note)


@pytest.fixture
def tmpfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Path]]:
    """``tmpfs(options)`` mounts a fresh tmpfs (``"size=64k"``, ``"ro,size=1m"``) for a real
    full or read-only disk, unmounted after the test; skips, saying why, without root."""
    mounted: list[Path] = []

    def mount(options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root (the CI and development machines run as root)")
        directory = tmp_path_factory.mktemp("mounts") / "tmpfs"
        directory.mkdir()
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
        mounted.append(directory)
        return directory

    yield mount
    for directory in mounted:
        subprocess.run(["umount", str(directory)], check=False)
