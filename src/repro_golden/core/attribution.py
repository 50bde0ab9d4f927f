"""Attribution of a failing check: what differs between golden and obtained, in one sentence.

A regression is caused by the inputs (checkpoint, plate, tracks), the
environment (torch, device, threads, flags) or the code under test (library
versions and commits). :func:`attribute` diffs the provenance both sides
recorded and says which of the three moved; the report renders the diff and
the sentence, so a reader knows where to look before opening any tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.inputs import InputsComparison, InputsRecord

UNKNOWN = "unknown"


@dataclass(frozen=True)
class FieldChange:
    """One provenance field that differs (``unknown`` where a side did not record it)."""

    area: str
    field: str
    golden: str
    obtained: str

    def describe(self) -> str:
        return f"{self.area} {self.field}: {self.golden} -> {self.obtained}"

    def to_dict(self) -> dict[str, str]:
        return {
            "area": self.area,
            "field": self.field,
            "golden": self.golden,
            "obtained": self.obtained,
        }


@dataclass(frozen=True)
class Attribution:
    """Provenance diff between golden and obtained, plus a one-sentence diagnosis."""

    changes: tuple[FieldChange, ...]
    diagnosis: str
    environment_assumed: bool = False

    def areas(self) -> set[str]:
        return {c.area for c in self.changes}

    def to_dict(self) -> dict[str, Any]:
        return {
            "diagnosis": self.diagnosis,
            "environment_assumed": self.environment_assumed,
            "changes": [c.to_dict() for c in self.changes],
        }


def _text(value: Any) -> str:
    return UNKNOWN if value is None else str(value)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for key in sorted(value):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    else:
        out[prefix] = value


def _inputs(provenance: Mapping[str, Any]) -> dict[str, Any]:
    """Every recorded input (:class:`~repro_golden.core.inputs.InputsRecord`), flattened."""
    record = InputsRecord.from_provenance(provenance).to_dict()
    record.pop("schema")
    out: dict[str, Any] = {}
    _flatten("", record, out)
    return out


def _code(provenance: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("versions", "code"):
        if isinstance(provenance.get(key), Mapping):
            _flatten(key, provenance[key], out)
    pipeline = provenance.get("pipeline")
    if isinstance(pipeline, Mapping) and isinstance(pipeline.get("versions"), Mapping):
        _flatten("pipeline.versions", pipeline["versions"], out)
    return out


def _diff(
    area: str,
    golden: Mapping[str, Any],
    obtained: Mapping[str, Any],
    *,
    recorded_only: bool = False,
) -> list[FieldChange]:
    """Fields that differ; ``recorded_only`` skips those one side did not record (the
    report lists them once as not compared, instead of a line of ``unknown`` each)."""
    return [
        FieldChange(area, key, _text(golden.get(key)), _text(obtained.get(key)))
        for key in sorted(set(golden) | set(obtained))
        if golden.get(key) != obtained.get(key)
        and not (recorded_only and (golden.get(key) is None or obtained.get(key) is None))
    ]


def attribute(
    golden_provenance: Mapping[str, Any],
    obtained_provenance: Mapping[str, Any],
    *,
    golden_environment: EnvironmentFingerprint | None,
    obtained_environment: EnvironmentFingerprint | None,
    environment_assumed: bool = False,
    judged_by: str = "",
    inputs: InputsComparison | None = None,
) -> Attribution:
    """Diff the recorded inputs, environment and code; say which of them moved.

    ``golden_provenance`` / ``obtained_provenance`` are the prediction provenance
    (``uns["repro_golden"]``) of each side; ``judged_by`` names the expectation or
    tolerance the check applied, for the sentence.
    """
    changes = _diff(
        "inputs", _inputs(golden_provenance), _inputs(obtained_provenance), recorded_only=True
    )
    g_env = golden_environment or EnvironmentFingerprint.unknown()
    o_env = obtained_environment or EnvironmentFingerprint.unknown()
    if g_env.is_known and o_env.is_known:
        changes += [
            FieldChange("environment", name, _text(a), _text(b))
            for name, (a, b) in g_env.differences(o_env).items()
        ]
    elif g_env.is_known or o_env.is_known:
        side = "golden set" if not g_env.is_known else "obtained store"
        changes.append(FieldChange("environment", "recorded", "yes", f"not by the {side}"))
    changes += _diff("code", _code(golden_provenance), _code(obtained_provenance))
    areas = {c.area for c in changes}
    known = g_env.is_known and o_env.is_known
    if "inputs" in areas or (inputs is not None and inputs.inputs_changed):
        which = ", ".join(inputs.kinds) if inputs is not None and inputs.kinds else "inputs"
        diagnosis = (
            f"the inputs differ ({which}): the values are expected to change; fix the inputs, "
            "or regenerate the golden files on purpose if the change is intended"
        )
    elif not areas and known:
        diagnosis = (
            "inputs, environment and code recorded identical: the values changed without a "
            "recorded cause (a nondeterministic run, or the store was edited)"
        )
    elif areas == {"code"}:
        diagnosis = "inputs and environment identical: the code under test changed these values"
    elif "environment" in areas and known:
        first = next(c for c in changes if c.area == "environment")
        code = " and code" if "code" in areas else ""
        diagnosis = (
            f"same inputs; environment{code} changed ({first.describe()}"
            f"{', ...' if sum(c.area == 'environment' for c in changes) > 1 else ''})"
            f"{': judged by ' + judged_by if judged_by else ''}"
        )
    else:
        diagnosis = (
            "same recorded inputs; the environment of one side is unknown, so a drift of the "
            "environment cannot be told from a change of the code"
        )
    if environment_assumed:
        diagnosis += " (the obtained environment was assumed to be the checking process's)"
    return Attribution(tuple(changes), diagnosis, environment_assumed)
