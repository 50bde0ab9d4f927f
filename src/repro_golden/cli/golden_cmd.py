"""``repro-golden golden write``, ``repro-golden check`` and ``repro-golden compare``.

Torch-free: handlers import the golden core (numpy, zarr, xxhash) only when they run.
Exit status: 0 pass, 1 regression found, 2 bad input or unusable files.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from repro_golden.cli import EXIT_OK, EXIT_REGRESSION
from repro_golden.cli.argtypes import int_at_least


def _tolerance_options(parser: argparse.ArgumentParser, *, default: str = "0") -> None:
    parser.add_argument(
        "--atol",
        type=float,
        default=None,
        help=f"absolute tolerance, numpy allclose semantics (default: {default})",
    )
    parser.add_argument(
        "--rtol",
        type=float,
        default=None,
        help=f"relative tolerance, scaled by |reference| (default: {default})",
    )
    parser.add_argument(
        "--equal-nan",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="NaN passes only where the reference has NaN at the same "
        "position (default); --no-equal-nan: any NaN fails. Each of --atol, --rtol and "
        "--(no-)equal-nan replaces only its own field of the recorded tolerance",
    )
    parser.add_argument(
        "--report",
        action="append",
        default=[],
        metavar="PATH",
        help="also write the report to PATH (.json, .md or .html; repeatable)",
    )
    parser.add_argument(
        "--max-rows",
        type=int_at_least(0),
        default=20,
        help="outcomes listed in the terminal summary (default: %(default)s)",
    )


def register(subparsers: Any) -> None:
    """Add the ``golden``, ``check`` and ``compare`` commands."""
    golden = subparsers.add_parser(
        "golden", help="golden files: write", description="Manage golden files."
    )
    golden_sub = golden.add_subparsers(dest="golden_command", metavar="ACTION", required=True)
    write = golden_sub.add_parser(
        "write",
        help="write golden files (digests, statistics, sketch) for an embeddings zarr",
        description="Summarize EMB.zarr FOV by FOV into DIR/golden.json and a sketch file.",
    )
    write.add_argument("embeddings", metavar="EMB.zarr")
    write.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="golden directory (e.g. golden/<case> or <name>.golden)",
    )
    write.add_argument("--case", default=None, help="case name recorded in the golden files")
    write.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the golden files of an existing DIR (without it an existing DIR is "
        "refused, also when another writer creates it meanwhile: exit 2)",
    )
    write.add_argument(
        "--atol", type=float, default=None, help="record this atol (default: the case's)"
    )
    write.add_argument(
        "--rtol", type=float, default=None, help="record this rtol (default: the case's)"
    )
    write.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="ARRAY=ATOL,RTOL",
        help="record a tolerance for one array, e.g. X_projections=1e-5,1e-4 (repeatable)",
    )
    write.add_argument(
        "--full-copy-limit",
        type=int,
        default=None,
        metavar="BYTES",
        help="store the arrays whole when their compressed copy is at most BYTES "
        "(default: 2 MiB; 0: never)",
    )
    write.add_argument(
        "--verify-with",
        default=None,
        metavar="EMB2.zarr",
        help="a second run of the same case here: record `identical` for this environment "
        "if it matches EMB.zarr bit for bit (refused otherwise, exit 2)",
    )
    write.add_argument(
        "--oracle",
        default=None,
        metavar="CONFIG",
        help="also compute an fp64 truth for a sample of cells and the noise budgets of "
        "fp32/tf32/bf16 with the builtin model (CONFIG: the case file or VisCy predict "
        "config EMB.zarr was predicted with; needs the predict extra; docs/golden-files.md)",
    )
    write.add_argument(
        "--oracle-sample",
        type=int_at_least(1),
        default=256,
        metavar="N",
        help="cells in the oracle's sample, spread over every FOV (default: %(default)s; "
        "the cost grows with it: docs/performance.md)",
    )
    write.set_defaults(handler=_handle_write)

    check = subparsers.add_parser(
        "check",
        help="check an embeddings zarr against golden files",
        description="Digests first; where they differ, sound summary checks (or the full "
        "reference with --reference). Exit 0 pass, 1 regression, 2 bad input.",
    )
    check.add_argument("embeddings", metavar="EMB.zarr")
    check.add_argument("--golden", required=True, metavar="DIR", help="golden directory")
    check.add_argument(
        "--reference",
        default=None,
        metavar="REF.zarr",
        help="full reference store: compare differing FOVs exactly",
    )
    check.add_argument(
        "--case",
        default=None,
        help="expected case name: golden files written for another case are refused (exit 2)",
    )
    check.add_argument(
        "--allow-input-changes",
        action="store_true",
        help="report a change of the recorded inputs (checkpoint, pixels, normalization, "
        "tracks, data parameters) instead of failing on it: for workflows that change "
        "inputs on purpose",
    )
    check.add_argument(
        "--no-identical-by-evidence",
        dest="evidence",
        action="store_false",
        help="do not fail FOVs that differ while other FOVs of the same run are bit-identical "
        "to the golden set (rung 4 of the verdict; on by default)",
    )
    check.add_argument(
        "--precision",
        choices=("fp32", "tf32", "bf16"),
        default=None,
        help="the run's arithmetic, for the truth rung of golden files with an oracle "
        "section, when the store's provenance does not say (default: its provenance, else "
        "the case's numerics, else fp32)",
    )
    check.add_argument(
        "--golden-strict",
        action="store_true",
        help='fail checks that only summaries judged ("consistent" proves no agreement)',
    )
    _tolerance_options(
        check,
        default="the expectation recorded for the store's environment, else the tolerance "
        "recorded with the golden files, else 0",
    )
    check.set_defaults(handler=_handle_check)

    compare = subparsers.add_parser(
        "compare",
        help="compare two embeddings zarr stores tensor by tensor",
        description="Full-tensor comparison, streaming FOV by FOV. "
        "Exit 0 pass, 1 regression, 2 bad input.",
    )
    compare.add_argument("obtained", metavar="OBTAINED.zarr")
    compare.add_argument("reference", metavar="REFERENCE.zarr")
    _tolerance_options(
        compare, default="the case tolerance the reference's prediction recorded, else 0"
    )
    compare.set_defaults(handler=_handle_compare)


def _tolerance(args: argparse.Namespace) -> Any:
    """The fields given on the command line, each replacing only its own recorded field
    (a :class:`~repro_golden.core.tolerance.ToleranceOverride`), or None when none was."""
    from repro_golden.core.tolerance import ToleranceOverride

    override = ToleranceOverride(atol=args.atol, rtol=args.rtol, equal_nan=args.equal_nan)
    return None if override.is_empty else override


def write_tolerance(args: argparse.Namespace) -> Any:
    """The tolerance ``golden write`` records from --atol/--rtol/--tolerance, or None."""
    from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
    from repro_golden.errors import InputError

    arrays = {}
    for item in args.tolerance:
        name, _, values = item.partition("=")
        atol, _, rtol = values.partition(",")
        try:
            arrays[name.strip()] = ToleranceSpec(float(atol), float(rtol or 0.0))
        except ValueError:
            raise InputError(f"expected ARRAY=ATOL,RTOL, got {item!r}", key="--tolerance") from None
        if not name.strip():
            raise InputError(f"expected ARRAY=ATOL,RTOL, got {item!r}", key="--tolerance")
    if args.atol is None and args.rtol is None and not arrays:
        return None
    default = ToleranceSpec(args.atol or 0.0, args.rtol or 0.0)
    if args.atol is None and args.rtol is None:
        default = _case_default(args) or default
    return ArrayTolerances.of(default, arrays)


def _case_default(args: argparse.Namespace) -> Any:
    """The case tolerance the store's prediction recorded (the default of per-array overrides)."""
    from repro_golden.core.embeddings import EmbeddingsStore

    recorded = EmbeddingsStore(args.embeddings).parsed_provenance().case_tolerance()
    return None if recorded is None else recorded.default


