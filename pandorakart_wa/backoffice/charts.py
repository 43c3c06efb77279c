"""Small server-side SVG charts: no JavaScript, no CDN, so the dashboard works offline.

Each chart is an inline <svg role="img"> with a <title> and <desc> (read by screen readers), a
<title> on every bar or point (the browser's tooltip), labelled axes and a legend. Values are
escaped; the markup is returned as a SafeString for the template.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_ids = count(1)

FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"
AXIS_COLOUR = "#8a8f98"
GRID_COLOUR = "#e4e7eb"
TEXT_COLOUR = "#3d4451"
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]
    colour: str


def nice_ticks(maximum: float, *, count: int = 5) -> list[float]:
    """0 and round steps (1, 2, 2.5, 5 x 10^n) up to at least `maximum`."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    if step < 1 and maximum >= 1:
        step = 1
    top = math.ceil(maximum / step) * step
    ticks = []
    value = 0.0
    while value <= top + step / 1000:
        ticks.append(round(value, 6))
        value += step
    return ticks


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _svg(width: int, height: int, title: str, desc: str, body: list[str], css_class: str) -> SafeString:
    uid = f"chart{next(_ids)}"
    return mark_safe(  # noqa: S308 - every interpolated text is escaped above or here
        f'<svg class="chart {css_class}" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" xmlns="http://www.w3.org/2000/svg" style="{FONT}">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
        + "".join(body)
        + "</svg>"
    )


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    out = ['<g class="legend">']
    for s in series:
        out.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" rx="2" fill="{s.colour}"/>')
        out.append(f'<text x="{x + 14:.1f}" y="{y:.1f}" font-size="12" fill="{TEXT_COLOUR}">{escape(s.name)}</text>')
        x += 24 + 7 * len(s.name)
    out.append("</g>")
    return out


def column_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    x_label: str = "",
    point_titles: Sequence[str] | None = None,
    width: int = 1160,
    height: int = 260,
) -> SafeString:
    """Grouped vertical bars (one group per label, one bar per series), or lines when there are
    too many labels for bars to stay readable."""
    if len(labels) > 62:
        return line_chart(title=title, labels=labels, series=series, y_label=y_label, x_label=x_label,
                          point_titles=point_titles, width=width, height=height)
    left, right, top, bottom = 56, 12, 30, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum = max((v for s in series for v in s.values), default=0)
    ticks = nice_ticks(maximum)
    top_value = ticks[-1] or 1
    body = _axes(ticks, top_value, left, top, plot_w, plot_h, y_label, x_label, width, height)
    n = max(len(labels), 1)
    group_w = plot_w / n
    bar_w = max(1.0, group_w * 0.8 / max(len(series), 1))
    body.append('<g class="bars">')
    for i, label in enumerate(labels):
        x0 = left + i * group_w + group_w * 0.1
        for j, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / top_value
            x = x0 + j * bar_w
            y = top + plot_h - h
            tip = f"{point_titles[i] if point_titles else label}: {_number(value)} {s.name.lower()}"
            body.append(
                f'<rect class="bar" data-series="{escape(s.name)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{s.colour}"><title>{escape(tip)}</title></rect>'
            )
    body.append("</g>")
    body += _x_labels(labels, [left + (i + 0.5) * group_w for i in range(n)], top + plot_h)
    body += _legend(series, left, 16)
    desc = "; ".join(f"{s.name}: {_number(sum(s.values))} in total" for s in series)
    return _svg(width, height, title, desc, body, "chart-columns")


