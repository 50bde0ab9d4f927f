"""A case file is a test: pytest collects it into the items ``infer01``, ``infer02``, ``infer03``.

This is pytest's documented way to collect non-Python test files (a
``pytest_collect_file`` hook returning a :class:`pytest.File` whose
``collect`` yields :class:`pytest.Item`): a YAML file under one of the ini
``golden_case_paths`` whose text declares ``schema: repro-golden/case/1``
becomes ``<file>::infer01`` and so on. Nothing is collected unless that ini
setting names a path, and other YAML files there (a predict config) are left
alone.

- ``infer01``: the checkpoint loads strictly into the model (no missing,
  unexpected or shape-mismatched key, each listed otherwise) and one forward
  pass gives the configured widths. The builtin checks here; the lightning
  pipeline checks in the lab's interpreter before ``trainer.predict`` and this
  item reads its verdict.
- ``infer02``: the prediction is written, with one row per cell the plate and
  tracks define and the configured widths, float32, and the index columns.
- ``infer03``: the golden files (``<golden root>/<case>``), and the full
  reference and the golden files beside it where the case names one, are
  judged by the golden check; the row order is part of it.

The prediction runs once per case per session (:mod:`repro_golden.plugin.prediction_cache`),
shared across xdist workers. Skips name each missing path, unset variable and
absent CUDA device (:mod:`repro_golden.plugin.prepared`). ``--golden-device gpu``,
``--force-regen`` and ``--regen-all`` act as on the fixtures.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from repro_golden.plugin.prepared import PreparedCase, prepare_case

_SCHEMA_LINE = re.compile(r"^schema:\s*[\"']?repro-golden/case/1[\"']?\s*(#.*)?$", re.M)
#: Index columns every embeddings store carries (docs/ARCHITECTURE.md, the store contract).
INDEX_COLUMNS = ("fov_name", "track_id", "t", "id", "parent_track_id", "parent_id")


def is_case_file(path: Path) -> bool:
    """Whether ``path`` is a YAML file declaring the case schema (read as text, not parsed)."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            head = handle.read(65536)
    except (OSError, UnicodeDecodeError):
        return False
    return _SCHEMA_LINE.search(head) is not None


class CaseFailedError(Exception):
    """A verdict of INFER-01/02/03: shown as its text, without a Python traceback."""


class CaseFile(pytest.File):
    """One case file; its items are the lab's three checks."""

    def collect(self) -> Iterator[pytest.Item]:
        for name in CHECKS:
            yield CaseItem.from_parent(self, name=name)


