"""``repro-golden calibrate CASE``: measure drift, propose an expectation, record it on purpose.

Predicts the case ``--runs`` times here (run-to-run drift) and compares with the
golden set's full copy and with ``--against`` stores made elsewhere
(cross-environment drift). Per array it prints max |diff|, the 99.9th percentile,
the mean |diff| and the minimum per-row cosine. It proposes ``identical`` for
this environment when every run matched the golden values bit for bit, else a
tolerance of ``--margin`` times the largest |diff| (never below the case
tolerance); for each ``--against`` store with a recorded environment, a
tolerance for that environment. An ``--against`` store of another case or
predicted from other inputs is refused (exit 2): its drift is not an
environment's. A store from this same environment proposes nothing, so it never
loosens an expectation established here. Proposals are recorded in the golden manifest
only with ``--force-regen`` (like any golden change). Needs the ``predict``
extra (exit 2 naming it when missing). Exit 0 on success, 1 when the pipeline under
test fails (as ``predict``), 2 on bad input.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from repro_golden.cli import EXIT_OK, EXIT_REGRESSION
from repro_golden.cli.argtypes import int_at_least


def register(subparsers: Any) -> None:
    """Add the ``calibrate`` command."""
    parser = subparsers.add_parser(
        "calibrate",
        help="measure run-to-run and cross-environment drift; propose an expectation",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("config", type=Path, metavar="CASE", help="case file or VisCy config")
    parser.add_argument(
        "--runs", type=int_at_least(2), default=2, help="predictions here (default: %(default)s)"
    )
    parser.add_argument(
        "--against",
        action="append",
        default=[],
        metavar="STORE.zarr",
        help="a store of the same case predicted elsewhere (repeatable)",
    )
    parser.add_argument(
        "--golden", type=Path, default=None, help="golden directory (default: the case's)"
    )
    parser.add_argument(
        "--margin",
        type=float,
        default=None,
        help="proposed atol = margin x max |diff| (default: 10)",
    )
    parser.add_argument("--device", choices=("cpu", "gpu"), help="accelerator (default: case)")
    parser.add_argument(
        "--batch-size", type=int_at_least(1), default=None, help="batch size override"
    )
    parser.add_argument(
        "--force-regen",
        action="store_true",
        help="record the proposals in the golden manifest (writes the golden set from the "
        "first run when none exists)",
    )
    parser.set_defaults(handler=run)


def _table(title: str, drift: Mapping[str, Any]) -> list[str]:
    return [f"  {title}"] + [f"    {name:<14} {d.describe()}" for name, d in drift.items()]


def run(args: argparse.Namespace) -> int:
    """Predict, measure, propose; record under --force-regen."""
    from repro_golden.cli.extras import require_predict_extra

    require_predict_extra("torch", "lightning", "anndata")
    from repro_golden.config.load import load_case
    from repro_golden.core.calibrate import DEFAULT_MARGIN, calibrate
    from repro_golden.core.embeddings import EmbeddingsStore
    from repro_golden.core.golden.store import GoldenStore
    from repro_golden.errors import ConfigError, InputError

    case = load_case(args.config)
    margin = DEFAULT_MARGIN if args.margin is None else args.margin
    if not margin >= 1.0:
        raise InputError(f"expected a margin >= 1, got {margin}", key="--margin")
    golden_dir = args.golden or case.golden
    if golden_dir is None:
        raise ConfigError(
            "no golden directory: set 'golden' in the case or pass --golden",
            path=case.source,
            key="golden",
        )
    import logging

    import lightning.pytorch  # noqa: F401  (needs the predict extra; configures its loggers)

    from repro_golden.inference.pipelines.base import PipelineFailedError
    from repro_golden.inference.predict import predict

    for logger in ("lightning.pytorch", "lightning.fabric"):  # start-up chatter is not ours
        logging.getLogger(logger).setLevel(logging.WARNING)

    store = GoldenStore(golden_dir)
    golden = store.read(expected_case=case.name) if store.manifest.is_file() else None
    against = [EmbeddingsStore(path) for path in args.against]  # a bad path: before predicting
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="repro-golden-calibrate-") as tmp:
        runs = []
        for i in range(args.runs):
            try:
                result = predict(
                    case,
                    output=Path(tmp) / f"run{i + 1}.zarr",
                    device=args.device,
                    batch_size=args.batch_size,
                    overwrite=True,
                    progress=False,
                )
            except PipelineFailedError as exc:  # the code under test failed: as predict says
                print(exc.failure.render(), flush=True)
                return EXIT_REGRESSION
            runs.append(EmbeddingsStore(result.path))
        first = runs[0]
        calibration = calibrate(
            runs,
            case_name=case.name,
            golden=golden,
            against=against,
            floor=case.tolerance,
            margin=margin,
        )
        here = calibration.here
        lines.append(f"calibrate {case.name} in {here.label()} ({here.key}), margin {margin:g}")
        for entry in calibration.entries:
            lines += (
                [f"  {entry.title}"] if entry.drift is None else _table(entry.title, entry.drift)
            )
        proposals = calibration.proposals
        lines.append("  proposed:")
        lines += [f"    {p.describe()}" for p in proposals]
        if not args.force_regen:
            lines.append("  not recorded: rerun with --force-regen to record (review the diff)")
        else:
            if golden is None:  # a new golden set: published whole, or not at all
                from repro_golden.api import write_golden

                store.publish(
                    lambda directory: write_golden(first.path, directory, case=case.to_dict()),
                    overwrite=True,
                )
            manifest = store.record_expectations(tuple(proposals))
            lines.append(f"  recorded in {manifest}")
    print("\n".join(lines))
    return EXIT_OK
