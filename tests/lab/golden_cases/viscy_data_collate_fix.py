"""Recipe for viscy-data 0.1.0 on plates that `viscy preprocess` wrote (imported via preimport).

viscy-data 0.1.0's ``_collate_norm_meta`` stacks normalization metadata two
levels deep (``channel -> level -> statistic``). A plate preprocessed by
``viscy preprocess`` also carries ``timepoint_statistics``, one level deeper
(``timepoint -> statistic``), and every predict batch fails with ``TypeError:
expected Tensor as element 0 in argument 0, but got dict``.

This module replaces that one function with one that stacks the leaves at any
depth. The case file imports it before the config's classes
(``preimport: [viscy_data_collate_fix]``) and puts this folder on the
pipeline's ``PYTHONPATH`` (``env: {PYTHONPATH: .}``). repro-golden does not
patch other packages: the fix is yours, in your repository, until viscy-data
ships one; delete this file and the two case lines then.
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
