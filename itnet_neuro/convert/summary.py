"""The human-readable conversion summary printed by ``itnet-neuro convert``."""

from __future__ import annotations

import json

import numpy as np


def weight_counts(net) -> dict:
    """Stored weights: as converted (shared block once) and as unrolled (one copy per iteration)."""
    stored = sum(int(c.weight.size) for c in net.connections)
    if net.block is None:
        return {"stored": stored, "unrolled": stored}
    unrolled = 0
    n = net.block.iterations
    for c in net.connections:
        if c.post in net.block.populations:
            its = len(c.iterations) if c.iterations is not None else n
            unrolled += int(c.weight.size) * its
        else:
            unrolled += int(c.weight.size)
    return {"stored": stored, "unrolled": unrolled}


def summarize(result) -> str:
    net = result.network
    rep = result.report
    lines = [net.summary()]
    wc = weight_counts(net)
    if net.block is not None:
        members = [net.population(p) for p in net.block.populations]
        table = sum(p.threshold.size + p.bias.size for p in members)
        lines.append(f"weights: {wc['stored']:,} stored (shared block once) vs {wc['unrolled']:,} unrolled over "
                     f"{net.block.iterations} iterations ({wc['unrolled'] / max(wc['stored'], 1):.2f}×)")
        lines.append(f"per-iteration tables: {len(members)} block populations × {net.block.iterations} rows, "
                     f"{table:,} threshold+bias values; state fed back: {', '.join(net.block.state)}")
    else:
        lines.append(f"weights: {wc['stored']:,} (no shared block: every weight stored once per use)")
    meta = net.metadata
    lines.append(f"normalization: {meta.get('percentile')}th percentile of positive activations, "
                 f"{'per channel' if meta.get('per_channel') else 'per layer'}, on {rep.get('n_calibration')} "
                 f"{rep.get('calibration')} calibration images; v_init = {meta.get('v_init')}·θ")
    seen, unique = set(), []
    for m in rep["materialized"]:  # a block member appears once per iteration: list it once
        key = json.dumps(m["as"])
        if key not in seen:
            seen.add(key)
            unique.append(m)
    pairs = [m for m in unique if m["signed"]]
    singles = [m for m in unique if not m["signed"]]
    if pairs:
        lines.append(f"signed pairs (x = x⁺ − x⁻, two IF populations relu(x), relu(−x)): {len(pairs)}")
        for m in pairs:
            lines.append(f"  {m['value'].split('#')[0]} → {' / '.join(m['as'])}: {m['reason']}")
    if singles:
        lines.append(f"linear values kept as one non-negative population: {len(singles)}")
        for m in singles:
            what = ' / '.join(m['as']) if isinstance(m['as'], list) else m['as']
            lines.append(f"  {m['value'].split('#')[0]} → {what}: {m['reason']}")
    lines.append("folded into connection weights / thresholds: every other BatchNorm, pooling, resampling, "
                 "concatenation (post_offset), residual sum and bias; readouts take the classifiers (1×1 conv "
                 "or dense) and their up-sampling (out_size)")
    for n in rep.get("notes", []):
        lines.append(f"note: {n}")
    if rep["sign_changes"]:
        lines.append("folded BatchNorm scale changes sign across iterations (weights of these channels are not "
                     "shared: one connection copy per group of iterations):")
        for s in rep["sign_changes"]:
            lines.append(f"  {s['population']}: channels {s['channels']}")
    if rep["unshared_connections"]:
        lines.append(f"connections with per-iteration variants: " + ", ".join(
            f"{u['connection']} ({u['variants']})" for u in rep["unshared_connections"]))
    lines.append(f"{'population':<28} {'shape':>14} {'rows':>4} {'role':>6} {'λ (mean)':>9}  source")
    for p in net.populations:
        lines.append(f"{p.name:<28} {str(p.shape):>14} {p.rows:>4} {p.role + ('±' if p.pair else ''):>6} "
                     f"{float(np.mean(p.decode_scale)):>9.3g}  {p.source}")
    for r in net.readouts:
        terms = ", ".join(t.population + (" (global avg)" if t.pool else "") for t in r.terms)
        lines.append(f"readout {r.name}: {r.classes} classes from {terms}" +
                     (f", iteration {r.iteration}" if r.iteration else "") +
                     (f", up-sampled to {r.out_size}" if r.out_size else ""))
    return "\n".join(lines)
