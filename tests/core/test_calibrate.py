"""Drift measurement and tolerance proposals of ``repro-golden calibrate`` (torch-free parts)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from core_stores import make_embeddings

from repro_golden.cli import main
from repro_golden.core.calibrate import propose, store_drift
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import InputError

Writer = Callable[..., Path]


def test_drift_matches_numpy_on_the_whole_arrays(write_store: Writer) -> None:
    emb = make_embeddings(seed=1)
    rng = np.random.default_rng(7)
    noisy = emb.with_(X=(emb.X + rng.normal(scale=1e-3, size=emb.X.shape)).astype(np.float32))
    drift = store_drift(
        EmbeddingsStore(write_store("noisy", noisy)), EmbeddingsStore(write_store("ref", emb))
    )
    diff = np.abs(noisy.X.astype(np.float64) - emb.X.astype(np.float64))
    assert drift["X"].max_abs == pytest.approx(diff.max(), rel=1e-12)
    assert drift["X"].p999_abs == pytest.approx(np.percentile(diff, 99.9), rel=1e-12)
    assert drift["X"].mean_abs == pytest.approx(diff.mean(), rel=1e-12)
    a, r = noisy.X.astype(np.float64), emb.X.astype(np.float64)
    cosine = (a * r).sum(1) / np.sqrt((a * a).sum(1) * (r * r).sum(1))
    assert drift["X"].min_row_cosine == pytest.approx(cosine.min(), rel=1e-12)
    assert drift["X_projections"].identical


def test_proposal_is_identical_only_without_any_drift(write_store: Writer) -> None:
    emb = make_embeddings()
    ref = EmbeddingsStore(write_store("ref", emb))
    same = store_drift(EmbeddingsStore(write_store("same", emb)), ref)
    floor = ToleranceSpec(1e-5, 1e-4)
    assert propose([same], floor=floor) is None
    values = emb.X.copy()
    values[3, 3] += np.float32(1e-3)
    moved = store_drift(EmbeddingsStore(write_store("moved", emb.with_(X=values))), ref)
    proposal = propose([same, moved], margin=10.0, floor=floor)
    assert proposal is not None
    assert proposal.for_array("X").atol == pytest.approx(10 * moved["X"].max_abs)
    assert proposal.for_array("X_projections") == floor  # never below the case tolerance


def test_drift_needs_the_same_cells(write_store: Writer) -> None:
    emb = make_embeddings()
    other = make_embeddings(fov_rows=(40, 30, 49))
    with pytest.raises(InputError, match="index rows differ"):
        store_drift(
            EmbeddingsStore(write_store("a", emb)), EmbeddingsStore(write_store("b", other))
        )


def test_calibrate_without_the_predict_extra_says_which_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("torch")  # the example generator writes a torch checkpoint
    from repro_golden.examples import generate_example

    case = generate_example(tmp_path / "example", case="example")
    monkeypatch.setitem(sys.modules, "lightning", None)
    monkeypatch.setitem(sys.modules, "lightning.pytorch", None)
    assert main(["calibrate", str(case), "--golden", str(tmp_path / "golden")]) == 2
    assert "repro-golden[predict]" in capsys.readouterr().err


def _run(write_store: Writer, name: str, emb: object, **provenance: object) -> EmbeddingsStore:
    """A store as a prediction records it (case name, checkpoint, environment)."""
    import json

    from repro_golden.core.fingerprint import EnvironmentFingerprint

    env = EnvironmentFingerprint(
        torch="2.14.1", device_type="cpu", cpu_capability="AVX512", num_threads=2, batch_size=64
    )
    recorded = {
        "case_name": "demo",
        "checkpoint": {"file": "model.ckpt", "digest": "xxh3_128:00"},
        "environment": env.to_dict(),
        **provenance,
    }
    return EmbeddingsStore(write_store(name, emb.with_(uns=json.dumps(recorded))))  # type: ignore[attr-defined]


def test_foreign_evidence_never_loosens_this_environment(write_store: Writer) -> None:
    """Verdicts v3 red team: an --against store of another case or checkpoint is refused;
    one of this same environment proposes nothing; only this environment's runs decide."""
    from repro_golden.core.calibrate import calibrate
    from repro_golden.core.golden.expectations import ExpectationKind

    emb = make_embeddings()
    runs = [_run(write_store, f"run{i}", emb) for i in (1, 2)]
    floor = ToleranceSpec(1e-5, 1e-4)
    scaled = emb.with_(X=(emb.X * np.float32(1.05)).astype(np.float32))
    other_case = _run(write_store, "other_case", scaled, case_name="another")
    with pytest.raises(InputError, match="of case 'another'"):
        calibrate(runs, case_name="demo", golden=None, against=[other_case], floor=floor)
    other_ckpt = _run(
        write_store, "other_ckpt", scaled, checkpoint={"file": "m.ckpt", "digest": "xxh3_128:01"}
    )
    with pytest.raises(InputError, match="inputs changed: checkpoint"):
        calibrate(runs, case_name="demo", golden=None, against=[other_ckpt], floor=floor)
    drifted_here = _run(write_store, "drifted_here", scaled)
    result = calibrate(runs, case_name="demo", golden=None, against=[drifted_here], floor=floor)
    assert [p.kind for p in result.proposals] == [ExpectationKind.IDENTICAL]
    assert any("same environment" in e.title for e in result.entries)
