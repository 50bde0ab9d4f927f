"""Done-when of issue 11 on the committed ``golden/example``, with a store predicted here.

The store as predicted passes the committed set on any machine: bit for bit where
the set records this environment as reproducing, by its full copy elsewhere. One
element changed by 1e-3, 1e-6 or one ulp fails ``check`` (exit 1) and the
``golden_regression`` fixture where the golden set expects bit-for-bit results. On
a machine the committed set was not recorded on (another processor model gives
other bits), that golden set is the one this library writes here the documented
way (``golden write --verify-with`` a second prediction), so the same claims are
tested on every machine. With a fingerprint that says another device,
the full copy judges every element: 1e-3 is violated, 1e-6 and one ulp are within the
case tolerance. Judged by summaries alone (golden files without a full copy), the
small changes pass only with the detection-limit warning, and ``--golden-strict``
fails them. Predicts the example once per module (about 20 s on two CPU cores).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from rel_stores import cli

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "example"
DELTAS = ("1e-3", "1e-6", "ulp")
#: The strict verdicts: by key where the golden set records this machine's environment
#: (the processor model that wrote it), by evidence on another model that gives the same
#: bits (an AMD EPYC family 25 against a set written on family 26: 7 of 8 FOV arrays
#: bit-identical).
STRICT = re.compile(
    "changed where results reproduce bit for bit|"
    "changed while the rest of this run reproduces the golden bits"
)


@pytest.fixture(scope="module")
def case_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    from repro_golden.examples import generate_example

    return Path(generate_example(tmp_path_factory.mktemp("example"), case="example"))


@pytest.fixture(scope="module")
def predicted(case_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from repro_golden.config.load import load_case
    from repro_golden.inference.predict import predict

    out = tmp_path_factory.mktemp("predicted") / "emb.zarr"
    return Path(predict(load_case(case_file), output=out, progress=False).path)


@pytest.fixture(scope="module")
def golden_here(predicted: Path, case_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A golden set of the example that expects bit-for-bit results on this machine.

    The committed one where it reproduces here; otherwise one written from
    ``predicted``, verified by a second prediction (which must match bit for bit).
    """
    if "8 identical" in cli("check", predicted, "--golden", GOLDEN).stdout:
        return GOLDEN  # strict by key here, or by evidence on a model that gives the same bits
    from repro_golden.config.load import load_case
    from repro_golden.inference.predict import predict

    work = tmp_path_factory.mktemp("golden-here")
    second = predict(load_case(case_file), output=work / "second.zarr", progress=False).path
    out = work / "example"
    written = cli(
        "golden", "write", predicted, "--out", out, "--case", "example", "--verify-with", second
    )
    assert written.returncode == 0, written.stdout + written.stderr
    return out


def _changed(source: Path, target: Path, delta: str, *, device: str | None = None) -> Path:
    import zarr

    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    root = zarr.open_group(str(target), mode="r+")
    values = root["X"]
    value = np.float32(values[5, 7])
    if delta == "ulp":
        values[5, 7] = np.nextafter(value, np.float32(np.inf))
    else:
        values[5, 7] = np.float32(value + np.float32(float(delta)))
    if device is not None:
        node = root["uns/repro_golden"]
        provenance = json.loads(str(node[()]))
        provenance["environment"].update(
            device_type=device, device_name="NVIDIA H200", compute_capability="9.0"
        )
        node[()] = json.dumps(provenance, sort_keys=True)
    return target


def test_the_store_as_predicted_passes(predicted: Path, golden_here: Path) -> None:
    result = cli("check", predicted, "--golden", GOLDEN)
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("8 identical" if golden_here == GOLDEN else "8 within tolerance") in result.stdout
    assert "8 identical" in cli("check", predicted, "--golden", golden_here).stdout


@pytest.mark.parametrize("delta", DELTAS)
def test_one_changed_element_fails_check_here(
    predicted: Path, golden_here: Path, tmp_path: Path, delta: str
) -> None:
    changed = _changed(predicted, tmp_path / "changed.zarr", delta)
    result = cli("check", changed, "--golden", golden_here)
    assert result.returncode == 1, result.stdout + result.stderr
    assert STRICT.search(result.stdout), result.stdout


