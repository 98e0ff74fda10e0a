"""Server-rendered SVG: a question's probability history, sparklines, bars and swatches.

Pure functions: data in, markup out.  Every piece of text (outcome labels,
titles) goes through ``escape``; colours are SVG presentation attributes,
which the Content-Security-Policy allows (inline ``style`` it does not).
The charts read without JavaScript and carry a <title> and <desc> for
screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from markupsafe import Markup, escape

# Each at least 4.5:1 against white, so the lines and their text labels pass WCAG AA.
PALETTE = (
    "#1a7f37",  # green (YES)
    "#cf222e",  # red (NO)
    "#0969da",  # blue
    "#8250df",  # purple
    "#bc4c00",  # orange
    "#1b7c83",  # teal
    "#9a6700",  # amber
    "#57606a",  # grey
    "#bf3989",  # pink
    "#6e5000",  # brown
)
MAX_POINTS = 300  # more trades than this are sampled evenly (the last one always stays)
SPARK_POINTS = 60  # a sparkline samples this many

W, H = 600, 270
PAD_L, PAD_R, PAD_T, PAD_B = 44, 140, 14, 42
LABEL_GAP = 15  # least vertical distance between two end labels


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _dash(index: int) -> str:
    # Past the palette, colours repeat: tell those lines apart by a dash.
    return ' stroke-dasharray="7 4"' if index >= len(PALETTE) else ""


def pct(p: float) -> str:
    """A probability as people read it: '34%', '0.4%', '99.6%'."""
    v = p * 100
    if 1 <= v <= 99:
        return f"{v:.0f}%"
    return f"{v:.1f}%"


def _short(text: str, limit: int = 16) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _sample(points: Sequence, limit: int = MAX_POINTS) -> list:
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    picked = [points[round(k * step)] for k in range(limit - 1)]
    return [*picked, points[-1]]


def _tick_format(span: timedelta) -> str:
    if span <= timedelta(days=2):
        return "%d %b %H:%M"
    if span <= timedelta(days=300):
        return "%d %b"
    return "%b %Y"


def _spread(ys: list[float], top: float, bottom: float) -> list[float]:
    """Move label positions apart (keeping their order) so no two overlap.

    When there are more labels than fit at LABEL_GAP, they share the space
    evenly instead, and stay between ``top`` and ``bottom``.
    """
    if not ys:
        return []
    gap = LABEL_GAP
    if len(ys) > 1:
        gap = min(gap, (bottom - top) / (len(ys) - 1))
    order = sorted(range(len(ys)), key=lambda k: ys[k])
    placed = [min(max(ys[k], top), bottom) for k in order]
    for k in range(1, len(placed)):
        placed[k] = max(placed[k], placed[k - 1] + gap)
    overflow = placed[-1] - bottom
    if overflow > 0:
        placed[-1] = bottom
        for k in range(len(placed) - 2, -1, -1):
            placed[k] = min(placed[k], placed[k + 1] - gap)
    out = [0.0] * len(ys)
    for k, y in zip(order, placed, strict=True):
        out[k] = y
    return out


def history_chart(
    labels: Sequence[str],
    points: Sequence[tuple[datetime, Sequence[float]]],
    *,
    end: datetime,
    title: str,
    end_label: str | None = None,
    chart_id: str = "history",
) -> Markup:
    """A step chart: one line per outcome, its probability over time, 0-100%.

    ``points`` are (time, probabilities in ``labels`` order), oldest first:
    the opening and then each trade.  A probability holds until the next
    point; the last one runs on to ``end`` (now, or the close), whose tick
    reads ``end_label`` when given ("now").  Each line ends in a label with
    the outcome's current probability.
    """
    if not points or not labels:
        return Markup("")
    pts = _sample(points)
    t0 = pts[0][0]
    return history_chart_columns(
        labels,
        t0,
        [(t - t0).total_seconds() for t, _ in pts],
        [[probs[k] for _, probs in pts] for k in range(len(labels))],
        end=end,
        title=title,
        end_label=end_label,
        chart_id=chart_id,
    )


def history_chart_columns(
    labels: Sequence[str],
    start: datetime,
    seconds: Sequence[float],
    lines: Sequence[Sequence[float]],
    *,
    end: datetime,
    title: str,
    end_label: str | None = None,
    chart_id: str = "history",
) -> Markup:
    """:func:`history_chart` from columns, as a kept history holds them: the first
    point's time, each point's seconds after it, and each outcome's probabilities
    at those points (``lines``, in ``labels`` order).  Draws every point given."""
    if not seconds or not labels:
        return Markup("")
    t0 = start
    t1 = max(end, t0 + timedelta(seconds=seconds[-1]))
    span = max((t1 - t0).total_seconds(), 1.0)
    plot_w, plot_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B

    def x(t: datetime) -> float:
        return PAD_L + (t - t0).total_seconds() / span * plot_w

    def y(p: float) -> float:
        return PAD_T + (1 - p) * plot_h

    first, last = [line[0] for line in lines], [line[-1] for line in lines]
    summary = "; ".join(
        f"{label} {pct(last[k])} now (opened at {pct(first[k])})" for k, label in enumerate(labels)
    )
    tid, did = f"{chart_id}-title", f"{chart_id}-desc"
    parts = [
        f'<svg class="chart history-chart" viewBox="0 0 {W} {H}" role="img" '
        f'aria-labelledby="{tid} {did}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{tid}">{escape(title)}</title>',
        f'<desc id="{did}">Probability of each outcome over time. {escape(summary)}.</desc>',
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{plot_w}" height="{plot_h}" '
        'fill="#ffffff" stroke="#8c959f"/>',
    ]
    for k in range(5):
        p = k / 4
        dash = ' stroke-dasharray="3 3"' if 0 < k < 4 else ""
        parts.append(
            f'<line x1="{PAD_L}" x2="{PAD_L + plot_w}" y1="{y(p):.1f}" y2="{y(p):.1f}" '
            f'stroke="#d0d7de"{dash}/>'
            f'<text x="{PAD_L - 6}" y="{y(p) + 4:.1f}" text-anchor="end" class="tick" '
            f'fill="#424a53" font-size="12">{k * 25}%</text>'
        )
    fmt = _tick_format(t1 - t0)
    ticks = [(t0, "start", t0.strftime(fmt))]
    middle = t0 + (t1 - t0) / 2
    if middle.strftime(fmt) not in (t0.strftime(fmt), t1.strftime(fmt)):
        ticks.append((middle, "middle", middle.strftime(fmt)))
    last_text = end_label or t1.strftime(fmt)
    if last_text == ticks[0][2]:
        ticks = ticks[1:]
    ticks.append((t1, "end", last_text))
    for t, anchor, text in ticks:
        parts.append(
            f'<text x="{x(t):.1f}" y="{PAD_T + plot_h + 16}" text-anchor="{anchor}" '
            f'class="tick" fill="#424a53" font-size="12">{escape(text)}</text>'
        )
    parts.append(
        f'<text x="{PAD_L + plot_w / 2:.1f}" y="{H - 4}" text-anchor="middle" '
        'class="axis-label" fill="#424a53" font-size="12">Time (UTC)</text>'
    )
    # Each point's x once (not once per line), and each line as one string: a step
    # to each point's time, then up or down to its probability, the step up or down
    # left out where the probability drew at the height it already was (a chart of
    # many small trades: the same line, a fraction of the path).
    scale = plot_w / span
    xs = [f"{PAD_L + sec * scale:.1f}" for sec in seconds]
    x_end = f"{x(t1):.1f}"
    ends = []
    for k in range(len(labels)):
        ys = [f"{PAD_T + (1 - p) * plot_h:.1f}" for p in lines[k]]
        d = [f"M{xs[0]},{ys[0]}"]
        at = ys[0]
        for px, py in zip(xs, ys, strict=True):
            if py != at:
                d.append(f"H{px}V{py}")
                at = py
        d.append(f"H{x_end}")
        parts.append(
            f'<path d="{"".join(d)}" fill="none" stroke="{color(k)}" stroke-width="2.5" '
            f'stroke-linejoin="round" class="series series-{k}"{_dash(k)}/>'
        )
        ends.append(y(last[k]))
    label_ys = _spread(ends, PAD_T + 4, PAD_T + plot_h + 4)
    for k, label in enumerate(labels):
        parts.append(
            f'<circle cx="{x(t1):.1f}" cy="{ends[k]:.1f}" r="3.5" fill="{color(k)}"/>'
            f'<text x="{x(t1) + 8:.1f}" y="{label_ys[k] + 4:.1f}" fill="{color(k)}" '
            f'font-size="13" font-weight="600" class="end-label">'
            f"{escape(_short(label))} {pct(last[k])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline(values: Sequence[float], *, label: str, index: int = 0) -> Markup:
    """A small line of one probability over time.

    The vertical scale fits the data (at least 20 points of probability
    tall), so a move from 10% to 25% shows; the exact numbers are in the
    ``label`` that screen readers announce.
    """
    w, h, pad = 120, 32, 3
    vals = _sample(list(values), SPARK_POINTS) or [0.5]
    if len(vals) == 1:
        vals = [vals[0], vals[0]]
    lo, hi = max(0.0, min(vals) - 0.05), min(1.0, max(vals) + 0.05)
    if hi - lo < 0.2:
        mid = (hi + lo) / 2
        lo, hi = max(0.0, min(mid - 0.1, 0.8)), min(1.0, max(mid + 0.1, 0.2))
    step = (w - 2 * pad) / (len(vals) - 1)
    coords = [
        (pad + k * step, pad + (hi - v) / (hi - lo) * (h - 2 * pad)) for k, v in enumerate(vals)
    ]
    line = " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy in coords)
    ex, ey = coords[-1]
    return Markup(
        f'<svg class="sparkline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{pad}" x2="{w - pad}" y1="{h - 1}" y2="{h - 1}" stroke="#d0d7de"/>'
        f'<polyline points="{line}" fill="none" stroke="{color(index)}" stroke-width="2" '
        'stroke-linejoin="round"/>'
        f'<circle cx="{ex:.1f}" cy="{ey:.1f}" r="2.5" fill="{color(index)}"/></svg>'
    )


def bar(p: float, index: int = 0) -> Markup:
    """A horizontal bar filled to ``p`` (decorative: the number is printed beside it)."""
    width = max(0.0, min(1.0, p)) * 100
    return Markup(
        '<svg class="bar" viewBox="0 0 100 8" preserveAspectRatio="none" aria-hidden="true" '
        'focusable="false" xmlns="http://www.w3.org/2000/svg">'
        '<rect width="100" height="8" rx="2" fill="#eaeef2"/>'
        f'<rect width="{width:.2f}" height="8" rx="2" fill="{color(index)}"/></svg>'
    )


def swatch(index: int) -> Markup:
    """A small square in an outcome's colour, for legends."""
    return Markup(
        '<svg class="swatch" width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" '
        f'focusable="false" xmlns="http://www.w3.org/2000/svg"><rect width="12" height="12" '
        f'rx="2" fill="{color(index)}"/></svg>'
    )
