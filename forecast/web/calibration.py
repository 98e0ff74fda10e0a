"""Server-rendered SVG of a player's calibration: forecasts against how often they came true."""

from __future__ import annotations

from markupsafe import Markup, escape

from forecast.market.scoring import Bucket

W, H = 320, 320
PAD_L, PAD_B, PAD_T, PAD_R = 44, 40, 12, 12


def _x(p: float) -> float:
    return PAD_L + p * (W - PAD_L - PAD_R)


def _y(p: float) -> float:
    return H - PAD_B - p * (H - PAD_B - PAD_T)


def _line(x1: float, y1: float, x2: float, y2: float, cls: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" class="{cls}"/>'


def _text(
    x: float, y: float, cls: str, body: object, anchor: str = "middle", extra: str = ""
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}"{extra}>'
        f"{escape(body)}</text>"
    )


def calibration_svg(buckets: list[Bucket], *, title: str = "Calibration") -> Markup:
    """A square chart: the diagonal is perfect calibration; each dot is a 10% bucket.

    A dot sits at the bucket's mean forecast (x) and how often those
    outcomes happened (y); its label is the count.  Empty buckets are omitted.
    """
    mid_x, mid_y = (PAD_L + W - PAD_R) / 2, (PAD_T + H - PAD_B) / 2
    parts = [
        f'<svg class="chart calibration" viewBox="0 0 {W} {H}" role="img" '
        'aria-labelledby="cal-title cal-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="cal-title">{escape(title)}</title>',
        '<desc id="cal-desc">Forecasts grouped in buckets of 10%, plotted against how often '
        "they came true. Dots on the diagonal are perfectly calibrated.</desc>",
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" '
        f'height="{H - PAD_B - PAD_T}" class="chart-frame"/>',
    ]
    for k in range(0, 11, 2):
        p = k / 10
        parts += [
            _line(_x(p), _y(0), _x(p), _y(1), "grid"),
            _line(_x(0), _y(p), _x(1), _y(p), "grid"),
            _text(_x(p), H - PAD_B + 16, "tick", f"{k * 10}%"),
            _text(PAD_L - 6, _y(p) + 4, "tick", f"{k * 10}%", anchor="end"),
        ]
    parts += [
        _line(_x(0), _y(0), _x(1), _y(1), "diagonal"),
        _text(mid_x, H - 6, "axis-label", "Your forecast"),
        _text(
            12,
            mid_y,
            "axis-label",
            "How often it happened",
            extra=f' transform="rotate(-90 12 {mid_y:.1f})"',
        ),
    ]
    for b in buckets:
        if not b.count:
            continue
        x, y = _x(b.mean_forecast), _y(b.frequency or 0.0)
        low = int(round(b.lower * 100))
        label = f"{low}-{low + 10}%: {b.hits} of {b.count} happened"
        radius = 5 + min(b.count, 20) * 0.4
        parts.append(
            f'<g class="bucket"><circle cx="{x:.1f}" cy="{y:.1f}" r="{radius:.1f}">'
            f"<title>{escape(label)}</title></circle>"
            + _text(x + 9, y - 7, "count", b.count, anchor="start")
            + "</g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
