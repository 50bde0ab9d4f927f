"""Example cases that run anywhere: a synthetic plate, tracks and checkpoint, hash-verified.

``generate_example(directory, case="example")`` writes ``plate.zarr``,
``tracks.zarr``, ``model.ckpt`` and ``case.yaml`` into ``directory`` and
returns the case file, after checking every input's digest against
``golden/<case>/inputs.json``. Importing this package costs nothing: the
generator (numpy, zarr, torch) is imported when called.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["generate_example"]


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
