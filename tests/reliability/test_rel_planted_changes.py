"""Done-when of verdicts v3: planted changes on the example, judged on the default paths.

Golden files are written the default way (``golden write`` with no flag; the
``golden_regression`` fixture's first run), then each planted change is checked
with no flag. With 0 false passes the check must catch a checkpoint weight +1e-4
(inputs changed: checkpoint), the normalization level changed in the case (inputs
changed: normalization, first diverging stage inputs), two FOV blocks swapped, two
rows swapped (both cells named), one value +1 ulp and +1e-6. Unchanged, and with
batch size 16 against the batch-64 golden set, it passes. The same changes judged
from an environment that differs only in its CPU model (an EPYC family 25 against
a set written on family 26: same bits, other key) are caught by evidence.
Four example predictions (about 2-3 min on two cores).
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from rel_stores import cli

pytest.importorskip("torch")
pytest.importorskip("anndata")

KEY_STRICT = "changed where results reproduce bit for bit"
EVIDENCE = "changed while the rest of this run reproduces the golden bits"


def _predict(case_file: Path, out: Path, *, batch_size: int | None = None) -> Path:
    from repro_golden.config.load import load_case
    from repro_golden.inference.predict import predict

    return Path(
        predict(load_case(case_file), output=out, batch_size=batch_size, progress=False).path
    )


def _edited_case(case_file: Path, target: Path) -> Path:
    """A copy of the case's folder; returns its case file."""
    shutil.copytree(case_file.parent, target)
    return target / case_file.name


def _reordered(source: Path, target: Path, kind: str) -> Path:
    import anndata as ad

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adata = ad.read_zarr(source)
        fov = adata.obs["fov_name"].astype(str).to_numpy()
        names = list(dict.fromkeys(fov))
        rows = np.arange(adata.n_obs)
        if kind == "fov blocks":
            blocks = [rows[fov == name] for name in names]
            blocks[0], blocks[1] = blocks[1], blocks[0]
            order = np.concatenate(blocks)
        else:
            second = rows[fov == names[1]]
            order = rows.copy()
            order[second[2]], order[second[5]] = second[5], second[2]
        adata[order].copy().write_zarr(target)
    return target


def _one_value(source: Path, target: Path, delta: str) -> Path:
    import zarr

    shutil.copytree(source, target)
    values = zarr.open_group(str(target), mode="r+")["X"]
    value = np.float32(values[5, 7])
    if delta == "ulp":
        values[5, 7] = np.nextafter(value, np.float32(np.inf))
    else:
        values[5, 7] = np.float32(value + np.float32(float(delta)))
    return target


def _other_cpu_model(source: Path, target: Path) -> Path:
    """``source`` as an environment that differs only in its CPU model would record it."""
    import zarr

    shutil.copytree(source, target)
    node = zarr.open_group(str(target), mode="r+")["uns/repro_golden"]
    provenance = json.loads(str(node[()]))
    provenance["environment"]["cpu_model"] = "AuthenticAMD family 25 model 17 (AMD EPYC), simd 0"
    node[()] = json.dumps(provenance, sort_keys=True)
    return target


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    from repro_golden.examples import generate_example

    work = tmp_path_factory.mktemp("planted")
    case_file = Path(generate_example(work / "example", case="example"))
    base = _predict(case_file, work / "base.zarr")
    weight_case = _edited_case(case_file, work / "weight")
    checkpoint = weight_case.parent / "model.ckpt"
    saved = torch.load(checkpoint, weights_only=True)
    key = next(k for k in saved["state_dict"] if k.endswith("weight"))
    saved["state_dict"][key] = saved["state_dict"][key].clone()
    saved["state_dict"][key].view(-1)[0] += 1e-4
    torch.save(saved, checkpoint)
    norm_case = _edited_case(case_file, work / "norm")
    text = norm_case.read_text()
    assert "level: fov_statistics" in text
    norm_case.write_text(text.replace("level: fov_statistics", "level: dataset_statistics"))
    planted = {
        "unchanged": base,
        "batch 16": _predict(case_file, work / "batch16.zarr", batch_size=16),
        "checkpoint weight +1e-4": _predict(weight_case, work / "weight.zarr"),
        "normalization level": _predict(norm_case, work / "norm.zarr"),
        "fov blocks swapped": _reordered(base, work / "fovswap.zarr", "fov blocks"),
        "rows swapped": _reordered(base, work / "rowswap.zarr", "rows"),
        "one value +1 ulp": _one_value(base, work / "ulp.zarr", "ulp"),
        "one value +1e-6": _one_value(base, work / "1e-6.zarr", "1e-6"),
    }
    return planted


