"""Case files: schema, paths relative to the file, ${VAR} expansion, safe YAML, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from repro_golden.config.load import load_case
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import ConfigError


def _mapping(**changes: Any) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        "schema": "repro-golden/case/1",
        "name": "example",
        "model": {
            "backbone": "convnext_tiny",
            "in_channels": 1,
            "in_stack_depth": 1,
            "stem_kernel_size": [1, 4, 4],
            "stem_stride": [1, 4, 4],
            "embedding_dim": 768,
            "projection_dim": 32,
            "drop_path_rate": 0.0,
        },
        "data": {
            "data_path": "plate.zarr",
            "tracks_path": "tracks.zarr",
            "source_channel": ["Phase3D"],
            "z_range": [0, 1],
            "initial_yx_patch_size": [160, 160],
            "final_yx_patch_size": [160, 160],
            "batch_size": 64,
            "num_workers": 0,
            "normalizations": [
                {
                    "keys": ["Phase3D"],
                    "level": "fov_statistics",
                    "subtrahend": "mean",
                    "divisor": "std",
                }
            ],
        },
        "trainer": {"accelerator": "cpu", "devices": 1, "precision": "32-true"},
        "numerics": {
            "seed": 42,
            "deterministic": True,
            "matmul_precision": "highest",
            "cudnn_benchmark": False,
        },
        "checkpoint": "model.ckpt",
        "output": "embeddings.zarr",
        "reference": None,
        "golden": None,
        "tolerance": {"atol": 0.0, "rtol": 0.0},
    }
    mapping.update(changes)
    return mapping


def _write(directory: Path, mapping: dict[str, Any] | str) -> Path:
    path = directory / "case.yaml"
    path.write_text(mapping if isinstance(mapping, str) else yaml.safe_dump(mapping))
    return path


def test_architecture_example_loads(tmp_path: Path) -> None:
    case = load_case(_write(tmp_path, _mapping()))
    assert case.name == "example"
    assert case.model.stem_kernel_size == (1, 4, 4)
    assert case.data.batch_size == 64
    assert case.data.data_path == tmp_path / "plate.zarr"
    assert case.checkpoint == tmp_path / "model.ckpt"
    assert case.output == tmp_path / "embeddings.zarr"
    assert case.reference is None
    assert case.numerics.precision == "32-true"
    assert case.trainer.accelerator == "cpu"
    assert case.tolerance == ToleranceSpec()
    assert case.to_dict()["name"] == "example"


def test_paths_are_relative_to_the_case_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    path = _write(tmp_path / "sub", _mapping(checkpoint="../ckpt/m.ckpt"))
    monkeypatch.chdir(tmp_path)
    case = load_case(Path("sub/case.yaml"))
    assert case.checkpoint.resolve() == (tmp_path / "ckpt" / "m.ckpt").resolve()
    assert case.data.data_path.resolve() == (tmp_path / "sub" / "plate.zarr").resolve()
    assert case.source == Path("sub/case.yaml")
    assert path.exists()


def test_environment_variables_expand_in_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RG_CLUSTER", "/hpc/project")
    monkeypatch.delenv("RG_UNSET", raising=False)
    mapping = _mapping(
        checkpoint="${RG_CLUSTER}/model.ckpt",
        reference="${RG_UNSET:-ref}/embeddings.zarr",
    )
    mapping["data"]["data_path"] = "${RG_CLUSTER}/plate.zarr"
    case = load_case(_write(tmp_path, mapping))
    assert case.checkpoint == Path("/hpc/project/model.ckpt")
    assert case.data.data_path == Path("/hpc/project/plate.zarr")
    assert case.reference == tmp_path / "ref" / "embeddings.zarr"


def test_unset_variable_without_default_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RG_UNSET", raising=False)
    with pytest.raises(ConfigError, match="RG_UNSET") as info:
        load_case(_write(tmp_path, _mapping(output="${RG_UNSET}/out.zarr")))
    assert info.value.key == "output"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"schema": "repro-golden/case/2"}, "schema"),
        ({"extra": 1}, "extra"),
        ({"checkpoint": None}, "checkpoint"),
        ({"name": ""}, "name"),
        ({"trainer": {"accelerator": "tpu"}}, "trainer.accelerator"),
        ({"trainer": {"devices": 0}}, "trainer.devices"),
        (
            {"trainer": {"precision": "16-mixed"}, "numerics": {"precision": "32-true"}},
            "trainer.precision",
        ),
        ({"numerics": {"matmul_precision": "low"}}, "numerics.matmul_precision"),
        ({"tolerance": {"atol": -1}}, "tolerance.atol"),
        ({"model": {"backbone": "vit", "in_channels": 1, "in_stack_depth": 1}}, "model.backbone"),
    ],
)
def test_bad_cases_name_the_file_and_key(tmp_path: Path, changes: dict[str, Any], key: str) -> None:
    path = _write(tmp_path, _mapping(**changes))
    with pytest.raises(ConfigError) as info:
        load_case(path)
    assert info.value.key == key
    assert info.value.path == path


def test_trainer_precision_sets_numerics_precision(tmp_path: Path) -> None:
    mapping = _mapping(trainer={"precision": "bf16-mixed"}, numerics={"seed": 1})
    case = load_case(_write(tmp_path, mapping))
    assert case.numerics.precision == "bf16-mixed"
    assert case.numerics.seed == 1


def test_only_safe_yaml(tmp_path: Path) -> None:
    text = "schema: !!python/object/apply:os.system ['echo unsafe']\n"
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_case(_write(tmp_path, text))


@pytest.mark.parametrize("text", ["- a list\n", "a: [unclosed\n"])
def test_not_a_mapping_or_not_yaml(tmp_path: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_case(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read case file"):
        load_case(tmp_path / "nope.yaml")


def test_loading_a_case_does_not_import_torch(tmp_path: Path) -> None:
    path = _write(tmp_path, _mapping())
    code = (
        "import sys; from repro_golden.config.load import load_case; "
        f"load_case({str(path)!r}); "
        "print(sorted(m for m in ('torch', 'timm', 'lightning', 'anndata') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
