"""Conv-layer cores (DYNAP-CNN / Speck): one whole layer per core, memory from the sinabs formulas.

A core computes convolution → IAF neurons → sum pooling (sinabs ``DynapcnnLayer``): a node is one
layer, its incoming connections the convolutions that core computes. An average pooling of a
layer's spikes (window = stride, one of ``core.pooling_sizes``) feeding a population that nothing
else drives is done **inside the producer's core**, on its way out to each destination: that
population is no layer of its own (:func:`pooled_into`; it needs no core, no neuron memory, and its
consumers are the producer's destinations). Its neurons are then the pooled spike stream (the sum
over the window); a simulation still runs them as IF neurons of threshold and gain from the IR.

Memory per layer (``core.kernel_memory_formula`` / ``core.neuron_memory_formula``, see
:mod:`hardware_models.formulas`): kernel words summed over the incoming connections; a depthwise
or pooling connection costs a dense kernel (the core has no groups), an identity a 1×1 kernel, a
dense connection a kernel the size of its input; bias words only for a layer with a non-zero bias
(sinabs counts none for a convolution without bias). Bilinear/nearest resampling has no
conv-layer equivalent. Each layer sends to at most ``core.max_destinations_per_layer`` layers (a
readout counts as one destination: the host; one destination per consumer layer and pooling).

Cores differ in memory, so layers go to cores by a **maximum matching** (layers → core slots of
every chip, an edge where the layer's memory fits; augmenting paths, as sinabs solves it by
max-flow): a layer is left unplaced only when no assignment places it. Unplaced layers are reported
and sit on no chip.
"""

from __future__ import annotations

import math

import numpy as np

from itnet_neuro.ir.ops import spec as op_spec
from mapping.chip import INF, Limits
from mapping.schedule import split_copy
from mapping.view import View
from mapping.violations import Violation


#: What to do instead, per op without a conv-layer form (:attr:`itnet_neuro.ir.ops.OpSpec.conv_layer`).
_NO_CONV_LAYER_HINT = {
    "resize": "conv-layer cores cannot resample: up-sample off chip (the readout) or replace the resize by a "
              "strided/transposed convolution in the model",
}


