"""Network and chip generators for tests and benchmarks of the allocator (no conversion needed).

* :func:`random_network` — a random small stack of conv / depthwise / pooling / resize / dense
  populations with concatenations, optionally followed by a random iterative block with feedback.
* :func:`random_chip` — a random crossbar chip spec (a packaged spec with its limits replaced), valid
  by construction.
* :func:`itnet_like_network` — the structure of an ItNet (DESIGN.md §4) as an IR with random
  weights: data block (two stride-2 stages, then L scales), an iterative block (scale mixing by
  resampling + concatenation for n ≥ 2, a 3×3 conv, K bottlenecks 1×1 expand ×t → 3×3 depthwise →
  1×1 project, signed state as a ± pair), one readout per iteration. It has the shapes, channel
  counts and connectivity of the paper presets, which is what allocation depends on; it is not a
  conversion of a trained model.
"""

from __future__ import annotations

import math

import numpy as np

from itnet_neuro.ir import (Connection, InputSpec, IterativeBlock, Network, Population, Readout, ReadoutTerm,
                            same_padding)


def _pop(rng, name, shape, rows=1, role="hidden", pair=None, sign=1):
    c = shape[0]
    thr = rng.uniform(0.5, 1.5, (rows, c))
    return Population(name, tuple(shape), threshold=thr, bias=rng.normal(0, 0.01, (rows, c)), decode_scale=thr,
                      role=role, pair=pair, sign=sign)


