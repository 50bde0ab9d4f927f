"""The environment fingerprint names the processor model, and older keys stay valid.

Two machines that both said ``cpu AVX512`` gave the example case other bits (an
AMD EPYC of family 26 against the machine that recorded ``golden/example``), so
the key must tell them apart; golden sets recorded before ``cpu_model`` existed
must still load (their expectation keys are checked against their fields).
"""

from __future__ import annotations

import dataclasses

from repro_golden.core.fingerprint import EnvironmentFingerprint

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

#: ``cpu_model`` values as ``probes.cpu_model`` writes them (tests/inference/test_cpu_model.py).
AMD = "AuthenticAMD family 26 model 2 (AMD EPYC), simd 1f0e9a2b"
INTEL = "GenuineIntel family 6 model 143 (Intel Xeon), simd 1f0e9a2b"


def test_a_fingerprint_recorded_before_cpu_model_keeps_its_key() -> None:
    old = EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL)
    assert old.cpu_model is None
    assert old.legacy_key == RECORDED_KEY  # what golden files recorded, still accepted
    assert "cpu_model" not in old.to_dict()


def test_a_cpu_key_leaves_the_cuda_settings_out() -> None:
    """A CPU run's bits do not depend on TF32 or cuDNN flags: the builtin now turns cuDNN
    TF32 off at "highest" (it was torch's default True), and the key must not move."""
    old = EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL)
    flags_off = dataclasses.replace(old, cudnn_allow_tf32=False, cudnn_deterministic=False)
    assert flags_off.key == old.key
    assert dataclasses.replace(old, num_threads=1).key != old.key
    assert dataclasses.replace(old, matmul_precision="medium").key != old.key
    assert dataclasses.replace(old, torch="2.14.1+cpu").key != old.key


def test_the_processor_model_changes_the_key_and_is_named() -> None:
    old = EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL)
    amd = dataclasses.replace(old, cpu_model=AMD)
    intel = dataclasses.replace(old, cpu_model=INTEL)
    assert len({old.key, amd.key, intel.key}) == 3
    assert EnvironmentFingerprint.from_mapping(amd.to_dict()) == amd
    assert "cpu AVX512 [AuthenticAMD family 26 model 2 (AMD EPYC)]" in amd.label()
    assert amd.differences(intel) == {"cpu_model": (amd.cpu_model, intel.cpu_model)}


def test_a_cuda_key_leaves_the_host_cpu_out_and_names_the_gpu_fields() -> None:
    """On a GPU the GPU computes the bits: two hosts with one H100 share a key; the SM
    count, driver and NVIDIA_TF32_OVERRIDE enter it when known."""
    gpu = dataclasses.replace(
        EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL),
        device_type="cuda",
        device_name="NVIDIA H100 80GB HBM3",
        compute_capability="9.0",
        cpu_model="AuthenticAMD family 25 model 17 (AMD EPYC), simd 1",
    )
    other_host = dataclasses.replace(gpu, cpu_model="GenuineIntel family 6", cpu_capability="AVX2")
    assert gpu.key == other_host.key
    assert gpu.legacy_key != gpu.key  # what keys looked like before: still read
    for field, value in (("sm_count", 132), ("cuda_driver", "580.95"), ("tf32_override", "0")):
        assert dataclasses.replace(gpu, **{field: value}).key != gpu.key
        known = dataclasses.replace(gpu, **{field: value})
        assert EnvironmentFingerprint.from_mapping(known.to_dict()) == known


def test_an_expectation_recorded_under_a_legacy_cuda_key_still_loads() -> None:
    from repro_golden.core.golden.expectations import Expectation, ExpectationKind

    gpu = dataclasses.replace(
        EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL), device_type="cuda"
    )
    recorded = {**Expectation(gpu, ExpectationKind.IDENTICAL).to_dict(), "key": gpu.legacy_key}
    assert gpu.legacy_key != gpu.key
    loaded = Expectation.from_mapping(recorded, path=None, key="expectations[0]")
    assert loaded.key == gpu.key
