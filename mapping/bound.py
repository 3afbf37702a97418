"""A lower bound on the cores of any valid allocation (DESIGN.md §6, issue 12 §2).

For each per-core resource, the network needs at least a total T that **every** valid allocation
pays, whatever its tiling, packing or placement; then ``cores ≥ ⌈T / per-core limit⌉``. The totals
count only what no allocation can avoid, under the chips' rules as :mod:`mapping.partition`
models them (``M`` = ``core.max_neurons``, ``F`` = ``core.max_fanout_cores_per_neuron``):

* **consumers.** A presynaptic neuron ``p`` (of a node or of the network input) with ``k(p)``
  postsynaptic neurons sits, through its consumers, on at least ``⌈k(p) / M⌉`` cores: a core holds at
  most ``M`` neurons. ``k(p)`` is counted per consumer node as the largest count over the node's
  edges from ``p``'s node (two edges from one node may reach the same neurons), summed over consumer
  nodes (distinct neurons). Each receptive field is a box (:class:`mapping.view.Edge`), so the
  count is a product of per-axis counts.
* **axons**: ``Σ_p ⌈k(p) / M⌉`` — an input axon feeds every neuron of its core, so consumers of
  ``p`` on one core share one axon, and no core can do with less than one per presynaptic neuron it
  reads. On a chip with population axons (``core.population_axons``, Loihi) one axon can carry all
  channels of a pixel into a convolution: those connections count ``Σ_pixels ⌈k / M⌉`` per
  connection (``k`` the most consumers of one channel at the pixel) instead, when that is fewer
  (one axon per neuron can serve several connections from the same node; population axons cannot). (Summing the inputs per consumer node instead counts a shared axon once per node: not a
  bound.) A two-rows chip is counted with one row per axon: whether a core needs the second row
  depends on which of ``p``'s synapses it holds.
* **neurons**: every neuron once, plus the fan-out copies no allocation avoids: ``p`` reaches at
  least ``d(p) = ⌈k(p) / M⌉ + [p is read out]`` destinations and needs ``⌈d(p) / F⌉`` instances.
* **output axons**: ``Σ_p d(p)`` over the neurons that send anywhere (a neuron no consumer reads —
  e.g. one a strided convolution skips — sends nothing). With population axons, a node feeding
  convolutions counts the larger of its other connections' per-neuron total and one slot per pixel
  and destination core of its busiest convolution (a population axon's slots serve every channel).
* **synapses**: the structural synapses (each occupies one crosspoint of its post's core).
* **synapse memory**: ``Σ_axons f(n_a) ≥ β·S + γ·A`` for each line of the lower envelope of the
  chip's per-axon formula ``f`` over ``1 ≤ n ≤ n_max`` (:func:`synapse_memory_envelope`), ``n_max``
  the most synapses one presynaptic neuron makes (no axon carries more); ``A`` is the axon count,
  bounded below by the axon total for ``γ ≥ 0`` and above by ``S`` (an axon carries at least one
  synapse) for ``γ < 0``. Where synapse lists can be shared (``core.shared_synapse_lists``, Loihi:
  :mod:`mapping.synmem`), a convolution's synapses are not costed per axon: each of its output
  channels needs its kernel (``cin_factor`` × the most taps of one neuron) stored at least once, at
  the stored weight bits; the per-axon envelope then covers the other synapses only (without the
  ``γ ≥ 0`` credit, since their axons are not counted apart).
* **core memory** (memory-based cores): every neuron's state and input buffers, every node's
  parameter tables once per channel, the state buffer, and the synapse memory where the synapse
  rows live in the core.
* **synaptic events per tick**: ``Σ_edges synapses × presynaptic rate`` (the calibration rates of
  :meth:`mapping.view.View.set_rates`; 0 where unknown), against what a core processes per tick.
* **conv-layer chips** (DYNAP-CNN): one core per layer (a pooled output is no layer of its own,
  :func:`mapping.convlayer.pooled_into`).

Explicit synapses (the ``sparse`` op) have no box geometry: their edges carry the count of distinct
post neurons per presynaptic neuron (:attr:`mapping.view.Edge.consumers`), taken as it is.

``tests/test_bound.py`` checks the bound against exhaustive optimal allocations of tiny networks
(every assignment of neurons to cores), not against the allocator.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from mapping.chip import INF, Limits
from mapping.view import Edge, View

LIMIT_ATTR = {"neurons": "max_neurons", "axons": "max_axons", "synapses": "max_synapses",
              "syn_bytes": "synapse_memory_bytes", "out_axons": "max_output_axons",
              "local_bytes": "local_memory_bytes", "events": "max_events_per_tick"}


def _axis_count(lo: np.ndarray, hi: np.ndarray, n: int) -> np.ndarray:
    """For each index in ``[0, n)``: how many intervals ``[lo_i, hi_i)`` contain it."""
    diff = np.zeros(n + 1, np.int64)
    np.add.at(diff, lo, 1)
    np.add.at(diff, hi, -1)
    return np.cumsum(diff[:-1])


def edge_counts(e: Edge) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per presynaptic channel, row and column: the post channels, rows and columns whose receptive
    field contains it; their product is the number of post neurons a presynaptic neuron feeds."""
    d0, d1 = e.drive
    c = _axis_count(e.clo[d0:d1], e.chi[d0:d1], e.pre_shape[0])
    return c, _axis_count(e.rlo, e.rhi, e.pre_shape[1]), _axis_count(e.qlo, e.qhi, e.pre_shape[2])


