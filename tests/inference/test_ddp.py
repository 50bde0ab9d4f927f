"""Prediction under Lightning DDP (2 CPU processes, gloo) equals the single-process run.

Both runs go through the same script with ``OMP_NUM_THREADS=1``: on CPU the
intra-op thread count changes the last bits of convolutions, and Lightning
gives each DDP process a share of the cores unless told otherwise, so the
thread count is pinned to compare like with like. Batches are 3 rows, so 15
rows make 5 batches, shared unevenly (3 and 2) between the ranks: Lightning's
predict sampler does not pad. Padded duplicates (other samplers) are covered by
``test_writer.py::test_merge_sorts_by_row_and_drops_sampler_padding``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import anndata as ad
import numpy as np
from tiny_case import write_tiny_case

SCRIPT = textwrap.dedent(
    """
    import dataclasses, sys
    from repro_golden.config.load import load_case
    from repro_golden.inference.predict import predict

    case_file, output, devices = sys.argv[1], sys.argv[2], int(sys.argv[3])
    case = load_case(case_file)
    trainer = dataclasses.replace(
        case.trainer, devices=devices, strategy="ddp" if devices > 1 else "auto"
    )
    result = predict(
        dataclasses.replace(case, trainer=trainer), output=output, batch_size=3, progress=False
    )
    print("cells", result.cells)
    """
)


def _run(script: Path, case_file: Path, output: Path, devices: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOCAL_RANK", "WORLD_SIZE"))}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, str(script), str(case_file), str(output), str(devices)],
        capture_output=True,
        text=True,
        env=env,
        cwd=script.parent,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_process_ddp_equals_single_process(
    tmp_path: Path, repro_note: Callable[[str], None]
) -> None:
    case_file = write_tiny_case(tmp_path / "case")
    script = tmp_path / "run_predict.py"
    script.write_text(SCRIPT)
    _run(script, case_file, tmp_path / "single.zarr", devices=1)
    _run(script, case_file, tmp_path / "ddp.zarr", devices=2)

    single, ddp = ad.read_zarr(tmp_path / "single.zarr"), ad.read_zarr(tmp_path / "ddp.zarr")
    assert ddp.n_obs == single.n_obs == 15
    assert ddp.obs.equals(single.obs)  # dataset order, no padded duplicates
    assert list(ddp.obs.index) == [str(i) for i in range(15)]
    np.testing.assert_allclose(ddp.X, single.X, rtol=0, atol=1e-5)
    np.testing.assert_allclose(
        ddp.obsm["X_projections"], single.obsm["X_projections"], rtol=0, atol=1e-5
    )
    bitwise = (
        ddp.X.tobytes() == single.X.tobytes()
        and ddp.obsm["X_projections"].tobytes() == single.obsm["X_projections"].tobytes()
    )
    repro_note(f"DDP (2 CPU processes, gloo) vs single process: bitwise identical = {bitwise}")
    assert bitwise, "same batches, same thread count: expected bit-identical values"
