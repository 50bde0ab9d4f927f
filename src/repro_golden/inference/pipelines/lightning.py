"""The ``lightning`` pipeline: the lab's LightningCLI config, its classes, its interpreter.

:mod:`~repro_golden.inference.pipelines.runner` runs in the interpreter the
case names (a subprocess, even when it is this one, so the lab's imports and
global state never mix with ours). This side writes the runner's spec, streams
its progress, turns its exit into a verdict, and publishes the output:

- exit 0: the writer's store (at a private path beside the output) gets this
  library's provenance (numerics, code under test, INFER-01, stage digests,
  environment of the runner) and is renamed into place atomically;
- an import failure or a config LightningCLI refuses: :class:`InputError` (exit 2);
- any other failure of the pipeline under test: :class:`PipelineFailedError`
  carrying its exception and traceback tail (a failed INFER-02, exit 1).
"""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from repro_golden.config.case import Case, LightningSpec
from repro_golden.core.atomic import refuse_existing, replace_directory
from repro_golden.core.stages import DIGEST_ALGORITHM, STAGES_SCHEMA
from repro_golden.errors import ConfigError
from repro_golden.inference.pipelines import runner
from repro_golden.inference.pipelines.base import (
    Infer01Outcome,
    PipelineFailedError,
    PipelineFailure,
    PipelineImportError,
)
from repro_golden.inference.store_provenance import attach_provenance

RUNNER = Path(runner.__file__).resolve()
_STDERR_TAIL = 60
_CIRCULAR_HINT = (
    "; this is a circular import in the code under test: its own entry point may import "
    "modules first (VisCy 0.4.1: viscy.cli); name them with `preimport:` in the case "
    "(CLI: --preimport MODULE)"
)


@dataclass
class RunnerEvents:
    """What the runner reported, by kind (the last of each kind wins)."""

    by_kind: dict[str, dict[str, Any]] = field(default_factory=dict)
    stderr_tail: collections.deque[str] = field(
        default_factory=lambda: collections.deque(maxlen=_STDERR_TAIL)
    )

    def get(self, kind: str) -> dict[str, Any] | None:
        """The last event of ``kind``."""
        return self.by_kind.get(kind)


def expanded_config(config: Path, private: Path) -> Path:
    """The config LightningCLI reads: ``config`` itself, or a copy in ``private`` with
    ``${VAR}`` / ``${VAR:-default}`` expanded as in case files (cluster paths from the
    environment; an unset variable without default is a :class:`ConfigError`)."""
    from repro_golden.config.data import expand_env

    text = config.read_text(encoding="utf-8")
    if "${" not in text:
        return config
    target = private / f"expanded-{config.name}"
    target.write_text(expand_env(text, source=config, key="config"), encoding="utf-8")
    return target


def _spec(
    case: Case,
    spec: LightningSpec,
    *,
    config: Path,
    writer_output: Path,
    device: str | None,
    batch_size: int | None,
    ckpt: Path | None,
) -> dict[str, Any]:
    numerics = case.numerics
    overrides: dict[str, Any] = {
        "seed_everything": numerics.seed,
        "trainer.precision": numerics.precision,
        "trainer.inference_mode": numerics.inference_mode,
        "trainer.deterministic": numerics.deterministic,
        "trainer.benchmark": numerics.cudnn_benchmark,
    }
    if device is not None:
        overrides["trainer.accelerator"] = device
    if batch_size is not None:
        overrides["data.init_args.batch_size"] = batch_size
    if ckpt is not None:
        overrides["ckpt_path"] = str(Path(ckpt).resolve())
    return {
        "config": str(config.resolve()),
        "writer_output": str(writer_output),
        "preimport": list(spec.preimport),
        "numerics": {
            "offline": numerics.offline,
            "cpu_threads": numerics.cpu_threads,
            "matmul_precision": numerics.matmul_precision,
            "deterministic": numerics.deterministic,
        },
        "overrides": overrides,
    }


def _env(case: Case) -> dict[str, str]:
    env = dict(os.environ)
    threads = case.numerics.cpu_threads
    if threads is not None:
        env.setdefault("OMP_NUM_THREADS", str(threads))
        env.setdefault("MKL_NUM_THREADS", str(threads))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pump(stream: IO[str], sink: Callable[[str], None]) -> None:
    for line in iter(stream.readline, ""):
        sink(line)
    stream.close()


