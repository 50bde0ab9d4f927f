"""Case files collected as tests (ini golden_case_paths): items, skips, one prediction per session.

These sessions never predict for real: a case whose inputs are absent skips
before any prediction, and the xdist test replaces the prediction with a
stand-in (in the inner session's conftest) that records itself and fails
with a planted verdict, so what is asserted is the collection, the skip
reasons and the count. The real INFER-01..03 run on the example case in
tests/test_inference_reproducibility.py and in ``nox -s lab``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _no_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REPRO_GOLDEN_HPC_ROOT",
        "REPRO_GOLDEN_HPC_CKPT",
        "REPRO_GOLDEN_HPC_DATA",
        "REPRO_GOLDEN_HPC_TRACKS",
        "REPRO_GOLDEN_HPC_REFERENCE",
        "RG_LAB_ROOT",
        "RG_LAB_PYTHON",
    ):
        monkeypatch.delenv(name, raising=False)


def _case(**changes: Any) -> dict[str, Any]:
    case: dict[str, Any] = {
        "schema": "repro-golden/case/1",
        "name": "lab",
        "model": {
            "backbone": "convnext_tiny",
            "in_channels": 1,
            "in_stack_depth": 1,
            "stem_kernel_size": [1, 4, 4],
            "stem_stride": [1, 4, 4],
            "embedding_dim": 768,
            "projection_dim": 32,
        },
        "data": {
            "data_path": "plate.zarr",
            "tracks_path": "tracks.zarr",
            "source_channel": ["Phase3D"],
            "z_range": [0, 1],
            "initial_yx_patch_size": [160, 160],
            "final_yx_patch_size": [160, 160],
            "batch_size": 16,
        },
        "trainer": {"accelerator": "cpu"},
        "checkpoint": "model.ckpt",
        "output": "embeddings.zarr",
    }
    case.update(changes)
    return case


def _lab_config(root: str) -> dict[str, Any]:
    """A modular-packages predict config (as the lab writes it), paths under ``root``."""
    return {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "${RG_ACCEL:-cpu}",
            "devices": 1,
            "callbacks": [
                {
                    "class_path": "viscy_utils.callbacks.embedding_writer.EmbeddingWriter",
                    "init_args": {"output_path": "embeddings.zarr"},
                }
            ],
        },
        "model": {
            "class_path": "dynaclr.engine.ContrastiveModule",
            "init_args": {
                "encoder": {
                    "class_path": "viscy_models.contrastive.ContrastiveEncoder",
                    "init_args": {
                        "backbone": "convnext_tiny",
                        "in_channels": 1,
                        "in_stack_depth": 1,
                        "stem_kernel_size": [1, 4, 4],
                        "stem_stride": [1, 4, 4],
                        "embedding_dim": 768,
                        "projection_dim": 32,
                    },
                }
            },
        },
        "data": {
            "class_path": "viscy_data.triplet.TripletDataModule",
            "init_args": {
                "data_path": f"{root}/plate.zarr",
                "tracks_path": f"{root}/tracks.zarr",
                "source_channel": ["Phase3D"],
                "z_range": [0, 1],
                "initial_yx_patch_size": [160, 160],
                "final_yx_patch_size": [160, 160],
                "batch_size": 16,
            },
        },
        "ckpt_path": f"{root}/model.ckpt",
    }


def _write(path: Path, mapping: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(mapping, sort_keys=False), encoding="utf-8")
    return path


def test_nothing_is_collected_without_the_ini_setting(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\n")
    _write(pytester.path / "cases" / "lab.yaml", _case())
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    assert "infer0" not in result.stdout.str()
    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED


def test_case_files_become_three_items_and_configs_stay_files(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\ngolden_case_paths = cases\n")
    _write(pytester.path / "cases" / "lab.yaml", _case())
    _write(pytester.path / "cases" / "lab_predict.yml", _lab_config("/nowhere"))
    _write(pytester.path / "elsewhere" / "other.yaml", _case(name="other"))  # not under the path
    result = pytester.runpytest_subprocess("--collect-only", "-q")
    items = [line for line in result.stdout.lines if "::" in line]
    assert items == [
        "cases/lab.yaml::infer01",
        "cases/lab.yaml::infer02",
        "cases/lab.yaml::infer03",
    ]


def test_skips_name_each_missing_path_and_unset_variable(pytester: pytest.Pytester) -> None:
    """The cluster case here: every reason in one skip, for each of the three items."""
    pytester.makeini("[pytest]\ngolden_case_paths = cases\n")
    case = _case(
        checkpoint="${RG_LAB_ROOT}/model.ckpt",
        reference="/nowhere/reference.zarr",
    )
    case["data"]["data_path"] = "/nowhere/plate.zarr"
    _write(pytester.path / "cases" / "lab.yaml", case)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=3)
    out = result.stdout.str()
    assert "SKIPPED [3] cases/lab.yaml:1: lab: environment variable RG_LAB_ROOT is not set" in out
    assert "image plate /nowhere/plate.zarr does not exist" in out
    assert f"tracks {pytester.path / 'cases' / 'tracks.zarr'} does not exist" in out
    assert "reference embeddings /nowhere/reference.zarr does not exist" in out


def test_lightning_case_skips_name_the_config_variables_and_interpreter(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\ngolden_case_paths = cases\n")
    _write(pytester.path / "cases" / "lab_predict.yml", _lab_config("${RG_LAB_ROOT}"))
    _write(
        pytester.path / "cases" / "lab.yaml",
        {
            "schema": "repro-golden/case/1",
            "name": "lab",
            "pipeline": "lightning",
            "config": "lab_predict.yml",
            "python": "${RG_LAB_PYTHON:-/nowhere/bin/python}",
        },
    )
    result = pytester.runpytest_subprocess("-rs", "-k", "infer01")
    result.assert_outcomes(skipped=1)
    out = result.stdout.str()
    assert "environment variable RG_LAB_ROOT is not set" in out
    assert "pipeline interpreter /nowhere/bin/python does not exist" in out


def _present_inputs(directory: Path) -> None:
    for name in ("plate.zarr", "tracks.zarr"):
        (directory / name).mkdir(parents=True, exist_ok=True)
    (directory / "model.ckpt").write_bytes(b"")


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(_cuda(), reason="asserts the skip of a machine without CUDA")
def test_gpu_case_skips_naming_the_absent_device(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ngolden_case_paths = cases\n")
    _present_inputs(pytester.path / "cases")
    _write(pytester.path / "cases" / "lab.yaml", _case(trainer={"accelerator": "gpu"}))
    result = pytester.runpytest_subprocess("-rs", "-k", "infer02")
    result.assert_outcomes(skipped=1)
    assert "gpu: no CUDA device" in result.stdout.str()
    # --golden-device gpu asks for it whatever the case says.
    _write(pytester.path / "cases" / "lab.yaml", _case())
    result = pytester.runpytest_subprocess("-rs", "-k", "infer02", "--golden-device", "gpu")
    result.assert_outcomes(skipped=1)
    assert "gpu: no CUDA device" in result.stdout.str()


STAND_IN = """
import json
import os
import time

