"""The truth rung (issue 19): cost of the fp64 truth, budgets, false alarms, detection limits.

On a generated example case (``example`` by default; ``--cases example zstack``)
the script predicts the case (float32, the golden store), computes the oracle
section for a sample of ``--sample`` cells (fp64 truth and the fp32/tf32/bf16
budgets) and writes it, then prints:

1. the truth's cost: wall and CPU seconds on this machine, bytes in the golden set;
2. the budgets per class (RMS, max abs, p99.9 of the error against the truth,
   also over the RMS of the output), and the golden store's own error;
3. false alarms: emulated-device runs with no change (tf32 and bf16, batch 16
   and 64, 1 and 2 threads, plus a TF32 path that truncates instead of
   rounding) judged by :func:`~repro_golden.core.oracle_verdict.judge_values`
   (goal: 0), with the lab rule's verdict on the same runs;
4. the smallest planted change detected on a TF32 device run, for the oracle
   rule (judged as tf32) and for the lab's rule (``allclose(obtained, golden,
   atol=0.02, rtol=1e-2)`` on the sampled cells), magnitudes in half decades:
   an input shift (model inputs + d, what a changed normalization mean does),
   a weight scale (every ``*weight`` parameter x (1 + d)), weight noise (conv
   and linear weights + d * std(weight) * N(0, 1), seed 0) and a normalization
   statistic (the divisor x (1 + d), i.e. inputs / (1 + d)).

    python benchmarks/bench_oracle.py [--cases example] [--sample 64]

Every run uses the same sampled cells, so the figures compare like with like;
the lab rule is evaluated on the sampled cells only (on the whole store it
could only fail earlier by a hair: the changes are spread over every cell).
"""

from __future__ import annotations

import argparse
import copy
import os
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from repro_golden.config.load import load_case
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.oracle_format import ORACLE_ARRAYS, write_oracle
from repro_golden.core.oracle_verdict import K_MAX, K_RMS, judge_values, sample_values
from repro_golden.examples import generate_example
from repro_golden.inference.oracle import compute_oracle, errors, load_encoder, run_model
from repro_golden.inference.predict import predict

MAGNITUDES = (1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)
LAB_ATOL, LAB_RTOL = 0.02, 1e-2


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def lab_rule_fails(values: dict[str, np.ndarray], golden: dict[str, np.ndarray]) -> bool:
    """The lab's upstream rule on the sampled cells: any element outside allclose fails."""
    return not all(
        np.allclose(values[n], golden[n], atol=LAB_ATOL, rtol=LAB_RTOL) for n in ORACLE_ARRAYS
    )


def _scaled(model: nn.Module, d: float) -> nn.Module:
    changed = copy.deepcopy(model)
    with torch.no_grad():
        for name, parameter in changed.named_parameters():
            if name.endswith("weight"):
                parameter.mul_(1.0 + d)
    return changed


def _noisy(model: nn.Module, d: float) -> nn.Module:
    changed = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in changed.modules():
            if isinstance(module, nn.Conv2d | nn.Conv3d | nn.Linear):
                w = module.weight
                w.add_(d * w.std() * torch.randn(w.shape, generator=generator))
    return changed


Plant = Callable[[nn.Module, float], tuple[nn.Module, Any]]
PLANTS: dict[str, Plant] = {
    "input shift": lambda m, d: (m, lambda b: b + d),
    "weight scale": lambda m, d: (_scaled(m, d), None),
    "weight noise": lambda m, d: (_noisy(m, d), None),
    "normalization statistic": lambda m, d: (m, lambda b: b / (1.0 + d)),
}


