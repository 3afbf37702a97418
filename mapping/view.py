"""The graph the allocator works on: nodes (populations to place) and edges with their geometry.

A :class:`View` is built from an IR :class:`~itnet_neuro.ir.Network` for one schedule
(:mod:`mapping.schedule`): the unrolled schedule takes ``net.unroll()``; the looped schedule takes the
network with its block members once, plus the relay neurons of its state buffer when the chip needs
them. Everything here is geometry: which presynaptic neurons (input axons) and how many synapses a
rectangular tile ``channels [c0, c1) × rows [r0, r1) × cols [q0, q1)`` of a node needs, as arrays
over the post axes so that any number of tiles is measured with a few numpy gathers.

The network input is not a node: it is injected from off chip (the host or a sensor) and arrives
at the cores as input axons, which are counted. Readouts are not nodes either: they are decoded by
the host from the spikes of the populations they read, which therefore send one copy of their
spikes off chip (one destination per neuron, counted for fan-out).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Node:
    """A population to place.

    Attributes
    ----------
    name : str
        Node name: the population name, ``pop@n`` for an unrolled copy, ``pop~relayK`` for the
        K-th relay stage of a looped state buffer.
    population : str
        The IR population it comes from (the state population for a relay).
    iteration : int or None
        The unrolled copy's iteration; None outside the block and for the looped block (all
        iterations, time-multiplexed).
    shape : tuple of int
        ``(C, H, W)``.
    table_rows : int
        Rows of the per-iteration parameter tables stored with its cores: N for a looped block
        member, 1 otherwise.
    multiplexed : bool
        Looped block member: one copy serves all N iterations, one per phase.
    read_out : bool
        A readout decodes it: its spikes also go off chip (one extra destination per neuron).
    kind : str
        ``"population"`` or ``"relay"`` (a neuron of the looped state buffer's delay line).
    """

    name: str
    population: str
    iteration: int | None
    shape: tuple[int, int, int]
    table_rows: int = 1
    multiplexed: bool = False
    read_out: bool = False
    kind: str = "population"
    buffer_bits_per_neuron: int = 0

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Edge:
    """Synapses from ``pre`` (a node or the off-chip input) to ``post`` (a node), with geometry.

    Per post channel ``c``: presynaptic channels ``[clo[c], chi[c])`` (empty where this edge does
    not drive ``c``). Per post row ``r``: presynaptic rows ``[rlo[r], rhi[r])`` and ``tapr[r]``
    synapse taps; the same per column. A tile's synapses from this edge are
    ``n_post_channels_driven · cin_factor · Σ tapr · Σ tapq``; this equals
    :meth:`itnet_neuro.ir.Network.synapses` summed over the tiles of a partition.
    """

    name: str
    pre: str
    post: str
    op: str
    pre_shape: tuple[int, int, int]
    post_shape: tuple[int, int, int]
    drive: tuple[int, int]
    clo: np.ndarray
    chi: np.ndarray
    rlo: np.ndarray
    rhi: np.ndarray
    qlo: np.ndarray
    qhi: np.ndarray
    tapr: np.ndarray
    tapq: np.ndarray
    cin_factor: int
    mixed: np.ndarray  # (C_pre,) bool: this input channel's weights have both signs
    fan_in: int
    delay: int = 1
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    from_input: bool = False
    feedback: bool = False
    key: tuple = ()
    tapr_cum: np.ndarray = field(init=False, repr=False)
    tapq_cum: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.tapr_cum = np.concatenate([[0], np.cumsum(self.tapr, dtype=np.int64)])
        self.tapq_cum = np.concatenate([[0], np.cumsum(self.tapq, dtype=np.int64)])

    @property
    def synapses(self) -> int:
        return int((self.drive[1] - self.drive[0]) * self.cin_factor * self.tapr_cum[-1] * self.tapq_cum[-1])


def _conv_axis(n_out: int, n_in: int, k: int, s: int, before: int):
    lo = np.arange(n_out, dtype=np.int64) * s - before
    hi = lo + k
    lo_c, hi_c = np.clip(lo, 0, n_in), np.clip(hi, 0, n_in)
    return lo_c, hi_c, (hi_c - lo_c)


def _resize_axis(n_out: int, n_in: int, mode: str):
    """Input index range per output index of TensorFlow 2's resize (half-pixel centres)."""
    scale = n_in / n_out
    centre = (np.arange(n_out) + 0.5) * scale
    if mode == "nearest":
        lo = np.clip(np.floor(centre).astype(np.int64), 0, n_in - 1)
        return lo, lo + 1, np.ones(n_out, np.int64)
    src = centre - 0.5
    f = np.floor(src).astype(np.int64)
    lo = np.clip(f, 0, n_in - 1)
    hi = np.clip(f + 1, 0, n_in - 1) + 1
    # The IR counts 4 synapses per bilinear output neuron (2 per axis) wherever it sits.
    return lo, hi, np.full(n_out, 2, np.int64)


def _mixed_signs(conn, pre_channels: int) -> np.ndarray:
    """Per presynaptic channel: whether its outgoing weights in ``conn`` have both signs."""
    w = np.asarray(conn.weight)
    if conn.op == "conv2d":
        g = conn.groups
        cout, cin_g = w.shape[0], w.shape[1]
        per_group = cout // g
        pos = np.zeros(pre_channels, bool)
        neg = np.zeros(pre_channels, bool)
        for gi in range(g):
            blk = w[gi * per_group:(gi + 1) * per_group]
            pos[gi * cin_g:(gi + 1) * cin_g] = (blk > 0).any(axis=(0, 2, 3))
            neg[gi * cin_g:(gi + 1) * cin_g] = (blk < 0).any(axis=(0, 2, 3))
        return pos & neg
    if conn.op == "depthwise":
        mult = w.shape[0] // pre_channels
        blk = w.reshape(pre_channels, mult, -1)
        return (blk > 0).any(axis=(1, 2)) & (blk < 0).any(axis=(1, 2))
    if conn.op == "dense":
        n_in = w.shape[1]
        per = n_in // pre_channels
        blk = w.reshape(w.shape[0], pre_channels, per)
        return (blk > 0).any(axis=(0, 2)) & (blk < 0).any(axis=(0, 2))
    return np.zeros(pre_channels, bool)  # per-channel gains: one sign per input channel


def edge_from_connection(conn, pre_shape, post_shape, *, pre: str | None = None, post: str | None = None,
                         from_input: bool = False, name: str | None = None) -> Edge:
    """The :class:`Edge` of an IR connection (any op of :data:`itnet_neuro.ir.OPS`)."""
    cp, hp, wp = pre_shape
    c, h, w = post_shape
    off = conn.post_offset
    cout = conn.out_channels
    cidx = np.arange(c, dtype=np.int64)
    inside = (cidx >= off) & (cidx < off + cout)
    rel = np.where(inside, cidx - off, 0)
    op = conn.op
    if op == "conv2d":
        per_g = cout // conn.groups
        cin_g = cp // conn.groups
        clo = (rel // per_g) * cin_g
        chi = clo + cin_g
        cin_factor = cin_g
    elif op == "depthwise":
        mult = cout // cp
        clo = rel // mult
        chi = clo + 1
        cin_factor = 1
    elif op == "dense":
        clo = np.zeros(c, np.int64)
        chi = np.full(c, cp, np.int64)
        cin_factor = cp * hp * wp
    else:
        clo = rel
        chi = rel + 1
        cin_factor = 1
    clo = np.where(inside, clo, 0).astype(np.int64)
    chi = np.where(inside, chi, 0).astype(np.int64)
    if op in ("conv2d", "depthwise", "avgpool"):
        (kh, kw), (sh, sw), pad = conn.kernel, conn.stride, conn.padding
        rlo, rhi, tapr = _conv_axis(h, hp, kh, sh, pad[0])
        qlo, qhi, tapq = _conv_axis(w, wp, kw, sw, pad[2])
    elif op == "resize":
        rlo, rhi, tapr = _resize_axis(h, hp, conn.mode)
        qlo, qhi, tapq = _resize_axis(w, wp, conn.mode)
    elif op == "identity":
        rlo, rhi, tapr = np.arange(h), np.arange(h) + 1, np.ones(h, np.int64)
        qlo, qhi, tapq = np.arange(w), np.arange(w) + 1, np.ones(w, np.int64)
    else:  # dense: every presynaptic neuron
        rlo, rhi, tapr = np.zeros(h, np.int64), np.full(h, hp, np.int64), np.ones(h, np.int64)
        qlo, qhi, tapq = np.zeros(w, np.int64), np.full(w, wp, np.int64), np.ones(w, np.int64)
    key = (op, tuple(pre_shape), tuple(post_shape), off, cout, conn.kernel, conn.stride, conn.padding,
           conn.groups, conn.mode)
    return Edge(name=name or conn.name, pre=pre or conn.pre, post=post or conn.post, op=op,
                pre_shape=tuple(pre_shape), post_shape=tuple(post_shape), drive=(off, off + cout),
                clo=clo, chi=chi, rlo=rlo.astype(np.int64), rhi=rhi.astype(np.int64),
                qlo=qlo.astype(np.int64), qhi=qhi.astype(np.int64), tapr=tapr.astype(np.int64),
                tapq=tapq.astype(np.int64), cin_factor=int(cin_factor),
                mixed=_mixed_signs(conn, cp), fan_in=int(conn.fan_in(cp)), delay=int(conn.delay),
                kernel=tuple(conn.kernel), stride=tuple(conn.stride), from_input=from_input,
                feedback=bool(conn.feedback), key=key)


def identity_edge(name: str, pre: str, post: str, shape, delay: int) -> Edge:
    """A one-to-one edge of gain 1 (relay stages of the looped state buffer)."""
    c, h, w = shape
    ar = lambda n: np.arange(n, dtype=np.int64)  # noqa: E731
    return Edge(name=name, pre=pre, post=post, op="identity", pre_shape=tuple(shape), post_shape=tuple(shape),
                drive=(0, c), clo=ar(c), chi=ar(c) + 1, rlo=ar(h), rhi=ar(h) + 1, qlo=ar(w), qhi=ar(w) + 1,
                tapr=np.ones(h, np.int64), tapq=np.ones(w, np.int64), cin_factor=1, mixed=np.zeros(c, bool),
                fan_in=1, delay=int(delay), key=("identity", tuple(shape)))


@dataclass
class View:
    """Nodes in topological order (feedback edges excluded) and the edges between them."""

    schedule: str
    nodes: list[Node]
    edges: list[Edge]
    input_name: str
    input_shape: tuple[int, int, int]
    notes: list[str] = field(default_factory=list)
    state_buffer: dict = field(default_factory=dict)

    def __post_init__(self):
        self.index = {n.name: i for i, n in enumerate(self.nodes)}
        self.incoming: dict[str, list[Edge]] = {n.name: [] for n in self.nodes}
        self.outgoing: dict[str, list[Edge]] = {n.name: [] for n in self.nodes}
        for e in self.edges:
            self.incoming[e.post].append(e)
            if not e.from_input:
                self.outgoing[e.pre].append(e)

    def node(self, name: str) -> Node:
        return self.nodes[self.index[name]]

    def groups(self, post: str) -> list[list[Edge]]:
        """Incoming edges of ``post`` grouped by presynaptic node: axons are per presynaptic neuron,
        so two edges from the same node into one tile share their input axons."""
        by_pre: dict[str, list[Edge]] = {}
        for e in self.incoming[post]:
            by_pre.setdefault(e.pre, []).append(e)
        return list(by_pre.values())

    @property
    def n_neurons(self) -> int:
        return sum(n.size for n in self.nodes)

    @property
    def n_synapses(self) -> int:
        return sum(e.synapses for e in self.edges)


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def log2ceil(n: int) -> int:
    return int(math.ceil(math.log2(max(n, 1))))
