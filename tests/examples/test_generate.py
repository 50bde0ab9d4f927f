"""Generation: deterministic, verified against golden/<case>/inputs.json, drift caught and named."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from repro_golden.cli import EXIT_BAD_INPUT, EXIT_OK, main
from repro_golden.errors import GoldenFileError, OutputExistsError
from repro_golden.examples import fixtures, generate_example, verify_example
from repro_golden.examples import generate as generate_module
from repro_golden.examples.cases import EXAMPLE
from repro_golden.examples.fixtures import InputDigestDriftError
from repro_golden.examples.generate import ITEMS
from repro_golden.examples.inputs import CHECKPOINT, input_digests


def test_two_generations_give_identical_digests(example_dir: Path, tmp_path: Path) -> None:
    started = time.perf_counter()
    second = generate_example(tmp_path / "again").parent
    seconds = time.perf_counter() - started
    print(f"generation of case 'example' (imports warm): {seconds:.1f} s")
    first_digests = input_digests(EXAMPLE, example_dir)
    assert first_digests == input_digests(EXAMPLE, second)
    recorded = fixtures.load_recorded(fixtures.default_inputs_path("example"), case="example")
    assert first_digests == recorded
    assert seconds < 30.0


def test_one_pixel_change_is_caught_named_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render = generate_module.render_fov

    def render_with_one_changed_pixel(case, fov_index, frames):  # type: ignore[no-untyped-def]
        image = render(case, fov_index, frames)
        if fov_index == 0:
            # (5, 7) lies off the 32-pixel statistics grid: only the array changes.
            image[1, 0, 0, 5, 7] += np.float32(1.0)
        return image

    monkeypatch.setattr(generate_module, "render_fov", render_with_one_changed_pixel)
    target = tmp_path / "drifted"
    with pytest.raises(InputDigestDriftError) as info:
        generate_example(target)
    assert info.value.drift.changed == ("plate A/1/0 array 0",)
    assert not info.value.drift.missing
    assert not info.value.drift.extra
    assert "plate A/1/0 array 0" in str(info.value)
    assert sorted(p.name for p in target.iterdir()) == []


def test_one_changed_weight_is_caught_and_named(example_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(example_dir, copy)
    checkpoint = torch.load(copy / CHECKPOINT, weights_only=True)
    weight = checkpoint["state_dict"]["model.stem.conv.weight"]
    weight.view(-1)[3] = torch.nextafter(weight.view(-1)[3], torch.tensor(np.inf))
    torch.save(checkpoint, copy / CHECKPOINT)
    with pytest.raises(InputDigestDriftError) as info:
        fixtures.verify(
            fixtures.default_inputs_path("example"),
            case="example",
            digests=input_digests(EXAMPLE, copy),
        )
    assert info.value.drift.changed == ("checkpoint model.stem.conv.weight",)
    assert "checkpoint model.stem.conv.weight" in str(info.value)


def test_existing_items_are_not_replaced_without_overwrite(example_dir: Path) -> None:
    before = (example_dir / "case.yaml").stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match=r"plate\.zarr"):
        generate_example(example_dir)
    assert (example_dir / "case.yaml").stat().st_mtime_ns == before


def test_cli_refuses_to_clobber_a_generated_directory(
    example_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["example", str(example_dir)]) == EXIT_BAD_INPUT
    assert "--overwrite" in capsys.readouterr().err


def test_cli_refuses_unknown_case(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as info:
        main(["example", str(tmp_path / "x"), "--case", "nope"])
    assert info.value.code == 2
    assert not (tmp_path / "x").exists()


def test_missing_digests_stop_generation_up_front(tmp_path: Path) -> None:
    with pytest.raises(GoldenFileError, match="--force-regen-fixtures"):
        generate_example(tmp_path / "out", inputs_path=tmp_path / "absent.json")
    assert not (tmp_path / "out").exists()


def test_importing_examples_is_free() -> None:
    code = (
        "import sys, repro_golden.examples, repro_golden.cli.example_cmd\n"
        "heavy = {'torch', 'numpy', 'zarr', 'timm', 'lightning'} & set(sys.modules)\n"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_verify_example_names_a_touched_tracks_file(example_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(example_dir, copy)
    verify_example(copy)
    tracks = copy / "tracks.zarr" / "B/2/1" / "tracks.csv"
    lines = tracks.read_text().splitlines()
    fields = lines[1].split(",")
    fields[-1] = str(int(fields[-1]) + 1)
    tracks.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n")
    with pytest.raises(InputDigestDriftError) as info:
        verify_example(copy)
    assert info.value.drift.changed == ("tracks B/2/1",)


def test_cli_records_then_verifies_an_explicit_inputs_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = tmp_path / "inputs.json"
    target = tmp_path / "out"
    args = ["example", str(target), "--case", "zstack", "--inputs", str(recorded)]
    assert main([*args, "--force-regen-fixtures"]) == EXIT_OK
    assert fixtures.load_recorded(recorded, case="zstack") == fixtures.load_recorded(
        fixtures.default_inputs_path("zstack"), case="zstack"
    )
    assert main([*args, "--overwrite"]) == EXIT_OK
    assert f"repro-golden predict {target / 'case.yaml'}" in capsys.readouterr().out
    assert sorted(p.name for p in target.iterdir()) == sorted(ITEMS)