def _conv(rng, name, pre, post, cin, cout, k, stride, in_hw, groups=1, **kw):
    pad = same_padding(in_hw[0], k, stride) + same_padding(in_hw[1], k, stride)
    w = rng.normal(0, 1.0 / math.sqrt(cin // groups * k * k), (cout, cin // groups, k, k))
    return Connection(name, pre, post, "conv2d", w, stride=(stride, stride), padding=pad, groups=groups, **kw)


def _out_hw(hw, stride):
    return -(-hw[0] // stride), -(-hw[1] // stride)


def random_network(rng: np.random.Generator, *, max_layers: int = 4, max_channels: int = 8, max_hw: int = 10,
                   block: bool | None = None) -> Network:
    """A random small network; with ``block`` (random if None) an iterative block with feedback."""
    c0 = int(rng.integers(1, 4))
    h, w = int(rng.integers(2, max_hw + 1)), int(rng.integers(2, max_hw + 1))
    inp = InputSpec("x", (c0, h, w))
    pops, conns = [], []
    prev, prev_shape = "x", (c0, h, w)
    names = []
    for i in range(int(rng.integers(1, max_layers + 1))):
        kind = rng.choice(["conv", "conv", "depthwise", "pool", "resize", "concat", "dense"])
        cin, hh, ww = prev_shape
        name = f"p{i}"
        if kind == "conv" or (kind == "concat" and not names):
            k = int(rng.choice([1, 3]))
            s = int(rng.choice([1, 1, 2]))
            cout = int(rng.integers(1, max_channels + 1))
            g = int(rng.choice([g for g in (1, 2) if cin % g == 0 and cout % g == 0]))
            shape = (cout,) + _out_hw((hh, ww), s)
            conns.append(_conv(rng, f"c{i}", prev, name, cin, cout, k, s, (hh, ww), groups=g))
        elif kind == "depthwise":
            m = int(rng.integers(1, 3))
            pad = same_padding(hh, 3, 1) + same_padding(ww, 3, 1)
            conns.append(Connection(f"c{i}", prev, name, "depthwise", rng.normal(0, 0.5, (cin * m, 1, 3, 3)),
                                    padding=pad))
            shape = (cin * m, hh, ww)
        elif kind == "pool":
            if hh < 2 or ww < 2:
                continue
            shape = (cin, hh // 2, ww // 2)
            conns.append(Connection(f"c{i}", prev, name, "avgpool", np.ones(cin), kernel=(2, 2), stride=(2, 2)))
        elif kind == "resize":
            shape = (cin, int(rng.integers(1, max_hw + 1)), int(rng.integers(1, max_hw + 1)))
            conns.append(Connection(f"c{i}", prev, name, "resize", rng.uniform(0.5, 1.5, cin),
                                    mode=str(rng.choice(["bilinear", "nearest"]))))
        elif kind == "concat":
            other = names[int(rng.integers(len(names)))]
            oshape = next(p.shape for p in pops if p.name == other)
            if oshape[1:] != prev_shape[1:] or other == prev:
                continue
            cout = int(rng.integers(1, max_channels + 1))
            shape = (cout + oshape[0], hh, ww)
            conns.append(_conv(rng, f"c{i}a", prev, name, cin, cout, 3, 1, (hh, ww)))
            conns.append(Connection(f"c{i}b", other, name, "identity", rng.uniform(0.5, 1.5, oshape[0]),
                                    post_offset=cout))
        else:  # dense
            n_in = cin * hh * ww
            if n_in > 400:
                continue
            cout = int(rng.integers(1, 3 * max_channels))
            shape = (cout, 1, 1)
            conns.append(Connection(f"c{i}", prev, name, "dense", rng.normal(0, 0.3, (cout, n_in))))
        pops.append(_pop(rng, name, shape))
        names.append(name)
        prev, prev_shape = name, shape
    if not pops:
        pops.append(_pop(rng, "p0", (2, h, w)))
        conns.append(_conv(rng, "c0", "x", "p0", c0, 2, 3, 1, (h, w)))
        prev, prev_shape = "p0", (2, h, w)
    use_block = bool(rng.integers(2)) if block is None else block
    blk = None
    readouts = []
    if use_block and prev_shape[1] * prev_shape[2] > 1:
        n_it = int(rng.integers(2, 5))
        cin, hh, ww = prev_shape
        cb = int(rng.integers(1, max_channels + 1))
        pops.append(_pop(rng, "bh", (cb, hh, ww), n_it))
        pops.append(_pop(rng, "bs", (cb, hh, ww), n_it, role="state"))
        its_rest = tuple(range(2, n_it + 1))
        conns.append(_conv(rng, "in_bh", prev, "bh", cin, cb, int(rng.choice([1, 3])), 1, (hh, ww), iterations=(1,)))
        conns.append(_conv(rng, "fb_bh", "bs", "bh", cb, cb, int(rng.choice([1, 3])), 1, (hh, ww),
                           iterations=its_rest, feedback=True))
        conns.append(_conv(rng, "bh_bs", "bh", "bs", cb, cb, 1, 1, (hh, ww)))
        blk = IterativeBlock("block", n_it, ("bh", "bs"), state=("bs",))
        for n in range(1, n_it + 1):
            readouts.append(Readout(f"out{n}", n - 1, (ReadoutTerm("bs", rng.normal(0, 1, (2, cb))),),
                                    bias=np.zeros(2), iteration=n))
    else:
        readouts.append(Readout("out", 0, (ReadoutTerm(prev, rng.normal(0, 1, (2, prev_shape[0]))),),
                                bias=np.zeros(2)))
    return Network("random", inp, tuple(pops), tuple(conns), tuple(readouts), blk)


def random_chip(rng: np.random.Generator, base: str | None = None):
    """A random crossbar chip: a packaged spec with small random limits (validated by the loader's rules)."""
    from dataclasses import replace  # re-validates: the specs check themselves on construction

    from hardware_models.spec import load_chip

    base = base or str(rng.choice(["truenorth", "loihi", "ideal"]))
    spec = load_chip(base)

    def maybe(lo, hi, p_none=0.25):
        return None if rng.random() < p_none else int(rng.integers(lo, hi + 1))

    sign = str(rng.choice(["signed", "two-rows", "axon-types", "float"]))
    weights = replace(spec.weights, sign=sign, bits=None if sign == "float" else int(rng.integers(2, 9)),
                      n_axon_types=4 if sign == "axon-types" else None, exponent_bits=None, exponent_min=None,
                      exponent_max=None, exponent_scope=None, mixed_sign_costs_bit=False)
    syn_formula = str(rng.choice(["none", "loihi_synapse_memory_bits", "spinnaker_synapse_row_bytes"]))
    core = replace(spec.core, architecture="crossbar", max_neurons=maybe(4, 96, 0.1), max_axons=maybe(9, 160),
                   max_output_axons=maybe(16, 512), max_synapses=maybe(64, 8192),
                   synapse_memory_bytes=maybe(256, 16384), synapse_memory_formula=None if syn_formula == "none"
                   else syn_formula, max_fanin_per_neuron=maybe(9, 200), max_fanout_cores_per_neuron=maybe(1, 4),
                   neuron_state_bytes_per_neuron=None if rng.random() < 0.7 else float(rng.integers(8, 64)))
    cpc = maybe(4, 64, 0.2)
    if cpc is None:
        chip = replace(spec.chip, cores_per_chip=None, mesh_rows=None, mesh_cols=None, max_chips=None,
                       shared_memory_bytes=None)
    else:
        rows = int(math.ceil(math.sqrt(cpc)))
        chip = replace(spec.chip, cores_per_chip=cpc, mesh_rows=rows, mesh_cols=-(-cpc // rows),
                       max_chips=maybe(1, 50, 0.5), shared_memory_bytes=maybe(1 << 14, 1 << 22, 0.7))
    neuron = replace(spec.neuron, parameters_switchable_at_runtime=bool(rng.integers(2)),
                     max_synaptic_delay_ticks=maybe(1, 40, 0.3))
    regen = str(rng.choice(["generator-neurons", "core-memory", "none"]))
    if regen == "generator-neurons" and not neuron.parameters_switchable_at_runtime:
        regen = "none"
    buffer = replace(spec.state_buffer, regenerator=None if regen == "none" else regen,
                     neurons_per_state_neuron=int(rng.integers(1, 3)) if regen == "generator-neurons" else None,
                     bytes_per_state_neuron=float(rng.integers(1, 9)) if regen == "core-memory" else None)
    return replace(spec, name=f"random-{base}", chip=chip, core=core, weights=weights, neuron=neuron,
                   state_buffer=buffer, path="")


def itnet_like_network(height: int = 360, width: int = 480, width_f: int = 51, iterations: int = 16,
                       scales: int = 3, bottlenecks: int = 1, expansion: int = 6, classes: int = 11,
                       shared: bool = True, seed: int = 0) -> Network:
    """An IR with the structure of an ItNet preset and random weights (see the module docstring).

    ``shared=False`` (``paper-camvid-independent``) gives every iteration its own weights: the
    network is built already unrolled (no block), as nothing is shared that a looped schedule
    could reuse.
    """
    rng = np.random.default_rng(seed)
    f, fr = width_f, max(1, width_f // 2)
    inp = InputSpec("image", (3, height, width))
    pops, conns = [], []
    n_rows = iterations if shared else 1

    def add(name, shape, rows=1, **kw):
        pops.append(_pop(rng, name, shape, rows, **kw))

    # Data block: two ENet-style stages (conv 3×3 s2 ‖ 2×2 pool), then one stride-2 conv per scale.
    hw1 = _out_hw((height, width), 2)
    add("d1", (f, *hw1))
    conns.append(_conv(rng, "image_d1", "image", "d1", 3, f - 3, 3, 2, (height, width)))
    conns.append(Connection("image_pool_d1", "image", "d1", "avgpool", np.ones(3), kernel=(2, 2), stride=(2, 2),
                            padding=(0, height % 2, 0, width % 2), post_offset=f - 3))
    hw2 = _out_hw(hw1, 2)
    add("d2", (f + fr, *hw2))
    conns.append(_conv(rng, "d1_d2", "d1", "d2", f, fr, 3, 2, hw1))
    conns.append(Connection("d1_pool_d2", "d1", "d2", "avgpool", np.ones(f), kernel=(2, 2), stride=(2, 2),
                            padding=(0, hw1[0] % 2, 0, hw1[1] % 2), post_offset=fr))
    prev, prev_c, prev_hw = "d2", f + fr, hw2
    scale_hw = []
    for s in range(scales):
        hw = _out_hw(prev_hw, 2)
        add(f"x{s}", (f, *hw))
        conns.append(_conv(rng, f"{prev}_x{s}", prev, f"x{s}", prev_c, f, 3, 2, prev_hw))
        prev, prev_c, prev_hw = f"x{s}", f, hw
        scale_hw.append(hw)
    members, state, readouts = [], [], []
    copies = [None] if shared else list(range(1, iterations + 1))
    for it in copies:
        sfx = "" if it is None else f"@{it}"
        prev_sfx = None if it in (None, 1) else f"@{it - 1}"
        rows = n_rows
        for s, hw in enumerate(scale_hw):
            mix = f"mix{s}{sfx}"
            h = f"h{s}{sfx}"
            if iterations > 1 and (it is None or it > 1):
                add(mix, (2 * scales * f, *hw), rows)
                members.append(mix)
                for k, khw in enumerate(scale_hw):
                    for j, sg in enumerate(("p", "n")):
                        src = f"st{k}{sg}" + ("" if it is None else prev_sfx)
                        op = "identity" if khw == hw else "resize"
                        conns.append(Connection(f"{src}_{mix}", src, mix, op, rng.uniform(0.5, 1.5, f),
                                                post_offset=(2 * k + j) * f, feedback=it is None,
                                                iterations=tuple(range(2, iterations + 1)) if it is None else None))
            add(h, (f, *hw), rows)
            members.append(h)
            if it in (None, 1):
                conns.append(_conv(rng, f"x{s}_{h}", f"x{s}", h, f, f, 3, 1, hw,
                                   iterations=(1,) if it is None else None))
            if iterations > 1 and (it is None or it > 1):
                conns.append(_conv(rng, f"{mix}_{h}", mix, h, 2 * scales * f, f, 3, 1, hw,
                                   iterations=tuple(range(2, iterations + 1)) if it is None else None))
            cur, cur_c = h, f
            for b in range(bottlenecks):
                e, dw = f"e{s}_{b}{sfx}", f"dw{s}_{b}{sfx}"
                add(e, (expansion * f, *hw), rows)
                add(dw, (expansion * f, *hw), rows)
                members += [e, dw]
                conns.append(_conv(rng, f"{cur}_{e}", cur, e, cur_c, expansion * f, 1, 1, hw))
                pad = same_padding(hw[0], 3, 1) + same_padding(hw[1], 3, 1)
                conns.append(Connection(f"{e}_{dw}", e, dw, "depthwise",
                                        rng.normal(0, 0.3, (expansion * f, 1, 3, 3)), padding=pad))
                cur, cur_c = dw, expansion * f
            for sg, sign in (("p", 1), ("n", -1)):
                st = f"st{s}{sg}{sfx}"
                add(st, (f, *hw), rows, role="state", pair=f"st{s}{'n' if sg == 'p' else 'p'}{sfx}", sign=sign)
                members.append(st)
                state.append(st)
                conns.append(_conv(rng, f"{cur}_{st}", cur, st, cur_c, f, 1, 1, hw))
                conns.append(Connection(f"{h}_{st}", h, st, "identity", sign * rng.uniform(0.5, 1.5, f)))
        for n in ([it] if it is not None else range(1, iterations + 1)):
            terms = tuple(ReadoutTerm(f"st0{sg}{sfx}", rng.normal(0, 1, (classes, f))) for sg in ("p", "n"))
            readouts.append(Readout(f"out{n}", n - 1, terms, bias=np.zeros(classes),
                                    iteration=n if it is None else None, out_size=(height, width)))
    block = IterativeBlock("iterative", iterations, tuple(members), tuple(state)) if shared else None
    meta = {"source": "mapping.testing.itnet_like_network", "width": f, "iterations": iterations,
            "scales": scales, "bottlenecks": bottlenecks, "shared": shared, "seed": seed}
    net = Network(f"itnet-like-{height}x{width}-f{f}", inp, tuple(pops), tuple(conns), tuple(readouts), block,
                  metadata=meta)
    return net


__all__ = ["random_network", "random_chip", "itnet_like_network"]
