"""Inline SVG charts rendered on the server (no script, no external file)."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

_BAR = "#2b6cb0"
_BAR2 = "#dd6b20"


def hbars(rows: Sequence[tuple[str, int]], *, width: int = 380, label_width: int = 170, title: str = "") -> Markup:
    """Horizontal bars, one per (label, value); a label too long for its column
    is cut with an ellipsis (the whole label is the bar's tooltip)."""
    row_h = 22
    height = max(1, len(rows)) * row_h + 4
    top = max((v for _, v in rows), default=0) or 1
    span = width - label_width - 50
    fits = max(4, (label_width - 10) // 7)  # characters of 12-px text that fit the label column
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    for i, (label, value) in enumerate(rows):
        y = i * row_h + 2
        w = round(span * value / top) if value else 0
        shown = label if len(label) <= fits else label[: fits - 1] + "…"
        parts.append(
            f'<g><title>{escape(label)}: {int(value)}</title>'
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(shown)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{w}" height="{row_h - 6}" fill="{_BAR}"/>'
            f'<text x="{label_width + w + 4}" y="{y + 15}" font-size="12">{int(value)}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


def day_bars(
    days: Sequence[str], series: Sequence[tuple[str, dict[str, int]]], *, width: int = 420, height: int = 180,
    title: str = "",
) -> Markup:
    """Grouped vertical bars per day (``YYYY-MM-DD``; shown as DD/MM) with each
    non-zero value above its bar: ``series`` is (name, {day: value}) x 1-2. Bars are at
    most 28 px wide, so a short period does not draw slabs."""
    colours = (_BAR, _BAR2)
    top = max((v for _, values in series for v in values.values()), default=0) or 1
    plot_top, legend_h, axis_h = 16, 18, 16
    plot_h = height - plot_top - legend_h - axis_h
    slot = (width - 20) / max(1, len(days))
    bar_w = min(28.0, max(2.0, (slot - 8) / max(1, len(series))))
    group_w = bar_w * len(series)
    base = plot_top + plot_h
    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height}" viewBox="0 0 {width} {height}"'
        f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
        f'<line x1="10" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#a0aec0"/>'
    ]
    for i, day in enumerate(days):
        centre = 10 + i * slot + slot / 2
        x0 = centre - group_w / 2
        for j, (name, values) in enumerate(series):
            v = int(values.get(day, 0))
            h = round(plot_h * v / top)
            x = x0 + j * bar_w
            parts.append(
                f'<rect x="{x:.1f}" y="{base - h}" width="{bar_w - 1:.1f}" height="{h}"'
                f' fill="{colours[j % 2]}"><title>{escape(name)} {escape(day)}: {v}</title></rect>'
            )
            if v:  # a value above its bar; an empty day stays quiet
                parts.append(
                    f'<text x="{x + (bar_w - 1) / 2:.1f}" y="{base - h - 3}" text-anchor="middle"'
                    f' font-size="10">{v}</text>'
                )
        label = f"{day[8:10]}/{day[5:7]}" if len(day) == 10 else day
        parts.append(
            f'<text x="{centre:.1f}" y="{base + 13}" text-anchor="middle" font-size="10">{escape(label)}</text>'
        )
    x = 10
    for j, (name, _values) in enumerate(series):
        parts.append(
            f'<rect x="{x}" y="{height - 11}" width="10" height="8" fill="{colours[j % 2]}"/>'
            f'<text x="{x + 14}" y="{height - 3}" font-size="11">{escape(name)}</text>'
        )
        x += 14 + 7 * len(name) + 16
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above is escaped


__all__ = ["day_bars", "hbars"]
