"""The case file's ``data:`` section: VisCy ``TripletDataModule`` predict-mode arguments.

Keys carry VisCy's names so that a VisCy LightningCLI ``data.init_args`` block
maps onto :class:`DataConfig` one to one. Keys that only matter for training
(``split_ratio``, ``augmentations``, ``time_interval``, ...) are accepted and
ignored, because they do not change what predict reads. Anything else unknown
is a :class:`~repro_golden.errors.ConfigError`: a typo must not silently fall
back to a default.

Semantics follow VisCy 0.4.1 exactly, including its surprises:

* ``include_wells`` (VisCy: ``fit_include_wells``) and ``exclude_fov_names``
  (VisCy: ``fit_exclude_fovs``) select FOVs in predict mode too;
* ``include_fov_names`` / ``include_track_ids`` only act when
  ``predict_cells`` is true, where they are zipped into (FOV, track) pairs;
  without ``predict_cells`` VisCy ignores them, and so do we.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_golden.config import validate
from repro_golden.config.expand import expand_string, expand_tree
from repro_golden.config.validate import refuse_unknown
from repro_golden.errors import ConfigError

#: Normalization levels VisCy's ``NormalizeSampled`` can use on triplet batches.
#: (``timepoint_statistics`` needs a per-sample time index that VisCy's triplet
#: predict path does not provide, so VisCy fails on it; we refuse it up front.)
NORMALIZATION_LEVELS = ("fov_statistics", "dataset_statistics")

_VISCY_NORMALIZE = "NormalizeSampled"

#: Keys VisCy accepts that do not change prediction; accepted and ignored.
_IGNORED_KEYS = frozenset(
    {
        "split_ratio",
        "augmentations",
        "augment_validation",
        "caching",
        "time_interval",
        "return_negative",
        "persistent_workers",
        "prefetch_factor",
        "pin_memory",
        "cache_pool_bytes",
    }
)

_ALIASES = {"fit_include_wells": "include_wells", "fit_exclude_fovs": "exclude_fov_names"}


def expand_env(value: str, *, source: Path, key: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` in one string; an unset variable without
    default is a :class:`~repro_golden.config.expand.UnsetVariableError`."""
    return expand_string(value, source=source, key=key)


#: Default cap on decode threads: each one holds a decoded frame region (16 MiB for a
#: 2048 x 2048 float32 frame), so this bounds that memory on many-core nodes.
MAX_DECODE_THREADS = 16


