"""Memory benchmark: peak RSS of predict at 1x and 4x the cells, per cache setting.

Plates come from ``bench_input.build_plate`` (2048 x 2048 float32 frames by
default, iohub chunking, cells in ultrack's track-by-track order); the 4x
plate has four times the time points, so each FOV holds four times the
cells. In that order a FOV's frames are needed again and again, so what the
reader keeps is its cut-ahead patches: at most ``cache_bytes`` (plus the
prefetched batches and one decoded region per worker), whatever the plate.
Each run is a fresh process (``ru_maxrss`` is its peak). The peak of one run
moves by up to about 15 % from run to run (it is set by the first batches'
forward pass and the allocator, not by a steady growth), so each point is run
``--repeat`` times, interleaved across plates, and the median is compared (the
range is printed beside it). Each point is measured twice:

* predict end to end (the example case's convnext_tiny checkpoint, CPU);
* the reader alone (the same ``PlateDataModule``, batches dropped), which
  shows the reader's part of the peak;

and the writer's part is printed as the bytes of what it gathers before it
writes (``X`` and ``X_projections`` float32 plus the index), which grows
with the cells by design (one AnnData written at the end).

    python benchmarks/bench_memory.py [--cells 150] [--timepoints 2] [--cache-mib 1024 16]
                                      [--scales 1 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_input import build_plate
from scaled_case import example_case, plate_arguments, scaled_case

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
mode, case_file = sys.argv[1], Path(sys.argv[2])
from repro_golden.config.load import load_case
case = load_case(case_file)
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
    parser.add_argument(
        "--scales", type=int, nargs="+", default=[1, 4], help="plate sizes, x the 1x plate"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per point (median)")
    parser.add_argument("--dir", type=Path, default=None, help="keep plates and the example here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as scratch:
        root = args.dir or Path(scratch)
        example = example_case(root / "example")
        plates = {}
        for scale in args.scales:
            directory = root / f"plate-{scale}x"
            spec = plate_arguments(
                timepoints=args.timepoints * scale, cells=args.cells, size=args.size
            )
            if not (directory / "plate.zarr").exists():
                directory.mkdir(parents=True, exist_ok=True)
                build_plate(directory, spec)
            plates[scale] = (directory / "plate.zarr", directory / "tracks")
        timepoints = ", ".join(str(args.timepoints * scale) for scale in args.scales)
        print(
            f"plates: 1 FOV, {args.size}x{args.size} float32, {args.cells} cells/frame, "
            f"{timepoints} time points; patch 160, batch 64; {args.repeat} runs per point; "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        base = min(args.scales)
        for cache in args.cache_mib:
            cases = {
                scale: scaled_case(
                    example,
                    plate,
                    tracks,
                    root / f"case-{scale}x-{cache}.yaml",
                    data={"cache_bytes": cache << 20},
                )
                for scale, (plate, tracks) in plates.items()
            }
            peaks: dict[tuple[str, int], list[float]] = {}
            cells: dict[tuple[str, int], int] = {}
            for _ in range(args.repeat):
                for mode in ("predict", "reader"):
                    for scale, case_file in cases.items():
                        result = child(mode, case_file)
                        peaks.setdefault((mode, scale), []).append(result["peak_rss"] / 2**20)
                        cells[(mode, scale)] = int(result["cells"])
            for mode in ("predict", "reader"):
                for scale in args.scales:
                    runs = peaks[(mode, scale)]
                    count = cells[(mode, scale)]
                    writer = count * WRITER_BYTES_PER_CELL / 2**20 if mode == "predict" else 0
                    print(
                        f"cache {cache:>5} MiB  {scale:>2}x  {mode:<8} {count:>6} cells  "
                        f"peak RSS median {statistics.median(runs):7.1f} MiB "
                        f"(runs {', '.join(f'{r:.0f}' for r in runs)})"
                        + (f"  writer gathers {writer:5.1f} MiB" if writer else ""),
                        flush=True,
                    )
                for scale in args.scales:
                    if scale == base:
                        continue
                    growth = (
                        statistics.median(peaks[(mode, scale)])
                        / statistics.median(peaks[(mode, base)])
                        - 1
                    )
                    print(
                        f"cache {cache:>5} MiB  {mode}: {scale}x vs {base}x median peak RSS "
                        f"{100 * growth:+.1f} %"
                    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
