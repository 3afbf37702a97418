"""Normalization and IR emission: population records → :class:`itnet_neuro.ir.Network`.

Units. A term's weight acts on the *decoded value* of its presynaptic population; the IR weight acts
on spikes, so it is ``W · λ_pre`` (per presynaptic channel; the ``current``-encoded input has
``λ = 1``). A population holding ``relu(s ⊙ (Σ terms + b))`` gets ``θ = λ / |s|``, bias
``sign(s)·b`` and the sign of ``s`` multiplied into its incoming weights' rows, so that its rate is
``clip(value / λ, 0, 1)`` and its decoded value ``rate · λ``.
"""

from __future__ import annotations

import json
from collections import defaultdict

import numpy as np

from itnet_neuro.convert.converter import INPUT, Converter, PopRec
from itnet_neuro.errors import ConversionError
from itnet_neuro.ir.graph import (Connection, InputSpec, IterativeBlock, Network, Population, Readout,
                                  ReadoutTerm)
from itnet_neuro.ir.ops import spec as op_spec


def decode_scales(conv: Converter) -> dict[str, np.ndarray]:
    """λ per population name (shared by every iteration of a block member), from calibration data."""
    opts = conv.options
    groups: dict[str, list[PopRec]] = defaultdict(list)
    for r in conv.recs:
        groups[r.name].append(r)
    lam = {}
    for name, recs in groups.items():
        c = recs[0].shape[0]
        first = recs[0]
        if first.kind == "cfs":
            lam[name] = np.full(c, float(first.cap), np.float32)
            continue
        vals = np.concatenate([r.values.reshape(-1, c) for r in recs], axis=0)
        if opts.per_channel:
            out = np.zeros(c, np.float32)
            for ch in range(c):
                v = vals[:, ch]
                v = v[v > 0]
                out[ch] = np.percentile(v, opts.percentile) if v.size else 0.0
        else:
            v = vals[vals > 0]
            out = np.full(c, np.percentile(v, opts.percentile) if v.size else 0.0, np.float32)
        out = np.where(out > 0, out, 1.0).astype(np.float32)  # dead channels: any λ works
        if first.cap is not None:
            # A clipped ReLU (ReLU6, ReLU(max_value=m)) as a clipped neuron: λ = the clip, so the IF rate
            # clip(I/θ, 0, 1) saturates exactly where the ReLU does, whatever the calibration data.
            out = np.full(c, float(first.cap), np.float32)
        lam[name] = out.astype(np.float32)
    return lam


def spike_weight(term, dec_pre: np.ndarray, pre_shape, row_sign: np.ndarray) -> np.ndarray:
    """The IR weight of a term: value-unit weight × λ_pre (input axis) × sign of the post row.

    Which presynaptic and postsynaptic channel each weight entry belongs to comes from the op table
    (``gap`` is a full-window average pool there)."""
    op = op_spec("avgpool" if term.op == "gap" else term.op)
    w = term.weight * dec_pre[op.in_channel(term, pre_shape)] * row_sign[op.out_channel(term, None)]
    return w.astype(np.float32)


def _ir_op(term, pre_shape) -> dict:
    """The IR op and geometry of a term (``gap`` is a full-window average pool)."""
    if term.op == "gap":
        return dict(op="avgpool", kernel=tuple(pre_shape[1:]), stride=(1, 1), padding=(0, 0, 0, 0))
    geo = dict(op=term.op, stride=tuple(term.stride), padding=tuple(term.padding))
    if term.op == "avgpool":
        geo["kernel"] = tuple(term.kernel)
    if term.op == "resize":
        geo["mode"] = term.mode
    if term.op == "conv2d" and term.groups != 1:
        geo["groups"] = int(term.groups)
    return geo


