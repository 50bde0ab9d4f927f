"""Digest invariants: canonical form (order, byte order, NaN payloads) and sensitivity."""

from __future__ import annotations

import numpy as np
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from repro_golden.core.digest import (
    array_digest,
    array_header,
    dataset_digest,
    fov_digest,
    index_digest,
    index_multiset_digest,
)

float_arrays = hnp.arrays(
    dtype=st.sampled_from([np.float32, np.float64, np.float16]),
    shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    elements={"allow_nan": True, "allow_infinity": True, "allow_subnormal": True},
)


@settings(max_examples=60, deadline=None)
@given(float_arrays)
def test_fortran_order_and_big_endian_give_the_same_digest(values: np.ndarray) -> None:
    digest = array_digest(values)
    assert array_digest(np.asfortranarray(values)) == digest
    assert array_digest(values.astype(values.dtype.newbyteorder(">"))) == digest
    assert array_digest(values.T.copy().T) == digest


@settings(max_examples=60, deadline=None)
@given(float_arrays, st.data())
def test_any_single_bit_change_changes_the_digest(values: np.ndarray, data: st.DataObject) -> None:
    flat = np.ascontiguousarray(values).view(np.uint8).reshape(-1).copy()
    bit = data.draw(st.integers(0, flat.size * 8 - 1))
    flat[bit // 8] ^= np.uint8(1 << (bit % 8))
    changed = flat.view(values.dtype).reshape(values.shape)
    if np.isnan(values).reshape(-1)[bit // 8 // values.itemsize] and np.isnan(
        changed.reshape(-1)[bit // 8 // values.itemsize]
    ):
        assert array_digest(changed) == array_digest(values)  # NaN payloads are canonical
    else:
        assert array_digest(changed) != array_digest(values)


def test_nan_payload_and_sign_do_not_matter_but_negative_zero_does() -> None:
    base = np.array([[1.0, np.nan, 0.0]], dtype=np.float32)
    other = base.copy()
    other.view(np.uint32)[0, 1] = 0xFFC01234  # negative NaN with a payload
    assert np.isnan(other[0, 1])
    assert array_digest(other) == array_digest(base)
    negative_zero = base.copy()
    negative_zero[0, 2] = -0.0
    assert array_digest(negative_zero) != array_digest(base)


def test_digest_is_xxh3_128_of_the_documented_bytes() -> None:
    values = np.arange(6, dtype=">f4").reshape(2, 3)
    expected = xxhash.xxh3_128_hexdigest(
        b"repro-golden/array/1\0<f4\x002,3\0" + values.astype("<f4").tobytes()
    )
    assert array_header(values.dtype, values.shape) == b"repro-golden/array/1\0<f4\x002,3\0"
    assert array_digest(values) == expected


def test_dtype_and_shape_are_part_of_the_digest() -> None:
    values = np.zeros((2, 4), dtype=np.float32)
    assert array_digest(values) != array_digest(values.astype(np.float64))
    assert array_digest(values) != array_digest(values.reshape(4, 2))


def test_large_arrays_hash_in_blocks_like_one_buffer() -> None:
    values = np.random.default_rng(1).normal(size=(3000, 100)).astype(np.float32)
    expected = xxhash.xxh3_128_hexdigest(
        array_header(values.dtype, values.shape) + values.tobytes()
    )
    assert array_digest(values) == expected


index_rows = st.lists(
    st.tuples(st.sampled_from(["A/1/0", "B/2/1", "ü/3/0"]), st.integers(-5, 2**40)),
    min_size=2,
    max_size=20,
)


@settings(max_examples=60, deadline=None)
@given(index_rows, st.randoms(use_true_random=False))
def test_index_digest_sees_order_and_multiset_digest_does_not(rows, rng) -> None:  # type: ignore[no-untyped-def]
    def index(items: list[tuple[str, int]]) -> dict[str, np.ndarray]:
        return {
            "fov_name": np.array([r[0] for r in items], dtype=object),
            "track_id": np.array([r[1] for r in items], dtype=np.int64),
        }

    shuffled = list(rows)
    rng.shuffle(shuffled)
    assert index_multiset_digest(index(rows)) == index_multiset_digest(index(shuffled))
    assert (index_digest(index(rows)) == index_digest(index(shuffled))) == (rows == shuffled)
    changed = [*rows[:-1], (rows[-1][0], rows[-1][1] + 1)]
    assert index_multiset_digest(index(changed)) != index_multiset_digest(index(rows))


def test_string_boundaries_are_unambiguous() -> None:
    first = {"fov_name": np.array(["ab", "c"], dtype=object)}
    second = {"fov_name": np.array(["a", "bc"], dtype=object)}
    assert index_digest(first) != index_digest(second)


def test_merkle_digests_depend_on_every_fov_and_their_order() -> None:
    parts = {"index": "00" * 16, "X": "11" * 16}
    a = fov_digest("A/1/0", 3, parts)
    b = fov_digest("B/1/0", 3, parts)
    assert a != b
    assert fov_digest("A/1/0", 4, parts) != a
    assert fov_digest("A/1/0", 3, {**parts, "X": "12" * 16}) != a
    assert dataset_digest([("A/1/0", a), ("B/1/0", b)]) != dataset_digest(
        [("B/1/0", b), ("A/1/0", a)]
    )
    assert dataset_digest([("A/1/0", a)]) != dataset_digest([("A/1/0", a), ("B/1/0", b)])


@settings(max_examples=40, deadline=None)
@given(float_arrays)
def test_nan_free_promise_gives_the_same_digest(values: np.ndarray) -> None:
    if not np.isnan(values).any():
        assert array_digest(values, nan_free=True) == array_digest(values)
