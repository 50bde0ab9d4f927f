"""Save VisCy 0.4.1's TripletDataModule predict batches (run with viscy's Python).

Usage: python viscy_triplet_reference.py JOBS.json

JOBS is a list of ``{"config": {...}, "out": "path.npz"}``; each config is the
``data:`` mapping of our case file (VisCy argument names). Each out receives
``anchor`` (all batches concatenated), ``batch_sizes`` and one array per index
column, as VisCy's predict DataLoader and ``on_after_batch_transfer``
(normalization and final crop) produce them. This file imports viscy and is
never imported by the test suite itself.
"""

from __future__ import annotations

import json
import sys

import numpy as np


def run(config: dict, out_path: str) -> None:
    from viscy.data.triplet import TripletDataModule
    from viscy.transforms import NormalizeSampled

    for ours_only in ("cache_bytes", "prefetch_batches", "read_threads"):
        config.pop(ours_only, None)
    normalizations = [NormalizeSampled(**spec) for spec in config.pop("normalizations", [])]
    aliases = {"include_wells": "fit_include_wells", "exclude_fov_names": "fit_exclude_fovs"}
    for ours, theirs in aliases.items():
        if ours in config:
            config[theirs] = config.pop(ours)
    module = TripletDataModule(normalizations=normalizations, **config)
    module.setup("predict")
    anchors, sizes = [], []
    columns: dict[str, list] = {}
    for batch in module.predict_dataloader():
        batch = module.on_after_batch_transfer(batch, 0)
        anchor = batch["anchor"]
        anchor = anchor.as_tensor() if hasattr(anchor, "as_tensor") else anchor
        anchors.append(anchor.numpy())
        sizes.append(anchor.shape[0])
        for row in batch["index"]:
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
    arrays = {f"index_{k}": np.asarray(v) for k, v in columns.items()}
    np.savez(
        out_path,
        anchor=np.concatenate(anchors) if anchors else np.zeros(0, np.float32),
        batch_sizes=np.asarray(sizes, dtype=np.int64),
        **arrays,
    )


def main(jobs_path: str) -> None:
    with open(jobs_path) as handle:
        jobs = json.load(handle)
    for job in jobs:
        run(job["config"], job["out"])


if __name__ == "__main__":
    main(sys.argv[1])
