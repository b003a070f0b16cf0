"""Hand-written SVG charts for ringprobe-bench (no plotting library on this machine).

Two shapes are enough for the harness: a line chart (a figure against target count, one line
per prober) and a grouped bar chart (lateness percentiles per prober). Both take plain lists
and return the SVG text; a value of None is a gap (the prober has no such figure).
"""

import math
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 80, 170, 50, 60
COLOURS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]


def _nice_ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi] on a linear axis."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    first = math.floor(lo / step) * step
    ticks = []
    t = first
    while t <= hi + step * 0.5 and len(ticks) < 20:
        ticks.append(t)
        t += step
    return ticks


def _log_ticks(lo, hi):
    lo_e = math.floor(math.log10(max(lo, 1e-9)))
    hi_e = math.ceil(math.log10(max(hi, 1e-9)))
    if hi_e == lo_e:
        hi_e += 1
    return [10 ** e for e in range(lo_e, hi_e + 1)]


def _fmt(v):
    if v >= 1000 and v == int(v):
        return f"{int(v):,}"
    if v == int(v):
        return str(int(v))
    return f"{v:g}"


class _Axes:
    def __init__(self, xs_ticks, ys_ticks, log_x, log_y):
        self.xt, self.yt, self.log_x, self.log_y = xs_ticks, ys_ticks, log_x, log_y
        self.pw = WIDTH - LEFT - RIGHT
        self.ph = HEIGHT - TOP - BOTTOM

    def _norm(self, v, ticks, log):
        lo, hi = ticks[0], ticks[-1]
        if log:
            return (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        return (v - lo) / (hi - lo) if hi != lo else 0.5

    def x(self, v):
        return LEFT + self._norm(v, self.xt, self.log_x) * self.pw

    def y(self, v):
        return TOP + self.ph - self._norm(v, self.yt, self.log_y) * self.ph


def _frame(title, x_label, y_label, axes, x_tick_labels=None):
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2 - RIGHT / 2 + LEFT / 2}" y="24" text-anchor="middle" '
        f'font-size="15">{escape(title)}</text>',
    ]
    for t in axes.yt:
        y = axes.y(t)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    if x_tick_labels is None:
        for t in axes.xt:
            x = axes.x(t)
            out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" '
                       f'stroke="#eee"/>')
            out.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                       f'text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{axes.pw}" height="{axes.ph}" fill="none" '
               f'stroke="#333"/>')
    out.append(f'<text x="{LEFT + axes.pw / 2}" y="{HEIGHT - 18}" '
               f'text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text transform="translate(18,{TOP + axes.ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    return out


def _legend(out, names):
    for i, name in enumerate(names):
        y = TOP + 10 + i * 20
        c = COLOURS[i % len(COLOURS)]
        out.append(f'<rect x="{WIDTH - RIGHT + 14}" y="{y - 9}" width="14" height="10" '
                   f'fill="{c}"/>')
        out.append(f'<text x="{WIDTH - RIGHT + 34}" y="{y}">{escape(name)}</text>')


def line_chart(title, x_label, y_label, xs, series, log_x=True, log_y=False):
    """series: {name: [y or None per x]}. Returns SVG text."""
    ys = [v for vals in series.values() for v in vals if v is not None and v > 0]
    if not ys:
        ys = [1]
    xt = _log_ticks(min(xs), max(xs)) if log_x else _nice_ticks(min(xs), max(xs))
    if log_y:
        yt = _log_ticks(min(ys), max(ys))
    else:
        yt = _nice_ticks(0, max(ys) * 1.1)
    axes = _Axes(xt, yt, log_x, log_y)
    out = _frame(title, x_label, y_label, axes)
    for i, (name, vals) in enumerate(series.items()):
        c = COLOURS[i % len(COLOURS)]
        pts = [(axes.x(x), axes.y(v)) for x, v in zip(xs, vals) if v is not None and v > 0]
        if len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for (x, y), v in zip(pts, [v for v in vals if v is not None and v > 0]):
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{c}">'
                       f'<title>{escape(name)}: {v:g}</title></circle>')
    _legend(out, list(series))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bar_chart(title, y_label, groups, series, log_y=True):
    """groups: category labels (e.g. p50, p99); series: {name: [value or None per group]}."""
    ys = [v for vals in series.values() for v in vals if v is not None and v > 0]
    if not ys:
        ys = [1]
    yt = _log_ticks(min(ys), max(ys)) if log_y else _nice_ticks(0, max(ys) * 1.1)
    axes = _Axes([0, 1], yt, False, log_y)
    out = _frame(title, "", y_label, axes, x_tick_labels=groups)
    n = max(1, len(series))
    gw = axes.pw / max(1, len(groups))
    bw = gw * 0.8 / n
    base = axes.y(yt[0])
    for gi, g in enumerate(groups):
        gx = LEFT + gi * gw
        out.append(f'<text x="{gx + gw / 2:.1f}" y="{HEIGHT - BOTTOM + 18}" '
                   f'text-anchor="middle">{escape(g)}</text>')
        for si, (name, vals) in enumerate(series.items()):
            v = vals[gi]
            x = gx + gw * 0.1 + si * bw
            c = COLOURS[si % len(COLOURS)]
            if v is None or v <= 0:
                out.append(f'<text x="{x + bw / 2:.1f}" y="{base - 4:.1f}" font-size="9" '
                           f'text-anchor="middle">n/a</text>')
                continue
            y = axes.y(max(v, yt[0]))
            out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.9:.1f}" '
                       f'height="{max(0.5, base - y):.1f}" fill="{c}">'
                       f'<title>{escape(name)} {escape(g)}: {v:g}</title></rect>')
    _legend(out, list(series))
    out.append("</svg>")
    return "\n".join(out) + "\n"
