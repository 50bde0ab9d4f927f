"""Emulated precisions of the oracle: the roundings are IEEE round-to-nearest-even, bit for bit."""

from __future__ import annotations

import struct

import pytest
import torch
from torch import nn

from repro_golden.inference.model.precision import (
    ShiftAddDepthwise,
    emulate,
    model_input,
    round_bf16,
    round_tf32,
)


def _f32(bits: int) -> float:
    return float(struct.unpack("<f", struct.pack("<I", bits))[0])


def _bits(value: float) -> int:
    return int(struct.unpack("<I", struct.pack("<f", value))[0])


@pytest.mark.parametrize(
    ("bits", "expected"),
    [
        (0x3F800000, 0x3F800000),  # 1.0 exact
        (0x3F800FFF, 0x3F800000),  # below half an ulp: down
        (0x3F801000, 0x3F800000),  # tie, kept bit even: stays
        (0x3F803000, 0x3F804000),  # tie, kept bit odd: up to even
        (0x3F801001, 0x3F802000),  # above half: up
        (0xBF801001, 0xBF802000),  # negative: same magnitude rule
        (0x3FFFF000, 0x40000000),  # carry into the exponent
        (0x7F7FFFFF, 0x7F800000),  # largest finite rounds past: infinity
        (0x7F800000, 0x7F800000),  # infinity stays
        (0x00001001, 0x00002000),  # subnormal: same quantum rule
    ],
)
def test_round_tf32_nearest_even(bits: int, expected: int) -> None:
    out = round_tf32(torch.tensor([_f32(bits)], dtype=torch.float32))
    assert _bits(float(out[0])) == expected


def test_round_tf32_keeps_nan_and_truncates_on_request() -> None:
    nan_low_payload = _f32(0x7F800001)  # rounding alone would make it infinity
    out = round_tf32(torch.tensor([nan_low_payload, _f32(0x3F801FFF)]))
    assert torch.isnan(out[0])
    assert _bits(float(out[1])) == 0x3F802000
    truncated = round_tf32(torch.tensor([_f32(0x3F801FFF), _f32(0xBF801FFF)]), mode="truncate")
    assert [_bits(float(v)) for v in truncated] == [0x3F800000, 0xBF800000]


def test_round_tf32_error_within_half_an_ulp_of_ten_bits() -> None:
    x = torch.randn(100_000, generator=torch.Generator().manual_seed(0)) * 1e3
    rounded = round_tf32(x)
    assert (rounded.view(torch.int32) & 0x1FFF == 0).all()
    relative = ((rounded.double() - x.double()).abs() / x.double().abs()).max()
    assert relative <= 2.0**-11
    assert relative > 2.0**-12  # it does round (not a no-op)


def test_round_bf16_equals_torch_bfloat16() -> None:
    generator = torch.Generator().manual_seed(1)
    x = torch.cat(
        [
            torch.randn(100_000, generator=generator) * 10.0,
            torch.tensor([_f32(0x3F808000), _f32(0x3F818000), 3.0e38, -3.0e38, 1e-40]),
        ]
    )
    assert torch.equal(round_bf16(x), x.to(torch.bfloat16).to(torch.float32))


def test_round_refuses_other_dtypes() -> None:
    with pytest.raises(TypeError, match="float32"):
        round_tf32(torch.ones(2, dtype=torch.float64))


class _Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, groups=2)
        self.linear = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.conv(x).flatten(1)[:, :8])


def test_emulate_rounds_operands_and_leaves_the_original() -> None:
    torch.manual_seed(0)
    model = _Tiny().eval()
    original = model.linear.weight.detach().clone()
    x = torch.randn(4, 2, 2, 2)
    tf32 = emulate(model, "tf32")
    assert torch.equal(model.linear.weight, original)
    assert torch.equal(tf32.linear.weight, round_tf32(original))
    assert torch.equal(tf32.linear.bias, model.linear.bias)  # TF32: bias stays float32
    bf16 = emulate(model, "bf16")
    assert torch.equal(bf16.linear.bias, round_bf16(model.linear.bias.detach()))
    with torch.no_grad():
        expected = nn.functional.linear(
            round_tf32(
                nn.functional.conv2d(
                    round_tf32(x),
                    round_tf32(model.conv.weight),
                    model.conv.bias,
                    padding=1,
                    groups=2,
                ).flatten(1)[:, :8]
            ),
            round_tf32(original),
            model.linear.bias,
        )
        assert torch.equal(tf32(x), expected)
        out = bf16(x)
        assert torch.equal(out, round_bf16(out))  # bf16 outputs are bf16 values
        exact = emulate(model, "fp64")(model_input(x, "fp64"))
        assert exact.dtype == torch.float64
        assert 0 < (tf32(x).double() - exact).abs().max() < 1e-2


def test_fp64_depthwise_shift_add_equals_conv2d() -> None:
    torch.manual_seed(2)
    for stride, padding, kernel in ((1, 3, 7), (2, 1, 3)):
        conv = nn.Conv2d(6, 6, kernel, stride=stride, padding=padding, groups=6).double()
        x = torch.randn(3, 6, 17, 20, dtype=torch.float64)
        with torch.no_grad():
            assert torch.allclose(ShiftAddDepthwise(conv)(x), conv(x), rtol=0, atol=1e-13)
    swapped = emulate(_Tiny(), "fp64")
    assert isinstance(swapped.conv, ShiftAddDepthwise)


def test_emulate_refuses_unknown_precision_and_models_without_layers() -> None:
    with pytest.raises(ValueError, match="fp16"):
        emulate(_Tiny(), "fp16")
    with pytest.raises(ValueError, match="no convolution or linear"):
        emulate(nn.ReLU(), "tf32")
    with pytest.raises(TypeError, match="float32 batch"):
        model_input(torch.ones(1, dtype=torch.float64), "fp32")
