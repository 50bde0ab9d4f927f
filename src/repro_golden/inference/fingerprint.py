"""Capture the :class:`~repro_golden.core.fingerprint.EnvironmentFingerprint` of this process.

Called where a prediction builds its provenance (inside the case's numerics
context, so the thread count and flags are the ones the run uses); the result is
stored as ``uns["repro_golden"]["environment"]`` and a golden set made from the
store keys its expectations by it. Torch is imported inside the function so that
importing this module stays cheap.
"""

from __future__ import annotations

from typing import Any


def capture_fingerprint(*, batch_size: int | None, device: Any) -> dict[str, Any]:
    """The environment fingerprint of this process for a run on ``device`` (JSON form).

    ``device`` is a ``torch.device``, a device string (``"cpu"``, ``"cuda:0"``) or a
    Lightning accelerator name (``"gpu"`` means CUDA here). ``batch_size`` is the
    prediction batch size (``None`` when unknown). Returns
    :meth:`EnvironmentFingerprint.to_dict`.
    """
    import torch

    from repro_golden.core.fingerprint import EnvironmentFingerprint, cpu_model

    name = str(getattr(device, "type", device) or "cpu").split(":")[0].lower()
    device_type = "cuda" if name in ("gpu", "cuda") else name
    if device_type == "auto":
        device_type = "cuda" if torch.cuda.is_available() else "cpu"
    device_name: str | None = None
    capability: str | None = None
    if device_type == "cuda" and torch.cuda.is_available():
        index = getattr(device, "index", None) or 0
        device_name = torch.cuda.get_device_name(index)
        major, minor = torch.cuda.get_device_capability(index)
        capability = f"{major}.{minor}"
    else:
        import platform

        device_name = platform.processor() or platform.machine() or device_type
    cpu_capability: str | None
    try:
        cpu_capability = str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:  # pragma: no cover - torch older than 2.0
        cpu_capability = None
    cudnn_available = torch.backends.cudnn.is_available()
    cudnn_version = torch.backends.cudnn.version() if cudnn_available else None
    fingerprint = EnvironmentFingerprint(
        torch=torch.__version__,
        cuda=torch.version.cuda,
        cudnn=None if cudnn_version is None else str(cudnn_version),
        device_type=device_type,
        device_name=device_name,
        compute_capability=capability,
        cpu_capability=cpu_capability,
        num_threads=int(torch.get_num_threads()),
        batch_size=None if batch_size is None else int(batch_size),
        matmul_precision=torch.get_float32_matmul_precision(),
        allow_tf32=bool(torch.backends.cuda.matmul.allow_tf32),
        cudnn_allow_tf32=bool(torch.backends.cudnn.allow_tf32),
        cudnn_deterministic=bool(torch.backends.cudnn.deterministic),
        cudnn_benchmark=bool(torch.backends.cudnn.benchmark),
        cpu_model=cpu_model(),
    )
    return fingerprint.to_dict()
