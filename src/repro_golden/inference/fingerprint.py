"""Capture the :class:`~repro_golden.core.fingerprint.EnvironmentFingerprint` of this process.

Called where a prediction builds its provenance (inside the case's numerics
context, so the thread count and flags are the ones the run uses); the result is
stored as ``uns["repro_golden"]["environment"]`` and a golden set made from the
store keys its expectations by it. Torch is imported inside the function so that
importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any

from repro_golden.inference.probes import environment


def capture_fingerprint(*, batch_size: int | None, device: Any) -> dict[str, Any]:
    """The environment fingerprint of this process for a run on ``device`` (JSON form).

    ``device`` is a ``torch.device``, a device string (``"cpu"``, ``"cuda:0"``) or a
    Lightning accelerator name (``"gpu"`` means CUDA here). ``batch_size`` is the
    prediction batch size (``None`` when unknown). Returns
    :meth:`EnvironmentFingerprint.to_dict`.
    """
    import torch

    from repro_golden.core.fingerprint import EnvironmentFingerprint

    name = str(getattr(device, "type", device) or "cpu").split(":")[0].lower()
    device_type = "cuda" if name in ("gpu", "cuda") else name
    if device_type == "auto":
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    target: Any = device_type
    if device_type == "cuda":  # a str has an ``index`` method: parse "cuda:1" instead
        index = device.index if isinstance(device, torch.device) else None
        if index is None:
            suffix = str(device).partition(":")[2]
            index = int(suffix) if suffix.isdigit() else 0
        target = torch.device("cuda", index)
    # Validated through the type: a field the probe got wrong fails here, not in a check.
    return EnvironmentFingerprint.from_mapping(environment(target, batch_size)).to_dict()
