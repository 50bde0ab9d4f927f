"""Stage digests: where did two runs of a pipeline start to differ?

While a pipeline predicts, each batch leaves a record (``uns["repro_golden"]
["stages"]["batches"]``): the number of rows and a digest of their keys in
order (``fov_name, track_id, t, id``), a digest of the ``anchor`` tensor the
model received, and digests of its output tensors. After writing, the store's
layout gets digests too (``stages.layout``: ``X``, ``X_projections`` and the
index columns, names included). Comparing two such records in data-flow order
names the first stage that changed:

- ``rows``: other cells, or the same cells in another order or other batches;
- ``inputs``: the same rows reached the model as other numbers (reading,
  cropping, normalization);
- ``outputs``: the same inputs gave other outputs (weights, model code, numerics);
- ``layout``: every batch matched, but what was written differs.

Digests are compared for equality only, so the algorithm that made them
(BLAKE2b-128 over canonical bytes, see the runner) must be the same on both
sides; a record made by another algorithm is not comparable and says so.
This module is torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from repro_golden.core.digest import array_digest, index_digest

STAGES_SCHEMA = "repro-golden/stages/1"
#: How the runner and the builtin writer make stage digests (BLAKE2b-128, canonical bytes).
DIGEST_ALGORITHM = "blake2b_128/canonical-1"
#: The model outputs compared when both sides have them (others are pass-through values).
OUTPUT_KEYS = ("features", "projections")


class Stage(Enum):
    """The stages of a prediction, in data-flow order."""

    ROWS = "rows"
    INPUTS = "inputs"
    OUTPUTS = "outputs"
    LAYOUT = "layout"

    @property
    def explanation(self) -> str:
        """What a divergence first seen at this stage means."""
        return {
            Stage.ROWS: "other cells, or the same cells in another order or batching",
            Stage.INPUTS: "the same rows reached the model as other numbers "
            "(data loading, cropping, normalization)",
            Stage.OUTPUTS: "identical model inputs gave other outputs (model weights or code, "
            "or the numerics)",
            Stage.LAYOUT: "every batch matched; only the written store differs "
            "(columns, dtypes, order)",
        }[self]


@dataclass(frozen=True)
class Divergence:
    """The first stage at which obtained and reference differ (``stage`` None: none does).

    ``comparable`` is false when either side carries no stage digests; then
    ``detail`` says which.
    """

    stage: Stage | None
    batch: int | None = None
    detail: str = ""
    comparable: bool = True

    @property
    def identical(self) -> bool:
        """True when both records are comparable and no stage differs."""
        return self.comparable and self.stage is None

    def render(self) -> str:
        """One line for a report."""
        if not self.comparable:
            return f"first diverging stage: unknown ({self.detail})"
        if self.stage is None:
            return "first diverging stage: none (every recorded stage is identical)"
        where = "" if self.batch is None else f" at batch {self.batch}"
        return f"first diverging stage: {self.stage.value}{where}: {self.stage.explanation}" + (
            f"; {self.detail}" if self.detail else ""
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "stage": None if self.stage is None else self.stage.value,
            "batch": self.batch,
            "detail": self.detail,
            "comparable": self.comparable,
        }


def stages_of(provenance: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The ``stages`` record of a provenance mapping, or None when it has none."""
    if not isinstance(provenance, Mapping):
        return None
    stages = provenance.get("stages")
    return stages if isinstance(stages, Mapping) and "batches" in stages else None


def _batches(stages: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    batches = [b for b in stages.get("batches") or () if isinstance(b, Mapping)]
    return sorted(batches, key=lambda b: (int(b.get("batch", 0)), int(b.get("rank", 0) or 0)))


def _first(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]], key: str) -> int | None:
    for position, (x, y) in enumerate(zip(a, b, strict=False)):
        if x.get(key) is not None and y.get(key) is not None and x.get(key) != y.get(key):
            return position
    return None


def _outputs(record: Mapping[str, Any], keys: Sequence[str]) -> tuple[Any, ...]:
    digests = record.get("output_digests") or {}
    return tuple(digests.get(k) for k in keys)


def _output_keys(a: Sequence[Mapping[str, Any]], b: Sequence[Mapping[str, Any]]) -> list[str]:
    if not a or not b:
        return []
    left = set(a[0].get("output_digests") or {})
    right = set(b[0].get("output_digests") or {})
    named = [k for k in OUTPUT_KEYS if k in left and k in right]
    return named or sorted(left & right)


