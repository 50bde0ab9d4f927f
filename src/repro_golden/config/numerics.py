"""The numerical mode of a run: everything besides code and data that moves the last bits.

Seed, precision, inference mode, deterministic algorithms, the float32 matmul
precision (VisCy's command line sets ``"high"``, i.e. TF32 on recent GPUs) and
cuDNN autotuning are part of a case, not accidents of the environment. The
mode is applied before prediction and recorded in the output's provenance.

TF32 is one switch, ``matmul_precision``, for matmuls *and* convolutions: torch's
own defaults leave cuDNN convolutions in TF32 (``torch.backends.cudnn.allow_tf32``
is True) even at ``"highest"``, which made ``highest`` a half promise on a GPU.
``"highest"`` (the one default, for case files and bare VisCy / LightningCLI
configs alike) turns TF32 off for both; ``"high"``/``"medium"`` (VisCy's CLI:
write ``numerics: {matmul_precision: high}`` in a case) turn it on for both. The
legacy flags are set (``allow_tf32``), not the newer ``fp32_precision`` ones:
torch 2.14 raises when code reads the legacy flags after the new API set only
some of them, and Lightning and the fingerprint read them.

Importing this module does not import torch; :meth:`NumericalMode.apply`
does.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from repro_golden.config import validate
from repro_golden.errors import ConfigError

MATMUL_PRECISIONS = ("highest", "high", "medium")
PRECISIONS = ("32-true", "32", "64-true", "64", "16-mixed", "bf16-mixed", "16-true", "bf16-true")
_CUBLAS_WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"


@dataclass(frozen=True)
class NumericalMode:
    """How numbers are computed in a run (defaults: VisCy's reference run, exact matmuls).

    ``precision`` is a Lightning precision string; ``inference_mode`` selects
    ``torch.inference_mode`` over ``torch.no_grad``; ``deterministic`` turns on
    ``torch.use_deterministic_algorithms`` (and cuDNN determinism).
    ``cpu_threads`` pins torch's intra-op thread count: CPU kernels split their
    reductions by thread, so the same batch gives different last bits at 1 and
    2 threads; a case whose golden digests must match on any machine pins it
    (``None`` leaves torch's default, the number of cores).
    ``offline`` (on: compute nodes have no internet) makes a ``lightning``
    pipeline's timm ``create_model`` never ask for pretrained weights (the
    checkpoint replaces them) and refuses any other connection beyond this
    host, naming who tried; the builtin pipeline never downloads anything.
    """

    seed: int = 42
    precision: str = "32-true"
    inference_mode: bool = True
    deterministic: bool = True
    matmul_precision: str = "highest"
    cudnn_benchmark: bool = False
    cpu_threads: int | None = None
    offline: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"expected an integer >= 0, got {self.seed!r}", key="numerics.seed")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"expected one of {list(PRECISIONS)}, got {self.precision!r}",
                key="numerics.precision",
            )
        if self.matmul_precision not in MATMUL_PRECISIONS:
            raise ConfigError(
                f"expected one of {list(MATMUL_PRECISIONS)}, got {self.matmul_precision!r}",
                key="numerics.matmul_precision",
            )
        if self.cpu_threads is not None and (
            isinstance(self.cpu_threads, bool)
            or not isinstance(self.cpu_threads, int)
            or self.cpu_threads < 1
        ):
            raise ConfigError(
                f"expected an integer >= 1 or null, got {self.cpu_threads!r}",
                key="numerics.cpu_threads",
            )
        for name in ("inference_mode", "deterministic", "cudnn_benchmark", "offline"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(
                    f"expected true or false, got {getattr(self, name)!r}", key=f"numerics.{name}"
                )

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any] | None, *, source: str | Path | None = None
    ) -> NumericalMode:
        """Build from a case file's ``numerics:`` mapping; missing keys take the defaults.

        ``precision`` may also come from the case's ``trainer:`` section (the
        caller merges it). Raises :class:`ConfigError` naming ``source`` and key.
        """
        if mapping is None:
            return cls()
        if not isinstance(mapping, Mapping):
            raise ConfigError(
                f"expected a mapping, got {type(mapping).__name__}", path=source, key="numerics"
            )
        validate.refuse_unknown(
            mapping, {f.name for f in fields(cls)}, source=source, key="numerics"
        )
        values = dict(mapping)
        if "precision" in values:
            values["precision"] = str(values["precision"])
        try:
            return cls(**values)
        except ConfigError as exc:
            raise ConfigError(
                str(exc).split("] ", 1)[-1], path=source, key=exc.key or "numerics"
            ) from None

    @property
    def tf32(self) -> bool:
        """Whether TF32 is allowed, for matmuls and cuDNN convolutions alike (module docs)."""
        return self.matmul_precision != "highest"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, recorded in provenance."""
        return asdict(self)

    def trainer_kwargs(self) -> dict[str, Any]:
        """The Lightning ``Trainer`` arguments this mode implies."""
        return {
            "precision": self.precision,
            "inference_mode": self.inference_mode,
            "deterministic": self.deterministic,
            "benchmark": self.cudnn_benchmark,
        }

    def apply(self) -> None:
        """Set torch's global state to this mode (seed, determinism, matmul precision, cuDNN)."""
        import torch
        from lightning.fabric.utilities.seed import seed_everything

        seed_everything(self.seed, verbose=False)
        if self.deterministic:
            os.environ.setdefault(_CUBLAS_WORKSPACE, ":4096:8")
        torch.use_deterministic_algorithms(self.deterministic)
        torch.backends.cudnn.deterministic = self.deterministic
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        torch.set_float32_matmul_precision(self.matmul_precision)
        torch.backends.cudnn.allow_tf32 = self.tf32
        if self.cpu_threads is not None:
            torch.set_num_threads(self.cpu_threads)

    @contextlib.contextmanager
    def applied(self) -> Iterator[NumericalMode]:
        """Apply this mode for the block; restore torch's previous global settings after.

        The RNG states are restored too, so a library call does not reseed the caller.
        """
        import random

        import numpy as np
        import torch

        saved = (
            torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark,
            torch.get_float32_matmul_precision(),
            torch.backends.cudnn.allow_tf32,
            os.environ.get(_CUBLAS_WORKSPACE),
            random.getstate(),
            np.random.get_state(),
            torch.random.get_rng_state(),
            os.environ.get("PL_GLOBAL_SEED"),
            torch.get_num_threads(),
        )
        try:
            self.apply()
            yield self
        finally:
            (
                det,
                warn_only,
                cudnn_det,
                bench,
                matmul,
                cudnn_tf32,
                cublas,
                py_rng,
                np_rng,
                torch_rng,
                pl_seed,
                threads,
            ) = saved
            torch.use_deterministic_algorithms(det, warn_only=warn_only)
            torch.backends.cudnn.deterministic = cudnn_det
            torch.backends.cudnn.benchmark = bench
            torch.set_float32_matmul_precision(matmul)
            torch.backends.cudnn.allow_tf32 = cudnn_tf32
            _restore_env(_CUBLAS_WORKSPACE, cublas)
            _restore_env("PL_GLOBAL_SEED", pl_seed)
            random.setstate(py_rng)
            np.random.set_state(np_rng)
            torch.random.set_rng_state(torch_rng)
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value
