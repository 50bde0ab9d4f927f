"""Generated example directories, shared per session (generation takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_golden.examples import generate_example


@pytest.fixture(scope="session")
def example_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default example case, generated and verified against golden/example."""
    return generate_example(tmp_path_factory.mktemp("example"), case="example").parent


@pytest.fixture(scope="session")
def zstack_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The zstack case, generated and verified against golden/zstack."""
    return generate_example(tmp_path_factory.mktemp("zstack"), case="zstack").parent
