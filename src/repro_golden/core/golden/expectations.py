"""Expectations keyed by environment: strict where results reproduce, calibrated where they drift.

A golden set holds, per :class:`~repro_golden.core.fingerprint.EnvironmentFingerprint`,
one :class:`Expectation`:

* ``identical``: any digest difference fails in that environment, whatever the
  summaries or the full copy say: there, any change is a real change. It is
  *verified* when two runs there matched bit for bit (``golden write --verify-with``,
  ``repro-golden calibrate``, the fixtures' regen), and *assumed* when a golden write
  recorded it for its own environment because the numerics are deterministic by
  configuration (:func:`assumed_identical`): the default path is strict too, and a
  drifting environment is recorded instead with ``calibrate``.
* ``tolerance``: a calibrated tolerance per array (the drift measured there, times
  a stated margin).

A check picks the expectation whose fingerprint key equals the obtained store's
(:func:`select`); with none, the case tolerance applies and the report says so.
Shaped after HF transformers' ``Expectations``, with verification instead of trust.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.tolerance import ArrayTolerances
from repro_golden.errors import ConfigError, GoldenFileError


class ExpectationKind(enum.Enum):
    """What a golden set expects of a check in one environment."""

    IDENTICAL = "identical"
    TOLERANCE = "tolerance"


@dataclass(frozen=True)
class Expectation:
    """The expectation of one environment; ``evidence`` says how it was established."""

    environment: EnvironmentFingerprint
    kind: ExpectationKind
    tolerance: ArrayTolerances | None = None
    evidence: str = ""
    calibration: dict[str, Any] = field(default_factory=dict)
    verified: bool = True
    """False for an ``identical`` recorded by assumption (deterministic by configuration)."""

    def __post_init__(self) -> None:
        if (self.kind is ExpectationKind.TOLERANCE) != (self.tolerance is not None):
            raise ValueError("a tolerance expectation needs a tolerance, identical none")

    @property
    def key(self) -> str:
        return self.environment.key

    def describe(self) -> str:
        what = self.kind.value if self.tolerance is None else f"tolerance {self.tolerance}"
        if not self.verified:
            what += " (assumed: not yet verified by a second run)"
        return f"{what} for {self.environment.label()} ({self.key})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind.value,
            "environment": self.environment.to_dict(),
            "tolerance": None if self.tolerance is None else self.tolerance.to_dict(),
            "evidence": self.evidence,
            "calibration": self.calibration,
            # Written only when False, so golden files recorded before it keep their bytes.
            **({} if self.verified else {"verified": False}),
        }

    @classmethod
    def from_mapping(cls, data: Any, *, path: str | Path | None, key: str) -> Expectation:
        """Validated from :meth:`to_dict`'s form; :class:`GoldenFileError` naming ``key``."""
        if not isinstance(data, Mapping):
            raise GoldenFileError("expected an object", path=path, key=key)
        unknown = sorted(
            set(data)
            - {"key", "kind", "environment", "tolerance", "evidence", "calibration", "verified"}
        )
        if unknown:
            raise GoldenFileError(f"unknown keys {unknown}", path=path, key=key)
        try:
            kind = ExpectationKind(data.get("kind"))
        except ValueError:
            raise GoldenFileError(
                f"expected 'identical' or 'tolerance', got {data.get('kind')!r}",
                path=path,
                key=f"{key}.kind",
            ) from None
        environment = EnvironmentFingerprint.from_mapping(
            data.get("environment"), path=path, key=f"{key}.environment"
        )
        if data.get("key") not in (environment.key, environment.legacy_key):
            raise GoldenFileError(
                f"expected {environment.key!r} (the key of its environment), "
                f"got {data.get('key')!r}",
                path=path,
                key=f"{key}.key",
            )
        tolerance = None
        if kind is ExpectationKind.TOLERANCE:
            try:
                tolerance = ArrayTolerances.from_mapping(
                    data.get("tolerance"), source=path, key=f"{key}.tolerance"
                )
            except ConfigError as exc:
                raise GoldenFileError(str(exc), path=path, key=f"{key}.tolerance") from None
        elif data.get("tolerance") is not None:
            raise GoldenFileError("an identical expectation has no tolerance", path=path, key=key)
        verified = data.get("verified", True)
        if not isinstance(verified, bool) or (
            not verified and kind is not ExpectationKind.IDENTICAL
        ):
            raise GoldenFileError(
                f"expected true or false (false only for identical), got {verified!r}",
                path=path,
                key=f"{key}.verified",
            )
        evidence = data.get("evidence", "")
        calibration = data.get("calibration") or {}
        if not isinstance(evidence, str) or not isinstance(calibration, Mapping):
            raise GoldenFileError(
                "expected evidence text and a calibration object", path=path, key=key
            )
        return cls(environment, kind, tolerance, evidence, dict(calibration), verified)


def select(
    expectations: Iterable[Expectation], environment: EnvironmentFingerprint | None
) -> Expectation | None:
    """The expectation recorded for ``environment`` (same fingerprint key), if any.

    An unknown environment (``None`` or not captured by torch) matches nothing, so
    an assumption is never judged under ``identical``.
    """
    if environment is None or not environment.is_known:
        return None
    return next((e for e in expectations if e.key == environment.key), None)


def deterministic_by_configuration(environment: EnvironmentFingerprint | None) -> bool:
    """Whether runs in ``environment`` are expected to reproduce bit for bit by configuration.

    CPU runs: yes (same build, ISA, processor model, threads and batch: bit-identical run
    after run, as measured). CUDA runs: only with cuDNN deterministic and benchmark off.
    Unknown environments and other devices: no.
    """
    if environment is None or not environment.is_known:
        return False
    if environment.device_type == "cpu":
        return True
    if environment.device_type == "cuda":
        return bool(environment.cudnn_deterministic) and environment.cudnn_benchmark is False
    return False


def assumed_identical(environment: EnvironmentFingerprint | None) -> Expectation | None:
    """The ``identical`` expectation a golden write records for its own environment, when
    that environment is deterministic by configuration; marked unverified."""
    if environment is None or not deterministic_by_configuration(environment):
        return None
    return Expectation(
        environment,
        ExpectationKind.IDENTICAL,
        evidence="assumed: deterministic by configuration, not yet verified by a second run",
        verified=False,
    )


def merged(existing: Iterable[Expectation], new: Iterable[Expectation]) -> tuple[Expectation, ...]:
    """``existing`` with each of ``new`` replacing the one of its environment; sorted by key.

    An assumed ``identical`` never replaces an expectation that was established by runs
    (a verified ``identical`` or a calibrated tolerance): assumption is the weaker evidence.
    """
    by_key = {e.key: e for e in existing}
    for expectation in new:
        current = by_key.get(expectation.key)
        if current is not None and current.verified and not expectation.verified:
            continue
        by_key[expectation.key] = expectation
    return tuple(by_key[k] for k in sorted(by_key))
