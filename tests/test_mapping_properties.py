"""Property tests of the allocator against brute-force references (hypothesis over random networks and chips).

The reference recomputes, neuron by neuron and tap by tap from the IR connections, what every tile
needs: its neurons, its synapses, its distinct presynaptic neurons (input axons, with the two-row
rule) and how many consumer tiles each neuron feeds. The allocator must place every neuron and
every synapse exactly once, never under-count what a tile needs, and never put more on a core than
the chip allows — or report a violation instead of crashing.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itnet_neuro.ir.examples import tiny_iterative_network
from mapping.allocate import plan
from mapping.chip import INF
from mapping.testing import random_chip, random_network

SETTINGS = dict(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ----------------------------------------------------------------------------- brute-force reference

def _axis_taps(o, n_in, k, s, before):
    return [o * s - before + i for i in range(k) if 0 <= o * s - before + i < n_in]


def _resize_src(o, n_out, n_in, mode):
    centre = (o + 0.5) * n_in / n_out
    if mode == "nearest":
        return [min(max(int(math.floor(centre)), 0), n_in - 1)]
    f = int(math.floor(centre - 0.5))
    return sorted({min(max(f, 0), n_in - 1), min(max(f + 1, 0), n_in - 1)})


def receptive_field(conn, pre_shape, post_shape, c, y, x):
    """Presynaptic neurons ``(ci, yi, xi)`` of post neuron ``(c, y, x)`` and its synapse count."""
    cp, hp, wp = pre_shape
    _, h, w = post_shape
    rel = c - conn.post_offset
    if not 0 <= rel < conn.out_channels:
        return set(), 0
    op = conn.op
    if op == "dense":
        return {(ci, yi, xi) for ci in range(cp) for yi in range(hp) for xi in range(wp)}, cp * hp * wp
    if op in ("conv2d", "depthwise", "avgpool"):
        (kh, kw), (sh, sw), pad = conn.kernel, conn.stride, conn.padding
        rows, cols = _axis_taps(y, hp, kh, sh, pad[0]), _axis_taps(x, wp, kw, sw, pad[2])
        if op == "conv2d":
            cin_g = cp // conn.groups
            g = rel // (conn.out_channels // conn.groups)
            chans = range(g * cin_g, (g + 1) * cin_g)
        elif op == "depthwise":
            chans = [rel // (conn.out_channels // cp)]
        else:
            chans = [rel]
        pres = {(ci, yi, xi) for ci in chans for yi in rows for xi in cols}
        return pres, len(pres)
    if op == "resize":
        pres = {(rel, yi, xi) for yi in _resize_src(y, h, hp, conn.mode) for xi in _resize_src(x, w, wp, conn.mode)}
        return pres, 4 if conn.mode == "bilinear" else 1  # the IR's structural count (Network.synapses)
    return {(rel, y, x)}, 1  # identity


def _mixed(conn, pre_channels):
    w = np.asarray(conn.weight)
    out = np.zeros(pre_channels, bool)
    if conn.op == "conv2d":
        per_g, cin_g = conn.out_channels // conn.groups, pre_channels // conn.groups
        for ci in range(pre_channels):
            g = ci // cin_g
            v = w[g * per_g:(g + 1) * per_g, ci - g * cin_g]
            out[ci] = (v > 0).any() and (v < 0).any()
    elif conn.op == "depthwise":
        m = conn.out_channels // pre_channels
        for ci in range(pre_channels):
            v = w[ci * m:(ci + 1) * m]
            out[ci] = (v > 0).any() and (v < 0).any()
    elif conn.op == "dense":
        v = w.reshape(w.shape[0], pre_channels, -1)
        out = (v > 0).any(axis=(0, 2)) & (v < 0).any(axis=(0, 2))
    return out


def _allocated(net, alloc):
    """The network the allocation holds: with its fan-in relays where it split any, as the schedule runs it."""
    if alloc.network is not None:
        return alloc.network
    return net.unroll() if alloc.schedule == "unrolled" else net


class Reference:
    """Brute-force needs of every tile of an allocation, from the IR connections."""

    def __init__(self, net, alloc):
        self.alloc = alloc
        view = alloc.view
        source = _allocated(net, alloc)
        self.conns = {c.name: c for c in source.connections}
        self.view = view
        self.nodes = view.nodes
        self.tiles_of = {n.name: np.flatnonzero(alloc.tile_node == i) for i, n in enumerate(view.nodes)}

    def conn_of(self, edge):
        c = self.conns.get(edge.name)
        if c is None:  # a relay stage of the looped state buffer: one-to-one, gain 1
            from itnet_neuro.ir import Connection

            c = Connection("relay", "a", "b", "identity", np.ones(edge.pre_shape[0]))
        return c

    def tile_cells(self, t):
        c0, c1, r0, r1, q0, q1 = self.alloc.tile_box[t]
        return [(c, y, x) for c in range(c0, c1) for y in range(r0, r1) for x in range(q0, q1)]

    def tile_inputs(self, t, two_rows, population=None):
        """(synapses, inputs, mixed) of tile ``t``: distinct (pre, neuron) inputs, and those with both signs;
        ``population`` True / False: only the edges that are / are not population edges (Loihi)."""
        from mapping.synmem import is_population

        node = self.nodes[int(self.alloc.tile_node[t])]
        syn, axons = 0, set()
        mixed_pairs = set()
        for e in self.view.incoming[node.name]:
            if population is not None and is_population(e, self.alloc.limits) != population:
                continue
            conn = self.conn_of(e)
            mixed = _mixed(conn, e.pre_shape[0]) if two_rows else None
            for cell in self.tile_cells(t):
                pres, n = receptive_field(conn, e.pre_shape, e.post_shape, *cell)
                syn += n
                for p in pres:
                    axons.add((e.pre, p))
                    if two_rows and mixed[p[0]]:
                        mixed_pairs.add((e.pre, p))
        return syn, axons, mixed_pairs

    def tile_needs(self, t, two_rows):
        """(synapses, axons) of tile ``t``: distinct (pre, neuron) inputs, two for a mixed-sign input."""
        syn, axons, mixed_pairs = self.tile_inputs(t, two_rows)
        if self.alloc.limits.population_axons:  # one axon per (population edge, input pixel)
            node = self.nodes[int(self.alloc.tile_node[t])]
            pixels = set()
            from mapping.synmem import is_population

            for e in self.view.incoming[node.name]:
                if is_population(e, self.alloc.limits):
                    conn = self.conn_of(e)
                    for cell in self.tile_cells(t):
                        pres, _ = receptive_field(conn, e.pre_shape, e.post_shape, *cell)
                        pixels |= {(e.name, p[1], p[2]) for p in pres}
            _, discrete, _ = self.tile_inputs(t, two_rows, population=False)
            return syn, len(discrete) + len(pixels) + len(mixed_pairs)
        return syn, len(axons) + len(mixed_pairs)

    def destinations(self, node, population=None):
        """Per neuron of ``node``: consumer tiles whose neurons it feeds (+1 if read out);
        ``population`` True / False: through population edges only (not read out) / the others only."""
        from mapping.synmem import is_population

        d = np.zeros(node.shape, np.int64)
        by_post = {}
        for e in self.view.outgoing[node.name]:
            if population is None or is_population(e, self.alloc.limits) == population:
                by_post.setdefault(e.post, []).append(e)
        for post, edges in by_post.items():
            if post in self.alloc.unfit_nodes:  # counted once: it has no tiling a chip could run
                d += 1
                continue
            for t in self.tiles_of[post]:
                seen = set()  # two edges from one node into one tile feed it through the same axon
                for e in edges:
                    conn = self.conn_of(e)
                    for cell in self.tile_cells(t):
                        seen |= receptive_field(conn, e.pre_shape, e.post_shape, *cell)[0]
                for p in seen:
                    d[p] += 1
        return d + (1 if node.read_out and not population else 0)

    def out_axons(self, node, box):
        """Output-axon slots of the tile ``box`` of ``node``: one per neuron and destination core; with
        population axons, ``population_out_slots`` per pixel and destination of its population edges
        (every tile holding channels of the pixel sends them)."""
        c0, c1, r0, r1, q0, q1 = box
        if not self.alloc.limits.population_axons:
            return int(self.destinations(node)[c0:c1, r0:r1, q0:q1].sum())
        rest = self.destinations(node, population=False)[c0:c1, r0:r1, q0:q1].sum()
        pix = self.destinations(node, population=True).max(axis=0)[r0:r1, q0:q1].sum()
        return int(rest + self.alloc.limits.population_out_slots * pix)


def check_allocation(net, alloc, *, brute_force=True):
    lim = alloc.limits
    view = alloc.view
    box = alloc.tile_box
    # 1. Every neuron exactly once: the tiles of a node partition it.
    for i, node in enumerate(view.nodes):
        cover = np.zeros(node.shape, np.int64)
        for t in np.flatnonzero(alloc.tile_node == i):
            c0, c1, r0, r1, q0, q1 = box[t]
            assert c0 < c1 and r0 < r1 and q0 < q1
            cover[c0:c1, r0:r1, q0:q1] += 1
        assert (cover == 1).all(), f"{node.name}: neurons placed {cover.min()}..{cover.max()} times"
    assert int(alloc.tile_res["own"].sum()) == view.n_neurons
    # 2. Every synapse exactly once: the tiles' synapses add up to the IR's count.
    source = _allocated(net, alloc)
    ir_synapses = sum(source.synapses(c) for c in source.connections)
    relay = sum(e.synapses for e in view.edges if e.name not in {c.name for c in source.connections})
    assert int(alloc.tile_res["synapses"].sum()) == ir_synapses + relay
    # 3. Every tile on exactly one core, every core on a chip within the chip's mesh.
    assert alloc.tile_core.min() >= 0 and np.unique(alloc.tile_core).size == alloc.cores_used
    if lim.cores_per_chip < INF:
        assert np.bincount(alloc.core_chip).max() <= lim.cores_per_chip
        assert alloc.core_x.max() < lim.mesh_cols and alloc.core_y.max() < lim.mesh_rows
    # 4. No per-core limit exceeded, except on cores holding a layer reported as not fitting one neuron.
    unfit = set(alloc.unfit_nodes)
    flagged_layers = {v.population for v in alloc.violations}
    assert {view.node(n).population for n in unfit} <= flagged_layers
    for k, attr in (("neurons", "max_neurons"), ("axons", "max_axons"), ("synapses", "max_synapses"),
                    ("syn_bytes", "synapse_memory_bytes"), ("out_axons", "max_output_axons")):
        over = np.flatnonzero(alloc.core_res[k] > getattr(lim, attr))
        for core in over:
            nodes = {view.nodes[int(alloc.tile_node[t])].name for t in np.flatnonzero(alloc.tile_core == core)}
            assert nodes & unfit, f"core {core}: {k} {alloc.core_res[k][core]} > {getattr(lim, attr)}"
    # 5. The allocator never under-counts a tile's needs (brute force over every neuron and tap).
    if brute_force:
        ref = Reference(net, alloc)
        for t in range(len(alloc.tile_core)):
            syn, axons = ref.tile_needs(t, lim.two_rows)
            assert alloc.tile_res["synapses"][t] == syn
            assert alloc.tile_res["axons"][t] >= axons
        if lim.needs_fanout:
            for i, node in enumerate(view.nodes):
                d = ref.destinations(node)
                f = lim.max_fanout_cores
                copies = np.maximum(1, -(-d // int(f))) if f < INF else np.ones_like(d)
                for t in np.flatnonzero(alloc.tile_node == i):
                    c0, c1, r0, r1, q0, q1 = box[t]
                    assert alloc.tile_res["neurons"][t] >= copies[c0:c1, r0:r1, q0:q1].sum()
                    assert alloc.tile_res["out_axons"][t] >= ref.out_axons(node, box[t])
    # 6. The allocator is measured against a bound it cannot beat.
    assert alloc.cores_used >= alloc.lower_bound or not alloc.feasible
    # 7. alloc.json's axon records: as many axons as each core counts, covering every input of its tiles.
    check_axon_records(alloc, Reference(net, alloc) if brute_force else None)


def check_axon_records(alloc, ref):
    """Σ record sizes = the core's axons; every presynaptic neuron a tile reads (brute force) enters
    its core through a record of that tile, a mixed-sign one through both rows on two-rows chips."""
    from mapping.axons import iter_core_records

    view = alloc.view
    node_of = {(n.population if n.kind == "population" else n.name, n.iteration): n.name for n in view.nodes}
    for core in iter_core_records(alloc):
        assert sum(r.size for r in core.axons) == core.n_axons == alloc.core_res["axons"][core.id]
        if ref is None or alloc.limits.architecture == "conv-layer":
            continue
        tiles = np.flatnonzero(alloc.tile_core == core.id)
        entered = set()
        for r in core.axons:
            c0, c1, r0, r1, q0, q1 = r.box
            pre = node_of.get((r.source, r.iteration), r.source)
            entered |= {(int(tiles[r.tile]), pre, (c, y, x), r.sign)
                        for c in range(c0, c1) for y in range(r0, r1) for x in range(q0, q1)}
        for t in tiles.tolist():
            _, inputs, mixed = ref.tile_inputs(t, alloc.limits.two_rows)
            for pre, p in inputs:
                rows = {s for s in (-1, 0, 1) if (t, pre, p, s) in entered}
                assert rows == {-1, 1} if (pre, p) in mixed else rows, (core.id, t, pre, p, rows)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), schedule=st.sampled_from(["looped", "unrolled", "auto"]))
def test_random_networks_on_random_chips(seed, schedule):
    rng = np.random.default_rng(seed)
    net = random_network(rng, max_layers=3, max_channels=6, max_hw=7)
    chip = random_chip(rng)
    alloc = plan(net, chip, schedule, phase_ticks=int(rng.integers(1, 30)))  # infeasible → violations, no crash
    for v in alloc.violations:
        assert v.layer and v.resource and v.hint
    check_allocation(net, alloc)
    if alloc.schedule == "looped" and net.block is not None and not chip.neuron.parameters_switchable_at_runtime:
        assert any(v.layer == "(schedule)" for v in alloc.violations)


@pytest.mark.parametrize("chip", ["truenorth", "loihi", "loihi2", "spinnaker", "spinnaker2", "brainscales1",
                                  "brainscales2", "ideal"])
def test_every_packaged_crossbar_chip_respects_its_limits(chip):
    from hardware_models.spec import list_chips

    if chip not in list_chips():
        pytest.skip(f"{chip} is not packaged")
    net = tiny_iterative_network(height=10, width=12, channels=6)
    for schedule in ("unrolled", "looped"):
        check_allocation(net, plan(net, chip, schedule, phase_ticks=20))


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_random_networks_on_packaged_chips(seed):
    from hardware_models.spec import list_chips

    rng = np.random.default_rng(seed)
    net = random_network(rng, max_layers=3, max_channels=6, max_hw=7)
    chip = str(rng.choice(list_chips()))
    alloc = plan(net, chip, "auto", phase_ticks=10)
    if alloc.limits.architecture == "conv-layer":
        assert alloc.cores_used == len(alloc.view.nodes)
        return
    check_allocation(net, alloc, brute_force=False)
