"""Render comparison outcomes: terminal summary (worst first, capped), JSON, Markdown, HTML.

Everything here is computed from :class:`~repro_golden.core.outcomes.Outcome` values;
nothing is assembled while comparing.
"""

from __future__ import annotations

import html
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_golden.core.atomic import write_text_atomic
from repro_golden.core.attribution import Attribution
from repro_golden.core.outcomes import Outcome, Status, Violation
from repro_golden.core.tolerance import ArrayTolerances, ToleranceSpec
from repro_golden.errors import ConfigError, InputError

REPORT_SCHEMA = "repro-golden/report/2"
"""Version 2: violations carry ``cells`` (named by their keys) and a ``nonfinite`` flag;
column findings list ``columns`` (no longer under ``rows``); outcomes carry
``cell_sets`` (missing / extra / moved cells); ``notes`` and ``suppressed`` added."""

REPORT_FORMATS = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".html": "html"}
REPORT_FORMATS[".htm"] = "html"

#: Cells listed per finding in the terminal and Markdown (the JSON holds all that were kept).
CELLS_SHOWN = 3


def report_format(path: str | Path) -> str:
    """The format a report path asks for by its suffix; :class:`InputError` if none.

    Called before comparing, so a typo in ``--report`` is refused up front and
    never after a verdict was printed.
    """
    target = Path(path)
    fmt = REPORT_FORMATS.get(target.suffix.lower())
    if fmt is None:
        raise InputError("unknown report format; use .json, .md or .html", path=target)
    return fmt


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _where(outcome: Outcome) -> str:
    fov = "(all FOVs)" if outcome.fov is None else outcome.fov
    return fov if outcome.array is None else f"{fov} {outcome.array}"


def _error_text(v: Violation) -> str:
    """The error as what was measured, or, from summaries, as what was proven."""
    if v.nonfinite and (v.max_abs_error is None or not math.isfinite(v.max_abs_error)):
        return "NaN or inf where the expected value is finite (or the other way round)"
    nonfinite_check = any("non-finite" in c or "NaN" in c for c in v.checks)
    if v.bound:
        if v.max_abs_error is None or v.max_abs_error <= 0:
            if nonfinite_check:
                return "NaN or inf where the expected row is finite (or the other way round)"
            return "max abs error not bounded by the summaries"
        text = f"max abs error at least {_num(v.max_abs_error)}"
        if nonfinite_check:
            text += ", and NaN or inf where the expected row is finite"
        return text
    text = f"max abs error {_num(v.max_abs_error)}"
    if v.max_rel_error is not None:
        text += f", max rel error {_num(v.max_rel_error)}"
    if v.min_cosine is not None:
        text += f", worst cosine {v.min_cosine:.9f}"
    return text


def _evidence(outcome: Outcome, cells_shown: int = CELLS_SHOWN) -> str:
    v = outcome.violation
    if v is None:
        parts = [outcome.detail] if outcome.detail else []
        if outcome.expected is not None or outcome.obtained is not None:
            parts.append(f"expected {outcome.expected}, obtained {outcome.obtained}")
        parts += [_capped(c.describe(), cells_shown) for c in outcome.cell_sets]
        return "; ".join(parts)
    unit = "columns" if v.columns else "rows"
    shown = ",".join(str(r) for r in v.rows) + ("..." if v.num_rows > len(v.rows) else "")
    if v.columns:
        where = f"{v.num_rows} {unit} [{shown}], "
    elif v.num_rows:
        where = f"{v.num_rows} {'row' if v.num_rows == 1 else 'rows'}, "
    else:
        where = "whole FOV, "
    text = f"{where}{_error_text(v)} ({outcome.detail})"
    if v.cells:
        listed = "; ".join(c.describe() for c in v.cells[:cells_shown])
        rest = v.num_rows - min(len(v.cells), cells_shown)
        more = f"; and {rest} more" if rest > 0 else ""
        text += f"; worst cells: {listed}{more}"
    elif not v.columns and v.rows:
        text += f"; rows [{shown}]"
    return text


def evidence_text(outcome: Outcome) -> str:
    """The one-line evidence of an outcome, as the terminal and Markdown reports show it."""
    return _evidence(outcome)


def _html_line(line: ReportLine) -> str:
    details = "".join(f"<li>{html.escape(d)}</li>" for d in line.details)
    return f"<p class='{line.kind}'>{line.kind}: {html.escape(line.text)}</p>" + (
        f"<ul>{details}</ul>" if details else ""
    )


