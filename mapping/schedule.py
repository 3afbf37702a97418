"""Schedules of the iterative block: ``looped``, ``unrolled`` and ``auto`` (DESIGN.md §6).

``unrolled``
    :meth:`itnet_neuro.ir.Network.unroll`: one copy of every block population per iteration
    (``pop@n``, parameter row n-1), pipelined. Output n arrives after its depth in ticks.

``looped``
    One copy of the block's populations, time-multiplexed over N *phases* of ``T = phase_ticks``
    ticks each; iteration n runs in phase n (global ticks ``[(n-1)·T, n·T)``) with row n-1 of the
    per-iteration parameter tables, which every block core stores (N rows × its channels × threshold
    and bias, costed in its memory). Needs ``chip.neuron.parameters_switchable_at_runtime``.

State buffer: what carries iteration n-1's state into phase n
---------------------------------------------------------------
Phase n covers the absolute ticks ``(n-1)·T + 1 … n·T``; write ``τ = 1 … T`` for the local tick
within a phase. Common to both buffers:

1. **Phase start.** At the start of phase n every block neuron's membrane is set to
   ``v_init · θ_n`` and its threshold/bias to row n-1 (as each unrolled copy starts from rest).
2. **Inside the block** (a non-feedback connection between block members, delay d): iteration n at
   local tick τ receives the spikes its ``pre`` emitted in the *same* phase at τ - d — exactly as
   copy n receives copy n's spikes in the unrolled network.
3. **Into the block from outside** (a connection from a non-member): non-members run during
   phase 1; a connection from them into iteration n replays their phase-1 spikes at the same local
   ticks. The ItNet IR has none for n ≥ 2 (its data block feeds iteration 1 only); where a network
   does, the allocator notes it (that replay buffer is not costed).
4. **Readouts** of iteration n decode the block populations' spikes of phase n.
5. In iteration 1 feedback connections are absent (the unrolled network has no copy 0).

What a ``feedback`` connection from state population S (delay d) delivers to iteration n ≥ 2 is the
state buffer's, one of :data:`STATE_BUFFERS`:

``"regenerate"`` (default)
    The buffer measures the rate of every state neuron over the final window of phase n-1, the
    last ``W = window_ticks`` local ticks: ``m = count(T) - count(T - W)`` spikes, and in phase n
    re-emits it as a *regular* spike train from the phase's first tick: at local tick ``k = 1 … T``
    it emits ``floor((2km + W) / 2W) - floor((2(k-1)m + W) / 2W)`` spikes (0 or 1; the count of
    ticks ``1 … k`` is ``floor(k·m/W + 1/2)``, the input's ``regular`` encoding), and the connection
    delivers the spikes of local tick k at ``k + d``. The block's input is thus a steady rate code
    of iteration n-1's *settled* output from tick ``1 + d`` on, so a phase needs only one
    iteration's latency (:func:`iteration_depth`) plus the time its own rates need to settle —
    not the latency of all n iterations. How the chip realizes it is its
    ``state_buffer.regenerator`` (chip TOML, with sources): ``"generator-neurons"`` adds
    ``neurons_per_state_neuron`` neurons per state neuron (with 2: a counter node ``S~count`` fed
    one-to-one by S and an emitter node ``S~emit`` that drives the feedback connections; with 1: one
    node ``S~regen`` doing both), allocated and counted like any population; ``"core-memory"`` stores
    ``bytes_per_state_neuron`` per state neuron with S's cores. A chip without a regenerator replays.
    The default window is :func:`default_window`, the later half of what follows one iteration's depth.

``"replay"`` (exact)
    Iteration n at local tick τ receives the spikes S emitted *in phase n-1* at local tick
    ``τ - d`` — in absolute time, the spikes of tick ``t - T - d``. The buffer is a delay line of
    ``T + d`` ticks on that connection; it replays phase n-1's state spikes during phase n
    one-to-one. Spikes S emits in the last d ticks of a phase are dropped. Hence for every block
    population P and iteration n: looped spikes of P at local tick τ of phase n = unrolled spikes
    of ``P@n`` at tick τ — the same spikes per iteration, shifted by ``(n-1)·T`` ticks, start-up
    transient included: phase n must cover the latency (depth) of all n iterations. The delay line
    is the chip's: where ``chip.neuron.max_synaptic_delay_ticks ≥ T + d`` (or unbounded) it is the
    feedback connection's synaptic delay (no cost); where ``chip.neuron.extended_delay_ticks ≥ T + d``
    (SpiNNaker) one stage of **delay-extension** neurons ``S~delayext``, one per state neuron
    (sPyNNaker's delay-extension cores, sliced like their source), holds the spikes back ``T + d - D``
    ticks and the feedback connection delivers them ``D`` later; on a memory-based core
    (``core.neuron_state_bytes_per_neuron`` given) a ring buffer of T bits per state neuron in core
    memory; otherwise a chain of ``K = ⌈(T + d) / D⌉ - 1`` relay neurons per state neuron (D = the
    longest delay; each relay is an IF neuron with threshold 1 driven by weight 1, one-to-one, delay
    D; the last hop carries the remainder ``T + d - K·D``), allocated and counted like any population.

``alloc.json`` records the choice and its cost under ``looped.state_buffer`` (``mode``, ``mechanism``,
``window_ticks`` …).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from mapping.view import Edge, Node, View, edge_from_connection, identity_edge

SCHEDULES = ("looped", "unrolled", "auto")

#: What carries the state between phases of the looped schedule (module docstring).
STATE_BUFFERS = ("regenerate", "replay")
DEFAULT_STATE_BUFFER = "regenerate"

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


def feedback_names(net) -> set[str]:
    """Names of ``net``'s feedback connections (their unrolled copies are ``name@n``)."""
    return {c.name for c in net.connections if c.feedback}


