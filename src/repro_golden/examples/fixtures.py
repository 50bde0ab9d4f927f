"""Hashed fixtures: digests of every generated example input, recorded and verified.

Each input item gets an ``xxh3_128:<hex>`` digest of a canonical byte form:

- arrays (plate images, tracks tables, checkpoint tensors): a JSON header
  ``{"dtype": <little-endian dtype str>, "shape": [...]}`` and a newline,
  then the values in C order, little endian;
- metadata (zarr attributes, normalization records, checkpoint bookkeeping,
  the case file's content): JSON with sorted keys, no spaces, no NaN.

Paths, timestamps, file formatting and compression never enter a digest, so
the digests identify what the prediction will read, not how it was stored.
Item names say what an item is (``plate A/1/0 array 0``,
``checkpoint model.stem.conv.weight``) so that a drift report names it.
The recorded digests live in ``golden/<case>/inputs.json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from repro_golden.core.atomic import safe_component, write_text_atomic
from repro_golden.core.digest import input_array_digest
from repro_golden.core.digest import json_digest as json_digest  # re-exported for inputs.py
from repro_golden.errors import FixtureDriftError, GoldenFileError

SCHEMA = "repro-golden/example-inputs/1"
ALGORITHM = "xxh3_128"
CANONICAL_FORM = (
    "arrays: JSON header {dtype (little endian), shape} + newline + C-order little-endian "
    "values; metadata: JSON with sorted keys, compact separators, no NaN"
)
_REGEN_HINT = "repro-golden example DIR --case {case} --force-regen-fixtures"
_MAX_LISTED = 20


array_digest = input_array_digest
"""Digest of an array's canonical bytes (:func:`repro_golden.core.digest.input_array_digest`)."""


@dataclass(frozen=True)
class FixtureDrift:
    """How generated digests differ from the recorded ones (item names, sorted)."""

    changed: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]

    @classmethod
    def between(cls, recorded: Mapping[str, str], generated: Mapping[str, str]) -> FixtureDrift:
        """Compare two ``{item: digest}`` maps."""
        return cls(
            changed=tuple(
                sorted(k for k in recorded.keys() & generated.keys() if recorded[k] != generated[k])
            ),
            missing=tuple(sorted(recorded.keys() - generated.keys())),
            extra=tuple(sorted(generated.keys() - recorded.keys())),
        )

    def __bool__(self) -> bool:
        return bool(self.changed or self.missing or self.extra)

    def describe(self, *, max_items: int = _MAX_LISTED) -> str:
        """Readable list of the drifted items, at most ``max_items`` per kind."""
        parts = []
        for label, items in (
            ("changed", self.changed),
            ("recorded but not generated", self.missing),
            ("generated but not recorded", self.extra),
        ):
            if not items:
                continue
            shown = ", ".join(items[:max_items])
            more = f", ... and {len(items) - max_items} more" if len(items) > max_items else ""
            parts.append(f"{len(items)} {label}: {shown}{more}")
        return "; ".join(parts)


class InputDigestDriftError(FixtureDriftError):
    """Generated inputs differ from ``inputs.json``; ``drift`` and ``path`` say how and where."""

    def __init__(self, drift: FixtureDrift, *, path: Path, case: str) -> None:
        self.drift = drift
        self.path = path
        super().__init__(
            f"{path}: generated example inputs of case {case!r} differ from the recorded "
            f"digests ({drift.describe()}). Nothing was written. If the change is intended, "
            f"re-record with `{_REGEN_HINT.format(case=case)}` and review the diff."
        )


#: Where an installed wheel keeps the example cases' golden files (package data, copied
#: from the checkout's ``golden/<case>/`` when the wheel is built: see ``setup.py``).
PACKAGED_GOLDEN = Path(__file__).resolve().parent / "golden"


def _checkout_golden() -> Path | None:
    """``golden/`` of the source checkout this package runs from, if it runs from one."""
    root = Path(__file__).resolve().parents[3]
    if (root / "pyproject.toml").is_file() and (root / "golden").is_dir():
        return root / "golden"
    return None


def golden_source(case: str) -> Path:
    """The directory holding ``case``'s recorded files: ``inputs.json`` and its golden files.

    In a source checkout it is ``golden/<case>`` (what ``--force-regen-fixtures``
    rewrites and git reviews); in an installed wheel, the copy shipped as
    package data. ``case`` must be a plain name
    (:func:`~repro_golden.core.atomic.safe_component`).
    """
    name = safe_component(case, what="case name", key="case")
    checkout = _checkout_golden()
    return (checkout if checkout is not None else PACKAGED_GOLDEN) / name


def default_inputs_path(case: str) -> Path:
    """``inputs.json`` of ``case`` in :func:`golden_source`: the digests generation checks."""
    return golden_source(case) / "inputs.json"


def load_recorded(path: Path, *, case: str) -> dict[str, str]:
    """The recorded ``{item: digest}`` map; :class:`GoldenFileError` if unusable."""
    if not path.is_file():
        if path.is_relative_to(PACKAGED_GOLDEN):
            raise GoldenFileError(
                f"this installation of repro-golden ships no recorded input digests for case "
                f"{case!r} (the wheel was built without golden/{case}/inputs.json); reinstall "
                "it, or pass --inputs PATH to digests recorded elsewhere",
                path=path,
            )
        raise GoldenFileError(
            f"no recorded input digests for case {case!r}; record them deliberately with "
            f"`{_REGEN_HINT.format(case=case)}`",
            path=path,
        )
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GoldenFileError(f"unreadable: {exc}", path=path) from exc
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        found = document.get("schema") if isinstance(document, dict) else type(document).__name__
        raise GoldenFileError(
            f"expected schema {SCHEMA!r}, found {found!r}", path=path, key="schema"
        )
    if document.get("case") != case:
        raise GoldenFileError(
            f"digests of case {document.get('case')!r}, expected {case!r}", path=path, key="case"
        )
    digests = document.get("digests")
    if not isinstance(digests, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in digests.items()
    ):
        raise GoldenFileError(
            "expected a mapping of item names to digest strings", path=path, key="digests"
        )
    return dict(digests)


def write_recorded(path: Path, *, case: str, digests: Mapping[str, str]) -> None:
    """Record ``digests`` for ``case`` at ``path`` (readable JSON, sorted keys), atomically."""
    document = {
        "schema": SCHEMA,
        "case": case,
        "algorithm": ALGORITHM,
        "canonical_form": CANONICAL_FORM,
        "regenerate_with": _REGEN_HINT.format(case=case),
        "digests": dict(digests),
    }
    write_text_atomic(path, json.dumps(document, indent=2, sort_keys=True) + "\n")


def verify(path: Path, *, case: str, digests: Mapping[str, str]) -> None:
    """Raise :class:`InputDigestDriftError` unless ``digests`` equal the recorded ones."""
    drift = FixtureDrift.between(load_recorded(path, case=case), digests)
    if drift:
        raise InputDigestDriftError(drift, path=path, case=case)
