#!/usr/bin/env python
"""Parity check: the builtin ``repro-golden predict`` against VisCy 0.4.1 and the modular packages.

Run with the repro-golden interpreter::

    REPRO_GOLDEN_VISCY_PYTHON=/path/to/viscy-venv/bin/python \\
    REPRO_GOLDEN_MODULAR_PYTHON=/path/to/modular-venv/bin/python \\
        python scripts/viscy_parity.py run [--workdir DIR] [--flavour viscy --flavour modular]

``run`` writes a small synthetic plate, tracks and a seeded checkpoint (an
example case), writes one LightningCLI predict config per flavour (VisCy
0.4.1's class paths; the lab's modular packages' with a test-only stand-in for
``dynaclr.engine.ContrastiveModule``), runs each through ``repro-golden predict
--pipeline lightning --python INTERPRETER`` (the config's own classes built by
LightningCLI in that interpreter, a subprocess) and runs the builtin
``repro-golden predict`` on VisCy's config, then requires ``X``,
``obsm/X_projections`` and ``obs`` (matched by the index columns, not the
writers' repeating index) to be bitwise identical. Exit 0 identical, 1 different.

The modular runs import ``collate_workaround`` first (tests/parity/modular_lab,
test-only: viscy-data 0.1.0 cannot collate the ``timepoint_statistics`` that
``viscy preprocess`` writes; the suite shows that failure as a strict xfail).

The ``viscy-*`` subcommands are the VisCy side of the benchmark (plain
``viscy predict -c``); they run inside the VisCy interpreter and import
nothing from repro_golden. They make viscy 0.4.1 run offline: timm is forced
to ``pretrained=False`` and ``viscy.representation.evaluation`` is imported
before the embedding writer (circular import otherwise).
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
MODULAR_PYTHON_ENV = "REPRO_GOLDEN_MODULAR_PYTHON"
#: The test-only lab files of the modular run (stand-in module, collate workaround).
MODULAR_LAB = Path(__file__).resolve().parents[1] / "tests" / "parity" / "modular_lab"
#: What each flavour of predict config names: VisCy 0.4.1, or the lab's modular packages
#: (``standin_dynaclr`` stands in for dynaclr.engine.ContrastiveModule, not on PyPI).
CLASSES: dict[str, dict[str, str]] = {
    "viscy": {
        "writer": "viscy.representation.embedding_writer.EmbeddingWriter",
        "module": "viscy.representation.engine.ContrastiveModule",
        "encoder": "viscy.representation.contrastive.ContrastiveEncoder",
        "data": "viscy.data.triplet.TripletDataModule",
        "normalize": "viscy.transforms.NormalizeSampled",
    },
    "modular": {
        "writer": "viscy_utils.callbacks.embedding_writer.EmbeddingWriter",
        "module": "standin_dynaclr.ContrastiveModule",
        "encoder": "viscy_models.contrastive.ContrastiveEncoder",
        "data": "viscy_data.triplet.TripletDataModule",
        "normalize": "viscy_transforms.NormalizeSampled",
    },
}
#: Modules each flavour's runs import first: viscy.cli (circular import otherwise);
#: for the modular packages the test-only collate workaround (see MODULAR_LAB).
PREIMPORT = {"viscy": ("viscy.cli",), "modular": ("collate_workaround",)}
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
    flavour: str = "viscy",
) -> None:
    """A LightningCLI predict config, as the lab writes them (paths as given).

    ``flavour`` picks the class paths (:data:`CLASSES`): VisCy 0.4.1's or the
    lab's modular packages'; the arguments are the same.
    """
    import yaml

    names = CLASSES[flavour]
    writer_args: dict[str, Any] = {"output_path": output, "phate_kwargs": None, "pca_kwargs": None}
    if flavour == "modular":
        writer_args["umap_kwargs"] = None
    config = {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "cpu",
            "devices": 1,
            "num_nodes": 1,
            "precision": "32-true",
            "logger": False,
            "inference_mode": True,
            "callbacks": [{"class_path": names["writer"], "init_args": writer_args}],
        },
        "model": {
            "class_path": names["module"],
            "init_args": {
                "encoder": {
                    "class_path": names["encoder"],
                    "init_args": model,
                },
                "example_input_array_shape": [1, len(channels), z_range[1] - z_range[0], *patch],
            },
        },
        "data": {
            "class_path": names["data"],
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
                    {"class_path": names["normalize"], "init_args": norm} for norm in normalizations
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

    with warnings.catch_warnings():
        # The writers' obs index repeats per batch ("0".."15" again and again); expected.
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        a = ad.read_zarr(ours)
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


def prepare(
    workdir: Path,
    *,
    case: str = "example",
    wells: list[str] | None = None,
    batch_size: int = 16,
) -> dict[str, Path]:
    """Generate example ``case`` under ``workdir/inputs``; write one config per flavour.

    Returns ``{flavour: config}``; paths in the configs are relative to
    ``workdir``, the cwd of every run. The writers' outputs are
    ``<flavour>.zarr`` there (repro-golden redirects and publishes them).
    """
    import yaml

    from repro_golden.examples import generate_example

    workdir = workdir.resolve()
    case_file = generate_example(workdir / "inputs", case=case)
    case_map = yaml.safe_load(case_file.read_text())
    data = case_map["data"]
    configs: dict[str, Path] = {}
    for flavour in CLASSES:
        config = workdir / f"{flavour}_predict.yml"
        write_viscy_config(
            config,
            plate="inputs/" + data["data_path"],
            tracks="inputs/" + data["tracks_path"],
            checkpoint="inputs/" + case_map["checkpoint"],
            output=f"{flavour}.zarr",
            model=case_map["model"],
            channels=list(data["source_channel"]),
            z_range=list(data["z_range"]),
            patch=list(data["initial_yx_patch_size"]),
            batch_size=batch_size,
            normalizations=data["normalizations"],
            wells=wells,
            flavour=flavour,
        )
        configs[flavour] = config
    return configs


def predict_command(
    config: Path,
    output: str,
    *,
    python: str | None = None,
    preimport: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``repro-golden predict`` command line: the builtin when ``python`` is None."""
    command = [sys.executable, "-m", "repro_golden", "predict", str(config), "--output", output]
    if python is not None:
        command += ["--pipeline", "lightning", "--python", python]
        for module in preimport:
            command += ["--preimport", module]
    return [*command, "--no-progress", *extra]