def arrival_ticks(net, *, longest: bool = True, state_buffer: str | None = None) -> dict[str, int | None]:
    """Per population of ``net.unroll()``: the tick at which input first reaches it.

    ``longest=True`` gives the *depth* (the longest delay path: every input path has arrived, the
    paper's latency, §2.3), ``False`` the shortest path (the first input-driven spike can occur).
    The input emits at tick 0 and a connection adds its delay. Under ``state_buffer="regenerate"``
    a feedback connection starts at the buffer's first emission, local tick 1 of the phase, not at
    its presynaptic population, so the ticks of copies ``P@n`` (n ≥ 2) are local to phase n; for
    ``None``/``"replay"`` they are the unrolled network's (looped replay: local to phase n as well,
    since it is the unrolled network shifted). ``None`` where no path from the input leads.
    """
    flat = net.unroll()
    fb = feedback_names(net) if state_buffer == "regenerate" else set()
    pick = max if longest else min
    ticks: dict[str, int | None] = {flat.input.name: 0}
    for p in flat.populations:
        cands = []
        for c in flat.incoming(p.name):
            base, it = split_copy(c.name)
            start = 1 if it is not None and base in fb else ticks.get(c.pre)
            if start is not None:
                cands.append(start + c.delay)
        ticks[p.name] = pick(cands) if cands else None
    return ticks


def iteration_depth(net) -> int:
    """Ticks one iteration needs from the start of its phase until its state and readout populations
    have input on every path, under the regenerating buffer: the largest phase-local depth
    (:func:`arrival_ticks`) of those populations over all iterations. 0 without a block."""
    if net.block is None:
        return 0
    ticks = arrival_ticks(net, state_buffer="regenerate")
    watch = set(net.block.state) | _read_out(net) or set(net.block.populations)
    vals = [t for name, t in ticks.items() if t is not None and split_copy(name)[0] in watch
            and split_copy(name)[1] is not None]
    return max(vals, default=0)


