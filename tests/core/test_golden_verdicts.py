"""Verdicts a regression guard can trust (issue 11): full copies, expectations by environment,
strict mode, detection limits, attribution, per-array tolerance, schema 1 still read."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from core_stores import Embeddings, make_embeddings

from repro_golden.api import check_golden, compare_embeddings, write_golden
from repro_golden.cli import main
from repro_golden.core.fingerprint import EnvironmentFingerprint
from repro_golden.core.golden.expectations import ExpectationKind
from repro_golden.core.golden.format import SCHEMA_V1
from repro_golden.core.golden.store import GoldenStore
from repro_golden.core.outcomes import Status
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
from repro_golden.errors import GoldenFileError, InputError

Writer = Callable[..., Path]
TOL = {"atol": 1e-5, "rtol": 1e-4}

HERE = EnvironmentFingerprint(
    torch="2.14.1",
    cuda="13.0",
    cudnn="92400",
    device_type="cpu",
    device_name="x86_64",
    compute_capability="none",
    cpu_capability="AVX512",
    num_threads=2,
    batch_size=64,
    matmul_precision="highest",
    allow_tf32=False,
    cudnn_allow_tf32=True,
    cudnn_deterministic=True,
    cudnn_benchmark=False,
)
GPU = dataclasses.replace(
    HERE, device_type="cuda", device_name="NVIDIA H200", compute_capability="9.0"
)


def _provenance(env: EnvironmentFingerprint | None) -> Any:
    prov: dict[str, Any] = {
        "case": {"name": "demo", "tolerance": TOL},
        "checkpoint": {"file": "model.ckpt", "digest": "xxh3_128:00"},
        "versions": {"torch": env.torch if env else "?"},
    }
    if env is not None:
        prov["environment"] = env.to_dict()
    return json.dumps(prov, sort_keys=True)  # as predict writes it: one JSON string


def _store(
    write_store: Writer, name: str, emb: Embeddings, env: EnvironmentFingerprint | None
) -> Path:
    return write_store(name, emb.with_(uns=_provenance(env)))


def _changed(emb: Embeddings, delta: float | str, row: int = 5, col: int = 7) -> Embeddings:
    values = emb.X.copy()
    value = values[row, col]
    if delta == "ulp":
        values[row, col] = np.nextafter(value, np.float32(np.inf))
    else:
        values[row, col] = np.float32(value + np.float32(delta))
    return emb.with_(X=values)


@pytest.fixture
def golden_here(write_store: Writer, tmp_path: Path) -> Path:
    """Golden files with a full copy and `identical` verified for HERE by two runs."""
    emb = make_embeddings()
    first = _store(write_store, "run1", emb, HERE)
    second = _store(write_store, "run2", emb, HERE)
    write_golden(first, tmp_path / "golden", case="demo", verify_with=second)
    return tmp_path / "golden"


def test_full_copy_is_stored_verified_and_small(golden_here: Path) -> None:
    golden = GoldenStore(golden_here).read()
    assert golden.full is not None
    assert [e.kind for e in golden.expectations] == [ExpectationKind.IDENTICAL]
    assert golden.expectations[0].environment == HERE
    assert golden.tolerance == ArrayTolerances(ToleranceSpec(**TOL))
    full = next(golden_here.glob("full-*.bin"))
    assert full.stat().st_size < make_embeddings().X.nbytes + make_embeddings().P.nbytes


@pytest.mark.parametrize("delta", [1e-3, 1e-6, "ulp"])
def test_any_change_fails_where_results_reproduce(
    golden_here: Path, write_store: Writer, delta: float | str
) -> None:
    changed = _store(write_store, "changed", _changed(make_embeddings(), delta), HERE)
    report = check_golden(changed, golden_here)
    assert not report.passed
    statuses = {o.status for o in report.outcomes}
    assert Status.CHANGED_WHERE_REPRODUCIBLE in statuses
    assert report.attribution is not None
    assert main(["check", str(changed), "--golden", str(golden_here)]) == 1


def test_unchanged_store_passes_identical(golden_here: Path, write_store: Writer) -> None:
    same = _store(write_store, "same", make_embeddings(), HERE)
    report = check_golden(same, golden_here)
    assert report.passed
    assert {o.status for o in report.outcomes} == {Status.IDENTICAL}
    assert main(["check", str(same), "--golden", str(golden_here)]) == 0


@pytest.mark.parametrize(
    ("delta", "status"),
    [(1e-3, Status.VIOLATED), (1e-6, Status.WITHIN_TOLERANCE), ("ulp", Status.WITHIN_TOLERANCE)],
)
def test_other_environment_is_judged_by_the_full_copy(
    golden_here: Path, write_store: Writer, delta: float | str, status: Status
) -> None:
    changed = _store(write_store, "gpu", _changed(make_embeddings(), delta), GPU)
    report = check_golden(changed, golden_here, evidence=False)
    assert {o.status for o in report.outcomes} == {Status.IDENTICAL, status}
    assert Status.CONSISTENT not in {o.status for o in report.outcomes}
    assert any("no expectation recorded" in n for n in report.notes)
    if status is Status.VIOLATED:
        violated = next(o for o in report.outcomes if o.status is Status.VIOLATED)
        assert violated.violation is not None
        assert violated.violation.rows == (5,)
        assert report.attribution is not None
        assert "environment" in report.attribution.areas()
        assert "same inputs; environment changed" in report.attribution.diagnosis


@pytest.mark.parametrize("delta", [1e-3, 1e-6, "ulp"])
def test_summaries_only_pass_states_the_detection_limit_and_strict_fails(
    write_store: Writer, tmp_path: Path, delta: float | str
) -> None:
    emb = make_embeddings()
    write_golden(_store(write_store, "ref", emb, HERE), tmp_path / "g", full_copy_limit=0)
    changed = _store(write_store, "gpu", _changed(emb, delta), GPU)
    report = check_golden(changed, tmp_path / "g", evidence=False)
    consistent = [o for o in report.outcomes if o.status is Status.CONSISTENT]
    assert report.passed
    assert len(consistent) == 1
    limit = consistent[0].detection_limit
    assert limit is not None
    assert 1e-3 < limit < 1.0
    assert "could go unseen" in report.render_terminal()
    assert "1 passed on summaries alone" in report.render_terminal()
    strict = check_golden(changed, tmp_path / "g", strict=True, evidence=False)
    assert not strict.passed
    assert Status.UNPROVEN in {o.status for o in strict.outcomes}
    assert (
        main(
            [
                "check",
                str(changed),
                "--golden",
                str(tmp_path / "g"),
                "--no-identical-by-evidence",
                "--golden-strict",
            ]
        )
        == 1
    )
    assert (
        main(["check", str(changed), "--golden", str(tmp_path / "g"), "--no-identical-by-evidence"])
        == 0
    )


@pytest.mark.parametrize("row", [0, 11, 45, 119])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_a_single_element_change_above_the_detection_limit_is_flagged(
    write_store: Writer, tmp_path: Path, row: int, sign: float
) -> None:
    """The stated limit is honest: just above it the summaries prove the violation."""
    emb = make_embeddings()
    write_golden(_store(write_store, "ref", emb, HERE), tmp_path / "g", full_copy_limit=0)
    probe = check_golden(
        _store(write_store, "p", _changed(emb, 1e-6, row=row), GPU), tmp_path / "g", evidence=False
    )
    limit = next(o.detection_limit for o in probe.outcomes if o.status is Status.CONSISTENT)
    assert limit is not None
    changed = _store(write_store, "c", _changed(emb, sign * limit * 1.001, row=row), GPU)
    report = check_golden(changed, tmp_path / "g", evidence=False)
    assert not report.passed
    assert Status.VIOLATED in {o.status for o in report.outcomes}


def test_store_without_environment_assumes_nothing_and_says_so(
    golden_here: Path, write_store: Writer
) -> None:
    """A store made by another tool records no environment: no expectation applies, the
    checking process is not fingerprinted (no torch import), and the report says so."""
    changed = _store(write_store, "anon", _changed(make_embeddings(), 1e-3), None)
    report = check_golden(changed, golden_here)
    assert any(
        "records no environment: it is judged by what the golden set" in n for n in report.notes
    )
    assert report.extra["expectation"] is None
    assert report.attribution is not None
    assert not report.attribution.environment_assumed
    assert not report.passed  # the full copy proves the 1e-3 change


def test_identical_needs_two_bit_identical_runs(write_store: Writer, tmp_path: Path) -> None:
    emb = make_embeddings()
    first = _store(write_store, "a", emb, HERE)
    drifted = _store(write_store, "b", _changed(emb, "ulp"), HERE)
    with pytest.raises(InputError, match="do not reproduce bit for bit"):
        write_golden(first, tmp_path / "g", verify_with=drifted)
    anonymous = _store(write_store, "c", emb, None)
    with pytest.raises(InputError, match="same known environment"):
        write_golden(first, tmp_path / "g2", verify_with=anonymous)
    write_golden(first, tmp_path / "g3")
    # A plain write only assumes `identical` for its own (deterministic) environment.
    assert [e.verified for e in GoldenStore(tmp_path / "g3").read().expectations] == [False]
    with pytest.raises(InputError, match="the same store"):
        write_golden(first, tmp_path / "g5", verify_with=first)
    cli = ["golden", "write", str(first), "--out", str(tmp_path / "g4"), "--verify-with"]
    assert main([*cli, str(drifted)]) == 2
    assert main([*cli, str(_store(write_store, "d", emb, HERE))]) == 0


def test_per_array_tolerance_is_recorded_and_applied(write_store: Writer, tmp_path: Path) -> None:
    emb = make_embeddings()
    ref = _store(write_store, "ref", emb, HERE)
    out = tmp_path / "g"
    argv = ["golden", "write", str(ref), "--out", str(out), "--atol", "1e-6"]
    assert main([*argv, "--tolerance", "X=0.01,0"]) == 0
    recorded = GoldenStore(out).read().tolerance
    assert recorded is not None
    assert recorded.for_array("X") == ToleranceSpec(0.01, 0.0)
    assert recorded.for_array("X_projections") == ToleranceSpec(1e-6, 0.0)
    changed = _store(write_store, "gpu", _changed(emb, 1e-3), GPU)
    assert check_golden(changed, out, evidence=False).passed  # X allows 0.01
    projections = emb.P.copy()
    projections[0, 0] += np.float32(1e-3)
    moved = _store(write_store, "gpu2", emb.with_(P=projections), GPU)
    assert not check_golden(moved, out, evidence=False).passed  # X_projections allows 1e-6
    assert (
        main(["golden", "write", str(ref), "--out", str(tmp_path / "h"), "--tolerance", "X"]) == 2
    )


def test_compare_defaults_to_the_reference_case_tolerance(
    write_store: Writer, tmp_path: Path
) -> None:
    emb = make_embeddings()
    ref = _store(write_store, "ref", emb, HERE)
    small = _store(write_store, "small", _changed(emb, 1e-6), GPU)
    assert compare_embeddings(small, ref).passed  # atol 1e-5 recorded with the reference
    assert not compare_embeddings(small, ref, tolerance=ToleranceSpec()).passed
    bare = write_store("bare", emb.with_(uns=None))
    assert not compare_embeddings(write_store("bare2", _changed(emb, 1e-6)), bare).passed


def test_schema_1_files_are_still_read(write_store: Writer, tmp_path: Path) -> None:
    emb = make_embeddings()
    ref = _store(write_store, "ref", emb, HERE)
    write_golden(ref, tmp_path / "g", full_copy_limit=0)
    manifest = tmp_path / "g" / "golden.json"
    data = json.loads(manifest.read_text())
    for key in ("tolerance", "environment", "expectations", "full", "full_copy_limit"):
        del data[key]
    data["schema"] = SCHEMA_V1
    manifest.write_text(json.dumps(data))
    golden = GoldenStore(tmp_path / "g").read()
    assert golden.tolerance is None
    assert golden.expectations == ()
    assert golden.full is None
    changed = _store(write_store, "c", _changed(emb, 1e-6), GPU)
    report = check_golden(changed, tmp_path / "g", evidence=False)
    assert report.passed  # the case tolerance recorded in the provenance applies
    assert report.extra["tolerance"]["default"]["atol"] == TOL["atol"]


def test_tampered_full_copy_is_refused(golden_here: Path) -> None:
    full = next(golden_here.glob("full-*.bin"))
    blob = bytearray(full.read_bytes())
    blob[-5] ^= 0xFF
    full.write_bytes(bytes(blob))
    with pytest.raises(GoldenFileError, match="does not match its digest"):
        GoldenStore(golden_here).read()


def test_full_copy_of_other_values_is_refused_by_the_fov_digests(
    golden_here: Path, write_store: Writer, tmp_path: Path
) -> None:
    """A full copy whose file digest was recomputed still has to hash to the FOV digests."""
    from repro_golden.core.digest import bytes_digest
    from repro_golden.core.golden.full import encode_full

    golden = GoldenStore(golden_here).read()
    assert golden.full is not None
    arrays = {k: v.copy() for k, v in golden.full.arrays.items()}
    arrays["X"][3, 3] += np.float32(1.0)
    blob = encode_full(arrays)
    digest = bytes_digest(blob)
    (golden_here / f"full-{digest}.bin").write_bytes(blob)
    manifest = golden_here / "golden.json"
    data = json.loads(manifest.read_text())
    data["full"].update(file=f"full-{digest}.bin", xxh3_128=digest, bytes=len(blob))
    manifest.write_text(json.dumps(data))
    with pytest.raises(GoldenFileError, match="full copy does not hash") as info:
        GoldenStore(golden_here).read()
    assert info.value.key == "fovs[0].arrays.X.digest"


def test_full_copy_limit_decides(write_store: Writer, tmp_path: Path) -> None:
    ref = _store(write_store, "ref", make_embeddings(), HERE)
    write_golden(ref, tmp_path / "small", full_copy_limit=1000)
    assert GoldenStore(tmp_path / "small").read().full is None
    assert not list((tmp_path / "small").glob("full-*.bin"))
    argv = ["golden", "write", str(ref), "--out", str(tmp_path / "none"), "--full-copy-limit"]
    assert main([*argv, "0"]) == 0
    assert GoldenStore(tmp_path / "none").read().full is None
    negative = ["golden", "write", str(ref), "--out", str(tmp_path / "neg")]
    assert main([*negative, "--full-copy-limit", "-1"]) == 2


def test_rewrite_keeps_expectations_only_for_unchanged_values(
    golden_here: Path, write_store: Writer
) -> None:
    emb = make_embeddings()
    write_golden(_store(write_store, "again", emb, HERE), golden_here)
    assert [e.verified for e in GoldenStore(golden_here).read().expectations] == [True]
    write_golden(_store(write_store, "other", _changed(emb, 1e-3), HERE), golden_here)
    # The verified expectation described other values: only the new write's assumption is left.
    assert [e.verified for e in GoldenStore(golden_here).read().expectations] == [False]


def test_attribution_names_what_moved() -> None:
    from repro_golden.core.attribution import attribute

    golden = {
        "checkpoint": {"digest": "xxh3_128:aa"},
        "inputs": {"A/1/0": {"tracks": "xxh3_128:01"}},
        "versions": {"torch": "2.14.1"},
        "code": {"viscy.Model": {"version": "1.0", "commit": "abc"}},
    }
    code_moved = {**golden, "code": {"viscy.Model": {"version": "1.0", "commit": "def"}}}
    verdict = attribute(golden, code_moved, golden_environment=HERE, obtained_environment=HERE)
    assert verdict.diagnosis.startswith("inputs and environment identical: the code under test")
    assert [c.field for c in verdict.changes] == ["code.viscy.Model.commit"]
    inputs_moved = {**golden, "inputs": {"A/1/0": {"tracks": "xxh3_128:02"}}}
    verdict = attribute(golden, inputs_moved, golden_environment=HERE, obtained_environment=GPU)
    assert verdict.diagnosis.startswith("the inputs differ")
    assert {c.area for c in verdict.changes} == {"inputs", "environment"}
    verdict = attribute(
        golden, golden, golden_environment=HERE, obtained_environment=GPU, judged_by="X"
    )
    assert "environment changed (environment device_type: cpu -> cuda" in verdict.diagnosis
