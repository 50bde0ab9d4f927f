"""Pixels of one field of view: textured cells on a noisy background.

Two channels are drawn: a phase channel (``Phase3D``: cells as a textured
optical-density bump with a dark halo, on a near-zero background) and a
fluorescence channel (camera counts: a bright nucleus on an offset
background). Z-stacks fade each cell away from its focal slice.

Values are computed in float64 and then rounded onto a coarse grid (phase to
multiples of 2**-12, fluorescence to whole counts) before the float32 cast:
``exp``/``sin`` may differ in the last bit between CPUs and numpy builds, and
the rounding keeps those differences from reaching the stored array (and its
digest) except in vanishingly rare ties.
"""

from __future__ import annotations

import numpy as np

from repro_golden.examples.cases import ExampleCase
from repro_golden.examples.cells import Cell, fov_generator

_PHASE_QUANTUM = 2.0**-12
_PHASE_NOISE = 0.004
_PHASE_AMPLITUDE = 0.12
_FLUOR_OFFSET = 100.0
_FLUOR_NOISE = 4.0
_FLUOR_AMPLITUDE = 900.0
_FOCUS_SIGMA = 1.3


def _cell_window(cell: Cell, height: int, width: int) -> tuple[slice, slice]:
    reach = int(np.ceil(1.5 * max(cell.radius_y, cell.radius_x))) + 2
    return (
        slice(max(cell.y - reach, 0), min(cell.y + reach + 1, height)),
        slice(max(cell.x - reach, 0), min(cell.x + reach + 1, width)),
    )


def _texture(cell: Cell, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """A sum of four plane waves in the cell's own frame, so it moves and turns with it."""
    rng = np.random.default_rng(cell.texture_seed)
    wavelengths = rng.uniform(3.0, 8.0, size=4)
    directions = rng.uniform(0.0, np.pi, size=4)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=4)
    total = np.zeros_like(u)
    for wavelength, direction, phase in zip(wavelengths, directions, phases, strict=True):
        k = 2.0 * np.pi / wavelength
        total += np.sin(k * (u * np.cos(direction) + v * np.sin(direction)) + phase)
    return total / 4.0


def _draw_cell(cell: Cell, phase: np.ndarray, fluor: np.ndarray, z_index: int, n_z: int) -> None:
    height, width = phase.shape
    rows, cols = _cell_window(cell, height, width)
    yy, xx = np.mgrid[rows, cols].astype(np.float64)
    dy, dx = yy - cell.y, xx - cell.x
    cos_a, sin_a = np.cos(cell.angle), np.sin(cell.angle)
    u = dy * cos_a + dx * sin_a
    v = -dy * sin_a + dx * cos_a
    rho = np.sqrt((u / cell.radius_y) ** 2 + (v / cell.radius_x) ** 2)
    focus = 1.0 if n_z == 1 else float(np.exp(-((z_index - cell.z) ** 2) / (2 * _FOCUS_SIGMA**2)))
    body = 1.0 / (1.0 + np.exp((rho - 1.0) * 10.0))
    halo = np.exp(-(((rho - 1.2) / 0.15) ** 2))
    nucleus_rho = np.sqrt(
        ((u - 0.2 * cell.radius_y) / (0.45 * cell.radius_y)) ** 2
        + (v / (0.45 * cell.radius_x)) ** 2
    )
    nucleus = np.exp(-0.5 * (nucleus_rho * 2.0) ** 2)
    texture = _texture(cell, u, v)
    phase[rows, cols] += (
        focus * _PHASE_AMPLITUDE * (body * (1.0 + 0.4 * texture + 0.5 * nucleus) - 0.35 * halo)
    )
    fluor[rows, cols] += (
        focus * _FLUOR_AMPLITUDE * cell.brightness * (nucleus * (1.0 + 0.2 * texture) + 0.1 * body)
    )


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Slow illumination drift of one FOV: a few broad plane waves."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    total = np.zeros((height, width))
    for _ in range(3):
        wavelength = rng.uniform(150.0, 400.0)
        direction = rng.uniform(0.0, np.pi)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        k = 2.0 * np.pi / wavelength
        total += np.sin(k * (yy * np.cos(direction) + xx * np.sin(direction)) + phase)
    return total / 3.0


def render_fov(case: ExampleCase, fov_index: int, frames: list[list[Cell]]) -> np.ndarray:
    """The FOV's array ``0``: float32 ``(T, C, Z, Y, X)`` with channels as in ``case``.

    Channel ``Phase3D`` gets the phase image; every other channel the
    fluorescence image (the example cases have exactly one of each).
    """
    rng = fov_generator(case, fov_index, 1)
    n_t, n_z, height, width = case.shape
    n_c = len(case.channel_names)
    drift = _background(rng, height, width)
    out = np.empty((n_t, n_c, n_z, height, width), dtype=np.float32)
    for t, cells in enumerate(frames):
        for z in range(n_z):
            phase = 0.01 * drift + _PHASE_NOISE * rng.standard_normal((height, width))
            fluor = _FLUOR_OFFSET * (1.0 + 0.1 * drift) + _FLUOR_NOISE * rng.standard_normal(
                (height, width)
            )
            for cell in cells:
                _draw_cell(cell, phase, fluor, z, n_z)
            phase_q = np.round(phase / _PHASE_QUANTUM) * _PHASE_QUANTUM
            fluor_q = np.round(np.clip(fluor, 0.0, 65535.0))
            for c, name in enumerate(case.channel_names):
                out[t, c, z] = phase_q if name == "Phase3D" else fluor_q
    return out
