"""ringprobe-bench's charts, drawn with matplotlib (Debian python3-matplotlib) as SVG.

Three pictures of one results document:
- cpu_per_probe.svg: grouped bars, one group per size and one bar per prober, each peer's bar
  labelled with ringprobe's ratio to it (0.45x: ringprobe spends 0.45 of that peer's CPU);
- probes_per_s.svg: achieved (or, after a maximum-rate search, peak) probes per second: bars
  for one size, lines across sizes;
- lateness.svg: probe-start lateness at the largest size as a cumulative distribution drawn
  through the percentiles the probers report (p50, p90, p99, p999, max).
A prober measured over several rounds is drawn at its median. The command that made the
document goes into each SVG's description, so a picture says how to make it again.
"""

import statistics

COLOURS = ["#1f77b4", "#d62728", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#17becf"]
# One colour per prober in every chart.
PROBER_COLOURS = {"ringprobe": COLOURS[0], "haproxy": COLOURS[1], "floor": COLOURS[2],
                  "blackbox": COLOURS[3], "haproxy-2t": COLOURS[4]}
LATENESS_QUANTILES = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999), ("max", 1.0)]
REFERENCE = "ringprobe"

plt = None


def _load_matplotlib():
    """Imported when a chart is drawn, so the harness's other parts run without it. Debian's
    python3-matplotlib is for Debian's /usr/bin/python3 (bench/ringprobe-bench runs that)."""
    global plt
    if plt is not None:
        return
    try:
        import matplotlib
    except ImportError as e:
        raise SystemExit(f"ringprobe-bench: charts need matplotlib ({e}); install Debian's "
                         "python3-matplotlib and run with /usr/bin/python3") from e
    matplotlib.use("Agg")
    # Byte-identical output for identical input: no date, a fixed id salt; text stays text
    # (searchable, and the tests read it).
    matplotlib.rcParams["svg.hashsalt"] = "ringprobe-bench"
    matplotlib.rcParams["svg.fonttype"] = "none"
    import matplotlib.pyplot
    plt = matplotlib.pyplot


def _colour(name, i):
    return PROBER_COLOURS.get(name, COLOURS[(i + 5) % len(COLOURS)])


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _size_label(n):
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return f"{n:,}"


def figure_by_size(doc, key, names, sizes, flat):
    """{prober: [median figure at each size, None where it has none]}."""
    out = {}
    for name in names:
        out[name] = [
            _median([flat(r).get(key) for r in doc["results"].get(str(t), [])
                     if r["prober"] == name])
            for t in sizes
        ]
    return out


def _save(fig, path, title, command):
    fig.tight_layout()
    fig.savefig(path, format="svg",
                metadata={"Title": title, "Description": f"made by: {command}", "Date": None})
    plt.close(fig)


def grouped_bars(path, title, y_label, sizes, series, command, ratios=True, log_y=False):
    names = [n for n in series if any(v is not None for v in series[n])]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(len(names), 1)
    reference = series.get(REFERENCE)
    for i, name in enumerate(names):
        xs = [g + (i - (len(names) - 1) / 2) * width for g in range(len(sizes))]
        ys = [v if v is not None else 0 for v in series[name]]
        bars = ax.bar(xs, ys, width * 0.95, label=name, color=_colour(name, i))
        for g, bar in enumerate(bars):
            v = series[name][g]
            if v is None:
                ax.annotate("n/a", (bar.get_x() + bar.get_width() / 2, 0), ha="center",
                            va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
                continue
            text = f"{v:,.1f}" if v < 100 else f"{v:,.0f}"
            if ratios and name != REFERENCE and reference and reference[g]:
                text += f"\n{reference[g] / v:.2f}x"
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                        textcoords="offset points")
    ax.set_xticks(range(len(sizes)), [f"{_size_label(t)} targets" for t in sizes])
    ax.set_ylabel(y_label)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.margins(y=0.2)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", color="#ddd")
    ax.set_axisbelow(True)
    _save(fig, path, title, command)


def lines_across_sizes(path, title, y_label, sizes, series, command):
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for i, (name, ys) in enumerate(series.items()):
        pts = [(t, v) for t, v in zip(sizes, ys) if v is not None]
        if not pts:
            continue
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name,
                color=_colour(name, i))
    ax.set_xscale("log")
    ax.set_xticks(sizes, [_size_label(t) for t in sizes])
    ax.minorticks_off()
    ax.set_xlabel("targets")
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(color="#ddd")
    _save(fig, path, title, command)


def lateness_cdf(path, title, per_prober, command):
    """per_prober: {name: {"p50": us, ...}}; a step through each reported percentile. Between
    two reported percentiles the line holds the lower fraction: where a prober does not report
    one (p90), the picture errs on the late side, never the early one."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = 0
    for i, (name, lat) in enumerate(per_prober.items()):
        pts = [(max(lat[k], 1), q) for k, q in LATENESS_QUANTILES if lat.get(k) is not None]
        if not pts:
            continue
        xs = [pts[0][0]] + [p[0] for p in pts]
        ys = [0.0] + [p[1] for p in pts]
        ax.step(xs, ys, where="post", marker="o", label=name, color=_colour(name, i))
        drawn += 1
    ax.set_xscale("log")
    ax.set_xlabel("probe-start lateness, us (log)")
    ax.set_ylabel("fraction of probe starts")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    if drawn:
        ax.legend(fontsize=8, loc="lower right")
    ax.grid(color="#ddd")
    _save(fig, path, title, command)


def draw(doc, out_dir, command, flat, path_join):
    """Writes the three charts of doc into out_dir; returns their paths."""
    _load_matplotlib()
    sizes = sorted({int(t) for t in doc["results"]})
    if not sizes:
        return []
    names = []
    for results in doc["results"].values():
        for r in results:
            if r["prober"] not in names:
                names.append(r["prober"])
    tpl = doc.get("scenario_template", {})
    note = f" ({tpl.get('kind', '?')}, interval {tpl.get('interval_ms', '?')} ms)"
    written = []

    path = path_join(out_dir, "cpu_per_probe.svg")
    grouped_bars(path, "Prober CPU per probe" + note, "CPU us per probe", sizes,
                 figure_by_size(doc, "cpu_us_per_probe", names, sizes, flat), command)
    written.append(path)

    path = path_join(out_dir, "probes_per_s.svg")
    mr = doc.get("max_rate") or {}
    if mr:
        xs = sorted(int(t) for t in mr)
        series = {n: [(mr[str(t)].get(n) or {}).get("peak_per_s") for t in xs]
                  for n in names if any(mr[str(t)].get(n) for t in xs)}
        title = "Most probes/s one core achieved (rate pushed up)"
    else:
        xs = sizes
        series = figure_by_size(doc, "achieved_per_s", names, sizes, flat)
        title = "Achieved probes/s" + note
    if len(xs) > 1:
        lines_across_sizes(path, title, "probes/s", xs, series, command)
    else:
        grouped_bars(path, title, "probes/s", xs, series, command)
    written.append(path)

    big = sizes[-1]
    lat = {}
    for name in names:
        rows = [r.get("lateness_us") or {} for r in doc["results"][str(big)]
                if r["prober"] == name]
        merged = {k: _median([row.get(k) for row in rows]) for k, _ in LATENESS_QUANTILES}
        if any(v is not None for v in merged.values()):
            lat[name] = merged
    path = path_join(out_dir, "lateness.svg")
    missing = [n for n in names if n not in lat]
    title = f"Probe-start lateness, {big:,} targets"
    if missing:
        title += f" ({', '.join(missing)}: n/a)"
    lateness_cdf(path, title, lat, command)
    written.append(path)
    return written