class CaseItem(pytest.Item):
    """``infer01``, ``infer02`` or ``infer03`` of one case file."""

    #: pytest-regressions reads ``request.node.cls`` (None: not a method of a class).
    cls = None

    def setup(self) -> None:
        self.prepared = prepare_case(self.config, self.path)

    def runtest(self) -> None:
        CHECKS[self.name](self)

    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | Any:
        if isinstance(excinfo.value, CaseFailedError | AssertionError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"{self.path.name}::{self.name}"

    def prediction(self) -> Any:
        """This session's prediction of the case (once, for all items and workers)."""
        from repro_golden.plugin.prediction_cache import predict_once

        return predict_once(self.config, self.prepared)


# INFER-01 ---------------------------------------------------------------------------------------


def _infer01(item: CaseItem) -> None:
    prepared = item.prepared
    if prepared.case.lightning is not None:
        prediction = item.prediction()
        if prediction.failure is not None and prediction.infer01 is None:
            raise CaseFailedError(
                "INFER-01 not reached: the pipeline failed before its strict load\n"
                + prediction.failure
            )
        if prediction.infer01 is None:
            raise CaseFailedError("the lightning pipeline reported no INFER-01")
        text = prediction.failure or prediction.infer01_text or ""
        if prediction.infer01.get("status") != "pass":
            raise CaseFailedError(text)
        widths = tuple(prediction.infer01.get("widths") or ())
        model = prepared.case.model
        if widths[:2] != (model.embedding_dim, model.projection_dim):
            raise CaseFailedError(
                f"INFER-01 FAIL: forward widths {widths[:2]}, the config says "
                f"({model.embedding_dim}, {model.projection_dim})\n{text}"
            )
        return
    builtin_infer01(prepared)


def builtin_infer01(prepared: PreparedCase) -> None:
    """Strict load of the checkpoint into the builtin model and one forward pass, on CPU."""
    import torch

    from repro_golden.errors import CheckpointError
    from repro_golden.inference.model.checkpoint import load_checkpoint
    from repro_golden.inference.model.encoder import ContrastiveEncoder
    from repro_golden.inference.model.module import ContrastiveModule

    case = prepared.case
    config = case.model
    module = ContrastiveModule(ContrastiveEncoder.from_config(config))
    try:
        loaded = load_checkpoint(module, case.checkpoint, strict=True)
    except CheckpointError as exc:
        raise CaseFailedError(f"INFER-01 FAIL: {exc}") from None
    if loaded.num_tensors != len(module.state_dict()):
        raise CaseFailedError(
            f"INFER-01 FAIL: {loaded.num_tensors} tensors loaded, the model has "
            f"{len(module.state_dict())}"
        )
    height, width = case.data.final_yx_patch_size
    shape = (1, config.in_channels, config.in_stack_depth, height, width)
    generator = torch.Generator().manual_seed(0)
    module.eval()
    with torch.inference_mode():
        features, projections = module(torch.randn(shape, generator=generator))
    got = (tuple(features.shape), tuple(projections.shape))
    want = ((1, config.embedding_dim), (1, config.projection_dim))
    if got != want:
        raise CaseFailedError(f"INFER-01 FAIL: forward of {shape} gave {got}, expected {want}")
    if features.dtype != torch.float32 or projections.dtype != torch.float32:
        raise CaseFailedError(
            f"INFER-01 FAIL: forward dtypes {features.dtype}, {projections.dtype}; expected float32"
        )
    if not (bool(torch.isfinite(features).all()) and bool(torch.isfinite(projections).all())):
        raise CaseFailedError(f"INFER-01 FAIL: forward of {shape} gave non-finite values")


# INFER-02 ---------------------------------------------------------------------------------------


def read_store(path: Path) -> Any:
    """The AnnData of an embeddings store (the lab's writer repeats its obs index per batch)."""
    import warnings

    import anndata as ad

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Observation names are not unique")
        return ad.read_zarr(path)


def expected_rows(prepared: PreparedCase) -> int:
    """Rows the plate and tracks define for the case's data settings (torch-free)."""
    from repro_golden.inference.data.index import build_index
    from repro_golden.inference.data.plate import open_plate

    data = prepared.case.data
    fovs = open_plate(
        data.data_path,
        include_wells=data.include_wells,
        exclude_fov_names=data.exclude_fov_names,
    )
    return len(build_index(fovs, data))


def _succeeded(item: CaseItem) -> Any:
    prediction = item.prediction()
    if prediction.failed_at_infer01:
        raise CaseFailedError(
            f"{item.name.upper().replace('INFER', 'INFER-')} not reached: the run stopped at "
            f"INFER-01, before anything was predicted\n{prediction.failure}"
        )
    if prediction.failure is not None:
        raise CaseFailedError(prediction.failure)
    return prediction


def _infer02(item: CaseItem) -> None:
    import numpy as np

    prediction = _succeeded(item)
    adata = read_store(prediction.path)
    model = item.prepared.case.model
    problems: list[str] = []
    rows = adata.n_obs
    want_rows = expected_rows(item.prepared)
    if rows != want_rows:
        problems.append(f"{rows} rows predicted; the plate and tracks define {want_rows}")
    shapes = {
        "X": (adata.X.shape, (rows, model.embedding_dim)),
        "obsm['X_projections']": (
            adata.obsm["X_projections"].shape if "X_projections" in adata.obsm else None,
            (rows, model.projection_dim),
        ),
    }
    for name, (got, want) in shapes.items():
        if got != want:
            problems.append(f"{name} has shape {got}, expected {want}")
        elif name == "X" and adata.X.dtype != np.float32:
            problems.append(f"X is {adata.X.dtype}, expected float32")
    missing = [c for c in INDEX_COLUMNS if c not in adata.obs.columns]
    if missing:
        problems.append(f"obs lacks {missing}")
    elif adata.obs["fov_name"].astype(str).str.startswith("/").any():
        problems.append("obs['fov_name'] has names with a leading '/'")
    if problems:
        raise CaseFailedError(
            f"INFER-02 FAIL: {prediction.path}\n" + "\n".join(f"  {p}" for p in problems)
        )


# INFER-03 ---------------------------------------------------------------------------------------


@dataclass
class _ItemRequest:
    """What the regression fixtures read of a ``FixtureRequest``: the node and its config."""

    node: CaseItem

    @property
    def config(self) -> pytest.Config:
        return self.node.config


def _fixture_args(item: CaseItem) -> dict[str, Any]:
    from repro_golden.plugin.session_state import golden_settings_of

    settings = golden_settings_of(item.config)
    factory = item.config._tmp_path_factory  # type: ignore[attr-defined]  # pytest's own
    work = factory.mktemp(f"{item.prepared.name}-{item.name}")
    return {
        "datadir": None,  # every check names its expected path: the data dir is never read
        "original_datadir": item.path.parent,
        "request": _ItemRequest(item),
        "report_dir": settings.report_dir if settings.report_dir is not None else work,
        "work_dir": work,
        "max_rows": settings.max_rows,
    }


def order_mismatch(obtained: Path, reference: Path) -> str | None:
    """Where ``obs['fov_name']``/``obs['id']`` leave the reference's order, or None."""
    import numpy as np

    got_obs, want_obs = read_store(obtained).obs, read_store(reference).obs
    if len(got_obs) != len(want_obs):
        return f"{len(got_obs)} rows, the reference has {len(want_obs)}"
    for column in ("fov_name", "id"):
        # VisCy writes fov_name with or without a leading slash; the name is what counts.
        got = got_obs[column].astype(str).str.lstrip("/").to_numpy()
        want = want_obs[column].astype(str).str.lstrip("/").to_numpy()
        differ = np.flatnonzero(got != want)
        if differ.size:
            first = int(differ[0])
            return (
                f"obs[{column!r}] differs from the reference at {differ.size} rows, first at row "
                f"{first}: {got[first]!r} != {want[first]!r}"
            )
    return None


def _infer03(item: CaseItem) -> None:
    from repro_golden.plugin.fixtures import EmbeddingRegressionFixture, GoldenRegressionFixture
    from repro_golden.plugin.session_state import golden_settings_of

    prediction = _succeeded(item)
    prepared = item.prepared
    case = prepared.case
    settings = golden_settings_of(item.config)
    golden = GoldenRegressionFixture(
        **_fixture_args(item), golden_strict=settings.strict, case_name=case.name
    )
    checks: list[tuple[str, Callable[[], None]]] = [
        (
            f"golden files {prepared.golden_dir}",
            lambda: golden.check(
                prediction.path,
                golden_dir=prepared.golden_dir,
                tolerance=case.tolerance,
                reference=case.reference,
                case=case,
            ),
        )
    ]
    if case.reference is not None:
        reference = Path(case.reference)
        beside = Path(case.golden) if case.golden is not None else reference.with_suffix(".golden")
        full = EmbeddingRegressionFixture(**_fixture_args(item))

        def order() -> None:
            problem = order_mismatch(prediction.path, reference)
            if problem is not None:
                raise AssertionError(f"rows are not in the reference's order: {problem}")

        checks += [
            (
                f"full reference {reference}",
                lambda: full.check(prediction.path, reference=reference, tolerance=case.tolerance),
            ),
            (
                f"golden files beside the reference {beside}",
                lambda: golden.check(
                    prediction.path,
                    golden_dir=beside,
                    tolerance=case.tolerance,
                    reference=reference,
                    case=case,
                ),
            ),
            (f"row order of the reference {reference}", order),
        ]
    failures: list[str] = []
    for what, check in checks:
        try:
            check()
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(f"INFER-03 FAIL ({what}):\n{exc}")
    if failures:
        raise CaseFailedError("\n\n".join(failures))


CHECKS: dict[str, Callable[[CaseItem], None]] = {
    "infer01": _infer01,
    "infer02": _infer02,
    "infer03": _infer03,
}