def default_window(phase_ticks: int, depth: int) -> int:
    """Ticks of the final window over which the regenerating buffer measures the state's rate: the
    later half of the phase after one iteration's depth, ``(T - depth) // 2``, at least 1 and at most T.

    Measured (``benchmarks/results/anytime_schedules.json``, shipped model on Loihi, 6 × 64 ticks):
    windows of ``T - D``, ``(T - D)/2`` and ``(T - D)/4`` ticks; the half forgets the iteration's
    start-up transient and still averages enough ticks.
    """
    return int(min(phase_ticks, max(1, (int(phase_ticks) - int(depth)) // 2)))


def _check_buffer(state_buffer: str) -> None:
    if state_buffer not in STATE_BUFFERS:
        from itnet_neuro.errors import ValidationError

        raise ValidationError(f"state buffer {state_buffer!r}: must be one of {', '.join(STATE_BUFFERS)}")


def _outside_notes(net) -> list[str]:
    block = net.block
    members = set(block.populations) if block else set()
    notes = []
    for c in net.connections:
        if not block or c.pre in members or c.post not in members:
            continue
        if c.iterations is not None and any(n >= 2 for n in c.iterations):
            notes.append(f"connection {c.name!r} enters the looped block in iterations >= 2 from outside: it "
                         "replays the outside populations' phase-1 spikes (buffer not costed), see mapping.schedule")
        elif c.iterations is None and block.iterations > 1:
            notes.append(f"connection {c.name!r} enters the looped block in every iteration from outside: it "
                         "replays the outside populations' phase-1 spikes (buffer not costed), see mapping.schedule")
    return notes


def _latency_notes(net, phase_ticks: int, mode: str) -> list[str]:
    """Outputs whose phase ends before input can reach them (phase-local depth >= T)."""
    ticks = arrival_ticks(net, state_buffer=mode)
    late = []
    for r in net.unroll().readouts:
        d = max((ticks[t.population] or 0) for t in r.terms)
        if d >= phase_ticks:
            late.append(f"{r.name} (depth {d})")
    if not late:
        return []
    return [f"phase_ticks {phase_ticks} is not longer than the phase-local depth of " + ", ".join(late)
            + f" under the {mode} state buffer: these outputs get no input-driven spike; use a longer phase"
            + (" or --state-buffer regenerate" if mode == "replay" else "")]


def looped_view(net, limits, phase_ticks: int = DEFAULT_PHASE_TICKS, state_buffer: str = DEFAULT_STATE_BUFFER,
                window_ticks: int | None = None) -> View:
    """The view of the looped schedule: block populations once, plus the state buffer's neurons.

    See the module docstring for both state buffers and their realizations.
    """
    _check_buffer(state_buffer)
    read = _read_out(net)
    members = set(net.block.populations) if net.block else set()
    n_it = net.block.iterations if net.block else 1
    nodes = [Node(name=p.name, population=p.name, iteration=None, shape=p.shape,
                  table_rows=n_it if p.name in members else 1, multiplexed=p.name in members,
                  read_out=p.name in read, has_bias=_has_bias(p)) for p in net.populations]
    edges = {c.name: edge_from_connection(c, net.shape_of(c.pre), net.shape_of(c.post),
                                          from_input=c.pre == net.input.name) for c in net.connections}
    notes = _outside_notes(net)
    mode = state_buffer
    if mode == "regenerate" and limits.regenerator is None and feedback_names(net):
        notes.append(f"{limits.name} has no state-buffer regenerator (state_buffer.regenerator = none): "
                     "the looped state buffer replays")
        mode = "replay"
    extra: list[Edge] = []
    if mode == "regenerate":
        buffer = _regenerate(net, limits, nodes, edges, extra, int(phase_ticks), window_ticks)
    else:
        buffer = _replay(net, limits, nodes, edges, extra, int(phase_ticks))
    notes += _latency_notes(net, int(phase_ticks), mode) if net.block else []
    return View("looped", nodes, list(edges.values()) + extra, net.input.name, net.input.shape, notes=notes,
                state_buffer=buffer)


def _state_needs(net, phase_ticks: int) -> dict[str, int]:
    """State population → delay-line length ``T + d`` its feedback connections need (replay)."""
    need: dict[str, int] = {}
    for c in net.connections:
        if c.feedback:
            need[c.pre] = max(need.get(c.pre, 0), phase_ticks + c.delay)
    return need


def _base_buffer(mode: str, phase_ticks: int, limits, populations) -> dict:
    return {"mode": mode, "phase_ticks": phase_ticks, "mechanism": "none", "populations": sorted(populations),
            "delay_ticks": 0, "window_ticks": None,
            "max_synaptic_delay_ticks": None if math.isinf(limits.max_delay) else int(limits.max_delay),
            "relay_stages": 0, "relay_neurons": 0, "regen_neurons": 0, "memory_bytes": 0}


def _insert_after(nodes: list, after: str, new: list) -> None:
    pos = [n.name for n in nodes].index(after) + 1
    nodes[pos:pos] = new


def _regenerate(net, limits, nodes, edges, extra, phase_ticks: int, window_ticks) -> dict:
    """Cost the regenerating buffer (module docstring) into ``nodes``/``edges``; its summary."""
    states = sorted(_state_needs(net, phase_ticks))
    buf = _base_buffer("regenerate", phase_ticks, limits, states)
    if not states:
        return buf
    w = default_window(phase_ticks, iteration_depth(net)) if window_ticks is None else int(window_ticks)
    if not 1 <= w <= phase_ticks:
        from itnet_neuro.errors import ValidationError

        raise ValidationError(f"state-buffer window {w} ticks: must be between 1 and phase_ticks {phase_ticks}")
    buf.update(window_ticks=w, mechanism=limits.regenerator,
               delay_ticks=max(c.delay for c in net.connections if c.feedback))
    by_name = {n.name: n for n in nodes}
    for s_name in states:
        shape = net.shape_of(s_name)
        if limits.regenerator == "core-memory":
            by_name[s_name].buffer_bits_per_neuron = int(math.ceil(8 * limits.regen_bytes))
            buf["memory_bytes"] += int(math.ceil(by_name[s_name].size * limits.regen_bytes))
            continue
        k = int(limits.regen_neurons)
        names = [f"{s_name}~regen"] if k == 1 else [f"{s_name}~count", f"{s_name}~emit"]
        _insert_after(nodes, s_name, [Node(name=n, population=s_name, iteration=None, shape=shape, kind="regen",
                                           has_bias=False) for n in names])
        extra.append(identity_edge(f"{s_name}->{names[0]}", s_name, names[0], shape, 1))
        for c in net.connections:
            if c.feedback and c.pre == s_name:
                edges[c.name].pre = names[-1]
        buf["regen_neurons"] += k * int(math.prod(shape))
    return buf


def _replay(net, limits, nodes, edges, extra, phase_ticks: int) -> dict:
    """Cost the exact-replay delay line (module docstring) into ``nodes``/``edges``; its summary."""
    need = _state_needs(net, phase_ticks)
    buf = _base_buffer("replay", phase_ticks, limits, need)
    if not need:
        return buf
    buf["delay_ticks"] = max(need.values())
    if buf["delay_ticks"] <= limits.max_delay:
        buf["mechanism"] = "synaptic-delay"
        for c in net.connections:
            if c.feedback:
                edges[c.name].delay = phase_ticks + c.delay
    elif limits.extended_delay is not None and buf["delay_ticks"] <= limits.extended_delay:
        buf["mechanism"] = "delay-extension"
        _relays(net, limits, nodes, edges, extra, need, buf, extension=True)
    elif limits.neuron_state_bytes is not None:
        buf["mechanism"] = "memory"
        for node in nodes:
            if node.name in need:
                node.buffer_bits_per_neuron = phase_ticks
                buf["memory_bytes"] += (node.size * phase_ticks + 7) // 8
    else:
        buf["mechanism"] = "relay-neurons"
        _relays(net, limits, nodes, edges, extra, need, buf)
    return buf


def _relays(net, limits, nodes, edges, extra, need: dict, buf: dict, extension: bool = False) -> None:
    """Relay chains of the replay buffer: stages of the native delay D each, or (``extension``) one
    delay-extension stage holding the spikes back ``T + d - D`` ticks (sPyNNaker's delay-extension
    vertex, sliced like its source)."""
    d_max = int(limits.max_delay)
    for s_name, total in need.items():
        stages = 1 if extension else math.ceil(total / d_max) - 1
        hop = total - d_max if extension else d_max
        shape = net.shape_of(s_name)
        prev, new = s_name, []
        for k in range(1, stages + 1):
            name = f"{s_name}~delayext" if extension else f"{s_name}~relay{k}"
            new.append(Node(name=name, population=s_name, iteration=None, shape=shape, kind="relay",
                            has_bias=False))
            extra.append(identity_edge(f"{prev}->{name}", prev, name, shape, hop))
            prev = name
        _insert_after(nodes, s_name, new)
        for c in net.connections:
            if c.feedback and c.pre == s_name:
                edges[c.name].pre, edges[c.name].delay = prev, max(1, total - stages * hop)
        buf["relay_stages"] = max(buf["relay_stages"], stages)
        buf["relay_neurons"] += stages * int(math.prod(shape))


def build_view(net, schedule: str, limits, phase_ticks: int = DEFAULT_PHASE_TICKS,
               state_buffer: str = DEFAULT_STATE_BUFFER, window_ticks: int | None = None) -> View:
    """The :class:`~mapping.view.View` of ``net`` under ``schedule`` (``"looped"`` or ``"unrolled"``)."""
    if schedule == "unrolled":
        return unrolled_view(net)
    if schedule == "looped":
        return looped_view(net, limits, phase_ticks, state_buffer, window_ticks)
    from itnet_neuro.errors import ValidationError

    raise ValidationError(f"schedule {schedule!r}: build_view takes 'looped' or 'unrolled' ('auto' is decided by "
                          "mapping.allocate.plan)")
