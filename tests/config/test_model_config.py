"""ModelConfig: VisCy names and defaults, errors naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from repro_golden.errors import ConfigError
from repro_golden.inference.model import ModelConfig

BASE = {"backbone": "convnext_tiny", "in_channels": 1, "in_stack_depth": 1}


def test_defaults_are_viscy_defaults() -> None:
    config = ModelConfig.from_mapping(BASE)
    assert config.stem_kernel_size == (5, 4, 4)
    assert config.stem_stride == (5, 4, 4)
    assert config.embedding_dim == 768
    assert config.projection_dim == 128
    assert config.drop_path_rate == 0.0


def test_round_trip_through_as_dict() -> None:
    config = ModelConfig.from_mapping({**BASE, "stem_kernel_size": [1, 4, 4], "projection_dim": 32})
    assert ModelConfig.from_mapping(config.to_dict()) == config
    assert config.to_dict()["stem_kernel_size"] == [1, 4, 4]


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"backbone": "vit_base"}, "model.backbone"),
        ({"in_channels": 0}, "model.in_channels"),
        ({"in_stack_depth": "1"}, "model.in_stack_depth"),
        ({"stem_stride": [1, 4]}, "model.stem_stride"),
        ({"drop_path_rate": 1.5}, "model.drop_path_rate"),
        ({"pretrained": True}, "model"),
    ],
)
def test_bad_values_name_source_and_key(change: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        ModelConfig.from_mapping({**BASE, **change}, source=Path("case.yaml"))
    assert info.value.key == key
    assert "case.yaml" in str(info.value)


def test_missing_required_key() -> None:
    with pytest.raises(ConfigError, match=r"model\.in_stack_depth"):
        ModelConfig.from_mapping({"backbone": "convnext_tiny", "in_channels": 1})
