"""``repro-golden golden write``, ``repro-golden check`` and ``repro-golden compare``.

Torch-free: handlers import the golden core (numpy, zarr, xxhash) only when they run.
Exit status: 0 pass, 1 regression found, 2 bad input or unusable files.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from repro_golden.cli import EXIT_OK, EXIT_REGRESSION


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
        default=True,
        help="NaN passes only where the reference has NaN at the same "
        "position (default); --no-equal-nan: any NaN fails",
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
        type=int,
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
    _tolerance_options(check, default="the case tolerance recorded with the golden files, else 0")
    check.set_defaults(handler=_handle_check)

    compare = subparsers.add_parser(
        "compare",
        help="compare two embeddings zarr stores tensor by tensor",
        description="Full-tensor comparison, streaming FOV by FOV. "
        "Exit 0 pass, 1 regression, 2 bad input.",
    )
    compare.add_argument("obtained", metavar="OBTAINED.zarr")
    compare.add_argument("reference", metavar="REFERENCE.zarr")
    _tolerance_options(compare)
    compare.set_defaults(handler=_handle_compare)


def _tolerance(args: argparse.Namespace) -> Any:
    """The tolerance given on the command line, or None when neither --atol nor --rtol was."""
    from repro_golden.core.tolerance import ToleranceSpec

    if args.atol is None and args.rtol is None and args.equal_nan:
        return None
    return ToleranceSpec(atol=args.atol or 0.0, rtol=args.rtol or 0.0, equal_nan=args.equal_nan)


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
    from repro_golden.core.atomic import atomic_directory, make_parents, remove_created

    started = time.perf_counter()
    out = Path(args.out)
    if args.overwrite:  # in place, serialized with other writers; a failed first write
        created = make_parents(out)  # leaves no empty directory behind
        try:
            manifest = write_golden(args.embeddings, out, case=args.case)
        except BaseException:
            remove_created(created)
            raise
    else:  # a new directory, published whole by a rename that never replaces
        with atomic_directory(out, what="golden files") as tmp:
            write_golden(args.embeddings, tmp, case=args.case)
        manifest = out / "golden.json"
    size = sum(p.stat().st_size for p in manifest.parent.glob("*") if p.name != "inputs.json")
    print(f"wrote {manifest} ({size / 1e6:.2f} MB) in {time.perf_counter() - started:.2f} s")
    return EXIT_OK


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
    )
    return _finish(report, args, time.perf_counter() - started)


def _handle_compare(args: argparse.Namespace) -> int:
    from repro_golden.api import compare_embeddings

    _check_report_paths(args)
    started = time.perf_counter()
    tolerance = _tolerance(args)  # None: exact
    report = compare_embeddings(args.obtained, args.reference, tolerance=tolerance)
    return _finish(report, args, time.perf_counter() - started)