def _write_options(args: argparse.Namespace) -> dict[str, Any]:
    from repro_golden.core.golden.types import DEFAULT_FULL_COPY_LIMIT
    from repro_golden.errors import InputError

    limit = DEFAULT_FULL_COPY_LIMIT if args.full_copy_limit is None else args.full_copy_limit
    if limit < 0:
        raise InputError(f"expected bytes >= 0, got {limit}", key="--full-copy-limit")
    return {
        "case": args.case,
        "tolerance": write_tolerance(args),
        "full_copy_limit": limit,
        "verify_with": args.verify_with,
    }


def _check_report_paths(args: argparse.Namespace) -> None:
    """Refuse an unknown --report format before comparing, not after printing a verdict."""
    from repro_golden.core.report import report_format

    for path in args.report:
        report_format(path)


def _finish(report: Any, args: argparse.Namespace, seconds: float) -> int:
    print(report.render_terminal(max_rows=args.max_rows))
    for path in args.report:
        print(f"report: {report.write(path)}")
    print(f"({seconds:.2f} s)")
    return EXIT_OK if report.passed else EXIT_REGRESSION


def _handle_write(args: argparse.Namespace) -> int:
    from pathlib import Path

    from repro_golden.api import write_golden
    from repro_golden.core.golden.store import GoldenStore

    started = time.perf_counter()
    options = _write_options(args)
    out = Path(args.out)
    if args.oracle is not None:
        from repro_golden.cli.extras import require_predict_extra

        require_predict_extra("torch", "timm", "lightning")
        from repro_golden.config.load import load_case

        load_case(args.oracle)  # a bad CONFIG is refused before anything is written

    def write(directory: Path) -> None:
        write_golden(args.embeddings, directory, **options)
        _write_oracle(args, directory)

    # New: staged and published whole. Existing: rewritten in place under the lock with
    # --overwrite, refused without it (GoldenStore.publish, the one policy).
    manifest = GoldenStore(out).publish(write, overwrite=args.overwrite)
    size = sum(p.stat().st_size for p in manifest.parent.glob("*") if p.name != "inputs.json")
    print(f"wrote {manifest} ({size / 1e6:.2f} MB) in {time.perf_counter() - started:.2f} s")
    _describe_written(manifest.parent)
    return EXIT_OK


