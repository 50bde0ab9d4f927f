"""The truth rung's rule and the oracle files, torch-free, on synthetic values."""

from __future__ import annotations

import numpy as np
import pytest

from repro_golden.core.oracle_format import (
    CLASSES,
    ErrorStats,
    OracleSection,
    read_oracle,
    write_oracle,
)
from repro_golden.core.oracle_verdict import (
    K_MAX,
    K_RMS,
    OracleStatus,
    judge_values,
    precision_class,
)
from repro_golden.errors import ConfigError

ROWS = 40
NOISE = {"fp32": 1e-7, "tf32": 1e-4, "bf16": 1e-3}


def _section(golden_scale: float = 1.0) -> tuple[OracleSection, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    truth = {"X": rng.normal(size=(ROWS, 16)), "X_projections": rng.normal(size=(ROWS, 4))}

    def noisy(scale: float, seed: int) -> dict[str, np.ndarray]:
        r = np.random.default_rng(seed)
        return {n: v + scale * r.normal(size=v.shape) for n, v in truth.items()}

    budgets = {
        cls: {n: ErrorStats.of(v, truth[n]) for n, v in noisy(NOISE[cls], 1).items()}
        for cls in CLASSES
    }
    golden = {
        n: ErrorStats.of(v, truth[n]) for n, v in noisy(NOISE["fp32"] * golden_scale, 2).items()
    }
    keys = {
        "fov_name": tuple(f"A/1/{i % 3}" for i in range(ROWS)),
        "track_id": tuple(range(ROWS)),
        "t": (0,) * ROWS,
        "id": tuple(range(100, 100 + ROWS)),
    }
    section = OracleSection("ab" * 16, keys, truth, budgets, golden, "fp32", {"case": "synthetic"})
    return section, truth


def _run(truth: dict[str, np.ndarray], scale: float, seed: int = 3) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {n: v + scale * r.normal(size=v.shape) for n, v in truth.items()}


def test_same_class_noise_passes_and_twice_the_bound_fails() -> None:
    section, truth = _section()
    assert judge_values(_run(truth, NOISE["tf32"]), section, "tf32").status is OracleStatus.PASS
    moved = judge_values(_run(truth, 2.5 * K_RMS["tf32"] * NOISE["tf32"]), section, "tf32")
    assert moved.status is OracleStatus.FAIL
    assert all(not a.within for a in moved.arrays)


def test_one_moved_cell_fails_by_max_and_is_named_first() -> None:
    section, truth = _section()
    values = _run(truth, NOISE["tf32"])
    values["X"][7] += 10 * K_MAX * NOISE["tf32"] * 4
    verdict = judge_values(values, section, "tf32")
    assert verdict.status is OracleStatus.FAIL
    assert verdict.worst_cells[0].key == ("A/1/1", 7, 0, 107)
    assert "A/1/1 track_id=7 t=0 id=107" in "\n".join(verdict.lines())


def test_golden_far_from_truth_makes_the_reference_the_outlier() -> None:
    section, truth = _section(golden_scale=1e4)  # 1e-3: beyond the fp32 budget's bound
    verdict = judge_values(_run(truth, NOISE["fp32"]), section, "fp32")
    assert verdict.status is OracleStatus.REFERENCE_OUTLIER
    assert not verdict.passed
    # and a run as far off as that golden store is not let through by it
    assert judge_values(_run(truth, 1e-3), section, "fp32").status is OracleStatus.FAIL


def test_detection_limit_and_unknown_class() -> None:
    section, truth = _section()
    verdict = judge_values(_run(truth, NOISE["bf16"]), section, "bf16")
    x = verdict.arrays[0]
    assert x.detection_limit_rms == pytest.approx((K_RMS["bf16"] + 1) * x.budget.rms)
    assert x.detection_limit_rel == pytest.approx(x.detection_limit_rms / x.budget.truth_rms)
    with pytest.raises(ConfigError, match="fp16"):
        judge_values(_run(truth, 0.0), section, "fp16")


@pytest.mark.parametrize(
    ("provenance", "expected"),
    [
        ({"environment": {"device_type": "cpu"}}, "fp32"),
        (
            {"environment": {"device_type": "cuda", "allow_tf32": False, "cudnn_allow_tf32": True}},
            "tf32",
        ),
        (
            {
                "environment": {
                    "device_type": "cuda",
                    "allow_tf32": False,
                    "cudnn_allow_tf32": False,
                }
            },
            "fp32",
        ),
        ({"numerics": {"precision": "bf16-mixed"}, "accelerator": "gpu"}, "bf16"),
        ({"numerics": {"precision": "16-mixed"}}, None),
        (None, None),
    ],
)
def test_precision_class_from_provenance(provenance: dict | None, expected: str | None) -> None:
    assert precision_class(provenance)[0] == expected


def test_write_read_round_trip_is_canonical(tmp_path) -> None:
    section, _ = _section()
    path = write_oracle(tmp_path, section)
    first = path.read_bytes()
    write_oracle(tmp_path, section)
    assert path.read_bytes() == first  # rewriting the same section changes nothing
    assert len(list(tmp_path.glob("oracle-*.bin"))) == 1
    back = read_oracle(tmp_path, golden_dataset_digest="ab" * 16)
    assert back is not None
    assert back.keys == section.keys
    assert np.array_equal(back.truth["X"], section.truth["X"])
    assert back.budgets["tf32"]["X"] == section.budgets["tf32"]["X"]


def test_oracle_files_lists_what_a_deletion_may_remove(tmp_path) -> None:
    from repro_golden.core.oracle_format import oracle_files

    assert oracle_files(tmp_path) == []
    section, _ = _section()
    path = write_oracle(tmp_path, section)
    (tmp_path / "oracle-notes.bin").write_text("not ours")
    owned = oracle_files(tmp_path)
    assert owned[-1] == path
    assert [p.name for p in owned[:-1]] == [
        p.name for p in tmp_path.glob("oracle-*.bin") if p.name != "oracle-notes.bin"
    ]
    path.write_text('{"schema": "someone-else/1"}')
    assert oracle_files(tmp_path) == []
