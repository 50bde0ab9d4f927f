"""The session summary as one self-contained HTML page: tables plus inline SVG pictures.

No plotting library and nothing fetched: the page is a single file a CI job
can keep as an artifact and anyone can open offline. Three pictures where
people would rather look than read:

- per check, each FOV's maximum absolute error against the absolute
  tolerance (log scale; measured errors as bars, proven lower bounds hatched,
  identical FOVs at the floor, summary-only FOVs marked "not measured");
- per check, the distribution of per-row cosine similarity, as ``1 - cos``
  on a log scale (a histogram; identical rows collect in the first bin);
- for each violated FOV that was measured, the error of every row against
  the tolerance.

Pure functions of the JSON summary document
(:func:`repro_golden.plugin.session_summary.summary_document`).
"""

from __future__ import annotations

import html
import math
from typing import Any

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 24, 40
FLOOR = 1e-12  # log-scale floor: zero errors are drawn here
COLOURS = {
    "identical": "#2b8a3e",
    "within tolerance": "#5c940d",
    "consistent": "#868e96",
    "violated": "#c92a2a",
}
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#212529}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ced4da;padding:3px 8px;text-align:left;font-size:13px}
th{background:#f1f3f5}
.violated{color:#c92a2a}.passed{color:#2b8a3e}
figure{display:inline-block;margin:0 1em 1em 0}
figcaption{font-size:12px;color:#495057;max-width:640px}
svg text{font-size:11px;fill:#495057}
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _float(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"inf": math.inf, "-inf": -math.inf}.get(value, math.nan)
    return float(value)  # type: ignore[arg-type]


class _LogAxis:
    """Maps values to y pixels on a log10 scale spanning ``low .. high``."""

    def __init__(self, values: list[float], extra: list[float]) -> None:
        finite = [v for v in values + extra if v > 0 and math.isfinite(v)]
        low = min(finite, default=1e-8)
        high = max(finite, default=1.0)
        self.low = math.floor(math.log10(max(min(low, high), FLOOR))) - 1
        self.high = math.ceil(math.log10(max(high, FLOOR))) + 1
        if self.high <= self.low:
            self.high = self.low + 1

    def y(self, value: float) -> float:
        if not math.isfinite(value):
            return TOP
        exponent = math.log10(max(value, 10.0**self.low))
        span = HEIGHT - TOP - BOTTOM
        return TOP + span * (1 - (exponent - self.low) / (self.high - self.low))

    def ticks(self) -> str:
        parts = []
        step = max(1, (self.high - self.low) // 6)
        for e in range(self.low, self.high + 1, step):
            y = self.y(10.0**e)
            parts.append(
                f'<line x1="{LEFT - 4}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                f'stroke="#e9ecef"/><text x="{LEFT - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">1e{e}</text>'
            )
        return "".join(parts)


def _svg(kind: str, title: str, body: str) -> str:
    return (
        f'<svg class="chart" data-chart="{kind}" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
        f"<title>{_esc(title)}</title>"
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>'
        f'<text x="{LEFT}" y="14">{_esc(title)}</text>{body}</svg>'
    )


def _tolerance_line(axis: _LogAxis, atol: float, label: str) -> str:
    if atol <= 0:
        return ""
    y = axis.y(atol)
    return (
        f'<line class="tolerance" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
        f'stroke="#e67700" stroke-dasharray="5,3"/>'
        f'<text x="{WIDTH - RIGHT}" y="{y - 3:.1f}" text-anchor="end">{_esc(label)}</text>'
    )


def fov_error_chart(check: dict[str, Any]) -> str:
    """Bars: each FOV and array's maximum absolute error; the dashed line is atol."""
    points = check["fovs"]
    atol = float(check["tolerance"]["atol"])
    errors = [_float(p["max_abs_error"]) for p in points]
    axis = _LogAxis([e for e in errors if e is not None], [atol])
    width = (WIDTH - LEFT - RIGHT) / max(1, len(points))
    base = HEIGHT - BOTTOM
    bars = [axis.ticks()]
    for i, (point, error) in enumerate(zip(points, errors, strict=True)):
        x = LEFT + i * width
        colour = COLOURS.get(point["status"], "#495057")
        label = f"{point['fov']} {point['array']}: {point['status']}"
        if error is None:
            bars.append(
                f'<text x="{x + width / 2:.1f}" y="{base - 4}" text-anchor="middle" '
                f'fill="{colour}">?</text>'
            )
            label += ", not measured (summaries only)"
        else:
            # Zero error (identical) is drawn as a thin bar on the floor, so it is seen.
            y = axis.y(error) if error > 0 else base - 3
            kind = "at least " if point["bound"] else ""
            label += f", max abs error {kind}{error:.3g}"
            opacity = "0.5" if point["bound"] else "1"
            bars.append(
                f'<rect class="bar" x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, width - 2):.1f}" '
                f'height="{max(0.0, base - y):.1f}" fill="{colour}" fill-opacity="{opacity}">'
                f"<title>{_esc(label)}</title></rect>"
            )
    bars.append(_tolerance_line(axis, atol, f"atol {atol:g}"))
    bars.append(
        f'<text x="{LEFT}" y="{HEIGHT - 8}">{len(points)} FOV x array (hover for names); '
        "? = judged by summaries only</text>"
    )
    return _svg("fov-errors", "max abs error per FOV and array (log scale)", "".join(bars))


def cosine_chart(check: dict[str, Any]) -> str:
    """Histogram of ``1 - cos`` per row on a log scale; identical rows in the first bin."""
    values = [1.0 - float(c) for c in check["cosines"]]
    edges = list(range(-16, 1))  # decades of 1 - cos
    counts = [0] * len(edges)
    for v in values:
        decade = -16 if v <= 1e-16 else min(0, math.floor(math.log10(v)))
        counts[max(0, decade + 16)] += 1
    peak = max(counts) or 1
    width = (WIDTH - LEFT - RIGHT) / len(edges)
    base = HEIGHT - BOTTOM
    parts = []
    for i, (edge, count) in enumerate(zip(edges, counts, strict=True)):
        height = (base - TOP) * count / peak
        x = LEFT + i * width
        parts.append(
            f'<rect class="bar" x="{x + 1:.1f}" y="{base - height:.1f}" '
            f'width="{width - 2:.1f}" height="{height:.1f}" fill="#1971c2">'
            f"<title>{count} rows with 1 - cos in [1e{edge}, 1e{edge + 1})</title></rect>"
        )
        if edge % 4 == 0:
            parts.append(f'<text x="{x:.1f}" y="{base + 14}">1e{edge}</text>')
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}">{len(values)} rows; 1 - cosine</text>')
    return _svg("cosine", "per-row cosine similarity: distribution of 1 - cos", "".join(parts))


def row_error_chart(check: dict[str, Any], series: dict[str, Any]) -> str:
    """Each row's max abs error in one violated FOV, against atol."""
    atol = float(check["tolerance"]["atol"])
    errors = [_float(v) or 0.0 for v in series["row_max_abs"]]
    axis = _LogAxis(errors, [atol])
    n = max(1, len(errors) - 1)
    parts = [axis.ticks()]
    for i, (row, error) in enumerate(zip(series["rows"], errors, strict=True)):
        x = LEFT + (WIDTH - LEFT - RIGHT) * i / n
        y = axis.y(error)
        colour = "#c92a2a" if error > atol or not math.isfinite(error) else "#2b8a3e"
        parts.append(
            f'<circle class="row" cx="{x:.1f}" cy="{y:.1f}" r="2" fill="{colour}">'
            f"<title>row {row}: {error:.3g}</title></circle>"
        )
    parts.append(_tolerance_line(axis, atol, f"atol {atol:g}"))
    parts.append(f'<text x="{LEFT}" y="{HEIGHT - 8}">row within the FOV</text>')
    title = f"{series['fov']} {series['array']}: max abs error by row (log scale)"
    return _svg("row-errors", title, "".join(parts))


def _counts_table(document: dict[str, Any]) -> str:
    cells = "".join(f"<th>{_esc(k)}</th>" for k in document["counts"])
    values = "".join(f"<td>{v}</td>" for v in document["counts"].values())
    return f'<table id="counts"><tr>{cells}</tr><tr>{values}</tr></table>'


def _checks_table(checks: list[dict[str, Any]]) -> str:
    rows = []
    for i, check in enumerate(checks):
        css = "passed" if check["passed"] else "violated"
        counts = ", ".join(f"{n} {s}" for s, n in check["counts"].items())
        tol = check["tolerance"]
        rows.append(
            f'<tr class="{css}"><td><a href="#check-{i}">{_esc(check["nodeid"])}</a></td>'
            f"<td>{_esc(check['kind'])}</td><td>{_esc(check['verdict'])}</td>"
            f"<td>{_esc(counts)}</td><td>{_esc(check['mode'])}</td>"
            f"<td>atol {tol['atol']:g}, rtol {tol['rtol']:g}</td></tr>"
        )
    head = "".join(
        f"<th>{h}</th>" for h in ("test", "kind", "verdict", "outcomes", "judged by", "tolerance")
    )
    return f'<table id="checks"><tr>{head}</tr>{"".join(rows)}</table>'


def _failures_table(check: dict[str, Any]) -> str:
    if not check["failures"]:
        return ""
    rows = "".join(
        f'<tr class="violated"><td>{_esc(f["status"])}</td><td>{_esc(f["fov"] or "(all FOVs)")}'
        f"</td><td>{_esc(f['array'] or '-')}</td><td>{_esc(f['evidence'])}</td></tr>"
        for f in check["failures"]
    )
    return (
        '<table class="failures"><tr><th>status</th><th>FOV</th><th>array</th>'
        f"<th>evidence</th></tr>{rows}</table>"
    )


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_esc(caption)}</figcaption></figure>"


def _check_section(i: int, check: dict[str, Any]) -> str:
    parts = [
        f'<section id="check-{i}"><h2>{_esc(check["nodeid"])}</h2>',
        f"<p>{_esc(check['headline'])}<br>obtained <code>{_esc(check['obtained'])}</code>, "
        f"expected <code>{_esc(check['reference'])}</code></p>",
        _failures_table(check),
    ]
    if check["fovs"]:
        parts.append(
            _figure(
                fov_error_chart(check),
                "Maximum absolute error of each FOV and array; the dashed line is the absolute "
                "tolerance (rtol widens it by rtol x |expected| element by element). Pale bars "
                "are lower bounds proven from summaries.",
            )
        )
    if check["cosines"]:
        parts.append(
            _figure(
                cosine_chart(check),
                "How far each row's direction moved: 1 - cosine similarity of obtained and "
                "expected rows (measured on full tensors).",
            )
        )
    for series in check["violated_rows"]:
        parts.append(
            _figure(
                row_error_chart(check, series),
                f"Violated FOV {series['fov']} ({series['array']}): rows above the dashed line "
                "break the tolerance.",
            )
        )
    parts.append("</section>")
    return "".join(parts)


def render_summary_html(document: dict[str, Any]) -> str:
    """The whole page, one string: no scripts, no external resources."""
    checks = document["checks"]
    failed = sum(1 for c in checks if not c["passed"])
    title = f"repro-golden session summary: {len(checks)} checks, {failed} failed"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{_esc(title)}</h1>"
        + _counts_table(document)
        + _checks_table(checks)
        + "".join(_check_section(i, c) for i, c in enumerate(checks))
        + "</body></html>\n"
    )