def emit(conv: Converter, name: str) -> tuple[Network, dict]:
    """Build the IR network (with an iterative block in the ItNet's shared mode) and a report."""
    opts = conv.options
    lam = decode_scales(conv)
    shared = conv.shared_block
    n_it = conv.itnet.iterations if shared else 1
    in_name = conv.input_node.name if conv.input_node is not None else "image"
    input_spec = InputSpec(in_name, conv.input_shape, "current", conv.input_scale, conv.input_offset)
    members = {r.name for r in conv.recs if shared and r.iteration is not None}

    def dec_of(pre):
        if pre is INPUT:
            return np.ones(conv.input_shape[0], np.float32)
        return lam[pre.name]

    def pre_name(pre):
        return in_name if pre is INPUT else pre.name

    # ---------------------------------------------------------------- populations
    by_name: dict[str, list[PopRec]] = defaultdict(list)
    order: list[str] = []
    for r in conv.recs:
        if r.name not in by_name:
            order.append(r.name)
        by_name[r.name].append(r)
    pops: dict[str, Population] = {}
    sign_changes = []
    for pname in order:
        recs = by_name[pname]
        first = recs[0]
        c = first.shape[0]
        rows = n_it if pname in members else 1
        thr = np.zeros((rows, c), np.float32)
        bias = np.zeros((rows, c), np.float32)
        have = np.zeros(rows, bool)
        signs = {}
        for r in recs:
            row = (r.iteration - 1) if pname in members else 0
            s = r.scale
            mag = np.abs(s)
            thr[row] = np.where(mag > 1e-12, lam[pname] / np.maximum(mag, 1e-12), 1e12)
            bias[row] = np.where(mag > 1e-12, np.sign(s) * r.bias, 0.0)
            have[row] = True
            signs[r.iteration] = np.sign(s)
        for row in np.flatnonzero(~have):  # iterations in which this member receives nothing
            thr[row] = thr[np.flatnonzero(have)[0]]
        if pname in members and len(signs) > 1:
            sg = np.array([signs[n] for n in sorted(signs)])
            flip = np.flatnonzero(np.any(sg != sg[0], axis=0))
            if flip.size:
                sign_changes.append({"population": pname, "channels": flip.tolist(),
                                     "iterations_negative": {int(ch): [n for n in sorted(signs) if signs[n][ch] < 0]
                                                             for ch in flip}})
        v_init = 0.5 if first.kind == "cfs" else opts.v_init
        pops[pname] = Population(pname, first.shape, threshold=thr, bias=bias,
                                 decode_scale=np.tile(lam[pname], (rows, 1)), v_init=v_init, role=first.role,
                                 pair=first.pair, sign=first.sign, source=first.source.split("#")[0])

    # ---------------------------------------------------------------- connections
    slots: dict[tuple, dict] = {}
    slot_order: list[tuple] = []
    for r in conv.recs:
        post_member = r.name in members
        row_sign = np.sign(r.scale).astype(np.float32)
        row_sign[row_sign == 0] = 1.0
        merged: dict[tuple, tuple] = {}
        for t in r.terms:
            pre_shape = conv.shape_of(t.pre)
            sub_sign = row_sign[t.offset:t.offset + t.out_channels]
            w = spike_weight(t, dec_of(t.pre), pre_shape, sub_sign)
            geo = _ir_op(t, pre_shape)
            key = (pre_name(t.pre), t.offset, json.dumps(geo, sort_keys=True), w.shape)
            if key in merged:
                merged[key] = (merged[key][0] + w, geo, t)
            else:
                merged[key] = (w, geo, t)
        for (pname, offset, geo_key, _), (w, geo, t) in merged.items():
            pre_member = pname in members
            feedback = False
            if pre_member and post_member:
                if t.pre.iteration == r.iteration - 1:
                    feedback = True
                elif t.pre.iteration != r.iteration:
                    raise ConversionError(f"{pname} (iteration {t.pre.iteration}) feeds {r.name} (iteration "
                                          f"{r.iteration}): only the previous iteration can be fed back")
            elif pre_member and not post_member:
                raise ConversionError(f"block member {pname} feeds {r.name} outside the iterative block")
            slot = (pname, r.name, offset, geo_key, feedback)
            if slot not in slots:
                slots[slot] = {"geo": geo, "variants": []}
                slot_order.append(slot)
            variants = slots[slot]["variants"]
            it = r.iteration if post_member else None
            for v in variants:
                if v["w"].shape == w.shape and np.array_equal(v["w"], w):
                    v["its"].append(it)
                    break
            else:
                variants.append({"w": w, "its": [it]})
    conns = []
    names_used: set[str] = set()
    unshared = []
    for slot in slot_order:
        pname, post, offset, _, feedback = slot
        geo = slots[slot]["geo"]
        variants = slots[slot]["variants"]
        for k, v in enumerate(variants):
            base = f"{pname}->{post}" + (f"@{offset}" if offset else "") + (f"_v{k + 1}" if len(variants) > 1 else "")
            cname, j = base, 1
            while cname in names_used:
                j += 1
                cname = f"{base}_{j}"
            names_used.add(cname)
            its = None
            if post in members:
                its_set = sorted(set(v["its"]))
                its = None if its_set == list(range(1, n_it + 1)) else tuple(its_set)
            conns.append(Connection(cname, pname, post, weight=v["w"], post_offset=offset, feedback=feedback,
                                    iterations=its, **geo))
        if len(variants) > 1:
            unshared.append({"connection": f"{pname}->{post}", "variants": len(variants),
                             "iterations": [sorted(set(v["its"])) for v in variants]})

    # ---------------------------------------------------------------- order (topological over non-feedback edges)
    names = list(pops)
    indeg = {n: 0 for n in names}
    succ = defaultdict(list)
    for c in conns:
        if not c.feedback and c.pre in pops:
            indeg[c.post] += 1
            succ[c.pre].append(c.post)
    ready = [n for n in names if indeg[n] == 0]
    pos = {n: i for i, n in enumerate(names)}
    topo = []
    import heapq

    heap = [(pos[n], n) for n in ready]
    heapq.heapify(heap)
    while heap:
        _, n = heapq.heappop(heap)
        topo.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                heapq.heappush(heap, (pos[m], m))
    if len(topo) != len(names):
        raise ConversionError("the converted graph has a cycle outside the iterative block's feedback")

    # ---------------------------------------------------------------- readouts
    readouts = []
    for ro in conv.readouts:
        terms = tuple(ReadoutTerm(rec.name, w, pool) for rec, pool, w in ro["terms"])
        it = ro["iteration"] if shared else None
        readouts.append(Readout(ro["name"], ro["index"], terms, ro["bias"], iteration=it, out_size=ro["out_size"]))

    block = None
    if shared and members:
        member_order = [n for n in topo if n in members]
        state = sorted({c.pre for c in conns if c.feedback}, key=member_order.index)
        block = IterativeBlock("iterative", n_it, tuple(member_order), tuple(state))
    sources = {}
    for r in conv.recs:
        if not r.node:
            continue
        key = r.name if r.iteration is None or not shared else f"{r.name}@{r.iteration}"
        sources[key] = {"node": r.node, "channels": list(r.channels), "sign": r.values_sign}
    meta = {
        "converter": "itnet_neuro.convert",
        "percentile": opts.percentile,
        "per_channel": opts.per_channel,
        "v_init": opts.v_init,
        "itnet_config": conv.itnet.to_dict() if conv.itnet is not None else None,
        "keras_sources": sources,
        "input_range": [float(np.min(conv.images)), float(np.max(conv.images))],  # model inputs calibrated on
        "calibration": getattr(conv, "calibration_name", "synthetic"),
        "readout_sources": {ro["name"]: ro["ref"] for ro in conv.readouts},
        "readout_softmax": [ro["name"] for ro in conv.readouts if ro.get("softmax")],
        "notes": conv.notes,
        "sign_changes": sign_changes,
        "unshared_connections": unshared,
    }
    net = Network(name, input_spec, tuple(pops[n] for n in topo), tuple(conns), tuple(readouts), block, meta)
    report = {
        "decode_scales": {k: v.tolist() for k, v in lam.items()},
        "materialized": conv.materialized,
        "notes": conv.notes,
        "sign_changes": sign_changes,
        "unshared_connections": unshared,
        "shared_block": block is not None,
    }
    return net, report
