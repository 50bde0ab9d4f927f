"""Steps 4 to 6: LightningCLI builds the config, INFER-01, then ``trainer.predict``.

The config is built by ``LightningCLI`` itself (``predict`` subcommand), so an
unknown or ill-typed key is refused exactly as LightningCLI refuses it; the
case numerics arrive as the command-line overrides LightningCLI accepts; the
checkpoint's ``hyper_parameters`` may not switch a class the config names; the
writers' ``output_path`` is redirected to the caller's private path. A crash is
reported with its traceback tail, with ``storage`` (errno) when a filesystem
fault is behind it and ``missing_module`` for a ``ModuleNotFoundError``.
"""

from __future__ import annotations

import errno
import json
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from .classes import namespace_classes, qualified
from .events import emit, one_line, traceback_tail
from .infer01 import infer01
from .protocol import EXIT_CHECKPOINT, EXIT_CONFIG, EXIT_INFER01, EXIT_PIPELINE
from .provenance import code_provenance
from .stages import config_batch_size, stage_callback, write_predicted_rows
from .stop import StoppedError


class _RefusedError(Exception):
    """A checkpoint whose ``hyper_parameters`` would switch a class the config names, or
    that LightningCLI cannot apply to the config's model."""


class _StopBeforeRunError(Exception):
    """Raised in ``before_predict``: LightningCLI has built everything; this runner predicts."""


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


def instantiate_and_predict(
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
            before = namespace_classes(self.config[subcommand]) if subcommand else {}
            try:
                super()._parse_ckpt_path()
            except (Exception, SystemExit) as exc:  # jsonargparse exits on what it refuses
                keys = sorted(str(k) for k in hyper or ())
                raise _RefusedError(
                    f"LightningCLI cannot apply its hyper_parameters {keys} to the config's "
                    f"model: {one_line(str(exc)) or type(exc).__name__}"
                ) from exc
            after = namespace_classes(self.config[subcommand]) if subcommand else {}
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
            holder["classes"] = namespace_classes(self.config[self.subcommand])

        def before_predict(self) -> None:
            holder["cli"] = self
            raise _StopBeforeRunError

    # LightningCLI parses ``args`` only; sys.argv stays ``__main__.py SPEC.json`` so that
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
    except StoppedError:
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
        "model": qualified(cli.model),
        "datamodule": None if cli.datamodule is None else qualified(cli.datamodule),
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
    except StoppedError:
        raise
    except Exception as exc:
        verdict = {"status": "fail", "problems": [f"{type(exc).__name__}: {exc}"]}
    emit("infer01", **verdict)
    if verdict.get("status") != "pass":  # the listing is the verdict: nothing is predicted
        return EXIT_INFER01
    datamodule = cli.datamodule
    total = _total_cells(datamodule)
    stages = stage_callback(total, config_batch_size(config))
    cli.trainer.callbacks.append(stages)
    if "weights_only" in _parameters(cli.trainer.predict):
        kwargs.setdefault("weights_only", True)
    start = time.perf_counter()
    try:
        cli.trainer.predict(**kwargs)
    except StoppedError:
        raise
    except BaseException as exc:
        _failed("predict", exc, spec)
        return EXIT_PIPELINE
    seconds = time.perf_counter() - start
    records = stages.gathered(cli.trainer)
    if cli.trainer.is_global_zero:
        write_predicted_rows(spec.get("private"), stages.ranks)
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
