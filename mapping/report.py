"""Reports of an :class:`~mapping.allocate.Allocation`: ``alloc.json``, the terminal table, the core map."""

from __future__ import annotations

import math

import numpy as np

from itnet_neuro.utils import json_default
from mapping.chip import INF, quantization_of

ALLOC_SCHEMA_VERSION = 1

#: What the ``looped.state_buffer`` of ``alloc.json`` does, by its ``mode`` (mapping.schedule).
_BUFFER_SEMANTICS = {
    "regenerate": "see mapping.schedule: in phase n every state neuron's rate over the last window_ticks of phase "
                  "n-1 (m spikes) is re-emitted as a regular train from local tick 1 (floor(k·m/W + 1/2) spikes by "
                  "local tick k), delivered after the feedback connection's delay; block neurons restart from "
                  "v_init at every phase start",
    "replay": "see mapping.schedule: iteration n at local tick τ of phase n receives the state spikes iteration "
              "n-1 emitted at local tick τ - d of phase n-1 (d: the feedback connection's delay), i.e. a delay "
              "line of phase_ticks + d ticks; block neurons restart from v_init at every phase start",
}

#: Top-level keys of ``alloc.json`` (see :func:`to_json`).
ALLOC_KEYS = ("schema_version", "chip", "network", "schedule", "schedule_reason", "alternatives", "feasible",
              "cores_used", "chips_used", "n_chips", "phase_ticks", "lower_bound_cores", "lower_bound_detail",
              "ratio_to_lower_bound", "violations", "quantization", "looped", "notes", "not_allocated",
              "placement", "seconds", "per_layer", "cores")


def _pct(num: float, den: float) -> float | None:
    if den is None or not math.isfinite(den) or den <= 0:
        return None
    return round(100.0 * num / den, 1)


def _lim(x):
    return None if x is None or (isinstance(x, float) and math.isinf(x)) else (int(x) if float(x).is_integer() else x)


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
    for i, node in enumerate(a.view.nodes):
        n = int(counts[i])
        cores = np.unique(a.tile_core[bounds[i]:bounds[i + 1]]).size
        neurons, own = int(sums["neurons"][i]), int(sums["own"][i])
        row = {"layer": node.name, "population": node.population, "iteration": node.iteration, "kind": node.kind,
               "multiplexed": node.multiplexed, "tiles": n, "cores": int(cores), "neurons": own,
               "neuron_copies": neurons - own, "axons": int(sums["axons"][i]), "synapses": int(sums["synapses"][i]),
               "memory_bytes": int(sums["mem_bytes"][i])}
        if lim.architecture == "conv-layer":
            # One layer per core: neurons % = neuron memory, synapses % = kernel memory of its core.
            row["kernel_words"] = int(sums["kernel_words"][i])
            row["neuron_words"] = int(sums["neuron_words"][i])
            slot = a.conv_layer["layers"][i]["core_slot"]
            row["utilization_pct"] = {"neurons": _pct(row["neuron_words"], lim.neuron_memory_words[slot]),
                                      "axons": None,
                                      "synapses": _pct(row["kernel_words"], lim.kernel_memory_words[slot])}
        else:
            syn_key, syn_lim = ("synapses", lim.max_synapses) if lim.max_synapses < INF else \
                ("syn_bytes", lim.synapse_memory_bytes)
            row["utilization_pct"] = {"neurons": _pct(neurons, n * lim.max_neurons),
                                      "axons": _pct(row["axons"], n * lim.max_axons),
                                      "synapses": _pct(float(sums[syn_key][i]), n * syn_lim)}
        rows.append(row)
    return rows


def _iter_cores(a):
    """The ``cores`` entries of ``alloc.json``, one dict at a time (see :func:`to_json`)."""
    nodes = a.view.nodes
    order = np.argsort(a.tile_core, kind="stable")
    bounds = np.searchsorted(a.tile_core[order], np.arange(a.cores_used + 1))
    box = a.tile_box.tolist()
    neurons, own = a.tile_res["neurons"].tolist(), a.tile_res["own"].tolist()
    tile_node = a.tile_node.tolist()
    labels = [(n.population if n.kind == "population" else n.name, n.iteration, n.kind, n.multiplexed) for n in nodes]
    cres = {k: a.core_res[k].tolist() for k in ("neurons", "axons", "synapses", "mem_bytes", "out_axons")}
    chip, x, y = a.core_chip.tolist(), a.core_x.tolist(), a.core_y.tolist()
    order = order.tolist()
    for i in range(a.cores_used):
        tiles = []
        for t in order[bounds[i]:bounds[i + 1]]:
            pop, it, kind, mux = labels[tile_node[t]]
            b = box[t]
            tile = {"population": pop, "iteration": it, "channels": b[0:2], "rows": b[2:4], "cols": b[4:6],
                    "neurons": neurons[t], "own": own[t]}
            if kind != "population":
                tile["kind"] = kind
            if mux:
                tile["multiplexed"] = True
            tiles.append(tile)
        yield {"id": i, "chip": chip[i], "x": x[i], "y": y[i], "tiles": tiles, "neurons": cres["neurons"][i],
               "axons": cres["axons"][i], "synapses": cres["synapses"][i], "memory_bytes": cres["mem_bytes"][i],
               "output_axons": cres["out_axons"][i]}


