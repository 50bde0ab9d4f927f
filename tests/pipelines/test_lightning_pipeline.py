"""The lightning pipeline end to end on a toy lab package, in a subprocess interpreter.

What a user sees: the config's own classes run (their writer's output is
published at the output path, with stage digests, INFER-01 and code
provenance); an unknown key is refused as LightningCLI refuses it (exit 2);
a class that does not import names class, interpreter and error (exit 2); a
crash of the pipeline under test is a failed INFER-02 with its traceback (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from toy_configs import lab_env, toy_checkpoint, toy_config

from repro_golden.cli import main
from repro_golden.core.embeddings import EmbeddingsStore


def _config(tmp_path: Path, **model_args: Any) -> Path:
    return toy_config(tmp_path, **model_args)


@pytest.fixture(autouse=True)
def _lab_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTHONPATH", lab_env()["PYTHONPATH"])
    monkeypatch.chdir(tmp_path)


def _predict(config: Path, *extra: str, python: str = sys.executable, **ckpt: Any) -> int:
    toy_checkpoint(config.parent, **ckpt)
    return main(
        [
            "predict",
            str(config),
            "--pipeline",
            "lightning",
            "--python",
            python,
            "--output",
            "out.zarr",
            "--no-progress",
            *extra,
        ]
    )


def test_runs_their_classes_and_publishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _predict(_config(tmp_path)) == 0
    assert not (tmp_path / "theirs.zarr").exists()  # redirected, then published here:
    store = EmbeddingsStore(tmp_path / "out.zarr")
    assert store.num_rows == 6
    provenance = store.provenance()
    assert provenance is not None
    assert [b["rows"] for b in provenance["stages"]["batches"]] == [4, 2]
    assert set(provenance["code"]) == {
        "toy_lab.Toy",
        "toy_lab.ToyEncoder",
        "toy_lab.ToyData",
        "toy_lab.ToyWriter",
    }
    assert provenance["pipeline"]["kind"] == "lightning"
    assert provenance["infer01"]["status"] == "pass"
    out = capsys.readouterr().out
    assert "INFER-01 PASS" in out
    assert "6 cells" in out
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_unknown_key_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _predict(_config(tmp_path, fial=True)) == 2
    assert "fial" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "out.zarr").exists()


def test_class_that_does_not_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("toy_lab.ToyData", "toy_lab_missing.ToyData"))
    assert _predict(config) == 2
    err = capsys.readouterr().err
    assert "toy_lab_missing.ToyData" in err
    assert sys.executable in err
    assert "ModuleNotFoundError" in err


def test_crash_is_a_failed_infer02(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _predict(_config(tmp_path, fail=True)) == 1
    out = capsys.readouterr().out
    assert "INFER-02 FAIL" in out
    assert "planted failure in the pipeline under test" in out
    assert "predict_step" in out  # the traceback tail
    assert not (tmp_path / "out.zarr").exists()


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_provenance_records_the_classes_that_ran(tmp_path: Path) -> None:
    """A checkpoint naming the config's own class (and other hyper-parameters) runs."""
    config = _config(tmp_path)
    assert _predict(config, hyper_parameters={"_class_path": "toy_lab.Toy", "slow": 0.0}) == 0
    provenance = EmbeddingsStore(tmp_path / "out.zarr").provenance()
    assert provenance is not None
    ran = provenance["pipeline"]["ran"]
    assert ran == {"model": "toy_lab.Toy", "datamodule": "toy_lab.ToyData"}
    assert provenance["pipeline"]["checkpoint_hyper_parameters"] == ["slow"]
    ranks = provenance["ranks"]
    assert [(r["rank"], r["cells"], r["batches"]) for r in ranks] == [(0, 6, 2)]


# --------------------------------------------------------------- faults and bad input: exit 2


def test_not_a_python_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _predict(_config(tmp_path), python="/bin/ls") == 2
    line = _one_line(capsys.readouterr().err)
    assert "/bin/ls is not a Python interpreter the runner can use" in line
    assert "[python]" in line
    assert not (tmp_path / "out.zarr").exists()


def test_python_without_torch_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    venv = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    assert _predict(_config(tmp_path), python=python) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"the pipeline's interpreter {python} cannot run it" in line
    assert "no module named 'yaml', 'torch', 'lightning', 'jsonargparse'" in line


def test_module_missing_when_the_lab_code_runs_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An incomplete lab environment, not a regression of the lab's code."""
    assert _predict(_config(tmp_path, lazy_import="toy_lab_dependency_not_installed")) == 2
    line = _one_line(capsys.readouterr().err)
    assert f"the pipeline's interpreter {sys.executable} has no module" in line
    assert "'toy_lab_dependency_not_installed' (raised during predict" in line


def test_yaml_broken_by_expansion_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(tmp_path)
    config.write_text(config.read_text().replace("unused.zarr", "${REPRO_GOLDEN_TEST_PLATE}"))
    monkeypatch.setenv("REPRO_GOLDEN_TEST_PLATE", "[unclosed: {")
    assert _predict(config) == 2
    line = _one_line(capsys.readouterr().err)
    assert "not valid YAML" in line
    assert "(after ${VAR} expansion)" in line
    assert str(config) in line


