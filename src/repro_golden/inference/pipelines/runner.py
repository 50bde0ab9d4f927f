"""Run a LightningCLI predict config in *this* interpreter; report to the caller as JSON lines.

This file is executed by path (``python runner.py SPEC.json``) in the lab's own
environment, which needs torch, lightning and jsonargparse but not
repro-golden: it imports nothing from this package, only the standard library
at import time and torch/lightning inside functions. The caller
(:mod:`repro_golden.inference.pipelines.lightning`) writes the spec, reads the
events and publishes the output.

What it does, in order:

1. checks that this interpreter has torch, lightning, jsonargparse and pyyaml
   (exit 6 naming what is missing); applies the offline switch (timm never
   asked for pretrained weights; any non-loopback connection refused with a
   message naming who tried), the case's thread count and float32 matmul
   precision;
2. reads the config as YAML (exit 4 with line and column) and imports every
   ``class_path`` of it (exit 3 naming the class, this interpreter and the
   import error);
3. reads the checkpoint with ``torch.load(weights_only=True)`` (exit 7: a
   pickle that would run code, a corrupt or absent file);
4. builds the config with ``LightningCLI`` itself (``predict`` subcommand), so an
   unknown or ill-typed key is refused exactly as LightningCLI refuses it
   (exit 4); the case numerics are passed as the same command-line overrides
   LightningCLI accepts; the checkpoint's ``hyper_parameters`` may not switch a
   class the config names (exit 7); every writer callback's ``output_path`` is
   redirected to the private path the caller chose; the classes instantiated
   are reported (``ran``);
5. INFER-01: compares the checkpoint's ``state_dict`` key by key and shape by
   shape with the instantiated module, then runs one forward pass on an input
   of the case's shape; a failure stops here (exit 8: nothing is predicted);
6. runs ``trainer.predict`` with a callback that records, per batch, digests
   of the ``anchor`` the model receives, of its outputs and of the row keys,
   streams progress in cells, and gathers every rank's records and row keys
   at the end (rank 0 writes the keys to ``predicted-rows.json`` in the
   caller's private folder); a crash is reported with its traceback tail
   (exit 5), with ``storage`` (errno) when a filesystem fault is behind it and
   ``missing_module`` for a ``ModuleNotFoundError``.

SIGINT and SIGTERM raise through Lightning (which re-raises a
``BaseException`` after its teardown; its own SIGTERM handler only takes note)
and end the runner with 128 + the signal and a ``stopped`` event.

Stopping: the caller starts this file as the leader of its own process group
and stops the group; this file watches the read end of a pipe whose write end
only the caller holds (``REPRO_GOLDEN_RUNNER_WATCH_FD``). End of file there
means the caller died: the whole group gets SIGTERM, the caller's private
folder is removed, and SIGKILL follows after :data:`STOP_GRACE` seconds.
Under DDP, Lightning relaunches this file with the same arguments (the spec)
for every rank.

Events are single lines ``@@repro-golden@@ {json}`` on stdout, written by global
rank 0 only. Digests are BLAKE2b-128 of canonical bytes (``dtype:shape|``
header, then the C-ordered little-endian buffer), so the builtin pipeline,
which imports :func:`tensor_digest` and :func:`rows_digest` from this file,
records comparable values.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import importlib
import json
import os
import platform
import re
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    # Run by path, this file's folder leads sys.path; its siblings (lightning.py!) would
    # shadow the lab's packages.
    _HERE = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

MARKER = "@@repro-golden@@ "
EXIT_IMPORT = 3
EXIT_CONFIG = 4
EXIT_PIPELINE = 5
EXIT_ENVIRONMENT = 6
EXIT_CHECKPOINT = 7
EXIT_INFER01 = 8
#: Modules this file needs in the lab's interpreter (import name -> distribution).
REQUIRED_MODULES = {
    "yaml": "pyyaml",
    "torch": "torch",
    "lightning": "lightning",
    "jsonargparse": "jsonargparse",
}
WATCH_FD_VARIABLE = "REPRO_GOLDEN_RUNNER_WATCH_FD"
#: Seconds between SIGTERM and SIGKILL when this runner stops its group.
STOP_GRACE = 5.0
#: Where rank 0 writes the row keys every rank predicted (in the caller's private folder).
PREDICTED_ROWS = "predicted-rows.json"
ROW_KEYS = ("fov_name", "track_id", "t", "id")
_TRACEBACK_LINES = 30
_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")


# --------------------------------------------------------------------------- events


def _rank() -> int:
    for name in ("RANK", "SLURM_PROCID", "LOCAL_RANK"):
        value = os.environ.get(name)
        if value is not None and value.isdigit():
            return int(value)
    return 0


_EMIT_LOCK = threading.Lock()
#: Set when the caller is gone (its pipe closed, or stdout broken): nothing left to report to.
_ORPHANED = threading.Event()


def emit(event: str, **fields: Any) -> None:
    """One event line on stdout (global rank 0 only; whole lines, from any thread)."""
    if _rank() != 0:
        return
    line = MARKER + json.dumps({"event": event, **fields}, default=str) + "\n"
    with _EMIT_LOCK:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (BrokenPipeError, ValueError):  # the caller is gone: nobody to tell
            _ORPHANED.set()


def one_line(text: str) -> str:
    """``text`` on one line (jsonargparse's messages are indented lists over many lines)."""
    return " ".join(text.split())


def traceback_tail(exc: BaseException, lines: int = _TRACEBACK_LINES) -> str:
    """The last ``lines`` lines of ``exc``'s formatted traceback."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return "\n".join(text.rstrip().splitlines()[-lines:])


# --------------------------------------------------------------------------- digests


def _canonical_bytes(tensor: Any) -> bytes:
    """``dtype:shape|`` then the C-ordered buffer (little endian on every supported host)."""
    import torch

    value = tensor.detach().to("cpu").contiguous()
    header = f"{str(value.dtype).removeprefix('torch.')}:{list(value.shape)}|".encode()
    if value.numel() == 0:
        return header
    raw = value.reshape(-1).view(torch.uint8).numpy().tobytes()
    if sys.byteorder != "little" and value.element_size() > 1:  # pragma: no cover
        size = value.element_size()
        raw = b"".join(raw[i : i + size][::-1] for i in range(0, len(raw), size))
    return header + raw


def tensor_digest(tensor: Any) -> str:
    """BLAKE2b-128 of a tensor's canonical bytes."""
    return "blake2b_128:" + hashlib.blake2b(_canonical_bytes(tensor), digest_size=16).hexdigest()


def _column(batch: Mapping[str, Any], name: str) -> list[Any] | None:
    """Column ``name`` of the batch's index: a mapping of columns, a list of row mappings
    (VisCy 0.4.1), or a key of the batch itself (the builtin's ``fov_name``)."""
    index = batch.get("index")
    values: Any = None
    if isinstance(index, Mapping):
        values = index.get(name)
    elif isinstance(index, list) and index and all(isinstance(r, Mapping) for r in index):
        values = [r.get(name) for r in index]
        if any(v is None for v in values):
            values = None
    if values is None:
        values = batch.get(name)
    if values is None:
        return None
    if hasattr(values, "tolist"):
        values = values.tolist()
    return list(values)


def row_keys(batch: Mapping[str, Any]) -> list[list[Any]] | None:
    """The batch's cells as ``[fov_name, track_id, t, id]`` (None without those columns)."""
    columns = [_column(batch, name) for name in ROW_KEYS]
    if any(c is None for c in columns):
        return None
    fovs, *numbers = columns
    assert fovs is not None
    return [
        [str(f).strip("/"), *(int(_scalar(n[i])) for n in numbers if n is not None)]
        for i, f in enumerate(fovs)
    ]


def _scalar(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def rows_digest(keys: Sequence[Sequence[Any]]) -> str:
    """BLAKE2b-128 of the row keys in order (canonical JSON)."""
    text = json.dumps([list(k) for k in keys], separators=(",", ":"))
    return "blake2b_128:" + hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _output_tensors(outputs: Any) -> dict[str, Any]:
    import torch

    if isinstance(outputs, torch.Tensor):
        return {"output": outputs}
    if isinstance(outputs, Mapping):
        return {str(k): v for k, v in sorted(outputs.items()) if isinstance(v, torch.Tensor)}
    if isinstance(outputs, list | tuple):
        return {str(i): v for i, v in enumerate(outputs) if isinstance(v, torch.Tensor)}
    return {}


def batch_stage_record(batch: Any, outputs: Any, batch_idx: int) -> dict[str, Any]:
    """Digests of one predicted batch: rows (keys, in order), model input, model outputs."""
    record: dict[str, Any] = {"batch": batch_idx}
    if isinstance(batch, Mapping):
        keys = row_keys(batch)
        anchor = batch.get("anchor")
        record["rows"] = None if keys is None else len(keys)
        record["rows_digest"] = None if keys is None else rows_digest(keys)
        record["input_digest"] = None if anchor is None else tensor_digest(anchor)
    else:
        record.update(rows=None, rows_digest=None, input_digest=None)
    record["output_digests"] = {k: tensor_digest(v) for k, v in _output_tensors(outputs).items()}
    return record


def _stage_callback(total: int | None, batch_size: int | None) -> Any:
    """A Lightning callback recording :func:`batch_stage_record` and streaming cell counts.

    Each rank keeps its own records and the row keys of the cells it predicted;
    at the end of predict (every rank reaches ``on_predict_end``, the process
    group is still up) they are gathered to every rank, so rank 0 can say what
    each rank predicted and the caller can compare that with the writer's rows.
    """
    from lightning.pytorch import Callback

    class StageDigests(Callback):
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []
            self.keys: list[list[Any]] | None = []
            self.cells = 0
            self.local_cells = 0
            self.environment: dict[str, Any] | None = None
            self.ranks: list[dict[str, Any]] = []

        def on_predict_start(self, trainer: Any, pl_module: Any) -> None:
            self.environment = environment(pl_module.device, batch_size)

        def on_predict_batch_end(
            self,
            trainer: Any,
            pl_module: Any,
            outputs: Any,
            batch: Any,
            batch_idx: int,
            dataloader_idx: int = 0,
        ) -> None:
            record = batch_stage_record(batch, outputs, batch_idx)
            record["rank"] = trainer.global_rank
            self.records.append(record)
            size = record["rows"]
            if size is None and isinstance(batch, Mapping) and batch.get("anchor") is not None:
                size = len(batch["anchor"])
            keys = row_keys(batch) if isinstance(batch, Mapping) else None
            if keys is None or self.keys is None:
                self.keys = None
            else:
                self.keys.extend(keys)
            self.local_cells += int(size or 0)
            # Progress is an estimate under DDP (rank 0's pace times the ranks).
            self.cells += int(size or 0) * trainer.world_size
            emit("progress", cells=self.cells, total=total)

        def on_predict_end(self, trainer: Any, pl_module: Any) -> None:
            import torch

            mine = {
                "rank": int(trainer.global_rank),
                "records": self.records,
                "cells": self.local_cells,
                "keys": self.keys,
            }
            packs: list[Any] = [mine]
            if (
                trainer.world_size > 1
                and torch.distributed.is_available()
                and torch.distributed.is_initialized()
            ):
                packs = [None] * trainer.world_size
                torch.distributed.all_gather_object(packs, mine)
            self.records = sorted(
                (r for pack in packs for r in pack["records"]),
                key=lambda r: (r["batch"], r["rank"]),
            )
            self.ranks = [
                {
                    "rank": pack["rank"],
                    "batches": len(pack["records"]),
                    "cells": pack["cells"],
                    "keys": pack["keys"],
                }
                for pack in sorted(packs, key=lambda p: p["rank"])
            ]
            self.cells = sum(rank["cells"] for rank in self.ranks)

        def gathered(self, trainer: Any) -> list[dict[str, Any]]:
            return list(self.records)

    return StageDigests()


def _batch_size(config: Mapping[str, Any]) -> int | None:
    value = ((config.get("data") or {}).get("init_args") or {}).get("batch_size")
    return value if isinstance(value, int) else None


def environment(device: Any, batch_size: int | None) -> dict[str, Any]:
    """The numeric environment of this process, in repro-golden's fingerprint form.

    The one place the fields are read: here while ``trainer.predict`` runs, and by
    ``repro_golden.inference.fingerprint.capture_fingerprint`` for the builtin
    pipeline (which imports this file, as it imports :func:`tensor_digest`).
    ``device`` is a ``torch.device`` or a device type (``"cpu"``, ``"cuda"``); CUDA
    properties are read only where CUDA is available.
    """
    import torch

    device_type = str(getattr(device, "type", device) or "cpu")
    name: str | None
    capability: str | None = None
    gpu: dict[str, Any] = {}
    if device_type == "cuda" and torch.cuda.is_available():
        index = getattr(device, "index", None) or 0
        name = torch.cuda.get_device_name(index)
        capability = "{}.{}".format(*torch.cuda.get_device_capability(index))
        gpu = _gpu_fields(torch, index)
    else:
        name = platform.processor() or platform.machine() or device_type
    try:
        cpu_capability: str | None = str(torch.backends.cpu.get_cpu_capability())
    except AttributeError:  # pragma: no cover
        cpu_capability = None
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return {
        "schema": "repro-golden/environment/1",
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": None if cudnn is None else str(cudnn),
        "device_type": device_type,
        "device_name": name,
        "compute_capability": capability,
        "cpu_capability": cpu_capability,
        "num_threads": int(torch.get_num_threads()),
        "batch_size": batch_size,
        "matmul_precision": torch.get_float32_matmul_precision(),
        "allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cpu_model": cpu_model(),
        **gpu,
    }


def _gpu_fields(torch: Any, index: int) -> dict[str, Any]:
    """What else decides a CUDA run's bits: cuBLAS reproduces only on the same
    architecture *and* SM count; the driver; ``NVIDIA_TF32_OVERRIDE`` forces TF32 off
    (or on) behind torch's flags. Each is left out where it cannot be read."""
    fields: dict[str, Any] = {}
    with contextlib.suppress(Exception):
        fields["sm_count"] = int(torch.cuda.get_device_properties(index).multi_processor_count)
    with contextlib.suppress(Exception):
        version = int(torch._C._cuda_getDriverVersion())
        fields["cuda_driver"] = f"{version // 1000}.{version % 1000 // 10}"
    override = os.environ.get("NVIDIA_TF32_OVERRIDE")
    if override is not None:
        fields["tf32_override"] = override
    return fields


#: ``/proc/cpuinfo`` flags that decide which SIMD kernels a library dispatches to.
_SIMD_FLAG = re.compile(r"^(sse|ssse|avx|amx|fma|f16c|asimd|sve|sme|neon)")


def cpu_model(cpuinfo: str | None = None) -> str | None:
    """This processor as the fingerprint field ``cpu_model``, e.g. ``AuthenticAMD family
    26 model 2 (AMD EPYC), simd 3f1c0e2a``; ``None`` where it cannot be read.

    ``torch.backends.cpu.get_cpu_capability()`` says only ``AVX512``, and two AVX512
    machines of other models (oneDNN picks kernels by model and flags) gave the
    example case other bits. So the vendor, family and model, with a digest (the
    first 8 hex digits of SHA-256) of the SIMD flags a VM exposes, enter the key.
    ``cpuinfo`` is the text of ``/proc/cpuinfo`` (read here when ``None``); off
    Linux, ``platform.processor()``. Standard library only, as this whole file.
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            return platform.processor() or None
    first: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            if first:
                break
            continue
        name, _, value = line.partition(":")
        first.setdefault(name.strip().lower(), value.strip())
    vendor = first.get("vendor_id") or first.get("cpu implementer")
    if vendor is None:
        return platform.processor() or None
    family = first.get("cpu family") or first.get("cpu architecture", "?")
    model = first.get("model") or first.get("cpu part", "?")
    flags = sorted(
        f for f in (first.get("flags") or first.get("features", "")).split() if _SIMD_FLAG.match(f)
    )
    simd = hashlib.sha256(" ".join(flags).encode("ascii", "replace")).hexdigest()[:8]
    model_name = first.get("model name")
    described = f"{vendor} family {family} model {model}" + (
        f" ({model_name})" if model_name else ""
    )
    return f"{described}, simd {simd}"


# --------------------------------------------------------------------------- offline


def _offline_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        host = str(address[0]) if isinstance(address, tuple) else str(address)
        if self.family == socket.AF_UNIX or host.startswith(_LOOPBACK):
            return original(self, address)
        caller = _first_foreign_frame()
        raise ConnectionRefusedError(
            f"offline (numerics.offline): a connection to {address!r} was refused; "
            f"attempted from {caller}"
        )

    return connect


def _first_foreign_frame() -> str:
    """``file:line in function`` of the innermost caller outside socket/ssl/http internals."""
    skip = ("socket.py", "ssl.py", "connection.py", "client.py", "runner.py", "_http", "urllib")
    for frame in reversed(traceback.extract_stack()[:-2]):
        if not any(part in frame.filename for part in skip):
            return f"{frame.filename}:{frame.lineno} in {frame.name}"
    return "unknown caller"  # pragma: no cover


def apply_offline() -> None:
    """No pretrained-weight requests from timm; no connection beyond this host."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    socket.socket.connect = _offline_connect(socket.socket.connect)  # type: ignore[method-assign]
    try:
        import timm
    except ImportError:
        return
    create_model = timm.create_model

    def create_model_offline(*args: Any, **kwargs: Any) -> Any:
        kwargs["pretrained"] = False
        return create_model(*args, **kwargs)

    timm.create_model = create_model_offline
    models = sys.modules.get("timm.models")
    if models is not None and getattr(models, "create_model", None) is create_model:
        models.create_model = create_model_offline  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- config


def class_paths(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """``(key, class_path)`` of every block in a parsed config, depth first."""
    if isinstance(node, Mapping):
        value = node.get("class_path")
        if isinstance(value, str):
            yield where or "class_path", value
        for key, child in node.items():
            yield from class_paths(child, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from class_paths(child, f"{where}[{i}]")


def import_class(path: str) -> Any:
    """The object ``path`` names (``package.module.Name``)."""
    module_name, _, attribute = path.rpartition(".")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


@functools.lru_cache(maxsize=1)
def _packages() -> Mapping[str, list[str]]:
    """Top-level module -> distributions (one scan of the environment: ~0.5 s in a big one)."""
    from importlib import metadata

    return metadata.packages_distributions()


def _distribution_of(module_name: str) -> tuple[str | None, str | None]:
    from importlib import metadata

    top = module_name.split(".", 1)[0]
    names = _packages().get(top) or []
    for name in names:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover
            continue
    return None, None


def _git_state(path: Path) -> dict[str, Any] | None:
    import subprocess

    directory = path.parent
    try:
        top = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if top.returncode != 0:
        return None
    root, commit = top.stdout.split()[:2]
    tracked = subprocess.run(
        ["git", "-C", root, "ls-files", "--error-unmatch", str(path)],
        capture_output=True,
        timeout=10,
        check=False,
    )
    if tracked.returncode != 0:  # an installed copy inside some checkout: not its source
        return None
    status = subprocess.run(
        ["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return {"root": root, "commit": commit, "dirty": bool(status.stdout.strip())}


def code_provenance(paths: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per class: its module, file, distribution and version, git commit and dirty flag."""
    import inspect

    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        if path in found or "." not in path:
            continue
        obj = import_class(path)
        module_name = getattr(obj, "__module__", path.rpartition(".")[0])
        try:
            source = inspect.getsourcefile(obj)
        except TypeError:
            source = None
        distribution, version = _distribution_of(module_name)
        found[path] = {
            "module": module_name,
            "file": source,
            "distribution": distribution,
            "version": version,
            "git": None if source is None else _git_state(Path(source)),
        }
    return found


def _redirect_writers(callbacks: Any, output: str) -> list[str]:
    """Point every callback's ``output_path`` at ``output``; return their class paths."""
    redirected: list[str] = []
    for callback in callbacks or []:
        init_args = getattr(callback, "init_args", None)
        if init_args is not None and "output_path" in init_args:
            init_args["output_path"] = output
            redirected.append(str(callback.class_path))
    return redirected


def _overrides(spec: Mapping[str, Any]) -> list[str]:
    args: list[str] = []
    for key, value in (spec.get("overrides") or {}).items():
        args.append(f"--{key}={json.dumps(value) if not isinstance(value, str) else value}")
    return args


# --------------------------------------------------------------------------- INFER-01


def _expected_widths(config: Mapping[str, Any]) -> dict[str, int | None]:
    model = config.get("model") or {}
    encoder = ((model.get("init_args") or {}).get("encoder") or {}).get("init_args") or {}
    return {
        "features": encoder.get("embedding_dim"),
        "projections": encoder.get("projection_dim"),
    }


def _input_shape(config: Mapping[str, Any], module: Any) -> list[int] | None:
    data = (config.get("data") or {}).get("init_args") or {}
    channels, z_range = data.get("source_channel"), data.get("z_range")
    patch = data.get("final_yx_patch_size") or data.get("initial_yx_patch_size")
    if channels and z_range and patch:
        return [1, len(channels), int(z_range[1]) - int(z_range[0]), *map(int, patch)]
    example: Any = getattr(module, "example_input_array", None)
    return list(example.shape) if hasattr(example, "shape") else None


def infer01(
    module: Any, checkpoint: str | None, config: Mapping[str, Any], *, payload: Any = None
) -> dict[str, Any]:
    """Strict, weights-only load of ``checkpoint`` into ``module``, then one forward pass.

    ``payload`` is the checkpoint as already loaded (weights only), so a large
    file is not read twice; it is loaded here when not given.
    """
    import torch

    result: dict[str, Any] = {"checkpoint": checkpoint, "module": type(module).__qualname__}
    problems: list[str] = []
    if checkpoint is None:
        problems.append("no ckpt_path in the config: nothing to load")
    else:
        if payload is None:
            try:
                payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
            except Exception as exc:
                problems.append(
                    f"torch.load(weights_only=True) failed: {type(exc).__name__}: {exc}"
                )
        if payload is not None:
            state = payload.get("state_dict", payload) if isinstance(payload, Mapping) else {}
            own = module.state_dict()
            missing = sorted(set(own) - set(state))
            unexpected = sorted(set(state) - set(own))
            mismatched = [
                {"key": k, "checkpoint": list(state[k].shape), "module": list(own[k].shape)}
                for k in sorted(set(own) & set(state))
                if tuple(own[k].shape) != tuple(state[k].shape)
            ]
            result.update(
                keys=len(state), missing=missing, unexpected=unexpected, mismatched=mismatched
            )
            if missing or unexpected or mismatched:
                problems.append(
                    f"strict load fails: {len(missing)} missing, {len(unexpected)} unexpected, "
                    f"{len(mismatched)} shape-mismatched key(s)"
                )
    shape = _input_shape(config, module)
    result["input_shape"] = shape
    widths = _expected_widths(config)
    result["expected"] = widths
    if shape is None:
        problems.append("no input shape: the data config names no channels/z_range/patch")
    else:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(*shape, generator=generator)
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                out = module(x)
        except Exception as exc:
            problems.append(f"forward on {shape} failed: {type(exc).__name__}: {exc}")
            out = None
        finally:
            module.train(was_training)
        if out is not None:
            tensors = list(out) if isinstance(out, list | tuple) else [out]
            got = [int(t.shape[-1]) for t in tensors if hasattr(t, "shape")]
            result["widths"] = got
            for position, name in enumerate(("features", "projections")):
                want = widths[name]
                have = got[position] if position < len(got) else None
                if want is not None and have != want:
                    problems.append(f"{name} width {have}, expected {want}")
    result["problems"] = problems
    result["status"] = "fail" if problems else "pass"
    return result


# --------------------------------------------------------------------------- run


def _numerics(spec: Mapping[str, Any]) -> None:
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


class _StoppedError(BaseException):
    """SIGINT or SIGTERM reached this runner (a ``BaseException``: Lightning re-raises it
    after its teardown instead of turning it into ``sys.exit(1)`` as a ``KeyboardInterrupt``)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by signal {signum}")


class _RefusedError(Exception):
    """A checkpoint whose ``hyper_parameters`` would switch a class the config names, or
    that LightningCLI cannot apply to the config's model."""


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _install_stop_handlers() -> dict[int, Any]:
    """SIGINT and SIGTERM raise :class:`_StoppedError` once (Lightning composes its own SIGTERM
    handler with this one, so it still runs inside ``trainer.predict``); returns the old ones."""
    fired: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if fired:
            return
        fired.append(signum)
        raise _StoppedError(signum)

    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in _STOP_SIGNALS}
    for signum in _STOP_SIGNALS:
        signal.signal(signum, handler)
    return previous


def _signal_group(signum: int) -> None:
    """``signum`` to this runner's process group when it leads one (the caller starts it so),
    else to this process alone: never to a group this file did not start."""
    try:
        if os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signum)
        else:
            os.kill(os.getpid(), signum)
    except OSError:  # pragma: no cover - already gone
        pass


def _remove_private(spec: Mapping[str, Any]) -> None:
    """Remove the caller's private ``*.partial`` folder (the caller died and cannot)."""
    import shutil

    private = spec.get("private")
    if isinstance(private, str) and private.endswith(".partial") and os.path.isdir(private):
        shutil.rmtree(private, ignore_errors=True)


def _watch_parent(spec: Mapping[str, Any]) -> None:
    """Stop this run when the caller dies: end of file on the pipe only the caller writes.

    The variable is removed from the environment first, so processes this one
    starts (DDP ranks, DataLoader workers) neither inherit it nor watch a
    descriptor that is not theirs.
    """
    value = os.environ.pop(WATCH_FD_VARIABLE, None)
    if value is None or not value.isdigit():
        return
    fd = int(value)

    def watch() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        _ORPHANED.set()
        _signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        while threading.main_thread().is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        _remove_private(spec)
        _signal_group(signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: Sequence[str] | None = None) -> int:
    """``runner.py SPEC.json``: see the module docstring; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    _watch_parent(spec)
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        previous = _install_stop_handlers()
    try:
        return _main(spec)
    except _StoppedError as exc:
        emit("stopped", signal=exc.signum)
        return 128 + exc.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if _ORPHANED.is_set():  # nobody will publish or clean up: leave nothing, stop all
            _remove_private(spec)
            _signal_group(signal.SIGKILL)


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
    return _predict(spec, config_path, raw, payload)


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


class _StopBeforeRunError(Exception):
    pass


def _namespace_classes(namespace: Any) -> dict[str, str]:
    """``key -> class_path`` of a parsed (jsonargparse) config."""
    value = namespace.as_dict() if hasattr(namespace, "as_dict") else namespace
    return dict(class_paths(value)) if isinstance(value, Mapping) else {}


def _qualified(obj: Any) -> str:
    kind = obj if isinstance(obj, type) else type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


_STORAGE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EIO")
    if hasattr(errno, name)
)
_PATH_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR})


def _storage_fault(exc: BaseException, private: str | None) -> dict[str, Any] | None:
    """The filesystem fault behind ``exc`` (its cause chain included), if it is one.

    Space, read-only and I/O errors are faults wherever they arise; permission
    and vanished-directory errors only under the caller's private folder (the
    writer's output), since elsewhere they may be the lab's code reading a wrong path.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno is not None:
            filename = current.filename
            under = (
                private is not None
                and isinstance(filename, str)
                and os.path.abspath(filename).startswith(private)
            )
            if current.errno in _STORAGE_ERRNOS or (current.errno in _PATH_ERRNOS and under):
                return {
                    "errno": current.errno,
                    "strerror": current.strerror,
                    "filename": None if filename is None else str(filename),
                }
        current = current.__cause__ or current.__context__
    return None


def _failed(phase: str, exc: BaseException, spec: Mapping[str, Any]) -> None:
    """The ``failed`` event, with what tells a fault from the pipeline's own failure."""
    fields: dict[str, Any] = {
        "phase": phase,
        "exception": type(exc).__name__,
        "message": str(exc),
        "traceback": traceback_tail(exc),
    }
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        fields["missing_module"] = exc.name
    fault = _storage_fault(exc, spec.get("private"))
    if fault is not None:
        fields["storage"] = fault
    emit("failed", **fields)


def _predict(
    spec: Mapping[str, Any], config_path: str, raw: Mapping[str, Any], payload: Any
) -> int:
    from lightning.pytorch.cli import LightningCLI

    holder: dict[str, Any] = {}
    output = spec.get("writer_output")
    hyper = payload.get("hyper_parameters") if isinstance(payload, Mapping) else None

    class PipelineCLI(LightningCLI):
        def _parse_ckpt_path(self) -> None:
            # LightningCLI applies the checkpoint's hyper_parameters to the model's
            # config; a `_class_path` among them replaces the class the config names.
            subcommand = self.config.get("subcommand")
            before = _namespace_classes(self.config[subcommand]) if subcommand else {}
            try:
                super()._parse_ckpt_path()
            except (Exception, SystemExit) as exc:  # jsonargparse exits on what it refuses
                keys = sorted(str(k) for k in hyper or ())
                raise _RefusedError(
                    f"LightningCLI cannot apply its hyper_parameters {keys} to the config's "
                    f"model: {one_line(str(exc)) or type(exc).__name__}"
                ) from exc
            after = _namespace_classes(self.config[subcommand]) if subcommand else {}
            changed = [
                (key, before.get(key), after.get(key))
                for key in sorted(set(before) | set(after))
                if before.get(key) != after.get(key)
            ]
            if changed:
                key, theirs, switched = changed[0]
                raise _RefusedError(
                    f"its hyper_parameters would replace the class the config names at "
                    f"{key!r} ({theirs}) with {switched}: refused (the class that runs "
                    "is the config's)"
                )

        def before_instantiate_classes(self) -> None:
            if output is not None:
                trainer = self.config[self.subcommand]["trainer"]
                holder["redirected"] = _redirect_writers(trainer.get("callbacks"), str(output))
            holder["classes"] = _namespace_classes(self.config[self.subcommand])

        def before_predict(self) -> None:
            holder["cli"] = self
            raise _StopBeforeRunError

    # LightningCLI parses ``args`` only; sys.argv stays ``runner.py SPEC.json`` so that
    # Lightning's DDP launcher relaunches every other rank with the spec.
    try:
        PipelineCLI(
            args=["predict", "--config", config_path, *_overrides(spec)],
            save_config_callback=None,
            trainer_defaults={"logger": False},
            parser_kwargs={"exit_on_error": False, "predict": {"exit_on_error": False}},
        )
    except _StopBeforeRunError:
        pass
    except _RefusedError as exc:
        emit("checkpoint_error", checkpoint=raw.get("ckpt_path"), error=str(exc))
        return EXIT_CHECKPOINT
    except SystemExit as exc:
        emit("config_error", error=f"LightningCLI refused the config (exit {exc.code})")
        return EXIT_CONFIG
    except _StoppedError:
        raise
    except Exception as exc:
        name = type(exc).__name__
        if name in ("ArgumentError", "NSKeyError") or "jsonargparse" in type(exc).__module__:
            emit("config_error", error=one_line(f"{name}: {exc}"))
            return EXIT_CONFIG
        _failed("instantiate", exc, spec)
        return EXIT_PIPELINE
    cli = holder["cli"]
    if output is not None and not holder.get("redirected"):
        emit("config_error", error="no trainer callback with an output_path (the writer)")
        return EXIT_CONFIG
    ran = {
        "model": _qualified(cli.model),
        "datamodule": None if cli.datamodule is None else _qualified(cli.datamodule),
    }
    applied = sorted(str(k) for k in (hyper or {}) if k not in ("_instantiator", "_class_path"))
    emit("ran", classes=ran, checkpoint_hyper_parameters=applied)
    paths = list(dict.fromkeys([*holder.get("classes", {}).values(), *ran.values()]))

    def collect() -> None:
        code: dict[str, Any]
        try:
            code = code_provenance([p for p in paths if p])
        except Exception as exc:  # provenance must never decide the verdict
            code = {"error": f"{type(exc).__name__}: {exc}"}
        emit("code", classes=code)

    # Metadata scans and git calls overlap with INFER-01 and the prediction.
    provenance = threading.Thread(target=collect, name="code-provenance", daemon=True)
    provenance.start()
    status = _infer_and_predict(spec, cli, raw, payload, holder)  # a stop leaves at once
    provenance.join()
    return status


def _infer_and_predict(
    spec: Mapping[str, Any], cli: Any, raw: Mapping[str, Any], payload: Any, holder: Any
) -> int:
    kwargs = cli._prepare_subcommand_kwargs("predict")
    checkpoint = kwargs.get("ckpt_path")
    config = cli.config["predict"].as_dict() if hasattr(cli.config["predict"], "as_dict") else raw
    try:
        verdict = infer01(cli.model, checkpoint, config, payload=payload)
    except _StoppedError:
        raise
    except Exception as exc:
        verdict = {"status": "fail", "problems": [f"{type(exc).__name__}: {exc}"]}
    emit("infer01", **verdict)
    if verdict.get("status") != "pass":  # the listing is the verdict: nothing is predicted
        return EXIT_INFER01
    datamodule = cli.datamodule
    total = _total_cells(datamodule)
    stages = _stage_callback(total, _batch_size(config))
    cli.trainer.callbacks.append(stages)
    if "weights_only" in _parameters(cli.trainer.predict):
        kwargs.setdefault("weights_only", True)
    start = time.perf_counter()
    try:
        cli.trainer.predict(**kwargs)
    except _StoppedError:
        raise
    except BaseException as exc:
        _failed("predict", exc, spec)
        return EXIT_PIPELINE
    seconds = time.perf_counter() - start
    records = stages.gathered(cli.trainer)
    if cli.trainer.is_global_zero:
        private = spec.get("private")
        if isinstance(private, str) and os.path.isdir(private):
            target = os.path.join(private, PREDICTED_ROWS)
            with open(target + ".tmp", "w", encoding="utf-8") as handle:
                json.dump({"ranks": stages.ranks}, handle, separators=(",", ":"))
            os.replace(target + ".tmp", target)
        emit(
            "done",
            cells=stages.cells,
            seconds=seconds,
            stages=records,
            writers=holder.get("redirected", []),
            world_size=cli.trainer.world_size,
            ranks=[{k: v for k, v in r.items() if k != "keys"} for r in stages.ranks],
            environment=stages.environment,
        )
    return 0


def _parameters(function: Any) -> set[str]:
    import inspect

    return set(inspect.signature(function).parameters)


def _total_cells(datamodule: Any) -> int | None:
    for name in ("num_rows", "predict_dataset"):
        value = getattr(datamodule, name, None)
        if isinstance(value, int):
            return value
    return None


if __name__ == "__main__":
    sys.exit(main())
