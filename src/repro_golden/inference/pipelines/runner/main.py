"""The runner's entry and steps 1 to 3: environment, offline switch, config, checkpoint.

:func:`main` reads the spec, starts the parent watch, installs the stop
handlers, and runs :func:`_main`: this interpreter has torch, lightning,
jsonargparse and pyyaml (exit 6 naming what is missing); the offline switch,
the case's preimports, thread count and float32 matmul precision; the config
read as YAML (exit 4 with line and column); every ``class_path`` imported (exit
3 naming the class, this interpreter and the import error); the checkpoint read
with ``torch.load(weights_only=True)`` (exit 7). Then :mod:`.predict` does the rest.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .classes import class_paths, import_class
from .events import ORPHANED, emit, one_line
from .offline import apply_offline
from .predict import instantiate_and_predict
from .protocol import EXIT_CHECKPOINT, EXIT_CONFIG, EXIT_ENVIRONMENT, EXIT_IMPORT
from .stop import StoppedError, install_stop_handlers, remove_private, signal_group, watch_parent

#: Modules the runner needs in the lab's interpreter (import name -> distribution).
REQUIRED_MODULES = {
    "yaml": "pyyaml",
    "torch": "torch",
    "lightning": "lightning",
    "jsonargparse": "jsonargparse",
}


def main(argv: Sequence[str] | None = None) -> int:
    """``__main__.py SPEC.json``: the steps of the package docstring; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    watch_parent(spec)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = install_stop_handlers()
    try:
        return _main(spec)
    except StoppedError as exc:
        emit("stopped", signal=exc.signum)
        return 128 + exc.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if ORPHANED.is_set():  # nobody will publish or clean up: leave nothing, stop all
            remove_private(spec)
            signal_group(signal.SIGKILL)


def _missing_modules() -> list[str]:
    """The modules of :data:`REQUIRED_MODULES` this interpreter cannot import."""
    import importlib.util

    missing = []
    for name in REQUIRED_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def _main(spec: Mapping[str, Any]) -> int:
    config_path = str(spec["config"])
    emit("start", python=sys.executable, pid=os.getpid(), versions=_versions())
    missing = _missing_modules()
    if missing:
        emit(
            "environment_error",
            python=sys.executable,
            modules=missing,
            error="no module named "
            + ", ".join(repr(m) for m in missing)
            + " (install "
            + ", ".join(REQUIRED_MODULES[m] for m in missing)
            + " in this environment)",
        )
        return EXIT_ENVIRONMENT
    if (spec.get("numerics") or {}).get("offline", True):
        apply_offline()
    for module in spec.get("preimport") or []:
        try:
            importlib.import_module(module)
        except Exception as exc:
            emit(
                "import_error",
                key="preimport",
                class_path=module,
                python=sys.executable,
                error=one_line(f"{type(exc).__name__}: {exc}"),
            )
            return EXIT_IMPORT
    _numerics(spec)
    import yaml

    try:
        raw = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f" at line {mark.line + 1}, column {mark.column + 1}"
        what = getattr(exc, "problem", None) or " ".join(str(exc).split())
        emit("config_error", error=f"not valid YAML{where}: {what}")
        return EXIT_CONFIG
    if not isinstance(raw, Mapping):
        emit("config_error", error=f"expected a mapping at the top, got {type(raw).__name__}")
        return EXIT_CONFIG
    for key, path in class_paths(raw):
        if "." not in path:
            continue
        try:
            import_class(path)
        except Exception as exc:
            emit(
                "import_error",
                key=key,
                class_path=path,
                python=sys.executable,
                error=one_line(f"{type(exc).__name__}: {exc}"),
            )
            return EXIT_IMPORT
    checkpoint = (spec.get("overrides") or {}).get("ckpt_path") or raw.get("ckpt_path")
    payload: Any = None
    if checkpoint:
        payload, error = _load_checkpoint(str(checkpoint))
        if error is not None:
            emit("checkpoint_error", checkpoint=str(checkpoint), error=error)
            return EXIT_CHECKPOINT
    return instantiate_and_predict(spec, config_path, raw, payload)


def _load_checkpoint(path: str) -> tuple[Any, str | None]:
    """The checkpoint as ``torch.load(weights_only=True)`` reads it, or why it cannot be.

    What this refuses (a pickle that would run code, a truncated file, no file)
    is bad input, as the builtin pipeline refuses it; LightningCLI itself reads
    the same file for its ``hyper_parameters`` before anything runs.
    """
    import torch

    if not os.path.isfile(path):
        return None, f"no such checkpoint file: {os.path.abspath(path)}"
    try:
        return torch.load(path, map_location="cpu", weights_only=True), None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, (
            f"torch.load(weights_only=True) refused it ({type(exc).__name__}: {first}); "
            "a checkpoint that needs code to run when loaded is not loaded"
        )


def _versions() -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in ("torch", "lightning", "jsonargparse", "timm"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _numerics(spec: Mapping[str, Any]) -> None:
    """The case's thread count and float32 matmul precision (one TF32 switch for matmuls
    and cuDNN convolutions, as config/numerics.py applies it), before any class imports."""
    import torch

    numerics = spec.get("numerics") or {}
    if numerics.get("cpu_threads"):
        torch.set_num_threads(int(numerics["cpu_threads"]))
    if numerics.get("matmul_precision"):
        torch.set_float32_matmul_precision(str(numerics["matmul_precision"]))
        # One TF32 switch for matmuls and cuDNN convolutions (config/numerics.py).
        torch.backends.cudnn.allow_tf32 = str(numerics["matmul_precision"]) != "highest"
    if numerics.get("deterministic"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