def run_predict(
    workdir: Path,
    config: Path,
    output: str,
    *,
    python: str | None = None,
    preimport: Sequence[str] = (),
    threads: int = 1,
) -> subprocess.CompletedProcess[str]:
    """Run :func:`predict_command` in ``workdir`` (the modular lab files on PYTHONPATH)."""
    env = _env(threads)
    env["PYTHONPATH"] = str(MODULAR_LAB)
    return subprocess.run(
        predict_command(config, output, python=python, preimport=preimport),
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def _checked(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        raise RuntimeError(
            f"{what} failed (exit {result.returncode}):\n"
            + result.stdout[-4000:]
            + result.stderr[-4000:]
        )


def _interpreter(python: str | None, variable: str, what: str) -> str:
    interpreter = python or os.environ.get(variable)
    if not interpreter:
        raise RuntimeError(f"set {variable} to the python of {what}")
    return interpreter


def run_parity(
    workdir: Path,
    *,
    case: str = "example",
    wells: list[str] | None = None,
    batch_size: int = 16,
    threads: int = 1,
    python: str | None = None,
    modular_python: str | None = None,
    flavours: Sequence[str] = ("viscy",),
) -> dict[str, list[str]]:
    """Generate example ``case`` in ``workdir``; predict with the builtin and each flavour.

    The builtin reads VisCy's config (``builtin.zarr``); each flavour in
    ``flavours`` runs its own config through ``repro-golden predict --pipeline
    lightning`` in its interpreter (``viscy``: ``python`` or
    ``$REPRO_GOLDEN_VISCY_PYTHON``; ``modular``: ``modular_python`` or
    ``$REPRO_GOLDEN_MODULAR_PYTHON``). Returns ``{flavour: differences from
    the builtin}`` (empty lists: bitwise identical). All runs use ``threads``
    intra-op threads: on CPU the thread count changes the last bits of
    convolution results, so it must be the same.
    """
    workdir = workdir.resolve()
    configs = prepare(workdir, case=case, wells=wells, batch_size=batch_size)
    interpreters = {
        "viscy": lambda: _interpreter(python, VISCY_PYTHON_ENV, "a viscy==0.4.1 environment"),
        "modular": lambda: _interpreter(
            modular_python, MODULAR_PYTHON_ENV, "an environment with viscy-data 0.1.0 & co."
        ),
    }
    _checked(
        run_predict(workdir, configs["viscy"], "builtin.zarr", threads=threads),
        "repro-golden predict (builtin)",
    )
    found: dict[str, list[str]] = {}
    for flavour in flavours:
        result = run_predict(
            workdir,
            configs[flavour],
            f"{flavour}.zarr",
            python=interpreters[flavour](),
            preimport=PREIMPORT[flavour],
            threads=threads,
        )
        _checked(result, f"lightning pipeline ({flavour})")
        found[flavour] = compare_stores(workdir / "builtin.zarr", workdir / f"{flavour}.zarr")
    return found


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
    run.add_argument("--threads", type=int, default=1, help="intra-op threads of all runs")
    run.add_argument(
        "--flavour",
        action="append",
        choices=sorted(CLASSES),
        help="lightning runs to compare with the builtin (default: viscy); repeatable",
    )
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
            found = run_parity(
                workdir,
                case=args.case,
                wells=args.wells,
                batch_size=args.batch_size,
                threads=args.threads,
                flavours=args.flavour or ["viscy"],
            )
        for flavour, problems in found.items():
            if problems:
                print(f"{flavour}: NOT identical to the builtin:\n  " + "\n  ".join(problems))
            else:
                print(f"{flavour}: bitwise identical to the builtin: X, X_projections, obs")
        return 1 if any(found.values()) else 0
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
