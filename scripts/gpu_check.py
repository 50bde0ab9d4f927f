"""The GPU check: the example case on CUDA (fp32 and TF32), run-to-run digests, GPU-vs-CPU
drift per array, model-alone and end-to-end cells/s, and a plate scaled to the lab's 39,170 cells.

Run through ``scripts/gpu_check.sh`` (which installs the project first). The CPU
parts (the example case on the CPU, its digests against ``golden/example``,
model-alone and reader-alone rates, a small end-to-end run) always run; the
CUDA parts are skipped, saying why, when torch sees no CUDA device. Every
figure is printed as one line ``name: value`` so a log can be pasted into
``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from scaled_case import example_case, scaled_case, write_synthetic_plate  # noqa: E402

#: The lab's reference prediction has this many rows (docs: DESIGN.md, the original case).
LAB_CELLS = 39_170
#: End-to-end goal for LAB_CELLS on one GPU, seconds.
GOAL_SECONDS = 30.0


def say(name: str, value: Any) -> None:
    print(f"{name}: {value}", flush=True)


def environment() -> bool:
    """Print the machine and library versions; True when CUDA is usable."""
    import torch

    cuda = torch.cuda.is_available()
    say("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    say("host", f"{platform.node()} {platform.machine()}, python {platform.python_version()}")
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    say("cpu cores usable", cores)
    say("torch", f"{torch.__version__} (CUDA build {torch.version.cuda})")
    if cuda:
        say("device", f"{torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}")
    else:
        say("device", "none: torch.cuda.is_available() is False")
    return cuda


def predict_case(case_file: Path, output: Path, device: str) -> tuple[float, int]:
    """Run ``predict``; (seconds of the prediction loop, cells)."""
    from repro_golden.config.load import load_case
    from repro_golden.inference.predict import predict

    result = predict(
        load_case(case_file), output=output, device=device, overwrite=True, progress=False
    )
    return result.seconds, result.cells


def arrays_of(store_path: Path) -> tuple[dict[str, np.ndarray], list[tuple[str, np.ndarray]]]:
    """All rows of each array (dataset order), and per FOV its rows' arrays."""
    from repro_golden.core.embeddings import EmbeddingsStore

    store = EmbeddingsStore(store_path)
    blocks = list(store.iter_fovs())
    whole = {name: np.concatenate([b.arrays[name] for b in blocks]) for name in blocks[0].arrays}
    return whole, [(b.name, b.arrays) for b in blocks]  # type: ignore[misc]


def fov_digests(store_path: Path) -> dict[tuple[str, str], str]:
    from repro_golden.core.digest import array_digest

    _, blocks = arrays_of(store_path)
    return {
        (fov, name): array_digest(values)
        for fov, arrays in blocks
        for name, values in arrays.items()  # type: ignore[attr-defined]
    }


def golden_digests(case: str) -> dict[tuple[str, str], str]:
    golden = json.loads((ROOT / "golden" / case / "golden.json").read_text())
    return {
        (fov["name"], name): entry["digest"]
        for fov in golden["fovs"]
        for name, entry in fov["arrays"].items()
    }


def drift(obtained: dict[str, np.ndarray], reference: dict[str, np.ndarray]) -> None:
    """Per array: max |diff|, its 99.9th percentile, and the minimum row cosine similarity."""
    for name, ref in reference.items():
        got = obtained[name].astype(np.float64)
        ref64 = ref.astype(np.float64)
        diff = np.abs(got - ref64)
        cosine = (got * ref64).sum(1) / (
            np.linalg.norm(got, axis=1) * np.linalg.norm(ref64, axis=1) + 1e-30
        )
        say(
            f"  drift {name}",
            f"max abs {diff.max():.3e}, p99.9 abs {np.quantile(diff, 0.999):.3e}, "
            f"min cosine {cosine.min():.9f}",
        )


def model_rate(case_file: Path, device: str, batches: int, batch_size: int) -> float:
    """Cells/s of the encoder alone on random batches already on ``device`` (no reader)."""
    import torch

    from repro_golden.config.load import load_case
    from repro_golden.inference.model.encoder import ContrastiveEncoder

    case = load_case(case_file)
    with case.numerics.applied():
        model = ContrastiveEncoder.from_config(case.model).to(device).eval()
        shape = (batch_size, 1, 1, *case.data.final_yx_patch_size)
        batch = torch.randn(shape, device=device)
        with torch.inference_mode():
            model(batch)  # warm-up (cuDNN plans, allocator)
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for _ in range(batches):
                model(batch)
            if device == "cuda":
                torch.cuda.synchronize()
            seconds = time.perf_counter() - start
    return batches * batch_size / seconds


