"""Run a LightningCLI predict config in *this* interpreter; report to the caller as JSON lines.

This file is executed by path (``python runner.py SPEC.json``) in the lab's own
environment, which needs torch, lightning and jsonargparse but not
repro-golden: it imports nothing from this package, only the standard library
at import time and torch/lightning inside functions. The caller
(:mod:`repro_golden.inference.pipelines.lightning`) writes the spec, reads the
events and publishes the output.

What it does, in order:

1. applies the offline switch (timm never asked for pretrained weights; any
   non-loopback connection refused with a message naming who tried), the
   case's thread count and float32 matmul precision;
2. imports every ``class_path`` of the config (exit 3 naming the class, this
   interpreter and the import error);
3. builds the config with ``LightningCLI`` itself (``predict`` subcommand), so an
   unknown or ill-typed key is refused exactly as LightningCLI refuses it
   (exit 4); the case numerics are passed as the same command-line overrides
   LightningCLI accepts; every writer callback's ``output_path`` is redirected
   to the private path the caller chose;
4. INFER-01: loads the checkpoint's ``state_dict`` with ``weights_only=True``
   and compares it key by key and shape by shape with the instantiated
   module, then runs one forward pass on an input of the case's shape;
5. runs ``trainer.predict`` with a callback that records, per batch, digests
   of the ``anchor`` the model receives, of its outputs and of the row keys,
   and streams progress in cells; a crash is reported with its traceback tail
   (exit 5).

Events are single lines ``@@repro-golden@@ {json}`` on stdout, written by global
rank 0 only. Digests are BLAKE2b-128 of canonical bytes (``dtype:shape|``
header, then the C-ordered little-endian buffer), so the builtin pipeline,
which imports :func:`tensor_digest` and :func:`rows_digest` from this file,
records comparable values.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import platform
import re
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


def emit(event: str, **fields: Any) -> None:
    """One event line on stdout (global rank 0 only; whole lines, from any thread)."""
    if _rank() != 0:
        return
    line = MARKER + json.dumps({"event": event, **fields}, default=str) + "\n"
    with _EMIT_LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()


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
    """A Lightning callback recording :func:`batch_stage_record` and streaming cell counts."""
    from lightning.pytorch import Callback

    class StageDigests(Callback):
        def __init__(self) -> None:
            self.records: list[dict[str, Any]] = []
            self.cells = 0
            self.environment: dict[str, Any] | None = None

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
            self.cells += int(size or 0) * trainer.world_size
            emit("progress", cells=self.cells, total=total)

        def gathered(self, trainer: Any) -> list[dict[str, Any]]:
            import torch

            if trainer.world_size > 1 and torch.distributed.is_initialized():
                packs: list[Any] = [None] * trainer.world_size
                torch.distributed.all_gather_object(packs, self.records)
                records = [r for pack in packs for r in pack]
                return sorted(records, key=lambda r: (r["batch"], r["rank"]))
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
    if device_type == "cuda" and torch.cuda.is_available():
        index = getattr(device, "index", None) or 0
        name = torch.cuda.get_device_name(index)
        capability = "{}.{}".format(*torch.cuda.get_device_capability(index))
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
    }


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


def infer01(module: Any, checkpoint: str | None, config: Mapping[str, Any]) -> dict[str, Any]:
    """Strict, weights-only load of ``checkpoint`` into ``module``, then one forward pass."""
    import torch

    result: dict[str, Any] = {"checkpoint": checkpoint, "module": type(module).__qualname__}
    problems: list[str] = []
    if checkpoint is None:
        problems.append("no ckpt_path in the config: nothing to load")
    else:
        try:
            payload = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:
            problems.append(f"torch.load(weights_only=True) failed: {type(exc).__name__}: {exc}")
            payload = None
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
    if numerics.get("deterministic"):
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def main(argv: Sequence[str] | None = None) -> int:
    """``runner.py SPEC.json``: see the module docstring; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    spec = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    config_path = str(spec["config"])
    emit("start", python=sys.executable, pid=os.getpid(), versions=_versions())
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
                error=f"{type(exc).__name__}: {exc}",
            )
            return EXIT_IMPORT
    _numerics(spec)
    import yaml

    raw = yaml.safe_load(Path(config_path).read_text(encoding="utf-8")) or {}
    paths = [path for _, path in class_paths(raw)]
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
                error=f"{type(exc).__name__}: {exc}",
            )
            return EXIT_IMPORT

    def collect() -> None:
        code: dict[str, Any]
        try:
            code = code_provenance(paths)
        except Exception as exc:  # provenance must never decide the verdict
            code = {"error": f"{type(exc).__name__}: {exc}"}
        emit("code", classes=code)

    # Metadata scans and git calls overlap with building and running the pipeline.
    provenance = threading.Thread(target=collect, name="code-provenance", daemon=True)
    provenance.start()
    try:
        return _predict(spec, config_path, raw)
    finally:
        provenance.join()


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