def _types(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct columns of ``rows`` (edges × positions) and how many positions each stands for."""
    uniq, counts = np.unique(rows, axis=1, return_counts=True)
    return uniq, counts


def _pair_synapses(e: Edge) -> int:
    """Most structural synapses one (post, pre) neuron pair of ``e`` has: a bilinear resize counts 4
    taps per post neuron, which coincide on one presynaptic neuron at a corner."""
    return 4 if e.op == "resize" and e.fan_in == 4 else 1


def _outgoing(view: View, pre: str) -> list[Edge]:
    return view.outgoing[pre] if pre in view.outgoing else [e for e in view.edges if e.from_input and e.pre == pre]


def population_edge(e: Edge, limits: Limits) -> bool:
    """A convolution whose input axons can be population axons (one per presynaptic pixel)."""
    return (limits.population_axons and not limits.two_rows and e.op == "conv2d" and e.inputs is None
            and e.consumers is None)


def consumer_counts(view: View, pre: str, shape, edges: list[Edge] | None = None):
    """``(k, weight_r, weight_q, n)``: consumers per presynaptic neuron of ``pre``, compressed, and the
    most synapses one of its neurons can have (an upper bound).

    ``k`` has shape ``(C, R', Q')`` over the distinct row and column *types* (positions whose counts
    agree for every edge), each standing for ``weight_r`` rows and ``weight_q`` columns. Edges of
    explicit synapses (``sparse``) carry their counts per neuron (:attr:`mapping.view.Edge.consumers`);
    with one of them every position is its own type.
    """
    out = _outgoing(view, pre) if edges is None else edges
    if not out:
        return np.zeros((shape[0], 1, 1), np.int64), np.array([shape[1]]), np.array([shape[2]]), 0
    if any(e.consumers is not None for e in out):
        counts = [(e.consumers, None, None) if e.consumers is not None else edge_counts(e) for e in out]
        full = [k if r is None else k[:, None, None] * r[None, :, None] * q[None, None, :] for k, r, q in counts]
        return _combine(out, full, np.ones(shape[1], np.int64), np.ones(shape[2], np.int64))
    counts = [edge_counts(e) for e in out]
    types_r, w_r = _types(np.stack([r for _, r, _ in counts]))
    types_q, w_q = _types(np.stack([q for _, _, q in counts]))
    ks = [c[:, None, None] * types_r[i][None, :, None] * types_q[i][None, None, :] for i, (c, _, _) in enumerate(counts)]
    return _combine(out, ks, w_r, w_q)


def _combine(out, ks, w_r, w_q):
    """Consumers summed over post nodes (each the largest over its edges) and the synapse upper bound."""
    by_post: dict[str, np.ndarray] = {}
    synapses = 0
    for e, k in zip(out, ks):
        by_post[e.post] = k if e.post not in by_post else np.maximum(by_post[e.post], k)
        synapses = synapses + k * _pair_synapses(e)
    return sum(by_post.values()), w_r, w_q, int(np.max(synapses))


def _sum_over(values: np.ndarray, w_r: np.ndarray, w_q: np.ndarray) -> int:
    return int((values * w_r[None, :, None] * w_q[None, None, :]).sum())


def _ceil_div(k: np.ndarray, m: float) -> np.ndarray:
    return np.ones_like(k) * (k > 0) if not math.isfinite(m) else -(-k // int(m))


def _pixel_cores(view: View, name: str, shape, edges: list[Edge], m: float) -> tuple[int, int]:
    """Population axons: ``(Σ_edges Σ_pixels ⌈k/M⌉, max_edges Σ_pixels ⌈k/M⌉)`` with ``k`` a pixel's
    consumers through one edge (the most over its channels: one axon carries every channel)."""
    sums = []
    for e in edges:
        k, w_r, w_q, _ = consumer_counts(view, name, shape, [e])
        sums.append(_sum_over(_ceil_div(k.max(axis=0, keepdims=True), m), w_r, w_q))
    return sum(sums), max(sums, default=0)


def sender_totals(view: View, limits: Limits) -> dict:
    """Axons, fan-out copies and output axons no allocation avoids (see the module docstring)."""
    m, f = limits.max_neurons, limits.max_fanout_cores
    tot = {"axons": 0, "copies": 0, "out_axons": 0, "synapses_per_axon": 0}
    senders = [(view.input_name, view.input_shape, False)] + [(n.name, n.shape, n.read_out) for n in view.nodes]
    for name, shape, read_out in senders:
        k, w_r, w_q, n_syn = consumer_counts(view, name, shape)
        tot["synapses_per_axon"] = max(tot["synapses_per_axon"], n_syn)
        cores = _ceil_div(k, m)
        out = _outgoing(view, name)
        pop = [e for e in out if population_edge(e, limits)]
        if pop:  # population axons for the convolutions, one axon per neuron for the rest
            rest = [e for e in out if e not in pop]
            rest_sum = 0
            if rest:  # (its own compression of rows and columns into types)
                k_rest, wr_rest, wq_rest, _ = consumer_counts(view, name, shape, rest)
                rest_sum = _sum_over(_ceil_div(k_rest, m), wr_rest, wq_rest)
            pix_axons, pix_out = _pixel_cores(view, name, shape, pop, m)
            # An allocation may also give the convolutions one axon per neuron, shared with the rest.
            tot["axons"] += min(rest_sum + pix_axons, _sum_over(cores, w_r, w_q))
        else:
            tot["axons"] += _sum_over(cores, w_r, w_q)
        if name == view.input_name:
            continue
        d = cores + (1 if read_out else 0)
        if pop:  # a population axon may serve every channel of a pixel: per pixel, or per neuron for the rest
            tot["out_axons"] += max(rest_sum, pix_out) + (int(np.prod(shape)) if read_out else 0)
        else:
            tot["out_axons"] += _sum_over(d, w_r, w_q)
        if math.isfinite(f):
            tot["copies"] += _sum_over(np.maximum(0, -(-d // int(f)) - 1), w_r, w_q)
    return tot


@functools.lru_cache(maxsize=None)
def synapse_memory_envelope(formula: str | None, bits: int, n_max: int) -> tuple[tuple[float, float], ...]:
    """Lines ``(β, γ)`` with ``formula(n, bits) ≥ β·n + γ`` bytes for every 1 ≤ n ≤ n_max synapses per axon.

    Summed over all axons of all cores, any allocation then needs at least ``β·synapses + γ·axons``
    bytes for each line; the bound uses the best line for the network at hand.
    """
    if formula is None:
        return ((bits / 8.0, 0.0),)
    from hardware_models.formulas import get_formula

    fn = get_formula(formula)
    scale = 1 / 8 if formula.endswith("_bits") else 1.0
    n = np.arange(1, n_max + 1)
    vals = np.array([fn(int(k), bits) for k in n], np.float64) * scale
    probe = np.unique(np.geomspace(1, n_max, 24).astype(int)) - 1
    slopes = set((vals[probe] / n[probe]).tolist())
    slopes |= {float((vals[-1] - vals[i]) / (n_max - n[i])) for i in probe if n[i] < n_max}
    slopes.add(float((vals / n).min()))  # the line through 0 (γ = 0): useful where axons are not known
    # γ = min over n of f(n) - β·n makes each line valid by construction.
    return tuple((beta, float((vals - beta * n).min())) for beta in sorted(slopes))


#: Synapses per axon up to which the memory envelope is enumerated; beyond, only the constant line
#: ``f(n) ≥ min f`` is used (the formulas grow with n).
ENVELOPE_MAX_N = 1 << 16


def shared_minimum_bits(view: View, limits: Limits) -> tuple[int, int]:
    """``(bits, synapses)`` of the connections whose lists may be shared (``core.shared_synapse_lists``):
    each of their post channels needs its kernel — ``cin_factor`` × the most taps of one of its
    neurons — stored at least once, at the stored weight bits."""
    from mapping.synmem import is_shared

    bits = synapses = 0
    for e in view.edges:
        if is_shared(e, limits):
            taps = int(e.tapr.max(initial=0)) * int(e.tapq.max(initial=0))
            bits += (e.drive[1] - e.drive[0]) * e.cin_factor * taps * limits.stored_weight_bits
            synapses += e.synapses
    return bits, synapses


def _memory_total(limits: Limits, synapses: int, axons: int, per_axon: int, shared: tuple[int, int] = (0, 0)) -> int:
    """Synapse memory (bytes) every allocation needs; ``per_axon``: the most synapses one axon can carry;
    ``shared``: :func:`shared_minimum_bits` (those synapses are not costed per axon)."""
    shared_bits, shared_syn = shared
    synapses -= shared_syn
    if shared_syn:  # the per-axon part's axons are not counted apart: no credit for its headers
        axons = 0
    n_max = int(max(1, min(per_axon, limits.max_synapses)))
    lines = synapse_memory_envelope(limits.synapse_memory_formula, limits.stored_weight_bits, min(n_max, ENVELOPE_MAX_N))
    if n_max > ENVELOPE_MAX_N:
        lines = ((0.0, min(g + b for b, g in lines)),)
    best = max(b * synapses + g * (axons if g >= 0 else synapses) for b, g in lines)
    return int(math.floor(max(best, 0.0) + shared_bits / 8))


def _local_total(view: View, limits: Limits, copies: int) -> int:
    """Core memory besides synapses every allocation stores: per neuron (and copy) its state and input
    buffers; per node its parameter tables (at least once per channel) and state buffer."""
    per_neuron = (limits.neuron_state_bytes or 0.0) + limits.input_buffer_bytes
    total = (view.n_neurons + copies) * per_neuron
    for n in view.nodes:
        total += n.table_rows * n.shape[0] * 2 * limits.table_value_bytes + n.size * n.buffer_bits_per_neuron / 8
    return int(math.floor(total))


def lower_bound(view: View, limits: Limits) -> tuple[int, dict]:
    """``(cores, detail)``: ``max`` over resources of ⌈total / per-core limit⌉ (module docstring)."""
    if limits.architecture == "conv-layer":
        from mapping.convlayer import pooled_into

        n = len(view.nodes) - len(pooled_into(view, limits))
        return n, {"layers": {"total": n, "per_core": 1, "cores": n}}
    s = sender_totals(view, limits)
    synapses = sum(e.synapses for e in view.edges)
    syn_bytes = _memory_total(limits, synapses, s["axons"], s["synapses_per_axon"], shared_minimum_bits(view, limits))
    totals = {"neurons": view.n_neurons + s["copies"], "axons": s["axons"], "synapses": synapses,
              "syn_bytes": syn_bytes, "out_axons": s["out_axons"],
              "local_bytes": _local_total(view, limits, s["copies"]) + (syn_bytes if limits.synapses_in_local_memory else 0),
              "events": int(math.floor(sum(e.synapses * e.rate for e in view.edges)))}
    detail = {}
    for k, v in totals.items():
        lim = getattr(limits, LIMIT_ATTR[k])
        if lim < INF:
            detail[k] = {"total": int(v), "per_core": lim, "cores": math.ceil(v / lim)}
    cores = max([1] + [d["cores"] for d in detail.values()]) if view.nodes else 0
    return cores, detail