def test_code_running_pickle_checkpoint_is_refused_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    config = _config(tmp_path)
    assert _predict(config, extra={"args": argparse.Namespace(lr=1)}) == 2
    line = _one_line(capsys.readouterr().err)
    assert "[ckpt_path]" in line
    assert "weights_only=True" in line
    assert "UnpicklingError" in line
    assert not (tmp_path / "out.zarr").exists()


@pytest.mark.parametrize(
    ("mode", "key", "detail"),
    [
        ("empty", None, "not a readable zarr group"),
        ("flat", "[X]", "expected a 2-D floating-point array, got 1-D float32"),
    ],
)
def test_unusable_writer_output_is_exit_2_and_not_published(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str, key: str | None, detail: str
) -> None:
    config = toy_config(tmp_path, writer_args={"mode": mode})
    assert _predict(config) == 2
    line = _one_line(capsys.readouterr().err)
    assert "toy_lab.ToyWriter did not produce AnnData embeddings" in line
    assert detail in line
    assert "nothing was published" in line
    if key is not None:
        assert key in line
    assert not (tmp_path / "out.zarr").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_checkpoint_cannot_switch_the_model_class(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """LightningCLI would run ``_class_path`` from the checkpoint's hyper_parameters."""
    config = _config(tmp_path)
    assert _predict(config, hyper_parameters={"_class_path": "toy_lab.OtherToy"}) == 2
    captured = capsys.readouterr()
    line = _one_line(captured.err)
    assert "would replace the class the config names at 'model' (toy_lab.Toy)" in line
    assert "toy_lab.OtherToy: refused" in line
    assert "OtherToy ran" not in captured.out
    assert not (tmp_path / "out.zarr").exists()


def test_hyper_parameters_lightningcli_cannot_apply_are_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _predict(_config(tmp_path), hyper_parameters={"fial": 1}) == 2
    line = _one_line(capsys.readouterr().err)
    assert "[ckpt_path]" in line
    assert "LightningCLI cannot apply its hyper_parameters ['fial'] to the config's model" in line


# --------------------------------------------------------------- INFER-01 before trainer.predict


def test_infer01_mismatch_stops_before_predict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """projection_dim 3 against a 2-wide checkpoint: INFER-01's listing, and nothing predicted
    (``fail=True`` would raise in predict_step, were it reached)."""
    config = toy_config(tmp_path, projection_dim=3, fail=True)
    assert _predict(config, projection_dim=2) == 1
    out = capsys.readouterr().out
    assert "INFER-01 FAIL: Toy <- toy.ckpt" in out
    assert "2 shape-mismatched key(s)" in out
    assert "shape-mismatched: model.projection.weight: checkpoint [2, 3], module [3, 3]" in out
    assert "shape-mismatched: model.projection.bias: checkpoint [2], module [3]" in out
    assert "stopped before trainer.predict: nothing was predicted or written" in out
    assert "INFER-02" not in out
    assert "planted failure" not in out
    assert not (tmp_path / "out.zarr").exists()


def test_relative_output_with_the_runner_in_another_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case file's runner works in the case's folder; ``--output out.zarr`` is relative to
    the caller's. The writer must still write where the caller looks (it wrote relative to
    the runner's folder: 'wrote nothing', and a stray folder there)."""
    import dataclasses

    from repro_golden.config.load import load_case
    from repro_golden.inference.predict import predict

    lab, user = tmp_path / "lab", tmp_path / "user"
    lab.mkdir()
    user.mkdir()
    config = toy_config(lab)
    toy_checkpoint(lab)
    monkeypatch.chdir(user)
    case = load_case(config, pipeline="lightning", python=sys.executable)
    assert case.lightning is not None
    case = dataclasses.replace(case, lightning=dataclasses.replace(case.lightning, cwd=lab))
    result = predict(case, output=Path("out.zarr"), progress=False)
    assert result.cells == 6
    assert EmbeddingsStore(user / "out.zarr").num_rows == 6
    assert sorted(p.name for p in lab.iterdir()) == ["predict.yml", "toy.ckpt"]


def test_a_variable_in_a_comment_is_not_expanded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unset ``${VAR}`` in a YAML comment of the predict config does not fail the run
    (loading the case ignored it; the pipeline's text expansion used to fail INFER-02)."""
    monkeypatch.delenv("REPRO_GOLDEN_NOT_SET", raising=False)
    config = _config(tmp_path)
    text = "# data from ${REPRO_GOLDEN_NOT_SET}\n" + config.read_text()
    config.write_text(
        text.replace("accelerator: cpu", "accelerator: cpu  # ${REPRO_GOLDEN_NOT_SET}")
    )
    assert _predict(config) == 0
    assert EmbeddingsStore(tmp_path / "out.zarr").num_rows == 6
