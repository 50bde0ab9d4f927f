"""What both pipelines measure the same way: stage digests and the numeric environment.

Standard library only at import time (torch is imported inside the functions
that take tensors), because two interpreters import this one file: ours, where
the builtin pipeline's writer records stage digests with
:func:`batch_stage_record` and :func:`repro_golden.inference.fingerprint.capture_fingerprint`
reads :func:`environment`; and the lab's, where the lightning runner
(:mod:`repro_golden.inference.pipelines.runner`, run by path) records the same
fields, so the two pipelines' records compare field by field.

Digests are BLAKE2b-128 of canonical bytes (``dtype:shape|`` header, then the
C-ordered little-endian buffer). This module imports nothing of ours;
``tests/test_layers.py`` keeps it so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

#: The columns that name a cell, in the order of a row key.
ROW_KEYS = ("fov_name", "track_id", "t", "id")


def _canonical_bytes(tensor: Any) -> bytes:
    """``dtype:shape|`` then the C-ordered buffer (little endian on every supported host)."""
    import torch

    value = tensor.detach().to("cpu").contiguous()
    header = f"{str(value.dtype).removeprefix('torch.')}:{list(value.shape)}|".encode()
    if value.numel() == 0:
        return header
    raw = value.reshape(-1).view(torch.uint8).numpy().tobytes()
    if sys.byteorder != "little" and value.element_size() > 1:  # pragma: no cover
        size = value.element_size()
        raw = b"".join(raw[i : i + size][::-1] for i in range(0, len(raw), size))
    return header + raw


def tensor_digest(tensor: Any) -> str:
    """BLAKE2b-128 of a tensor's canonical bytes."""
    return "blake2b_128:" + hashlib.blake2b(_canonical_bytes(tensor), digest_size=16).hexdigest()


def _column(batch: Mapping[str, Any], name: str) -> list[Any] | None:
    """Column ``name`` of the batch's index: a mapping of columns, a list of row mappings
    (VisCy 0.4.1), or a key of the batch itself (the builtin's ``fov_name``)."""
    index = batch.get("index")
    values: Any = None
    if isinstance(index, Mapping):
        values = index.get(name)
    elif isinstance(index, list) and index and all(isinstance(r, Mapping) for r in index):
        values = [r.get(name) for r in index]
        if any(v is None for v in values):
            values = None
    if values is None:
        values = batch.get(name)
    if values is None:
        return None
    if hasattr(values, "tolist"):
        values = values.tolist()
    return list(values)


def row_keys(batch: Mapping[str, Any]) -> list[list[Any]] | None:
    """The batch's cells as ``[fov_name, track_id, t, id]`` (None without those columns)."""
    columns = [_column(batch, name) for name in ROW_KEYS]
    if any(c is None for c in columns):
        return None
    fovs, *numbers = columns
    assert fovs is not None
    return [
        [str(f).strip("/"), *(int(_scalar(n[i])) for n in numbers if n is not None)]
        for i, f in enumerate(fovs)
    ]


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def rows_digest(keys: Sequence[Sequence[Any]]) -> str:
    """BLAKE2b-128 of the row keys in order (canonical JSON)."""
    text = json.dumps([list(k) for k in keys], separators=(",", ":"))
    return "blake2b_128:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _output_tensors(outputs: Any) -> dict[str, Any]:
    import torch

    if isinstance(outputs, torch.Tensor):
        return {"output": outputs}
    if isinstance(outputs, Mapping):
        return {str(k): v for k, v in sorted(outputs.items()) if isinstance(v, torch.Tensor)}
    if isinstance(outputs, list | tuple):
        return {str(i): v for i, v in enumerate(outputs) if isinstance(v, torch.Tensor)}
    return {}


def batch_stage_record(batch: Any, outputs: Any, batch_idx: int) -> dict[str, Any]:
    """Digests of one predicted batch: rows (keys, in order), model input, model outputs."""
    record: dict[str, Any] = {"batch": batch_idx}
    if isinstance(batch, Mapping):
        keys = row_keys(batch)
        anchor = batch.get("anchor")
        record["rows"] = None if keys is None else len(keys)
        record["rows_digest"] = None if keys is None else rows_digest(keys)
        record["input_digest"] = None if anchor is None else tensor_digest(anchor)
    else:
        record.update(rows=None, rows_digest=None, input_digest=None)
    record["output_digests"] = {k: tensor_digest(v) for k, v in _output_tensors(outputs).items()}
    return record


