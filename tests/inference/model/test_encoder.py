"""The encoder and module: VisCy 0.4.1 state-dict layout, shapes, no downloads."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import timm
import torch

from repro_golden.errors import ConfigError
from repro_golden.inference.model import ContrastiveEncoder, ContrastiveModule, ModelConfig

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "viscy_parity.py"
VISCY_PYTHON = os.environ.get("REPRO_GOLDEN_VISCY_PYTHON") or None

REFERENCE = {
    "backbone": "convnext_tiny",
    "in_channels": 1,
    "in_stack_depth": 1,
    "stem_kernel_size": [1, 4, 4],
    "stem_stride": [1, 4, 4],
    "embedding_dim": 768,
    "projection_dim": 32,
    "drop_path_rate": 0.0,
}
TWO_CHANNEL_STACK = {
    "backbone": "convnextv2_tiny",
    "in_channels": 2,
    "in_stack_depth": 5,
    "stem_kernel_size": [5, 4, 4],
    "stem_stride": [5, 4, 4],
    "embedding_dim": 64,
    "projection_dim": 16,
    "drop_path_rate": 0.0,
}


def _module(args: dict[str, Any]) -> ContrastiveModule:
    return ContrastiveModule(ContrastiveEncoder.from_config(ModelConfig.from_mapping(args)))


def _viscy_shapes(args: dict[str, Any]) -> dict[str, list[int]]:
    assert VISCY_PYTHON is not None
    out = subprocess.run(
        [VISCY_PYTHON, str(SCRIPT), "viscy-keys", json.dumps(args)],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    shapes: dict[str, list[int]] = json.loads(out.stdout.strip().splitlines()[-1])
    return shapes


def test_reference_config_has_194_model_keys() -> None:
    keys = list(_module(REFERENCE).state_dict())
    assert len(keys) == 194
    assert all(key.startswith("model.") for key in keys)


@pytest.mark.skipif(VISCY_PYTHON is None, reason="REPRO_GOLDEN_VISCY_PYTHON (viscy 0.4.1) not set")
@pytest.mark.parametrize("args", [REFERENCE, TWO_CHANNEL_STACK], ids=["reference", "v2-2ch-z5"])
def test_state_dict_equals_viscy(args: dict[str, Any]) -> None:
    ours = {k: list(v.shape) for k, v in _module(args).state_dict().items()}
    theirs = _viscy_shapes(args)
    assert list(ours) == list(theirs)
    assert ours == theirs


def test_never_asks_for_pretrained_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    create_model = timm.create_model

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return create_model(*args, **kwargs)

    monkeypatch.setattr(timm, "create_model", spy)
    _module(REFERENCE)
    assert [call["pretrained"] for call in calls] == [False]


@pytest.mark.parametrize(
    ("args", "features"),
    [(REFERENCE, 768), (TWO_CHANNEL_STACK, 768)],
    ids=["reference", "v2-2ch-z5"],
)
def test_forward_shapes(args: dict[str, Any], features: int) -> None:
    module = _module(args).eval()
    x = torch.randn(3, args["in_channels"], args["in_stack_depth"], 64, 64)
    with torch.inference_mode():
        feats, projs = module(x)
    assert feats.shape == (3, features)
    assert projs.shape == (3, args["projection_dim"])
    assert feats.dtype == projs.dtype == torch.float32


def test_resnet50_builds_with_fc_removed() -> None:
    args = {**REFERENCE, "backbone": "resnet50", "embedding_dim": 256}
    module = _module(args).eval()
    keys = module.state_dict()
    assert "model.encoder.conv1.weight" not in keys
    assert "model.encoder.fc.weight" not in keys
    assert keys["model.stem.conv.weight"].shape == (64, 1, 1, 4, 4)
    assert keys["model.projection.0.weight"].shape == (256, 2048)
    with torch.inference_mode():
        feats, projs = module(torch.randn(2, 1, 1, 64, 64))
    assert feats.shape == (2, 2048)
    assert projs.shape == (2, 32)


def test_stack_depth_that_does_not_fit_the_stem_is_a_config_error() -> None:
    args = {
        **REFERENCE,
        "in_stack_depth": 5,
        "stem_kernel_size": [1, 4, 4],
        "stem_stride": [1, 4, 4],
    }
    with pytest.raises(ConfigError, match="in_stack_depth"):
        _module(args)


def test_predict_step_passes_index_rows_through() -> None:
    module = _module(REFERENCE).eval()
    batch = {
        "anchor": torch.randn(2, 1, 1, 32, 32),
        "index": {"track_id": torch.tensor([4, 5]), "t": torch.tensor([0, 1])},
        "fov_name": ["A/1/0", "A/1/0"],
        "row": torch.tensor([7, 8]),
    }
    with torch.inference_mode():
        out = module.predict_step(batch, 0)
        feats, projs = module(batch["anchor"])
    assert torch.equal(out["features"], feats)
    assert torch.equal(out["projections"], projs)
    assert out["index"] is batch["index"]
    assert out["fov_name"] == ["A/1/0", "A/1/0"]
    assert torch.equal(out["row"], batch["row"])


def test_script_is_importable_without_viscy() -> None:
    spec = importlib.util.spec_from_file_location("viscy_parity", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "viscy" not in sys.modules
