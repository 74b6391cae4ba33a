"""Inline SVG charts rendered on the server (no script, no external file)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

_BAR = "#2b6cb0"
_BAR2 = "#dd6b20"


def hbars(rows: Sequence[tuple[str, int]], *, width: int = 360, label_width: int = 130, title: str = "") -> Markup:
    """Horizontal bars, one per (label, value)."""
    row_h = 22
    height = max(1, len(rows)) * row_h + 4
    top = max((v for _, v in rows), default=0) or 1
    span = width - label_width - 50
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = i * row_h + 2
        w = round(span * value / top) if value else 0
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{w}" height="{row_h - 6}" fill="{_BAR}"/>'
            f'<text x="{label_width + w + 4}" y="{y + 15}" font-size="12">{int(value)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def day_bars(
    days: Sequence[str], series: Sequence[tuple[str, dict[str, int]]], *, width: int = 420, height: int = 160,
    title: str = "",
) -> Markup:
    """Grouped vertical bars per day: ``series`` is (name, {day: value}) x 1-2."""
    colours = (_BAR, _BAR2)
    top = max((v for _, values in series for v in values.values()), default=0) or 1
    plot_h = height - 40
    slot = (width - 20) / max(1, len(days))
    bar_w = max(2.0, (slot - 6) / max(1, len(series)))
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, day in enumerate(days):
        x0 = 10 + i * slot + 3
        for j, (_name, values) in enumerate(series):
            v = int(values.get(day, 0))
            h = round(plot_h * v / top)
            x = x0 + j * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{10 + plot_h - h}" width="{bar_w - 1:.1f}" height="{h}"'
                f' fill="{colours[j % 2]}"><title>{escape(day)}: {v}</title></rect>'
            )
        parts.append(
            f'<text x="{x0 + (slot - 6) / 2:.1f}" y="{height - 16}" text-anchor="middle" font-size="10">'
            f"{escape(day[5:])}</text>"
        )
    for j, (name, _values) in enumerate(series):
        x = 10 + j * 140
        parts.append(
            f'<rect x="{x}" y="{height - 10}" width="10" height="8" fill="{colours[j % 2]}"/>'
            f'<text x="{x + 14}" y="{height - 2}" font-size="10">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


__all__ = ["day_bars", "hbars"]
