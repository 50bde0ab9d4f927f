"""A golden directory on disk: publish it atomically under a lock, read it back verified.

A golden directory holds ``golden.json`` (schema ``repro-golden/golden/2``: digests,
per-FOV statistics, tolerance, expectations, provenance; what people read in
diffs), one binary sketch file ``sketch-<xxh3-128>.bin`` and, for small cases, one
full-copy file ``full-<xxh3-128>.bin``, each named by its own digest. Data files
are written first under their content address; replacing ``golden.json``
(atomic) is the single commit step; older data files are removed after it.
Other files (``inputs.json``) are never touched. Formats: :mod:`.format`
and :mod:`.full`.

The contract, for every writer (the CLI, calibrate, the pytest fixtures) through
:meth:`GoldenStore.publish`, and every reader:

* a new golden set is built in a private staging directory and published whole by
  a rename that never replaces: a failure, a signal or a full disk leaves nothing,
  and a concurrent writer that published first wins (the other is refused);
* an existing directory is rewritten in place only when asked (``overwrite``), under
  the directory's exclusive lock; data files go under their content address first,
  ``golden.json`` is the single commit step, stale data files go after it;
* a plain :meth:`read` needs no lock: it retries when a commit happened under it,
  so it sees one consistent version; a reader that must see the *same* version
  across several reads (the fixtures' check, which reads the set and then its
  files again to report) holds :func:`~repro_golden.core.locking.directory_lock`
  shared for that span.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from repro_golden.core.atomic import atomic_directory, write_bytes_atomic, write_text_atomic
from repro_golden.core.digest import array_digest, bytes_digest
from repro_golden.core.golden.expectations import Expectation, merged
from repro_golden.core.golden.format import (
    encode_manifest,
    encode_sketch,
    file_entry,
    golden_from,
    parse_manifest,
    parse_sketch,
)
from repro_golden.core.golden.full import decode_full, encode_full
from repro_golden.core.golden.types import Golden
from repro_golden.core.locking import directory_lock
from repro_golden.core.names import MANIFEST
from repro_golden.errors import GoldenFileError, OutputExistsError

_READ_ATTEMPTS = 5
_DATA_KINDS = ("sketch", "full")


class GoldenStore:
    """A golden directory: ``golden/<case>/`` in a repo or ``<name>.golden/`` beside a zarr."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @property
    def manifest(self) -> Path:
        return self.directory / MANIFEST

    def publish(
        self, write: Callable[[Path], object], *, overwrite: bool, what: str = "golden files"
    ) -> Path:
        """Publish what ``write(directory)`` writes as this golden set; returns ``golden.json``.

        The one publish policy (module docs), decided and carried out under the
        directory's exclusive lock, so two publishers (xdist workers, two CLI runs) take
        turns: a directory that does not exist is staged and renamed into place whole;
        an existing one is rewritten in place when ``overwrite``, and refused otherwise
        (:class:`~repro_golden.errors.OutputExistsError`, exit 2). ``write`` writes
        the golden files (and anything that belongs with them, like the oracle
        section) into the directory it is given.
        """
        with directory_lock(self.directory):  # publishers of one directory take turns
            if not self.directory.exists():
                with atomic_directory(self.directory, what=what) as staging:
                    write(staging)
                return self.manifest
            if not overwrite:
                raise OutputExistsError(
                    "output exists (golden files); pass overwrite (CLI: --overwrite, "
                    "pytest: --force-regen) to rewrite them",
                    path=self.directory,
                )
            write(self.directory)
        return self.manifest

    def recorded_case(self) -> str | None:
        """The case name ``golden.json`` records, ``None`` when it records none or cannot be
        read as JSON. Read from the manifest alone (no verification of the data files), so
        that a damaged set of *another* case is still recognized and never rewritten."""
        try:
            data = json.loads(self._manifest_bytes(missing_ok=True) or b"null")
        except (GoldenFileError, ValueError):
            return None
        case = data.get("case") if isinstance(data, dict) else None
        return case if isinstance(case, str) else None

    def write(self, golden: Golden) -> Path:
        """Write the data files under their digests, then commit ``golden.json`` atomically.

        Writers of one directory are serialized by an exclusive lock (a file in the
        temp dir keyed by the resolved directory, so nothing is added to the golden
        directory): without it, two concurrent writers of different content could
        each remove the other's freshly committed data file as stale. A plain
        :meth:`read` needs no lock (it retries when the manifest changed under it; see
        the module docs for readers that need one version across reads). Temp files
        left in the directory by writers killed mid-write are removed under the lock.
        """
        blobs = {"sketch": encode_sketch(golden)}
        if golden.full is not None:
            blobs["full"] = golden.full.encoded or encode_full(golden.full.arrays)
        entries = {k: file_entry(k, bytes_digest(b), len(b)) for k, b in blobs.items()}
        text = encode_manifest(golden, entries["sketch"], entries.get("full"))
        self.directory.mkdir(parents=True, exist_ok=True)
        with directory_lock(self.directory, purpose="write"):
            patterns = [f".{MANIFEST}.*.tmp"] + [f".{k}-*.bin.*.tmp" for k in _DATA_KINDS]
            for pattern in patterns:
                for leftover in self.directory.glob(pattern):
                    leftover.unlink(missing_ok=True)
            for kind, blob in blobs.items():
                target = self.directory / entries[kind]["file"]
                digest = entries[kind]["xxh3_128"]
                if not (target.is_file() and bytes_digest(target.read_bytes()) == digest):
                    write_bytes_atomic(target, blob)
            write_text_atomic(self.manifest, text)
            keep = {e["file"] for e in entries.values()}
            for kind in _DATA_KINDS:
                for stale in self.directory.glob(f"{kind}-*.bin"):
                    if stale.name not in keep:
                        stale.unlink(missing_ok=True)
        return self.manifest

    def record_expectations(self, new: tuple[Expectation, ...]) -> Path:
        """Rewrite the manifest with ``new`` expectations merged in; the values stay as they are."""
        golden = self.read()
        return self.write(
            dataclasses.replace(golden, expectations=merged(golden.expectations, new))
        )

    def read(self, *, expected_case: str | None = None) -> Golden:
        """Read and verify ``golden.json`` and its data files; :class:`GoldenFileError` if unusable.

        Every key is checked for type and range, the FOV and dataset digests are
        recomputed from their parts (a Merkle check: one corrupted digest is caught),
        the sketch must match its recorded digest, format and array shapes, and the
        full copy (when present) must hash, FOV by FOV, to the recorded array
        digests. ``expected_case`` (when known, e.g. ``check --case``) must equal the
        recorded case name. A concurrent writer may switch the manifest and remove
        the old data files between our reads: the read is retried when the manifest
        changed meanwhile, so a reader never fails on a consistent store.
        """
        for attempt in range(_READ_ATTEMPTS):
            raw = self._manifest_bytes()
            try:
                golden = self._parse(raw)
            except GoldenFileError:
                if attempt + 1 < _READ_ATTEMPTS and self._manifest_bytes(missing_ok=True) != raw:
                    continue  # a writer committed meanwhile: read the new manifest
                raise
            if expected_case is not None and golden.case != expected_case:
                raise GoldenFileError(
                    f"golden files of case {golden.case!r}, expected case {expected_case!r}",
                    path=self.manifest,
                    key="case",
                )
            return golden
        raise AssertionError("unreachable")  # pragma: no cover

    def _manifest_bytes(self, *, missing_ok: bool = False) -> bytes:
        try:
            return self.manifest.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return b""
            raise GoldenFileError(
                "no golden.json (write one with `repro-golden golden write`)", path=self.manifest
            ) from None
        except OSError as exc:
            raise GoldenFileError(f"unreadable ({exc})", path=self.manifest) from exc

    def _data_file(self, info: Mapping[str, Any], key: str) -> bytes:
        return read_content_file(self.directory, info, key=key, manifest=MANIFEST)

    def _parse(self, raw: bytes) -> Golden:
        """Validated :class:`Golden` from the manifest bytes and the data files they name."""
        data = parse_manifest(raw, self.manifest)
        info = data["sketch"]
        blob = self._data_file(info, "sketch")
        dataset = data["dataset"]
        widths = {name: a["width"] for name, a in dataset["arrays"].items()}
        sketch = parse_sketch(
            blob, self.directory / info["file"], widths=widths, rows=dataset["rows"]
        )
        full = None
        if data.get("full") is not None:
            full_path = self.directory / data["full"]["file"]
            shapes = {
                name: (a["dtype"], (int(dataset["rows"]), int(a["width"])))
                for name, a in dataset["arrays"].items()
            }
            full = decode_full(self._data_file(data["full"], "full"), full_path, shapes=shapes)
            for i, fov in enumerate(data["fovs"]):
                start, stop = fov["offset"], fov["offset"] + fov["rows"]
                for name, values in full.items():
                    if array_digest(values[start:stop]) != fov["arrays"][name]["digest"]:
                        raise GoldenFileError(
                            "full copy does not hash to the recorded array digest",
                            path=full_path,
                            key=f"fovs[{i}].arrays.{name}.digest",
                        )
        return golden_from(data, sketch, full, self.manifest)


def read_content_file(
    directory: Path, entry: Mapping[str, Any], *, key: str, manifest: str
) -> bytes:
    """The bytes of a content-addressed data file that ``manifest`` names by ``entry``
    (``file``, ``xxh3_128``, ``bytes``), verified; :class:`GoldenFileError` naming the file
    and ``<key>.file`` when it is missing, or the file when its bytes do not match.

    Shared by golden sets (sketch, full copy) and their oracle section (the truth)."""
    path = directory / str(entry["file"])
    try:
        blob = path.read_bytes()
    except OSError as exc:
        raise GoldenFileError(
            f"{key} file missing or unreadable ({exc.strerror or exc})",
            path=path,
            key=f"{key}.file",
        ) from exc
    if bytes_digest(blob) != entry["xxh3_128"] or len(blob) != entry["bytes"]:
        raise GoldenFileError(
            f"{key} file content does not match its digest {entry['xxh3_128']} "
            f"or size {entry['bytes']} recorded in {manifest}",
            path=path,
        )
    return blob
