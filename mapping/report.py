"""Reports of an :class:`~mapping.allocate.Allocation`: per-layer rows, the terminal table, the core map.

``alloc.json`` is written and read by :mod:`mapping.allocfile` only.
"""

from __future__ import annotations

import math

import numpy as np

from mapping.chip import INF


def _pct(num: float, den: float) -> float | None:
    if den is None or not math.isfinite(den) or den <= 0:
        return None
    return round(100.0 * num / den, 1)


def per_layer(a) -> list[dict]:
    """One row per node: tiles, cores, neurons (own, copies), axons, synapses, memory, utilization %.

    Utilization is the node's total over what the tiles' share of cores could hold: e.g. axons %
    = Σ tile axons / (tiles · core.max_axons); ``None`` where the chip has no such limit.
    """
    lim = a.limits
    rows = []
    n_nodes = len(a.view.nodes)
    counts = np.bincount(a.tile_node, minlength=n_nodes)
    sums = {k: np.bincount(a.tile_node, weights=v, minlength=n_nodes) for k, v in a.tile_res.items()}
    bounds = np.searchsorted(a.tile_node, np.arange(n_nodes + 1))  # tiles are stored node by node
    relays = set() if a.split is None else set(a.split.relay_names)
    for i, node in enumerate(a.view.nodes):
        n = int(counts[i])
        cores = np.unique(a.tile_core[bounds[i]:bounds[i + 1]]).size
        neurons, own = int(sums["neurons"][i]), int(sums["own"][i])
        row = {"layer": node.name, "population": node.population, "iteration": node.iteration, "kind": node.kind,
               "multiplexed": node.multiplexed, "tiles": n, "cores": int(cores), "neurons": own,
               "neuron_copies": neurons - own, "axons": int(sums["axons"][i]), "synapses": int(sums["synapses"][i]),
               "memory_bytes": int(sums["mem_bytes"][i]), "fanin_relay": node.name in relays}
        if lim.architecture == "conv-layer":
            # One layer per core: neurons % = neuron memory, synapses % = kernel memory of its core.
            row["kernel_words"] = int(sums["kernel_words"][i])
            row["neuron_words"] = int(sums["neuron_words"][i])
            layer = a.conv_layer["layers"][i]
            slot = layer["core_slot"]
            row["pooled_into"] = layer.get("pooled_into")
            ok = slot >= 0 and not row["pooled_into"]
            row["utilization_pct"] = {"neurons": _pct(row["neuron_words"], lim.neuron_memory_words[slot]) if ok else None,
                                      "axons": None,
                                      "synapses": _pct(row["kernel_words"], lim.kernel_memory_words[slot]) if ok else None}
        else:
            syn_key, syn_lim = ("synapses", lim.max_synapses) if lim.max_synapses < INF else \
                ("syn_bytes", lim.synapse_memory_bytes)
            row["utilization_pct"] = {"neurons": _pct(neurons, n * lim.max_neurons),
                                      "axons": _pct(row["axons"], n * lim.max_axons),
                                      "synapses": _pct(float(sums[syn_key][i]), n * syn_lim)}
        rows.append(row)
    return rows


# ------------------------------------------------------------------------------------- terminal

