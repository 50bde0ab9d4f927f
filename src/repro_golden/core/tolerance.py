"""Tolerances with numpy ``allclose`` semantics, as one frozen value.

A comparison passes elementwise when ``|obtained - reference| <= atol + rtol * |reference|``
(numpy's asymmetric rule: the *reference* scales the relative part). ``equal_nan``
decides NaN handling: when true (the default), a NaN passes only where the other
array has a NaN at the same position (same positions required); when false, any NaN
fails. Infinities pass only where both arrays hold the same infinity. Arrays whose
digests are equal are "identical" and pass before any tolerance is applied, whatever
``equal_nan`` says: a bit-for-bit reproduction is never a regression.

This module imports only the standard library so every other module, including the
torch-free core and the case loader, can use it cheaply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from repro_golden.errors import ConfigError


@dataclass(frozen=True)
class ToleranceSpec:
    """``atol``/``rtol``/``equal_nan`` for :func:`numpy.allclose`-style checks.

    Both tolerances must be finite and non-negative. ``ToleranceSpec()`` means exact
    equality (NaN equal to NaN at the same positions).
    """

    atol: float = 0.0
    rtol: float = 0.0
    equal_nan: bool = True

    def __post_init__(self) -> None:
        for name in ("atol", "rtol", "equal_nan"):
            problem = _problem(name, getattr(self, name))
            if problem is not None:
                raise ConfigError(problem, key=name)
        object.__setattr__(self, "atol", float(self.atol))
        object.__setattr__(self, "rtol", float(self.rtol))

    @property
    def exact(self) -> bool:
        """True when only bit-for-bit equal values (up to NaN payloads and -0.0) pass."""
        return self.atol == 0.0 and self.rtol == 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping; inverse of :meth:`from_mapping`."""
        return {"atol": self.atol, "rtol": self.rtol, "equal_nan": self.equal_nan}

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any] | None, *, source: str | Path | None = None
    ) -> ToleranceSpec:
        """Build from a case file's ``tolerance:`` mapping (missing keys take defaults).

        Raises :class:`ConfigError` naming ``source`` and the offending key.
        """
        if mapping is None:
            return cls()
        if not isinstance(mapping, Mapping):
            raise ConfigError(
                f"expected a mapping with atol/rtol/equal_nan, got {type(mapping).__name__}",
                path=source,
                key="tolerance",
            )
        unknown = sorted(set(mapping) - {"atol", "rtol", "equal_nan"})
        if unknown:
            raise ConfigError(
                f"unknown keys {unknown}; expected atol, rtol, equal_nan",
                path=source,
                key="tolerance",
            )
        for name, value in mapping.items():
            problem = _problem(name, value)
            if problem is not None:
                raise ConfigError(problem, path=source, key=f"tolerance.{name}")
        return cls(**dict(mapping))

    def __str__(self) -> str:
        nan = "NaN==NaN" if self.equal_nan else "NaN fails"
        return f"atol={self.atol:g}, rtol={self.rtol:g}, {nan}"


def _problem(name: str, value: object) -> str | None:
    """Why ``value`` is not a valid ``name`` field, or None when it is."""
    if name == "equal_nan":
        return (
            None if isinstance(value, bool) else f"equal_nan must be true or false, got {value!r}"
        )
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} must be a number, got {value!r}"
    if not math.isfinite(value) or value < 0:
        return f"{name} must be a finite number >= 0, got {value!r}"
    return None