def reader_rate(case_file: Path, pinned: bool) -> tuple[float, int]:
    """Cells/s of the reader alone (setup included); (rate, cells)."""
    from types import SimpleNamespace

    import torch

    from repro_golden.config.load import load_case
    from repro_golden.inference.data.datamodule import PlateDataModule

    start = time.perf_counter()
    module = PlateDataModule(load_case(case_file).data)
    module.setup("predict")
    if pinned:  # as under a CUDA trainer: batches cut into pinned memory
        device = SimpleNamespace(root_device=torch.device("cuda"))
        module.trainer = SimpleNamespace(strategy=device, world_size=1, global_rank=0)  # type: ignore[assignment]
    cells = sum(len(batch["row"]) for batch in module.predict_dataloader())
    module.teardown("predict")
    return cells / (time.perf_counter() - start), cells


def pinned_batches(case_file: Path) -> None:
    """Under a CUDA trainer the batches are pinned, equal the plain ones, and copy intact."""
    from types import SimpleNamespace

    import torch

    from repro_golden.config.load import load_case
    from repro_golden.inference.data.datamodule import PlateDataModule

    module = PlateDataModule(load_case(case_file).data)
    module.setup("predict")
    plain = list(module.predict_dataloader())
    device = SimpleNamespace(root_device=torch.device("cuda"))
    module.trainer = SimpleNamespace(strategy=device, world_size=1, global_rank=0)  # type: ignore[assignment]
    pinned = list(module.predict_dataloader())
    module.teardown("predict")
    ok = all(b["anchor"].is_pinned() for b in pinned) and all(
        torch.equal(a["anchor"], b["anchor"].cuda(non_blocking=True).cpu())
        for a, b in zip(plain, pinned, strict=True)
    )
    say("pinned batches under a CUDA trainer", "pinned and equal" if ok else "NOT OK")


def truth_section(work: Path, example: Path, cpu_store: Path, sample: int) -> Any:
    """Golden files of the CPU run with an oracle section (issue 19): the fp64 truth of a
    sample of cells and the emulated fp32/tf32/bf16 noise budgets, to judge real runs by."""
    from repro_golden.api import write_golden
    from repro_golden.core.golden.store import GoldenStore
    from repro_golden.core.oracle_format import read_oracle
    from repro_golden.inference.oracle import write_oracle_section

    golden = work / "golden-example"
    start = time.perf_counter()
    write_golden(cpu_store, golden, case="example")
    write_oracle_section(golden, example, cpu_store, sample=sample)
    section = read_oracle(golden, golden_dataset_digest=GoldenStore(golden).read().dataset_digest)
    budgets = ", ".join(
        f"{c} X rms {section.budgets[c]['X'].rms:.3g}" for c in ("fp32", "tf32", "bf16")
    )
    say(
        "fp64 truth of the example",
        f"{sample} cells in {time.perf_counter() - start:.1f} s; {budgets}",
    )
    return section


def judge_against_truth(label: str, store: Path, section: Any, precision: str) -> None:
    """A real run against the emulated budget of its class (and, for TF32, against fp32)."""
    from repro_golden.core.embeddings import EmbeddingsStore
    from repro_golden.core.oracle_verdict import judge_oracle

    for judged_as in dict.fromkeys((precision, "fp32")):
        verdict = judge_oracle(EmbeddingsStore(store), section, precision=judged_as)
        say(f"{label} vs fp64 truth as {judged_as}", verdict.message)
        for array in verdict.arrays:
            say(f"  {array.name}", array.describe().split(": ", 1)[-1])


def cuda_modes(work: Path, example: Path, cpu: dict[str, np.ndarray], section: Any = None) -> None:
    """fp32 and TF32 on CUDA: two runs each, run-to-run digests, drift against the CPU, and
    (with an oracle ``section``) each run's distance from the fp64 truth against its budget."""
    import torch

    modes = {
        "fp32": {"matmul_precision": "highest"},
        "tf32": {"matmul_precision": "high"},  # what VisCy's CLI sets
    }
    for mode, numerics in modes.items():
        # cuDNN convolutions use TF32 unless told otherwise, whatever the matmul precision.
        torch.backends.cudnn.allow_tf32 = mode == "tf32"
        case_file = scaled_case(
            example,
            example.parent / "plate.zarr",
            example.parent / "tracks.zarr",
            work / f"example-{mode}.yaml",
            trainer={"accelerator": "gpu"},
            numerics=numerics,
        )
        digests = []
        for run in (1, 2):
            seconds, cells = predict_case(case_file, work / f"example-{mode}-{run}.zarr", "gpu")
            digests.append(fov_digests(work / f"example-{mode}-{run}.zarr"))
            say(f"example on CUDA {mode} run {run}", f"{cells} cells in {seconds:.2f} s")
        say(
            f"example on CUDA {mode}: run-to-run digests",
            "equal" if digests[0] == digests[1] else "DIFFERENT",
        )
        say(
            f"example on CUDA {mode}: flags",
            f"matmul {torch.get_float32_matmul_precision()}, "
            f"cudnn.allow_tf32 {torch.backends.cudnn.allow_tf32}",
        )
        obtained, _ = arrays_of(work / f"example-{mode}-1.zarr")
        say(f"example on CUDA {mode} vs CPU", "per array")
        drift(obtained, cpu)
        if section is not None:
            judge_against_truth(
                f"example on CUDA {mode}", work / f"example-{mode}-1.zarr", section, mode
            )
    torch.backends.cudnn.allow_tf32 = True