def _capped(description: str, cells_shown: int) -> str:
    """A cell-set description with at most ``cells_shown`` cells spelled out."""
    head, _, listed = description.partition(": ")
    cells = listed.split("; ")
    if len(cells) <= cells_shown:
        return description
    total = int(head.split()[0])
    return f"{head}: {'; '.join(cells[:cells_shown])}; and {total - cells_shown} more"


def _explained(outcomes: tuple[Outcome, ...]) -> tuple[Outcome, ...]:
    """Dataset-level column findings that FOV-level findings of the same array already explain.

    A shift in one row moves every column sum of the dataset: listing 768
    columns beside the row that moved only hides the finding.
    """
    changed = (
        Status.VIOLATED,
        Status.CHANGED_WHERE_REPRODUCIBLE,
        Status.CHANGED_WHILE_REST_REPRODUCES,
    )
    rows_violated = {o.array for o in outcomes if o.fov is not None and o.status in changed}
    broken_fovs = any(o.fov is not None and o.array is None and not o.passed for o in outcomes)
    return tuple(
        o
        for o in outcomes
        if o.fov is None
        and o.violation is not None
        and o.violation.columns
        and (o.array in rows_violated or broken_fovs)
    )


@dataclass(frozen=True)
class ReportLine:
    """One line of what a report says beside its outcome table: a note, the summaries-only
    warning or the diagnosis (with its provenance changes as ``details``).

    Every rendering (terminal, Markdown, HTML, JSON) shows the same lines, in the same
    order, from :meth:`ComparisonReport.lines`: a diagnosis shown in one is shown in all.
    """

    kind: str
    text: str
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "details": list(self.details)}


