"""A prediction's provenance as one typed value, parsed once.

``uns["repro_golden"]`` is written by both pipelines (the builtin oracle and the
``lightning`` pipeline) and read by the check, the golden writer, calibrate and
the plugin. It is parsed here, in one place, into a frozen :class:`Provenance`;
readers use its fields instead of digging in the JSON. A value that is present
but unusable is a :class:`~repro_golden.errors.ProvenanceError` naming the file
and the key; an absent one is ``None``.

The case tolerance has exactly one reader, :func:`case_tolerance`, used for a
store's recorded case and for the case config a golden set recorded, so every
caller fails the same way on a bad one. Torch-free.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.inputs import InputsRecord
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
from repro_golden.errors import ConfigError, GoldenFileError, ProvenanceError

PROVENANCE_SCHEMA = "repro-golden/provenance/1"


def new_provenance(
    *,
    case_name: str,
    case: Mapping[str, Any],
    numerics: Mapping[str, Any],
    checkpoint: tuple[str, str] | None,
    input_record: Mapping[str, Any] | None,
    environment: Mapping[str, Any] | None,
    **pipeline_fields: Any,
) -> dict[str, Any]:
    """The provenance a prediction records, built the same way by both pipelines.

    The shared fields (schema, case, numerics, ``checkpoint`` as ``(file name, digest)``,
    the pipeline-neutral inputs record, the environment fingerprint and a fresh
    ``run_id``) come first; each pipeline adds its own (``pipeline_fields``: the
    builtin's ``accelerator``, the lightning pipeline's ``pipeline``, ``code``,
    ``infer01``, ...). :meth:`Provenance.parse` reads it back.
    """
    return {
        "schema": PROVENANCE_SCHEMA,
        "case_name": case_name,
        "case": dict(case),
        "numerics": dict(numerics),
        "checkpoint": None
        if checkpoint is None
        else {"file": checkpoint[0], "digest": checkpoint[1]},
        "input_record": None if input_record is None else dict(input_record),
        "environment": None if environment is None else dict(environment),
        "run_id": uuid.uuid4().hex,
        **pipeline_fields,
    }


def case_tolerance(config: Any, *, path: str | Path | None, key: str) -> ArrayTolerances | None:
    """The tolerance a recorded case config holds (``config["tolerance"]``), or ``None``.

    ``key`` is where ``config`` sits (``uns.repro_golden.case``); a malformed tolerance
    is a :class:`ProvenanceError` naming ``path`` and ``<key>.tolerance``.
    """
    if not isinstance(config, Mapping) or config.get("tolerance") is None:
        return None
    try:
        return ArrayTolerances(ToleranceSpec.from_mapping(config["tolerance"]))
    except ConfigError as exc:
        raise ProvenanceError(
            f"recorded tolerance is unusable: {exc.message}", path=path, key=f"{key}.tolerance"
        ) from None


@dataclass(frozen=True)
class Provenance:
    """What a prediction recorded about itself (see the module docs).

    ``raw`` is the JSON form as recorded (for renderings that show it whole);
    ``environment`` the validated fingerprint, ``None`` when not recorded;
    ``inputs`` the pipeline-neutral inputs record (empty when nothing was recorded).
    """

    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    case_name: str | None = None
    case: Mapping[str, Any] | None = None
    environment: EnvironmentFingerprint | None = None
    inputs: InputsRecord = field(default_factory=InputsRecord)
    stages: Mapping[str, Any] | None = None
    code: Mapping[str, Any] | None = None
    numerics: Mapping[str, Any] | None = None
    run_id: str | None = None
    path: str | Path | None = field(default=None, compare=False)
    key: str = field(default="uns.repro_golden", compare=False)

    @property
    def recorded(self) -> bool:
        """Whether anything was recorded at all (a store made by another tool: no)."""
        return bool(self.raw)

    def case_tolerance(self) -> ArrayTolerances | None:
        """The recorded case's tolerance, through the one reader (:func:`case_tolerance`)."""
        return case_tolerance(self.case, path=self.path, key=f"{self.key}.case")

    @classmethod
    def parse(
        cls, raw: Any, *, path: str | Path | None = None, key: str = "uns.repro_golden"
    ) -> Provenance:
        """Parse ``raw`` (the decoded ``uns["repro_golden"]``, or ``None``) once.

        A recorded environment that is not a valid fingerprint is a
        :class:`ProvenanceError` naming ``path`` and ``<key>.environment``.
        """
        if not isinstance(raw, Mapping):
            return cls(path=path, key=key)
        environment = None
        if raw.get("environment") is not None:
            try:
                environment = EnvironmentFingerprint.from_mapping(
                    raw["environment"], path=path, key=f"{key}.environment"
                )
            except GoldenFileError as exc:
                raise ProvenanceError(exc.message, path=path, key=exc.key) from None
        return cls(
            raw=dict(raw),
            case_name=_str(raw.get("case_name")),
            case=_mapping(raw.get("case")),
            environment=environment,
            inputs=InputsRecord.from_provenance(raw),
            stages=_mapping(raw.get("stages")),
            code=_mapping(raw.get("code")),
            numerics=_mapping(raw.get("numerics")),
            run_id=_str(raw.get("run_id")),
            path=path,
            key=key,
        )


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None
