"""Server-rendered inline SVG charts for the admin (no JavaScript, no CDN)."""

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

_COLOURS = ("#417690", "#e8a33d", "#5b9a59", "#b5495b", "#7c6bb0", "#3fa7a3", "#9a7b4f", "#6c7a89")
_WIDTH = 900
_HEIGHT = 260
_LEFT = 64
_BOTTOM = 40
_TOP = 12


def engine_colours(engines: list[str]) -> dict[str, str]:
    return {engine: _COLOURS[index % len(_COLOURS)] for index, engine in enumerate(engines)}


def _nice_ceiling(value: int) -> int:
    """The smallest 1/2/5 x 10^n at or above ``value``, so the axis has round labels."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def daily_tokens_svg(days: list[str], engines: list[str], cells: dict[tuple[str, str], int]) -> SafeString:
    """Stacked bars: total tokens per day, one colour per engine type; every bar has a <title> tooltip."""
    colours = engine_colours(engines)
    totals = [sum(cells.get((day, engine), 0) for engine in engines) for day in days]
    top = _nice_ceiling(max(totals, default=0))
    plot_width = _WIDTH - _LEFT - 8
    plot_height = _HEIGHT - _BOTTOM - _TOP
    slot = plot_width / max(len(days), 1)
    bar = max(slot * 0.7, 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'class="usage-chart" aria-label="Daily tokens per engine type" style="max-width:100%;height:auto">'
    ]
    for fraction in (0, 0.25, 0.5, 0.75, 1):
        y = _TOP + plot_height * (1 - fraction)
        parts.append(f'<line x1="{_LEFT}" x2="{_WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(
            f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#666">'
            f"{int(top * fraction):,}</text>"
        )
    label_every = max(1, len(days) // 10)
    for index, day in enumerate(days):
        x = _LEFT + index * slot + (slot - bar) / 2
        y = _TOP + plot_height
        for engine in engines:
            tokens = cells.get((day, engine), 0)
            if not tokens:
                continue
            height = plot_height * tokens / top
            y -= height
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{colours[engine]}"><title>{escape(day)} · {escape(engine)}: {tokens:,} tokens</title></rect>'
            )
        if index % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{_HEIGHT - _BOTTOM + 16}" text-anchor="middle" font-size="11" '
                f'fill="#666">{escape(day[5:])}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every interpolated text is escaped above
