"""Cell lineages of one field of view: positions that move, cells that divide, tracks.

The simulation works on integer pixel centres, so the tracks table says
exactly where each rendered cell is. Each field of view draws from its own
``numpy`` generator seeded by ``(case seed, fov index)``; nothing depends on
global random state.

Tracks follow ultrack's conventions as used by the lab: ``id`` is a node id
unique within the FOV, ``parent_id`` is the node this one continues from (the
previous time point of the same track, or the mother's last node for the
first node of a daughter), ``parent_track_id`` is the mother's track for
daughter tracks, and ``-1`` means none.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from repro_golden.examples.cases import ExampleCase

TRACK_COLUMNS = ("track_id", "t", "id", "parent_track_id", "parent_id", "z", "y", "x")
NO_PARENT = -1
_MIN_RADIUS = 9.0
_MAX_RADIUS = 15.0


@dataclass(frozen=True)
class Cell:
    """One cell at one time point: its tracks row plus how it looks."""

    track_id: int
    t: int
    node_id: int
    parent_track_id: int
    parent_id: int
    z: int
    y: int
    x: int
    radius_y: float
    radius_x: float
    angle: float
    brightness: float
    texture_seed: int

    def row(self) -> tuple[int, ...]:
        """The tracks-table row, in :data:`TRACK_COLUMNS` order."""
        return (
            self.track_id,
            self.t,
            self.node_id,
            self.parent_track_id,
            self.parent_id,
            self.z,
            self.y,
            self.x,
        )


@dataclass
class _Live:
    """A cell being simulated: its last node and its velocity."""

    cell: Cell
    velocity: tuple[float, float]


def fov_generator(case: ExampleCase, fov_index: int, purpose: int) -> np.random.Generator:
    """An independent generator for one FOV and one purpose (0 cells, 1 pixels)."""
    return np.random.default_rng(np.random.SeedSequence([case.seed, fov_index, purpose]))


def _initial_centre(
    case: ExampleCase, rng: np.random.Generator, taken: list[tuple[int, int]]
) -> tuple[int, int]:
    _, _, height, width = case.shape
    half_y, half_x = case.patch_size[0] // 2, case.patch_size[1] // 2
    for _ in range(200):
        if rng.random() < case.interior_fraction:
            y = int(rng.integers(half_y + 4, height - half_y - 4))
            x = int(rng.integers(half_x + 4, width - half_x - 4))
        else:
            y = int(rng.integers(0, height))
            x = int(rng.integers(0, width))
        if all((y - ty) ** 2 + (x - tx) ** 2 >= (2.2 * _MAX_RADIUS) ** 2 for ty, tx in taken):
            return y, x
    return y, x


def _first_cells(case: ExampleCase, rng: np.random.Generator) -> list[_Live]:
    """The cells of time point 0, tracks numbered from 1, none overlapping."""
    n_z = case.shape[1]
    live: list[_Live] = []
    taken: list[tuple[int, int]] = []
    for k in range(case.cells_per_fov):
        y, x = _initial_centre(case, rng, taken)
        taken.append((y, x))
        radius = float(rng.uniform(_MIN_RADIUS + 2, _MAX_RADIUS))
        angle = float(rng.uniform(-1.0, 1.0) * np.pi)
        speed = float(rng.uniform(2.0, 6.0))
        direction = float(rng.uniform(-1.0, 1.0) * np.pi)
        cell = Cell(
            track_id=k + 1,
            t=0,
            node_id=1_000_000 + k + 1,
            parent_track_id=NO_PARENT,
            parent_id=NO_PARENT,
            z=int(rng.integers(1, n_z - 1)) if n_z > 2 else 0,
            y=y,
            x=x,
            radius_y=radius,
            radius_x=radius * float(rng.uniform(0.65, 1.0)),
            angle=angle,
            brightness=float(rng.uniform(0.2, 1.0)),
            texture_seed=int(rng.integers(0, 2**31)),
        )
        live.append(_Live(cell, (speed * np.sin(direction), speed * np.cos(direction))))
    return live


def _daughters(mother: Cell, rng: np.random.Generator, first_track: int) -> list[_Live]:
    """Two new tracks on either side of ``mother`` along its long axis, moving apart."""
    offset = 0.75 * mother.radius_y
    daughters = []
    for number, sign in enumerate((-1.0, 1.0)):
        along = (sign * np.cos(mother.angle), sign * np.sin(mother.angle))
        daughter = replace(
            mother,
            track_id=first_track + number,
            parent_track_id=mother.track_id,
            parent_id=mother.node_id,
            y=int(np.rint(mother.y + offset * along[0])),
            x=int(np.rint(mother.x + offset * along[1])),
            radius_y=mother.radius_y * 0.8,
            radius_x=mother.radius_x * 0.8,
            angle=mother.angle + float(rng.normal(0.0, 0.3)),
            texture_seed=int(rng.integers(0, 2**31)),
        )
        daughters.append(_Live(daughter, (2.0 * along[0], 2.0 * along[1])))
    return daughters


def _moved(item: _Live, rng: np.random.Generator) -> _Live:
    """The same track one time point later: velocity jittered, shape turned a little."""
    mother = item.cell
    vy = item.velocity[0] + float(rng.normal(0.0, 1.0))
    vx = item.velocity[1] + float(rng.normal(0.0, 1.0))
    moved = replace(
        mother,
        parent_id=mother.node_id,
        y=int(np.rint(mother.y + vy)),
        x=int(np.rint(mother.x + vx)),
        angle=mother.angle + float(rng.normal(0.0, 0.1)),
    )
    return _Live(moved, (vy, vx))


def simulate_fov(case: ExampleCase, fov_index: int) -> list[list[Cell]]:
    """Cells present in each frame of one FOV (list per time point, in track order).

    A cell whose centre leaves the frame ends its track; a dividing cell ends
    its track and two daughters, each a new track, appear at the next time
    point on either side of it. Node ids are ``(t + 1) * 1_000_000 + k``.
    """
    rng = fov_generator(case, fov_index, 0)
    n_t, _, height, width = case.shape
    live = _first_cells(case, rng)
    next_track = len(live) + 1
    frames = [[item.cell for item in live]]
    for t in range(1, n_t):
        upcoming: list[_Live] = []
        for item in live:
            divides = rng.random() < case.division_probability
            if divides and item.cell.radius_y > _MIN_RADIUS + 2:
                upcoming.extend(_daughters(item.cell, rng, next_track))
                next_track += 2
            else:
                upcoming.append(_moved(item, rng))
        live = []
        for item in upcoming:
            cell = item.cell
            if 0 <= cell.y < height and 0 <= cell.x < width:
                node = replace(cell, t=t, node_id=(t + 1) * 1_000_000 + len(live) + 1)
                live.append(_Live(node, item.velocity))
        frames.append([item.cell for item in live])
    return frames


def tracks_table(frames: list[list[Cell]]) -> np.ndarray:
    """The FOV's tracks as an int64 ``(N, 8)`` array sorted by ``(track_id, t)``."""
    rows = [cell.row() for frame in frames for cell in frame]
    table = np.asarray(rows, dtype=np.int64).reshape(-1, len(TRACK_COLUMNS))
    order = np.lexsort((table[:, 1], table[:, 0]))
    return table[order]


def tracks_csv(table: np.ndarray) -> str:
    """CSV text of a tracks table: header, then one integer row per line (``\\n`` endings)."""
    lines = [",".join(TRACK_COLUMNS)]
    lines.extend(",".join(str(int(value)) for value in row) for row in table)
    return "\n".join(lines) + "\n"
