"""Input benchmark: our reader's workers sweep beside a single-threaded frame-once loop.

Builds (seeded, into a temporary directory) an HCS plate with realistic
frames: 2048 x 2048 float32 by default, written by iohub with its default
chunking (one chunk per (t, c) Z-stack, blosc zstd), a few hundred cells per
frame, tracks in ultrack's track-by-track order. Then, on the same plate in
the same run, repeated ``--repeats`` times (interleaved, so a disturbance
hits every variant alike) and reported as medians:

* ours: ``PlateDataModule.predict_dataloader()`` with ``read_threads`` set to
  each ``--workers`` count (default 1, 2, ... up to the cores this process may
  use), normalized and cropped float32 batches as the model receives them;
* frame-once: the plain single-threaded loop a careful user would write
  (zarr reads each frame once, numpy cuts and normalizes every cell of it,
  batches are formed in VisCy's row order), blosc's own threads off;
* optionally VisCy 0.4.1's ``TripletDataModule`` (``--viscy-python`` /
  ``REPRO_GOLDEN_VISCY_PYTHON``), in a subprocess, once.

Every timing includes opening the plate and building the row table. The
timed runs only count cells; one extra untimed pass hashes every batch of
ours (the widest sweep point) and of the loop, and the hashes must agree.
The setup costs (the import, opening the plate, building the row table)
are printed as well.

    python benchmarks/bench_input.py [--fovs 2] [--timepoints 8] [--cells 300] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
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


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def ours_batches(mapping: dict[str, Any], read_threads: int) -> Iterator[Any]:
    """Our batches' anchors, setup included, with ``read_threads`` decode workers."""
    from repro_golden.config.data import DataConfig
    from repro_golden.inference.data.datamodule import PlateDataModule

    config = DataConfig.from_mapping(
        dict(mapping, read_threads=read_threads), base_dir=Path.cwd(), source=Path("<bench>")
    )
    module = PlateDataModule(config)
    module.setup("predict")
    try:
        for batch in module.predict_dataloader():
            yield batch["anchor"]
    finally:
        module.teardown("predict")


def frame_once_batches(mapping: dict[str, Any]) -> Iterator[Any]:
    """The single-threaded loop: each frame read once with zarr, its cells cut with numpy.

    Written for the bench plate's shape of case (one channel, one Z plane, no crop,
    fov_statistics); rows and batches in VisCy's order, values bitwise ours.
    """
    import numcodecs.blosc
    import torch
    import zarr

    numcodecs.blosc.use_threads = False  # one thread, also inside the codec
    assert mapping["initial_yx_patch_size"] == mapping["final_yx_patch_size"]
    half = mapping["initial_yx_patch_size"][0] // 2
    batch_size = mapping["batch_size"]
    root = Path(mapping["data_path"])
    plate = zarr.open_group(root, mode="r")
    carry: list[np.ndarray] = []  # the rows of a batch begun in an earlier FOV
    for row in sorted(name for name, _ in plate.groups()):
        for col in sorted(name for name, _ in plate[row].groups()):  # type: ignore[union-attr]
            for fov in sorted(name for name, _ in plate[row][col].groups()):  # type: ignore[union-attr]
                name = f"{row}/{col}/{fov}"
                group = zarr.open_group(root / name, mode="r")
                image = zarr.open_array(root / name / "0", mode="r")
                channel = [c["label"] for c in group.attrs["omero"]["channels"]].index("Phase3D")
                stats = group.attrs["normalization"]["Phase3D"]["fov_statistics"]
                mean = np.float32(stats["mean"])
                divisor = np.float32(stats["std"]) + np.float32(1e-8)
                tracks = pd.read_csv(next((Path(mapping["tracks_path"]) / name).glob("*.csv")))
                height, width = image.shape[-2:]
                y, x, t = (tracks[c].to_numpy() for c in ("y", "x", "t"))
                keep = (y > half) & (y < height - half) & (x > half) & (x < width - half)
                y, x, t = y[keep], x[keep], t[keep]
                patches = np.empty((len(t), 1, 1, 2 * half, 2 * half), dtype=np.float32)
                for frame_t in np.unique(t):
                    frame = np.asarray(image[int(frame_t), channel, 0:1])
                    for i in np.flatnonzero(t == frame_t):
                        cut = frame[:, y[i] - half : y[i] + half, x[i] - half : x[i] + half]
                        np.subtract(cut, mean, out=patches[i, 0])
                        np.divide(patches[i, 0], divisor, out=patches[i, 0])
                start = 0
                if carry:  # a batch spanning the FOV boundary
                    start = min(batch_size - len(carry[0]), len(patches))
                    carry = [np.concatenate([carry[0], patches[:start]])]
                    if len(carry[0]) < batch_size:
                        continue
                    yield torch.from_numpy(carry.pop())
                while start + batch_size <= len(patches):
                    yield torch.from_numpy(patches[start : start + batch_size])
                    start += batch_size
                if start < len(patches):
                    carry = [patches[start:]]
    if carry:
        yield torch.from_numpy(carry[0])


