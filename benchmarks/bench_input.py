"""Input benchmark: our PlateDataModule next to VisCy's TripletDataset, same plate, same run.

Builds (seeded, into a temporary directory) an HCS plate with realistic
frames: 2048 x 2048 float32 by default, written by iohub with its default
chunking (one chunk per (t, c) Z-stack, blosc zstd), a few hundred cells per
frame, tracks in ultrack's track-by-track order. It then times, on the same
rows and the same batches:

* ours: ``PlateDataModule.predict_dataloader()``, normalized and cropped
  float32 batches as the model receives them;
* VisCy 0.4.1: ``TripletDataModule.predict_dataloader()`` followed by its
  ``on_after_batch_transfer`` (normalization and crop), in the Python named
  by ``--viscy-python`` / ``REPRO_GOLDEN_VISCY_PYTHON`` as a subprocess.

and prints cells/s for both and their ratio. Both include plate opening and
row-table building (``setup``). The default run stays well under two minutes
on a 2-core machine; ``--fovs``, ``--timepoints``, ``--cells`` and ``--size``
scale it up.

    python benchmarks/bench_input.py [--fovs 2] [--timepoints 8] [--cells 150]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

VISCY_SIDE = textwrap.dedent(
    """
    import json, sys, time
    t0 = time.perf_counter()
    from viscy.data.triplet import TripletDataModule
    from viscy.transforms import NormalizeSampled
    args = json.loads(sys.argv[1])
    norms = [NormalizeSampled(**n) for n in args.pop("normalizations")]
    limit = args.pop("max_batches")
    imported = time.perf_counter()
    cpu = time.process_time()
    module = TripletDataModule(normalizations=norms, **args)
    module.setup("predict")
    cells = 0
    checksum = 0.0
    for i, batch in enumerate(module.predict_dataloader()):
        if limit is not None and i >= limit:
            break
        batch = module.on_after_batch_transfer(batch, 0)
        cells += batch["anchor"].shape[0]
        checksum += float(batch["anchor"].double().sum())
    done = time.perf_counter()
    cpu = time.process_time() - cpu
    print(json.dumps(
        {"cells": cells, "seconds": done - imported, "cpu_seconds": cpu, "checksum": checksum}
    ))
    """
)


def build_plate(root: Path, args: argparse.Namespace) -> tuple[Path, Path]:
    """Write the plate and tracks; returns their paths."""
    from iohub.ngff import open_ome_zarr

    rng = np.random.default_rng(args.seed)
    size = args.size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    plate_path, tracks_path = root / "plate.zarr", root / "tracks"
    half = args.patch // 2
    with open_ome_zarr(
        plate_path, layout="hcs", mode="w-", channel_names=["Phase3D", "GFP"]
    ) as plate:
        for f in range(args.fovs):
            position = plate.create_position("A", str(f + 1), "0")
            background = 100 + 20 * np.sin(6 * yy + f) * np.cos(5 * xx - f)
            data = np.empty((args.timepoints, 2, 1, size, size), dtype=np.float32)
            for t in range(args.timepoints):
                for c in range(2):
                    noise = rng.standard_normal((size, size), dtype=np.float32)
                    data[t, c, 0] = background + 5 * noise
            position.create_image("0", data)
            stats = {"fov_statistics": {"mean": 100.0, "std": 15.0}}
            position.zattrs["normalization"] = {"Phase3D": stats, "GFP": stats}
            # ultrack order: track by track; cells drift a little, a few leave the frame
            rows = []
            for track in range(args.cells):
                y, x = rng.integers(half + 1, size - half - 1, size=2)
                for t in range(args.timepoints):
                    dy, dx = rng.integers(-3, 4, size=2)
                    rows.append((track, t, track * 1000 + t, -1, -1, 0, int(y + dy), int(x + dx)))
            directory = tracks_path / "A" / str(f + 1) / "0"
            directory.mkdir(parents=True)
            pd.DataFrame(
                rows, columns=["track_id", "t", "id", "parent_track_id", "parent_id", "z", "y", "x"]
            ).to_csv(directory / "tracks.csv", index=False)
    return plate_path, tracks_path


def data_mapping(plate: Path, tracks: Path, args: argparse.Namespace) -> dict[str, Any]:
    return {
        "data_path": str(plate),
        "tracks_path": str(tracks),
        "source_channel": ["Phase3D"],
        "z_range": [0, 1],
        "initial_yx_patch_size": [args.patch, args.patch],
        "final_yx_patch_size": [args.patch, args.patch],
        "batch_size": args.batch_size,
        "num_workers": args.workers,
        "normalizations": [
            {"keys": ["Phase3D"], "level": "fov_statistics", "subtrahend": "mean", "divisor": "std"}
        ],
    }


def run_ours(mapping: dict[str, Any], max_batches: int | None) -> dict[str, float]:
    from repro_golden.config.data import DataConfig
    from repro_golden.inference.data.datamodule import PlateDataModule

    start = time.perf_counter()
    cpu = time.process_time()
    config = DataConfig.from_mapping(mapping, base_dir=Path.cwd(), source=Path("<bench>"))
    module = PlateDataModule(config)
    module.setup("predict")
    cells, checksum = 0, 0.0
    for i, batch in enumerate(module.predict_dataloader()):
        if max_batches is not None and i >= max_batches:
            break
        cells += batch["anchor"].shape[0]
        checksum += float(batch["anchor"].double().sum())
    module.teardown("predict")
    return {
        "cells": cells,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
        "checksum": checksum,
    }


def run_viscy(python: str, mapping: dict[str, Any], max_batches: int | None) -> dict[str, float]:
    payload = dict(mapping, max_batches=max_batches)
    result = subprocess.run(
        [python, "-c", VISCY_SIDE, json.dumps(payload)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"VisCy side failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(name: str, result: dict[str, float]) -> None:
    """One line: cells, wall seconds, cells/s, and cells per CPU second (all threads)."""
    print(
        f"{name:<30} {result['cells']:>7} cells {result['seconds']:8.2f} s "
        f"{result['cells'] / result['seconds']:9.1f} cells/s "
        f"{result['cells'] / result['cpu_seconds']:9.1f} cells/CPU-s",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fovs", type=int, default=2)
    parser.add_argument("--timepoints", type=int, default=8)
    parser.add_argument("--cells", type=int, default=150, help="tracks (cells per frame) per FOV")
    parser.add_argument("--size", type=int, default=2048, help="frame height and width")
    parser.add_argument("--patch", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1, help="num_workers for both sides")
    parser.add_argument(
        "--viscy-batches",
        type=int,
        default=None,
        help="time VisCy on its first N batches only (it is slow); default: all",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--dir", type=Path, default=None, help="keep the plate here (reused if already there)"
    )
    parser.add_argument(
        "--viscy-python",
        default=os.environ.get("REPRO_GOLDEN_VISCY_PYTHON"),
        help="Python with viscy",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-input-") as scratch:
        root = args.dir or Path(scratch)
        root.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        if (root / "plate.zarr").exists():
            plate, tracks = root / "plate.zarr", root / "tracks"  # --dir kept from a run
        else:
            plate, tracks = build_plate(root, args)
        frames = args.fovs * args.timepoints
        print(
            f"plate: {args.fovs} FOV x {args.timepoints} t, {args.size}x{args.size} float32, "
            f"{args.cells} cells/frame, patch {args.patch}, batch {args.batch_size}, "
            f"workers {args.workers}; {frames * args.cells} cells; "
            f"built in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        mapping = data_mapping(plate, tracks, args)
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        ours = run_ours(mapping, None)
        report("repro-golden PlateDataModule", ours)
        if not args.viscy_python:
            print("VisCy side skipped: set REPRO_GOLDEN_VISCY_PYTHON or pass --viscy-python")
            return 0
        theirs = run_viscy(args.viscy_python, mapping, args.viscy_batches)
        report("VisCy 0.4.1 TripletDataset", theirs)
        if args.viscy_batches is None and not np.isclose(ours["checksum"], theirs["checksum"]):
            print(f"WARNING: checksums differ: {ours['checksum']} vs {theirs['checksum']}")
        wall = (ours["cells"] / ours["seconds"]) / (theirs["cells"] / theirs["seconds"])
        cpu = (ours["cells"] / ours["cpu_seconds"]) / (theirs["cells"] / theirs["cpu_seconds"])
        print(f"speed-up: {wall:.1f}x in cells/s (wall clock), {cpu:.1f}x in cells per CPU second")
    return 0


if __name__ == "__main__":
    sys.exit(main())
