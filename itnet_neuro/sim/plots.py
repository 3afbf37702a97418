"""Plots of a simulation: the anytime picture (mIoU over ticks, every output on one axis),
predictions per output at chosen ticks for one image, spike rates per layer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from itnet_neuro.utils import save_figure, use_agg_backend


def _palette(k: int) -> np.ndarray:
    try:
        from itnet_neuro.data.synthetic import CLASS_COLORS

        cols = np.asarray(CLASS_COLORS, np.float64)
        if cols.max() > 1:
            cols = cols / 255.0
        if len(cols) >= k:
            return cols[:k]
    except ImportError:
        pass
    import matplotlib.pyplot as plt

    return np.asarray(plt.get_cmap("tab20")(np.arange(k)))[:, :3]


def _draw_miou(ax, results: dict) -> None:
    """Every output's mIoU over ticks on ``ax`` (agreement with the ANN where there are no labels),
    the ANN's mIoU as a dotted line in the same colour, and hardware time on the top axis."""
    import matplotlib.pyplot as plt

    grid = np.asarray(results["grid"])
    outs = results["outputs"]
    cmap = plt.get_cmap("viridis")
    for i, o in enumerate(outs):
        col = cmap(i / max(len(outs) - 1, 1))
        y = np.array([np.nan if v is None else v for v in o["miou_over_time"]])
        label = f"output {o['index'] + 1}"
        if np.isfinite(y).any():
            ax.plot(grid, y, color=col, lw=1.6, label=label)
            if o.get("ann_miou") is not None:
                ax.axhline(o["ann_miou"], color=col, lw=0.6, ls=":")
        else:
            a = np.array([np.nan if v is None else v for v in o["agreement_over_time"]])
            ax.plot(grid, a, color=col, lw=1.6, label=label + " (vs ANN)")
    ax.set_xlabel("tick")
    if results.get("tick_seconds"):
        ts = results["tick_seconds"]
        sec = ax.secondary_xaxis("top", functions=(lambda t: t * ts * 1e3, lambda ms: ms / (ts * 1e3)))
        sec.set_xlabel("hardware time (ms)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2 if len(outs) > 6 else 1, loc="lower right")


def plot_miou_over_time(results: dict, path) -> Path:
    """mIoU (solid; against the labels) and agreement with the ANN (dotted) of every output over ticks."""
    use_agg_backend()
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    _draw_miou(ax, results)
    ax.set_ylabel("mIoU")
    chip = results.get("chip") or "ideal IF"
    ax.set_title(f"Anytime mIoU of every output — {chip}, {results['schedule']} schedule, "
                 f"{results['images']} image(s)", fontsize=9)
    return save_figure(fig, path)


def plot_chip_comparison(results_by_chip: dict, path) -> Path:
    """One panel per chip (``{label: results}``), side by side on one mIoU scale: the anytime curves of
    every output on each chip model, with the ANN's mIoU dotted."""
    use_agg_backend()
    import matplotlib.pyplot as plt

    if not results_by_chip:
        raise ValueError("plot_chip_comparison: no results to plot")
    n = len(results_by_chip)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 4.0), sharey=True, squeeze=False)
    for ax, (label, res) in zip(axes[0], results_by_chip.items()):
        _draw_miou(ax, res)
        ax.set_title(f"{label} ({res['schedule']}, {res['images']} image(s))", fontsize=9)
    axes[0][0].set_ylabel("mIoU (dotted: ANN)")
    values = [v for r in results_by_chip.values() for o in r["outputs"]
              for v in [o.get("ann_miou")] + list(o["miou_over_time"]) if v is not None and np.isfinite(v)]
    if values:  # with no labels the curves are agreements with the ANN, on [0, 1]
        axes[0][0].set_ylim(0, max(0.05, 1.1 * max(values)))
    for ax in axes[0][1:]:  # one legend: the colours mean the same outputs in every panel
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    return save_figure(fig, path)