def timed(batches: Callable[[], Iterator[Any]]) -> dict[str, float]:
    """Wall and CPU seconds to consume every batch (only counting cells)."""
    start, cpu = time.perf_counter(), time.process_time()
    cells = sum(int(anchor.shape[0]) for anchor in batches())
    return {
        "cells": cells,
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - cpu,
    }


def decode_control(plate: Path, threads: int, frames: int = 16) -> float:
    """Frames/s of bare blosc decoding (C code, GIL released) on ``threads`` threads.

    The machine's own parallelism during the run: what any reader could get at
    best from that many threads (on a shared or hyperthreaded VM, less than
    ``threads`` times one thread).
    """
    import json as json_module

    import numcodecs

    array = next(plate.glob("*/*/*/0"))
    meta = json_module.loads((array / ".zarray").read_text())
    codec = numcodecs.get_codec(meta["compressor"])
    files = sorted(p for p in array.rglob("*") if p.is_file() and not p.name.startswith("."))
    raw = [f.read_bytes() for f in files[:8]]

    def work(count: int) -> None:
        out = np.empty(meta["chunks"], dtype=meta["dtype"])
        for i in range(count):
            codec.decode(raw[i % len(raw)], out=out)

    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, [frames] * threads))
    return frames * threads / (time.perf_counter() - start)


def digest(batches: Iterator[Any]) -> str:
    """xxh3-128 of every batch's float32 bytes, in order, with the batch sizes."""
    import xxhash

    hasher = xxhash.xxh3_128()
    for anchor in batches:
        array = np.ascontiguousarray(anchor.numpy(), dtype="<f4")
        hasher.update(np.int64(array.shape[0]).tobytes())
        hasher.update(array.tobytes())
    return hasher.hexdigest()


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


def report(name: str, result: dict[str, float], extra: str = "") -> None:
    """One line: cells, wall seconds, cells/s, and cells per CPU second (all threads)."""
    print(
        f"{name:<34} {result['cells']:>7} cells {result['seconds']:8.3f} s "
        f"{result['cells'] / result['seconds']:9.1f} cells/s "
        f"{result['cells'] / result['cpu_seconds']:9.1f} cells/CPU-s{extra}",
        flush=True,
    )