def write_json(a, path) -> None:
    """Write ``alloc.json`` atomically, streaming the ``cores`` (millions of them for a large network)."""
    import json

    from itnet_neuro.utils import atomic_path

    head = to_json(a, cores=False)
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        text = json.dumps(head, indent=2, default=json_default)
        f.write(text[:-2] + ',\n  "cores": [')
        for i, core in enumerate(_iter_cores(a)):
            f.write(("\n    " if i == 0 else ",\n    ") + json.dumps(core, separators=(",", ":")))
        f.write("\n  ]\n}\n")


def to_json(a, cores: bool = True) -> dict:
    """The ``alloc.json`` document.

    Keys: ``chip`` (name and limits), ``schedule``, ``schedule_reason``, ``feasible``,
    ``cores_used``, ``chips_used``, ``lower_bound_cores`` (+ ``lower_bound_detail``,
    ``ratio_to_lower_bound``), ``violations`` (layer, resource, value, limit, hint), ``cores`` (one
    per core: id, chip, x, y, tiles, neurons, axons, synapses, memory_bytes), ``per_layer``,
    ``quantization``, ``looped`` (phase ticks, state buffer), ``placement`` (spikes × hops),
    ``not_allocated`` (the off-chip input and the readouts).

    A tile is ``{population, iteration, channels: [a, b), rows: [a, b), cols: [a, b), neurons}``;
    ``iteration`` is the unrolled copy's iteration (1-based) or null (outside the block, or the
    looped block, whose cores serve every iteration in turn); ``neurons`` counts the copies made
    for fan-out (``own`` without them). Tiles of the looped state buffer's own neurons have
    ``kind: "relay"`` (replay delay line, ``population: "<state>~relayK"``) or ``kind: "regen"``
    (regenerating buffer, ``<state>~regen`` or ``<state>~count`` / ``<state>~emit``).
    """
    spec, lim = a.spec, a.limits
    nodes = a.view.nodes
    limits = {"max_neurons": _lim(lim.max_neurons), "max_axons": _lim(lim.max_axons),
              "max_synapses": _lim(lim.max_synapses), "synapse_memory_bytes": _lim(lim.synapse_memory_bytes),
              "max_output_axons": _lim(lim.max_output_axons), "max_fanin_per_neuron": _lim(lim.max_fanin),
              "max_fanout_cores_per_neuron": _lim(lim.max_fanout_cores), "cores_per_chip": _lim(lim.cores_per_chip),
              "mesh": [_lim(lim.mesh_rows), _lim(lim.mesh_cols)], "max_chips": _lim(lim.max_chips)}
    readouts = sorted({n.population for n in nodes if n.read_out})
    doc = {
        "schema_version": ALLOC_SCHEMA_VERSION,
        "chip": {"name": spec.name, "full_name": spec.full_name, "architecture": lim.architecture,
                 "path": getattr(spec, "path", ""), "limits": limits},
        "network": {"neurons": int(a.view.n_neurons), "synapses": int(a.view.n_synapses),
                    "nodes": len(nodes)},
        "schedule": a.schedule,
        "schedule_reason": a.schedule_reason,
        "alternatives": a.alternatives,
        "feasible": a.feasible,
        "cores_used": a.cores_used,
        "chips_used": a.chips_used,
        "n_chips": a.chips_used,
        "phase_ticks": a.phase_ticks if a.schedule == "looped" else None,
        "lower_bound_cores": int(a.lower_bound),
        "lower_bound_detail": a.lower_bound_detail,
        "ratio_to_lower_bound": round(a.ratio_to_lower_bound, 4),
        "violations": [v.to_dict() for v in a.violations],
        "quantization": quantization_of(spec),
        "looped": {"phase_ticks": a.phase_ticks, "phase_ticks_choice": a.phase_choice,
                   "state_buffer": a.view.state_buffer,
                   "semantics": _BUFFER_SEMANTICS[a.view.state_buffer.get("mode", "replay")]}
        if a.schedule == "looped" else None,
        "notes": list(a.view.notes),
        "not_allocated": {"input": f"{a.view.input_name} {list(a.view.input_shape)}: injected from off chip as "
                                   "input axons (counted on the cores it feeds)",
                          "readouts": "decoded by the host from the spikes of " + (", ".join(readouts) or "-")
                                      + " (one off-chip destination per neuron, counted in fan-out)"},
        "placement": a.traffic,
        "seconds": round(a.seconds, 3),
        "per_layer": per_layer(a),
    }
    if cores:
        doc["cores"] = list(_iter_cores(a))
    if a.conv_layer:
        doc["conv_layers"] = a.conv_layer["layers"]
    return doc


# ------------------------------------------------------------------------------------- terminal

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
    for (name, kind), g in groups.items():
        tag = " (looped)" if g["multiplexed"] else (f" ({kind})" if kind != "population" else "")
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
    ratio = f"{a.ratio_to_lower_bound:.2f}×"
    out.append(f"cores {a.cores_used:,} on {a.chips_used:,} chip(s); lower bound {a.lower_bound:,} ({ratio}); "
               f"{'FEASIBLE' if a.feasible else 'INFEASIBLE'}; {a.seconds:.2f} s")
    tr = a.traffic
    if tr and tr.get("spike_hops_random"):
        out.append(f"placement: spikes×hops {tr['spike_hops']:.3g} vs {tr['spike_hops_random']:.3g} random "
                   f"({tr['spike_hops'] / tr['spike_hops_random']:.2f}×), rates {tr['rates'].split(' ')[0]}")
    if a.schedule == "looped" and a.view.state_buffer.get("mechanism") not in (None, "none"):
        out.append(_buffer_line(a.view.state_buffer))
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
    img[a.core_gy, a.core_gx] = core_layer
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
