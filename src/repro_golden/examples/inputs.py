"""Digests of a generated example directory, read back from the files themselves.

Reading back (rather than hashing what the generator held in memory) makes
the digests describe exactly what a prediction will read: a writer bug or a
storage difference shows up as drift too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from repro_golden.errors import DataError
from repro_golden.examples.cases import ExampleCase
from repro_golden.examples.cells import TRACK_COLUMNS
from repro_golden.examples.fixtures import array_digest, json_digest

PLATE = "plate.zarr"
TRACKS = "tracks.zarr"
CHECKPOINT = "model.ckpt"
CASE_FILE = "case.yaml"
TRACKS_FILE = "tracks.csv"


def _attribute_digests(label: str, attrs: dict[str, Any]) -> dict[str, str]:
    """``<label> attributes`` plus one ``<label> normalization <channel>`` per channel."""
    normalization = attrs.get("normalization", {})
    rest = {key: value for key, value in attrs.items() if key != "normalization"}
    digests = {f"{label} attributes": json_digest(rest)}
    for channel, record in normalization.items():
        digests[f"{label} normalization {channel}"] = json_digest(record)
    return digests


def plate_digests(case: ExampleCase, path: Path) -> dict[str, str]:
    """Digests of the plate's group attributes, normalization records and arrays."""
    import zarr

    root = zarr.open_group(str(path), mode="r", zarr_format=2)
    digests = _attribute_digests("plate", dict(root.attrs))
    for row, col in case.wells:
        well = root[f"{row}/{col}"]
        digests.update(_attribute_digests(f"plate {row}/{col}", dict(well.attrs)))
    for fov in case.fov_names:
        position = root[fov]
        digests.update(_attribute_digests(f"plate {fov}", dict(position.attrs)))
        image = zarr.open_array(str(path / fov / "0"), mode="r", zarr_format=2)
        digests[f"plate {fov} array 0"] = array_digest(image[...])
    return digests


def read_tracks(path: Path) -> np.ndarray:
    """A tracks CSV as an int64 ``(N, 8)`` array; :class:`DataError` if its header differs."""
    with path.open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
        if tuple(header) != TRACK_COLUMNS:
            raise DataError(f"expected columns {list(TRACK_COLUMNS)}, found {header}", path=path)
        table = np.loadtxt(handle, dtype=np.int64, delimiter=",", ndmin=2)
    return table.reshape(-1, len(TRACK_COLUMNS))


def tracks_digests(case: ExampleCase, path: Path) -> dict[str, str]:
    """One digest per FOV's tracks table (column names are checked, values hashed)."""
    return {
        f"tracks {fov}": array_digest(read_tracks(path / fov / TRACKS_FILE))
        for fov in case.fov_names
    }


def checkpoint_digests(path: Path) -> dict[str, str]:
    """One digest per state-dict tensor, plus one of the bookkeeping entries."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    digests = {
        f"checkpoint {key}": array_digest(tensor.numpy())
        for key, tensor in checkpoint["state_dict"].items()
    }
    bookkeeping = {key: value for key, value in checkpoint.items() if key != "state_dict"}
    digests["checkpoint bookkeeping"] = json_digest(bookkeeping)
    return digests


def case_file_digest(path: Path) -> dict[str, str]:
    """Digest of the case file's content (parsed YAML, so formatting does not count)."""
    import yaml

    return {"case file": json_digest(yaml.safe_load(path.read_text(encoding="utf-8")))}


def input_digests(case: ExampleCase, directory: Path) -> dict[str, str]:
    """Every input item of a generated example directory and its digest."""
    return {
        **plate_digests(case, directory / PLATE),
        **tracks_digests(case, directory / TRACKS),
        **checkpoint_digests(directory / CHECKPOINT),
        **case_file_digest(directory / CASE_FILE),
    }
