"""Schedules of the iterative block: ``looped``, ``unrolled`` and ``auto`` (DESIGN.md §6).

``unrolled``
    :meth:`itnet_neuro.ir.Network.unroll`: one copy of every block population per iteration
    (``pop@n``, parameter row n-1), pipelined. Output n arrives after its depth in ticks.

``looped``
    One copy of the block's populations, time-multiplexed over N *phases* of ``T = phase_ticks``
    ticks each; iteration n runs in phase n (global ticks ``[(n-1)·T, n·T)``) with row n-1 of the
    per-iteration parameter tables, which every block core stores (N rows × its channels × threshold
    and bias, costed in its memory). Needs ``chip.neuron.parameters_switchable_at_runtime``.

State-buffer semantics of the looped schedule (what a simulator must implement)
------------------------------------------------------------------------------
Phase n covers the absolute ticks ``(n-1)·T + 1 … n·T``; write ``τ = 1 … T`` for the local tick
within a phase. The looped schedule is the unrolled network with iteration n shifted by
``(n-1)·T`` ticks and cut to the first T ticks of each iteration (``itnet_neuro.sim`` implements
exactly this):

1. **Phase start.** At the start of phase n every block neuron's membrane is set to
   ``v_init · θ_n`` and its threshold/bias to row n-1 (as each unrolled copy starts from rest).
   Relay neurons of the buffer (below) are *not* reset.
2. **Inside the block** (a non-feedback connection between block members, delay d): iteration n at
   local tick τ receives the spikes its ``pre`` emitted in the *same* phase at τ - d — exactly as
   copy n receives copy n's spikes in the unrolled network.
3. **State buffer** (a ``feedback`` connection from state population S, delay d): iteration n at
   local tick τ receives the spikes S emitted *in phase n-1* at local tick ``τ - d`` — in absolute
   time, the spikes of tick ``t - T - d``. The buffer is therefore a delay line of ``T + d`` ticks on
   that connection (T for the phase shift plus the connection's own delay); it replays phase n-1's
   state spikes during phase n one-to-one, neither dropped nor merged. In iteration 1 feedback
   connections are absent (the unrolled network has no copy 0). Spikes S emits in the last d ticks
   of a phase would arrive after the next phase ends and are dropped, as copy n runs T ticks here.
4. **Into the block from outside** (a connection from a non-member): non-members run during
   phase 1; a connection from them into iteration n replays their phase-1 spikes at the same local
   ticks. The ItNet IR has none for n ≥ 2 (its data block feeds iteration 1 only); where a network
   does, the allocator notes it (that replay buffer is not costed).
5. **Readouts** of iteration n decode the block populations' spikes of phase n.

With 1-4, for every block population P and iteration n: looped spikes of P at local tick τ of
phase n = unrolled spikes of ``P@n`` at tick τ, for ``1 ≤ τ ≤ T`` — the same spikes per
iteration, shifted by ``(n-1)·T`` ticks.

How the delay line is built is the chip's: where ``chip.neuron.max_synaptic_delay_ticks ≥ T + d``
(or unbounded) it is the feedback connection's synaptic delay (no cost); where
``chip.neuron.extended_delay_ticks ≥ T + d`` (SpiNNaker) one stage of **delay-extension** neurons
``S~delayext``, one per state neuron (sPyNNaker's delay-extension cores, sliced like their source),
holds the spikes back ``T + d - D`` ticks and the feedback connection delivers them ``D`` later; on a memory-based core
(``core.neuron_state_bytes_per_neuron`` given) it is a ring buffer of T bits per state neuron in
core memory; otherwise a chain of ``K = ⌈(T + d) / D⌉ - 1`` relay neurons per state neuron
(D = the longest delay; each relay is an IF neuron with threshold 1 driven by weight 1, one-to-one,
delay D; the last hop carries the remainder ``T + d - K·D``), allocated and counted like any
population. ``alloc.json`` records the choice under ``state_buffer``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mapping.view import Node, View, edge_from_connection, identity_edge

SCHEDULES = ("looped", "unrolled", "auto")

#: Ticks per phase of the looped schedule unless given: long enough for rate codes to settle in
#: typical converted networks (Rueckauer et al. 2017 report most of the accuracy within ~100 ticks).
DEFAULT_PHASE_TICKS = 100


def _read_out(net) -> set[str]:
    return {t.population for r in net.readouts for t in r.terms}


def _has_bias(p) -> bool:
    return bool(np.any(p.bias != 0) or (p.bias_map is not None and np.any(p.bias_map != 0)))


def split_copy(name: str) -> tuple[str, int | None]:
    """``("conv", 3)`` for the name ``conv@3`` of an unrolled copy (node or connection), else ``(name, None)``."""
    if "@" in name:
        base, it = name.rsplit("@", 1)
        if it.isdigit():
            return base, int(it)
    return name, None


def unrolled_view(net) -> View:
    """The view of the unrolled schedule: every block population copied once per iteration."""
    flat = net.unroll()
    read = _read_out(flat)
    # A network already unrolled (fan-in splitting works on the copies) keeps its ``pop@n`` names.
    copies = net.block is not None or "unrolled_from_block" in net.metadata
    nodes = []
    for p in flat.populations:
        base, it = split_copy(p.name) if copies else (p.name, None)
        nodes.append(Node(name=p.name, population=base, iteration=it, shape=p.shape, table_rows=1,
                          multiplexed=False, read_out=p.name in read, has_bias=_has_bias(p)))
    edges = []
    templates: dict = {}
    shapes = {p.name: p.shape for p in flat.populations}
    shapes[flat.input.name] = flat.input.shape
    for c in flat.connections:
        pre_shape, post_shape = shapes[c.pre], shapes[c.post]
        base = split_copy(c.name)[0] if copies else c.name
        key = (base, pre_shape, post_shape, c.pre == flat.input.name)
        if key not in templates:  # the copies of one connection share geometry and weights
            templates[key] = edge_from_connection(c, pre_shape, post_shape, from_input=c.pre == flat.input.name)
        edges.append(dataclasses.replace(templates[key], name=c.name, pre=c.pre, post=c.post, delay=c.delay,
                                         feedback=False))
    return View("unrolled", nodes, edges, flat.input.name, flat.input.shape)


def looped_view(net, limits, phase_ticks: int = DEFAULT_PHASE_TICKS) -> View:
    """The view of the looped schedule: block populations once, plus the state buffer's relays.

    See the module docstring for the state-buffer semantics and its three implementations.
    """
    read = _read_out(net)
    block = net.block
    members = set(block.populations) if block else set()
    n_it = block.iterations if block else 1
    nodes, edges, notes = [], [], []
    for p in net.populations:
        nodes.append(Node(name=p.name, population=p.name, iteration=None, shape=p.shape,
                          table_rows=n_it if p.name in members else 1, multiplexed=p.name in members,
                          read_out=p.name in read, has_bias=_has_bias(p)))
    feedback = [c for c in net.connections if c.feedback]
    buffer = {"phase_ticks": int(phase_ticks), "mechanism": "none", "populations": [], "delay_ticks": 0,
              "max_synaptic_delay_ticks": None if math.isinf(limits.max_delay) else int(limits.max_delay),
              "relay_stages": 0, "relay_neurons": 0, "memory_bytes": 0}
    need_by_pre: dict[str, int] = {}
    for c in feedback:
        need_by_pre[c.pre] = max(need_by_pre.get(c.pre, 0), int(phase_ticks) + c.delay)
    if feedback:
        buffer["populations"] = sorted(need_by_pre)
        buffer["delay_ticks"] = max(need_by_pre.values())
        if buffer["delay_ticks"] <= limits.max_delay:
            buffer["mechanism"] = "synaptic-delay"
        elif limits.extended_delay is not None and buffer["delay_ticks"] <= limits.extended_delay:
            buffer["mechanism"] = "delay-extension"
        elif limits.neuron_state_bytes is not None:
            buffer["mechanism"] = "memory"
        else:
            buffer["mechanism"] = "relay-neurons"
    for c in net.connections:
        if block and c.pre not in members and c.post in members and c.iterations is not None \
                and any(n >= 2 for n in c.iterations):
            notes.append(f"connection {c.name!r} enters the looped block in iterations >= 2 from outside: it "
                         "replays the outside populations' phase-1 spikes (buffer not costed), see mapping.schedule")
        elif block and c.pre not in members and c.post in members and c.iterations is None and n_it > 1:
            notes.append(f"connection {c.name!r} enters the looped block in every iteration from outside: it "
                         "replays the outside populations' phase-1 spikes (buffer not costed), see mapping.schedule")
    relay_last: dict[str, tuple[str, int]] = {}
    if buffer["mechanism"] in ("relay-neurons", "delay-extension"):
        d_max = int(limits.max_delay)
        order = [n.name for n in nodes]
        for s_name, need in need_by_pre.items():
            # Delay extension: one stage of cores that hold the spikes back (sPyNNaker's delay-extension
            # vertex, sliced like its source); relay neurons: a chain of stages of the native delay each.
            stages = 1 if buffer["mechanism"] == "delay-extension" else math.ceil(need / d_max) - 1
            s_shape = net.shape_of(s_name)
            prev = s_name
            new_nodes = []
            hop = need - d_max if buffer["mechanism"] == "delay-extension" else d_max
            for k in range(1, stages + 1):
                name = f"{s_name}~delayext" if buffer["mechanism"] == "delay-extension" else f"{s_name}~relay{k}"
                new_nodes.append(Node(name=name, population=s_name, iteration=None, shape=s_shape,
                                      kind="relay", has_bias=False))
                edges.append(identity_edge(f"{prev}->{name}", prev, name, s_shape, hop))
                prev = name
            pos = order.index(s_name) + 1
            nodes[pos:pos] = new_nodes
            order[pos:pos] = [n.name for n in new_nodes]
            relay_last[s_name] = (prev, need - stages * hop)
            buffer["relay_stages"] = max(buffer["relay_stages"], stages)
            buffer["relay_neurons"] += stages * int(math.prod(s_shape))
    for c in net.connections:
        e = edge_from_connection(c, net.shape_of(c.pre), net.shape_of(c.post),
                                 from_input=c.pre == net.input.name)
        if c.feedback:
            if buffer["mechanism"] in ("relay-neurons", "delay-extension"):
                e.pre, e.delay = relay_last[c.pre][0], max(1, relay_last[c.pre][1])
            elif buffer["mechanism"] == "synaptic-delay":
                e.delay = int(phase_ticks) + c.delay
        edges.append(e)
    if buffer["mechanism"] == "memory":
        for node in nodes:
            if node.name in need_by_pre:
                node.buffer_bits_per_neuron = int(phase_ticks)
                buffer["memory_bytes"] += (node.size * int(phase_ticks) + 7) // 8
    view = View("looped", nodes, edges, net.input.name, net.input.shape, notes=notes, state_buffer=buffer)
    return view


def build_view(net, schedule: str, limits, phase_ticks: int = DEFAULT_PHASE_TICKS) -> View:
    """The :class:`~mapping.view.View` of ``net`` under ``schedule`` (``"looped"`` or ``"unrolled"``)."""
    if schedule == "unrolled":
        return unrolled_view(net)
    if schedule == "looped":
        return looped_view(net, limits, phase_ticks)
    from itnet_neuro.errors import ValidationError

    raise ValidationError(f"schedule {schedule!r}: build_view takes 'looped' or 'unrolled' ('auto' is decided by "
                          "mapping.allocate.plan)")