@dataclass(frozen=True)
class ArrayTolerances:
    """A default :class:`ToleranceSpec` plus per-array overrides (``X`` vs ``X_projections``).

    The form a golden manifest records (``"tolerance": {"default": {...}, "arrays":
    {"X": {...}}}``) and every check resolves per array with :meth:`for_array`.
    """

    default: ToleranceSpec = ToleranceSpec()
    arrays: tuple[tuple[str, ToleranceSpec], ...] = ()

    @classmethod
    def of(
        cls, default: ToleranceSpec, arrays: Mapping[str, ToleranceSpec] | None = None
    ) -> ArrayTolerances:
        """Build from a default and a mapping of overrides (kept sorted by name)."""
        return cls(default, tuple(sorted((arrays or {}).items())))

    @classmethod
    def coerce(cls, value: ToleranceSpec | ArrayTolerances | None) -> ArrayTolerances:
        """``value`` as :class:`ArrayTolerances` (``None``: exact)."""
        if isinstance(value, ArrayTolerances):
            return value
        return cls(value or ToleranceSpec())

    def for_array(self, name: str) -> ToleranceSpec:
        """The tolerance that applies to array ``name``."""
        return dict(self.arrays).get(name, self.default)

    def to_dict(self) -> dict[str, Any]:
        """JSON form; inverse of :meth:`from_mapping`."""
        return {
            "default": self.default.to_dict(),
            "arrays": {name: spec.to_dict() for name, spec in self.arrays},
        }

    @classmethod
    def from_mapping(
        cls, mapping: Any, *, source: str | Path | None = None, key: str = "tolerance"
    ) -> ArrayTolerances:
        """Validated from :meth:`to_dict`'s form; a plain atol/rtol mapping is the default.

        Raises :class:`ConfigError` naming ``source`` and ``key``.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigError(
                f"expected a mapping with default/arrays, got {type(mapping).__name__}",
                path=source,
                key=key,
            )
        if "default" not in mapping and "arrays" not in mapping:
            return cls(ToleranceSpec.from_mapping(mapping, source=source))
        unknown = sorted(set(mapping) - {"default", "arrays"})
        if unknown:
            raise ConfigError(
                f"unknown keys {unknown}; expected default, arrays", path=source, key=key
            )
        default = ToleranceSpec.from_mapping(mapping.get("default"), source=source)
        arrays = mapping.get("arrays") or {}
        if not isinstance(arrays, Mapping):
            raise ConfigError("expected a mapping of array names", path=source, key=f"{key}.arrays")
        return cls.of(
            default,
            {str(n): ToleranceSpec.from_mapping(v, source=source) for n, v in arrays.items()},
        )

    def __str__(self) -> str:
        if not self.arrays:
            return str(self.default)
        overrides = "; ".join(f"{name}: {spec}" for name, spec in self.arrays)
        return f"{self.default}; {overrides}"


@dataclass(frozen=True)
class ToleranceOverride:
    """Fields given on a command line or in a call, each replacing only its own recorded field.

    ``check --rtol 1e-4`` keeps the recorded atol and NaN policy; ``--no-equal-nan``
    alone keeps both tolerances. ``None`` means "as recorded". Applied to every
    array's tolerance (the default and each per-array override).
    """

    atol: float | None = None
    rtol: float | None = None
    equal_nan: bool | None = None

    def __post_init__(self) -> None:
        for name in ("atol", "rtol", "equal_nan"):
            value = getattr(self, name)
            problem = None if value is None else _problem(name, value)
            if problem is not None:
                raise ConfigError(problem, key=name)

    @property
    def is_empty(self) -> bool:
        return self.atol is None and self.rtol is None and self.equal_nan is None

    def _onto_spec(self, spec: ToleranceSpec) -> ToleranceSpec:
        return ToleranceSpec(
            atol=spec.atol if self.atol is None else self.atol,
            rtol=spec.rtol if self.rtol is None else self.rtol,
            equal_nan=spec.equal_nan if self.equal_nan is None else self.equal_nan,
        )

    def onto(self, recorded: ArrayTolerances) -> ArrayTolerances:
        """``recorded`` with the given fields replaced, per array."""
        return ArrayTolerances(
            self._onto_spec(recorded.default),
            tuple((name, self._onto_spec(spec)) for name, spec in recorded.arrays),
        )

    def __str__(self) -> str:
        given = [f"{n}={getattr(self, n)}" for n in ("atol", "rtol", "equal_nan")]
        return ", ".join(g for g in given if not g.endswith("=None")) or "none"