import repro_golden.plugin.prediction_cache as cache


def planted(prepared, output):
    time.sleep(1.0)  # long enough for the other worker to ask for it meanwhile
    return cache.Prediction(path=output, failure="INFER-02 FAIL: planted by the stand-in")


cache.run_prediction = planted
"""


def test_xdist_workers_share_one_prediction_per_case(pytester: pytest.Pytester) -> None:
    """Six items of two cases on two workers: two predictions, each item sees its case's."""
    pytest.importorskip("xdist", reason="pytest-xdist is a test extra")
    pytester.makeini("[pytest]\ngolden_case_paths = cases\n")
    pytester.makeconftest(STAND_IN)
    cases = pytester.path / "cases"
    _present_inputs(cases)
    _write(cases / "lab_predict.yml", _lab_config(str(cases)))
    for name in ("first", "second"):
        _write(
            cases / f"{name}.yaml",
            {
                "schema": "repro-golden/case/1",
                "name": name,
                "pipeline": "lightning",
                "config": "lab_predict.yml",
            },
        )
    basetemp = pytester.path / "basetemp"
    result = pytester.runpytest_subprocess(
        "-n", "2", "-p", "no:cacheprovider", f"--basetemp={basetemp}"
    )
    result.assert_outcomes(failed=6)
    out = result.stdout.str()
    assert out.count("planted by the stand-in") >= 6
    assert "INFER-01 not reached" in out  # infer01 of a lightning case that never got there
    from repro_golden.plugin.prediction_cache import predictions_made

    made = predictions_made(basetemp)
    assert sorted(m["case"] for m in made) == ["first", "second"], json.dumps(made)
    assert all(m["worker"].startswith("gw") for m in made)


