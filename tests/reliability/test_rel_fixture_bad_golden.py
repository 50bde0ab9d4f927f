"""The ``golden_regression`` fixture fails clearly on a bad golden file and never rewrites it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rel_stores import write_store

from repro_golden.api import write_golden

INNER_TEST = """
from pathlib import Path

def test_uses_golden(golden_regression):
    here = Path(__file__).parent
    golden_regression.check(here / "emb.zarr", golden_dir=here / "golden")
"""


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        (lambda m: m.update(schema="repro-golden/golden/3"), "[schema]"),
        (lambda m: m["fovs"].pop(), "[fovs]"),
        (lambda m: m["fovs"][1].update(digest="0" * 32), "[fovs[1].digest]"),
    ],
    ids=["future-schema", "missing-fov-entry", "wrong-digest"],
)
def test_fixture_fails_naming_file_and_key_and_keeps_the_file(
    pytester: pytest.Pytester, edit: object, key: str
) -> None:
    store = write_store(pytester.path / "emb.zarr")
    golden = pytester.path / "golden"
    manifest_path = write_golden(store, golden)
    manifest = json.loads(manifest_path.read_text())
    edit(manifest)  # type: ignore[operator]
    manifest_path.write_text(json.dumps(manifest))
    before = {p.name: p.read_bytes() for p in golden.iterdir()}
    pytester.makepyfile(test_inner=INNER_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    assert "cannot be used" in output
    assert str(Path(golden) / "golden.json") in output
    assert key in output
    assert {p.name: p.read_bytes() for p in golden.iterdir()} == before
