"""The sweep's table (CSV and JSON) and its Pareto fronts (PNG).

One row per point, in the sweep's order. A Pareto front keeps the points no other point beats on both
axes: higher mIoU of the last output for fewer cores, less energy per image, or less latency (the
hardware seconds until the last output is read: the run's ticks × the chip's tick). Only simulated
points (status ``ok``) with a value on both axes are drawn; the plot says how many were left out. The
ideal chip (kind ``ideal``: no limits, one unbounded core) is drawn as the reference it is, but kept off
the fronts, which it would otherwise dominate by definition.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

#: Columns of the CSV before the per-output ones.
COLUMNS = ("chip", "chip_kind", "schedule", "phase_ticks", "status", "fits", "cores", "chips", "lower_bound_cores",
           "ratio_to_bound", "ticks", "phase_ticks_used", "tick_seconds", "hardware_seconds", "energy_j_per_image",
           "energy_lower_bound", "images", "decoder", "first_violation", "skipped", "error", "wall_seconds")
PER_OUTPUT = ("miou", "ann_miou", "ticks_to_90", "seconds_to_90")

#: The three fronts: (file suffix, x key, x label, log scale).
FRONTS = (("cores", "cores", "cores", True),
          ("energy", "energy_j_per_image", "energy per image (J)", True),
          ("latency", "hardware_seconds", "latency: hardware seconds to the last output", True))


def table_rows(points, rows: dict) -> list[dict]:
    """The rows of ``points`` (in order) that the results hold."""
    return [rows[p.key] for p in points if p.key in rows]


def to_csv(rows: list[dict]) -> str:
    n_out = max((len(r.get("miou") or ()) for r in rows), default=0)
    head = list(COLUMNS) + [f"{k}_out{i + 1}" for k in PER_OUTPUT for i in range(n_out)]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in rows:
        cells = [r.get(c) for c in COLUMNS]
        for k in PER_OUTPUT:
            vals = list(r.get(k) or ())
            cells += [vals[i] if i < len(vals) else None for i in range(n_out)]
        w.writerow(["" if v is None else v for v in cells])
    return buf.getvalue()


def last_miou(row: dict) -> float | None:
    m = row.get("miou") or []
    return m[-1] if m and m[-1] is not None else None


def pareto(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated ``(x, y)``: minimize x, maximize y. Sorted by x."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def front_points(rows: list[dict], x_key: str) -> tuple[list[dict], list[tuple[float, float]], int]:
    """``(rows drawn, their (x, y), rows left out)`` for one front."""
    keep, xy = [], []
    for r in rows:
        x, y = r.get(x_key), last_miou(r)
        if r.get("status") == "ok" and x is not None and y is not None and x > 0:
            keep.append(r)
            xy.append((float(x), float(y)))
    return keep, xy, len(rows) - len(keep)


def plot_fronts(rows: list[dict], prefix: str | Path, title: str = "") -> list[Path]:
    """One PNG per front (``PREFIX_cores.png``, ``_energy.png``, ``_latency.png``); one marker per chip,
    filled for looped, hollow for unrolled; the front as a step line."""
    from itnet_neuro.utils import save_figure, use_agg_backend

    use_agg_backend()
    import matplotlib.pyplot as plt

    chips = list(dict.fromkeys(r["chip"] for r in rows))
    markers = "osD^vP*Xh<>p"
    style = {c: (markers[i % len(markers)], f"C{i % 10}") for i, c in enumerate(chips)}
    paths = []
    for suffix, key, label, log in FRONTS:
        keep, xy, left = front_points(rows, key)
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        for r, (x, y) in zip(keep, xy):
            m, c = style[r["chip"]]
            ax.scatter([x], [y], marker=m, s=48, edgecolors=c, linewidths=1.4,
                       facecolors=c if r["schedule"] == "looped" else "none")
        real = [i for i, r in enumerate(keep) if r.get("chip_kind") != "ideal"]
        front = [xy[real[i]] for i in pareto([xy[i] for i in real])]
        if front:
            fx, fy = zip(*front)
            ax.step(fx, fy, where="post", color="0.4", lw=1, ls="--", zorder=0, label="Pareto front")
        for c in chips:  # legend: one entry per chip that has a point
            kind = next((r.get("chip_kind") for r in keep if r["chip"] == c), None)
            if kind is not None:
                ax.scatter([], [], marker=style[c][0], color=style[c][1],
                           label=f"{c} (reference, off the front)" if kind == "ideal" else c)
        ax.scatter([], [], marker="o", facecolors="none", edgecolors="0.3", label="hollow: unrolled")
        if log:
            ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("mIoU of the last output")
        note = f"; {left} point(s) without a value left out" if left else ""
        ax.set_title(f"{title}{note}", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
        paths.append(save_figure(fig, f"{prefix}_{suffix}.png"))
    return paths


def format_table(rows: list[dict]) -> str:
    """A short text table for the terminal."""
    head = f"{'chip':<13} {'schedule':<8} {'T':>5} {'status':<10} {'cores':>6} {'×bound':>6} {'ticks':>5} " \
           f"{'mIoU last':>9} {'→90% s':>8} {'J/image':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        s90 = (r.get("seconds_to_90") or [None])[-1]
        e = r.get("energy_j_per_image")
        m = last_miou(r)

        def cell(v, fmt, w):
            return f"{'-' if v is None else format(v, fmt):>{w}}"
        lines.append(f"{r['chip']:<13} {r['schedule']:<8} {str(r['phase_ticks']):>5} {r['status']:<10} "
                     f"{cell(r.get('cores'), 'd', 6)} {cell(r.get('ratio_to_bound'), '.2f', 6)} "
                     f"{cell(r.get('ticks'), 'd', 5)} {cell(m, '.3f', 9)} {cell(s90, '.3g', 8)} {cell(e, '.3g', 9)}")
    return "\n".join(lines)
