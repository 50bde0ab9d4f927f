"""Write golden files for a store: tolerance recorded, ``identical`` for its own environment.

``identical`` is a strong promise (any digest change then fails). A plain write
records it for the store's own environment when that environment is deterministic
by configuration (CPU; CUDA with cuDNN deterministic and benchmark off), marked
*assumed*, so the default path is strict where the bits reproduce. It is *verified*
when two runs made there matched bit for bit: the store being written and a second
store (``verify_with``, a different run: not the same path nor the same run id)
must have equal dataset digests and record the same, fully known environment
fingerprint. Expectations already in the directory are kept when the golden values
are unchanged (same dataset digest) and dropped otherwise: they described other
values; an assumption never replaces one established by runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden.expectations import (
    Expectation,
    ExpectationKind,
    assumed_identical,
    merged,
)
from repro_golden.core.golden.store import GoldenStore
from repro_golden.core.golden.summarize import summarize
from repro_golden.core.golden.types import DEFAULT_FULL_COPY_LIMIT, Golden
from repro_golden.core.provenance import case_tolerance
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
from repro_golden.errors import GoldenFileError, InputError, ProvenanceError


def _case_tolerance(golden: Golden, case: Mapping[str, Any] | None) -> ArrayTolerances | None:
    """The case tolerance to record; an unusable one is left to the check, which reports it
    with the key it was recorded under (:func:`repro_golden.core.check.recorded_tolerance`)."""
    embeddings = golden.provenance.get("embeddings") or {}
    for key, config in (("case", case), ("provenance.embeddings.case", embeddings.get("case"))):
        try:
            found = case_tolerance(config, path=None, key=key)
        except ProvenanceError:
            return None
        if found is not None:
            return found
    return None


def _run_id(store: str | Path) -> str | None:
    return EmbeddingsStore(store).parsed_provenance().run_id


def refuse_same_run(first: str | Path, second: str | Path) -> None:
    """:class:`InputError` when ``second`` is not a second run: the same store (path) or a
    copy of the same write (same run id). One run proves nothing about reproduction."""
    same_path = Path(first).resolve() == Path(second).resolve()
    run_id = _run_id(first)
    same_run = not same_path and run_id is not None and run_id == _run_id(second)
    if same_path or same_run:
        why = "the same store" if same_path else f"a copy of the same run (run id {run_id})"
        raise InputError(
            f"--verify-with names {why}: `identical` needs a second, independent run here",
            path=second,
            key="--verify-with",
        )


def verified_identical(golden: Golden, second: Golden, *, source: str | Path) -> Expectation:
    """The ``identical`` expectation two bit-identical runs prove; :class:`InputError` if not."""
    if second.dataset_digest != golden.dataset_digest:
        raise InputError(
            f"the second run's dataset digest {second.dataset_digest} differs from "
            f"{golden.dataset_digest}: results do not reproduce bit for bit, so `identical` "
            "cannot be recorded (calibrate a tolerance instead)",
            path=source,
        )
    env = golden.environment
    if env is None or not env.is_known or second.environment != env:
        raise InputError(
            "both stores must record the same known environment fingerprint to verify "
            "`identical` (predict them with this version of repro-golden)",
            path=source,
            key="uns.repro_golden.environment",
        )
    return Expectation(
        env,
        ExpectationKind.IDENTICAL,
        evidence=f"two runs matched bit for bit (dataset digest {golden.dataset_digest})",
    )


def write_golden_files(
    embeddings: str | Path,
    out_dir: str | Path,
    *,
    case: str | Mapping[str, Any] | None = None,
    tolerance: ToleranceSpec | ArrayTolerances | None = None,
    full_copy_limit: int = DEFAULT_FULL_COPY_LIMIT,
    verify_with: str | Path | None = None,
    expectations: Iterable[Expectation] = (),
) -> Path:
    """Summarize ``embeddings`` and write ``out_dir``; returns ``golden.json`` (see module)."""
    name = case if isinstance(case, str) or case is None else str(case.get("name", ""))
    golden = summarize(
        EmbeddingsStore(embeddings), case=name or None, full_copy_limit=full_copy_limit
    )
    mapping = case if isinstance(case, Mapping) else None
    if mapping is not None:
        golden.provenance["case_config"] = dict(mapping)
    recorded = (
        ArrayTolerances.coerce(tolerance)
        if tolerance is not None
        else _case_tolerance(golden, mapping)
    )
    store = GoldenStore(out_dir)
    kept: tuple[Expectation, ...] = ()
    if store.manifest.is_file():
        try:
            previous = store.read()
        except GoldenFileError:
            previous = None
        if previous is not None and previous.dataset_digest == golden.dataset_digest:
            kept = previous.expectations
    new = list(expectations)
    assumed = assumed_identical(golden.environment)
    if assumed is not None:
        new.insert(0, assumed)
    if verify_with is not None:
        second = summarize(EmbeddingsStore(verify_with), full_copy_limit=0)
        refuse_same_run(embeddings, verify_with)
        new.append(verified_identical(golden, second, source=verify_with))
    golden = dataclasses.replace(golden, tolerance=recorded, expectations=merged(kept, new))
    return store.write(golden)
