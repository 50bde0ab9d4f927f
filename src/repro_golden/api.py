"""The golden-core facade: write golden files, check against them, compare two stores.

Torch-free: importing this module loads numpy, zarr and xxhash only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_golden.core.cells import name_violated_rows
from repro_golden.core.compare import compare_stores, compare_summaries
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden_store import Golden, GoldenStore, summarize
from repro_golden.core.outcomes import Status
from repro_golden.core.report import ComparisonReport
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import ConfigError, GoldenFileError

__all__ = [
    "ComparisonReport",
    "ToleranceSpec",
    "check_golden",
    "compare_embeddings",
    "write_golden",
]


def write_golden(
    embeddings: str | Path,
    out_dir: str | Path,
    *,
    case: str | Mapping[str, Any] | None = None,
) -> Path:
    """Write golden files for ``embeddings`` into ``out_dir``; returns ``golden.json``.

    ``case`` is a case name or a case-config mapping (with ``name``); it is recorded
    in the manifest and provenance. ``inputs.json`` in ``out_dir`` is left alone.
    """
    name = case if isinstance(case, str) or case is None else str(case.get("name", ""))
    golden = summarize(EmbeddingsStore(embeddings), case=name or None)
    if isinstance(case, Mapping):
        golden.provenance["case_config"] = dict(case)
    return GoldenStore(out_dir).write(golden)


def check_golden(
    embeddings: str | Path,
    golden_dir: str | Path,
    *,
    tolerance: ToleranceSpec | None = None,
    reference: str | Path | None = None,
    case: str | None = None,
) -> ComparisonReport:
    """Check ``embeddings`` against golden files (and the full ``reference`` where it differs).

    ``case``, when known, must be the case the golden files were written for
    (:class:`~repro_golden.errors.GoldenFileError` otherwise), so a golden
    directory of another case is never taken for this one's.

    Digests first; FOV/array pairs that are not identical are judged by the sound
    summary checks, or, when ``reference`` (the full reference store) is given,
    by ``allclose`` on the full tensors of those FOVs only.

    ``tolerance=None`` means the case's own tolerance as recorded with the golden
    files (the ``tolerance`` of the case config that produced them), or exact
    when none is recorded: the golden files carry the contract they were made
    under, so a bare ``repro-golden check`` applies it.
    """
    store = GoldenStore(golden_dir)
    golden = store.read(expected_case=case)
    if tolerance is None:
        tolerance = recorded_tolerance(golden, store.directory) or ToleranceSpec()
    obtained = EmbeddingsStore(embeddings)
    outcomes = compare_summaries(summarize(obtained), golden, tolerance)
    mode = "golden summaries"
    if reference is not None:
        pending: set[tuple[str | None, str | None]] = {
            (o.fov, o.array)
            for o in outcomes
            if o.fov is not None
            and o.array is not None
            and o.status in (Status.CONSISTENT, Status.VIOLATED)
        }
        full = {
            (o.fov, o.array): o
            for o in compare_stores(obtained, EmbeddingsStore(reference), tolerance, only=pending)
        }
        # Dataset-wide column outcomes (fov None) are superseded by the full comparison.
        outcomes = tuple(
            full.get((o.fov, o.array), o)
            for o in outcomes
            if not (o.fov is None and o.violation is not None and o.violation.columns)
        )
        mode = "golden summaries + full reference"
    return ComparisonReport(
        outcomes=name_violated_rows(outcomes, obtained),
        tolerance=tolerance,
        obtained=str(embeddings),
        reference=str(store.directory),
        mode=mode,
        extra={"case": golden.case, "dataset_digest": golden.dataset_digest},
        notes=obtained.notes,
    )


def recorded_tolerance(golden: Golden, directory: Path) -> ToleranceSpec | None:
    """The tolerance of the case config recorded in ``golden``'s provenance, if any.

    Looked up where the writers put it: ``provenance.case_config.tolerance``
    (the pytest fixture) or ``provenance.embeddings.case.tolerance`` (the
    prediction's own record). A malformed one is a :class:`GoldenFileError`.
    """
    candidates = (
        ("provenance.case_config.tolerance", golden.provenance.get("case_config")),
        ("provenance.embeddings.case.tolerance", _get(golden.provenance, "embeddings", "case")),
    )
    for key, config in candidates:
        if isinstance(config, Mapping) and config.get("tolerance") is not None:
            try:
                return ToleranceSpec.from_mapping(config["tolerance"])
            except ConfigError as exc:
                raise GoldenFileError(
                    f"recorded tolerance is unusable: {exc}",
                    path=directory / "golden.json",
                    key=key,
                ) from None
    return None


def _get(mapping: Mapping[str, Any], *keys: str) -> Any:
    value: Any = mapping
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def compare_embeddings(
    obtained: str | Path,
    reference: str | Path,
    *,
    tolerance: ToleranceSpec | None = None,
) -> ComparisonReport:
    """Full-tensor comparison of two embeddings stores, streaming FOV by FOV."""
    tolerance = tolerance or ToleranceSpec()
    obtained_store, reference_store = EmbeddingsStore(obtained), EmbeddingsStore(reference)
    outcomes = tuple(compare_stores(obtained_store, reference_store, tolerance))
    return ComparisonReport(
        outcomes=outcomes,
        tolerance=tolerance,
        obtained=str(obtained),
        reference=str(reference),
        mode="full tensors",
        notes=obtained_store.notes + reference_store.notes,
    )
