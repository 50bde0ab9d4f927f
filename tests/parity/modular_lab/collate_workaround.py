"""Test-only workaround for viscy-data 0.1.0's ``_collate_norm_meta`` (imported via preimport).

viscy-data 0.1.0 stacks normalization metadata two levels deep
(``channel -> level -> statistic``) for every level a position carries. A plate
preprocessed by ``viscy preprocess`` also carries ``timepoint_statistics``, one
level deeper (``timepoint -> statistic``), and predict batches fail with
``TypeError: expected Tensor as element 0 in argument 0, but got dict``. The
suite shows that failure as a strict xfail; the rest of the proof imports this
module first (``preimport: [collate_workaround]``), which replaces the function
with one that stacks the leaves at any depth. repro-golden itself carries no
fix for other packages' bugs: this file lives in tests/ only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import viscy_data._utils as utils


def _stack(values: Sequence[Any]) -> Any:
    first = values[0]
    if first is None:
        return None
    if isinstance(first, Mapping):
        return {key: _stack([v[key] for v in values]) for key in first}
    return torch.stack([torch.as_tensor(v) for v in values])


def collate_norm_meta(norm_metas: list[Any]) -> Any:
    """Per-sample metadata stacked leaf by leaf into ``(B,)`` tensors, at any depth."""
    return _stack(norm_metas)


utils._collate_norm_meta = collate_norm_meta
