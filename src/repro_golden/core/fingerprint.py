"""The environment fingerprint: what decides whether two runs can be bit-for-bit equal.

Two predictions of one case on the same inputs and code reproduce bit for bit only
when the numeric environment is the same: the torch / CUDA / cuDNN build, the device
(and, on CPU, the SIMD capability torch dispatches to and the processor model:
two AVX512 machines of different models were seen to give other bits), the intra-op
thread count,
the batch size (it changes reduction order in some kernels) and torch's precision
and determinism flags. A golden set records expectations per fingerprint
(:mod:`.golden.expectations`), so a check can be strict where results reproduce and
calibrated where they drift.

This module is torch-free: the capture lives in :mod:`repro_golden.inference.fingerprint`.
A process without torch can still describe itself (:meth:`EnvironmentFingerprint.unknown`):
fields it cannot know are ``None``, and the key of such a fingerprint never matches
one captured with torch.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xxhash

from repro_golden.errors import GoldenFileError

FINGERPRINT_SCHEMA = "repro-golden/environment/1"

_STR_FIELDS = (
    "torch",
    "cuda",
    "cudnn",
    "device_type",
    "device_name",
    "compute_capability",
    "cpu_capability",
    "matmul_precision",
    "cpu_model",
    "cuda_driver",
    "tf32_override",
)
_INT_FIELDS = ("num_threads", "batch_size", "sm_count")
_BOOL_FIELDS = ("allow_tf32", "cudnn_allow_tf32", "cudnn_deterministic", "cudnn_benchmark")
#: Added after the first golden sets: in the JSON form (and the key) only when known.
_OPTIONAL_FIELDS = ("cpu_model", "sm_count", "cuda_driver", "tf32_override")
#: The host CPU: not part of a CUDA run's key.
_HOST_FIELDS = ("cpu_capability", "cpu_model")
#: CUDA-only settings: not part of a CPU run's key.
_CUDA_FIELDS = (
    "compute_capability",
    "allow_tf32",
    "cudnn_allow_tf32",
    "cudnn_deterministic",
    "cudnn_benchmark",
    "sm_count",
    "cuda_driver",
    "tf32_override",
)


def _key(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return "env-" + xxhash.xxh3_64_hexdigest(text.encode("utf-8"))


@dataclass(frozen=True)
class EnvironmentFingerprint:
    """The numeric environment of one prediction; ``None`` marks a field not known.

    ``torch``, ``cuda``, ``cudnn``: versions (``cuda``/``cudnn`` ``None`` on a CPU build).
    ``device_type`` (``"cpu"``/``"cuda"``/``"mps"``), ``device_name``,
    ``compute_capability`` (``"9.0"``; ``None`` off CUDA), ``cpu_capability`` (torch's
    SIMD dispatch level, e.g. ``"AVX512"``), ``num_threads`` (intra-op), ``batch_size``,
    ``matmul_precision`` (``torch.get_float32_matmul_precision()``), ``allow_tf32``
    (CUDA matmul), ``cudnn_allow_tf32``, ``cudnn_deterministic``, ``cudnn_benchmark``,
    ``cpu_model`` (vendor, family, model and a digest of the SIMD flags, read by
    ``repro_golden.inference.probes.cpu_model``; added after the first
    golden sets, so it enters the key only when known and the keys of older
    fingerprints stay what they were).
    """

    torch: str | None = None
    cuda: str | None = None
    cudnn: str | None = None
    device_type: str | None = None
    device_name: str | None = None
    compute_capability: str | None = None
    cpu_capability: str | None = None
    num_threads: int | None = None
    batch_size: int | None = None
    matmul_precision: str | None = None
    allow_tf32: bool | None = None
    cudnn_allow_tf32: bool | None = None
    cudnn_deterministic: bool | None = None
    cudnn_benchmark: bool | None = None
    cpu_model: str | None = None
    sm_count: int | None = None
    cuda_driver: str | None = None
    tf32_override: str | None = None

    @classmethod
    def unknown(cls) -> EnvironmentFingerprint:
        """A fingerprint that knows nothing (a store made by another tool, no torch here)."""
        return cls()

    @property
    def is_known(self) -> bool:
        """Whether the fingerprint was captured by torch (at least torch and the device known)."""
        return self.torch is not None and self.device_type is not None

    @property
    def key(self) -> str:
        """A short stable id of the fields that determine the bits (xxh3-64 of their canonical
        JSON): expectations' key.

        On a CUDA device the GPU computes the bits, so the host CPU (``cpu_capability``,
        ``cpu_model``) is left out; on the CPU the CUDA-only settings (TF32 and cuDNN
        flags, compute capability, SM count, driver) are left out, since they cannot
        move a CPU run's bits (the torch build, CUDA and cuDNN versions included,
        still counts).
        """
        fields = self.to_dict()
        dropped: tuple[str, ...] = ()
        if self.device_type == "cuda":
            dropped = _HOST_FIELDS
        elif self.device_type == "cpu":
            dropped = _CUDA_FIELDS
        for name in dropped:
            fields.pop(name, None)
        return _key(fields)

    @property
    def legacy_key(self) -> str:
        """The key of this fingerprint as recorded before keys left out what cannot move
        the bits on its device (all fields); read so that older golden files stay valid."""
        return _key(self.to_dict())

    def label(self) -> str:
        """A one-line human description, e.g. ``torch 2.14.1, cpu AVX512, 2 threads``."""
        if not self.is_known:
            return "unknown environment"
        device = self.device_type or "?"
        if self.device_type == "cuda":
            device += f" {self.device_name} (sm {self.compute_capability})"
        elif self.cpu_capability:
            device += f" {self.cpu_capability}"
        if self.device_type == "cpu" and self.cpu_model:
            device += f" [{self.cpu_model.split(', simd ')[0]}]"
        return f"torch {self.torch}, {device}, {self.num_threads} threads, batch {self.batch_size}"

    def to_dict(self) -> dict[str, Any]:
        """JSON form: every field, ``None`` included (so the key is stable).

        Fields added after the first golden sets (``cpu_model``, ``sm_count``,
        ``cuda_driver``, ``tf32_override``) are left out while unknown: fingerprints
        recorded before they existed keep their keys.
        """
        fields = dataclasses.asdict(self)
        for name in _OPTIONAL_FIELDS:
            if fields[name] is None:
                del fields[name]
        return {"schema": FINGERPRINT_SCHEMA, **fields}

    def differences(self, other: EnvironmentFingerprint) -> dict[str, tuple[Any, Any]]:
        """``{field: (self value, other value)}`` for every field that differs."""
        mine, theirs = dataclasses.asdict(self), dataclasses.asdict(other)
        return {k: (mine[k], theirs[k]) for k in mine if mine[k] != theirs[k]}

    @classmethod
    def from_mapping(
        cls, data: Any, *, path: str | Path | None = None, key: str = "environment"
    ) -> EnvironmentFingerprint:
        """Validated fingerprint from its JSON form; :class:`GoldenFileError` naming ``key``."""
        if not isinstance(data, Mapping):
            raise GoldenFileError(
                f"expected an object, got {type(data).__name__}", path=path, key=key
            )
        schema = data.get("schema", FINGERPRINT_SCHEMA)
        if schema != FINGERPRINT_SCHEMA:
            raise GoldenFileError(
                f"expected schema {FINGERPRINT_SCHEMA!r}, got {schema!r}",
                path=path,
                key=f"{key}.schema",
            )
        known = {f.name for f in dataclasses.fields(cls)} | {"schema"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise GoldenFileError(f"unknown fields {unknown}", path=path, key=key)
        values: dict[str, Any] = {}
        for name, kinds in (
            *((n, (str,)) for n in _STR_FIELDS),
            *((n, (int,)) for n in _INT_FIELDS),
            *((n, (bool,)) for n in _BOOL_FIELDS),
        ):
            value = data.get(name)
            bad_bool = isinstance(value, bool) and bool not in kinds
            if value is not None and (bad_bool or not isinstance(value, kinds)):
                raise GoldenFileError(
                    f"expected {kinds[0].__name__} or null, got {value!r}",
                    path=path,
                    key=f"{key}.{name}",
                )
            values[name] = value
        return cls(**values)
