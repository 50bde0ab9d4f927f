"""Memory benchmark: peak RSS of predict at 1x and 4x the cells, per cache setting.

Plates come from ``bench_input.build_plate`` (2048 x 2048 float32 frames by
default, iohub chunking, cells in ultrack's track-by-track order); the 4x
plate has four times the time points, so each FOV holds four times the
cells. In that order a FOV's frames are needed again and again, so what the
reader keeps is its cut-ahead patches: at most ``cache_bytes`` (plus the
prefetched batches and one decoded region per worker), whatever the plate.
Each run is a fresh process (``ru_maxrss`` is its peak) and is done twice:

* predict end to end (the example case's convnext_tiny checkpoint, CPU);
* the reader alone (the same ``PlateDataModule``, batches dropped), which
  shows the reader's part of the peak;

and the writer's part is printed as the bytes of what it gathers before it
writes (``X`` and ``X_projections`` float32 plus the index), which grows
with the cells by design (one AnnData written at the end).

    python benchmarks/bench_memory.py [--cells 150] [--timepoints 2] [--cache-mib 1024 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_input import build_plate
from scaled_case import example_case, plate_arguments, scaled_case

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, case_file = sys.argv[1], Path(sys.argv[2])
from repro_golden.config.case import Case
case = Case.load(case_file)
start = time.perf_counter()
if mode == "predict":
    from repro_golden.inference.predict import predict
    result = predict(case, overwrite=True, progress=False)
    cells = result.cells
else:
    from repro_golden.inference.data.datamodule import PlateDataModule
    module = PlateDataModule(case.data)
    module.setup("predict")
    cells = sum(len(b["row"]) for b in module.predict_dataloader())
    module.teardown("predict")
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"cells": cells, "seconds": seconds, "peak_rss": peak}))
"""

#: Bytes the writer gathers per cell: X (768) and X_projections (32) float32, and
#: eight int64 index columns (the FOV name strings come on top).
WRITER_BYTES_PER_CELL = (768 + 32) * 4 + 8 * 8


def child(mode: str, case_file: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(case_file)],
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    if result.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cells", type=int, default=150, help="cells per frame")
    parser.add_argument("--timepoints", type=int, default=2, help="time points of the 1x plate")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument(
        "--cache-mib", type=int, nargs="+", default=[1024, 16], help="cache_bytes settings, MiB"
    )
    parser.add_argument("--dir", type=Path, default=None, help="keep plates and the example here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        root = args.dir or Path(scratch)
        example = example_case(root / "example")
        plates = {}
        for scale in (1, 4):
            directory = root / f"plate-{scale}x"
            spec = plate_arguments(
                timepoints=args.timepoints * scale, cells=args.cells, size=args.size
            )
            if not (directory / "plate.zarr").exists():
                directory.mkdir(parents=True, exist_ok=True)
                build_plate(directory, spec)
            plates[scale] = (directory / "plate.zarr", directory / "tracks")
        print(
            f"plates: 1 FOV, {args.size}x{args.size} float32, {args.cells} cells/frame, "
            f"{args.timepoints} and {4 * args.timepoints} time points; patch 160, batch 64; "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        for cache in args.cache_mib:
            peaks: dict[tuple[str, int], float] = {}
            for scale, (plate, tracks) in plates.items():
                case_file = scaled_case(
                    example,
                    plate,
                    tracks,
                    root / f"case-{scale}x-{cache}.yaml",
                    data={"cache_bytes": cache << 20},
                )
                for mode in ("predict", "reader"):
                    start = time.perf_counter()
                    result = child(mode, case_file)
                    peaks[(mode, scale)] = result["peak_rss"]
                    writer = result["cells"] * WRITER_BYTES_PER_CELL if mode == "predict" else 0
                    print(
                        f"cache {cache:>5} MiB  {scale}x  {mode:<8} {int(result['cells']):>6} "
                        "cells "
                        f"peak RSS {result['peak_rss'] / 2**20:7.1f} MiB"
                        + (f"  (writer gathers {writer / 2**20:5.1f} MiB)" if writer else "")
                        + f"  {time.perf_counter() - start:5.1f} s",
                        flush=True,
                    )
            for mode in ("predict", "reader"):
                growth = peaks[(mode, 4)] / peaks[(mode, 1)] - 1
                print(f"cache {cache:>5} MiB  {mode}: 4x vs 1x peak RSS {100 * growth:+.1f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