def test_one_changed_element_fails_the_fixture(
    predicted: Path, golden_here: Path, pytester: pytest.Pytester
) -> None:
    for delta in DELTAS:
        _changed(predicted, pytester.path / f"changed-{delta}.zarr", delta)
    pytester.makepyfile(
        test_inner=f"""
import pytest
from pathlib import Path

@pytest.mark.parametrize("delta", {list(DELTAS)!r})
def test_changed(golden_regression, delta):
    here = Path(__file__).parent
    golden_regression.check(here / f"changed-{{delta}}.zarr", golden_dir={str(golden_here)!r})
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3)
    assert STRICT.search(result.stdout.str())


@pytest.mark.parametrize(("delta", "status"), [("1e-3", 1), ("1e-6", 0), ("ulp", 0)])
def test_another_device_is_judged_by_the_full_copy(
    predicted: Path, golden_here: Path, tmp_path: Path, delta: str, status: int
) -> None:
    changed = _changed(predicted, tmp_path / "gpu.zarr", delta, device="cuda")
    # The device is faked by editing the provenance, so 7 of 8 FOV arrays stay bit-identical
    # and the evidence rung would fail the change first; this test is about the full copy.
    result = cli("check", changed, "--golden", golden_here, "--no-identical-by-evidence")
    assert result.returncode == status, result.stdout + result.stderr
    assert "golden full copy" in result.stdout
    assert "consistent" not in result.stdout
    expected = "violated" if status else "within tolerance"
    assert f"1 {expected}" in result.stdout


@pytest.mark.parametrize("delta", ["1e-6", "ulp"])
def test_another_device_on_summaries_warns_and_strict_fails(
    predicted: Path, tmp_path: Path, delta: str
) -> None:
    summaries = tmp_path / "summaries.golden"
    written = cli("golden", "write", predicted, "--out", summaries, "--full-copy-limit", "0")
    assert written.returncode == 0, written.stderr
    changed = _changed(predicted, tmp_path / "gpu.zarr", delta, device="cuda")
    result = cli("check", changed, "--golden", summaries, "--no-identical-by-evidence")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 consistent" in result.stdout
    assert "1 passed on summaries alone" in result.stdout
    assert "could go unseen" in result.stdout
    strict = cli(
        "check", changed, "--golden", summaries, "--golden-strict", "--no-identical-by-evidence"
    )
    assert strict.returncode == 1, strict.stdout + strict.stderr


def test_fixture_strict_fails_what_only_summaries_judged(pytester: pytest.Pytester) -> None:
    """``golden_regression.check(strict=True)`` fails a "consistent"; without it, it passes."""
    from rel_stores import arrays, write_store

    from repro_golden.api import write_golden

    data = arrays()
    write_golden(
        write_store(pytester.path / "ref.zarr", data), pytester.path / "g", full_copy_limit=0
    )
    data["X"] = data["X"].copy()
    # One element in every FOV (rows 3, 23, 43 of three 20-row FOVs): with one FOV changed
    # and the others bit-identical, identical-by-evidence would fail it before the summaries.
    data["X"][[3, 23, 43], 2] += np.float32(1e-6)
    write_store(pytester.path / "emb.zarr", data)
    pytester.makepyfile(
        test_inner="""
import pytest
from pathlib import Path
from repro_golden.core.tolerance import ToleranceSpec

@pytest.mark.parametrize("strict", [False, True])
def test_strict(golden_regression, strict):
    here = Path(__file__).parent
    golden_regression.check(
        here / "emb.zarr", golden_dir=here / "g", tolerance=ToleranceSpec(1e-5), strict=strict
    )
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert "consistent (strict: unproven)" in result.stdout.str()
    assert "changed while the rest" not in result.stdout.str()


def test_calibrate_records_only_under_force_regen(
    case_file: Path,
    predicted: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The calibrate flow end to end; its predictions are copies of the module's store (the
    example reproduces bit for bit here, see test_the_store_as_predicted_passes)."""
    import types

    import repro_golden.inference.predict as predict_module
    from repro_golden.cli import main
    from repro_golden.core.golden.expectations import ExpectationKind
    from repro_golden.core.golden.store import GoldenStore

    def copy(case: object, *, output: Path, **_: object) -> object:
        shutil.copytree(predicted, output)
        return types.SimpleNamespace(path=output)

    monkeypatch.setattr(predict_module, "predict", copy)
    gpu = _changed(predicted, tmp_path / "gpu.zarr", "1e-6", device="cuda")
    golden = tmp_path / "golden"
    argv = ["calibrate", str(case_file), "--golden", str(golden), "--against", str(gpu)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "run 2 vs run 1 (run-to-run)" in out
    assert "max |diff| 0, p99.9 0, mean 0" in out
    assert "not recorded" in out
    assert not golden.exists()
    assert main([*argv, "--force-regen"]) == 0
    recorded = GoldenStore(golden).read()
    kinds = sorted(e.kind.value for e in recorded.expectations)
    assert kinds == [ExpectationKind.IDENTICAL.value, ExpectationKind.TOLERANCE.value]
    assert recorded.full is not None
    report = tmp_path / "report.json"
    result = cli("check", gpu, "--golden", golden, "--report", report)
    assert result.returncode == 0, result.stdout
    extra = json.loads(report.read_text())["extra"]
    assert extra["judged_by"].startswith("the calibrated expectation")
    assert extra["expectation"]["kind"] == "tolerance"