def bench_case(name: str, sample: int, work: Path) -> None:
    case_file = generate_example(work / name, case=name)
    case = load_case(case_file)
    store = predict(case, output=work / name / "emb.zarr", progress=False).path
    threads = case.numerics.cpu_threads
    wall, cpu = time.perf_counter(), _cpu_seconds()
    run = compute_oracle(case, store, sample=sample)
    golden_dir = work / name / "oracle-golden"
    golden_dir.mkdir()
    write_oracle(golden_dir, run.section)
    wall, cpu = time.perf_counter() - wall, _cpu_seconds() - cpu
    size = sum(p.stat().st_size for p in golden_dir.iterdir())
    section = run.section
    print(
        f"\n## {name}: {section.rows} sampled cells, {threads} threads, "
        f"batch {case.data.batch_size}"
    )
    print(
        f"truth cost: {wall:.0f} s wall, {cpu:.0f} s CPU, {size / 1e6:.2f} MB (oracle.json + .bin)"
    )
    print("\n| class | X rms (rel) | X max | X p99.9 | proj rms (rel) | proj max | proj p99.9 |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = {**section.budgets, "golden store": section.golden_error}
    for cls, stats in rows.items():
        x, p = stats["X"], stats["X_projections"]
        print(
            f"| {cls} | {x.rms:.2e} ({x.rel_rms:.1e}) | {x.max_abs:.2e} | {x.p999:.2e} "
            f"| {p.rms:.2e} ({p.rel_rms:.1e}) | {p.max_abs:.2e} | {p.p999:.2e} |"
        )
    model, _ = load_encoder(case)
    inputs = run.model_inputs.inputs
    golden = sample_values(EmbeddingsStore(store), section.keys)

    print(f"\nfalse alarms (no change; rule K_RMS={dict(K_RMS)}, K_MAX={K_MAX:g}):")
    print("\n| run | judged as | X rms / budget | X max / budget | oracle | lab rule |")
    print("| --- | --- | --- | --- | --- | --- |")
    alarms = total = 0
    runs: list[tuple[str, str, int, int, str]] = [
        (cls, cls, b, t, "nearest")
        for cls in ("fp32", "tf32", "bf16")
        for b in (16, 64)
        for t in (1, 2)
    ] + [("tf32 truncating", "tf32", case.data.batch_size, threads or 2, "truncate")]
    for label, cls, batch, nthreads, mode in runs:
        values = run_model(
            model,
            inputs,
            cls,
            batch_size=batch,
            threads=nthreads,
            tf32_mode=mode,  # type: ignore[arg-type]
        )
        verdict = judge_values(values, section, cls)
        budget = section.budgets[cls]["X"]
        obtained = errors(values, section.truth)["X"]
        total += 1
        alarms += not verdict.passed
        print(
            f"| {label}, batch {batch}, {nthreads} threads | {cls} "
            f"| {obtained.rms / budget.rms:.2f} | {obtained.max_abs / budget.max_abs:.2f} "
            f"| {verdict.status.value} "
            f"| {'fail' if lab_rule_fails(values, golden) else 'pass'} |"
        )
    print(f"\nfalse alarms: {alarms} of {total}")

    print("\nsmallest planted change detected (TF32 device run, judged as tf32):")
    print("\n| change | oracle rule | lab rule (atol 0.02, rtol 1e-2) | ratio |")
    print("| --- | --- | --- | --- |")
    for plant, apply in PLANTS.items():
        found: dict[str, float | None] = {"oracle": None, "lab": None}
        for d in MAGNITUDES:
            changed, transform = apply(model, d)
            values = run_model(
                changed,
                inputs,
                "tf32",
                batch_size=case.data.batch_size,
                threads=threads,
                transform=transform,
            )
            if found["oracle"] is None and not judge_values(values, section, "tf32").passed:
                found["oracle"] = d
            if found["lab"] is None and lab_rule_fails(values, golden):
                found["lab"] = d
            if found["oracle"] is not None and found["lab"] is not None:
                break
        oracle, lab = found["oracle"], found["lab"]
        ratio = f"{lab / oracle:.0f}x" if oracle and lab else "-"
        print(
            f"| {plant} | {oracle if oracle is not None else '> 0.3'} "
            f"| {lab if lab is not None else '> 0.3'} | {ratio} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["example"])
    parser.add_argument("--sample", type=int, default=256)
    args = parser.parse_args()
    print(f"# bench_oracle ({os.cpu_count()} CPUs, torch {torch.__version__})")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases:
            bench_case(name, args.sample, Path(tmp))


if __name__ == "__main__":
    main()
