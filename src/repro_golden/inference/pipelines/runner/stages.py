"""Per-batch stage digests and every DDP rank's rows, recorded while ``trainer.predict`` runs.

The digests are :mod:`repro_golden.inference.probes`' (the builtin pipeline's
writer records the same), so the two pipelines' stage records compare.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from ...probes import batch_stage_record, environment, row_keys
from .events import emit
from .protocol import PREDICTED_ROWS


def stage_callback(total: int | None, batch_size: int | None) -> Any:
    """A Lightning callback recording :func:`batch_stage_record` and streaming cell counts.

    Each rank keeps its own records and the row keys of the cells it predicted;
    at the end of predict (every rank reaches ``on_predict_end``, the process
    group is still up) they are gathered to every rank, so rank 0 can say what
    each rank predicted and the caller can compare that with the writer's rows.
    """
    from lightning.pytorch import Callback

    class StageDigests(Callback):
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []
            self.keys: list[list[Any]] | None = []
            self.cells = 0
            self.local_cells = 0
            self.environment: dict[str, Any] | None = None
            self.ranks: list[dict[str, Any]] = []

        def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
            self.environment = environment(pl_module.device, batch_size)

        def on_predict_batch_end(
            self,
            trainer: Any,
            pl_module: Any,
            outputs: Any,
            batch: Any,
            batch_idx: int,
            dataloader_idx: int = 0,
        ) -> None:
            record = batch_stage_record(batch, outputs, batch_idx)
            record["rank"] = trainer.global_rank
            self.records.append(record)
            size = record["rows"]
            if size is None and isinstance(batch, Mapping) and batch.get("anchor") is not None:
                size = len(batch["anchor"])
            keys = row_keys(batch) if isinstance(batch, Mapping) else None
            if keys is None or self.keys is None:
                self.keys = None
            else:
                self.keys.extend(keys)
            self.local_cells += int(size or 0)
            # Progress is an estimate under DDP (rank 0's pace times the ranks).
            self.cells += int(size or 0) * trainer.world_size
            emit("progress", cells=self.cells, total=total)

        def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
            import torch

            mine = {
                "rank": int(trainer.global_rank),
                "records": self.records,
                "cells": self.local_cells,
                "keys": self.keys,
            }
            packs: list[Any] = [mine]
            if (
                trainer.world_size > 1
                and torch.distributed.is_available()
                and torch.distributed.is_initialized()
            ):
                packs = [None] * trainer.world_size
                torch.distributed.all_gather_object(packs, mine)
            self.records = sorted(
                (r for pack in packs for r in pack["records"]),
                key=lambda r: (r["batch"], r["rank"]),
            )
            self.ranks = [
                {
                    "rank": pack["rank"],
                    "batches": len(pack["records"]),
                    "cells": pack["cells"],
                    "keys": pack["keys"],
                }
                for pack in sorted(packs, key=lambda p: p["rank"])
            ]
            self.cells = sum(rank["cells"] for rank in self.ranks)

        def gathered(self, trainer: Any) -> list[dict[str, Any]]:
            return list(self.records)

    return StageDigests()


def config_batch_size(config: Mapping[str, Any]) -> int | None:
    value = ((config.get("data") or {}).get("init_args") or {}).get("batch_size")
    return value if isinstance(value, int) else None


def write_predicted_rows(private: Any, ranks: Sequence[Mapping[str, Any]]) -> None:
    """Every rank's row keys to :data:`PREDICTED_ROWS` in the caller's private folder
    (atomically), where the caller compares them with the rows the writer wrote."""
    if isinstance(private, str) and os.path.isdir(private):
        target = os.path.join(private, PREDICTED_ROWS)
        with open(target + ".tmp", "w", encoding="utf-8") as handle:
            json.dump({"ranks": list(ranks)}, handle, separators=(",", ":"))
        os.replace(target + ".tmp", target)
