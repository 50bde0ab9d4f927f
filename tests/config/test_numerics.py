"""NumericalMode: defaults, validation, apply/restore, provenance form, lazy torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from repro_golden.config.numerics import NumericalMode
from repro_golden.errors import ConfigError


def test_defaults_are_the_reference_run() -> None:
    mode = NumericalMode()
    assert mode.to_dict() == {
        "seed": 42,
        "precision": "32-true",
        "inference_mode": True,
        "deterministic": True,
        "matmul_precision": "highest",
        "cudnn_benchmark": False,
        "cpu_threads": None,
        "offline": True,
    }


def test_as_dict_round_trips_through_json() -> None:
    mode = NumericalMode(seed=7, deterministic=False, matmul_precision="high")
    assert NumericalMode.from_mapping(json.loads(json.dumps(mode.to_dict()))) == mode


@pytest.mark.parametrize(
    ("mapping", "key"),
    [
        ({"matmul_precision": "tf32"}, "numerics.matmul_precision"),
        ({"precision": "8-true"}, "numerics.precision"),
        ({"seed": -1}, "numerics.seed"),
        ({"deterministic": "yes"}, "numerics.deterministic"),
        ({"threads": 4}, "numerics"),
        ({"cpu_threads": 0}, "numerics.cpu_threads"),
        ({"cpu_threads": True}, "numerics.cpu_threads"),
        ({"cpu_threads": "2"}, "numerics.cpu_threads"),
    ],
)
def test_bad_values_name_file_and_key(mapping: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        NumericalMode.from_mapping(mapping, source=Path("case.yaml"))
    assert info.value.key == key
    assert str(info.value).startswith("case.yaml: ")


def test_trainer_kwargs() -> None:
    mode = NumericalMode(inference_mode=False, cudnn_benchmark=True, deterministic=False)
    assert mode.trainer_kwargs() == {
        "precision": "32-true",
        "inference_mode": False,
        "deterministic": False,
        "benchmark": True,
    }


def test_applied_sets_then_restores_global_state() -> None:
    import torch

    before = (
        torch.get_float32_matmul_precision(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
    )
    rng_before = torch.random.get_rng_state()
    with NumericalMode(matmul_precision="medium", deterministic=True).applied():
        assert torch.get_float32_matmul_precision() == "medium"
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.backends.cudnn.benchmark is False
        first = torch.rand(3)
    with NumericalMode(matmul_precision="medium").applied():
        second = torch.rand(3)
    assert torch.equal(first, second)  # seeded identically
    after = (
        torch.get_float32_matmul_precision(),
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.benchmark,
    )
    assert after == before
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def test_cpu_threads_pinned_for_the_block_then_restored() -> None:
    import torch

    before = torch.get_num_threads()
    pinned = 1 if before != 1 else 2
    with NumericalMode(cpu_threads=pinned).applied():
        assert torch.get_num_threads() == pinned
    assert torch.get_num_threads() == before
    with NumericalMode().applied():
        assert torch.get_num_threads() == before


def test_import_does_not_load_torch() -> None:
    code = "import sys, repro_golden.config.numerics; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("matmul", "tf32"), [("highest", False), ("high", True), ("medium", True)])
def test_one_tf32_switch_for_matmuls_and_convolutions(matmul: str, tf32: bool) -> None:
    """torch leaves cuDNN convolutions in TF32 by default, even at "highest": the mode
    sets both flags from matmul_precision, and restores them after."""
    torch = pytest.importorskip("torch")
    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
    torch.backends.cudnn.allow_tf32 = not tf32
    try:
        mode = NumericalMode(matmul_precision=matmul)
        assert mode.tf32 is tf32
        with mode.applied():
            assert torch.backends.cudnn.allow_tf32 is tf32
            assert torch.backends.cuda.matmul.allow_tf32 is tf32
        assert torch.backends.cudnn.allow_tf32 is (not tf32)
    finally:
        torch.set_float32_matmul_precision(before[0])
        torch.backends.cudnn.allow_tf32 = before[1]
