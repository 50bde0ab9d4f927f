"""What a prediction's outputs are a function of, besides the code under test: its inputs.

A golden verdict's first rung (docs/golden-files.md): if the checkpoint, a FOV's
pixels, normalization metadata or tracks, or a parameter that selects and shapes
the data differ from what the golden set recorded, the values are expected to
differ, and "inputs changed" is said before any numeric judgement.

The record is pipeline-neutral: the builtin oracle and the lab's LightningCLI
config of the same run record equal values (built by
:func:`repro_golden.inference.data.input_record.record_inputs` from the data
settings both share). Class paths and code versions are *code*, not inputs: they
are never compared here. Two kinds of parameters are kept apart:

* ``data`` parameters (channels, z range, patch sizes, the normalization recipe,
  the FOV and track selection) change what the model sees: a difference is an
  input change;
* ``arithmetic`` parameters (batch size, precision) change only the last bits,
  which the environment key and the tolerances already judge: a difference is
  reported, never failed as an input change.

Stores written before this record existed carry parts of it elsewhere in their
provenance (checkpoint digest, per-FOV normalization and tracks digests, the
case's data block); :meth:`InputsRecord.from_provenance` reads those, and a
field either side did not record is never compared (the report says which).
Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

INPUTS_SCHEMA = "repro-golden/inputs/1"
#: The provenance key holding the record.
PROVENANCE_KEY = "input_record"
#: Parameters that change what the model sees.
DATA_PARAMETERS = (
    "source_channel",
    "z_range",
    "z_window_size",
    "initial_yx_patch_size",
    "final_yx_patch_size",
    "normalizations",
    "selection",
)
#: Parameters that change only the arithmetic (judged by environment key and tolerance).
ARITHMETIC_PARAMETERS = ("batch_size", "precision")
#: Per-FOV inputs, in the order a report names them.
FOV_INPUTS = ("pixels", "normalization", "tracks")


@dataclass(frozen=True)
class InputsRecord:
    """The recorded inputs of one prediction; ``None`` marks what was not recorded.

    ``fovs`` maps a plate position (``row/col/fov``) to its ``pixels``,
    ``normalization`` and ``tracks`` digests; ``None`` for the whole mapping
    means no per-FOV record at all.
    """

    checkpoint: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    fovs: Mapping[str, Mapping[str, str | None]] | None = None

    @property
    def is_empty(self) -> bool:
        return self.checkpoint is None and not self.parameters and self.fovs is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": INPUTS_SCHEMA,
            "checkpoint": self.checkpoint,
            "parameters": dict(self.parameters),
            "fovs": None if self.fovs is None else {k: dict(v) for k, v in self.fovs.items()},
        }

    @classmethod
    def from_provenance(cls, provenance: Mapping[str, Any] | None) -> InputsRecord:
        """The record in a store's provenance: the neutral one, else what older writers kept."""
        if not isinstance(provenance, Mapping):
            return cls()
        recorded = provenance.get(PROVENANCE_KEY)
        if isinstance(recorded, Mapping) and recorded.get("schema") == INPUTS_SCHEMA:
            fovs = recorded.get("fovs")
            return cls(
                checkpoint=_str(recorded.get("checkpoint")),
                parameters=dict(recorded.get("parameters") or {}),
                fovs=_fovs(fovs) if isinstance(fovs, Mapping) else None,
            )
        return cls._legacy(provenance)

    @classmethod
    def _legacy(cls, provenance: Mapping[str, Any]) -> InputsRecord:
        checkpoint = provenance.get("checkpoint")
        digest = _str(checkpoint.get("digest")) if isinstance(checkpoint, Mapping) else None
        inputs = provenance.get("inputs")
        fovs = None
        if isinstance(inputs, Mapping) and inputs:
            fovs = {
                str(name): {
                    "pixels": None,
                    "normalization": _str(entry.get("normalization")),
                    "tracks": _str(entry.get("tracks")),
                }
                for name, entry in inputs.items()
                if isinstance(entry, Mapping)
            }
        case = provenance.get("case")
        data = case.get("data") if isinstance(case, Mapping) else None
        numerics = provenance.get("numerics")
        parameters: dict[str, Any] = {}
        if isinstance(data, Mapping):
            parameters = data_parameters(data, present_only=True)
            if "batch_size" in data:
                parameters["batch_size"] = data.get("batch_size")
        if isinstance(numerics, Mapping) and "precision" in numerics:
            parameters["precision"] = numerics.get("precision")
        return cls(checkpoint=digest, parameters=parameters, fovs=fovs)


def data_parameters(data: Mapping[str, Any], *, present_only: bool = False) -> dict[str, Any]:
    """The data parameters of a case's ``data`` block (its JSON form), in the neutral shape.

    ``present_only``: only the parameters ``data`` spells out (a case file as written,
    whose defaults were not recorded), so an omitted default is never read as a change.
    """
    normalizations = [
        {
            "keys": list(n.get("keys") or ()),
            "level": n.get("level"),
            "subtrahend": n.get("subtrahend", "mean"),
            "divisor": n.get("divisor", "std"),
        }
        for n in data.get("normalizations") or ()
        if isinstance(n, Mapping)
    ]
    selection_names = (
        "include_wells",
        "exclude_fov_names",
        "include_fov_names",
        "include_track_ids",
    )
    selection: dict[str, Any] = {name: _list(data.get(name)) for name in selection_names}
    selection["predict_cells"] = bool(data.get("predict_cells", False))
    parameters = {
        "source_channel": _list(data.get("source_channel")),
        "z_range": _list(data.get("z_range")),
        "z_window_size": data.get("z_window_size"),
        "initial_yx_patch_size": _list(data.get("initial_yx_patch_size")),
        "final_yx_patch_size": _list(data.get("final_yx_patch_size")),
        "normalizations": normalizations,
        "selection": selection,
    }
    if present_only:
        parameters = {k: v for k, v in parameters.items() if k in data or k == "selection"}
        parameters["selection"] = {k: v for k, v in selection.items() if k in data}
    return parameters


