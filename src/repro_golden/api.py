"""The golden-core facade: write golden files, check against them, compare two stores.

Torch-free: importing this module loads numpy, zarr and xxhash only. The flows
live in :mod:`repro_golden.core` (:mod:`~repro_golden.core.golden.write`,
:mod:`~repro_golden.core.check`); this module only picks their defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_golden.core.check import check_store, recorded_tolerance
from repro_golden.core.compare import CompareMode, compare_stores
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden.types import DEFAULT_FULL_COPY_LIMIT
from repro_golden.core.golden.write import write_golden_files
from repro_golden.core.report import ComparisonReport
from repro_golden.core.stages import divergence_note
from repro_golden.core.tolerance import ArrayTolerances, ToleranceOverride, ToleranceSpec

__all__ = [
    "ArrayTolerances",
    "ComparisonReport",
    "ToleranceOverride",
    "ToleranceSpec",
    "check_golden",
    "compare_embeddings",
    "recorded_tolerance",
    "write_golden",
]


def write_golden(
    embeddings: str | Path,
    out_dir: str | Path,
    *,
    case: str | Mapping[str, Any] | None = None,
    tolerance: ToleranceSpec | ArrayTolerances | None = None,
    full_copy_limit: int = DEFAULT_FULL_COPY_LIMIT,
    verify_with: str | Path | None = None,
) -> Path:
    """Write golden files for ``embeddings`` into ``out_dir``; returns ``golden.json``.

    ``case`` is a case name or a case-config mapping (with ``name``); it is recorded
    in the manifest and provenance. ``tolerance`` is recorded as the golden set's
    own (default: the case's). Arrays are stored whole when their compressed copy
    is at most ``full_copy_limit`` bytes (0: never). ``verify_with``, a second
    store of the same case and environment, records ``identical`` for that
    environment if it matches bit for bit. ``inputs.json`` in ``out_dir`` is left alone.
    """
    return write_golden_files(
        embeddings,
        out_dir,
        case=case,
        tolerance=tolerance,
        full_copy_limit=full_copy_limit,
        verify_with=verify_with,
    )


def check_golden(
    embeddings: str | Path,
    golden_dir: str | Path,
    *,
    tolerance: ToleranceSpec | ArrayTolerances | ToleranceOverride | None = None,
    reference: str | Path | None = None,
    case: str | None = None,
    strict: bool = False,
    allow_input_changes: bool = False,
    evidence: bool = True,
    precision: str | None = None,
) -> ComparisonReport:
    """Check ``embeddings`` against golden files (see :func:`repro_golden.core.check.check_store`).

    ``case``, when known, must be the case the golden files were written for.
    ``tolerance=None`` means the expectation recorded for the obtained store's
    environment, else the golden set's recorded tolerance (the case's), else exact;
    a :class:`ToleranceOverride` replaces only the fields it gives.
    ``strict`` fails checks that only summaries could judge ("consistent").
    Never imports torch: a store that records no environment is judged by what the
    golden set records, with no assumption about where it came from.
    """
    return check_store(
        embeddings,
        golden_dir,
        tolerance=tolerance,
        reference=reference,
        case=case,
        strict=strict,
        allow_input_changes=allow_input_changes,
        evidence=evidence,
        precision=precision,
    )


def _store_tolerance(store: EmbeddingsStore) -> ArrayTolerances | None:
    """The case tolerance ``store``'s prediction recorded (the one reader, in
    :mod:`repro_golden.core.provenance`)."""
    return store.parsed_provenance().case_tolerance()


def compare_embeddings(
    obtained: str | Path,
    reference: str | Path,
    *,
    tolerance: ToleranceSpec | ArrayTolerances | ToleranceOverride | None = None,
) -> ComparisonReport:
    """Full-tensor comparison of two embeddings stores, streaming FOV by FOV.

    ``tolerance=None`` means the case tolerance the reference's prediction recorded
    (``uns["repro_golden"]["case"]["tolerance"]``), as ``check`` applies it, else
    exact (a store made by another tool records none).
    """
    obtained_store, ref = EmbeddingsStore(obtained), EmbeddingsStore(reference)
    if isinstance(tolerance, ToleranceOverride):
        tolerances = tolerance.onto(_store_tolerance(ref) or ArrayTolerances())
    else:
        tolerances = ArrayTolerances.coerce(
            tolerance if tolerance is not None else _store_tolerance(ref)
        )
    outcomes = tuple(compare_stores(obtained_store, ref, tolerances))
    stage_note = divergence_note(obtained_store.provenance(), ref.provenance())
    return ComparisonReport(
        outcomes=outcomes,
        tolerance=tolerances.default,
        obtained=str(obtained),
        reference=str(reference),
        mode=CompareMode.FULL_TENSORS,
        extra={"tolerance": tolerances.to_dict()},
        notes=((stage_note,) if stage_note else ()) + obtained_store.notes + ref.notes,
    )
