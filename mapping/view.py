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

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from itnet_neuro.ir.ops import spec as op_spec


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
    has_bias: bool = True  # some neuron has a non-zero bias (conv-layer cores store biases only then)

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
    inputs: np.ndarray | None = None  # (C_pre,) distinct presynaptic neurons read per channel, where the
    #                                   receptive-field ranges over-count them (sparse); None: they don't
    consumers: np.ndarray | None = None  # (C_pre, H_pre, W_pre) distinct post neurons each presynaptic
    #                                      neuron feeds (sparse; the bound's count, mapping.bound)
    delay: int = 1
    kernel: tuple[int, int] = (1, 1)
    stride: tuple[int, int] = (1, 1)
    from_input: bool = False
    feedback: bool = False
    key: tuple = ()
    rate: float = 0.0  # mean spikes per presynaptic neuron per tick (calibration; 0 = unknown), for CPU time
    tapr_cum: np.ndarray = field(init=False, repr=False)
    tapq_cum: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.tapr_cum = np.concatenate([[0], np.cumsum(self.tapr, dtype=np.int64)])
        self.tapq_cum = np.concatenate([[0], np.cumsum(self.tapq, dtype=np.int64)])

    @property
    def synapses(self) -> int:
        return int((self.drive[1] - self.drive[0]) * self.cin_factor * self.tapr_cum[-1] * self.tapq_cum[-1])


def _mixed_signs(conn, pre_shape) -> np.ndarray:
    """Per presynaptic channel: whether its outgoing weights in ``conn`` have both signs."""
    w = np.asarray(conn.weight)
    ch = np.broadcast_to(op_spec(conn.op).in_channel(conn, tuple(pre_shape)), w.shape)
    pos = np.bincount(ch[w > 0], minlength=pre_shape[0]) > 0
    neg = np.bincount(ch[w < 0], minlength=pre_shape[0]) > 0
    return pos & neg


def edge_from_connection(conn, pre_shape, post_shape, *, pre: str | None = None, post: str | None = None,
                         from_input: bool = False, name: str | None = None) -> Edge:
    """The :class:`Edge` of an IR connection: its receptive fields from the op table
    (:attr:`itnet_neuro.ir.ops.OpSpec.receptive`), placed on the post channels it drives."""
    op = op_spec(conn.op)
    pre_shape, post_shape = tuple(pre_shape), tuple(post_shape)
    rf = op.receptive(conn, pre_shape, post_shape)
    c = post_shape[0]
    off = conn.post_offset + rf.first
    cout = len(rf.clo)
    clo, chi = np.zeros(c, np.int64), np.zeros(c, np.int64)
    clo[off:off + cout], chi[off:off + cout] = rf.clo, rf.chi
    key = (conn.op, pre_shape, post_shape, off, cout, conn.kernel, conn.stride, conn.padding, conn.groups, conn.mode)
    consumers = None
    if conn.index is not None:  # explicit synapses: the geometry is the index itself
        key += (hashlib.sha1(np.ascontiguousarray(conn.index).data).hexdigest(),)
        n_pre = int(np.prod(pre_shape))
        pairs = np.unique(conn.index[0] * n_pre + conn.index[1])
        consumers = np.bincount(pairs % n_pre, minlength=n_pre).reshape(pre_shape)
    return Edge(name=name or conn.name, pre=pre or conn.pre, post=post or conn.post, op=conn.op,
                pre_shape=pre_shape, post_shape=post_shape, drive=(off, off + cout), clo=clo, chi=chi,
                rlo=rf.rlo, rhi=rf.rhi, qlo=rf.qlo, qhi=rf.qhi, tapr=rf.tapr, tapq=rf.tapq, cin_factor=rf.cin_factor,
                mixed=_mixed_signs(conn, pre_shape), fan_in=int(conn.fan_in(pre_shape[0])), inputs=rf.inputs,
                consumers=consumers,
                delay=int(conn.delay),
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

    def set_rates(self, rates: dict | None) -> None:
        """Mean presynaptic rates on every edge from ``rates`` (node or population name → spikes per
        neuron per tick; the network input under its name); missing names leave 0 (unknown)."""
        for e in self.edges:
            keys = (e.pre,) if e.pre not in self.index else (e.pre, self.node(e.pre).population)
            e.rate = next((float(np.mean(rates[k])) for k in keys if rates and k in rates), 0.0)

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
