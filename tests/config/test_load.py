"""One case loader: ${VAR} expanded before validation in every key; env:; overrides applied."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_case import _mapping
from test_viscy_config import _viscy

from repro_golden.config.case import PipelineKind
from repro_golden.config.expand import UnsetVariableError, expand_tree, unset_variables
from repro_golden.config.load import load_case
from repro_golden.errors import ConfigError


def _write(path: Path, mapping: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return path


def _lightning_case(directory: Path, **changes: Any) -> Path:
    config = _viscy()
    _write(directory / "predict.yml", config)
    mapping = {
        "schema": "repro-golden/case/1",
        "name": "lab",
        "pipeline": "lightning",
        "config": "predict.yml",
        **changes,
    }
    return _write(directory / "case.yaml", mapping)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RG_ACCEL", "RG_NDEV", "RG_DET", "RG_A", "RG_B", "RG_SITE"):
        monkeypatch.delenv(name, raising=False)


def test_accelerator_default_is_expanded_before_validation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lab's trial: ``${DYNACLR_REPRO_ACCELERATOR:-cpu}`` was refused as an accelerator."""
    trainer = {"accelerator": "${RG_ACCEL:-cpu}", "devices": "${RG_NDEV:-1}"}
    path = _write(tmp_path / "case.yaml", _mapping(trainer=trainer))
    case = load_case(path)
    assert (case.trainer.accelerator, case.trainer.devices) == ("cpu", 1)
    monkeypatch.setenv("RG_ACCEL", "gpu")
    monkeypatch.setenv("RG_NDEV", "2")
    case = load_case(path)
    assert (case.trainer.accelerator, case.trainer.devices) == ("gpu", 2)
    # Provenance keeps the file as written.
    assert case.to_dict()["trainer"]["accelerator"] == "${RG_ACCEL:-cpu}"


def test_every_case_key_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RG_DET", "false")
    mapping = _mapping(
        name="${RG_A:-renamed}",
        numerics={"seed": "${RG_B:-7}", "deterministic": "${RG_DET}"},
        tolerance={"atol": "${RG_A:-1e-6}", "rtol": 0.0},
    )
    mapping["data"]["batch_size"] = "${RG_B:-16}"
    case = load_case(_write(tmp_path / "case.yaml", mapping))
    assert case.name == "renamed"
    assert case.numerics.seed == 7
    assert case.numerics.deterministic is False
    assert case.data.batch_size == 16
    assert case.tolerance.atol == pytest.approx(1e-6)


def test_lightning_config_keys_are_expanded(tmp_path: Path) -> None:
    """The LightningCLI config a case names, and a bare one given to --pipeline lightning."""
    config = _viscy()
    config["trainer"]["accelerator"] = "${RG_ACCEL:-cpu}"
    config["data"]["init_args"]["batch_size"] = "${RG_B:-8}"
    _write(tmp_path / "predict.yml", config)
    bare = load_case(tmp_path / "predict.yml", pipeline="lightning")
    assert (bare.trainer.accelerator, bare.data.batch_size) == ("cpu", 8)
    assert bare.pipeline is PipelineKind.LIGHTNING
    case_file = _write(
        tmp_path / "case.yaml",
        {
            "schema": "repro-golden/case/1",
            "name": "lab",
            "pipeline": "lightning",
            "config": "predict.yml",
        },
    )
    case = load_case(case_file)
    assert (case.trainer.accelerator, case.data.batch_size) == ("cpu", 8)


def test_unset_variables_are_named_all_at_once(tmp_path: Path) -> None:
    mapping = _mapping(checkpoint="${RG_A}/model.ckpt", output="${RG_B}/out.zarr")
    with pytest.raises(UnsetVariableError) as info:
        load_case(_write(tmp_path / "case.yaml", mapping))
    assert info.value.names == ("RG_A", "RG_B")
    assert "RG_A, RG_B are not set" in str(info.value)
    assert info.value.key == "checkpoint"
    assert isinstance(info.value, ConfigError)


