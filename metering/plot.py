"""The usage page's plot, drawn on the server as SVG (matplotlib, no script, nothing fetched)."""

from __future__ import annotations

import io
from datetime import timedelta

import matplotlib

matplotlib.use("Agg")  # no display; chosen before pyplot could be imported anywhere
from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from .report import MonthUsage  # noqa: E402

matplotlib.rcParams["svg.fonttype"] = "none"   # text stays text: smaller, and selectable
matplotlib.rcParams["svg.hashsalt"] = "enclave"  # the same usage draws the same bytes


def daily_svg(usage: MonthUsage) -> str:
    """Stacked bars per day and member: CPU-hours above, server hours below; inline-ready ``<svg>``."""
    days = [usage.month + timedelta(days=n) for n in range((usage.through - usage.month).days + 1)]
    members = sorted({who for per_day in usage.daily.values() for who in per_day})
    figure = Figure(figsize=(8, 4.2), dpi=96)
    FigureCanvasSVG(figure)
    axes = figure.subplots(2, 1, sharex=True)
    for ax, key, label in ((axes[0], "cpu_hours", "CPU-hours"), (axes[1], "server_hours", "server hours")):
        bottom = [0.0] * len(days)
        for who in members:
            values = [float(usage.daily.get(day, {}).get(who, {}).get(key, 0)) for day in days]
            ax.bar([d.day for d in days], values, bottom=bottom, label=who, width=0.8)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_xlabel(f"day of {usage.month:%B %Y}")
    axes[1].set_xticks([d.day for d in days if d.day == 1 or d.day % 5 == 0])
    if members:
        axes[0].legend(loc="upper left", fontsize="small", frameon=False)
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    svg = out.getvalue()
    return svg[svg.index("<svg"):]
