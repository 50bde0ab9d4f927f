#!/usr/bin/env python
"""VisCy parity check: our ``repro-golden predict`` against the public viscy 0.4.1 pipeline.

Run with the repro-golden interpreter::

    REPRO_GOLDEN_VISCY_PYTHON=/path/to/viscy-venv/bin/python \\
        python scripts/viscy_parity.py run [--workdir DIR]

``run`` writes a small synthetic plate, tracks and a seeded checkpoint, writes
one VisCy LightningCLI predict config, runs it through ``repro-golden predict
--pipeline lightning --python $REPRO_GOLDEN_VISCY_PYTHON`` (VisCy's own classes
built by LightningCLI in the VisCy interpreter, a subprocess) and through the
builtin ``repro-golden predict`` on the *same* config, then requires ``X``,
``obsm/X_projections`` and ``obs`` (matched by the index columns, not VisCy's
repeating index) to be bitwise identical. Exit 0 identical, 1 different.

The ``viscy-*`` subcommands are the VisCy side; they run inside the VisCy
interpreter and import nothing from repro_golden. They make viscy 0.4.1 run
offline: timm is forced to ``pretrained=False`` and
``viscy.representation.evaluation`` is imported before the embedding writer
(circular import otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

VISCY_PYTHON_ENV = "REPRO_GOLDEN_VISCY_PYTHON"
INDEX_COLUMNS = ("fov_name", "track_id", "t", "id", "parent_track_id", "parent_id", "z", "y", "x")


# --------------------------------------------------------------------------- VisCy side


def _offline_viscy() -> None:
    import timm

    create_model = timm.create_model

    def create_model_offline(*args: Any, **kwargs: Any) -> Any:
        kwargs["pretrained"] = False
        return create_model(*args, **kwargs)

    timm.create_model = create_model_offline
    import viscy.representation.evaluation  # noqa: F401  (before embedding_writer)


def viscy_state_dict_shapes(model_args: dict[str, Any]) -> dict[str, list[int]]:
    """Key -> shape of ``ContrastiveModule(encoder=ContrastiveEncoder(**model_args))`` in VisCy."""
    _offline_viscy()
    from viscy.representation.contrastive import ContrastiveEncoder
    from viscy.representation.engine import ContrastiveModule

    module = ContrastiveModule(encoder=ContrastiveEncoder(**model_args))
    return {key: list(value.shape) for key, value in module.state_dict().items()}


def viscy_predict(config: Path) -> None:
    """``viscy predict -c CONFIG`` through VisCy's own LightningCLI entry point."""
    _offline_viscy()
    from viscy.cli import main as viscy_main

    sys.argv = ["viscy", "predict", "-c", str(config)]
    viscy_main()


# --------------------------------------------------------------------------- orchestration


