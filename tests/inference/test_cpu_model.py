"""``cpu_model`` and the capture: the processor model enters every recorded fingerprint.

``probes.cpu_model`` (standard library, since the lightning runner imports it in
the lab's interpreter) is the one reader of ``/proc/cpuinfo``; ``capture_fingerprint``,
used by the builtin pipeline, reads the environment through ``probes.environment``
as the runner does, so both pipelines record the same fields.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from repro_golden.inference.probes import cpu_model

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


@pytest.mark.skipif(not Path("/proc/cpuinfo").is_file(), reason="no /proc/cpuinfo off Linux")
def test_this_machine_has_a_cpu_model() -> None:
    assert cpu_model() is not None


def test_the_capture_records_this_processor_and_maps_lightning_device_names() -> None:
    pytest.importorskip("torch")
    from repro_golden.core.fingerprint import EnvironmentFingerprint
    from repro_golden.inference.fingerprint import capture_fingerprint

    cpu = EnvironmentFingerprint.from_mapping(capture_fingerprint(batch_size=64, device="cpu"))
    assert cpu.cpu_model == cpu_model()
    assert (cpu.device_type, cpu.batch_size) == ("cpu", 64)
    # "gpu" is Lightning's name for CUDA; without CUDA it is recorded, never queried.
    gpu = EnvironmentFingerprint.from_mapping(capture_fingerprint(batch_size=None, device="gpu"))
    assert gpu.device_type == "cuda"
    assert gpu.key != cpu.key