def _pool_factor(e, pre_shape, post_shape, sizes) -> int | None:
    """The pooling window of ``e`` when it is a square sum pooling a core can do, else None."""
    if e.op != "avgpool" or e.from_input or not sizes:
        return None
    f = e.kernel[0]
    if e.kernel != (f, f) or e.stride != (f, f) or f not in sizes or f == 1:
        return None
    if tuple(post_shape) != (pre_shape[0], pre_shape[1] // f, pre_shape[2] // f) or e.drive != (0, pre_shape[0]):
        return None
    return f


def pooled_into(view: View, limits: Limits) -> dict[str, tuple[str, int]]:
    """Nodes that are a layer's pooled output: node → (producer node, pooling window).

    A node qualifies when its only input is a square average pooling (window = stride, in
    ``core.pooling_sizes``) of another node's spikes, and it has no bias of its own.
    """
    out = {}
    for node in view.nodes:
        inc = view.incoming[node.name]
        if len(inc) != 1 or node.has_bias or node.kind != "population":
            continue
        f = _pool_factor(inc[0], inc[0].pre_shape, node.shape, limits.pooling_sizes)
        if f is not None and inc[0].pre in view.index and inc[0].pre not in out:
            out[node.name] = (inc[0].pre, f)
    return out


def _destinations(view: View, node, pooled: dict) -> set:
    """Distinct (layer, pooling) destinations of ``node``'s core ("host" for a readout)."""
    dests = set()
    if node.read_out:
        dests.add(("host", 1))
    for e in view.outgoing[node.name]:
        if e.post in pooled:
            q = view.node(e.post)
            f = pooled[e.post][1]
            dests |= {(x.post, f) for x in view.outgoing[q.name]} | ({("host", f)} if q.read_out else set())
        else:
            dests.add((e.post, 1))
    return dests


def has_block(view: View) -> bool:
    return any(n.iteration is not None or n.multiplexed for n in view.nodes)


def layer_requirements(view: View, limits: Limits) -> tuple[list[dict], list[Violation]]:
    """Per node: kernel, neuron and bias words, destinations, the layer it is pooled into (or None);
    and the violations found."""
    out, violations = [], []
    pooled = pooled_into(view, limits)
    for node in view.nodes:
        c, h, w = node.shape
        where = (node.population, node.iteration)
        if node.name in pooled:
            out.append({"node": node.name, "population": node.population, "iteration": node.iteration,
                        "kernel_words": 0, "neuron_words": 0, "bias_words": 0, "destinations": 0,
                        "pooled_into": pooled[node.name][0], "pooling": pooled[node.name][1]})
            continue
        kernel = 0
        for e in view.incoming[node.name]:
            conn = split_copy(e.name)[0]
            cp, hp, wp = e.pre_shape
            cout = e.drive[1] - e.drive[0]
            form = op_spec(e.op).conv_layer
            if form is None:
                hint = _NO_CONV_LAYER_HINT.get(e.op, f"conv-layer cores share one kernel over all positions; {e.op!r} "
                                                     "connections have none: express it as a convolution")
                violations.append(Violation(*where, "operation", 1, None, f"{conn}: {hint}",
                                            what=f"operation {e.op!r}"))
                continue
            if form == "whole-map":
                kh, kw = hp, wp
            elif form == "pointwise":
                kh, kw = 1, 1
            else:  # "kernel": grouped, depthwise and pooling windows are stored as a dense kernel with zeros
                kh, kw = e.kernel
            cin = cp
            for side in (kh, kw):
                if side > limits.max_kernel_size:
                    violations.append(Violation(*where, "kernel_size", side, limits.max_kernel_size,
                                                f"{conn}: use a kernel of at most {int(limits.max_kernel_size)} "
                                                "(a dense layer needs its input pooled that small first)"))
                    break
            if max(e.stride) > limits.max_stride:
                violations.append(Violation(*where, "stride", max(e.stride), limits.max_stride,
                                            f"{conn}: use stride <= {int(limits.max_stride)}"))
            for what, n in (("in_channels", cin), ("out_channels", cout)):
                if n > limits.max_channels:
                    violations.append(Violation(*where, what, n, limits.max_channels,
                                                f"{conn}: use at most {int(limits.max_channels)} channels"))
            kernel += limits.kernel_words(cin, cout, kh, kw)
        neuron = limits.neuron_words(c, h, w)
        bias = c if limits.bias_memory_words is not None and node.has_bias else 0
        dests = len(_destinations(view, node, pooled))
        if dests > limits.max_destinations:
            violations.append(Violation(*where, "destinations", dests, limits.max_destinations,
                                        "fewer consumers of this layer: each layer can send to at most "
                                        f"{int(limits.max_destinations)} layers (add an identity layer to fan out)"))
        out.append({"node": node.name, "population": node.population, "iteration": node.iteration,
                    "kernel_words": kernel, "neuron_words": neuron, "bias_words": bias,
                    "destinations": dests, "pooled_into": None, "pooling": 1})
    return out, violations


def _fits(r: dict, limits: Limits) -> np.ndarray:
    """Core slots (of one chip) whose kernel, neuron and bias memories hold layer ``r``."""
    ok = (np.array(limits.kernel_memory_words) >= r["kernel_words"]) & \
        (np.array(limits.neuron_memory_words) >= r["neuron_words"])
    if limits.bias_memory_words is not None:
        ok &= np.array(limits.bias_memory_words) >= r["bias_words"]
    return ok


def _match(options: list[list[int]], capacity: list[int]) -> list[int]:
    """A maximum assignment of items to types (``options[i]``: the types item i may take; type t
    holds ``capacity[t]`` items): augmenting paths (Kuhn's method with capacities). -1: unassigned."""
    assigned = [-1] * len(options)
    members: list[list[int]] = [[] for _ in capacity]

    def augment(i: int, seen: set) -> bool:
        for t in options[i]:
            if t in seen:
                continue
            seen.add(t)
            if len(members[t]) < capacity[t]:
                members[t].append(i)
                assigned[i] = t
                return True
            for j in list(members[t]):
                if augment(j, seen):
                    members[t].remove(j)
                    members[t].append(i)
                    assigned[i] = t
                    return True
        return False

    for i in range(len(options)):
        augment(i, set())
    return assigned


def _no_fit(r: dict, limits: Limits) -> list[Violation]:
    """Why a layer fits no core at all (its memory against the largest core)."""
    out, where = [], (r["population"], r["iteration"])
    kern, neur = np.array(limits.kernel_memory_words), np.array(limits.neuron_memory_words)
    if r["kernel_words"] > kern.max():
        out.append(Violation(*where, "kernel_words", r["kernel_words"], int(kern.max()),
                             "fewer input or output channels, or a smaller kernel "
                             "(memory grows with 2^(⌈log2 k²⌉+⌈log2 c_out⌉))"))
    if r["neuron_words"] > neur.max():
        out.append(Violation(*where, "neuron_words", r["neuron_words"], int(neur.max()),
                             "fewer output channels or a smaller feature map "
                             "(memory grows with c_out·2^(⌈log2 h⌉+⌈log2 w⌉))"))
    if not out:
        out.append(Violation(*where, "kernel_words", r["kernel_words"], int(kern.max()),
                             "no single core holds both its kernel and its neurons: fewer channels"))
    return out


def assign_layers(reqs: list[dict], limits: Limits, block: bool = False) -> tuple[np.ndarray, np.ndarray, list[Violation]]:
    """Layers to core slots by a maximum matching: ``(chip, slot)`` per layer (-1 for a pooled node,
    which shares its producer's core, and for an unplaced layer) and the violations.

    With ``chip.max_chips`` unbounded, chips are added until every placeable layer has a core.
    """
    per_chip = len(limits.kernel_memory_words)
    layers = [i for i, r in enumerate(reqs) if r["pooled_into"] is None]
    # Slots are grouped into types of equal memory: the matching runs over types, then slots are dealt.
    kinds = sorted({(k, n, b) for k, n, b in zip(limits.kernel_memory_words, limits.neuron_memory_words,
                                                  limits.bias_memory_words or [0] * per_chip)})
    slot_kind = [kinds.index((k, n, b)) for k, n, b in zip(limits.kernel_memory_words, limits.neuron_memory_words,
                                                            limits.bias_memory_words or [0] * per_chip)]
    per_kind = [slot_kind.count(t) for t in range(len(kinds))]
    options = [sorted({slot_kind[s] for s in np.flatnonzero(_fits(reqs[i], limits))},
                      key=lambda t: kinds[t][0] + kinds[t][1]) for i in layers]
    violations = [v for i, o in zip(layers, options) if not o for v in _no_fit(reqs[i], limits)]
    placeable = sum(1 for o in options if o)
    n_chips = max(1, math.ceil(placeable / per_chip))
    if limits.max_chips < INF:
        n_chips = min(n_chips, int(limits.max_chips))
    while True:
        kind_of = _match(options, [c * n_chips for c in per_kind])
        if limits.max_chips < INF or all(k >= 0 for k, o in zip(kind_of, options) if o):
            break
        n_chips += 1
    chip = np.full(len(reqs), -1, np.int64)
    slot = np.full(len(reqs), -1, np.int64)
    free = {t: [(c, s) for c in range(n_chips) for s in range(per_chip) if slot_kind[s] == t] for t in range(len(kinds))}
    for i, t in zip(layers, kind_of):  # layers in network order take the first free slot of their type
        if t >= 0:
            chip[i], slot[i] = free[t].pop(0)
    unplaced = [i for i, t, o in zip(layers, kind_of, options) if t < 0 and o]
    if unplaced:
        total = per_chip * n_chips
        fix = "use the looped schedule, fewer iterations, or fewer layers" if block else "fewer layers"
        violations.append(Violation("(network)", None, "layers", len(layers), total,
                                    f"{len(unplaced)} layer(s) without a core: at most {total} layers fit "
                                    f"({per_chip} cores × {n_chips} chip(s)), and each needs a core whose memory "
                                    f"holds it; {fix}"))
    return chip, slot, violations
