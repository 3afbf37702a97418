"""Conv-layer cores (DYNAP-CNN / Speck): one whole layer per core, memory from the sinabs formulas.

A node is one layer; its incoming connections are convolutions computed by that core. Memory per
layer (``core.kernel_memory_formula`` / ``core.neuron_memory_formula``, see
:mod:`hardware_models.formulas`): kernel words summed over the incoming connections; a depthwise
or pooling connection costs a dense kernel (the core has no groups), an identity a 1×1 kernel, a
dense connection a kernel the size of its input. Bilinear/nearest resampling has no conv-layer
equivalent. Each layer sends to at most ``core.max_destinations_per_layer`` layers (a readout
counts as one destination: the host). Layers go to cores with different memory sizes by a greedy
matching (largest kernel first, into the smallest free core that holds it).
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


def layer_requirements(view: View, limits: Limits) -> tuple[list[dict], list[Violation]]:
    """Per node: kernel, neuron and bias words, destinations; and the violations found."""
    out, violations = [], []
    for node in view.nodes:
        c, h, w = node.shape
        where = (node.population, node.iteration)
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
        bias = c if limits.bias_memory_words is not None else 0
        dests = len({e.post for e in view.outgoing[node.name]}) + (1 if node.read_out else 0)
        if dests > limits.max_destinations:
            violations.append(Violation(*where, "destinations", dests, limits.max_destinations,
                                        "fewer consumers of this layer: each layer can send to at most "
                                        f"{int(limits.max_destinations)} layers (add an identity layer to fan out)"))
        out.append({"node": node.name, "population": node.population, "iteration": node.iteration,
                    "kernel_words": kernel, "neuron_words": neuron, "bias_words": bias,
                    "destinations": dests})
    return out, violations


def assign_layers(reqs: list[dict], limits: Limits) -> tuple[np.ndarray, np.ndarray, list[Violation]]:
    """Greedy matching of layers to cores; returns (chip, slot) per layer and violations."""
    kern = np.array(limits.kernel_memory_words, np.int64)
    neur = np.array(limits.neuron_memory_words, np.int64)
    bias = np.array(limits.bias_memory_words, np.int64) if limits.bias_memory_words is not None else None
    per_chip = len(kern)
    n_layers = len(reqs)
    max_chips = limits.max_chips
    n_chips = max(1, math.ceil(n_layers / per_chip))
    if max_chips < INF:
        n_chips = min(n_chips, int(max_chips))
    free = np.ones((n_chips, per_chip), bool)
    chip = np.full(n_layers, -1, np.int64)
    slot = np.full(n_layers, -1, np.int64)
    violations = []
    order = sorted(range(n_layers), key=lambda i: (-reqs[i]["kernel_words"], -reqs[i]["neuron_words"]))
    for i in order:
        r = reqs[i]
        fits = (kern >= r["kernel_words"]) & (neur >= r["neuron_words"])
        if bias is not None:
            fits &= bias >= r["bias_words"]
        if not fits.any():
            where = (r["population"], r["iteration"])
            if r["kernel_words"] > kern.max():
                violations.append(Violation(*where, "kernel_words", r["kernel_words"], int(kern.max()),
                                            "fewer input or output channels, or a smaller kernel "
                                            "(memory grows with 2^(⌈log2 k²⌉+⌈log2 c_out⌉))"))
            if r["neuron_words"] > neur.max():
                violations.append(Violation(*where, "neuron_words", r["neuron_words"], int(neur.max()),
                                            "fewer output channels or a smaller feature map "
                                            "(memory grows with c_out·2^(⌈log2 h⌉+⌈log2 w⌉))"))
            continue
        # Smallest core that holds it: least kernel memory, then least neuron memory.
        cand = [(kern[s] + neur[s], s) for s in np.flatnonzero(fits)]
        placed = False
        for _, s in sorted(cand):
            ch = np.flatnonzero(free[:, s])
            if ch.size:
                chip[i], slot[i] = ch[0], s
                free[ch[0], s] = False
                placed = True
                break
        if not placed:
            violations.append(Violation(r["population"], r["iteration"], "cores", 1, 0,
                                        "no free core of the needed size left: fewer layers (use the looped "
                                        "schedule, fewer iterations or a shallower model)"))
    used = int((chip >= 0).sum())
    if used < n_layers or (max_chips < INF and math.ceil(n_layers / per_chip) > max_chips):
        total = per_chip * (int(max_chips) if max_chips < INF else n_chips)
        violations.append(Violation("(network)", None, "layers", n_layers, total,
                                    f"at most {total} layers fit ({per_chip} cores × "
                                    f"{int(max_chips) if max_chips < INF else n_chips} chip(s)): use the looped "
                                    "schedule, fewer iterations, or fewer layers"))
    return chip, slot, violations