def lab_scale(work: Path, example: Path, cells: int, size: int, cuda: bool) -> None:
    """A synthetic plate of ``cells`` cells: reader alone, then predict end to end."""
    fovs, timepoints = (10, 10) if cells > 5000 else (1, 4)
    start = time.perf_counter()
    plate, tracks = write_synthetic_plate(
        work / "lab", fovs=fovs, timepoints=timepoints, cells=cells, size=size
    )
    say(
        "lab-scale plate",
        f"{cells} cells, {fovs} FOV x {timepoints} t, {size}x{size} float32, "
        f"written in {time.perf_counter() - start:.1f} s",
    )
    device = "gpu" if cuda else "cpu"
    case_file = scaled_case(
        example,
        plate,
        tracks,
        work / f"lab-{device}.yaml",
        trainer={"accelerator": device},
        numerics={"matmul_precision": "high"} if cuda else {},
    )
    rate, _ = reader_rate(case_file, pinned=cuda)
    say("lab-scale reader alone", f"{rate:.0f} cells/s (setup included)")
    seconds, done = predict_case(case_file, work / f"lab-{device}.zarr", device)
    goal = ""
    if cuda and cells == LAB_CELLS:
        verdict = "met" if seconds < GOAL_SECONDS else "NOT met"
        goal = f" (goal < {GOAL_SECONDS:.0f} s: {verdict})"
    say(
        f"lab-scale end to end on {device}",
        f"{done} cells in {seconds:.1f} s = {done / seconds:.0f} cells/s{goal}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (kept)")
    parser.add_argument("--cells", type=int, default=LAB_CELLS, help="lab-scale plate cells")
    parser.add_argument("--size", type=int, default=2048, help="lab-scale frame size")
    parser.add_argument(
        "--cpu-cells", type=int, default=256, help="cells of the small CPU end-to-end run"
    )
    parser.add_argument(
        "--truth-sample",
        type=int,
        default=64,
        help="cells of the fp64 truth the CUDA runs are judged by (0: skip)",
    )
    parser.add_argument(
        "--truth-on-cpu",
        action="store_true",
        help="also compute the truth and judge the CPU run without CUDA (a dry run of it)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
        work = args.work or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        cuda = environment()
        example = example_case(work / "example")

        seconds, cells = predict_case(example, work / "example-cpu.zarr", "cpu")
        say("example on CPU", f"{cells} cells in {seconds:.2f} s")
        ours, golden = fov_digests(work / "example-cpu.zarr"), golden_digests("example")
        same = sum(ours.get(key) == value for key, value in golden.items())
        say(
            "example on CPU vs golden/example digests",
            f"{same} of {len(golden)} FOV arrays equal"
            + ("" if same == len(golden) else " (another CPU family moves the last bits)"),
        )
        cpu, _ = arrays_of(work / "example-cpu.zarr")
        section = None
        if args.truth_sample > 0 and (cuda or args.truth_on_cpu):
            section = truth_section(work, example, work / "example-cpu.zarr", args.truth_sample)
            judge_against_truth("example on CPU", work / "example-cpu.zarr", section, "fp32")

        say("model alone on CPU", f"{model_rate(example, 'cpu', 2, 64):.0f} cells/s (batch 64)")
        if cuda:
            import torch

            for mode, precision in (("fp32", "highest"), ("tf32", "high")):
                torch.backends.cudnn.allow_tf32 = mode == "tf32"
                case_file = scaled_case(
                    example,
                    example.parent / "plate.zarr",
                    example.parent / "tracks.zarr",
                    work / f"model-{mode}.yaml",
                    numerics={"matmul_precision": precision},
                )
                rate = model_rate(case_file, "cuda", 100, 64)
                say(f"model alone on CUDA {mode}", f"{rate:.0f} cells/s (batch 64)")
            torch.backends.cudnn.allow_tf32 = True
            pinned_batches(example)
            cuda_modes(work, example, cpu, section)
            lab_scale(work, example, args.cells, args.size, cuda=True)
        else:
            say(
                "SKIPPED CUDA parts",
                "torch sees no CUDA device (example on CUDA fp32/TF32, run-to-run digests, "
                "GPU-vs-CPU drift, model alone on CUDA, lab-scale end to end on the GPU)",
            )
            say("small end to end on CPU instead", f"{args.cpu_cells} cells")
            lab_scale(work, example, args.cpu_cells, args.size, cuda=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
