"""Size of the two installs, each measured in a fresh virtual environment.

``pip install repro-golden`` (the torch-free core, the CLI's golden/check/compare
and the pytest plugin) against ``pip install 'repro-golden[predict]'`` (torch,
Lightning, timm, anndata, ...), both from a wheel built from this checkout,
with the project's torch pins for the second. Prints MiB per install and the
ratio. ``--skip-predict`` measures only the plain install (seconds, not minutes).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")
LITE_BUDGET_MIB = 300


def _run(*cmd: str | Path) -> None:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{result.stderr[-3000:]}")


def _mib(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return total / 2**20


def _install(venv: Path, *requirements: str | Path) -> tuple[float, float]:
    """(MiB, seconds) of a fresh venv at ``venv`` after ``pip install requirements``."""
    start = time.perf_counter()
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", *requirements)
    return _mib(venv), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-predict", action="store_true", help="only the plain install")
    args, _ = parser.parse_known_args()
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        work = Path(tmp)
        _run(
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            work,
            ROOT,
        )
        (wheel,) = work.glob("repro_golden-*.whl")
        lite, lite_s = _install(work / "lite", wheel)
        verdict = "within" if lite < LITE_BUDGET_MIB else "OVER"
        print(
            f"install size, plain (torch-free): {lite:,.0f} MiB in {lite_s:.0f} s "
            f"({verdict} the {LITE_BUDGET_MIB} MiB budget)"
        )
        if not args.skip_predict:
            full, full_s = _install(work / "full", f"{wheel}[predict]", *TORCH_PINS)
            print(
                f"install size, [predict]: {full:,.0f} MiB in {full_s:.0f} s "
                f"({full / lite:.0f}x the plain install)"
            )


if __name__ == "__main__":
    main()