@dataclass(frozen=True)
class InputsComparison:
    """What differs between two records, and what could not be compared.

    ``changed`` names each input change (``checkpoint``, ``normalization (A/1/0)``,
    ``parameters: z_range`` ...), the verdict's "inputs changed: <which>";
    ``arithmetic`` the arithmetic parameters that differ (reported, not failed);
    ``unrecorded`` what one side did not record, so was not compared.
    """

    changed: tuple[str, ...] = ()
    arithmetic: tuple[str, ...] = ()
    unrecorded: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    @property
    def inputs_changed(self) -> bool:
        return bool(self.changed)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of inputs that changed (``checkpoint``, ``normalization``, ...), once each."""
        seen: dict[str, None] = {}
        for item in self.changed:
            seen.setdefault(item.split(" (")[0].split(":")[0], None)
        return tuple(seen)

    def describe(self) -> str:
        """``inputs changed: checkpoint, normalization (A/1/0, B/2/0)``."""
        return "inputs changed: " + ", ".join(self.changed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "changed": list(self.changed),
            "arithmetic": list(self.arithmetic),
            "unrecorded": list(self.unrecorded),
            "details": list(self.details),
        }


def compare_inputs(golden: InputsRecord, obtained: InputsRecord) -> InputsComparison:
    """Compare what both records hold; never fails on what one side did not record."""
    changed: list[str] = []
    details: list[str] = []
    unrecorded: list[str] = []
    if golden.checkpoint is not None and obtained.checkpoint is not None:
        if golden.checkpoint != obtained.checkpoint:
            changed.append("checkpoint")
            details.append(f"checkpoint {golden.checkpoint} -> {obtained.checkpoint}")
    elif golden.checkpoint is not None or obtained.checkpoint is not None:
        unrecorded.append("checkpoint")
    arithmetic: list[str] = []
    for name in sorted(set(golden.parameters) | set(obtained.parameters)):
        if name not in golden.parameters or name not in obtained.parameters:
            continue  # an older record spelled out only the parameters its case file wrote
        before, after = golden.parameters[name], obtained.parameters[name]
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            common = set(before) & set(after)  # an older record spelled out only some
            before = {k: before[k] for k in sorted(common)}
            after = {k: after[k] for k in sorted(common)}
        if before == after:
            continue
        if name in ARITHMETIC_PARAMETERS:
            arithmetic.append(f"{name} {before} -> {after}")
        else:
            label = "normalization" if name == "normalizations" else f"parameters: {name}"
            changed.append(label)
            details.append(f"{name} {before} -> {after}")
    if golden.fovs is not None and obtained.fovs is not None:
        _compare_fovs(golden.fovs, obtained.fovs, changed, details, unrecorded)
    elif golden.fovs is not None or obtained.fovs is not None:
        unrecorded.append("per-FOV inputs")
    return InputsComparison(
        changed=tuple(_grouped(changed)),
        arithmetic=tuple(arithmetic),
        unrecorded=tuple(dict.fromkeys(unrecorded)),
        details=tuple(details),
    )


def _compare_fovs(
    golden: Mapping[str, Mapping[str, str | None]],
    obtained: Mapping[str, Mapping[str, str | None]],
    changed: list[str],
    details: list[str],
    unrecorded: list[str],
) -> None:
    missing = [name for name in golden if name not in obtained]
    extra = [name for name in obtained if name not in golden]
    if missing or extra:
        changed.append("FOVs read")
        details.append(f"FOVs read: missing {missing}, extra {extra}")
    for name in golden:
        if name not in obtained:
            continue
        for kind in FOV_INPUTS:
            before, after = golden[name].get(kind), obtained[name].get(kind)
            if before is None or after is None:
                if before is not None or after is not None:
                    unrecorded.append(f"{kind} digests")
                continue
            if before != after:
                changed.append(f"{kind} ({name})")
                details.append(f"{kind} of {name}: {before} -> {after}")


def _grouped(changed: list[str]) -> list[str]:
    """``pixels (A/1/0)``, ``pixels (B/2/0)`` as ``pixels (A/1/0, B/2/0)``; order kept."""
    groups: dict[str, list[str]] = {}
    for item in changed:
        kind, _, rest = item.partition(" (")
        groups.setdefault(kind, [])
        if rest:
            groups[kind].append(rest.rstrip(")"))
    out = []
    for kind, fovs in groups.items():
        if not fovs:
            out.append(kind)
        else:
            shown = ", ".join(fovs[:4]) + (f", +{len(fovs) - 4} more" if len(fovs) > 4 else "")
            out.append(f"{kind} ({shown})")
    return out


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _list(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _fovs(value: Mapping[str, Any]) -> dict[str, dict[str, str | None]]:
    return {
        str(name): {kind: _str(entry.get(kind)) for kind in FOV_INPUTS}
        for name, entry in value.items()
        if isinstance(entry, Mapping)
    }
