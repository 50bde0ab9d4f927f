"""Shared test configuration.

Enables ``pytester`` (the plugin's integration tests) and collects short notes
that tests want shown after the run (GPU-vs-CPU and run-to-run differences in
``nox -s gpu_repro``), printed in the terminal summary.
"""

from __future__ import annotations

from collections.abc import Callable

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