FIXTURE_TESTS = """
def test_by_name(golden_case, golden_prediction):
    prepared = golden_case("lab")
    assert prepared.name == "lab"
    golden_prediction(prepared)


def test_by_path(golden_case):
    golden_case("cases/missing.yaml")


def test_unknown(golden_case):
    golden_case("nope")
"""


def test_golden_case_and_prediction_fixtures(pytester: pytest.Pytester) -> None:
    """golden_case: by name or path, skipping with reasons; golden_prediction: fails with the
    pipeline's verdict; an unknown name fails naming the case directories."""
    pytester.makeini("[pytest]\ngolden_case_dirs = cases\n")
    pytester.makeconftest(STAND_IN)
    cases = pytester.path / "cases"
    _present_inputs(cases)
    _write(cases / "lab.yaml", _case())
    _write(cases / "missing.yaml", _case(checkpoint="${RG_LAB_ROOT}/model.ckpt"))
    pytester.makepyfile(test_fixtures=FIXTURE_TESTS)
    result = pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=2, skipped=1)
    out = result.stdout.str()
    assert "INFER-02 FAIL: planted by the stand-in" in out
    assert "environment variable RG_LAB_ROOT is not set" in out
    assert "case 'nope': no nope.yaml in the case directories" in out


@pytest.mark.parametrize(
    ("text", "collected"),
    [
        ("schema: repro-golden/case/1\nname: x\n", True),
        ("# a case\nschema: 'repro-golden/case/1'  # the schema\n", True),
        ('schema: "repro-golden/case/1"\n', True),
        ("schema: repro-golden/case/2\n", False),
        ("model:\n  class_path: dynaclr.engine.ContrastiveModule\n", False),
        ("  schema: repro-golden/case/1\n", False),  # nested, not the file's schema
    ],
)
def test_is_case_file(tmp_path: Path, text: str, collected: bool) -> None:
    from repro_golden.plugin.collect import is_case_file

    path = tmp_path / "x.yaml"
    path.write_text(text, encoding="utf-8")
    assert is_case_file(path) is collected
    assert not is_case_file(path.rename(tmp_path / "x.txt"))


def _write_zarr(adata: Any, path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        # anndata announces its future v3 default; format 2 is the contract's default.
        warnings.filterwarnings("ignore", message="Writing zarr v2", category=UserWarning)
        adata.write_zarr(path)


def test_order_mismatch_names_the_first_row(tmp_path: Path, make_embeddings: Any) -> None:
    """INFER-03's order check: the same rows in another order fail, naming the first."""
    import anndata as ad

    from repro_golden.plugin.collect import order_mismatch

    reference = make_embeddings(tmp_path / "reference.zarr")
    assert order_mismatch(reference, reference) is None
    adata = ad.read_zarr(reference)
    swapped = adata[[4, 5, 6, 7, 0, 1, 2, 3, *range(8, adata.n_obs)]].copy()
    _write_zarr(swapped, tmp_path / "swapped.zarr")
    problem = order_mismatch(tmp_path / "swapped.zarr", reference)
    assert problem is not None
    assert problem.startswith(
        "obs['fov_name'] differs from the reference at 8 rows, first at row 0"
    )
    _write_zarr(adata[: adata.n_obs - 1].copy(), tmp_path / "fewer.zarr")
    assert order_mismatch(tmp_path / "fewer.zarr", reference) == (
        f"{adata.n_obs - 1} rows, the reference has {adata.n_obs}"
    )