def median_result(results: list[dict[str, float]]) -> dict[str, float]:
    """The run of median wall time (its CPU time with it)."""
    ordered = sorted(results, key=lambda r: r["seconds"])
    return ordered[len(ordered) // 2]


def setup_costs(mapping: dict[str, Any], repeats: int) -> None:
    """Median import, plate-opening and row-table times, printed."""
    from repro_golden.config.data import DataConfig
    from repro_golden.inference.data.index import build_index
    from repro_golden.inference.data.plate import open_plate

    code = (
        "import time; t = time.perf_counter(); import repro_golden.inference.data.datamodule; "
        "print(time.perf_counter() - t)"
    )
    imports = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(3)
    ]
    config = DataConfig.from_mapping(mapping, base_dir=Path.cwd(), source=Path("<bench>"))
    opening, indexing = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        fovs = open_plate(config.data_path)
        middle = time.perf_counter()
        build_index(fovs, config)
        opening.append(middle - start)
        indexing.append(time.perf_counter() - middle)
    print(
        f"setup (median): import datamodule {statistics.median(imports):.2f} s (fresh process), "
        f"open plate {1e3 * statistics.median(opening):.1f} ms, "
        f"row table {1e3 * statistics.median(indexing):.1f} ms for {len(fovs)} FOVs",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fovs", type=int, default=2)
    parser.add_argument("--timepoints", type=int, default=8)
    parser.add_argument("--cells", type=int, default=300, help="tracks (cells per frame) per FOV")
    parser.add_argument("--size", type=int, default=2048, help="frame height and width")
    parser.add_argument("--patch", type=int, default=160)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=None,
        help="read_threads values to sweep (default: 1 .. the cores this process may use)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per variant (median)")
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
    workers = args.workers or list(range(1, available_cores() + 1))
    args.workers = 1  # VisCy's num_workers in the mapping
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
            f"{args.cells} cells/frame, patch {args.patch}, batch {args.batch_size}; "
            f"{frames * args.cells} cells; built in {time.perf_counter() - start:.1f} s",
            flush=True,
        )
        mapping = data_mapping(plate, tracks, args)
        print(
            f"load average before: {os.getloadavg()[0]:.2f} on {available_cores()} usable CPUs; "
            f"{args.repeats} runs per variant, medians",
            flush=True,
        )
        setup_costs(mapping, args.repeats)
        variants: dict[str, Callable[[], Iterator[Any]]] = {
            "frame-once loop (1 thread)": (lambda: frame_once_batches(mapping))
        }
        for count in workers:
            variants[f"ours, {count} worker(s)"] = lambda count=count: ours_batches(mapping, count)
        for batches in variants.values():  # warm-up: page cache, lazy imports
            timed(batches)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
        control: dict[int, list[float]] = {count: [] for count in workers}
        for _ in range(args.repeats):
            for name, batches in variants.items():
                runs[name].append(timed(batches))
            for count in workers:
                control[count].append(decode_control(plate, count))
        medians = {name: median_result(results) for name, results in runs.items()}
        rate = {name: r["cells"] / r["seconds"] for name, r in medians.items()}
        loop = rate["frame-once loop (1 thread)"]
        one = rate[f"ours, {workers[0]} worker(s)"]
        for name, result in medians.items():
            spread = [r["cells"] / r["seconds"] for r in runs[name]]
            extra = f"   (runs {min(spread):.0f}..{max(spread):.0f})"
            if name.startswith("ours"):
                extra += (
                    f"  {rate[name] / one:4.2f}x vs {workers[0]}  {rate[name] / loop:4.2f}x loop"
                )
            report(name, result, extra)
        bare = {count: statistics.median(rates) for count, rates in control.items()}
        print(
            "control, bare blosc decoding (frames/s, median): "
            + ", ".join(
                f"{count} thread(s) {rate:.1f} ({rate / bare[workers[0]]:.2f}x)"
                for count, rate in bare.items()
            ),
            flush=True,
        )
        print(f"load average after: {os.getloadavg()[0]:.2f}", flush=True)
        ours_digest = digest(ours_batches(mapping, workers[-1]))
        loop_digest = digest(frame_once_batches(mapping))
        same = "equal" if ours_digest == loop_digest else "DIFFERENT"
        print(f"batch digests ours vs loop: {same} ({ours_digest})", flush=True)
        if ours_digest != loop_digest:
            return 1
        if not args.viscy_python:
            print("VisCy side skipped: set REPRO_GOLDEN_VISCY_PYTHON or pass --viscy-python")
            return 0
        theirs = run_viscy(args.viscy_python, mapping, args.viscy_batches)
        report("VisCy 0.4.1 TripletDataset (once)", theirs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
