"""The built wheel, installed the way users install it, in fresh virtual environments.

- ``pip install repro-golden`` (no extra): no torch; ``check`` and the pytest
  plugin work on golden files and a stored zarr; ``predict`` says which extra
  it needs; the environment stays small.
- the wheel with the ``predict`` dependencies: ``example`` (inputs and golden
  files from package data, not from this checkout), then ``predict``, then
  ``check`` pass. The heavy dependencies come from this interpreter's
  site-packages through a ``.pth`` file, so the test does not reinstall torch;
  the package itself is the installed wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The torch-free install must stay well under this (issue 9: under 300 MB).
LITE_BUDGET_BYTES = 300 * 2**20


def _run(
    *cmd: str | Path, cwd: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, env=env, timeout=900
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited {result.returncode}\n"
            f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
        )
    return result


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "-q",
        "-w",
        out,
        ROOT,
    )
    (found,) = out.glob("repro_golden-*.whl")
    return found


def _venv(path: Path) -> Path:
    _run(sys.executable, "-m", "venv", path)
    return path / "bin"


def _write_store(path: Path, *, bump: float = 0.0) -> Path:
    import anndata as ad
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 12
    obs = pd.DataFrame(
        {
            "fov_name": np.repeat(np.array(["A/1/0", "A/1/1"], dtype=object), n // 2),
            "track_id": np.arange(n, dtype=np.int64),
            "t": np.zeros(n, dtype=np.int64),
            "id": np.arange(n, dtype=np.int64),
            "parent_track_id": np.full(n, -1, dtype=np.int64),
            "parent_id": np.full(n, -1, dtype=np.int64),
            "y": np.arange(n, dtype=np.int64) + 80,
            "x": np.arange(n, dtype=np.int64) + 80,
        },
        index=pd.Index([str(i) for i in range(n)], dtype=object),
    )
    x = rng.standard_normal((n, 16)).astype(np.float32)
    x[3, 5] += np.float32(bump)
    proj = rng.standard_normal((n, 4)).astype(np.float32)
    with warnings.catch_warnings():  # anndata announces its zarr v3 default
        warnings.simplefilter("ignore", UserWarning)
        ad.AnnData(X=x, obs=obs, obsm={"X_projections": proj}).write_zarr(path)
    return path


def test_plain_install_is_torch_free_and_checks_golden_files(wheel: Path, tmp_path: Path) -> None:
    bin_dir = _venv(tmp_path / "lite")
    _run(bin_dir / "pip", "install", "--disable-pip-version-check", "-q", wheel)
    probe = _run(
        bin_dir / "python", "-c", "import importlib.util as u; print(u.find_spec('torch'))"
    )
    assert probe.stdout.strip() == "None", "a plain install pulled in torch"
    size = _tree_bytes(tmp_path / "lite")
    assert size < LITE_BUDGET_BYTES, f"torch-free install is {size / 2**20:.0f} MiB"

    store = _write_store(tmp_path / "emb.zarr")
    changed = _write_store(tmp_path / "changed.zarr", bump=1e-3)
    golden = tmp_path / "golden" / "demo"
    cli = bin_dir / "repro-golden"
    _run(cli, "golden", "write", store, "--out", golden, "--case", "demo")
    assert _run(cli, "check", store, "--golden", golden).returncode == 0
    failing = _run(cli, "check", changed, "--golden", golden, check=False)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    predict = _run(cli, "predict", tmp_path / "none.yaml", check=False)
    assert predict.returncode == 2
    assert "pip install 'repro-golden[predict]'" in predict.stderr, predict.stderr

    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_golden.py").write_text(
        "def test_same(golden_regression):\n"
        f"    golden_regression.check({str(store)!r}, golden_dir={str(golden)!r})\n"
        "def test_changed(golden_regression):\n"
        f"    golden_regression.check({str(changed)!r}, golden_dir={str(golden)!r})\n"
    )
    session = _run(
        bin_dir / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=project, check=False
    )
    assert "1 failed, 1 passed" in session.stdout, session.stdout[-3000:]


def test_wheel_runs_example_predict_and_check_from_package_data(
    wheel: Path, tmp_path: Path
) -> None:
    bin_dir = _venv(tmp_path / "full")
    (site,) = (tmp_path / "full" / "lib").glob("python*/site-packages")
    (site / "predict_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(bin_dir / "pip", "install", "--disable-pip-version-check", "-q", "--no-deps", wheel)
    where = _run(bin_dir / "python", "-c", "import repro_golden; print(repro_golden.__file__)")
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout

    work = tmp_path / "case"
    cli = bin_dir / "repro-golden"
    _run(cli, "example", work, cwd=tmp_path)
    assert (work / "golden" / "golden.json").is_file(), "golden files were not shipped"
    _run(
        cli,
        "predict",
        work / "case.yaml",
        "--output",
        work / "embeddings.zarr",
        "--no-progress",
        cwd=tmp_path,
    )
    check = _run(cli, "check", work / "embeddings.zarr", "--golden", work / "golden", cwd=tmp_path)
    assert "PASSED" in check.stdout, check.stdout
