"""The library's own exception types.

Every error a user can cause (a bad file, a bad key, a bad value) is raised as
an :class:`InputError` subclass whose message names the file, the key and what
was expected. The CLI maps :class:`InputError` to exit status 2; anything else
escaping is a bug in this library.
"""

from __future__ import annotations

from pathlib import Path


class ReproGoldenError(Exception):
    """Base class of every exception this library raises on purpose."""


class InputError(ReproGoldenError):
    """Bad input: a file, key or value that is not what was expected (CLI exit 2).

    ``path`` and ``key`` are kept as attributes so that callers (the pytest
    plugin, reports) can show them without parsing the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | Path | None = None,
        key: str | None = None,
    ) -> None:
        self.path = None if path is None else Path(path)
        self.key = key
        self.message = message
        prefix = ""
        if path is not None:
            prefix += f"{path}: "
        if key is not None:
            prefix += f"[{key}] "
        super().__init__(prefix + message)


class ConfigError(InputError):
    """A case file or VisCy config that cannot be used as written."""


class DataError(InputError):
    """A plate, tracks table or normalization record that is not usable."""


class CheckpointError(InputError):
    """A checkpoint that cannot be loaded safely and strictly into the model."""


class EmbeddingsError(InputError):
    """An embeddings AnnData zarr that is missing arrays, malformed or unreadable."""


class GoldenFileError(InputError):
    """A golden file that is missing, corrupt, of another schema or of another case."""


class ProvenanceError(InputError):
    """Recorded provenance (a store's ``uns["repro_golden"]`` or a golden set's copy of it)
    whose value is present but unusable: a malformed tolerance or environment."""


class OutputExistsError(InputError):
    """An output path exists and overwriting was not asked for."""


class StorageError(InputError):
    """A write the filesystem refused: full disk, read-only or vanished directory, permission.

    A fault of the machine, never a verdict on the embeddings (CLI exit 2, not 1);
    the message names the path, what was being written and, for space, about how
    much was needed.
    """

    def __init__(self, detail: str, *, path: str | Path | None = None) -> None:
        self.detail = detail
        super().__init__(detail, path=path)


class FixtureDriftError(ReproGoldenError):
    """Generated example inputs whose digests differ from the recorded ones."""