def first_divergence(
    obtained: Mapping[str, Any] | None, reference: Mapping[str, Any] | None
) -> Divergence:
    """Compare two provenance mappings' stage digests in data-flow order (module docs)."""
    ours, theirs = stages_of(obtained), stages_of(reference)
    if ours is None or theirs is None:
        missing = [n for n, s in (("obtained", ours), ("reference", theirs)) if s is None]
        return Divergence(
            None, detail=f"no stage digests in {' and '.join(missing)}", comparable=False
        )
    if ours.get("algorithm") != theirs.get("algorithm"):
        return Divergence(
            None,
            detail=f"digest algorithms differ ({ours.get('algorithm')!r} vs "
            f"{theirs.get('algorithm')!r})",
            comparable=False,
        )
    a, b = _batches(ours), _batches(theirs)
    sizes_a, sizes_b = [x.get("rows") for x in a], [y.get("rows") for y in b]
    if sizes_a != sizes_b:
        position = next(
            (i for i, (x, y) in enumerate(zip(sizes_a, sizes_b, strict=False)) if x != y),
            min(len(a), len(b)),
        )
        return Divergence(
            Stage.ROWS,
            position,
            f"{len(a)} batches of {_total(sizes_a)} rows obtained, {len(b)} batches of "
            f"{_total(sizes_b)} rows in the reference",
        )
    changed_rows = _first(a, b, "rows_digest")
    if changed_rows is not None:
        return Divergence(Stage.ROWS, changed_rows, "the row keys of this batch differ")
    changed_inputs = _first(a, b, "input_digest")
    if changed_inputs is not None:
        return Divergence(Stage.INPUTS, changed_inputs, "the model's `anchor` input differs")
    keys = _output_keys(a, b)
    for position, (x, y) in enumerate(zip(a, b, strict=True)):
        if _outputs(x, keys) != _outputs(y, keys):
            changed = [
                k
                for k, u, v in zip(keys, _outputs(x, keys), _outputs(y, keys), strict=True)
                if u != v
            ]
            return Divergence(Stage.OUTPUTS, position, f"outputs {changed} differ")
    layout_a, layout_b = ours.get("layout"), theirs.get("layout")
    if isinstance(layout_a, Mapping) and isinstance(layout_b, Mapping) and layout_a != layout_b:
        changed = sorted(
            k for k in set(layout_a) | set(layout_b) if layout_a.get(k) != layout_b.get(k)
        )
        return Divergence(Stage.LAYOUT, None, f"written {changed} differ")
    return Divergence(None)


def divergence_note(
    obtained: Mapping[str, Any] | None, reference: Mapping[str, Any] | None
) -> str | None:
    """The report's line naming the first diverging stage; None unless both sides carry
    stage digests and some stage differs (a store made by another tool records none)."""
    if stages_of(obtained) is None or stages_of(reference) is None:
        return None
    divergence = first_divergence(obtained, reference)
    return None if divergence.identical else divergence.render()


def _total(sizes: Sequence[Any]) -> int | None:
    return None if any(s is None for s in sizes) else sum(int(s) for s in sizes)


def layout_digests(path: str | Path) -> dict[str, Any]:
    """Digests of what a store holds: ``X``, ``X_projections``, index columns (names included).

    An unreadable store gets ``{"error": ...}`` (so it differs from any readable one).
    """
    from repro_golden.core.embeddings import EmbeddingsStore
    from repro_golden.errors import EmbeddingsError

    try:
        store = EmbeddingsStore(path)
        rows = np.arange(store.num_rows)
        index: dict[str, np.ndarray] = {}
        for column in store.index_columns:
            values = np.asarray(store.read_column(column, rows))
            index[column] = (
                values.astype(np.int64) if values.dtype.kind in "biuf" else values.astype(str)
            )
        digests: dict[str, Any] = {"obs": index_digest(index), "columns": list(index)}
        for name, info in store.arrays.items():
            digests[name] = array_digest(store.read_rows(name, rows))
            digests[f"{name}_dtype"] = f"{info.dtype}{list(info.shape)}"
    except EmbeddingsError as exc:
        return {"error": str(exc)}
    return digests
