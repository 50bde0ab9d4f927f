"""The example cases: every number that shapes a generated example lives here.

A case is a frozen value; the generator, the digests and the case file are
all derived from it, so changing a field here changes the generated inputs
and therefore the recorded digests (re-record them deliberately).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from repro_golden.errors import ConfigError


@dataclass(frozen=True)
class Normalization:
    """One VisCy ``NormalizeSampled`` entry of the case file."""

    channel: str
    level: str
    subtrahend: str
    divisor: str

    def to_dict(self) -> dict[str, Any]:
        """The case-file form: ``{keys, level, subtrahend, divisor}``."""
        return {
            "keys": [self.channel],
            "level": self.level,
            "subtrahend": self.subtrahend,
            "divisor": self.divisor,
        }


@dataclass(frozen=True)
class ExampleCase:
    """A synthetic plate, its tracks, a seeded checkpoint and the case file that joins them.

    ``shape`` is ``(T, Z, Y, X)`` of every position's array ``0`` (channels
    come from ``channel_names``). ``interior_fraction`` of the initial cells
    start where the border filter keeps them; the rest start anywhere, so
    some rows are dropped by the filter and some cells drift across it.
    """

    name: str
    seed: int
    wells: tuple[tuple[str, str], ...]
    fovs_per_well: int
    channel_names: tuple[str, ...]
    shape: tuple[int, int, int, int]
    cells_per_fov: int
    interior_fraction: float
    division_probability: float
    source_channels: tuple[str, ...]
    z_range: tuple[int, int]
    patch_size: tuple[int, int]
    batch_size: int
    stem_kernel_size: tuple[int, int, int]
    normalizations: tuple[Normalization, ...]
    grid_spacing: int = 32
    embedding_dim: int = 768
    projection_dim: int = 32

    @property
    def fov_names(self) -> tuple[str, ...]:
        """Position paths ``row/col/fov`` in plate order (fov paths are 0, 1, ...)."""
        return tuple(
            f"{row}/{col}/{fov}" for row, col in self.wells for fov in range(self.fovs_per_well)
        )

    @property
    def in_stack_depth(self) -> int:
        """Number of Z slices the model sees (the length of ``z_range``)."""
        return self.z_range[1] - self.z_range[0]

    def model_mapping(self) -> dict[str, Any]:
        """The case file's ``model:`` section (VisCy ``ContrastiveEncoder`` arguments)."""
        return {
            "backbone": "convnext_tiny",
            "in_channels": len(self.source_channels),
            "in_stack_depth": self.in_stack_depth,
            "stem_kernel_size": list(self.stem_kernel_size),
            "stem_stride": list(self.stem_kernel_size),
            "embedding_dim": self.embedding_dim,
            "projection_dim": self.projection_dim,
            "drop_path_rate": 0.0,
        }

    def case_mapping(self, *, plate: str, tracks: str, checkpoint: str) -> dict[str, Any]:
        """The whole case file (schema ``repro-golden/case/1``), paths relative to it."""
        return {
            "schema": "repro-golden/case/1",
            "name": self.name,
            "model": self.model_mapping(),
            "data": {
                "data_path": plate,
                "tracks_path": tracks,
                "source_channel": list(self.source_channels),
                "z_range": list(self.z_range),
                "initial_yx_patch_size": list(self.patch_size),
                "final_yx_patch_size": list(self.patch_size),
                "batch_size": self.batch_size,
                "num_workers": 0,
                "normalizations": [norm.to_dict() for norm in self.normalizations],
                "include_wells": None,
                "include_fov_names": None,
                "exclude_fov_names": None,
            },
            "trainer": {"accelerator": "cpu", "devices": 1, "precision": "32-true"},
            "numerics": {
                "seed": 42,
                "deterministic": True,
                "matmul_precision": "highest",
                "cudnn_benchmark": False,
                "cpu_threads": CPU_THREADS,
            },
            "checkpoint": checkpoint,
            "output": "embeddings.zarr",
            "reference": None,
            "golden": None,
            "tolerance": dict(GOLDEN_TOLERANCE),
        }


#: Torch's intra-op threads for the example cases. CPU kernels split their sums by
#: thread, so the last bits depend on it; pinned, the committed golden digests hold
#: on any machine with the same kind of CPU, whatever its core count.
CPU_THREADS = 2

#: Tolerance of the example cases' golden checks. Identical digests are expected
#: on the machines the golden files were made on; another CPU family (other SIMD
#: kernels) moves the last bits by about 1e-6, which this allows, while a real
#: regression (a changed weight, normalization or crop) moves values by far more
#: and is proven by the summaries (see docs/golden-files.md, detection power).
GOLDEN_TOLERANCE = {"atol": 1e-5, "rtol": 1e-4}


EXAMPLE = ExampleCase(
    name="example",
    seed=20_240_601,
    wells=(("A", "1"), ("B", "2")),
    fovs_per_well=2,
    channel_names=("Phase3D", "RFP"),
    shape=(4, 1, 320, 320),
    cells_per_fov=14,
    interior_fraction=0.6,
    division_probability=0.12,
    source_channels=("Phase3D",),
    z_range=(0, 1),
    patch_size=(160, 160),
    batch_size=64,
    stem_kernel_size=(1, 4, 4),
    normalizations=(Normalization("Phase3D", "fov_statistics", "mean", "std"),),
)

ZSTACK = ExampleCase(
    name="zstack",
    seed=20_240_602,
    wells=(("A", "1"), ("B", "1")),
    fovs_per_well=2,
    channel_names=("Phase3D", "RFP"),
    shape=(3, 5, 256, 256),
    cells_per_fov=10,
    interior_fraction=0.6,
    division_probability=0.15,
    source_channels=("Phase3D", "RFP"),
    z_range=(1, 4),
    patch_size=(128, 128),
    batch_size=16,
    stem_kernel_size=(3, 4, 4),
    normalizations=(
        Normalization("Phase3D", "fov_statistics", "mean", "std"),
        Normalization("RFP", "dataset_statistics", "median", "iqr"),
    ),
)

CASES: dict[str, ExampleCase] = {case.name: case for case in (EXAMPLE, ZSTACK)}


def get_case(name: str) -> ExampleCase:
    """The example case called ``name``; :class:`ConfigError` lists the known ones."""
    try:
        return CASES[name]
    except KeyError:
        known = ", ".join(sorted(CASES))
        raise ConfigError(f"unknown example case {name!r}; expected one of: {known}") from None
