"""Strict, safe checkpoint loading.

A checkpoint is a Lightning ``.ckpt`` (a dict whose ``state_dict`` holds
``model.``-prefixed keys) or a bare state dict: either the module's own
(``model.``-prefixed) or the encoder's (no key starts with ``model.``; the
prefix is then added). Files are read with ``torch.load(weights_only=True)``
unless the caller explicitly opts out, because unpickling runs arbitrary code.
Every mismatch (missing keys, unexpected keys, shape mismatches) is reported in
one :class:`CheckpointError` naming the file, so a checkpoint of another
architecture is diagnosed in one go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from repro_golden.core.digest import file_digest as file_digest  # the one digest module
from repro_golden.errors import CheckpointError

_PREFIX = "model."
_MAX_LISTED = 20


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What was loaded: the file, its xxh3-128 digest and how many tensors it held."""

    path: Path
    digest: str
    num_tensors: int


def _read(path: Path, *, weights_only: bool) -> Any:
    if not path.is_file():
        raise CheckpointError("checkpoint file does not exist", path=path)
    try:
        return torch.load(path, map_location="cpu", weights_only=weights_only)
    except Exception as exc:
        hint = (
            " (weights_only=True refused it; if you trust this file, opt out explicitly)"
            if weights_only and "weights_only" in str(exc)
            else ""
        )
        raise CheckpointError(
            f"cannot read checkpoint: {type(exc).__name__}: {str(exc).splitlines()[0]}{hint}",
            path=path,
        ) from exc


def extract_state_dict(obj: Any, *, path: Path) -> dict[str, Tensor]:
    """The module-level (``model.``-prefixed) state dict held by a loaded checkpoint object."""
    if isinstance(obj, Mapping) and "state_dict" in obj:
        state = obj["state_dict"]
        key = "state_dict"
    else:
        state = obj
        key = None
    if not isinstance(state, Mapping) or not state:
        raise CheckpointError(
            "expected a Lightning checkpoint with a 'state_dict' or a non-empty state dict of "
            f"tensors, got {type(state).__name__}",
            path=path,
            key=key,
        )
    not_tensors = [str(k) for k, v in state.items() if not isinstance(v, Tensor)]
    if not_tensors:
        raise CheckpointError(
            f"expected tensors only; non-tensor entries: {not_tensors[:_MAX_LISTED]}",
            path=path,
            key=key,
        )
    if not any(str(k).startswith(_PREFIX) for k in state):
        return {_PREFIX + str(k): v for k, v in state.items()}
    return {str(k): v for k, v in state.items()}


def _listing(title: str, items: list[str]) -> str:
    shown = "\n".join(f"    {item}" for item in items[:_MAX_LISTED])
    more = f"\n    ... and {len(items) - _MAX_LISTED} more" if len(items) > _MAX_LISTED else ""
    return f"  {title} ({len(items)}):\n{shown}{more}"


def check_state_dict(
    module: nn.Module, state: Mapping[str, Tensor], *, path: Path, strict: bool = True
) -> None:
    """Raise one :class:`CheckpointError` listing every key and shape mismatch.

    With ``strict=False`` missing and unexpected keys are tolerated; shape
    mismatches never are.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k}: expected {list(expected[k].shape)}, found {list(state[k].shape)}"
        for k in expected
        if k in state and tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    if not strict:
        missing, unexpected = [], []
    if missing or unexpected or mismatched:
        parts = [
            _listing(title, items)
            for title, items in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("shape mismatches", mismatched),
            )
            if items
        ]
        raise CheckpointError(
            "checkpoint does not match the model architecture of the config "
            f"({len(expected)} tensors expected, {len(state)} found):\n" + "\n".join(parts),
            path=path,
            key="state_dict",
        )


def load_checkpoint(
    module: nn.Module,
    path: str | Path,
    *,
    weights_only: bool = True,
    strict: bool = True,
) -> LoadedCheckpoint:
    """Load ``path`` into ``module`` (in place) after checking every key and shape.

    ``weights_only=False`` allows arbitrary pickles: only for files you trust.
    """
    ckpt_path = Path(path)
    state = extract_state_dict(_read(ckpt_path, weights_only=weights_only), path=ckpt_path)
    check_state_dict(module, state, path=ckpt_path, strict=strict)
    module.load_state_dict(state, strict=strict)
    return LoadedCheckpoint(path=ckpt_path, digest=file_digest(ckpt_path), num_tensors=len(state))
