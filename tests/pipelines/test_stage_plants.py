"""Stage digests name where a planted divergence starts (builtin pipeline, tiny case).

Each test changes one thing between a baseline run and a second run, as a
regression would, and checks that :func:`first_divergence` names that stage,
and that the reports a user reads name it too (``compare`` against the
baseline store, ``check`` against golden files written from it): other
batching (rows), other normalization statistics (model inputs), one changed
weight (model outputs), a renamed obs column (written layout only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from tiny_case import write_tiny_case

from repro_golden.api import check_golden, compare_embeddings, write_golden
from repro_golden.config.load import load_case
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.stages import Stage, first_divergence
from repro_golden.inference import writer
from repro_golden.inference.predict import predict


def _run(case_file: Path, out: Path, **options: Any) -> dict[str, Any]:
    predict(load_case(case_file), output=out, progress=False, **options)
    provenance = EmbeddingsStore(out).provenance()
    assert provenance is not None
    return provenance


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    case_file = write_tiny_case(tmp_path_factory.mktemp("plants") / "case")
    provenance = _run(case_file, case_file.parent / "baseline.zarr")
    write_golden(case_file.parent / "baseline.zarr", case_file.parent / "golden", case="tiny")
    return case_file, provenance


def _reports_name(obtained: Path, case_file: Path, stage: Stage) -> None:
    """Both reports carry the line naming ``stage`` (terminal and JSON forms)."""
    line = f"first diverging stage: {stage.value}"
    for report in (
        compare_embeddings(obtained, case_file.parent / "baseline.zarr"),
        check_golden(obtained, case_file.parent / "golden"),
    ):
        assert line in report.render_terminal(), report.render_terminal()
        assert any(line in note for note in report.to_dict()["notes"])


def test_identical_rerun_reports_no_stage(
    baseline: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    case_file, _ = baseline
    _run(case_file, tmp_path / "same.zarr")
    report = compare_embeddings(tmp_path / "same.zarr", case_file.parent / "baseline.zarr")
    assert report.passed
    assert "diverging stage" not in report.render_terminal()


def test_rerun_is_identical(baseline: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    case_file, reference = baseline
    assert first_divergence(_run(case_file, tmp_path / "again.zarr"), reference).identical


def test_other_batching_is_rows(baseline: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    case_file, reference = baseline
    obtained = _run(case_file, tmp_path / "b3.zarr", batch_size=3)
    assert first_divergence(obtained, reference).stage is Stage.ROWS
    _reports_name(tmp_path / "b3.zarr", case_file, Stage.ROWS)


def test_changed_normalization_is_inputs(
    baseline: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    case_file, reference = baseline
    attrs = next((case_file.parent / "plate.zarr").glob("*/*/*/.zattrs"))
    original = attrs.read_text()
    record = json.loads(original)
    for channel in record["normalization"].values():
        channel["fov_statistics"]["std"] = float(channel["fov_statistics"]["std"]) * (1 + 1e-3)
    attrs.write_text(json.dumps(record))
    try:
        obtained = _run(case_file, tmp_path / "norm.zarr")
    finally:
        attrs.write_text(original)
    divergence = first_divergence(obtained, reference)
    assert divergence.stage is Stage.INPUTS, divergence.render()
    _reports_name(tmp_path / "norm.zarr", case_file, Stage.INPUTS)


def test_changed_weight_is_outputs(baseline: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    case_file, reference = baseline
    payload = torch.load(case_file.parent / "model.ckpt", weights_only=True)
    key = next(k for k, v in payload["state_dict"].items() if v.dtype.is_floating_point)
    payload["state_dict"][key] = payload["state_dict"][key] * 1.001
    changed = tmp_path / "changed.ckpt"
    torch.save(payload, changed)
    obtained = _run(case_file, tmp_path / "weight.zarr", ckpt=changed)
    divergence = first_divergence(obtained, reference)
    assert divergence.stage is Stage.OUTPUTS, divergence.render()
    _reports_name(tmp_path / "weight.zarr", case_file, Stage.OUTPUTS)


def test_renamed_obs_column_is_layout(
    baseline: tuple[Path, dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_file, reference = baseline
    original = writer.write_embeddings

    def renaming(path: Path, merged: Any, **kwargs: Any) -> None:
        index = dict(merged["index"])
        index["parent"] = index.pop("parent_id")
        original(path, {**merged, "index": index}, **kwargs)

    monkeypatch.setattr(writer, "write_embeddings", renaming)
    obtained = _run(case_file, tmp_path / "renamed.zarr")
    divergence = first_divergence(obtained, reference)
    assert divergence.stage is Stage.LAYOUT, divergence.render()
    assert "obs" in divergence.detail
    _reports_name(tmp_path / "renamed.zarr", case_file, Stage.LAYOUT)