def environment(device: Any, batch_size: int | None) -> dict[str, Any]:
    """The numeric environment of this process, in repro-golden's fingerprint form.

    The one place the fields are read: by the lightning runner while
    ``trainer.predict`` runs, and by
    ``repro_golden.inference.fingerprint.capture_fingerprint`` for the builtin pipeline.
    ``device`` is a ``torch.device`` or a device type (``"cpu"``, ``"cuda"``); CUDA
    properties are read only where CUDA is available.
    """
    import torch

    device_type = str(getattr(device, "type", device) or "cpu")
    name: str | None
    capability: str | None = None
    gpu: dict[str, Any] = {}
    if device_type == "cuda" and torch.cuda.is_available():
        index = getattr(device, "index", None) or 0
        name = torch.cuda.get_device_name(index)
        capability = "{}.{}".format(*torch.cuda.get_device_capability(index))
        gpu = _gpu_fields(torch, index)
    else:
        name = platform.processor() or platform.machine() or device_type
    try:
        cpu_capability: str | None = str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:  # pragma: no cover
        cpu_capability = None
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "schema": "repro-golden/environment/1",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": None if cudnn is None else str(cudnn),
        "device_type": device_type,
        "device_name": name,
        "compute_capability": capability,
        "cpu_capability": cpu_capability,
        "num_threads": int(torch.get_num_threads()),
        "batch_size": batch_size,
        "matmul_precision": torch.get_float32_matmul_precision(),
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cpu_model": cpu_model(),
        **gpu,
    }


def _gpu_fields(torch: Any, index: int) -> dict[str, Any]:
    """What else decides a CUDA run's bits: cuBLAS reproduces only on the same
    architecture *and* SM count; the driver; ``NVIDIA_TF32_OVERRIDE`` forces TF32 off
    (or on) behind torch's flags. Each is left out where it cannot be read."""
    fields: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        fields["sm_count"] = int(torch.cuda.get_device_properties(index).multi_processor_count)
    with contextlib.suppress(Exception):
        version = int(torch._C._cuda_getDriverVersion())
        fields["cuda_driver"] = f"{version // 1000}.{version % 1000 // 10}"
    override = os.environ.get("NVIDIA_TF32_OVERRIDE")
    if override is not None:
        fields["tf32_override"] = override
    return fields


#: ``/proc/cpuinfo`` flags that decide which SIMD kernels a library dispatches to.
_SIMD_FLAG = re.compile(r"^(sse|ssse|avx|amx|fma|f16c|asimd|sve|sme|neon)")


def cpu_model(cpuinfo: str | None = None) -> str | None:
    """This processor as the fingerprint field ``cpu_model``, e.g. ``AuthenticAMD family
    26 model 2 (AMD EPYC), simd 3f1c0e2a``; ``None`` where it cannot be read.

    ``torch.backends.cpu.get_cpu_capability()`` says only ``AVX512``, and two AVX512
    machines of other models (oneDNN picks kernels by model and flags) gave the
    example case other bits. So the vendor, family and model, with a digest (the
    first 8 hex digits of SHA-256) of the SIMD flags a VM exposes, enter the key.
    ``cpuinfo`` is the text of ``/proc/cpuinfo`` (read here when ``None``); off
    Linux, ``platform.processor()``. Standard library only, as this whole module.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            return platform.processor() or None
    first: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if first:
                break
            continue
        name, _, value = line.partition(":")
        first.setdefault(name.strip().lower(), value.strip())
    vendor = first.get("vendor_id") or first.get("cpu implementer")
    if vendor is None:
        return platform.processor() or None
    family = first.get("cpu family") or first.get("cpu architecture", "?")
    model = first.get("model") or first.get("cpu part", "?")
    flags = sorted(
        f for f in (first.get("flags") or first.get("features", "")).split() if _SIMD_FLAG.match(f)
    )
    simd = hashlib.sha256(" ".join(flags).encode("ascii", "replace")).hexdigest()[:8]
    model_name = first.get("model name")
    described = f"{vendor} family {family} model {model}" + (
        f" ({model_name})" if model_name else ""
    )
    return f"{described}, simd {simd}"