def run_runner(
    python: str,
    spec_json: Mapping[str, Any],
    *,
    cwd: Path,
    env: Mapping[str, str],
    on_event: Callable[[dict[str, Any]], None] | None = None,
    echo: IO[str] | None = None,
) -> tuple[int, RunnerEvents]:
    """Run the runner on ``spec_json``; return its exit status and events.

    Lines on its stdout that are not events, and all of its stderr, go to
    ``echo`` when given; the last lines of stderr are kept either way.
    """
    events = RunnerEvents()
    with tempfile.TemporaryDirectory(prefix="repro-golden-runner-") as tmp:
        spec_path = Path(tmp) / "spec.json"
        spec_path.write_text(json.dumps(spec_json), encoding="utf-8")
        try:
            process = subprocess.Popen(
                [python, str(RUNNER), str(spec_path)],
                cwd=cwd,
                env=dict(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot start the pipeline's interpreter: {exc.strerror or exc}",
                key="python",
                path=python,
            ) from exc

        def on_stderr(line: str) -> None:
            events.stderr_tail.append(line.rstrip("\n"))
            if echo is not None:
                echo.write(line)

        reader = threading.Thread(target=_pump, args=(process.stderr, on_stderr), daemon=True)
        reader.start()
        assert process.stdout is not None
        try:
            for line in _lines(process.stdout):
                if line.startswith(runner.MARKER):
                    event = json.loads(line[len(runner.MARKER) :])
                    events.by_kind[str(event.get("event"))] = event
                    if on_event is not None:
                        on_event(event)
                elif echo is not None:
                    echo.write(line)
            status = process.wait()
        except BaseException:  # an interrupt: stop the pipeline under test, then re-raise
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
            raise
        finally:
            process.stdout.close()
        reader.join(timeout=30)
    return status, events


def _lines(stream: IO[str]) -> Iterator[str]:
    yield from iter(stream.readline, "")


def _failure(status: int, events: RunnerEvents, python: str) -> PipelineFailure:
    failed = events.get("failed")
    tail = "\n".join(events.stderr_tail)
    if failed is not None:
        return PipelineFailure(
            phase=str(failed.get("phase")),
            exception=str(failed.get("exception")),
            message=str(failed.get("message")),
            traceback=str(failed.get("traceback")),
            python=python,
            stderr_tail=tail,
        )
    return PipelineFailure(
        phase="start-up" if events.get("start") is None else "run",
        exception=f"exit status {status}",
        message="the pipeline's interpreter ended without a verdict",
        traceback="\n".join(list(events.stderr_tail)[-20:]),
        python=python,
        stderr_tail=tail,
    )


def _raise_for(status: int, events: RunnerEvents, spec: LightningSpec, python: str) -> None:
    if status == runner.EXIT_IMPORT and (error := events.get("import_error")) is not None:
        message = str(error.get("error"))
        hint = _CIRCULAR_HINT if "partially initialized module" in message else ""
        raise PipelineImportError(
            f"class_path {error.get('class_path')!r} does not import in {python}: {message}{hint}",
            path=spec.config,
            key=str(error.get("key")),
        )
    if status == runner.EXIT_CONFIG and (error := events.get("config_error")) is not None:
        raise ConfigError(str(error.get("error")), path=spec.config)
    raise PipelineFailedError(_failure(status, events, python))


@dataclass(frozen=True)
class LightningRun:
    """A finished ``lightning`` run: output, cells, seconds, INFER-01 and what it recorded."""

    path: Path
    cells: int
    seconds: float
    infer01: Infer01Outcome | None
    provenance: Mapping[str, Any]


def run_lightning(
    case: Case,
    spec: LightningSpec,
    *,
    output: Path,
    overwrite: bool = False,
    device: str | None = None,
    batch_size: int | None = None,
    ckpt: Path | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    echo: IO[str] | None = None,
) -> LightningRun:
    """Run ``spec`` under ``case``'s numerics and publish the writer's store at ``output``."""
    refuse_existing(output, overwrite=overwrite)
    python = spec.python or sys.executable
    # What publishing needs (anndata, zarr: seconds) loads while the pipeline runs.
    threading.Thread(target=_preload_publishing, name="preload", daemon=True).start()
    output.parent.mkdir(parents=True, exist_ok=True)
    private = Path(
        tempfile.mkdtemp(prefix=f".{output.name}.", suffix=".partial", dir=output.parent)
    )
    writer_output = private / output.name
    try:

        def on_event(event: dict[str, Any]) -> None:
            if progress is not None and event.get("event") == "progress":
                progress(int(event.get("cells") or 0), event.get("total"))

        start = time.perf_counter()
        status, events = run_runner(
            python,
            _spec(
                case,
                spec,
                config=expanded_config(spec.config, private),
                writer_output=writer_output,
                device=device,
                batch_size=batch_size,
                ckpt=ckpt,
            ),
            cwd=spec.cwd,
            env=_env(case),
            on_event=on_event,
            echo=echo,
        )
        wall = time.perf_counter() - start
        done = events.get("done")
        if status != 0 or done is None:
            _raise_for(status, events, spec, python)
        assert done is not None
        if not writer_output.exists():
            raise PipelineFailedError(
                PipelineFailure(
                    phase="write",
                    exception="NoOutput",
                    message=f"the writer callback(s) {done.get('writers')} wrote nothing at "
                    f"{writer_output}",
                    traceback="",
                    python=python,
                )
            )
        infer = events.get("infer01")
        outcome = None if infer is None else Infer01Outcome.from_event(infer)
        provenance = _provenance(case, spec, python, events, writer_output, wall)
        attach_provenance(writer_output, provenance)
        replace_directory(writer_output, output)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return LightningRun(
        path=output,
        cells=int(done.get("cells") or 0),
        seconds=float(done.get("seconds") or 0.0),
        infer01=outcome,
        provenance=provenance,
    )


def _preload_publishing() -> None:
    """Import what :func:`_provenance` and :func:`attach_provenance` use (errors surface there)."""
    try:
        import anndata  # noqa: F401
        import zarr  # noqa: F401

        import repro_golden.core.embeddings  # noqa: F401
    except Exception:
        pass


def _fingerprint(fields: Any) -> Any:
    """The runner's environment, validated as an :class:`EnvironmentFingerprint` when it is one."""
    from repro_golden.core.fingerprint import EnvironmentFingerprint
    from repro_golden.errors import GoldenFileError

    if fields is None:
        return None
    try:
        return EnvironmentFingerprint.from_mapping(fields).to_dict()
    except GoldenFileError:
        return fields


def _provenance(
    case: Case, spec: LightningSpec, python: str, events: RunnerEvents, store: Path, wall: float
) -> dict[str, Any]:
    from repro_golden.core.digest import file_digest
    from repro_golden.core.stages import layout_digests

    done = events.get("done") or {}
    start = events.get("start") or {}
    infer = events.get("infer01") or {}
    checkpoint = infer.get("checkpoint")
    checkpoint_path = None if checkpoint is None else (spec.cwd / str(checkpoint))
    return {
        "schema": "repro-golden/provenance/1",
        "case_name": case.name,
        "case": case.to_dict(),
        "numerics": case.numerics.to_dict(),
        "pipeline": {
            "kind": "lightning",
            **spec.to_dict(),
            "python": python,
            "config_digest": file_digest(spec.config),
            "versions": start.get("versions"),
            "wall_seconds": wall,
        },
        "code": (events.get("code") or {}).get("classes"),
        "infer01": infer or None,
        "checkpoint": None
        if checkpoint_path is None or not checkpoint_path.is_file()
        else {"file": checkpoint_path.name, "digest": file_digest(checkpoint_path)},
        "environment": _fingerprint(done.get("environment")),
        "world_size": done.get("world_size"),
        "rows": done.get("cells"),
        "stages": {
            "schema": STAGES_SCHEMA,
            "algorithm": DIGEST_ALGORITHM,
            "batches": done.get("stages") or [],
            "layout": layout_digests(store),
        },
    }


def predict_lightning(
    case: Case,
    *,
    output: Path,
    overwrite: bool = False,
    device: str | None = None,
    batch_size: int | None = None,
    ckpt: Path | None = None,
    progress: bool = True,
) -> LightningRun:
    """:func:`run_lightning` for ``case.lightning`` with a cell-counting bar on stderr."""
    if case.lightning is None:
        raise ConfigError("not a lightning case", path=case.source, key="pipeline")
    bar: Any = None

    def on_progress(cells: int, total: int | None) -> None:
        nonlocal bar
        if not progress:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc="Predicting", unit="cells", leave=True)
        bar.update(cells - bar.n)

    try:
        return run_lightning(
            case,
            case.lightning,
            output=output,
            overwrite=overwrite,
            device=device,
            batch_size=batch_size,
            ckpt=ckpt,
            progress=on_progress,
        )
    finally:
        if bar is not None:
            bar.close()
