"""The session's plugin state: resolved settings and the CUDA probe, kept in pytest's stash.

A module of its own, below the hooks and the collectors, so that the case-file
collector, the prepared cases and the prediction cache read the session's
settings without importing the hook module that imports them (no import circle).
"""

from __future__ import annotations

import os

import pytest

from repro_golden.plugin.settings import GoldenSettings

_SETTINGS_KEY = pytest.StashKey[GoldenSettings]()
_CUDA_KEY = pytest.StashKey[str | None]()


def store_settings(config: pytest.Config, settings: GoldenSettings) -> None:
    """Keep the session's resolved settings (``pytest_configure``)."""
    config.stash[_SETTINGS_KEY] = settings


def golden_settings_of(config: pytest.Config) -> GoldenSettings:
    """The session's resolved :class:`GoldenSettings` (for conftest files and helpers)."""
    return config.stash[_SETTINGS_KEY]


def cuda_unavailable_reason(config: pytest.Config) -> str | None:
    """Why no CUDA device can be used, or ``None``; asks torch once per session."""
    if _CUDA_KEY not in config.stash:
        config.stash[_CUDA_KEY] = _probe_cuda()
    return config.stash[_CUDA_KEY]


def skip_unless_cuda(config: pytest.Config) -> None:
    """Skip the running test, saying why, when no CUDA device can be used."""
    reason = cuda_unavailable_reason(config)
    if reason is not None:
        pytest.skip(f"gpu: {reason}")


def _probe_cuda() -> str | None:
    try:
        import torch
    except ImportError as exc:
        return f"no CUDA device: torch cannot be imported ({exc})"
    if not torch.cuda.is_available():
        build = torch.version.cuda or "none (CPU-only build)"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = "" if visible is None else f", CUDA_VISIBLE_DEVICES={visible!r}"
        return (
            f"no CUDA device: torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, CUDA build {build}{hint})"
        )
    return None
