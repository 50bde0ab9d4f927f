"""The environment fingerprint names the processor model, and older keys stay valid.

Two machines that both said ``cpu AVX512`` gave the example case other bits (an
AMD EPYC of family 26 against the machine that recorded ``golden/example``), so
the key must tell them apart; golden sets recorded before ``cpu_model`` existed
must still load (their expectation keys are checked against their fields).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from repro_golden.core.fingerprint import EnvironmentFingerprint, cpu_model

#: A fingerprint as recorded in golden/example before ``cpu_model`` existed, with the
#: key that the library of that time computed and wrote beside it.
RECORDED_BEFORE_CPU_MODEL = {
    "schema": "repro-golden/environment/1",
    "torch": "2.14.1+cu130",
    "cuda": "13.0",
    "cudnn": "92400",
    "device_type": "cpu",
    "device_name": "x86_64",
    "compute_capability": None,
    "cpu_capability": "AVX512",
    "num_threads": 2,
    "batch_size": 64,
    "matmul_precision": "highest",
    "allow_tf32": False,
    "cudnn_allow_tf32": True,
    "cudnn_deterministic": True,
    "cudnn_benchmark": False,
}
RECORDED_KEY = "env-bc8c231200e28863"

AMD = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512_bf16 rdrand

processor\t: 1
vendor_id\t: AuthenticAMD
cpu family\t: 26
model\t\t: 2
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 avx avx2 fma avx512f avx512_bf16 rdrand
"""
INTEL = (
    AMD.replace("AuthenticAMD", "GenuineIntel")
    .replace("26", "6")
    .replace("model\t\t: 2", "model\t\t: 143")
)
ARM = "processor\t: 0\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU part\t: 0xd4f\n"
ARM += "Features\t: fp asimd sve sve2 atomics\n"


def test_a_fingerprint_recorded_before_cpu_model_keeps_its_key() -> None:
    old = EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL)
    assert old.cpu_model is None
    assert old.key == RECORDED_KEY
    assert "cpu_model" not in old.to_dict()


def test_the_processor_model_changes_the_key_and_is_named() -> None:
    old = EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL)
    amd = dataclasses.replace(old, cpu_model=cpu_model(AMD))
    intel = dataclasses.replace(old, cpu_model=cpu_model(INTEL))
    assert len({old.key, amd.key, intel.key}) == 3
    assert EnvironmentFingerprint.from_mapping(amd.to_dict()) == amd
    assert "cpu AVX512 [AuthenticAMD family 26 model 2 (AMD EPYC)]" in amd.label()
    assert amd.differences(intel) == {"cpu_model": (amd.cpu_model, intel.cpu_model)}


def test_cpu_model_reads_the_first_processor_and_digests_only_simd_flags() -> None:
    amd = cpu_model(AMD)
    assert amd is not None
    assert amd.startswith("AuthenticAMD family 26 model 2 (AMD EPYC), simd ")
    # A flag that picks no kernel (rdrand) does not change it; a SIMD flag does.
    assert cpu_model(AMD.replace(" rdrand", "")) == amd
    assert cpu_model(AMD.replace(" avx512_bf16", "")) != amd
    arm = cpu_model(ARM)
    assert arm is not None
    assert arm.startswith("0x41 family 8 model 0xd4f, simd ")


def test_the_standalone_runner_says_the_same() -> None:
    """The runner (in the lab's interpreter) cannot import repro_golden: it has a copy."""
    runner_file = (
        Path(__file__).resolve().parents[2] / "src/repro_golden/inference/pipelines/runner.py"
    )
    spec = importlib.util.spec_from_file_location("standalone_runner", runner_file)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for text in (AMD, INTEL, ARM, None):
        assert module.cpu_model(text) == cpu_model(text)


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="no /proc/cpuinfo off Linux")
def test_this_machine_has_a_cpu_model() -> None:
    assert cpu_model() is not None
