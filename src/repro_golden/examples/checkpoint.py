"""A seeded Lightning checkpoint of the reference architecture.

Every tensor is drawn with numpy, not left to timm's or torch's initialisers:
each state-dict key gets its own generator seeded by ``(case seed, xxh3-64 of
the key)``, so a tensor's values depend only on the seed, its key and its
shape, never on the order in which timm creates layers or on torch's RNG.
Values come from ``Generator.random`` (exact integer-to-float conversion)
through one multiply and one add, so they are the same on every platform.

Distributions, by key kind:

- conv and linear weights: uniform with variance ``1 / fan_in`` (activations
  keep their scale through the network);
- biases: uniform in [-0.05, 0.05]; norm weights: [0.8, 1.2];
- ConvNeXt layer scales (``gamma``): [0.05, 0.25] (timm's 1e-6 would make
  every block a no-op);
- BatchNorm running statistics: means in [-0.25, 0.25], variances in
  [0.5, 1.5], ``num_batches_tracked`` = :data:`NUM_BATCHES_TRACKED`.

The running statistics are drawn rather than accumulated by train-mode
forward passes: such passes would make the values (and the recorded digests)
depend on the machine's BLAS and CPU in the last bits. Non-trivial values
(means not 0, variances not 1) are what matter: a prediction that ran the
projection head in train mode, or ignored the loaded statistics, differs.
"""

from __future__ import annotations

import io
import math
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xxhash

from repro_golden.core.atomic import write_bytes_atomic
from repro_golden.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor

    from repro_golden.examples.cases import ExampleCase

NUM_BATCHES_TRACKED = 500
EPOCH = 49
GLOBAL_STEP = 25_000
LIGHTNING_VERSION = "2.6.6"
MODULE_PREFIX = "model."


def _key_generator(seed: int, key: str) -> np.random.Generator:
    word = xxhash.xxh3_64_intdigest(key.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, word >> 32, word & 0xFFFFFFFF]))


def _uniform(
    rng: np.random.Generator, shape: tuple[int, ...], low: float, high: float
) -> np.ndarray:
    return (low + (high - low) * rng.random(shape)).astype(np.float32)


def draw_tensor(
    seed: int, key: str, shape: tuple[int, ...], *, integer: bool = False
) -> np.ndarray:
    """The values of state-dict entry ``key`` (float32, or int64 when ``integer``)."""
    if integer:
        if not key.endswith("num_batches_tracked"):
            raise ConfigError(f"no rule to draw integer tensor {key!r}", key=key)
        return np.full(shape, NUM_BATCHES_TRACKED, dtype=np.int64)
    rng = _key_generator(seed, key)
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "running_mean":
        return _uniform(rng, shape, -0.25, 0.25)
    if leaf == "running_var":
        return _uniform(rng, shape, 0.5, 1.5)
    if leaf == "weight" and len(shape) >= 2:
        bound = math.sqrt(3.0 / math.prod(shape[1:]))
        return _uniform(rng, shape, -bound, bound)
    if leaf == "weight":
        return _uniform(rng, shape, 0.8, 1.2)
    if leaf == "bias":
        return _uniform(rng, shape, -0.05, 0.05)
    if leaf == "gamma":
        return _uniform(rng, shape, 0.05, 0.25)
    raise ConfigError(f"no rule to draw tensor {key!r} of shape {list(shape)}", key=key)


def seeded_state_dict(case: ExampleCase) -> OrderedDict[str, Tensor]:
    """The module's state dict (``model.``-prefixed keys, module order), every tensor drawn.

    ``ContrastiveModule`` stores the encoder as ``model`` and holds nothing
    else, so its keys are the encoder's with a ``model.`` prefix. Building
    the encoder alone, on the ``meta`` device, avoids importing Lightning and
    running timm's initialisers (seconds of the generation budget). The
    drawn tensors are loaded strictly into that encoder, which proves that
    keys, shapes and dtypes are the architecture's; the tests load the
    checkpoint into ``ContrastiveModule``.
    """
    import torch

    from repro_golden.inference.model.encoder import ContrastiveEncoder

    torch.manual_seed(case.seed)
    with torch.device("meta"):  # shapes only: skip timm's initialisation, every value is drawn
        encoder = ContrastiveEncoder(**case.model_mapping())
    drawn: OrderedDict[str, Tensor] = OrderedDict()
    for key, template in encoder.state_dict().items():
        values = draw_tensor(
            case.seed,
            f"{MODULE_PREFIX}{key}",
            tuple(template.shape),
            integer=not torch.is_floating_point(template),
        )
        drawn[key] = torch.from_numpy(values).to(template.dtype)
    encoder.load_state_dict(drawn, strict=True, assign=True)
    return OrderedDict((f"{MODULE_PREFIX}{key}", value) for key, value in drawn.items())


def checkpoint_dict(case: ExampleCase) -> dict[str, Any]:
    """A Lightning-style checkpoint as VisCy's look: bookkeeping plus ``state_dict``, no hparams."""
    return {
        "epoch": EPOCH,
        "global_step": GLOBAL_STEP,
        "pytorch-lightning_version": LIGHTNING_VERSION,
        "state_dict": seeded_state_dict(case),
    }


def write_checkpoint(path: Path, case: ExampleCase) -> None:
    """Write the seeded checkpoint of ``case`` to ``path`` atomically."""
    import torch

    buffer = io.BytesIO()
    torch.save(checkpoint_dict(case), buffer)
    write_bytes_atomic(path, buffer.getvalue())
