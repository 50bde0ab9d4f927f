"""Fuzzing: golden-file and case-file parsing raise only the library's own exceptions.

Hypothesis mutates valid inputs: one structural edit of the decoded JSON/YAML
tree (a key deleted, a value replaced by any JSON/YAML value, a list entry
repeated), raw byte edits of ``golden.json`` (flips, truncation, insertion), and
byte edits of the sketch with its recorded digest updated (so the sketch parser,
not the digest check, meets the damage). Anything other than a
:class:`~repro_golden.errors.ReproGoldenError` fails the test. A golden set that
still reads must also go through the summary comparison without a crash.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_stores import write_store

from repro_golden.config.case_file import case_from_mapping
from repro_golden.config.load import load_case
from repro_golden.core.compare import compare_summaries
from repro_golden.core.digest import bytes_digest
from repro_golden.core.embeddings import EmbeddingsStore
from repro_golden.core.golden.store import GoldenStore
from repro_golden.core.golden.summarize import summarize
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import ReproGoldenError

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["", "repro-golden/golden/1", "0" * 32, "<f4", "<i8", "X", "../x"])
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
# What yaml.safe_load can also return: dates, bytes (!!binary), sets are dicts of None.
YAML_VALUES = (
    JSON_VALUES | st.dates() | st.binary(max_size=8) | st.just(datetime.datetime(2020, 1, 1))
)


def _slots(tree: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into ``tree`` (dict keys and list positions)."""
    out = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            out += _slots(value, (*prefix, key))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            out += _slots(value, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn, tree: Any, values: st.SearchStrategy[Any]) -> Any:
    """``tree`` with one structural mutation at a random path."""
    tree = copy.deepcopy(tree)
    path = draw(st.sampled_from(_slots(tree)[1:]))
    *parents, last = path
    node = tree
    for part in parents:
        node = node[part]
    operation = draw(st.sampled_from(["delete", "replace", "repeat", "wrap"]))
    if operation == "delete":
        del node[last]
    elif operation == "replace":
        node[last] = draw(values)
    elif operation == "repeat" and isinstance(node, list):
        node.insert(last, copy.deepcopy(node[last]))
    else:
        node[last] = [node[last]]
    return tree


@pytest.fixture(scope="module")
def golden_setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    root = tmp_path_factory.mktemp("fuzz")
    store = write_store(root / "e.zarr")
    obtained = summarize(EmbeddingsStore(store))
    GoldenStore(root / "golden").write(obtained)
    manifest = json.loads((root / "golden" / "golden.json").read_text())
    return root / "golden", manifest, obtained


TOLERANCE = ToleranceSpec(atol=1e-6, rtol=1e-5)


def _verdict(outcomes: Any) -> tuple[tuple[str, str, str], ...]:
    return tuple(sorted((o.fov or "", o.array or "", o.status.name) for o in outcomes))


def _read_and_compare(directory: Path, obtained: Any, baseline: Any) -> None:
    """A damaged golden set is refused, noticed, or harmless; never silently weaker.

    Refused: a :class:`ReproGoldenError` naming the file. Noticed: the check
    fails. Harmless: the check passes with exactly the verdict of the intact
    set (same status for every FOV and array). What fails the test is a check
    that still passes with another verdict, e.g. ``identical`` turned into
    ``consistent`` by an edited digest: damage silently accepted.
    """
    try:
        golden = GoldenStore(directory).read()
    except ReproGoldenError:
        return
    outcomes = compare_summaries(obtained, golden, TOLERANCE)
    if all(o.passed for o in outcomes):
        assert _verdict(outcomes) == baseline, (
            "a damaged golden set was accepted with a different passing verdict: "
            f"{_verdict(outcomes)} instead of {baseline}"
        )


@pytest.fixture(scope="module")
def baseline(golden_setup: tuple[Path, Any, Any]) -> Any:
    golden, _, obtained = golden_setup
    verdict = _verdict(compare_summaries(obtained, GoldenStore(golden).read(), TOLERANCE))
    assert verdict
    assert all(status == "IDENTICAL" for _, _, status in verdict), verdict
    return verdict


def _fresh(golden: Path, tmp_path: Path) -> Path:
    target = tmp_path / "g"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(golden, target)
    return target


@FUZZ
@given(data=st.data())
def test_mutated_golden_manifest_raises_only_library_errors(
    golden_setup: tuple[Path, Any, Any], baseline: Any, tmp_path: Path, data: st.DataObject
) -> None:
    golden, manifest, obtained = golden_setup
    directory = _fresh(golden, tmp_path)
    tree = data.draw(mutated(manifest, JSON_VALUES))
    (directory / "golden.json").write_text(json.dumps(tree))
    _read_and_compare(directory, obtained, baseline)