def plot_schedules(results_by_schedule: dict, path) -> Path:
    """mIoU of every output over wall-clock hardware time, one panel per schedule (``{label: results}``,
    e.g. unrolled, looped-replay, looped-regenerating on one chip), on shared axes; the ANN's mIoU
    dotted, each looped phase boundary a thin vertical line."""
    use_agg_backend()
    import matplotlib.pyplot as plt

    if not results_by_schedule:
        raise ValueError("plot_schedules: no results to plot")
    n = len(results_by_schedule)
    fig, axes = plt.subplots(1, n, figsize=(4.4 * n, 4.0), sharey=True, sharex=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    for ax, (label, res) in zip(axes[0], results_by_schedule.items()):
        ts = res.get("tick_seconds") or 1.0
        ms = np.asarray(res["grid"]) * ts * 1e3
        outs = res["outputs"]
        for i, o in enumerate(outs):
            col = cmap(i / max(len(outs) - 1, 1))
            y = np.array([np.nan if v is None else v for v in o["miou_over_time"]])
            ax.plot(ms, y, color=col, lw=1.5, label=f"output {o['index'] + 1}")
            if o.get("ann_miou") is not None:
                ax.axhline(o["ann_miou"], color=col, lw=0.6, ls=":")
        if res.get("phase_ticks"):
            for k in range(1, res["ticks"] // res["phase_ticks"]):
                ax.axvline(k * res["phase_ticks"] * ts * 1e3, color="0.8", lw=0.6, zorder=0)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("hardware time (ms)" if res.get("tick_seconds") else "tick")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("mIoU (dotted: ANN)")
    axes[0][0].set_ylim(bottom=0)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    return save_figure(fig, path)


def plot_predictions(results: dict, path, labels=None, ann=None) -> Path:
    """Class maps of image 0: one row per output, one column per kept tick, plus ANN and labels."""
    use_agg_backend()
    import matplotlib.pyplot as plt

    outs = results["outputs"]
    ticks = sorted({t for o in outs for t in o.get("predictions", {})})
    k = max([int(np.max(p)) + 1 for o in outs for p in o.get("predictions", {}).values()] + [11])
    pal = _palette(k)
    cols = len(ticks) + (1 if ann is not None else 0) + (1 if labels is not None else 0)
    fig, axes = plt.subplots(len(outs), cols, figsize=(1.6 * cols, 1.25 * len(outs) + 0.4), squeeze=False)
    for i, o in enumerate(outs):
        panels = [(f"tick {t}", o.get("predictions", {}).get(t)) for t in ticks]
        if ann is not None:
            panels.append(("ANN", np.asarray(ann[i])[0].argmax(0)))
        if labels is not None:
            panels.append(("labels", np.asarray(labels)[0]))
        for j, (title, img) in enumerate(panels):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if img is not None:
                img = np.asarray(img)
                ax.imshow(pal[np.clip(img, 0, len(pal) - 1)], interpolation="nearest")
            if i == 0:
                ax.set_title(title, fontsize=7)
            if j == 0:
                ax.set_ylabel(f"out {o['index'] + 1}", fontsize=7)
    return save_figure(fig, path)


def plot_spike_rates(results: dict, path) -> Path:
    """Mean spikes per neuron and tick, per population (unrolled copies ``pop@n`` included)."""
    use_agg_backend()
    import matplotlib.pyplot as plt

    rates = results["rates"]
    names = list(rates)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.12 * len(names) + 2), 3.6))
    ax.bar(np.arange(len(names)), [rates[n] for n in names], color="tab:blue")
    ax.set_xticks(np.arange(len(names)))
    ax.set_xticklabels(names, rotation=90, fontsize=5 if len(names) > 40 else 7)
    ax.set_ylabel("spikes / neuron / tick")
    ax.set_title("Spike rate per layer", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def plot_all(results: dict, directory, x=None, labels=None, ann=None) -> list[Path]:
    """Write ``miou_over_time.png``, ``predictions.png`` and ``spike_rates.png`` into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    return [plot_miou_over_time(results, d / "miou_over_time.png"),
            plot_predictions(results, d / "predictions.png", labels=labels, ann=ann),
            plot_spike_rates(results, d / "spike_rates.png")]
