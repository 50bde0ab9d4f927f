"""RegionReader: the direct zarr v2 chunk path returns exactly what zarr returns."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import pytest
import zarr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from repro_golden.inference.data.regions import RegionReader

SHAPE = (3, 3, 4, 21, 26)


def write_array(path: Path, chunks: tuple[int, ...], **options: Any) -> np.ndarray:
    rng = np.random.default_rng(1)
    data = rng.normal(size=SHAPE).astype(options.pop("dtype", "float32"))
    array = zarr.create_array(path, shape=SHAPE, chunks=chunks, dtype=data.dtype, **options)
    array[...] = data
    return data


LAYOUTS = {
    "iohub_v2_blosc_slash": (
        (1, 1, 4, 21, 26),
        {
            "zarr_format": 2,
            "chunk_key_encoding": {"name": "v2", "separator": "/"},
            "compressors": numcodecs.Blosc(
                cname="zstd", clevel=1, shuffle=numcodecs.Blosc.BITSHUFFLE
            ),
        },
        True,
    ),
    "v2_tiled_zstd_dot_uint16": (
        (2, 2, 3, 8, 10),
        {"zarr_format": 2, "compressors": numcodecs.Zstd(), "dtype": "uint16"},
        True,
    ),
    "v2_uncompressed_bigendian": (
        (1, 3, 1, 16, 7),
        {"zarr_format": 2, "compressors": None, "dtype": ">f4"},
        True,
    ),
    "v3_default": ((1, 1, 2, 11, 13), {"zarr_format": 3}, False),
}


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def stored(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[RegionReader, np.ndarray, bool]:
    chunks, options, direct = LAYOUTS[request.param]
    path = tmp_path_factory.mktemp(request.param) / "0"
    data = write_array(path, chunks, **dict(options))
    return RegionReader(path), data, direct


def test_direct_path_only_for_plain_v2(stored: tuple[RegionReader, np.ndarray, bool]) -> None:
    reader, _, direct = stored
    assert (reader._direct is not None) == direct


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_regions_equal_numpy(stored: tuple[RegionReader, np.ndarray, bool], data: Any) -> None:
    reader, expected, _ = stored
    t = data.draw(st.integers(0, SHAPE[0] - 1))
    channels = tuple(data.draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True)))
    bounds = []
    for size in SHAPE[2:]:
        start = data.draw(st.integers(0, size - 1))
        bounds.append(slice(start, data.draw(st.integers(start + 1, size))))
    region = reader.read(t, channels, *bounds)
    want = expected[t][list(channels)][:, bounds[0], bounds[1], bounds[2]]
    assert region.shape == want.shape
    assert np.array_equal(region, want)
    dirty = np.full(want.size + 5, 123, dtype=reader.dtype)  # a reused buffer, not zeroed
    into = dirty[: want.size].reshape(want.shape)
    assert reader.read(t, channels, *bounds, out=into) is into
    assert np.array_equal(into, want)


@pytest.mark.parametrize("into", [False, True])
def test_whole_frames_equal_numpy(
    stored: tuple[RegionReader, np.ndarray, bool], into: bool
) -> None:
    """A region that is a whole chunk is decoded straight into ``out`` (iohub's layout)."""
    reader, expected, _ = stored
    full = tuple(slice(0, size) for size in SHAPE[2:])
    for t in range(SHAPE[0]):
        for channels in ((0,), (2, 1), (0, 1, 2)):
            out = np.full((len(channels), *SHAPE[2:]), 9, dtype=reader.dtype) if into else None
            region = reader.read(t, channels, *full, out=out)
            assert np.array_equal(region, expected[t][list(channels)]), (t, channels)


def test_out_must_match_the_region(stored: tuple[RegionReader, np.ndarray, bool]) -> None:
    reader, _, _ = stored
    with pytest.raises(ValueError, match="expected"):
        reader.read(0, (0,), slice(0, 1), slice(0, 2), slice(0, 2), out=np.empty((1, 1, 2, 3)))


def test_threads_sharing_a_reader_get_their_own_regions(
    stored: tuple[RegionReader, np.ndarray, bool],
) -> None:
    reader, expected, _ = stored
    jobs = [(t, c) for t in range(SHAPE[0]) for c in range(3)] * 4
    full = tuple(slice(0, size) for size in SHAPE[2:])
    with ThreadPoolExecutor(4) as pool:
        regions = list(pool.map(lambda job: reader.read(job[0], (job[1],), *full), jobs))
    for (t, c), region in zip(jobs, regions, strict=True):
        assert np.array_equal(region[0], expected[t][c]), (t, c)


def test_missing_chunk_falls_back_to_zarr_fill_value(tmp_path: Path) -> None:
    path = tmp_path / "0"
    chunks, options, _ = LAYOUTS["iohub_v2_blosc_slash"]
    write_array(path, chunks, **dict(options), fill_value=7.0)
    (path / "1" / "2" / "0" / "0" / "0").unlink()
    reader = RegionReader(path)
    region = reader.read(1, (2,), slice(0, 4), slice(0, 21), slice(0, 26))
    assert np.all(region == 7.0)
