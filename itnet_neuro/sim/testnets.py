"""Small networks with exact arithmetic, for the backend equivalence tests and the benchmark.

Spike-for-spike agreement between simulators that sum in different orders and precisions needs
arithmetic without rounding: :func:`dyadic` rounds every weight, bias, threshold and gain to a
multiple of a power of two with few significant bits (as an integer-weight chip stores them), so
float32 and float64 sums in any order give the same value.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from itnet_neuro.ir.graph import (Connection, InputSpec, IterativeBlock, Network, Population, Readout, ReadoutTerm,
                                  same_padding)


def _q(a, step):
    return (np.round(np.asarray(a, np.float64) / step) * step).astype(np.float32)


def dyadic(net: Network, weight_step: float = 1 / 16, threshold_step: float = 1 / 8) -> Network:
    """``net`` with weights, gains and biases rounded to multiples of ``weight_step`` and thresholds
    to multiples of ``threshold_step`` (at least one step)."""
    pops = tuple(dataclasses.replace(p, threshold=np.maximum(_q(p.threshold, threshold_step), threshold_step),
                                     bias=_q(p.bias, weight_step / 2)) for p in net.populations)
    conns = tuple(dataclasses.replace(c, weight=_q(c.weight, weight_step)) for c in net.connections)
    return dataclasses.replace(net, populations=pops, connections=conns)


def dyadic_input(shape, seed: int = 0, step: float = 1 / 16) -> np.ndarray:
    """Random preprocessed inputs ``(B, C, H, W)`` in [0, 1] on a ``step`` grid."""
    rng = np.random.default_rng(seed)
    return _q(rng.uniform(0, 1, shape), step)


def random_convnet(seed: int = 0, height: int = 8, width: int = 12, channels: int = 4, iterations: int = 2,
                   strong: bool = False) -> Network:
    """A random small ItNet-like network using every op: conv (grouped, strided), depthwise, avgpool,
    bilinear/nearest resize, identity, concatenation via ``post_offset``, a dense head, a leaky
    population, a delay-2 connection and an iterative block with feedback. Dyadic throughout (keep
    height and width multiples of 4: bilinear resampling by 2 has dyadic weights, by 5/3 not).

    ``strong=True`` makes weights large enough that many neurons receive more than θ in one tick (the
    input that made the ``fast`` simulator's former closed form fall back to a tick-by-tick update).
    """
    rng = np.random.default_rng(seed)
    c = channels
    gain = 1.2 if strong else 0.45
    h2, w2 = -(-height // 2), -(-width // 2)
    h4, w4 = -(-h2 // 2), -(-w2 // 2)

    def pop(name, ch, h, w, rows=1, leak=0.0, role="hidden", v_init=0.5):
        thr = rng.uniform(0.75, 1.25, (rows, ch))
        return Population(name, (ch, h, w), threshold=thr, bias=rng.normal(0, 0.06, (rows, ch)),
                          decode_scale=thr, role=role, leak=leak, v_init=v_init)

    def w(*shape):
        return rng.normal(0, gain, shape)

    pad3 = same_padding(height, 3, 2) + same_padding(width, 3, 2)
    p1 = same_padding(h2, 3, 1) + same_padding(w2, 3, 1)
    pops = [
        pop("a", c, h2, w2),                       # conv 3×3 stride 2 of the image
        pop("b", 2 * c, h2, w2, v_init=0.0),       # concat: grouped conv of a ‖ depthwise (×1) of a
        pop("low", c, h4, w4),                     # avgpool 2×2 of a
        pop("up", c, h2, w2, leak=0.5),            # bilinear resize of low (leaky: exact for ~40 ticks)
        pop("mix", c, h2, w2, rows=iterations),    # block: 1×1 of b, resize of up, feedback of st
        pop("dw", 2 * c, h2, w2, rows=iterations),  # block: depthwise ×2 of mix
        pop("st", c, h2, w2, rows=iterations, role="state"),  # block: 1×1 of dw + identity of mix
        pop("head", 3, 1, 1),                      # dense of low (outside the block, delay 2)
    ]
    # "head" must come after "low" and may not read block members: place it before the block in order
    pops = [pops[i] for i in (0, 1, 2, 3, 7, 4, 5, 6)]
    conns = [
        Connection("img_a", "image", "a", "conv2d", w(c, 3, 3, 3), stride=(2, 2), padding=pad3),
        Connection("a_b_g", "a", "b", "conv2d", w(c, 2, 3, 3), padding=p1, groups=2),
        Connection("a_b_dw", "a", "b", "depthwise", w(c, 1, 3, 3), padding=p1, post_offset=c),
        Connection("a_low", "a", "low", "avgpool", rng.uniform(0.5, 1.5, c), kernel=(2, 2), stride=(2, 2),
                   padding=(0, h4 * 2 - h2, 0, w4 * 2 - w2)),
        Connection("low_up", "low", "up", "resize", rng.uniform(0.5, 1.5, c), mode="bilinear"),
        Connection("low_head", "low", "head", "dense", w(3, c * h4 * w4) * 0.5, delay=2),
        Connection("b_mix", "b", "mix", "conv2d", w(c, 2 * c, 1, 1), iterations=(1,)),
        Connection("up_mix", "up", "mix", "resize", rng.uniform(0.5, 1.0, c), mode="nearest"),
        Connection("st_mix", "st", "mix", "conv2d", w(c, c, 3, 3), padding=p1, feedback=True,
                   iterations=tuple(range(2, iterations + 1))),
        Connection("mix_dw", "mix", "dw", "depthwise", w(2 * c, 1, 3, 3), padding=p1),
        Connection("dw_st", "dw", "st", "conv2d", w(c, 2 * c, 1, 1)),
        Connection("mix_st", "mix", "st", "identity", rng.uniform(0.25, 0.75, c), delay=2),
    ]
    readouts = [Readout(f"out{n}", n - 1, (ReadoutTerm("st", rng.normal(0, 1, (3, c))),), np.zeros(3), iteration=n,
                        out_size=(height, width)) for n in range(1, iterations + 1)]
    readouts.append(Readout("head_out", iterations, (ReadoutTerm("head", np.eye(3)),), np.zeros(3)))
    block = IterativeBlock("block", iterations, ("mix", "dw", "st"), state=("st",))
    net = Network(f"random-convnet-{seed}", InputSpec("image", (3, height, width)), tuple(pops), tuple(conns),
                  tuple(readouts), block, metadata={"source": "itnet_neuro.sim.testnets.random_convnet", "seed": seed})
    return dyadic(net)


def chip_neuron_convnet(seed: int = 0, **kwargs) -> Network:
    """:func:`random_convnet` with a chip's neuron on most populations, dyadic throughout: reset to zero,
    a leak of 0.25 (``v·0.75``: every float64 backend runs the same IEEE operations, so they agree bit
    for bit even where the leak's growing fraction bits round), membrane saturation, and per-neuron
    ``threshold_map`` / ``bias_map`` (multiples of 1/8 and 1/32). Exercises every neuron option of
    :class:`itnet_neuro.ir.graph.Population` in every backend, including, on ``low`` and ``dw``,
    saturation with reset by subtraction and no leak.
    """
    net = random_convnet(seed, **kwargs)
    rng = np.random.default_rng([seed, 17])
    options = {
        "a": dict(reset="zero", v_min=-1.0, v_max=2.0, maps=True),
        "b": dict(reset="zero", leak=0.25),
        "low": dict(v_min=-0.5, v_max=1.5),
        "mix": dict(reset="zero", leak=0.25, v_max=1.75, maps=True),
        "dw": dict(v_min=-0.75, maps=True),
        "st": dict(reset="zero", v_min=-0.5),
        "head": dict(maps=True),
    }
    pops = []
    for p in net.populations:
        opt = dict(options.get(p.name, {}))
        if opt.pop("maps", False):
            full = (p.rows,) + p.shape
            opt["threshold_map"] = np.maximum(_q(np.repeat(p.threshold[:, :, None, None], p.shape[1], 2).repeat(
                p.shape[2], 3) * rng.uniform(0.8, 1.2, full), 1 / 8), 1 / 8)
            opt["bias_map"] = _q(rng.normal(0, 0.08, full), 1 / 32)
        pops.append(dataclasses.replace(p, **opt))
    return dataclasses.replace(net, name=f"chip-neuron-convnet-{seed}", populations=tuple(pops))


def signed_pair_convnet(seed: int = 0, height: int = 8, width: int = 12, channels: int = 4) -> Network:
    """Signed pairs as the converter builds them, dyadic throughout: a pair ``a±`` driven by ``±W`` with
    biases ``±b`` (its negative half's current is exactly minus the positive half's), a convolution
    reading both halves with ``V`` and ``-V·r``, ``r = θ⁻/θ⁺`` per channel (what the ``fast`` simulator
    fuses into one op), and a second pair ``c±`` reading ``a±`` and ``b`` the same way; one more
    population, ``d``, reads ``a⁻`` with weights that are *not* the ratio of ``a⁺``'s, so it must run both."""
    rng = np.random.default_rng(seed)
    c, h, w = channels, height, width
    pad = same_padding(h, 3, 1) + same_padding(w, 3, 1)
    grid = np.array([0.75, 1.0, 1.25, 1.5])

    def pair(name, reads):
        thr_p, thr_n = rng.choice([0.5, 1.0], (1, c)), rng.choice(grid, (1, c))  # θ⁻/θ⁺ dyadic
        b = _q(rng.normal(0, 0.06, (1, c)), 1 / 32)
        pos = Population(f"{name}_pos", (c, h, w), threshold=thr_p, bias=b, decode_scale=thr_p, pair=f"{name}_neg")
        neg = Population(f"{name}_neg", (c, h, w), threshold=thr_n, bias=-b, decode_scale=thr_n, pair=f"{name}_pos",
                         sign=-1)
        conns = []
        for pre, weight in reads:
            conns += [Connection(f"{pre}->{name}_pos", pre, pos.name, "conv2d", weight, padding=pad),
                      Connection(f"{pre}->{name}_neg", pre, neg.name, "conv2d", -weight, padding=pad)]
        return (pos, neg), conns

    def read_pair(src, post, weight):
        """``src±`` → ``post`` with ``V`` and ``-V·θ⁻/θ⁺`` (a signed value decoded at each half's scale)."""
        r = (src[1].threshold / src[0].threshold).reshape(1, c, 1, 1)
        return [Connection(f"{src[0].name}->{post}", src[0].name, post, "conv2d", weight, padding=pad),
                Connection(f"{src[1].name}->{post}", src[1].name, post, "conv2d", _q(-weight * r, 1 / 256),
                           padding=pad)]

    def v(cin=c):
        return _q(rng.normal(0, 0.4, (c, cin, 3, 3)), 1 / 16)

    a, conns = pair("a", [("x", v())])
    b = Population("b", (c, h, w), threshold=rng.choice(grid, (1, c)), bias=np.zeros((1, c)),
                   decode_scale=np.ones((1, c)))
    conns += read_pair(a, "b", v())
    cp, more = pair("c", [("b", v())])
    conns += more
    wa = v()
    for half, sign in zip(cp, (1, -1)):  # c± also read a±, the same connection pair negated
        conns += [dataclasses.replace(x, name=f"{x.name}@{half.name}", post=half.name, weight=sign * x.weight)
                  for x in read_pair(a, half.name, wa)]
    d = Population("d", (c, h, w), threshold=rng.choice(grid, (1, c)), bias=np.zeros((1, c)),
                   decode_scale=np.ones((1, c)))
    conns += [Connection("a_pos->d", "a_pos", "d", "conv2d", v(), padding=pad),
              Connection("a_neg->d", "a_neg", "d", "conv2d", v(), padding=pad)]
    ro = Readout("out", 0, (ReadoutTerm("c_pos", np.eye(c)), ReadoutTerm("c_neg", -np.eye(c)),
                            ReadoutTerm("d", np.eye(c))), np.zeros(c))
    return Network("pairs", InputSpec("x", (c, h, w)), (*a, b, *cp, d), tuple(conns), (ro,))