@FUZZ
@given(data=st.data())
def test_byte_damaged_golden_json_raises_only_library_errors(
    golden_setup: tuple[Path, Any, Any], baseline: Any, tmp_path: Path, data: st.DataObject
) -> None:
    golden, _, obtained = golden_setup
    directory = _fresh(golden, tmp_path)
    raw = bytearray((directory / "golden.json").read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if kind == "flip" and raw:
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del raw[at:]
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=6))
    (directory / "golden.json").write_bytes(bytes(raw))
    _read_and_compare(directory, obtained, baseline)


@FUZZ
@given(data=st.data())
def test_damaged_sketch_with_matching_digest_raises_only_library_errors(
    golden_setup: tuple[Path, Any, Any], baseline: Any, tmp_path: Path, data: st.DataObject
) -> None:
    golden, manifest, obtained = golden_setup
    directory = _fresh(golden, tmp_path)
    sketch = directory / manifest["sketch"]["file"]
    raw = bytearray(sketch.read_bytes())
    sketch.unlink()
    # Aim at the header (first ~2 kB) most of the time: it drives the parser.
    limit = data.draw(st.sampled_from([min(len(raw), 2048), len(raw)]))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, limit - 1))
        kind = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if kind == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del raw[at:]
            limit = max(1, len(raw))
        else:
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=6))
        if not raw:
            break
    digest = bytes_digest(bytes(raw))
    (directory / f"sketch-{digest}.bin").write_bytes(bytes(raw))
    tree = copy.deepcopy(manifest)
    tree["sketch"].update(file=f"sketch-{digest}.bin", xxh3_128=digest, bytes=len(raw))
    (directory / "golden.json").write_text(json.dumps(tree))
    _read_and_compare(directory, obtained, baseline)


def _case_mapping() -> dict[str, Any]:
    from repro_golden.examples.cases import EXAMPLE

    return EXAMPLE.case_mapping(plate="plate.zarr", tracks="tracks.zarr", checkpoint="model.ckpt")


def _viscy_mapping() -> dict[str, Any]:
    """A VisCy 0.4.1 LightningCLI predict config of the lab's shape."""
    encoder = {k: v for k, v in _case_mapping()["model"].items()}
    return {
        "seed_everything": 42,
        "trainer": {
            "accelerator": "gpu",
            "devices": 1,
            "precision": "32-true",
            "inference_mode": True,
            "callbacks": [
                {
                    "class_path": "viscy.representation.embedding_writer.EmbeddingWriter",
                    "init_args": {"output_path": "out/embeddings.zarr"},
                }
            ],
        },
        "model": {
            "class_path": "viscy.representation.engine.ContrastiveModule",
            "init_args": {
                "encoder": {
                    "class_path": "viscy.representation.contrastive.ContrastiveEncoder",
                    "init_args": encoder,
                },
            },
        },
        "data": {
            "class_path": "viscy.data.triplet.TripletDataModule",
            "init_args": {
                k: v for k, v in _case_mapping()["data"].items() if k not in ("normalizations",)
            }
            | {
                "normalizations": [
                    {
                        "class_path": "viscy.transforms.NormalizeSampled",
                        "init_args": {
                            "keys": ["Phase3D"],
                            "level": "fov_statistics",
                            "subtrahend": "mean",
                            "divisor": "std",
                        },
                    }
                ]
            },
        },
        "ckpt_path": "ckpt/model.ckpt",
    }


def test_fuzz_bases_are_valid(tmp_path: Path) -> None:
    """The unmutated mappings load, so the mutations start from valid input."""
    from repro_golden.config.viscy_config import case_from_viscy

    source = tmp_path / "case.yaml"
    assert case_from_mapping(_case_mapping(), base_dir=tmp_path, source=source).name == "example"
    assert case_from_viscy(_viscy_mapping(), source=source, base_dir=tmp_path).name == "case"


@FUZZ
@given(data=st.data())
def test_mutated_case_mapping_raises_only_config_errors(
    tmp_path: Path, data: st.DataObject
) -> None:

    tree = data.draw(mutated(_case_mapping(), YAML_VALUES))
    with contextlib.suppress(ReproGoldenError):
        case_from_mapping(tree, base_dir=tmp_path, source=tmp_path / "case.yaml")


@FUZZ
@given(data=st.data())
def test_mutated_viscy_config_raises_only_config_errors(
    tmp_path: Path, data: st.DataObject
) -> None:
    from repro_golden.config.viscy_config import case_from_viscy

    tree = data.draw(mutated(_viscy_mapping(), YAML_VALUES))
    with contextlib.suppress(ReproGoldenError):
        case_from_viscy(tree, source=tmp_path / "config.yaml", base_dir=tmp_path)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b.decode("latin-1")))
def test_arbitrary_case_file_text_raises_only_config_errors(tmp_path: Path, text: str) -> None:

    path = tmp_path / "case.yaml"
    path.write_text(text, encoding="utf-8")
    with contextlib.suppress(ReproGoldenError):
        load_case(path)
