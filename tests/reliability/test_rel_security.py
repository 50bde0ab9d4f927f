"""Security: no input file can run code or write outside the golden directory.

* checkpoints load with ``weights_only=True`` by default; a pickle that would
  run code is refused with a :class:`CheckpointError` before running it;
* YAML (case files, VisCy configs) is loaded with ``yaml.safe_load``: Python
  tags are refused with a :class:`ConfigError`;
* names that become paths (case names, plugin basenames) cannot hold path
  separators or ``..``; FOV names and the sketch file name never become paths.
"""

from __future__ import annotations

import inspect
import json
import pickle
from pathlib import Path

import pytest
from rel_stores import FOVS, arrays, write_store

from repro_golden.api import check_golden, write_golden
from repro_golden.config.case_file import case_from_mapping
from repro_golden.core.atomic import safe_component
from repro_golden.errors import CheckpointError, ConfigError, GoldenFileError


class _Touch:
    """Unpickling this calls ``Path(marker).touch()``: arbitrary code, here harmless."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("container", ["torch-zip", "raw-pickle", "state-dict-entry"])
def test_code_running_checkpoint_is_refused(tmp_path: Path, container: str) -> None:
    torch = pytest.importorskip("torch")
    from repro_golden.inference.model.checkpoint import load_checkpoint

    assert inspect.signature(load_checkpoint).parameters["weights_only"].default is True
    marker = tmp_path / "pwned"
    path = tmp_path / "model.ckpt"
    if container == "torch-zip":
        torch.save({"state_dict": {}, "payload": _Touch(marker)}, path)
    elif container == "raw-pickle":
        path.write_bytes(pickle.dumps({"state_dict": _Touch(marker)}))
    else:
        torch.save({"state_dict": {"model.weight": _Touch(marker)}}, path)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="weights_only") as info:
        load_checkpoint(torch.nn.Linear(2, 2), path)
    assert info.value.path == path
    assert not marker.exists(), "unpickling ran code"


_EVIL_TAGS = [
    "!!python/object/apply:os.system ['touch {marker}']",
    "!!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]",
    "!!python/object/new:subprocess.Popen [['touch', '{marker}']]",
    "!!python/name:os.system",
]


@pytest.mark.parametrize("tag", _EVIL_TAGS, ids=["os.system", "Path.touch", "Popen", "name"])
@pytest.mark.parametrize("kind", ["case file", "LightningCLI config", "plugin case reader"])
def test_yaml_python_tags_cannot_run_code(tmp_path: Path, tag: str, kind: str) -> None:
    """Every way a YAML file is read (the one loader, for both kinds of file it sniffs, and
    the plugin's reader of collected case files) refuses tags that would run code."""
    from repro_golden.config.case import read_yaml_mapping
    from repro_golden.config.load import load_case

    marker = tmp_path / "pwned"
    path = tmp_path / "case.yaml"
    evil = tag.format(marker=marker)
    if kind == "LightningCLI config":
        path.write_text("model: {class_path: " + evil + "}\n")
    else:
        path.write_text("schema: repro-golden/case/1\nname: " + evil + "\nmodel: {}\n")
    load = read_yaml_mapping if kind == "plugin case reader" else load_case
    with pytest.raises(ConfigError, match="not valid YAML") as info:
        load(path)
    assert info.value.path == path
    assert not marker.exists()


_BAD_NAMES = ["../escape", "a/b", "/abs", "..", ".hidden", "-flag", "a\\b", "x\0y", "", "a b"]


@pytest.mark.parametrize("name", _BAD_NAMES)
def test_case_names_cannot_become_paths_out_of_the_golden_root(tmp_path: Path, name: str) -> None:
    from repro_golden.examples.fixtures import default_inputs_path

    with pytest.raises(ConfigError, match="path separators") as info:
        safe_component(name, what="case name", key="case")
    assert info.value.key == "case"
    with pytest.raises(ConfigError):
        default_inputs_path(name)
    path = tmp_path / "case.yaml"
    path.write_text(json.dumps({"schema": "repro-golden/case/1", "name": name}))
    with pytest.raises(ConfigError) as info:
        case_from_mapping(
            {
                "schema": "repro-golden/case/1",
                "name": name,
                "model": {},
                "data": {},
                "checkpoint": "m.ckpt",
            },
            base_dir=tmp_path,
            source=path,
        )
    assert info.value.key == "name"


@pytest.mark.parametrize("name", _BAD_NAMES[:6])
def test_plugin_golden_dir_refuses_path_like_case_names(tmp_path: Path, name: str) -> None:
    from repro_golden.plugin.hooks import GoldenSettings

    fields = inspect.signature(GoldenSettings).parameters
    settings = GoldenSettings(
        **{
            k: (tmp_path if "root" in k or k == "rootpath" else None)
            for k, p in fields.items()
            if p.default is inspect.Parameter.empty
        }
    )
    assert settings.golden_dir("example") == settings.golden_root / "example"
    with pytest.raises(ConfigError):
        settings.golden_dir(name)


def test_fov_names_with_separators_stay_inside_the_golden_directory(tmp_path: Path) -> None:
    """FOV names are JSON values, never paths: '../../x' is stored and checked, nothing escapes."""
    data = arrays()
    names = ("../../escape", "/abs/fov", "A/..\\..")
    data["fov_name"] = data["fov_name"].copy()
    for old, new in zip(FOVS, names, strict=True):
        data["fov_name"][data["fov_name"] == old] = new
    store = write_store(tmp_path / "work" / "e.zarr", data)
    golden = tmp_path / "work" / "golden"
    write_golden(store, golden, case="tiny")
    files = sorted(p.name for p in golden.iterdir())
    assert files[1] == "golden.json"  # full-*.bin, golden.json, sketch-*.bin and nothing else
    assert files[0].startswith("full-")
    assert files[2].startswith("sketch-")
    assert len(files) == 3
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["e.zarr", "golden"]
    assert not (tmp_path / "escape").exists()
    assert check_golden(store, golden).passed
    manifest = json.loads((golden / "golden.json").read_text())
    # FOV names are data, kept as read (a leading slash is dropped: canonical fov_name).
    assert [f["name"] for f in manifest["fovs"]] == [n.lstrip("/") for n in names]


def test_sketch_file_name_cannot_point_outside(tmp_path: Path) -> None:
    store = write_store(tmp_path / "e.zarr")
    golden = tmp_path / "golden"
    write_golden(store, golden)
    manifest = json.loads((golden / "golden.json").read_text())
    secret = tmp_path / "secret.bin"
    secret.write_bytes((golden / manifest["sketch"]["file"]).read_bytes())
    manifest["sketch"]["file"] = "../secret.bin"
    (golden / "golden.json").write_text(json.dumps(manifest))
    with pytest.raises(GoldenFileError, match="sketch-") as info:
        check_golden(store, golden)
    assert info.value.key == "sketch.file"
