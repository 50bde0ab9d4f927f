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

#: ``cpu_model`` values as ``runner.cpu_model`` writes them (tests/inference/test_cpu_model.py).
AMD = "AuthenticAMD family 26 model 2 (AMD EPYC), simd 1f0e9a2b"
INTEL = "GenuineIntel family 6 model 143 (Intel Xeon), simd 1f0e9a2b"


def test_a_fingerprint_recorded_before_cpu_model_keeps_its_key() -> None:
    old = EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL)
    assert old.cpu_model is None
    assert old.key == RECORDED_KEY
    assert "cpu_model" not in old.to_dict()


def test_the_processor_model_changes_the_key_and_is_named() -> None:
    old = EnvironmentFingerprint.from_mapping(RECORDED_BEFORE_CPU_MODEL)
    amd = dataclasses.replace(old, cpu_model=AMD)
    intel = dataclasses.replace(old, cpu_model=INTEL)
    assert len({old.key, amd.key, intel.key}) == 3
    assert EnvironmentFingerprint.from_mapping(amd.to_dict()) == amd
    assert "cpu AVX512 [AuthenticAMD family 26 model 2 (AMD EPYC)]" in amd.label()
    assert amd.differences(intel) == {"cpu_model": (amd.cpu_model, intel.cpu_model)}
