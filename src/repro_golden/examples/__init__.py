"""Example cases that run anywhere: a synthetic plate, tracks and checkpoint, hash-verified.

``generate_example(directory, case="example")`` writes ``plate.zarr``,
``tracks.zarr``, ``model.ckpt`` and ``case.yaml`` into ``directory`` and
returns the case file, after checking every input's digest against
``golden/<case>/inputs.json``; ``verify_example(directory, case=...)``
re-checks a directory generated earlier (for example right before a
prediction, in case a file was touched since). Importing this package costs nothing: the
generator (numpy, zarr, torch) is imported when called.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["generate_example", "verify_example"]


def generate_example(
    directory: str | Path,
    *,
    case: str = "example",
    overwrite: bool = False,
    regen_fixtures: bool = False,
    inputs_path: str | Path | None = None,
) -> Path:
    """Generate example ``case`` into ``directory``; return the case file's path.

    Every input is verified against the recorded digests before anything
    lands in ``directory``; drift raises
    :class:`~repro_golden.errors.FixtureDriftError` naming the changed items.
    ``regen_fixtures`` records the digests instead (deliberately, like
    ``--force-regen``); ``inputs_path`` overrides where they are recorded.
    """
    from repro_golden.examples.generate import generate

    return generate(
        directory,
        case=case,
        overwrite=overwrite,
        regen_fixtures=regen_fixtures,
        inputs_path=inputs_path,
    )


def verify_example(
    directory: str | Path,
    *,
    case: str = "example",
    inputs_path: str | Path | None = None,
) -> None:
    """Re-check every input of an already generated ``directory`` against the recorded digests.

    Raises :class:`~repro_golden.errors.FixtureDriftError` naming the items
    that differ, or :class:`~repro_golden.errors.GoldenFileError` when no
    usable digests are recorded.
    """
    from repro_golden.examples import fixtures
    from repro_golden.examples.cases import get_case
    from repro_golden.examples.inputs import input_digests

    spec = get_case(case)
    recorded = (
        Path(inputs_path) if inputs_path is not None else fixtures.default_inputs_path(spec.name)
    )
    fixtures.load_recorded(recorded, case=spec.name)
    fixtures.verify(recorded, case=spec.name, digests=input_digests(spec, Path(directory)))
