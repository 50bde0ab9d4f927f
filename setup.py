"""Build hook: ship the example cases' recorded files (``golden/<case>/``) as package data.

The checkout keeps them in ``golden/`` (where git reviews them and the tests
check them); a wheel carries a copy under ``repro_golden/examples/golden/`` so
``repro-golden example`` and the golden check work from an installed package.
Everything else about the build is in ``pyproject.toml``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: The example cases whose recorded files the wheel ships (not the cluster's).
SHIPPED_CASES = ("example", "zstack")


class BuildPyWithGoldenFiles(build_py):
    """``build_py`` that also copies ``golden/<case>/`` into the built package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads golden/ from the checkout
            return
        target = Path(self.build_lib) / "repro_golden" / "examples" / "golden"
        for case in SHIPPED_CASES:
            source = ROOT / "golden" / case
            if not (source / "inputs.json").is_file():
                raise SystemExit(
                    f"setup.py: {source / 'inputs.json'} is missing: cannot ship {case}"
                )
            shutil.rmtree(target / case, ignore_errors=True)
            shutil.copytree(source, target / case)


setup(cmdclass={"build_py": BuildPyWithGoldenFiles})