def _names(names, shown: int = 3) -> str:
    """The first ``shown`` names, and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more:,} more" if more > 0 else "")


def _fmt_pct(x):
    return "-" if x is None else f"{x:.0f}%"


def table(a) -> str:
    """A readable per-layer summary (copies of an unrolled population on one line).

    ``cores``: cores holding part of the layer (a core shared by two layers counts for both);
    ``+copies``: extra neurons copied for fan-out; ``neur% / axon% / syn%``: the layer's totals over
    what its tiles' cores could hold (synapse memory where the chip limits bytes, not synapses).
    """
    rows = per_layer(a)
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = (r["population"] if r["kind"] == "population" else r["layer"].split("@")[0], r["kind"])
        g = groups.setdefault(key, {"copies": 0, "tiles": 0, "cores": 0, "neurons": 0, "neuron_copies": 0,
                                    "axons": 0, "synapses": 0, "memory_bytes": 0, "util": [],
                                    "multiplexed": r["multiplexed"]})
        g["copies"] += 1
        for k in ("tiles", "cores", "neurons", "neuron_copies", "axons", "synapses", "memory_bytes"):
            g[k] += r[k]
        g["util"].append((r["tiles"], r["utilization_pct"]))

    def avg(util, key):
        num = sum(t * u[key] for t, u in util if u[key] is not None)
        den = sum(t for t, u in util if u[key] is not None)
        return None if den == 0 else num / den

    head = ["layer", "×", "cores", "neurons", "+copies", "neur%", "axon%", "syn%", "memory"]
    lines = []
    fanin = {r.name.split("@")[0] for r in a.split.relays} if a.split is not None else set()
    for (name, kind), g in groups.items():
        tag = " (looped)" if g["multiplexed"] else (f" ({kind})" if kind != "population" else "")
        tag += " (fan-in relay)" if name in fanin else ""
        lines.append([name + tag, str(g["copies"]), f"{g['cores']:,}", f"{g['neurons']:,}",
                      f"{g['neuron_copies']:,}", _fmt_pct(avg(g["util"], "neurons")),
                      _fmt_pct(avg(g["util"], "axons")), _fmt_pct(avg(g["util"], "synapses")),
                      _bytes(g["memory_bytes"])])
    widths = [max(len(h), *(len(l[i]) for l in lines)) if lines else len(h) for i, h in enumerate(head)]
    out = [f"{a.spec.name}: {a.schedule} schedule — {a.schedule_reason}"]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    out.append(fmt(head))
    out.append("  ".join("-" * w for w in widths))
    out.extend(fmt(l) for l in lines)
    out.append("")
    off = a.unplaced_layers
    ratio = "no ratio: part of the network is unplaced" if off else f"{a.ratio_to_lower_bound:.2f}×"
    out.append(f"cores {a.cores_used:,} on {a.chips_used:,} chip(s)"
               + (f" ({len(off):,} layer(s) on no core: {_names(off)})" if off else "")
               + f"; lower bound {a.lower_bound:,} ({ratio}); {'FEASIBLE' if a.feasible else 'INFEASIBLE'}; "
               f"{a.seconds:.2f} s")
    tr = a.traffic
    if tr and tr.get("spike_hops_random"):
        out.append(f"placement: spikes×hops {tr['spike_hops']:.3g} vs {tr['spike_hops_random']:.3g} random "
                   f"({tr['spike_hops'] / tr['spike_hops_random']:.2f}×), rates {tr['rates'].split(' ')[0]}")
    if tr and a.chips_used > 1 and tr.get("spikes"):
        out.append(f"inter-chip: {tr['inter_chip_spikes']:.3g} of {tr['spikes']:.3g} spikes per tick delivered to "
                   f"cores cross a chip boundary ({tr['inter_chip_spikes'] / tr['spikes']:.1%})")
    if a.schedule == "looped" and a.view.state_buffer.get("mechanism") not in (None, "none"):
        out.append(_buffer_line(a.view.state_buffer))
    out.extend(split_lines(a))
    for v in a.violations[:20]:
        out.append(f"  violation: {v}")
    if len(a.violations) > 20:
        out.append(f"  ... and {len(a.violations) - 20} more (see the JSON)")
    return "\n".join(out)


def _buffer_line(sb: dict) -> str:
    if sb.get("mode") == "regenerate":
        cost = (f"{sb['regen_neurons']:,} generator neurons" if sb["regen_neurons"]
                else f"{_bytes(sb['memory_bytes'])} of core memory")
        return (f"state buffer: regenerates a rate code (window {sb['window_ticks']} of {sb['phase_ticks']} ticks) "
                f"via {sb['mechanism']}, {cost}")
    return (f"state buffer: replays via a delay line of {sb['delay_ticks']} ticks ({sb['mechanism']})"
            + (f", {sb['relay_neurons']:,} relay neurons" if sb["relay_neurons"] else ""))


def split_lines(a) -> list[str]:
    """The fan-in split per layer (copies of an unrolled population on one line) and its latency."""
    r = a.split
    if r is None:
        return []
    form = "signed pairs x⁺/x⁻" if r.mode == "pair" else "one sign each (two-rows chip)"
    out = [f"fan-in split ({form}, {r.levels} level(s), thresholds: {r.calibration.get('method')}):"]
    groups: dict[tuple, list] = {}
    for n in r.nodes:
        groups.setdefault((n["population"], tuple(n["channels"]), n["level"]), []).append(n)
    for (pop, ch, level), ns in groups.items():
        n = ns[0]
        b, f, lim = n["need_before"], n["need_after"], n["limit"]
        copies = f" ×{len(ns)}" if len(ns) > 1 else ""
        out.append(f"  {pop}{copies} channels [{ch[0]}, {ch[1]}) level {level}: inputs per neuron {b['axons']} → "
                   f"{f['axons']} (limit {lim['axons'] if lim['axons'] is not None else lim['fan_in']}); "
                   f"{len(n['relays'])} relay(s), {sum(x['relay_neurons'] for x in ns):,} relay neurons, "
                   f"{len(n['direct'])} connection(s) kept direct")
    for u in r.unsplit:
        out.append(f"  {u['population']}: not split: {u['reason']}")
    ticks = {k: v for k, v in r.extra_ticks.items() if k != "max"}
    if ticks:
        out.append(f"latency: +{r.extra_ticks.get('max', 0)} tick(s) at most (per output: "
                   + ", ".join(f"{k} +{v}" for k, v in ticks.items()) + ")")
    return out


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# ------------------------------------------------------------------------------------- core map

def plot_cores(a, path) -> None:
    """PNG of the core map: every core a cell on its chip's mesh (chips tiled), coloured by layer."""
    from itnet_neuro.utils import save_figure, use_agg_backend

    use_agg_backend()
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    pops = []
    for n in a.view.nodes:
        key = n.population if n.kind == "population" else f"{n.population} ({n.kind})"
        if key not in pops:
            pops.append(key)
    node_layer = np.array([pops.index(n.population if n.kind == "population" else f"{n.population} ({n.kind})")
                           for n in a.view.nodes])
    # Colour of a core: the layer holding most of its neurons.
    core_layer = np.full(a.cores_used, -1, np.int64)
    if a.cores_used:
        order = np.lexsort((-a.tile_res["own"], a.tile_core))
        first = np.unique(a.tile_core[order], return_index=True)[1]
        core_layer[a.tile_core[order[first]]] = node_layer[a.tile_node[order[first]]]
    h = int(a.core_gy.max()) + 1 if a.cores_used else 1
    w = int(a.core_gx.max()) + 1 if a.cores_used else 1
    img = np.full((h, w), np.nan)
    on_chip = a.core_chip >= 0  # a conv-layer chip's unplaced layers sit on no chip
    img[a.core_gy[on_chip], a.core_gx[on_chip]] = core_layer[on_chip]
    base = plt.get_cmap("tab20").colors + plt.get_cmap("tab20b").colors
    colors = [base[i % len(base)] for i in range(max(len(pops), 1))]
    fig, ax = plt.subplots(figsize=(min(14, 4 + w / 8), min(12, 3 + h / 8)))
    ax.imshow(img, cmap=ListedColormap(colors), vmin=-0.5, vmax=len(colors) - 0.5, interpolation="nearest")
    lim = a.limits
    if a.chips_used > 1 and lim.mesh_rows < INF:
        for xline in range(int(lim.mesh_cols), w, int(lim.mesh_cols)):
            ax.axvline(xline - 0.5, color="k", lw=0.8)
        for yline in range(int(lim.mesh_rows), h, int(lim.mesh_rows)):
            ax.axhline(yline - 0.5, color="k", lw=0.8)
    ax.set_title(f"{a.spec.name}, {a.schedule}: {a.cores_used:,} cores on {a.chips_used:,} chip(s)"
                 f"{'' if a.feasible else ' — INFEASIBLE'}")
    ax.set_xlabel("mesh x")
    ax.set_ylabel("mesh y")
    shown = pops[:30]
    handles = [Patch(color=colors[i], label=p) for i, p in enumerate(shown)]
    if len(pops) > 30:
        handles.append(Patch(color="white", label=f"... {len(pops) - 30} more"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    save_figure(fig, path)
