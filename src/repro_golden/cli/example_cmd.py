"""``repro-golden example DIR``: generate a hash-verified example case into DIR."""

from __future__ import annotations

import argparse
import time
from typing import Any

from repro_golden.cli import EXIT_OK


def register(subparsers: Any) -> None:
    """Add the ``example`` command."""
    from repro_golden.examples.cases import CASES

    parser = subparsers.add_parser(
        "example",
        help="generate an example case (plate, tracks, checkpoint, case file)",
        description=(
            "Write a synthetic HCS plate, its tracks, normalization metadata, a seeded checkpoint "
            "and a case file into DIR, deterministically, and verify every input against the "
            "digests recorded in golden/<case>/inputs.json. Then run: repro-golden predict "
            "DIR/case.yaml"
        ),
    )
    parser.add_argument("directory", metavar="DIR", help="directory to write the case into")
    parser.add_argument(
        "--case",
        default="example",
        choices=sorted(CASES),
        help="which example case (default: %(default)s)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace example items already in DIR"
    )
    parser.add_argument(
        "--force-regen-fixtures",
        action="store_true",
        help="record the input digests in golden/<case>/inputs.json instead of verifying them "
        "(deliberate, like pytest-regressions' --force-regen; review the diff)",
    )
    parser.add_argument(
        "--inputs",
        metavar="PATH",
        default=None,
        help="recorded digests to verify against or record to "
        "(default: golden/<case>/inputs.json of this checkout)",
    )
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    from repro_golden.examples import generate_example

    started = time.perf_counter()
    case_file = generate_example(
        args.directory,
        case=args.case,
        overwrite=args.overwrite,
        regen_fixtures=args.force_regen_fixtures,
        inputs_path=args.inputs,
    )
    seconds = time.perf_counter() - started
    verb = "recorded digests of" if args.force_regen_fixtures else "verified"
    print(f"example {args.case!r}: {verb} every input; wrote {case_file} in {seconds:.1f} s")
    print(f"next: repro-golden predict {case_file}")
    return EXIT_OK
