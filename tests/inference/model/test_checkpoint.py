"""Checkpoint loading: strict, weights_only by default, one error listing every mismatch."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

from repro_golden.errors import CheckpointError
from repro_golden.inference.model import ContrastiveEncoder, ContrastiveModule, load_checkpoint
from repro_golden.inference.model.checkpoint import file_digest

SMALL = {
    "backbone": "convnext_tiny",
    "in_channels": 1,
    "in_stack_depth": 1,
    "stem_kernel_size": (1, 4, 4),
    "stem_stride": (1, 4, 4),
    "embedding_dim": 16,
    "projection_dim": 8,
}


def _module(**changes: object) -> ContrastiveModule:
    return ContrastiveModule(ContrastiveEncoder(**{**SMALL, **changes}))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def trained() -> ContrastiveModule:
    torch.manual_seed(0)
    module = _module()
    with torch.no_grad():
        for tensor in module.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.randn_like(tensor))
    return module


def _lightning_ckpt(path: Path, state: dict[str, torch.Tensor]) -> Path:
    torch.save(
        {"state_dict": state, "epoch": 3, "global_step": 30, "pytorch-lightning_version": "2.6.6"},
        path,
    )
    return path


def _assert_loaded(module: ContrastiveModule, trained: ContrastiveModule) -> None:
    ours, theirs = module.state_dict(), trained.state_dict()
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_lightning_checkpoint_loads_strictly(tmp_path: Path, trained: ContrastiveModule) -> None:
    path = _lightning_ckpt(tmp_path / "model.ckpt", trained.state_dict())
    module = _module()
    loaded = load_checkpoint(module, path)
    _assert_loaded(module, trained)
    assert loaded.num_tensors == len(trained.state_dict())
    assert loaded.digest == file_digest(path)
    assert loaded.digest.startswith("xxh3_128:")


def test_bare_module_and_encoder_state_dicts_load(
    tmp_path: Path, trained: ContrastiveModule
) -> None:
    torch.save(trained.state_dict(), tmp_path / "module.pt")
    torch.save(trained.model.state_dict(), tmp_path / "encoder.pt")
    for name in ("module.pt", "encoder.pt"):
        module = _module()
        load_checkpoint(module, tmp_path / name)
        _assert_loaded(module, trained)


def test_other_architecture_lists_every_mismatch(
    tmp_path: Path, trained: ContrastiveModule
) -> None:
    state = dict(trained.state_dict())
    state.pop("model.projection.0.weight")
    state["model.extra.weight"] = torch.zeros(2)
    path = _lightning_ckpt(tmp_path / "other.ckpt", state)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_module(projection_dim=4), path)
    message = str(info.value)
    assert str(path) in message
    assert "missing keys (1)" in message
    assert "model.projection.0.weight" in message
    assert "unexpected keys (1)" in message
    assert "model.extra.weight" in message
    assert "shape mismatches" in message
    assert "model.projection.3.weight: expected [4, 16], found [8, 16]" in message


def test_non_strict_tolerates_key_sets_but_not_shapes(
    tmp_path: Path, trained: ContrastiveModule
) -> None:
    state = dict(trained.state_dict())
    state.pop("model.stem.conv.bias")
    path = _lightning_ckpt(tmp_path / "partial.ckpt", state)
    with pytest.raises(CheckpointError, match="missing keys"):
        load_checkpoint(_module(), path)
    load_checkpoint(_module(), path, strict=False)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        load_checkpoint(_module(projection_dim=4), path, strict=False)


def test_pickled_objects_need_explicit_opt_out(tmp_path: Path, trained: ContrastiveModule) -> None:
    path = tmp_path / "pickled.ckpt"
    torch.save(
        {"state_dict": trained.state_dict(), "extra": argparse.Namespace(lr=0.1)},
        path,
    )
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(_module(), path)
    module = _module()
    load_checkpoint(module, path, weights_only=False)
    _assert_loaded(module, trained)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a checkpoint", "cannot read checkpoint"),
        (None, "does not exist"),
    ],
)
def test_unreadable_files(tmp_path: Path, content: bytes | None, match: str) -> None:
    path = tmp_path / "broken.ckpt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=match) as info:
        load_checkpoint(_module(), path)
    assert info.value.path == path


def test_non_tensor_state_dict_entries(tmp_path: Path) -> None:
    path = tmp_path / "odd.ckpt"
    torch.save({"state_dict": {"model.stem.conv.weight": [1, 2]}}, path)
    with pytest.raises(CheckpointError, match="non-tensor entries"):
        load_checkpoint(_module(), path)
