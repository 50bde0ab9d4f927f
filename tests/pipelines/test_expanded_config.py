"""A LightningCLI config may take cluster paths from the environment, as case files do."""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_golden.errors import ConfigError
from repro_golden.inference.pipelines.lightning import expanded_config


def test_variables_are_expanded_into_a_private_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "predict.yml"
    config.write_text("data_path: ${PLATE}\ntracks_path: ${TRACKS:-/default/tracks.zarr}\n")
    monkeypatch.setenv("PLATE", "/lab/plate.zarr")
    private = tmp_path / "private"
    private.mkdir()
    copy = expanded_config(config, private)
    assert copy.parent == private
    assert copy.read_text() == "data_path: /lab/plate.zarr\ntracks_path: /default/tracks.zarr\n"
    assert "${PLATE}" in config.read_text()  # theirs is left as written


def test_a_config_without_variables_is_used_as_is(tmp_path: Path) -> None:
    config = tmp_path / "predict.yml"
    config.write_text("data_path: plate.zarr\n")
    assert expanded_config(config, tmp_path) == config


def test_unset_variable_names_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPRO_GOLDEN_TEST_UNSET", raising=False)
    config = tmp_path / "predict.yml"
    config.write_text("ckpt_path: ${REPRO_GOLDEN_TEST_UNSET}\n")
    with pytest.raises(ConfigError, match="REPRO_GOLDEN_TEST_UNSET is not set"):
        expanded_config(config, tmp_path)
