"""The case file's ``oracle:`` switch (issue 19): the fixture's regen writes the oracle
section with the golden set, as ``golden write --oracle CASE`` does, and ``check`` reads it.

On the tiny case (a few seconds to predict; the fp64 truth of 4 cells in seconds).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tiny_case import write_tiny_case

from repro_golden.config.load import load_case
from repro_golden.errors import ConfigError

pytest.importorskip("torch")


def test_oracle_switch_values(tmp_path: Path) -> None:
    case_file = write_tiny_case(tmp_path / "case")
    mapping = yaml.safe_load(case_file.read_text())
    for value, expected in ((True, 256), (4, 4), (False, None)):
        case_file.write_text(yaml.safe_dump({**mapping, "oracle": value}))
        assert load_case(case_file).oracle == expected
    case_file.write_text(yaml.safe_dump({**mapping, "oracle": "many"}))
    with pytest.raises(ConfigError) as info:
        load_case(case_file)
    assert info.value.key == "oracle"


def test_the_fixture_regen_writes_the_oracle_a_case_asks_for(pytester: pytest.Pytester) -> None:
    from repro_golden.api import check_golden
    from repro_golden.core.oracle_format import ORACLE_FILE
    from repro_golden.inference.predict import predict

    case_file = write_tiny_case(pytester.path / "case")
    mapping = yaml.safe_load(case_file.read_text())
    case_file.write_text(yaml.safe_dump({**mapping, "oracle": 4}))
    emb = predict(load_case(case_file), output=pytester.path / "emb.zarr", progress=False).path
    pytester.makepyfile(
        test_inner="""
from pathlib import Path
from repro_golden.config.load import load_case

def test_golden(golden_regression):
    here = Path(__file__).parent
    case = load_case(here / "case" / "case.yaml")
    golden_regression.check(here / "emb.zarr", golden_dir=here / "golden", case=case)
"""
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(failed=1)  # written
    assert (pytester.path / "golden" / ORACLE_FILE).is_file()
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    report = check_golden(emb, pytester.path / "golden")
    assert report.passed