def available_cores() -> int:
    """Cores this process may use: its CPU affinity (a cgroup or ``taskset`` limit shows
    there, unlike ``os.cpu_count``), lowered to ``$SLURM_CPUS_PER_TASK`` when set and smaller."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_PER_TASK", "")
    if slurm.isdigit() and int(slurm) > 0:
        cores = min(cores, int(slurm))
    return max(1, cores)


@dataclass(frozen=True)
class NormalizationSpec:
    """One ``NormalizeSampled``: ``(x - meta[subtrahend]) / (meta[divisor] + 1e-8)`` per key."""

    keys: tuple[str, ...]
    level: str
    subtrahend: str = "mean"
    divisor: str = "std"


@dataclass(frozen=True)
class DataConfig:
    """Predict-mode data settings (VisCy ``TripletDataModule`` names and defaults).

    Loader tuning that VisCy does not have: ``cache_bytes`` bounds the memory
    of patches cut ahead of the batch being served, ``prefetch_batches`` how
    many finished batches may wait for the model, ``read_threads`` how many
    frames are decoded at once (see :attr:`decode_threads`). VisCy's
    ``num_workers`` (thread workers of its DataLoader) has no other role here:
    our DataLoader runs in the main process and reading happens on the
    loader's own threads.
    """

    data_path: Path
    tracks_path: Path
    source_channel: tuple[str, ...]
    z_range: tuple[int, int]
    initial_yx_patch_size: tuple[int, int] = (512, 512)
    final_yx_patch_size: tuple[int, int] = (224, 224)
    batch_size: int = 16
    num_workers: int = 1
    normalizations: tuple[NormalizationSpec, ...] = ()
    z_window_size: int | None = None
    include_wells: tuple[str, ...] | None = None
    exclude_fov_names: tuple[str, ...] | None = None
    predict_cells: bool = False
    include_fov_names: tuple[str, ...] | None = None
    include_track_ids: tuple[int, ...] | None = None
    cache_bytes: int = 1 << 30
    prefetch_batches: int = 4
    read_threads: int | None = None
    source: Path | None = field(default=None, compare=False)

    @property
    def decode_threads(self) -> int:
        """``read_threads`` when the case sets it; else the cores this process may run on
        (``os.sched_getaffinity``, lowered to ``$SLURM_CPUS_PER_TASK`` when that is smaller),
        at most :data:`MAX_DECODE_THREADS`, and never fewer than ``num_workers``."""
        if self.read_threads is not None:
            return self.read_threads
        return max(1, self.num_workers, min(MAX_DECODE_THREADS, available_cores()))

    @property
    def final_z_size(self) -> int:
        """Depth of the final centre crop (VisCy: ``z_window_size or z_range[1] - z_range[0]``)."""
        return self.z_window_size or self.z_range[1] - self.z_range[0]

    @classmethod
    def from_mapping(
        cls, mapping: Mapping[str, Any], *, base_dir: Path, source: Path, expand: bool = True
    ) -> DataConfig:
        """Build from a case file's ``data:`` mapping; relative paths resolve against ``base_dir``.

        ``${VAR}`` references are expanded first (``expand=False``: the caller
        expanded the whole file already, and a value must not be expanded twice).
        Raises :class:`ConfigError` naming ``source`` and the key on anything unusable.
        """
        if not isinstance(mapping, Mapping):
            raise ConfigError(
                f"expected a mapping, found {type(mapping).__name__}", path=source, key="data"
            )
        if expand:
            mapping = expand_tree(mapping, source=source, key="data")
        values: dict[str, Any] = {}
        for raw_key, value in mapping.items():
            key = _ALIASES.get(str(raw_key), str(raw_key))
            if raw_key in _IGNORED_KEYS:
                continue
            if key in values:
                raise ConfigError(
                    f"given twice (as {raw_key!r} and its alias)", path=source, key=f"data.{key}"
                )
            values[key] = value
        known = {f for f in cls.__dataclass_fields__ if f != "source"}
        refuse_unknown(values, known | set(_ALIASES), source=source, section="data")
        for required in ("data_path", "tracks_path", "source_channel", "z_range"):
            if values.get(required) is None:
                raise ConfigError("is required", path=source, key=f"data.{required}")
        parser = _Parser(source, base_dir)
        kwargs: dict[str, Any] = {"source": source}
        for key, value in values.items():
            read, none_is_default = _FIELDS[key]
            if value is None and none_is_default:
                continue
            kwargs[key] = read(parser, value, key)
        config = cls(**kwargs)
        z0, z1 = config.z_range
        if z1 <= z0:
            raise ConfigError(
                f"expected [start, stop) with stop > start, found {list(config.z_range)}",
                path=source,
                key="data.z_range",
            )
        for spec in config.normalizations:
            for channel in spec.keys:
                if channel not in config.source_channel:
                    raise ConfigError(
                        f"normalization key {channel!r} is not a source channel "
                        f"{list(config.source_channel)}",
                        path=source,
                        key="data.normalizations",
                    )
        return config


class _Parser:
    """Typed readers for one config file's ``data:`` section; failures name file and key."""

    def __init__(self, source: Path, base_dir: Path) -> None:
        self.source = source
        self.base_dir = base_dir

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, path=self.source, key=f"data.{key}")

    def path(self, value: Any, key: str) -> Path:
        if not isinstance(value, str | os.PathLike):
            raise self.fail(key, f"expected a path, found {value!r}")
        path = Path(value)  # expanded with the rest of the mapping
        return path if path.is_absolute() else self.base_dir / path

    def integer(self, value: Any, key: str, minimum: int) -> int:
        return validate.integer(value, source=self.source, key=f"data.{key}", minimum=minimum)

    def int_pair(self, value: Any, key: str, minimum: int) -> tuple[int, int]:
        pair = validate.integers(
            value, source=self.source, key=f"data.{key}", length=2, minimum=minimum
        )
        return (pair[0], pair[1])

    def boolean(self, value: Any, key: str) -> bool:
        return validate.boolean(value, source=self.source, key=f"data.{key}")

    def channels(self, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        names = self.names(value, "source_channel")
        if not names:
            raise self.fail("source_channel", "expected at least one channel name")
        if len(set(names)) != len(names):
            # VisCy keys channels by name, so a repeated name silently collapses there.
            raise self.fail(
                "source_channel", f"expected distinct channel names, found {list(names)}"
            )
        return names

    def names(self, value: Any, key: str) -> tuple[str, ...]:
        return validate.names(value, source=self.source, key=f"data.{key}")

    def ints(self, value: Any, key: str) -> tuple[int, ...]:
        return validate.integers(value, source=self.source, key=f"data.{key}")

    def normalizations(self, value: Any) -> tuple[NormalizationSpec, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.fail("normalizations", f"expected a list, found {value!r}")
        return tuple(self.normalization(item, i) for i, item in enumerate(value))

    def normalization(self, item: Any, position: int) -> NormalizationSpec:
        key = f"normalizations[{position}]"
        if not isinstance(item, Mapping):
            raise self.fail(key, f"expected a mapping, found {item!r}")
        if "class_path" in item:
            class_path = str(item["class_path"])
            if class_path.rsplit(".", 1)[-1] != _VISCY_NORMALIZE:
                raise self.fail(
                    key,
                    f"only {_VISCY_NORMALIZE} is supported in predict mode, found {class_path!r}",
                )
            item = item.get("init_args") or {}
            if not isinstance(item, Mapping):
                raise self.fail(key + ".init_args", f"expected a mapping, found {item!r}")
        allowed = {"keys", "level", "subtrahend", "divisor", "remove_meta"}
        validate.refuse_unknown(item, allowed, source=self.source, key=f"data.{key}")
        keys = item.get("keys")
        keys_tuple = (keys,) if isinstance(keys, str) else self.names(keys, key + ".keys")
        level = item.get("level")
        if level not in NORMALIZATION_LEVELS:
            raise self.fail(
                key + ".level", f"expected one of {list(NORMALIZATION_LEVELS)}, found {level!r}"
            )
        stats = {}
        for stat, default in (("subtrahend", "mean"), ("divisor", "std")):
            name = item.get(stat, default)
            if not isinstance(name, str):
                raise self.fail(f"{key}.{stat}", f"expected a statistic name, found {name!r}")
            stats[stat] = name
        return NormalizationSpec(keys=keys_tuple, level=level, **stats)


_Reader = Callable[[_Parser, Any, str], Any]

#: How each ``data:`` key is read: (reader, whether ``null`` means "the default").
_FIELDS: dict[str, tuple[_Reader, bool]] = {
    "data_path": (lambda p, v, k: p.path(v, k), False),
    "tracks_path": (lambda p, v, k: p.path(v, k), False),
    "source_channel": (lambda p, v, k: p.channels(v), False),
    "z_range": (lambda p, v, k: p.int_pair(v, k, minimum=0), False),
    "initial_yx_patch_size": (lambda p, v, k: p.int_pair(v, k, minimum=1), False),
    "final_yx_patch_size": (lambda p, v, k: p.int_pair(v, k, minimum=1), False),
    "batch_size": (lambda p, v, k: p.integer(v, k, minimum=1), True),
    "num_workers": (lambda p, v, k: p.integer(v, k, minimum=0), True),
    "cache_bytes": (lambda p, v, k: p.integer(v, k, minimum=1), True),
    "prefetch_batches": (lambda p, v, k: p.integer(v, k, minimum=1), True),
    "read_threads": (lambda p, v, k: p.integer(v, k, minimum=1), True),
    "z_window_size": (lambda p, v, k: p.integer(v, k, minimum=1), True),
    "predict_cells": (lambda p, v, k: p.boolean(v, k), False),
    "include_wells": (lambda p, v, k: p.names(v, k), True),
    "exclude_fov_names": (lambda p, v, k: p.names(v, k), True),
    "include_fov_names": (lambda p, v, k: p.names(v, k), True),
    "include_track_ids": (lambda p, v, k: p.ints(v, k), True),
    "normalizations": (lambda p, v, k: p.normalizations(v), True),
}
