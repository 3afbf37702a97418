"""2×2/2 max pooling as two ReLU layers: exact at the rate level, no special neuron needed.

For non-negative ``a, b``: ``max(a, b) = relu(a − b) + b``. A 2×2 window ``[[a, b], [c, d]]`` is

    m_top = relu(a − b) + b,   m_bot = relu(c − d) + d,   max = relu(m_top − m_bot) + m_bot

so three IF populations per pooled population do it:

* ``D1 = relu(x[:, 2j] − x[:, 2j+1])``  (a 1×2 depthwise connection, stride (1, 2)),
* ``D2 = relu(m_top − m_bot)``  (from D1 with [+1, −1] vertically, and from x with [[0, +1], [0, −1]]),
* ``M = D2 + D1_bottom + x_bottom-right``  (non-negative, so one IF population is exact),

with the window's taps selected by depthwise connections of stride 2. Zero padding ('same' with odd
sizes) is exact because the inputs are non-negative. Cost against average pooling: 2 extra populations
of half and quarter size plus the pooled one, 3 ticks of latency instead of 1, and the rate error of
two more layers (measured in ``benchmarks/results/convert_maxpool.json``). The inputs must be
non-negative (ReLU outputs or an image in [0, 1]); anything else raises a clear error.
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.convert.expr import Expr, Part, Term
from itnet_neuro.errors import UnsupportedLayerError


def _dw(pre, w, stride, padding) -> Term:
    return Term(pre, "depthwise", np.asarray(w, np.float32), 0, tuple(stride), tuple(padding))


def _ready_parts(ctx, node, e: Expr) -> list[Part]:
    """``e``'s parts, each one non-negative population with a per-channel gain (materialized if needed)."""
    ready: list[Part] = []
    for p in e.parts:
        simple = p.is_identity() and not np.any(p.bias) and len(p.terms) == 1 and \
            p.terms[0].out_channels == p.channels and np.all(p.scale * p.terms[0].weight >= 0)
        if not simple:
            if not Expr([p], e.shape).nonnegative():
                raise UnsupportedLayerError(
                    f"layer {node.name!r} (MaxPooling2D): its input can be negative (channels {p.offset}–"
                    f"{p.offset + p.channels - 1}); max pooling converts only for non-negative inputs (after a "
                    "ReLU); use AveragePooling2D and retrain")
            p = ctx._materialize_part(node, e, p, "max pooling needs one population per channel")
        ready.append(p)
    return ready