def line_chart(
    *,
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    y_label: str,
    x_label: str = "",
    point_titles: Sequence[str] | None = None,
    width: int = 1160,
    height: int = 260,
) -> SafeString:
    left, right, top, bottom = 56, 12, 30, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    maximum = max((v for s in series for v in s.values), default=0)
    ticks = nice_ticks(maximum)
    top_value = ticks[-1] or 1
    body = _axes(ticks, top_value, left, top, plot_w, plot_h, y_label, x_label, width, height)
    n = max(len(labels), 1)
    step = plot_w / max(n - 1, 1)
    xs = [left + i * step for i in range(n)]
    for s in series:
        points = " ".join(f"{xs[i]:.1f},{top + plot_h - plot_h * v / top_value:.1f}" for i, v in enumerate(s.values))
        body.append(f'<polyline class="line" data-series="{escape(s.name)}" fill="none" stroke="{s.colour}" '
                    f'stroke-width="2" points="{points}"/>')
        for i, v in enumerate(s.values):
            tip = f"{point_titles[i] if point_titles else labels[i]}: {_number(v)} {s.name.lower()}"
            body.append(f'<circle cx="{xs[i]:.1f}" cy="{top + plot_h - plot_h * v / top_value:.1f}" r="2.5" '
                        f'fill="{s.colour}"><title>{escape(tip)}</title></circle>')
    body += _x_labels(labels, xs, top + plot_h)
    body += _legend(series, left, 16)
    desc = "; ".join(f"{s.name}: {_number(sum(s.values))} in total" for s in series)
    return _svg(width, height, title, desc, body, "chart-lines")


def bar_chart(
    *,
    title: str,
    rows: Sequence[tuple[str, float]],
    colour: str = "#3f6fb5",
    value_label: str = "",
    maximum: float | None = None,
    suffix: str = "",
    width: int = 560,
) -> SafeString:
    """Horizontal bars, one per (label, value) row, the value printed at the bar's end."""
    row_h, left, right, top = 26, 150, 64, 8
    height = top * 2 + row_h * max(len(rows), 1) + (18 if value_label else 0)
    plot_w = width - left - right
    top_value = maximum if maximum is not None else max((v for _, v in rows), default=0)
    top_value = top_value or 1
    body = [f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + row_h * len(rows)}" stroke="{AXIS_COLOUR}"/>']
    body.append('<g class="bars">')
    for i, (label, value) in enumerate(rows):
        y = top + i * row_h
        w = plot_w * value / top_value
        text = f"{_number(value)}{suffix}"
        body.append(f'<text x="{left - 8}" y="{y + row_h / 2 + 4:.1f}" font-size="12" text-anchor="end" '
                    f'fill="{TEXT_COLOUR}">{escape(label)}</text>')
        body.append(f'<rect class="bar" x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" rx="2" '
                    f'fill="{colour}"><title>{escape(label)}: {escape(text)}</title></rect>')
        body.append(f'<text x="{left + w + 6:.1f}" y="{y + row_h / 2 + 4:.1f}" font-size="12" '
                    f'fill="{TEXT_COLOUR}">{escape(text)}</text>')
    body.append("</g>")
    if value_label:
        body.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" '
                    f'fill="{AXIS_COLOUR}">{escape(value_label)}</text>')
    desc = "; ".join(f"{label}: {_number(value)}{suffix}" for label, value in rows) or "No data"
    return _svg(width, height, title, desc, body, "chart-bars")


def _axes(
    ticks: list[float], top_value: float, left: int, top: int, plot_w: int, plot_h: int,
    y_label: str, x_label: str, width: int, height: int,
) -> list[str]:
    out = ['<g class="axes">']
    for tick in ticks:
        y = top + plot_h - plot_h * tick / top_value
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end" '
                   f'fill="{AXIS_COLOUR}">{_number(tick)}</text>')
    out.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS_COLOUR}"/>')
    out.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{AXIS_COLOUR}"/>')
    out.append(f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" font-size="11" '
               f'text-anchor="middle" fill="{AXIS_COLOUR}">{escape(y_label)}</text>')
    if x_label:
        out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="11" text-anchor="middle" '
                   f'fill="{AXIS_COLOUR}">{escape(x_label)}</text>')
    out.append("</g>")
    return out


def _x_labels(labels: Sequence[str], xs: Sequence[float], baseline: float) -> list[str]:
    every = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    out = ['<g class="x-labels">']
    for i, label in enumerate(labels):
        if i % every == 0:
            out.append(f'<text x="{xs[i]:.1f}" y="{baseline + 16:.1f}" font-size="11" text-anchor="middle" '
                       f'fill="{AXIS_COLOUR}">{escape(label)}</text>')
    out.append("</g>")
    return out
