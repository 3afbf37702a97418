"""Partitioning: tile every node of a :class:`~mapping.view.View` into core-sized pieces.

A tile is a box ``channels [c0, c1) × rows [r0, r1) × cols [q0, q1)`` of one node. Its resources:

``neurons``
    Its neurons plus their copies: a neuron whose spikes must reach ``d`` cores on a chip whose
    neurons reach at most ``F = core.max_fanout_cores_per_neuron`` cores is held ``⌈d / F⌉`` times
    on its own core (the copies share its input axons and parameters, so they spike identically;
    Esser et al. 2016 do this on TrueNorth). ``d`` counts the consumer tiles whose receptive field
    contains the neuron, plus one for an off-chip readout.
``axons``
    Distinct presynaptic neurons: per presynaptic node, the union of the receptive fields of the
    tile's neurons over all its incoming connections from that node, × channels — twice for an
    input whose weights into the tile have both signs on ``"two-rows"`` chips (an excitatory and
    an inhibitory row, BrainScaleS). On ``"axon-types"`` chips (TrueNorth) every input neuron is one
    axon with one type; fitting the weight values to the types is the quantizer's job.
``synapses``
    Exact structural synapses (zero padding excluded), so the sum over the tiles of a node equals
    :meth:`itnet_neuro.ir.Network.synapses` summed over its incoming connections.
``out_axons``
    Σ d: output routing slots (``core.max_output_axons``, Loihi).
``syn_bytes`` / ``mem_bytes``
    Synapse memory (``weights.bits`` per synapse, or the chip's per-axon formula) and all memory:
    synapses + neuron state + parameter tables (N rows for a looped block member) + state buffer.

Tile shapes are chosen per node by an exhaustive, vectorized search over a uniform grid
(``ceil(C/k) × ceil(H/k') × ceil(W/k'')``) using per-axis upper bounds, then every tile is measured
exactly and any tile over a limit is bisected until it fits. A single neuron that fits no core is
never split (that would change the network): it is a :class:`Violation` with a hint.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from mapping.chip import INF, Limits
from mapping.schedule import split_copy
from mapping import synmem
from mapping.view import Edge, Node, View
from mapping.violations import Violation

RESOURCES = ("neurons", "axons", "synapses", "syn_bytes", "out_axons", "local_bytes", "events")
_BOX = ("c0", "c1", "r0", "r1", "q0", "q1")


@dataclass
class Tiles:
    """Tiles of one node as parallel int64 arrays (one entry per tile)."""

    c0: np.ndarray
    c1: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    q0: np.ndarray
    q1: np.ndarray
    res: dict = field(default_factory=dict)  # RESOURCES + "own", "mem_bytes": arrays

    def __len__(self) -> int:
        return int(self.c0.shape[0])

    @staticmethod
    def concat(parts: list["Tiles"]) -> "Tiles":
        arrays = {k: np.concatenate([getattr(p, k) for p in parts]) for k in _BOX}
        res = {k: np.concatenate([p.res[k] for p in parts]) for k in parts[0].res}
        return Tiles(**arrays, res=res)

    def take(self, idx) -> "Tiles":
        return Tiles(**{k: getattr(self, k)[idx] for k in _BOX}, res={k: v[idx] for k, v in self.res.items()})

    @property
    def volume(self) -> np.ndarray:
        return (self.c1 - self.c0) * (self.r1 - self.r0) * (self.q1 - self.q0)


@dataclass
class NodeTiling:
    node: Node
    tiles: Tiles
    grid: tuple[int, int, int]
    relaxed: dict  # resource -> limit used instead of the chip's (a per-neuron violation)
    fingerprint: int = 0


# --------------------------------------------------------------------------------------- geometry

def _group_boxes(group: list[Edge], c0, c1, r0, r1, q0, q1):
    """Union (bounding box) of the receptive fields in the presynaptic node of ``group`` per tile."""
    big = np.iinfo(np.int64).max
    lo_c = np.full(c0.shape, big, np.int64)
    hi_c = np.zeros(c0.shape, np.int64)
    lo_r, hi_r, lo_q, hi_q = lo_c.copy(), hi_c.copy(), lo_c.copy(), hi_c.copy()
    any_ = np.zeros(c0.shape, bool)
    for e in group:
        a = np.maximum(c0, e.drive[0])
        b = np.minimum(c1, e.drive[1])
        ok = a < b
        if not ok.any():
            continue
        ai = np.where(ok, a, e.drive[0])
        bi = np.where(ok, b - 1, e.drive[0])
        elo_c, ehi_c = e.clo[ai], e.chi[bi]
        elo_r, ehi_r = e.rlo[r0], e.rhi[r1 - 1]
        elo_q, ehi_q = e.qlo[q0], e.qhi[q1 - 1]
        lo_c = np.where(ok, np.minimum(lo_c, elo_c), lo_c)
        hi_c = np.where(ok, np.maximum(hi_c, ehi_c), hi_c)
        lo_r = np.where(ok, np.minimum(lo_r, elo_r), lo_r)
        hi_r = np.where(ok, np.maximum(hi_r, ehi_r), hi_r)
        lo_q = np.where(ok, np.minimum(lo_q, elo_q), lo_q)
        hi_q = np.where(ok, np.maximum(hi_q, ehi_q), hi_q)
        any_ |= ok
    for arr in (lo_c, lo_r, lo_q):
        arr[~any_] = 0
    for lo, hi in ((lo_c, hi_c), (lo_r, hi_r), (lo_q, hi_q)):
        hi[~any_] = 0
        np.maximum(hi, lo, out=hi)
    return lo_c, hi_c, lo_r, hi_r, lo_q, hi_q


def _mixed_cum(group: list[Edge], two_rows: bool) -> np.ndarray | None:
    if not two_rows:
        return None
    mixed = np.zeros(group[0].pre_shape[0], bool)
    for e in group:
        mixed |= e.mixed
    return np.concatenate([[0], np.cumsum(mixed, dtype=np.int64)])


def _group_axons(group, mcum, c0, c1, r0, r1, q0, q1):
    lo_c, hi_c, lo_r, hi_r, lo_q, hi_q = _group_boxes(group, c0, c1, r0, r1, q0, q1)
    ch = hi_c - lo_c
    if mcum is not None:
        ch = ch + (mcum[hi_c] - mcum[lo_c])
    return ch * (hi_r - lo_r) * (hi_q - lo_q)


def _edge_synapses(e: Edge, c0, c1, r0, r1, q0, q1):
    oc = np.clip(np.minimum(c1, e.drive[1]) - np.maximum(c0, e.drive[0]), 0, None)
    return oc * e.cin_factor * (e.tapr_cum[r1] - e.tapr_cum[r0]) * (e.tapq_cum[q1] - e.tapq_cum[q0])


def _sat(arr: np.ndarray) -> np.ndarray:
    """Summed-area table with a zero border: ``S[c, r, q] = Σ arr[:c, :r, :q]``."""
    s = np.zeros(tuple(n + 1 for n in arr.shape), np.int64)
    s[1:, 1:, 1:] = arr.cumsum(0).cumsum(1).cumsum(2)
    return s


def _box_sum(s: np.ndarray, c0, c1, r0, r1, q0, q1):
    return (s[c1, r1, q1] - s[c0, r1, q1] - s[c1, r0, q1] - s[c1, r1, q0]
            + s[c0, r0, q1] + s[c0, r1, q0] + s[c1, r0, q0] - s[c0, r0, q0])


# ----------------------------------------------------------------------------------- the context

class _NodeContext:
    """Everything needed to measure tiles of one node."""

    def __init__(self, view: View, node: Node, limits: Limits, dest: np.ndarray | None, pop_dest=None):
        self.node = node
        self.limits = limits
        # Population edges (Loihi's convolutions) have axons of their own, one per input pixel.
        self.groups, self.pop = synmem.split_groups(view.groups(node.name), limits)
        self.mcums = [_mixed_cum(g, limits.two_rows) for g in self.groups]
        self.edges = view.incoming[node.name]
        self.encoded = synmem.uses_encodings(limits)  # Loihi: synapse memory from its encodings
        self.dest = dest
        if dest is not None:
            f = limits.max_fanout_cores
            mult = np.maximum(1, -(-dest // int(f))) if f < INF else np.ones_like(dest)
            self.mult_sat = _sat(mult)
            self.dest_sat = _sat(dest if pop_dest is None else pop_dest[0])
            self.mult_mean = float(mult.mean())
            self.dest_mean = float(dest.mean())
        else:
            self.mult_sat = self.dest_sat = None
            self.mult_mean, self.dest_mean = 1.0, 1.0 if node.read_out else 0.0
        self.pix_sat = None
        if dest is not None and pop_dest is not None:  # output slots per pixel and destination
            self.pix_sat = _sat(pop_dest[1][None] * int(limits.population_out_slots))

    def measure(self, c0, c1, r0, r1, q0, q1) -> dict:
        lim = self.limits
        own = (c1 - c0) * (r1 - r0) * (q1 - q0)
        if self.mult_sat is not None:
            neurons = _box_sum(self.mult_sat, c0, c1, r0, r1, q0, q1)
            out_axons = _box_sum(self.dest_sat, c0, c1, r0, r1, q0, q1)
            if self.pix_sat is not None:
                zero = np.zeros_like(own)
                out_pix = _box_sum(self.pix_sat, zero, zero + 1, r0, r1, q0, q1)
                out_axons = out_axons + out_pix
        else:
            neurons = own.copy()
            out_axons = own * (1 if self.node.read_out else 0)
        axons = np.zeros_like(own)
        for g, mc in zip(self.groups, self.mcums):
            axons += _group_axons(g, mc, c0, c1, r0, r1, q0, q1)
        for e in self.pop:
            axons += synmem.population_axons(e, c0, c1, r0, r1, q0, q1)
        synapses = np.zeros_like(own)
        events = np.zeros(own.shape, np.float64)
        for e in self.edges:
            syn = _edge_synapses(e, c0, c1, r0, r1, q0, q1)
            synapses += syn
            events += syn * e.rate
        syn_bytes = (synmem.tile_bytes(self.groups, lim, c0, c1, r0, r1, q0, q1, self.pop) if self.encoded
                     else lim.synapse_bytes(axons, synapses))
        local = self.local_bytes(neurons, own, c1 - c0)
        mem = syn_bytes + local
        if lim.synapses_in_local_memory:
            local = local + syn_bytes
        extra = {"out_pix": out_pix if self.pix_sat is not None else np.zeros_like(own)}
        return {**extra, "neurons": neurons, "own": own, "axons": axons, "synapses": synapses, "syn_bytes": syn_bytes,
                "out_axons": out_axons, "local_bytes": local,
                "events": np.ceil(events * (neurons / np.maximum(own, 1)) - 1e-9).astype(np.int64), "mem_bytes": mem}

    def local_bytes(self, neurons, own, channels):
        """Core memory besides synapses: neuron state and input buffers (copies too), the
        per-iteration tables (threshold and bias per channel and row), the state buffer."""
        lim = self.limits
        per_neuron = (lim.neuron_state_bytes or 0.0) + lim.input_buffer_bytes
        mem = np.ceil(np.asarray(neurons, np.float64) * per_neuron)
        mem = mem + self.node.table_rows * np.asarray(channels, np.float64) * 2 * lim.table_value_bytes
        if self.node.buffer_bits_per_neuron:
            mem = mem + np.ceil(np.asarray(own, np.float64) * self.node.buffer_bits_per_neuron / 8)
        return mem.astype(np.int64)


def _limit_vector(limits: Limits, relaxed: dict) -> dict:
    base = {"neurons": limits.max_neurons, "axons": limits.max_axons, "synapses": limits.max_synapses,
            "syn_bytes": limits.synapse_memory_bytes, "out_axons": limits.max_output_axons,
            "local_bytes": limits.local_memory_bytes, "events": limits.max_events_per_tick}
    base.update(relaxed)
    return base


def _over(res: dict, lim: dict) -> np.ndarray:
    bad = np.zeros(res["neurons"].shape, bool)
    for k in RESOURCES:
        if lim[k] < INF:
            bad |= res[k] > lim[k]
    return bad


# ------------------------------------------------------------------------------------ the search

def _candidates(n: int) -> np.ndarray:
    """Tile sizes along an axis of length n: every size on short axes; on long ones, for every tile
    count k the smallest size giving k tiles (even tiles) and the largest (full tiles and one small
    remainder, which packs with others)."""
    if n <= 64:  # short axes (channels, small maps): every size
        return np.arange(1, n + 1, dtype=np.int64)
    sizes = {-(-n // k) for k in range(1, n + 1)}
    sizes |= {(n - 1) // (k - 1) for k in range(2, n + 1)}
    return np.array(sorted(s for s in sizes if s >= 1), np.int64)


def _grid(n: int, size: int):
    starts = np.arange(0, n, size, dtype=np.int64)
    return starts, np.minimum(starts + size, n)


def _segments(n: int):
    """Grid tiles of every candidate size along an axis of length ``n``, concatenated.

    Returns the candidate sizes, the tile count per candidate, the tile starts and ends, and the
    offset of each candidate's first tile (for ``np.maximum.reduceat``).
    """
    sizes = _candidates(n)
    counts = -(-n // sizes)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    seg = np.repeat(np.arange(sizes.size), counts)
    local = np.arange(counts.sum()) - offsets[seg]
    starts = local * sizes[seg]
    ends = np.minimum(starts + sizes[seg], n)
    return sizes, counts, starts, ends, offsets


def _search(ctx: _NodeContext, lim: dict, density: float, out_density: float, crange: tuple[int, int],
            mem_scale: float = 1.0, pix_density: float = 0.0):
    """Best uniform grid ``(tc, th, tw)``: fewest tiles whose per-axis upper bounds fit ``lim``.

    Per axis and candidate size, the maximum over the grid's tiles of each factor of a tile's axons
    (channels × rows × columns of the receptive-field box) and synapses is exact; their product is
    an upper bound of the tile maximum, tight for interior tiles. Neurons and output axons use the
    node's mean copies per neuron (``density``), corrected by :func:`tile_node` after measuring.
    """
    _, h, w = ctx.node.shape
    c_lo, c_hi = crange
    tcs, n_c, ca, cb, co = _segments(c_hi - c_lo)
    ca, cb = ca + c_lo, cb + c_lo
    ths, n_h, ra, rb, ro = _segments(h)
    tws, n_w, qa, qb, qo = _segments(w)
    mx = np.maximum.reduceat
    axons = np.zeros((len(tcs), len(ths), len(tws)), np.float64)
    synapses = np.zeros_like(axons)
    zc, zr, zq = np.zeros_like(ca), np.zeros_like(ra), np.zeros_like(qa)
    per_group = []
    for g, mc in zip(ctx.groups, ctx.mcums):
        lo_c, hi_c, *_ = _group_boxes(g, ca, cb, zc, zc + h, zc, zc + w)
        cnt = hi_c - lo_c + (0 if mc is None else mc[hi_c] - mc[lo_c])
        ch = mx(cnt, co)
        _, _, lo_r, hi_r, _, _ = _group_boxes(g, zr + c_lo, zr + c_hi, ra, rb, zr, zr + w)
        rr = mx(hi_r - lo_r, ro)
        *_, lo_q, hi_q = _group_boxes(g, zq + c_lo, zq + c_hi, zq, zq + h, qa, qb)
        qq = mx(hi_q - lo_q, qo)
        per_group.append(ch[:, None, None] * rr[None, :, None] * qq[None, None, :])
        axons += per_group[-1]
    for e in ctx.pop:  # one axon per input pixel (the receptive field's rows × columns)
        oc = mx(np.clip(np.minimum(cb, e.drive[1]) - np.maximum(ca, e.drive[0]), 0, None), co)
        rr = mx(e.rhi[rb - 1] - e.rlo[ra], ro)
        qq = mx(e.qhi[qb - 1] - e.qlo[qa], qo)
        axons += (oc > 0)[:, None, None] * rr[None, :, None] * qq[None, None, :]
    events = np.zeros_like(axons)
    edge_syn = {}
    for e in ctx.edges:
        oc = mx(np.clip(np.minimum(cb, e.drive[1]) - np.maximum(ca, e.drive[0]), 0, None), co)
        tr = mx(e.tapr_cum[rb] - e.tapr_cum[ra], ro)
        tq = mx(e.tapq_cum[qb] - e.tapq_cum[qa], qo)
        syn = (oc * e.cin_factor)[:, None, None].astype(np.float64) * tr[None, :, None] * tq[None, None, :]
        synapses += syn
        events += syn * e.rate
        edge_syn[id(e)] = syn
    est_bits = None
    if ctx.encoded:
        sizes = (tcs[:, None, None], ths[None, :, None], tws[None, None, :])
        est_bits = _estimate_bits(ctx, per_group, edge_syn, sizes) * mem_scale
    vol = (tcs[:, None, None] * ths[None, :, None] * tws[None, None, :]).astype(np.float64)
    local = ctx.local_bytes(vol * density, vol, tcs[:, None, None].astype(np.float64)).astype(np.float64)
    ok = np.ones(vol.shape, bool)
    for name, arr in (("neurons", vol * density), ("axons", axons), ("synapses", synapses),
                      ("out_axons", vol * out_density + pix_density * (ths[None, :, None] * tws[None, None, :])),
                      ("events", events * density),
                      ("local_bytes", local)):
        if lim[name] < INF:
            ok &= arr <= lim[name]
    for key, local_too in (("syn_bytes", False), ("local_bytes", True)):
        if lim[key] < INF and (not local_too or ctx.limits.synapses_in_local_memory):
            cand = ok.copy()
            sb = (np.ceil(est_bits[cand] / 8) if est_bits is not None else
                  ctx.limits.synapse_bytes(axons[cand].astype(np.int64), synapses[cand].astype(np.int64)))
            ok[cand] = sb + (local[cand] if local_too else 0) <= lim[key]
    if not ok.any():
        return 1, 1, 1, None
    count = (n_c[:, None, None] * n_h[None, :, None] * n_w[None, None, :]).astype(np.float64)
    # Where a neuron's fan-out costs (an output axon or a copy per destination core), every input
    # axon of a tile is paid for by a producer: add those producer cores to the tile count. (On the
    # converted paper presets this saves 10-30% of the cores on Loihi 2 and TrueNorth and costs up
    # to 8% on Loihi 1, whose producers are mostly bound by neurons instead.)
    lim_ = ctx.limits
    per_dest = min(lim_.max_output_axons, lim_.max_neurons * lim_.max_fanout_cores)
    cost = count + (count * axons / per_dest if per_dest < INF and ctx.edges else 0.0)
    score = np.where(ok, np.round(cost, 6), np.inf)
    best = score.min()
    # Among the fewest tiles: the largest tiles (the remainder tiles at the edges are then the
    # smallest, and pack best with others), then the fewest axons in total (least halo).
    tie = np.where(score == best, -vol * 1e12 + count * axons, np.inf)
    i, j, k = np.unravel_index(int(np.argmin(tie)), tie.shape)
    est = None if est_bits is None else float(est_bits[i, j, k]) / 8
    return int(tcs[i]), int(ths[j]), int(tws[k]), est


def _estimate_bits(ctx: _NodeContext, per_group: list, edge_syn: dict, sizes: tuple) -> np.ndarray:
    """Synapse-memory bits of the largest tile of each candidate grid, from the chip's encodings
    (:mod:`mapping.synmem`): shared lists estimated per edge pattern, per-axon lists at the mean."""
    lim = ctx.limits
    total = 0.0
    for g, axons_g in zip(ctx.groups, per_group):
        if len(g) == 1 and synmem.is_shared(g[0], lim):
            e = g[0]
            inputs_c = np.maximum(1, axons_g // np.maximum(1, _pixels(e, sizes)))
            total = total + synmem.estimate_shared_bits(e, lim, inputs_c, *sizes)
        else:
            syn = sum(edge_syn[id(e)] for e in g)
            dense = all(synmem._dense_list(e) for e in g)
            total = total + synmem.estimate_axon_bits(lim, axons_g, np.ceil(syn), dense)
    for e in ctx.pop:
        total = total + synmem.estimate_population_bits(e, lim, *sizes)
    return np.broadcast_to(np.asarray(total, np.float64), np.broadcast_shapes(*(x.shape for x in sizes)))


def _pixels(e: Edge, sizes: tuple) -> np.ndarray:
    """Input pixels (rows × columns) of the receptive field of a ``th × tw`` tile, at most."""
    _, th, tw = sizes
    return (np.minimum((th - 1) * e.stride[0] + e.kernel[0], e.pre_shape[1])
            * np.minimum((tw - 1) * e.stride[1] + e.kernel[1], e.pre_shape[2]))


def _grid_tiles(shape, tc, th, tw, crange):
    _, h, w = shape
    ca, cb = _grid(crange[1] - crange[0], tc)
    ca, cb = ca + crange[0], cb + crange[0]
    ra, rb = _grid(h, th)
    qa, qb = _grid(w, tw)
    # Raster order: rows, then columns, channels innermost (neighbours in space stay near).
    ri, qi, ci = np.meshgrid(np.arange(len(ra)), np.arange(len(qa)), np.arange(len(ca)), indexing="ij")
    ri, qi, ci = ri.ravel(), qi.ravel(), ci.ravel()
    return ca[ci], cb[ci], ra[ri], rb[ri], qa[qi], qb[qi]


def _bisect(box, res, lim):
    """Split each tile in two along the axis that relieves its binding resource."""
    c0, c1, r0, r1, q0, q1 = box
    dc, dr, dq = c1 - c0, r1 - r0, q1 - q0
    input_side = np.zeros(c0.shape, bool)
    for k in ("axons", "synapses", "syn_bytes"):
        if lim[k] < INF:
            input_side |= res[k] > lim[k]
    spatial = np.where(dr >= dq, 1, 2)
    spatial_size = np.maximum(dr, dq)
    largest = np.argmax(np.stack([dc, dr, dq]), axis=0)
    axis = np.where(input_side & (spatial_size > 1), spatial, largest)
    axis = np.where((axis == 0) & (dc <= 1), np.where(spatial_size > 1, spatial, 0), axis)
    lo = np.stack([c0, r0, q0])
    hi = np.stack([c1, r1, q1])
    idx = np.arange(c0.shape[0])
    mid = (lo[axis, idx] + hi[axis, idx]) // 2
    hi_a, lo_b = hi.copy(), lo.copy()
    hi_a[axis, idx] = mid
    lo_b[axis, idx] = mid
    a = (lo[0], hi_a[0], lo[1], hi_a[1], lo[2], hi_a[2])
    b = (lo_b[0], hi[0], lo_b[1], hi[1], lo_b[2], hi[2])
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b))


def channel_segments(view_edges: list[Edge], channels: int) -> list[tuple[int, int]]:
    """Channel ranges driven by the same incoming connections (the parts of a concatenation).

    Each part is tiled on its own grid, so that a light part (a pooled copy of the input) is not cut
    as finely as a heavy one (a convolution); packing puts light tiles together on shared cores.
    """
    cuts = {0, channels}
    for e in view_edges:
        cuts.update(x for x in e.drive if 0 < x < channels)
    cuts = sorted(cuts)
    return list(zip(cuts[:-1], cuts[1:]))


def tile_node(ctx: _NodeContext, relaxed: dict) -> NodeTiling:
    """Tile one node: per channel segment, grid search, exact measurement, bisection of tiles over a limit."""
    parts = [_tile_segment(ctx, relaxed, seg) for seg in channel_segments(ctx.edges, ctx.node.shape[0])]
    tiles = Tiles.concat([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
    return NodeTiling(node=ctx.node, tiles=tiles, grid=parts[0][1], relaxed=dict(relaxed))


def _tile_segment(ctx: _NodeContext, relaxed: dict, crange: tuple[int, int]):
    lim = _limit_vector(ctx.limits, relaxed)
    node = ctx.node
    _, h, w = node.shape
    vol = (crange[1] - crange[0]) * h * w
    if ctx.mult_sat is not None:
        whole = tuple(np.array([x]) for x in (crange[0], crange[1], 0, h, 0, w))
        density = float(_box_sum(ctx.mult_sat, *whole)[0]) / vol
        out_density = float(_box_sum(ctx.dest_sat, *whole)[0]) / vol
    else:
        density, out_density = ctx.mult_mean, ctx.dest_mean
    # Population axons' output slots are per pixel (all channels of a tile share them): a density per pixel.
    pix_density = 0.0 if ctx.pix_sat is None else float(ctx.pix_sat[-1, -1, -1]) / (h * w)
    best = None
    mem_scale = 1.0
    for _ in range(4):
        tc, th, tw, est = _search(ctx, lim, density, out_density, crange, mem_scale, pix_density)
        box = _grid_tiles(node.shape, tc, th, tw, crange)
        res = ctx.measure(*box)
        bad = _over(res, lim)
        # Fewest tiles among grids that (nearly) fit; else the fewest tiles over a limit.
        rank = (bad.mean() > 0.02, int(bad.sum()) if bad.mean() > 0.02 else len(box[0]))
        if best is None or rank < best[4]:
            best = (box, res, bad, (tc, th, tw), rank)
        ratio = float(res["syn_bytes"].max()) / est if est else 1.0
        if bad.mean() <= 0.02 and (not est or ratio > 0.8):
            break
        if est and bad.mean() <= 0.02:  # the encodings' estimate was high: tiles could be larger
            mem_scale *= max(ratio, 0.05)
            continue
        vol = (box[1] - box[0]) * (box[3] - box[2]) * (box[5] - box[4])
        density = max(density * 1.05, float((res["neurons"] / vol).max()))
        pix = res.get("out_pix", 0)
        out_density = max(out_density * 1.05, float(((res["out_axons"] - pix) / vol).max()))
        if ctx.pix_sat is not None:
            pix_density = max(pix_density * 1.05, float((pix / ((box[3] - box[2]) * (box[5] - box[4]))).max()))
        if est:  # the encodings' estimate was low: scale it to what the tiles measured
            mem_scale = max(mem_scale * 1.05, mem_scale * ratio)
    box, res, bad, grid, _ = best
    done_box = [tuple(x[~bad] for x in box)]
    done_res = [{k: v[~bad] for k, v in res.items()}]
    pend = tuple(x[bad] for x in box)
    pres = {k: v[bad] for k, v in res.items()}
    while pend[0].size:
        single = (pend[1] - pend[0]) * (pend[3] - pend[2]) * (pend[5] - pend[4]) <= 1
        if single.any():  # cannot happen after the per-neuron checks relaxed the limits; kept safe
            done_box.append(tuple(x[single] for x in pend))
            done_res.append({k: v[single] for k, v in pres.items()})
            keep = ~single
            pend = tuple(x[keep] for x in pend)
            pres = {k: v[keep] for k, v in pres.items()}
            if not pend[0].size:
                break
        pend = _bisect(pend, pres, lim)
        res = ctx.measure(*pend)
        bad = _over(res, lim)
        done_box.append(tuple(x[~bad] for x in pend))
        done_res.append({k: v[~bad] for k, v in res.items()})
        pend = tuple(x[bad] for x in pend)
        pres = {k: v[bad] for k, v in res.items()}
    arrays = [np.concatenate([b[i] for b in done_box]) for i in range(6)]
    resd = {k: np.concatenate([r[k] for r in done_res]) for k in done_res[0]}
    return Tiles(*arrays, res=resd), grid


# ----------------------------------------------------------------------------- per-neuron checks

def _hint_fanin(node: Node, edges: list[Edge], value: float, limit: float, resource: str, two_rows: bool) -> str:
    """What would make one neuron's fan-in fit: groups, a smaller kernel, fewer input channels."""
    convs = [e for e in edges if e.op == "conv2d"]
    factor = {e.name: 2 if two_rows and resource == "axons" and e.mixed.any() else 1 for e in edges}
    conv_part = sum(e.fan_in * factor[e.name] for e in convs)
    budget = limit - (value - conv_part)
    parts = []
    names = repr(split_copy(convs[0].name)[0]) if len(convs) == 1 else f"its {len(convs)} convolutions"
    if convs and budget >= 1:
        cins = [e.cin_factor for e in convs]
        area = max(e.kernel[0] * e.kernel[1] for e in convs)
        for g in range(2, max(cins) + 1):
            if all(c % g == 0 for c in cins):
                new = sum(c // g * e.kernel[0] * e.kernel[1] * factor[e.name] for c, e in zip(cins, convs))
                if new <= budget:
                    parts.append(f"use groups ×{g} in {names} (fan-in {int(value - conv_part + new)})")
                    break
        k = int(math.isqrt(int(budget // max(sum(c * factor[e.name] for c, e in zip(cins, convs)), 1))))
        if 1 <= k and k * k < area:
            parts.append(f"use {k}×{k} kernels in {names}")
        ch = int(budget // (area * max(factor.values())))
        if ch >= 1:
            parts.append(f"feed it at most {ch} input channels in total (now {sum(cins)})")
    dense = [e for e in edges if e.op == "dense"]
    if dense:
        parts.append(f"reduce the input of {split_copy(dense[0].name)[0]!r} to at most {int(limit)} neurons (pool it first)")
    if len(edges) > 1:
        parts.append(f"it sums {len(edges)} incoming connections: concatenate fewer inputs")
    if not parts:
        parts.append("use fewer input channels or a smaller kernel")
    return "; or ".join(parts)


#: What to do where one neuron alone exceeds a memory-based core's memory or real-time budget.
_HINTS = {
    "local_bytes": "one neuron's state, input buffers and synapse rows exceed a core's memory: fewer inputs "
                   "(splitting its fan-in over relays) or fewer per-iteration table rows",
    "events": "one neuron receives more synaptic events per tick than a core processes in one tick in real "
              "time: fewer inputs, lower input rates, or a longer tick (run slower than real time)",
}


def neuron_violations(view: View, node: Node, limits: Limits) -> tuple[list[Violation], dict]:
    """Limits that even one neuron of ``node`` exceeds: violations, and the relaxed limits to tile with."""
    out: list[Violation] = []
    relaxed: dict = {}
    c, h, w = node.shape
    edges = view.incoming[node.name]
    cidx = np.arange(c)
    fanin = np.zeros(c, np.int64)
    for e in edges:
        fanin += np.where((cidx >= e.drive[0]) & (cidx < e.drive[1]), e.fan_in, 0)
    where = (node.population, node.iteration)
    if fanin.size and fanin.max() > limits.max_fanin:
        v = int(fanin.max())
        out.append(Violation(*where, "fan_in", v, limits.max_fanin,
                             _hint_fanin(node, edges, v, limits.max_fanin, "fan_in", False)))
    # One neuron (1 channel × 1 pixel) at the place of the largest receptive field.
    ctx = _NodeContext(view, node, limits, None)
    zeros = np.zeros(c, np.int64)
    worst = {}
    keys = ("axons", "synapses", "syn_bytes", "local_bytes", "events")
    for r, q in {(h // 2, w // 2), (0, 0), (h - 1, w - 1)}:
        res = ctx.measure(cidx, cidx + 1, zeros + r, zeros + r + 1, zeros + q, zeros + q + 1)
        for k in keys:
            worst[k] = max(worst.get(k, 0), int(res[k].max()))
    # Tiles of an infeasible node are cut no finer than one pixel × all its channels, so that its
    # (already reported) excess does not multiply its producers' fan-out copies.
    pixel = {}
    for r, q in {(h // 2, w // 2), (0, 0), (h - 1, w - 1)}:
        res = ctx.measure(*(np.array([x]) for x in (0, c, r, r + 1, q, q + 1)))
        for k in keys:
            pixel[k] = max(pixel.get(k, 0), int(res[k][0]))
    for k, lim_name in (("axons", "max_axons"), ("synapses", "max_synapses"), ("syn_bytes", "synapse_memory_bytes"),
                        ("local_bytes", "local_memory_bytes"), ("events", "max_events_per_tick")):
        lim = getattr(limits, lim_name)
        if worst[k] > lim:
            if not (k == "axons" and out and out[0].resource == "fan_in" and out[0].value == worst[k]):
                out.append(Violation(*where, k, worst[k], lim, _HINTS.get(k) or
                                     _hint_fanin(node, edges, worst[k], lim, k, limits.two_rows)))
            relaxed[k] = max(worst[k], pixel[k])
    return out, relaxed


# ------------------------------------------------------------------------------------- the driver

def _destinations(view: View, node: Node, tilings: dict, only: bool | None = None,
                  limits: Limits | None = None) -> np.ndarray | None:
    """Per neuron of ``node``: consumer tiles (already tiled) whose receptive field contains it.

    A consumer that does not fit the chip at all (a per-neuron violation, tiled with relaxed
    limits) counts as one destination per neuron: its tiling is not one the chip could run, and
    letting its many small tiles multiply its producers' copies would only inflate the estimate.
    """
    c, h, w = node.shape
    diff = np.zeros((c + 1) * (h + 1) * (w + 1), np.int64)
    by_post: dict[str, list[Edge]] = {}
    for e in view.outgoing[node.name]:
        if only is None or synmem.is_population(e, limits) == only:
            by_post.setdefault(e.post, []).append(e)
    extra = 0
    for post, group in by_post.items():
        t = tilings.get(post)
        if t is None:
            continue
        if t.relaxed:
            extra += 1
            continue
        tl = t.tiles
        lo_c, hi_c, lo_r, hi_r, lo_q, hi_q = _group_boxes(group, tl.c0, tl.c1, tl.r0, tl.r1, tl.q0, tl.q1)
        ok = (hi_c > lo_c) & (hi_r > lo_r) & (hi_q > lo_q)
        lo_c, hi_c, lo_r, hi_r, lo_q, hi_q = (x[ok] for x in (lo_c, hi_c, lo_r, hi_r, lo_q, hi_q))
        for cc, sc in ((lo_c, 1), (hi_c, -1)):
            for rr, sr in ((lo_r, 1), (hi_r, -1)):
                for qq, sq in ((lo_q, 1), (hi_q, -1)):
                    flat = (cc * (h + 1) + rr) * (w + 1) + qq
                    diff += sc * sr * sq * np.bincount(flat, minlength=diff.size)
    d = diff.reshape(c + 1, h + 1, w + 1).cumsum(0).cumsum(1).cumsum(2)[:c, :h, :w]
    return d + extra + (1 if node.read_out and not only else 0)


def _population_destinations(view: View, node: Node, tilings: dict, limits: Limits):
    """Where population axons leave ``node`` (``core.population_axons``): ``(per neuron, the
    destinations through the other edges; per pixel, the consumer tiles of its population edges)``,
    or None without population edges. A population axon's output slots serve every channel of its
    pixel on the sending core (nengo-loihi ``Axon.axon_slots``)."""
    if not any(synmem.is_population(e, limits) for e in view.outgoing[node.name]):
        return None
    rest = _destinations(view, node, tilings, False, limits)
    pix = _destinations(view, node, tilings, True, limits).max(axis=0)
    return rest, pix


def _edge_key(e: Edge, two_rows: bool) -> tuple:
    """What of an edge a tiling depends on: its geometry, and its weights' signs on two-row chips."""
    return e.key + ((hash(e.mixed.tobytes()),) if two_rows else ())


def _structure_key(view: View, node: Node, keys: dict, two_rows: bool, need_dest: bool) -> tuple | None:
    """Everything a node's tiling depends on; equal keys give equal tilings (unrolled copies)."""
    inc = tuple(sorted(tuple(sorted(_edge_key(e, two_rows) for e in g)) for g in view.groups(node.name)))
    out = []
    if need_dest:
        for e in view.outgoing[node.name]:
            k = keys.get(e.post)
            if k is None:
                return None
            out.append((e.key, k))
    return (node.shape, node.read_out and need_dest, node.table_rows, node.buffer_bits_per_neuron, inc,
            tuple(sorted(out)))


@dataclass
class Partition:
    """Tilings of every node and the violations found while tiling."""

    tilings: dict  # node name -> NodeTiling, in view order
    violations: list


def partition(view: View, limits: Limits, max_passes: int = 6) -> Partition:
    """Tile every node of ``view`` so that each tile fits one core of ``limits`` (crossbar chips).

    Nodes are tiled consumers first (reverse topological order), because how many cores a
    neuron feeds — hence its copies and output axons — depends on its consumers' tiles. The looped
    schedule's feedback makes this a cycle; it is iterated with destination counts that only grow,
    until no tiling changes, so every tile is measured against counts at least as large as its
    final ones.
    """
    violations: list[Violation] = []
    relaxed: dict[str, dict] = {}
    checked: dict[tuple, tuple] = {}
    for node in view.nodes:
        key = (node.shape, tuple(sorted(tuple(sorted(_edge_key(e, limits.two_rows) for e in g))
                                        for g in view.groups(node.name))))
        if key not in checked:
            checked[key] = neuron_violations(view, node, limits)
        v, r = checked[key]
        # Nodes of one structure share the check, but each hint names the node's own connections.
        edges = view.incoming[node.name]
        violations.extend(dataclasses.replace(x, population=node.population, iteration=node.iteration,
                                              hint=_hint_fanin(node, edges, x.value, x.limit, x.resource,
                                                               limits.two_rows)) for x in v)
        relaxed[node.name] = r
    need_dest = limits.needs_fanout
    tilings: dict[str, NodeTiling] = {}
    cache: dict[tuple, NodeTiling] = {}
    keys: dict[str, int] = {}
    prev_dest: dict[str, np.ndarray] = {}
    fanout: dict[str, list] = {}
    # Without fan-out limits a tiling does not depend on the consumers: one pass, no cycle to iterate.
    has_cycle = need_dest and (any(e.feedback for e in view.edges) or any(
        view.index.get(e.post, 1 << 30) <= view.index.get(e.pre, -1) for e in view.edges if not e.from_input))
    for _ in range(max_passes if has_cycle else 1):
        changed = False
        for node in reversed(view.nodes):
            key = None if has_cycle else _structure_key(view, node, keys, limits.two_rows, need_dest)
            if key is not None and key in cache:
                tilings[node.name] = cache[key]
                keys[node.name] = cache[key].fingerprint
                continue
            dest = _destinations(view, node, tilings) if need_dest else None
            if dest is not None and node.name in prev_dest:
                dest = np.maximum(dest, prev_dest[node.name])
                if np.array_equal(dest, prev_dest[node.name]) and node.name in tilings:
                    continue  # same destinations as last pass: same tiling
            extra = {}
            if dest is not None:
                changed = True
                prev_dest[node.name] = dest
                fanout[node.name], extra = fanout_violations(node, dest, limits)
            pop_dest = (_population_destinations(view, node, tilings, limits)
                        if dest is not None and limits.population_axons else None)
            ctx = _NodeContext(view, node, limits, dest, pop_dest)
            t = tile_node(ctx, {**relaxed[node.name], **extra})
            tilings[node.name] = t
            # Consumers are keyed by what their tiling *is*, so that the copies of an unrolled block
            # share one tiling as soon as their consumers' tilings are equal.
            t.fingerprint = hash((node.shape, t.tiles.c0.tobytes(), t.tiles.c1.tobytes(), t.tiles.r0.tobytes(),
                                  t.tiles.r1.tobytes(), t.tiles.q0.tobytes(), t.tiles.q1.tobytes()))
            keys[node.name] = t.fingerprint
            if key is not None:
                cache[key] = t
        if not changed:
            break
    ordered = {n.name: tilings[n.name] for n in view.nodes}
    violations += [v for n in view.nodes for v in fanout.get(n.name, ())]
    return Partition(tilings=ordered, violations=violations)


def fanout_violations(node: Node, dest: np.ndarray, limits: Limits) -> tuple[list[Violation], dict]:
    """Limits one neuron of ``node`` exceeds through its destinations alone: its fan-out copies must
    share its core (``⌈d / F⌉ > core.max_neurons``), or its output axons (``d > core.max_output_axons``).

    Returns the violations and the limits raised to tile ``node`` with (as :func:`neuron_violations`).
    """
    out, relaxed = [], {}
    where = (node.population, node.iteration)
    d = int(dest.max()) if dest.size else 0
    f = limits.max_fanout_cores
    copies = -(-d // int(f)) if f < INF else 1
    if copies > limits.max_neurons:
        out.append(Violation(*where, "copies", copies, limits.max_neurons,
                             f"a neuron feeds {d} cores and reaches {int(f)} per copy: its {copies} copies share its "
                             "core; give its consumers fewer, larger tiles (fewer channels or a smaller map), or "
                             "fewer consumers"))
        relaxed["neurons"] = copies
    if d > limits.max_output_axons:
        out.append(Violation(*where, "out_axons", d, limits.max_output_axons,
                             f"a neuron feeds {d} cores, one output axon each: fewer consumers, or consumers "
                             "with fewer, larger tiles", what="output axons per neuron"))
        relaxed["out_axons"] = d
    return out, relaxed