@pytest.fixture(scope="module")
def golden_default(stores: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("golden") / "example"
    written = cli("golden", "write", stores["unchanged"], "--out", out, "--case", "example")
    assert written.returncode == 0, written.stdout + written.stderr
    return out


#: What each planted change must say (all of the phrases), on the CLI default path.
EXPECTED = {
    "checkpoint weight +1e-4": ["inputs changed: checkpoint", "the inputs differ (checkpoint)"],
    "normalization level": [
        "inputs changed: normalization",
        "first diverging stage: inputs",
        "the inputs differ (normalization)",
    ],
    "fov blocks swapped": ["rows reordered", "FOV blocks in another order"],
    "rows swapped": ["rows reordered", "moved: ", "(golden row 5)", "(golden row 2)"],
    "one value +1 ulp": [KEY_STRICT],
    "one value +1e-6": [KEY_STRICT],
}


@pytest.mark.parametrize("change", sorted(EXPECTED))
def test_cli_default_catches_each_planted_change(
    stores: dict[str, Path], golden_default: Path, change: str
) -> None:
    result = cli("check", stores[change], "--golden", golden_default)
    assert result.returncode == 1, result.stdout + result.stderr
    for phrase in EXPECTED[change]:
        assert phrase in result.stdout, (phrase, result.stdout)


def test_cli_default_passes_unchanged_and_batch_16(
    stores: dict[str, Path], golden_default: Path
) -> None:
    same = cli("check", stores["unchanged"], "--golden", golden_default)
    assert same.returncode == 0, same.stdout
    assert "8 identical" in same.stdout
    batch = cli("check", stores["batch 16"], "--golden", golden_default)
    assert batch.returncode == 0, batch.stdout
    assert "within tolerance" in batch.stdout
    assert "inputs changed" not in batch.stdout
    assert "batch_size 64 -> 16" in batch.stdout


@pytest.mark.parametrize("change", ["one value +1 ulp", "one value +1e-6", "rows swapped"])
def test_another_cpu_model_is_caught_by_evidence(
    stores: dict[str, Path], golden_default: Path, tmp_path: Path, change: str
) -> None:
    other = _other_cpu_model(stores[change], tmp_path / "other.zarr")
    result = cli("check", other, "--golden", golden_default)
    assert result.returncode == 1, result.stdout
    assert "no expectation recorded for this environment" in result.stdout
    assert ("rows reordered" if change == "rows swapped" else EVIDENCE) in result.stdout
    unchanged = _other_cpu_model(stores["unchanged"], tmp_path / "same.zarr")
    assert cli("check", unchanged, "--golden", golden_default).returncode == 0


def test_fixture_default_flow_catches_each_planted_change(
    stores: dict[str, Path], pytester: pytest.Pytester
) -> None:
    """``golden_regression``: its first run writes the golden files (and fails, as
    pytest-regressions does), then every planted change fails and the rest pass."""
    names = {}
    for i, (change, path) in enumerate(sorted(stores.items())):
        names[f"s{i}"] = change
        shutil.copytree(path, pytester.path / f"s{i}.zarr")
    base = next(k for k, v in names.items() if v == "unchanged")
    pytester.makepyfile(
        test_planted=f"""
import pytest
from pathlib import Path

HERE = Path(__file__).parent

@pytest.mark.parametrize("store", {sorted(names)!r})
def test_store(golden_regression, store):
    golden_regression.check(HERE / f"{{store}}.zarr", golden_dir=HERE / "golden")
"""
    )
    first = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", base)
    first.assert_outcomes(failed=1)  # golden files written on the first run
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    out = result.stdout.str()
    passed = {line.split("[")[1].split("]")[0] for line in out.splitlines() if "PASSED" in line}
    assert {names[p] for p in passed} == {"unchanged", "batch 16"}, out
    result.assert_outcomes(passed=2, failed=len(EXPECTED))
    for phrases in EXPECTED.values():
        for phrase in phrases:
            assert phrase in out, phrase
