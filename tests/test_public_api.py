"""Top-level names in ``repro_golden``: what a lab's test imports, loaded only when used."""

from __future__ import annotations

import subprocess
import sys

import pytest

import repro_golden


def _fresh(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return result.stdout.strip()


def test_import_loads_nothing_heavy() -> None:
    """``import repro_golden`` stays cheap: no torch, numpy, yaml or submodule of ours."""
    loaded = _fresh(
        "import sys, repro_golden; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'numpy', 'yaml', 'zarr', 'anndata', 'lightning') "
        "or m.startswith('repro_golden.')))"
    )
    assert loaded == "[]"


def test_checking_names_stay_torch_free() -> None:
    """Loading a case and the check imports no torch (the calling side of a lab interpreter)."""
    loaded = _fresh(
        "import sys; from repro_golden import Case, ToleranceSpec, check, load_case; "
        "print(sorted(m for m in ('torch', 'lightning', 'anndata') if m in sys.modules))"
    )
    assert loaded == "[]"


@pytest.mark.parametrize("name", sorted(set(repro_golden.__all__) - {"__version__"}))
def test_every_public_name_resolves_to_its_module(name: str) -> None:
    from importlib import import_module

    module, attribute = repro_golden._LAZY[name]
    assert getattr(repro_golden, name) is getattr(import_module(module), attribute)
    assert name in dir(repro_golden)


def test_the_lab_names() -> None:
    from repro_golden.api import check_golden
    from repro_golden.config.load import load_case
    from repro_golden.inference.predict import predict

    assert repro_golden.check is check_golden
    assert repro_golden.load_case is load_case
    assert repro_golden.predict is predict
    assert isinstance(repro_golden.__version__, str)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        repro_golden.nope  # noqa: B018


def test_all_lists_exactly_the_lazy_names() -> None:
    assert set(repro_golden.__all__) == {"__version__", *repro_golden._LAZY}
