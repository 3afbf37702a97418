"""One network on many chips: the comparison table (``itnet-neuro compare``)."""

from __future__ import annotations

import math

import numpy as np

from mapping.allocate import plan
from mapping.chip import INF
from mapping.schedule import DEFAULT_PHASE_TICKS


def _round(x: float | None, digits: int) -> float | None:
    return None if x is None else round(x, digits)


def _util(num: float, den: float) -> float | None:
    return None if not math.isfinite(den) or den <= 0 else round(100.0 * num / den, 1)


def summary_row(a) -> dict:
    """The comparison row of one allocation: what fits, how much of the hardware it uses."""
    lim = a.limits
    n = a.cores_used
    res = {k: v[a.core_chip >= 0] for k, v in a.core_res.items()}  # cores on a chip (not unplaced layers)
    row = {"chip": a.spec.name, "full_name": a.spec.full_name, "schedule": a.schedule,
           "schedule_reason": a.schedule_reason, "feasible": a.feasible, "cores": n, "chips": a.chips_used,
           "lower_bound_cores": a.lower_bound, "ratio_to_lower_bound": _round(a.ratio_to_lower_bound, 3),
           "unplaced_layers": len(a.unplaced_layers),
           "neurons": int(res["own"].sum()), "neuron_copies": int(res["neurons"].sum() - res["own"].sum()),
           "utilization_pct": {"neurons": _util(res["neurons"].sum(), n * lim.max_neurons),
                               "axons": _util(res["axons"].sum(), n * lim.max_axons),
                               "synapses": _util(res["synapses"].sum(), n * lim.max_synapses)
                               if lim.max_synapses < INF else _util(res["syn_bytes"].sum(),
                                                                    n * lim.synapse_memory_bytes)},
           "violations": len(a.violations),
           "first_violation": str(a.violations[0]) if a.violations else None,
           "seconds": round(a.seconds, 3)}
    if lim.architecture == "conv-layer":
        kern = np.array(lim.kernel_memory_words, dtype=float)
        row["utilization_pct"] = {"neurons": None, "axons": None, "synapses": None,
                                  "kernel_memory": _util(res["kernel_words"].sum(), kern.sum() * max(a.chips_used, 1))}
    return row


def compare(net, chips, *, schedule: str = "auto", phase_ticks: int = DEFAULT_PHASE_TICKS) -> list[dict]:
    """Allocate ``net`` on each chip of ``chips`` (names, paths or specs); one :func:`summary_row` each."""
    return [summary_row(plan(net, chip, schedule, phase_ticks=phase_ticks)) for chip in chips]


def _cell(x, fmt: str | None = None) -> str:
    if x is None:
        return "-"
    if fmt is not None:
        return format(x, fmt)
    if isinstance(x, bool):
        return "yes" if x else "NO"
    if isinstance(x, float):
        return f"{x:.0f}%" if x >= 1 else f"{x:.1f}%"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def format_table(rows: list[dict], *, markdown: bool = False, title: str = "") -> str:
    """The rows as an aligned text table (or Markdown), one chip per line, plus why each does not fit."""
    head = ["chip", "schedule", "fits", "cores", "chips", "bound", "×bound", "neur%", "axon%", "syn%"]
    body = []
    for r in rows:
        u = r["utilization_pct"]
        syn = u.get("synapses") if u.get("synapses") is not None else u.get("kernel_memory")
        body.append([r["chip"], r["schedule"], _cell(r["feasible"]), _cell(r["cores"]), _cell(r["chips"]),
                     _cell(r["lower_bound_cores"]), _cell(r["ratio_to_lower_bound"], ".2f"), _cell(u["neurons"]),
                     _cell(u["axons"]), _cell(syn)])
    lines = [title] if title else []
    if markdown:
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|")
        lines += ["| " + " | ".join(b) + " |" for b in body]
    else:
        widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
        fmt = lambda cells: "  ".join(c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
                                      for i, (c, w) in enumerate(zip(cells, widths)))
        lines.append(fmt(head))
        lines.append("  ".join("-" * w for w in widths))
        lines += [fmt(b) for b in body]
    lines.append("")
    for r in rows:
        lines.append(f"{r['chip']}: {r['schedule_reason']}")
        if r["first_violation"]:
            more = f" (+{r['violations'] - 1} more)" if r["violations"] > 1 else ""
            lines.append(f"  does not fit: {r['first_violation']}{more}")
    return "\n".join(lines)