def _env(threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    return env


def run_viscy(
    args: Sequence[str], *, cwd: Path, python: str | None = None, threads: int = 1
) -> str:
    """Run this script's VisCy side in the VisCy interpreter; return its stdout."""
    interpreter = python or os.environ.get(VISCY_PYTHON_ENV)
    if not interpreter:
        raise RuntimeError(f"set {VISCY_PYTHON_ENV} to the python of a viscy==0.4.1 environment")
    completed = subprocess.run(
        [interpreter, str(Path(__file__).resolve()), *args],
        cwd=cwd,
        env=_env(threads),
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"VisCy side failed (exit {completed.returncode}):\n{completed.stderr[-4000:]}"
        )
    return completed.stdout


def write_viscy_config(
    path: Path,
    *,
    plate: str,
    tracks: str,
    checkpoint: str,
    output: str,
    model: dict[str, Any],
    channels: list[str],
    z_range: list[int],
    patch: list[int],
    batch_size: int,
    normalizations: list[dict[str, Any]],
    wells: list[str] | None = None,
) -> None:
    """A VisCy LightningCLI predict config, as the lab writes them (paths as given)."""
    import yaml

    config = {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "num_nodes": 1,
            "precision": "32-true",
            "logger": False,
            "inference_mode": True,
            "callbacks": [
                {
                    "class_path": "viscy.representation.embedding_writer.EmbeddingWriter",
                    "init_args": {
                        "output_path": output,
                        "phate_kwargs": None,
                        "pca_kwargs": None,
                    },
                }
            ],
        },
        "model": {
            "class_path": "viscy.representation.engine.ContrastiveModule",
            "init_args": {
                "encoder": {
                    "class_path": "viscy.representation.contrastive.ContrastiveEncoder",
                    "init_args": model,
                },
                "example_input_array_shape": [1, len(channels), z_range[1] - z_range[0], *patch],
            },
        },
        "data": {
            "class_path": "viscy.data.triplet.TripletDataModule",
            "init_args": {
                "data_path": plate,
                "tracks_path": tracks,
                "source_channel": channels,
                "z_range": z_range,
                "initial_yx_patch_size": patch,
                "final_yx_patch_size": patch,
                "batch_size": batch_size,
                "num_workers": 0,
                "normalizations": [
                    {"class_path": "viscy.transforms.NormalizeSampled", "init_args": norm}
                    for norm in normalizations
                ],
                "fit_include_wells": wells,
            },
        },
        "return_predictions": False,
        "ckpt_path": checkpoint,
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def compare_stores(ours: Path, theirs: Path) -> list[str]:
    """Differences between two embedding stores; empty when bitwise identical."""
    import warnings

    import anndata as ad
    import numpy as np
    import pandas as pd

    a = ad.read_zarr(ours)
    with warnings.catch_warnings():
        # VisCy's obs index repeats per batch ("0".."15" again and again); expected.
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        b = ad.read_zarr(theirs)
    problems: list[str] = []
    columns = [c for c in INDEX_COLUMNS if c in b.obs.columns]
    if list(a.obs.columns) != columns:
        problems.append(f"obs columns: ours {list(a.obs.columns)}, viscy {columns}")
        return problems
    obs_a = a.obs.reset_index(drop=True)
    obs_b = b.obs[columns].reset_index(drop=True)
    if not obs_a.equals(obs_b):
        try:
            pd.testing.assert_frame_equal(obs_a, obs_b, check_exact=True)
        except AssertionError as exc:
            problems.append(f"obs differ: {exc}")
    for name, x, y in (
        ("X", a.X, b.X),
        ("X_projections", a.obsm["X_projections"], b.obsm["X_projections"]),
    ):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype != y.dtype or x.shape != y.shape:
            problems.append(f"{name}: ours {x.dtype}{x.shape}, viscy {y.dtype}{y.shape}")
        elif x.tobytes() != y.tobytes():
            diff = np.abs(x.astype(np.float64) - y.astype(np.float64))
            problems.append(
                f"{name}: not bitwise equal; {int((diff > 0).sum())} values differ, "
                f"max abs diff {diff.max():.3e}"
            )
    return problems


def run_parity(
    workdir: Path,
    *,
    case: str = "example",
    wells: list[str] | None = None,
    batch_size: int = 16,
    threads: int = 1,
    python: str | None = None,
) -> list[str]:
    """Generate example ``case`` in ``workdir``, predict with VisCy and with us, compare.

    Returns the differences (empty: bitwise identical). Both runs read the same
    VisCy config; paths in it are relative to ``workdir``, the cwd of both.
    Both run with ``threads`` intra-op threads: on CPU the thread count
    changes the last bits of convolution results, so it must be the same.
    """
    import yaml

    from repro_golden.examples import generate_example

    workdir = workdir.resolve()
    case_file = generate_example(workdir / "inputs", case=case)
    case_map = yaml.safe_load(case_file.read_text())
    data = case_map["data"]
    config = workdir / "viscy_predict.yml"
    write_viscy_config(
        config,
        plate="inputs/" + data["data_path"],
        tracks="inputs/" + data["tracks_path"],
        checkpoint="inputs/" + case_map["checkpoint"],
        output="viscy.zarr",
        model=case_map["model"],
        channels=list(data["source_channel"]),
        z_range=list(data["z_range"]),
        patch=list(data["initial_yx_patch_size"]),
        batch_size=batch_size,
        normalizations=data["normalizations"],
        wells=wells,
    )
    interpreter = python or os.environ.get(VISCY_PYTHON_ENV)
    if not interpreter:
        raise RuntimeError(f"set {VISCY_PYTHON_ENV} to the python of a viscy==0.4.1 environment")
    # VisCy's own classes, through repro-golden's lightning pipeline (LightningCLI in the
    # VisCy interpreter; viscy.cli first, as `viscy predict` imports it).
    theirs = subprocess.run(
        [
            sys.executable,
            "-m",
            "repro_golden",
            "predict",
            str(config),
            "--pipeline",
            "lightning",
            "--python",
            interpreter,
            "--preimport",
            "viscy.cli",
            "--output",
            "viscy.zarr",
            "--no-progress",
        ],
        cwd=workdir,
        env=_env(threads),
        capture_output=True,
        text=True,
        check=False,
    )
    if theirs.returncode != 0:
        raise RuntimeError(
            "lightning pipeline (VisCy 0.4.1) failed:\n"
            + theirs.stdout[-4000:]
            + theirs.stderr[-4000:]
        )
    ours = subprocess.run(
        [
            sys.executable,
            "-m",
            "repro_golden",
            "predict",
            str(config),
            "--output",
            "ours.zarr",
            "--no-progress",
        ],
        cwd=workdir,
        env=_env(threads),
        capture_output=True,
        text=True,
        check=False,
    )
    if ours.returncode != 0:
        raise RuntimeError(f"repro-golden predict failed:\n{ours.stderr[-4000:]}")
    return compare_stores(workdir / "ours.zarr", workdir / "viscy.zarr")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    keys = sub.add_parser("viscy-keys", help="(VisCy side) print VisCy's state-dict key shapes")
    keys.add_argument("model_json", help="ContrastiveEncoder arguments as JSON")
    predict = sub.add_parser("viscy-predict", help="(VisCy side) run viscy predict -c CONFIG")
    predict.add_argument("config", type=Path)
    run = sub.add_parser("run", help="the whole parity check (run with repro-golden's python)")
    run.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    run.add_argument("--case", default="example", help="example case to generate")
    run.add_argument("--wells", nargs="*", help="only these wells, e.g. A/1")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--threads", type=int, default=1, help="intra-op threads of both runs")
    args = parser.parse_args(argv)
    if args.command == "viscy-keys":
        print(json.dumps(viscy_state_dict_shapes(json.loads(args.model_json))))
        return 0
    if args.command == "viscy-predict":
        viscy_predict(args.config)
        return 0
    if args.command == "run":
        with tempfile.TemporaryDirectory(prefix="viscy-parity-") as tmp:
            workdir = args.workdir or Path(tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            problems = run_parity(
                workdir,
                case=args.case,
                wells=args.wells,
                batch_size=args.batch_size,
                threads=args.threads,
            )
        if problems:
            print("NOT identical to viscy 0.4.1:\n  " + "\n  ".join(problems))
            return 1
        print("bitwise identical to viscy 0.4.1: X, X_projections, obs")
        return 0
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