def test_expansion_rules() -> None:
    env = {"N": "3", "F": "0.5", "T": "true", "S": "/a b", "E": "", "Z": "007"}
    tree = {
        "n": "${N}",
        "f": "${F}",
        "t": "${T}",
        "s": "${S}",
        "e": "${E}",
        "z": "${Z}",  # not a YAML integer as written: a leading zero stays text
        "inside": "x${N}",  # part of a string: stays a string
        "default": "${MISSING:-4}",
        "list": ["${N}", 1, None],
        "nested": {"k": "${S}/c"},
    }
    assert expand_tree(tree, source=None, environ=env) == {
        "n": 3,
        "f": 0.5,
        "t": True,
        "s": "/a b",
        "e": "",
        "z": "007",
        "inside": "x3",
        "default": 4,
        "list": [3, 1, None],
        "nested": {"k": "/a b/c"},
    }
    # Not recursive: a value holding a reference is used as it is.
    assert expand_tree("${V}", source=None, environ={"V": "${N}"}) == "${N}"
    assert unset_variables({"a": ["${X}", "${Y:-1}"], "b": "${Z}"}, environ={"Z": ""}) == ["X"]


def test_env_reaches_the_lightning_spec_with_paths_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RG_SITE", "/site")
    path = _lightning_case(
        tmp_path,
        env={
            "PYTHONPATH": f"recipe{os.pathsep}${{RG_SITE}}/lib",
            "LAB_CACHE": "./cache",
            "LAB_MODE": "fast",
            "LAB_THREADS": 4,
        },
    )
    case = load_case(path)
    assert case.lightning is not None
    assert dict(case.lightning.env) == {
        "PYTHONPATH": f"{tmp_path / 'recipe'}{os.pathsep}/site/lib",
        "LAB_CACHE": str(tmp_path / "cache"),
        "LAB_MODE": "fast",
        "LAB_THREADS": "4",
    }
    assert case.lightning.to_dict()["env"]["LAB_MODE"] == "fast"


def test_env_is_set_for_the_pipeline_interpreter(tmp_path: Path) -> None:
    """What the lightning pipeline starts its runner with: the case's env on top of ours."""
    from repro_golden.inference.pipelines.lightning import _env

    case = load_case(_lightning_case(tmp_path, env={"PYTHONPATH": "recipe", "HOME": "/lab"}))
    env = _env(case)
    assert env["PYTHONPATH"] == str(tmp_path / "recipe")
    assert env["HOME"] == "/lab"
    assert env["PYTHONUNBUFFERED"] == "1"


@pytest.mark.parametrize(
    ("env", "key"),
    [
        (["PYTHONPATH=x"], "env"),
        ({"1BAD": "x"}, "env.1BAD"),
        ({"GOOD": ["x"]}, "env.GOOD"),
        ({"GOOD": None}, "env.GOOD"),
    ],
)
def test_bad_env_names_the_key(tmp_path: Path, env: Any, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_case(_lightning_case(tmp_path, env=env))
    assert info.value.key == key


def test_env_belongs_to_a_lightning_case(tmp_path: Path) -> None:
    path = _write(tmp_path / "case.yaml", _mapping(env={"PYTHONPATH": "x"}))
    with pytest.raises(ConfigError, match="belong to a lightning case"):
        load_case(path)


def test_overrides_apply_or_are_refused(tmp_path: Path) -> None:
    """--python/--preimport replace a lightning case's; a builtin case refuses them."""
    lab = load_case(
        _lightning_case(tmp_path / "lab", python="/lab/bin/python", preimport=["a"]),
        python="/other/python",
        preimport=["b", "c"],
    )
    assert lab.lightning is not None
    assert (lab.lightning.python, lab.lightning.preimport) == ("/other/python", ("b", "c"))
    builtin = _write(tmp_path / "case.yaml", _mapping())
    for overrides in ({"python": "/lab/bin/python"}, {"preimport": ["viscy.cli"]}):
        with pytest.raises(ConfigError, match="lightning case only"):
            load_case(builtin, **overrides)
    with pytest.raises(ConfigError, match="contradicts"):
        load_case(builtin, pipeline="lightning")
    config = _write(tmp_path / "predict.yml", _viscy())
    with pytest.raises(ConfigError, match="need --pipeline lightning"):
        load_case(config, python="/lab/bin/python")
    assert load_case(config).pipeline is PipelineKind.BUILTIN