@dataclass(frozen=True)
class ComparisonReport:
    """Outcomes of one comparison plus what was compared; rendered, never recomputed."""

    outcomes: tuple[Outcome, ...]
    tolerance: ToleranceSpec
    obtained: str
    reference: str
    mode: str
    extra: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    attribution: Attribution | None = None
    """Provenance diff and diagnosis of a failing golden check (:mod:`.attribution`)."""

    @property
    def summaries_only(self) -> tuple[Outcome, ...]:
        """Outcomes that passed on summaries alone ("consistent"): they proved no agreement."""
        return tuple(o for o in self.outcomes if o.status is Status.CONSISTENT)

    def summaries_line(self) -> str | None:
        """``3 passed on summaries alone: a single-element change below 7.7e-03 could go
        unseen``; ``None`` when every pass was proven."""
        weak = self.summaries_only
        if not weak:
            return None
        limits = [o.detection_limit for o in weak if o.detection_limit is not None]
        text = f"{len(weak)} passed on summaries alone"
        if limits:
            text += f": a single-element change below {max(limits):.2g} could go unseen"
        return text + " (--golden-strict fails them)"

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def suppressed(self) -> tuple[Outcome, ...]:
        """Findings left out of the listings because others explain them (:func:`_explained`)."""
        return _explained(self.outcomes)

    @property
    def worst_first(self) -> tuple[Outcome, ...]:
        hidden = set(map(id, self.suppressed))
        shown = (o for o in self.outcomes if id(o) not in hidden)
        return tuple(sorted(shown, key=lambda o: (o.sort_key, _where(o))))

    def counts(self) -> dict[str, int]:
        counter = Counter(o.status for o in self.worst_first)
        return {s.value: counter[s] for s in Status if counter[s]}

    def lines(self) -> tuple[ReportLine, ...]:
        """The report's notes, warning and diagnosis, in the order every rendering shows them."""
        out = [ReportLine("note", note) for note in self.notes]
        warning = self.summaries_line()
        if warning is not None:
            out.append(ReportLine("warning", warning))
        if self.attribution is not None:
            out.append(
                ReportLine(
                    "diagnosis",
                    self.attribution.diagnosis,
                    tuple(c.describe() for c in self.attribution.changes[:12]),
                )
            )
        return tuple(out)

    def tolerance_text(self) -> str:
        """The tolerance that judged, per array where the check recorded per-array values
        (``extra["tolerance"]``), else the default one."""
        recorded = self.extra.get("tolerance")
        if isinstance(recorded, dict) and recorded.get("arrays"):
            try:
                return str(ArrayTolerances.from_mapping(recorded))
            except ConfigError:
                pass
        return str(self.tolerance)

    def headline(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "nothing compared"
        return f"{verdict} ({self.mode}, {self.tolerance_text()}): {counts}"

    def render_terminal(self, max_rows: int = 20, *, json_report: str | Path | None = None) -> str:
        """Headline, then the worst outcomes (failures before passes), at most ``max_rows``.

        ``json_report`` is the JSON report written (or about to be) for this
        comparison: the cut-off line points to it, and only to it; without one it
        says how to see the rest.
        """
        lines = [self.headline(), f"  obtained:  {self.obtained}", f"  reference: {self.reference}"]
        for line in self.lines():
            lines.append(f"  {line.kind}: {line.text}")
            lines += [f"    {detail}" for detail in line.details]
        shown = [o for o in self.worst_first if not o.passed] or list(self.worst_first)
        for outcome in shown[:max_rows]:
            lines.append(f"  {outcome.status.value:<16} {_where(outcome)}: {_evidence(outcome)}")
        if len(shown) > max_rows:
            rest = len(shown) - max_rows
            where = (
                f"see the JSON report {json_report}"
                if json_report is not None
                else "write them all with a .json report, or raise the row limit"
            )
            lines.append(f"  ... and {rest} more ({where})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": REPORT_SCHEMA,
            "passed": self.passed,
            "mode": self.mode,
            "obtained": self.obtained,
            "reference": self.reference,
            "tolerance": self.tolerance.to_dict(),
            "counts": self.counts(),
            "extra": self.extra,
            "notes": list(self.notes),
            "lines": [line.to_dict() for line in self.lines()],
            "summaries_only": len(self.summaries_only),
            "attribution": None if self.attribution is None else self.attribution.to_dict(),
            "outcomes": [o.to_dict() for o in self.worst_first],
            "suppressed": [o.to_dict() for o in self.suppressed],
        }

    def render_markdown(self, max_rows: int = 200) -> str:
        lines = [
            f"# repro-golden report: {'PASSED' if self.passed else 'FAILED'}",
            "",
            f"- mode: {self.mode}",
            f"- tolerance: {self.tolerance_text()}",
            f"- obtained: `{self.obtained}`",
            f"- reference: `{self.reference}`",
            "- outcomes: " + ", ".join(f"{n} {s}" for s, n in self.counts().items()),
        ]
        for line in self.lines():
            lines.append(f"- {line.kind}: {line.text}")
            lines += [f"  - {detail}" for detail in line.details]
        lines += [
            "",
            "| status | FOV | array | evidence |",
            "|---|---|---|---|",
        ]
        for o in self.worst_first[:max_rows]:
            fov = "(all FOVs)" if o.fov is None else o.fov
            cells = [o.status.value, fov, o.array or "-", _evidence(o)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if len(self.worst_first) > max_rows:
            lines.append(f"\n{len(self.worst_first) - max_rows} more outcomes not listed here.")
        return "\n".join(lines) + "\n"

    def render_html(self, max_rows: int = 500) -> str:
        rows = []
        for o in self.worst_first[:max_rows]:
            colour = "#c00" if not o.passed else "#070"
            cells = [
                o.status.value,
                "(all FOVs)" if o.fov is None else o.fov,
                o.array or "-",
                _evidence(o),
            ]
            rows.append(
                f'<tr style="color:{colour}">'
                + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
                + "</tr>"
            )
        title = f"repro-golden report: {'PASSED' if self.passed else 'FAILED'}"
        return (
            f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title></head>"
            f"<body><h1>{title}</h1><p>{html.escape(self.headline())}</p>"
            f"<p>obtained: <code>{html.escape(self.obtained)}</code><br>"
            f"reference: <code>{html.escape(self.reference)}</code></p>"
            + "".join(_html_line(line) for line in self.lines())
            + "<table border='1' cellpadding='3'><tr><th>status</th><th>FOV</th><th>array</th>"
            "<th>evidence</th></tr>" + "".join(rows) + "</table></body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report; the format follows the suffix (``.json``, ``.md``, ``.html``)."""
        target = Path(path)
        fmt = report_format(target)
        if fmt == "json":
            text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        elif fmt == "markdown":
            text = self.render_markdown()
        else:
            text = self.render_html()
        write_text_atomic(target, text, what="a report")
        return target