def convert_max_pool(ctx, node, e: Expr, padding: str) -> Expr:
    c_all, h, w = e.shape
    if padding == "same":
        ho, wo = -(-h // 2), -(-w // 2)
    elif padding == "valid":
        ho, wo = h // 2, w // 2
    else:
        raise UnsupportedLayerError(f"layer {node.name!r} (MaxPooling2D): padding={padding!r}")
    ph, pw = max(2 * ho - h, 0), max(2 * wo - w, 0)
    acts = ctx.acts[e.node] if e.node in ctx.acts else None
    ready = _ready_parts(ctx, node, e)
    out_parts = []
    base = ctx.key(node.id)
    for p in ready:
        t = p.terms[0]
        c = p.channels
        g = (p.scale * t.weight).astype(np.float32)
        x = t.pre
        lo = p.offset
        if acts is not None:
            xa = acts[..., lo:lo + c]
        else:  # pragma: no cover - every Keras node has an activation
            xa = np.zeros((1, h, w, c), np.float32)
        xp = np.pad(xa, [(0, 0), (0, ph), (0, pw), (0, 0)])
        d1v = np.maximum(xp[:, :, 0:2 * wo:2] - xp[:, :, 1:2 * wo:2], 0.0)[:, :h]        # (B, h, wo, c)
        mv = d1v + xp[:, :h, 1:2 * wo:2]
        mvp = np.pad(mv, [(0, 0), (0, ph), (0, 0), (0, 0)])
        d2v = np.maximum(mvp[:, 0:2 * ho:2] - mvp[:, 1:2 * ho:2], 0.0)
        outv = d2v + mvp[:, 1:2 * ho:2]
        zeros, ones = np.zeros(c, np.float32), np.ones(c, np.float32)
        gi = g.reshape(c, 1, 1, 1)
        d1_terms = [_dw(x, np.concatenate([gi, -gi], axis=3), (1, 2), (0, 0, 0, pw))]
        d1 = ctx._new_pop(f"{base}_c{lo}_d1", node.id, (c, h, wo), [Part(0, c, d1_terms, zeros, ones)], 1,
                          values=d1v)
        one = np.ones((c, 1, 1, 1), np.float32)
        zero = np.zeros((c, 1, 1, 1), np.float32)
        d2_terms = [_dw(d1, np.concatenate([one, -one], axis=2), (2, 1), (0, ph, 0, 0)),
                    _dw(x, np.concatenate([np.concatenate([zero, gi], 3), np.concatenate([zero, -gi], 3)], 2),
                        (2, 2), (0, ph, 0, pw))]
        d2 = ctx._new_pop(f"{base}_c{lo}_d2", node.id, (c, ho, wo), [Part(0, c, d2_terms, zeros, ones)], 1,
                          values=d2v)
        m_terms = [Term(d2, "identity", ones.copy()),
                   _dw(d1, np.concatenate([zero, one], axis=2), (2, 1), (0, ph, 0, 0)),
                   _dw(x, np.concatenate([np.concatenate([zero, zero], 3), np.concatenate([zero, gi], 3)], 2),
                       (2, 2), (0, ph, 0, pw))]
        m = ctx._new_pop(f"{base}_c{lo}" if len(ready) > 1 else base, node.id, (c, ho, wo),
                         [Part(0, c, m_terms, zeros, ones)], 1, values=outv, channels=(lo, lo + c))
        for rec in (d1, d2):
            rec.node = ""  # internal: no Keras tensor to verify against
        ctx.materialized.append({"value": node.id, "as": [d1.name, d2.name, m.name], "signed": False,
                                 "reason": "2×2 max pooling as relu(a−b)+b (exact for non-negative inputs)"})
        out_parts.append(Part(lo, c, [Term(m, "identity", ones.copy())], zeros.copy(), ones.copy(), node.id))
    return Expr(out_parts, (c_all, ho, wo), node.id)


def convert_max_pool_window(ctx, node, e: Expr, kernel, stride, pad) -> Expr:
    """Any k×k max pooling (stride, zero padding ``pad`` top/bottom/left/right) as a tournament of
    ``max(a, b) = relu(a − b) + b``: ``kH·kW − 1`` populations ``D`` at the pooled size (each from its
    two contestants' ``D``s and a depthwise tap pair of the input), ``⌈log2(kH·kW)⌉`` levels, then one
    population ``M`` = the winner's ``D``s + its input tap. Exact at the rate level for non-negative
    inputs (zero padding then never wins); ``kH·kW`` populations and ``⌈log2(kH·kW)⌉ + 1`` ticks of
    latency per pooled population (3×3: 9 populations, 5 ticks)."""
    c_all, h, w = e.shape
    kh, kw = kernel
    ho = (h + pad[0] + pad[1] - kh) // stride[0] + 1
    wo = (w + pad[2] + pad[3] - kw) // stride[1] + 1
    acts = ctx.acts[e.node] if e.node in ctx.acts else np.zeros((1, h, w, c_all), np.float32)
    xp_all = np.pad(acts, [(0, 0), (pad[0], pad[1]), (pad[2], pad[3]), (0, 0)])
    base = ctx.key(node.id)
    out_parts = []
    ready = _ready_parts(ctx, node, e)
    for p in ready:
        t, c, lo = p.terms[0], p.channels, p.offset
        g = (p.scale * t.weight).astype(np.float32)
        xp = xp_all[..., lo:lo + c]

        def tap(ky, kx):
            return xp[:, ky:ky + stride[0] * (ho - 1) + 1:stride[0], kx:kx + stride[1] * (wo - 1) + 1:stride[1]]

        def taps_kernel(signs: dict) -> Term:
            k = np.zeros((c, 1, kh, kw), np.float32)
            for (ky, kx), sgn in signs.items():
                k[:, 0, ky, kx] += sgn * g
            return _dw(t.pre, k, stride, pad)

        # a contestant: (populations with +1, its input tap, its value)
        cands = [([], (ky, kx), tap(ky, kx)) for ky in range(kh) for kx in range(kw)]
        pops = []
        while len(cands) > 1:
            nxt = []
            for i in range(0, len(cands) - 1, 2):
                (pa, ta, va), (pb, tb, vb) = cands[i], cands[i + 1]
                terms = [Term(r, "identity", np.ones(c, np.float32)) for r in pa]
                terms += [Term(r, "identity", -np.ones(c, np.float32)) for r in pb]
                terms.append(taps_kernel({ta: 1.0, tb: -1.0} if ta != tb else {}))
                d = ctx._new_pop(f"{base}_c{lo}_d{len(pops) + 1}", node.id, (c, ho, wo),
                                 [Part(0, c, terms, np.zeros(c, np.float32), np.ones(c, np.float32))], 1,
                                 values=np.maximum(va - vb, 0.0))
                d.node = ""  # internal: no Keras tensor to verify against
                pops.append(d)
                nxt.append((pb + [d], tb, np.maximum(va - vb, 0.0) + vb))
            if len(cands) % 2:
                nxt.append(cands[-1])
            cands = nxt
        win_pops, win_tap, win_val = cands[0]
        terms = [Term(r, "identity", np.ones(c, np.float32)) for r in win_pops] + [taps_kernel({win_tap: 1.0})]
        m = ctx._new_pop(f"{base}_c{lo}" if len(ready) > 1 else base, node.id, (c, ho, wo),
                         [Part(0, c, terms, np.zeros(c, np.float32), np.ones(c, np.float32))], 1, values=win_val,
                         channels=(lo, lo + c))
        ctx.materialized.append({"value": node.id, "as": [r.name for r in pops] + [m.name], "signed": False,
                                 "reason": f"{kh}×{kw} max pooling as a tournament of relu(a−b)+b (exact for "
                                           "non-negative inputs)"})
        out_parts.append(Part(lo, c, [Term(m, "identity", np.ones(c, np.float32))], np.zeros(c, np.float32),
                              np.ones(c, np.float32), node.id))
    return Expr(out_parts, (c_all, ho, wo), node.id)
