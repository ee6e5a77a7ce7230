"""Bar charts of the statistics as SVG, written by hand: no plotting dependency, readable
without JavaScript, and accessible (the chart and every bar carry a <title>; screen readers
get the figures, not just shapes)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from mla.errors import NotFound
from mla.stats.query import Report

WIDTH, PLOT_HEIGHT = 720, 220
LEFT, RIGHT, TOP, LABELS = 56, 16, 40, 70
LEGEND_ROW = 16
# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#999999")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    # What a bar's tooltip says, given its category and value.
    describe: Callable[[str, float], str]


def _fmt(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else str(int(value))


def _ticks(top: float, integer: bool) -> list[float]:
    """About five round steps (1, 2 or 5 x 10^k) from 0 to at least `top`; counts step by
    whole numbers."""
    if top <= 0:
        return [0, 1]
    raw = top / 5
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if integer:
        step = max(step, 1)
    count = math.ceil(top / step - 1e-9)
    return [i * step for i in range(count + 1)]


def bar_chart(title: str, unit: str, categories: Sequence[str], series: Sequence[Series], *,
              stacked: bool, integer: bool = False) -> str:
    """Vertical bars per category: grouped side by side, or stacked."""
    legend = _legend_rows(series)
    height = TOP + PLOT_HEIGHT + LABELS + LEGEND_ROW * len(legend)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" font-family="sans-serif" '
           f'font-size="11">',
           f"<title>{escape(title)}</title>",
           f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">{escape(title)}</text>']
    if not categories or not series:
        out.append(f'<text x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle">No data for '
                   "this selection</text></svg>")
        return "\n".join(out)
    if stacked:
        top = max(sum(s.values[i] for s in series) for i in range(len(categories)))
    else:
        top = max(max(s.values, default=0) for s in series)
    ticks = _ticks(top, integer)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, PLOT_HEIGHT
    scale = plot_h / ticks[-1]
    base = TOP + plot_h

    for tick in ticks:
        y = base - tick * scale
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
    out.append(f'<text transform="translate(14 {TOP + plot_h / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(unit)}</text>')

    slot = plot_w / len(categories)
    group_w = min(slot * 0.7, 90.0)
    bar_w = group_w / (1 if stacked else len(series))
    rotate = len(categories) > 8 or max(len(c) for c in categories) * 6 > slot
    for i, category in enumerate(categories):
        x0 = LEFT + i * slot + (slot - group_w) / 2
        height_so_far = 0.0
        for j, s in enumerate(series):
            value = s.values[i]
            h = value * scale
            if stacked:
                x, y = x0, base - (height_so_far + h)
                height_so_far += h
            else:
                x, y = x0 + j * bar_w, base - h
            out.append(f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                       f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}">'
                       f"<title>{escape(s.describe(category, value))}</title></rect>")
        cx = LEFT + i * slot + slot / 2
        label = escape(category)
        if rotate:
            out.append(f'<text transform="translate({cx:.1f} {base + 10}) rotate(35)">'
                       f"{label}</text>")
        else:
            out.append(f'<text x="{cx:.1f}" y="{base + 16}" text-anchor="middle">{label}</text>')
    out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base}" y2="{base}" stroke="#333"/>')

    for row, entries in enumerate(legend):
        y = base + LABELS + row * LEGEND_ROW
        for j, x in entries:
            out.append(f'<rect x="{x}" y="{y}" width="10" height="10" '
                       f'fill="{PALETTE[j % len(PALETTE)]}"/>')
            out.append(f'<text x="{x + 14}" y="{y + 9}">{escape(series[j].name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _legend_rows(series: Sequence[Series]) -> list[list[tuple[int, int]]]:
    """(series index, x) of each legend entry, wrapped to the chart's width."""
    rows: list[list[tuple[int, int]]] = [[]]
    x = LEFT
    for j, s in enumerate(series):
        width = 24 + 7 * len(s.name)
        if rows[-1] and x + width > WIDTH - RIGHT:
            rows.append([])
            x = LEFT
        rows[-1].append((j, x))
        x += width
    return rows


def _stage_durations(report: Report) -> str:
    rows = [r for r in report.tables["stage_durations"].records() if r["requests"]]
    labels = [r["stage"].replace("_to_", " → ").replace("_", " ") for r in rows]
    count = {label: r["requests"] for label, r in zip(labels, rows, strict=True)}

    def describe(what: str) -> Callable[[str, float], str]:
        return lambda stage, days: (f"{stage}: {what} {_fmt(days)} days "
                                    f"({count[stage]} requests)")

    return bar_chart(f"Time per stage ({report.scope.label})", "days", labels, [
        Series("median", [r["median_days"] for r in rows], describe("median")),
        Series("90th percentile", [r["p90_days"] for r in rows], describe("p90")),
    ], stacked=False)


def _volume(report: Report) -> str:
    rows = report.tables["volume"].records()
    periods = sorted({r["period"] for r in rows})
    kinds = sorted({r["kind"] for r in rows})
    cell = {(r["period"], r["kind"]): r["requests"] for r in rows}
    return bar_chart(f"Requests filed per {report.period}, by kind ({report.scope.label})",
                     "requests", periods, [
                         Series(kind, [cell.get((p, kind), 0) for p in periods],
                                lambda p, n, kind=kind: f"{p}, {kind}: {_fmt(n)} requests")
                         for kind in kinds], stacked=True, integer=True)


def _overdue(report: Report) -> str:
    rows = report.tables["overdue_by_counterpart"].records()
    countries = [r["country"] for r in rows]
    return bar_chart(f"Deadlines overdue now, by counterpart ({report.scope.label})",
                     "deadlines", countries, [
                         Series("on the counterpart's clock",
                                [r["counterpart_clock"] for r in rows],
                                lambda c, n: f"{c}: {_fmt(n)} overdue on their clock"),
                         Series("on our clock", [r["own_clock"] for r in rows],
                                lambda c, n: f"{c}: {_fmt(n)} overdue on our clock"),
                     ], stacked=True, integer=True)


CHARTS: dict[str, tuple[str, Callable[[Report], str]]] = {
    # name: (statistics section it needs, renderer)
    "stage_durations": ("durations", _stage_durations),
    "volume": ("caseload", _volume),
    "overdue_by_counterpart": ("deadlines", _overdue),
}


def section(name: str) -> str:
    if name not in CHARTS:
        raise NotFound(f"no chart '{name}'; known: {', '.join(CHARTS)}")
    return CHARTS[name][0]


def render(name: str, report: Report) -> str:
    section(name)
    return CHARTS[name][1](report)


__all__ = ["CHARTS", "Series", "bar_chart", "render", "section"]
