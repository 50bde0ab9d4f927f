"""Render comparison outcomes: terminal summary (worst first, capped), JSON, Markdown, HTML.

Everything here is computed from :class:`~repro_golden.core.outcomes.Outcome` values;
nothing is assembled while comparing.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from repro_golden.core.atomic import write_text_atomic
from repro_golden.core.outcomes import Outcome, Status
from repro_golden.core.tolerance import ToleranceSpec
from repro_golden.errors import InputError

REPORT_SCHEMA = "repro-golden/report/1"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _where(outcome: Outcome) -> str:
    fov = "(all FOVs)" if outcome.fov is None else outcome.fov
    return fov if outcome.array is None else f"{fov} {outcome.array}"


def _evidence(outcome: Outcome) -> str:
    v = outcome.violation
    if v is None:
        parts = [outcome.detail] if outcome.detail else []
        if outcome.expected is not None or outcome.obtained is not None:
            parts.append(f"expected {outcome.expected}, obtained {outcome.obtained}")
        return "; ".join(parts)
    unit = "columns" if v.columns else "rows"
    shown = ",".join(str(r) for r in v.rows) + ("..." if v.num_rows > len(v.rows) else "")
    ge = ">= " if v.bound else ""
    where = f"{v.num_rows} {unit} [{shown}], " if v.num_rows else "whole FOV, "
    text = f"{where}max abs error {ge}{_num(v.max_abs_error)}"
    if v.max_rel_error is not None:
        text += f", max rel error {_num(v.max_rel_error)}"
    if v.min_cosine is not None:
        text += f", worst cosine {v.min_cosine:.9f}"
    return f"{text} ({outcome.detail})"


@dataclass(frozen=True)
class ComparisonReport:
    """Outcomes of one comparison plus what was compared; rendered, never recomputed."""

    outcomes: tuple[Outcome, ...]
    tolerance: ToleranceSpec
    obtained: str
    reference: str
    mode: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def worst_first(self) -> tuple[Outcome, ...]:
        return tuple(sorted(self.outcomes, key=lambda o: (o.sort_key, _where(o))))

    def counts(self) -> dict[str, int]:
        counter = Counter(o.status for o in self.outcomes)
        return {s.value: counter[s] for s in Status if counter[s]}

    def headline(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        counts = ", ".join(f"{n} {s}" for s, n in self.counts().items()) or "nothing compared"
        return f"{verdict} ({self.mode}, {self.tolerance}): {counts}"

    def render_terminal(self, max_rows: int = 20) -> str:
        """Headline, then the worst outcomes (failures before passes), at most ``max_rows``."""
        lines = [self.headline(), f"  obtained:  {self.obtained}", f"  reference: {self.reference}"]
        shown = [o for o in self.worst_first if not o.passed] or list(self.worst_first)
        for outcome in shown[:max_rows]:
            lines.append(f"  {outcome.status.value:<16} {_where(outcome)}: {_evidence(outcome)}")
        if len(shown) > max_rows:
            lines.append(f"  ... and {len(shown) - max_rows} more (see the JSON report)")
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
            "outcomes": [o.to_dict() for o in self.worst_first],
        }

    def render_markdown(self, max_rows: int = 200) -> str:
        lines = [
            f"# repro-golden report: {'PASSED' if self.passed else 'FAILED'}",
            "",
            f"- mode: {self.mode}",
            f"- tolerance: {self.tolerance}",
            f"- obtained: `{self.obtained}`",
            f"- reference: `{self.reference}`",
            "- outcomes: " + ", ".join(f"{n} {s}" for s, n in self.counts().items()),
            "",
            "| status | FOV | array | evidence |",
            "|---|---|---|---|",
        ]
        for o in self.worst_first[:max_rows]:
            fov = "(all FOVs)" if o.fov is None else o.fov
            cells = [o.status.value, fov, o.array or "-", _evidence(o)]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if len(self.outcomes) > max_rows:
            lines.append(f"\n{len(self.outcomes) - max_rows} more outcomes in the JSON report.")
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
            "<table border='1' cellpadding='3'><tr><th>status</th><th>FOV</th><th>array</th>"
            "<th>evidence</th></tr>" + "".join(rows) + "</table></body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report; the format follows the suffix (``.json``, ``.md``, ``.html``)."""
        target = Path(path)
        suffix = target.suffix.lower()
        if suffix == ".json":
            text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        elif suffix in (".md", ".markdown"):
            text = self.render_markdown()
        elif suffix in (".html", ".htm"):
            text = self.render_html()
        else:
            raise InputError("unknown report format; use .json, .md or .html", path=target)
        write_text_atomic(target, text)
        return target
