"""Golden-core benchmark: digests, summaries, golden writes, streaming compare memory, imports.

Prints figures, asserts nothing about time (the machine is shared). Sections:

1. imports: ``python -X importtime`` of the golden core and the CLI module, and
   the wall time of ``repro-golden check --help``; lists any torch, lightning,
   timm or anndata module that got imported (there should be none);
2. throughput on a 39,170 x 800 float32 set held in memory, FOV by FOV: raw
   ``xxhash.xxh3_128`` over the same bytes, our canonical digest, and the
   summary sketch (row sums/norms/projections, column sums, statistics), in GB/s;
3. ``write_golden`` on that set stored as an AnnData-layout zarr (768 + 32
   columns): wall time (zarr reads included) and golden size as % of array bytes;
4. peak memory of a streaming ``compare`` of a 1,000,000-row synthetic pair
   (written in chunks into a temporary directory), run in a child process: the
   RSS high-water mark (``/proc/self/status`` VmHWM, reset before the compare)
   and, in a second pass, the ``tracemalloc`` peak; printed next to the dataset
   size. Run ``--compare-rows 100000`` too: the figures should barely move.

    python benchmarks/bench_golden.py [--rows 39170] [--fovs 128]
        [--compare-rows 1000000] [--compare-width 64] [--skip-compare]

The default compare uses 64 + 16 columns so the run stays at a few minutes on a
2-core machine; ``--compare-width 768`` reproduces the full width (about 6.4 GB
of arrays on disk).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import xxhash
import zarr

HEAVY = ("torch", "lightning", "pytorch_lightning", "timm", "anndata")


def write_pair(
    directory: Path, rows: int, width: int, proj: int, fovs: int, *, noise: bool, seed: int = 0
) -> tuple[Path, Path]:
    """Reference and obtained AnnData-layout zarr stores, written chunk by chunk."""
    rng = np.random.default_rng(seed)
    per_fov = np.full(fovs, rows // fovs)
    per_fov[: rows % fovs] += 1
    codes = np.repeat(np.arange(fovs, dtype=np.int16), per_fov)
    paths = []
    for name in ("reference", "obtained"):
        path = directory / f"{name}.zarr"
        root = zarr.open_group(str(path), mode="w", zarr_format=2)
        root.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        chunk = 1024
        x = root.create_array("X", shape=(rows, width), dtype="float32", chunks=(chunk, width))
        p = root.create_group("obsm").create_array(
            "X_projections", shape=(rows, proj), dtype="float32", chunks=(chunk, proj)
        )
        block_rng = np.random.default_rng(seed + 1)
        for start in range(0, rows, chunk * 16):
            stop = min(rows, start + chunk * 16)
            xs = block_rng.normal(size=(stop - start, width)).astype(np.float32)
            ps = block_rng.normal(size=(stop - start, proj)).astype(np.float32)
            if noise and name == "obtained":  # ~1 ulp everywhere: every FOV goes to isclose
                xs = np.nextafter(xs, np.float32(np.inf))
            x[start:stop] = xs
            p[start:stop] = ps
        obs = root.create_group("obs")
        obs.attrs.update(
            {
                "encoding-type": "dataframe",
                "encoding-version": "0.2.0",
                "_index": "_index",
                "column-order": ["fov_name", "track_id", "t", "id"],
            }
        )
        fov = obs.create_group("fov_name")
        fov.attrs.update({"encoding-type": "categorical", "ordered": False})
        names = np.array(
            [f"{chr(65 + i // 1000 % 26)}/{i // 10}/{i % 10}" for i in range(fovs)],
            dtype=np.dtypes.StringDType(),
        )
        fov.create_array("categories", data=names)
        fov.create_array("codes", data=codes, chunks=(min(rows, 1 << 20),))
        ids = np.arange(rows, dtype=np.int64)
        for column, values in (("track_id", ids // 4), ("t", ids % 4), ("id", ids)):
            obs.create_array(column, data=values, chunks=(min(rows, 1 << 20),))
        paths.append(path)
    del rng
    return paths[1], paths[0]


def best_of(repeats: int, func: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best


def section_imports() -> None:
    print("== imports")
    code = "import repro_golden.api, repro_golden.cli.golden_cmd"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    modules = [
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    heavy = sorted({m for m in modules if m.split(".")[0] in HEAVY})
    total = 0
    for line in result.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].strip() in (
            "repro_golden.api",
            "repro_golden.cli.golden_cmd",
        ):
            total += int(parts[1])
    print(
        f"  -X importtime: {len(modules)} modules, cumulative for repro_golden.api + "
        f"golden_cmd {total / 1e6:.3f} s; heavy modules imported: {heavy or 'none'}"
    )
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "repro_golden", "check", "--help"], capture_output=True, check=True
    )
    print(f"  `repro-golden check --help` wall time: {time.perf_counter() - start:.2f} s")


def section_throughput(rows: int, fovs: int) -> None:
    from repro_golden.core.digest import array_digest
    from repro_golden.core.summary import ColumnAccumulator, block_sketch, signs_for

    print(f"== throughput ({rows} x 800 float32 in memory, {fovs} FOVs)")
    x = np.random.default_rng(0).normal(size=(rows, 800)).astype(np.float32)
    bounds = np.linspace(0, rows, fovs + 1).astype(int)
    blocks = [x[a:b] for a, b in itertools.pairwise(bounds)]
    gigabytes = x.nbytes / 1e9
    signs = signs_for(800)

    def raw() -> None:
        for block in blocks:
            xxhash.xxh3_128(block.data).hexdigest()

    def digest() -> None:
        for block in blocks:
            array_digest(block)

    def digest_nan_free() -> None:
        for block in blocks:
            array_digest(block, nan_free=True)

    def summary() -> None:
        columns = ColumnAccumulator(800)
        for block in blocks:
            block_sketch(block, signs, columns)

    # Interleaved repeats: each ratio compares runs made seconds apart on a shared machine.
    runs = [(best_of(1, raw), best_of(1, digest), best_of(1, digest_nan_free)) for _ in range(9)]
    t_raw = min(r[0] for r in runs)
    ratio = float(np.median([r[0] / r[1] for r in runs]))
    ratio_known = float(np.median([r[0] / r[2] for r in runs]))
    t_summary = best_of(3, summary)
    print(f"  raw xxh3_128:      {gigabytes / t_raw:6.2f} GB/s (best of 9)")
    print(
        f"  canonical digest:  {gigabytes / min(r[1] for r in runs):6.2f} GB/s; median ratio "
        f"to raw in the same repeat {100 * ratio:.0f}% (goal >= 50%)"
    )
    print(
        f"  digest with NaN-freedom known from the sketch pass (golden write/check): "
        f"{gigabytes / min(r[2] for r in runs):6.2f} GB/s; median ratio {100 * ratio_known:.0f}%"
    )
    print(f"  summary sketch:    {gigabytes / t_summary:6.2f} GB/s (best of 3)")


def section_write(rows: int, fovs: int) -> None:
    from repro_golden.api import write_golden

    print(f"== golden write ({rows} x (768 + 32) float32, {fovs} FOVs, zarr v2 store)")
    with tempfile.TemporaryDirectory() as tmp:
        obtained, _ = write_pair(Path(tmp), rows, 768, 32, fovs, noise=False)
        array_bytes = rows * 800 * 4
        seconds = best_of(3, lambda: write_golden(obtained, Path(tmp) / "g", case="bench"))
        size = sum(p.stat().st_size for p in (Path(tmp) / "g").iterdir())
        sketch = sum(p.stat().st_size for p in (Path(tmp) / "g").glob("sketch-*"))
        print(f"  write_golden: {seconds:.2f} s (goal < 1 s), reading the zarr included")
        print(
            f"  golden size: {size / 1e6:.3f} MB = {100 * size / array_bytes:.2f}% of "
            f"{array_bytes / 1e6:.1f} MB arrays (goal <= 1%); sketch {sketch / 1e6:.3f} MB, "
            f"golden.json {(size - sketch) / 1e6:.3f} MB"
        )


def section_full_copy(rows: int = 151, fovs: int = 4) -> None:
    """The full copy of a small case (the example's size): bytes, write and check time."""
    from repro_golden.api import check_golden, write_golden

    print(f"== full copy ({rows} x (768 + 32) float32, {fovs} FOVs: the example case's size)")
    with tempfile.TemporaryDirectory() as tmp:
        obtained, reference = write_pair(Path(tmp), rows, 768, 32, fovs, noise=True)
        with_full = best_of(3, lambda: write_golden(reference, Path(tmp) / "full"))
        sketch_only = best_of(
            3, lambda: write_golden(reference, Path(tmp) / "sketch", full_copy_limit=0)
        )
        full = next((Path(tmp) / "full").glob("full-*.bin")).stat().st_size
        raw = rows * 800 * 4
        check = best_of(3, lambda: check_golden(obtained, Path(tmp) / "full"))
        print(
            f"  full copy {full / 1e3:.0f} kB = {100 * full / raw:.0f}% of {raw / 1e3:.0f} kB "
            f"raw (byte shuffle + zlib 9); golden write {with_full:.2f} s with it, "
            f"{sketch_only:.2f} s without; check (every element by allclose) {check:.2f} s"
        )


def section_compare(rows: int, width: int, fovs: int) -> None:
    print(f"== streaming compare ({rows} rows x ({width} + 16) float32, {fovs} FOVs)")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        obtained, reference = write_pair(Path(tmp), rows, width, 16, fovs, noise=True)
        print(f"  wrote the pair in {time.perf_counter() - start:.0f} s")
        result = subprocess.run(
            [sys.executable, __file__, "--compare-child", str(obtained), str(reference)],
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
    dataset = 2 * rows * (width + 16) * 4
    fov_block = 2 * (rows // fovs + 1) * (width + 16) * 4
    growth = figures["peak_kb"] * 1024 - figures["baseline_kb"] * 1024
    print(
        f"  compare: {figures['seconds']:.0f} s, passed={figures['passed']}, "
        f"{figures['outcomes']} outcomes"
    )
    print(
        f"  opening both stores (FOV grouping, O(N) integers): RSS "
        f"{figures['before_open_kb'] / 1024:.0f} -> peak {figures['open_peak_kb'] / 1024:.0f} MiB"
        f", then {figures['baseline_kb'] / 1024:.0f} MiB"
    )
    print(
        f"  streaming compare: peak RSS {figures['peak_kb'] / 1024:.0f} MiB, growth "
        f"{growth / 2**20:.0f} MiB over the opened stores; tracemalloc peak "
        f"{figures['traced_peak_bytes'] / 2**20:.0f} MiB"
    )
    print(
        f"  dataset (both stores' arrays) {dataset / 2**20:.0f} MiB; one FOV block of both "
        f"stores {fov_block / 2**20:.2f} MiB; growth / dataset = {growth / dataset:.3f}"
    )


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def compare_child(obtained: str, reference: str) -> None:
    from repro_golden.core.compare import compare_stores
    from repro_golden.core.embeddings import EmbeddingsStore
    from repro_golden.core.tolerance import ToleranceSpec

    def reset_peak() -> None:
        with open("/proc/self/clear_refs", "w") as handle:  # reset VmHWM (Linux)
            handle.write("5")

    before_open = _status_kb("VmRSS")
    reset_peak()
    stores = EmbeddingsStore(obtained), EmbeddingsStore(reference)  # FOV grouping: O(N) ints
    open_peak = _status_kb("VmHWM")
    baseline = _status_kb("VmRSS")
    reset_peak()
    start = time.perf_counter()
    outcomes = list(compare_stores(*stores, ToleranceSpec(atol=1e-6)))
    seconds = time.perf_counter() - start
    peak = _status_kb("VmHWM")
    tracemalloc.start()  # second pass: what numpy and Python allocate, without the allocator
    list(compare_stores(*stores, ToleranceSpec(atol=1e-6)))
    traced_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "traced_peak_bytes": traced_peak,
                "before_open_kb": before_open,
                "open_peak_kb": open_peak,
                "baseline_kb": baseline,
                "peak_kb": peak,
                "seconds": seconds,
                "passed": all(o.passed for o in outcomes),
                "outcomes": len(outcomes),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=39170)
    parser.add_argument("--fovs", type=int, default=128)
    parser.add_argument("--compare-rows", type=int, default=1_000_000)
    parser.add_argument("--compare-width", type=int, default=64)
    parser.add_argument("--compare-fovs", type=int, default=2500)
    parser.add_argument("--skip-compare", action="store_true")
    parser.add_argument("--compare-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compare_child:
        compare_child(*args.compare_child)
        return
    print(
        f"python {sys.version.split()[0]}, numpy {np.__version__}, zarr {zarr.__version__}, "
        f"xxhash {xxhash.VERSION}, {os.cpu_count()} CPUs"
    )
    section_imports()
    section_throughput(args.rows, args.fovs)
    section_write(args.rows, args.fovs)
    section_full_copy()
    if not args.skip_compare:
        section_compare(args.compare_rows, args.compare_width, args.compare_fovs)


if __name__ == "__main__":
    main()
