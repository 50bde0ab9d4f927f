"""INFER-01: the checkpoint's ``state_dict`` against the instantiated module, key by key
and shape by shape, then one forward pass on an input of the case's shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _expected_widths(config: Mapping[str, Any]) -> dict[str, int | None]:
    model = config.get("model") or {}
    encoder = ((model.get("init_args") or {}).get("encoder") or {}).get("init_args") or {}
    return {
        "features": encoder.get("embedding_dim"),
        "projections": encoder.get("projection_dim"),
    }


def _input_shape(config: Mapping[str, Any], module: Any) -> list[int] | None:
    data = (config.get("data") or {}).get("init_args") or {}
    channels, z_range = data.get("source_channel"), data.get("z_range")
    patch = data.get("final_yx_patch_size") or data.get("initial_yx_patch_size")
    if channels and z_range and patch:
        return [1, len(channels), int(z_range[1]) - int(z_range[0]), *map(int, patch)]
    example: Any = getattr(module, "example_input_array", None)
    return list(example.shape) if hasattr(example, "shape") else None


def infer01(
    module: Any, checkpoint: str | None, config: Mapping[str, Any], *, payload: Any = None
) -> dict[str, Any]:
    """Strict, weights-only load of ``checkpoint`` into ``module``, then one forward pass.

    ``payload`` is the checkpoint as already loaded (weights only), so a large
    file is not read twice; it is loaded here when not given.
    """
    import torch

    result: dict[str, Any] = {"checkpoint": checkpoint, "module": type(module).__qualname__}
    problems: list[str] = []
    if checkpoint is None:
        problems.append("no ckpt_path in the config: nothing to load")
    else:
        if payload is None:
            try:
                payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
            except Exception as exc:
                problems.append(
                    f"torch.load(weights_only=True) failed: {type(exc).__name__}: {exc}"
                )
        if payload is not None:
            state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else {}
            own = module.state_dict()
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            mismatched = [
                {"key": k, "checkpoint": list(state[k].shape), "module": list(own[k].shape)}
                for k in sorted(set(own) & set(state))
                if tuple(own[k].shape) != tuple(state[k].shape)
            ]
            result.update(
                keys=len(state), missing=missing, unexpected=unexpected, mismatched=mismatched
            )
            if missing or unexpected or mismatched:
                problems.append(
                    f"strict load fails: {len(missing)} missing, {len(unexpected)} unexpected, "
                    f"{len(mismatched)} shape-mismatched key(s)"
                )
    shape = _input_shape(config, module)
    result["input_shape"] = shape
    widths = _expected_widths(config)
    result["expected"] = widths
    if shape is None:
        problems.append("no input shape: the data config names no channels/z_range/patch")
    else:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(*shape, generator=generator)
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = module(x)
        except Exception as exc:
            problems.append(f"forward on {shape} failed: {type(exc).__name__}: {exc}")
            out = None
        finally:
            module.train(was_training)
        if out is not None:
            tensors = list(out) if isinstance(out, list | tuple) else [out]
            got = [int(t.shape[-1]) for t in tensors if hasattr(t, "shape")]
            result["widths"] = got
            for position, name in enumerate(("features", "projections")):
                want = widths[name]
                have = got[position] if position < len(got) else None
                if want is not None and have != want:
                    problems.append(f"{name} width {have}, expected {want}")
    result["problems"] = problems
    result["status"] = "fail" if problems else "pass"
    return result