def _write_oracle(args: argparse.Namespace, directory: Any) -> None:
    """``--oracle CONFIG``: the fp64 truth and budgets beside the golden set just written."""
    if args.oracle is None:
        return
    from repro_golden.inference.oracle import write_oracle_section

    path, run = write_oracle_section(
        directory, args.oracle, args.embeddings, sample=args.oracle_sample
    )
    size = sum(p.stat().st_size for p in path.parent.glob("oracle*"))
    budgets = ", ".join(
        f"{cls} {run.section.budgets[cls]['X'].rel_rms:.1e}" for cls in run.section.budgets
    )
    stages = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in run.stages.items())
    print(
        f"oracle: fp64 truth of {run.section.rows} cells in {run.seconds:.1f} s ({stages}), "
        f"{size / 1e6:.2f} MB; budgets (X rms / output rms): {budgets}"
    )


def _describe_written(directory: Any) -> None:
    """What the golden set will judge with: full copy or summaries, tolerance, expectations."""
    from repro_golden.core.golden.store import GoldenStore

    golden = GoldenStore(directory).read()
    if golden.full is not None:
        print("  judged by: the full copy (allclose on every element)")
    else:
        print(
            "  judged by: summaries (no full copy: larger than "
            f"{golden.full_copy_limit} bytes compressed, or --full-copy-limit 0)"
        )
    print(f"  tolerance: {golden.tolerance if golden.tolerance is not None else 'exact'}")
    for expectation in golden.expectations:
        print(f"  expectation: {expectation.describe()}")


def _handle_check(args: argparse.Namespace) -> int:
    from repro_golden.api import check_golden

    _check_report_paths(args)
    started = time.perf_counter()
    report = check_golden(
        args.embeddings,
        args.golden,
        tolerance=_tolerance(args),
        reference=args.reference,
        case=args.case,
        strict=args.golden_strict,
        allow_input_changes=args.allow_input_changes,
        evidence=args.evidence,
        precision=args.precision,
    )
    return _finish(report, args, time.perf_counter() - started)


def _handle_compare(args: argparse.Namespace) -> int:
    from repro_golden.api import compare_embeddings

    _check_report_paths(args)
    started = time.perf_counter()
    tolerance = _tolerance(args)  # None: the reference's recorded case tolerance, else exact
    report = compare_embeddings(args.obtained, args.reference, tolerance=tolerance)
    return _finish(report, args, time.perf_counter() - started)