def _predict(spec: Mapping[str, Any], config_path: str, raw: Mapping[str, Any]) -> int:
    from lightning.pytorch.cli import LightningCLI

    holder: dict[str, Any] = {}
    output = spec.get("writer_output")

    class PipelineCLI(LightningCLI):
        def before_instantiate_classes(self) -> None:
            if output is not None:
                trainer = self.config[self.subcommand]["trainer"]
                holder["redirected"] = _redirect_writers(trainer.get("callbacks"), str(output))

        def before_predict(self) -> None:
            holder["cli"] = self
            raise _StopBeforeRunError

    sys.argv = sys.argv[:1]  # LightningCLI reads only ``args``; the spec path is ours
    try:
        PipelineCLI(
            args=["predict", "--config", config_path, *_overrides(spec)],
            save_config_callback=None,
            trainer_defaults={"logger": False},
            parser_kwargs={"exit_on_error": False, "predict": {"exit_on_error": False}},
        )
    except _StopBeforeRunError:
        pass
    except SystemExit as exc:
        emit("config_error", error=f"LightningCLI refused the config (exit {exc.code})")
        return EXIT_CONFIG
    except Exception as exc:
        name = type(exc).__name__
        if name in ("ArgumentError", "NSKeyError") or "jsonargparse" in type(exc).__module__:
            emit("config_error", error=f"{name}: {exc}")
            return EXIT_CONFIG
        emit(
            "failed",
            phase="instantiate",
            exception=name,
            message=str(exc),
            traceback=traceback_tail(exc),
        )
        return EXIT_PIPELINE
    cli = holder["cli"]
    if output is not None and not holder.get("redirected"):
        emit("config_error", error="no trainer callback with an output_path (the writer)")
        return EXIT_CONFIG
    kwargs = cli._prepare_subcommand_kwargs("predict")
    checkpoint = kwargs.get("ckpt_path")
    config = cli.config["predict"].as_dict() if hasattr(cli.config["predict"], "as_dict") else raw
    try:
        emit("infer01", **infer01(cli.model, checkpoint, config))
    except Exception as exc:
        emit("infer01", status="fail", problems=[f"{type(exc).__name__}: {exc}"])
    datamodule = cli.datamodule
    total = _total_cells(datamodule)
    stages = _stage_callback(total, _batch_size(config))
    cli.trainer.callbacks.append(stages)
    if "weights_only" in _parameters(cli.trainer.predict):
        kwargs.setdefault("weights_only", True)
    start = time.perf_counter()
    try:
        cli.trainer.predict(**kwargs)
    except BaseException as exc:
        emit(
            "failed",
            phase="predict",
            exception=type(exc).__name__,
            message=str(exc),
            traceback=traceback_tail(exc),
        )
        return EXIT_PIPELINE
    seconds = time.perf_counter() - start
    records = stages.gathered(cli.trainer)
    if cli.trainer.is_global_zero:
        emit(
            "done",
            cells=stages.cells,
            seconds=seconds,
            stages=records,
            writers=holder.get("redirected", []),
            world_size=cli.trainer.world_size,
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
