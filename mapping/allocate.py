"""Allocate a spiking IR onto the cores of a chip model: partition, pack, place, check, report.

Three entry points (STYLE.md §4)::

    alloc = allocate(net, "loihi", schedule="auto")        # raises AllocationError if infeasible
    problems = find_violations(net, "truenorth")            # the same check, as a list
    lb = lower_bound_cores(net, "loihi", "unrolled")       # independent of the allocator

An infeasible allocation is still a complete result: :class:`AllocationError` carries it as
``exc.allocation`` so that a caller (the CLI) can write the report before exiting with code 3.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np

from itnet_neuro.errors import AllocationError, ValidationError
from mapping.bound import LIMIT_ATTR as _LIMIT_ATTR, lower_bound
from mapping.chip import INF, Limits, limits_of
from mapping.convlayer import assign_layers, has_block, layer_requirements
from mapping.pack import pack_classes
from mapping.partition import RESOURCES, _group_boxes, partition
from mapping.place import assign_chips, place
from mapping.schedule import DEFAULT_PHASE_TICKS, DEFAULT_STATE_BUFFER, SCHEDULES, build_view
from mapping.split import split_network
from mapping.view import View
from mapping.violations import Violation, merge_copies

_RESOURCE_NAME = {"local_bytes": "core memory (bytes)", "events": "synaptic events per tick per core",
                  "neurons": "neurons per core", "axons": "axons per core", "synapses": "synapses per core",
                  "syn_bytes": "synapse memory per core (bytes)", "out_axons": "output axons per core"}


def _load(chip):
    from hardware_models.spec import load_chip

    return load_chip(chip)


@dataclass
class Allocation:
    """The result of allocating one network on one chip under one schedule.

    Tile arrays (``tile_*``) have one entry per tile, core arrays (``core_*``) one per core; cores
    are numbered in placement order. ``tile_res`` / ``core_res`` hold ``neurons`` (with copies),
    ``own`` (without), ``axons``, ``synapses``, ``syn_bytes``, ``out_axons`` and ``mem_bytes``.
    """

    spec: object
    limits: Limits
    schedule: str
    schedule_reason: str
    view: View
    tile_node: np.ndarray
    tile_box: np.ndarray  # (T, 6): c0, c1, r0, r1, q0, q1
    tile_res: dict
    tile_core: np.ndarray
    core_chip: np.ndarray
    core_x: np.ndarray
    core_y: np.ndarray
    core_gx: np.ndarray
    core_gy: np.ndarray
    core_res: dict
    violations: list
    lower_bound: int
    lower_bound_detail: dict
    traffic: dict = field(default_factory=dict)
    seconds: float = 0.0
    alternatives: dict = field(default_factory=dict)
    phase_ticks: int = DEFAULT_PHASE_TICKS
    conv_layer: dict = field(default_factory=dict)
    #: How ``phase_ticks`` was chosen when it was measured (``allocate --phase-ticks auto``), else None.
    phase_choice: dict | None = None
    #: Nodes in which even one neuron exceeds a per-core limit (reported as violations): they are
    #: tiled with that limit raised to what one neuron needs, so their cores exceed it.
    unfit_nodes: tuple = ()
    #: Fan-in splitting (:mod:`mapping.split`): what was split, or None (nothing needed it, or refused).
    split: object | None = None
    #: The network as allocated: with its fan-in relays, unrolled for the unrolled schedule (None:
    #: the network given, as the schedule runs it).
    network: object | None = None

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def cores_used(self) -> int:
        """Cores on a chip (a conv-layer chip's unplaced layers have cores numbered after these, on no chip)."""
        return int((self.core_chip >= 0).sum())

    @property
    def chips_used(self) -> int:
        return int(self.core_chip.max()) + 1 if self.cores_used else 0

    @property
    def unplaced_layers(self) -> tuple:
        """Nodes whose core is on no chip: a conv-layer chip with fewer cores than the network has layers
        (``chip.max_chips``) leaves them out, so the cores used hold only part of the network."""
        if not self.cores_used and not self.core_chip.size:
            return ()
        off = self.core_chip[self.tile_core] < 0
        return tuple(dict.fromkeys(self.view.nodes[i].name for i in self.tile_node[off]))

    @property
    def ratio_to_lower_bound(self) -> float | None:
        """Cores used ÷ the lower bound; None when layers are unplaced (the cores are not an allocation
        of the whole network, so a ratio below 1 would only count what was left out)."""
        if self.unplaced_layers:
            return None
        return self.cores_used / max(self.lower_bound, 1)

    def per_layer(self) -> list[dict]:
        """Per node: tiles, cores, neurons (own and copies), axons, synapses, memory, utilization."""
        from mapping.report import per_layer

        return per_layer(self)

    def to_json(self) -> dict:
        """The ``alloc.json`` document as one dict (:func:`mapping.allocfile.to_dict`); to write it,
        :func:`mapping.allocfile.write` streams the cores instead."""
        from mapping import allocfile

        return allocfile.to_dict(allocfile.from_allocation(self))


# --------------------------------------------------------------------------------- lower bound

def _lower_bound(view: View, limits: Limits) -> tuple[int, dict]:
    """Cores no valid allocation can do with less (:func:`mapping.bound.lower_bound`)."""
    return lower_bound(view, limits)


def _split_view(net, schedule: str, limits: Limits, phase_ticks: int, state_buffer: str = DEFAULT_STATE_BUFFER,
                window_ticks: int | None = None, split: bool = True):
    """``(split network or None, SplitRecord or None, View)`` of ``net`` as allocated: with its fan-in
    relays unless ``split=False`` (:func:`mapping.split.split_network`), under ``state_buffer``."""
    kw = dict(state_buffer=state_buffer, window_ticks=window_ticks)
    run, record, view = split_network(net, schedule, limits, phase_ticks, **kw) if split else (None, None, None)
    if view is None:
        view = build_view(run if run is not None else net, schedule, limits, phase_ticks, **kw)
    return run, record, view


def lower_bound_cores(net, chip, schedule: str = "unrolled", *, phase_ticks: int = DEFAULT_PHASE_TICKS,
                      state_buffer: str = DEFAULT_STATE_BUFFER, split: bool = True) -> int:
    """Lower bound on the cores ``net`` needs on ``chip`` under ``schedule``, independent of the allocator.

    ``max`` over resources of ⌈network total / per-core limit⌉ (see :func:`_lower_bound`) of the
    network as allocated (with its fan-in relays unless ``split=False``); for ``"auto"`` the smaller
    of the allowed schedules.
    """
    spec = _load(chip)
    limits = limits_of(spec)
    if schedule == "auto":
        cands = ["unrolled"] + (["looped"] if limits.switchable and net.block is not None else [])
        return min(lower_bound_cores(net, spec, s, phase_ticks=phase_ticks, state_buffer=state_buffer, split=split)
                   for s in cands)
    _check_schedule(schedule)
    return _lower_bound(_split_view(net, schedule, limits, phase_ticks, state_buffer, split=split)[2], limits)[0]


# ------------------------------------------------------------------------------------- driver

def _check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise ValidationError(f"schedule {schedule!r}: must be one of {', '.join(SCHEDULES)}")


def _core_order(tile_core, n_cores):
    """Rank of each core in placement order: the order of its first tile (tiles are stored node by
    node in topological order, each node's in raster order: rows, columns, channels innermost)."""
    _, first = np.unique(tile_core, return_index=True)
    seq = tile_core[np.sort(first)]
    rank = np.empty(n_cores, np.int64)
    rank[seq] = np.arange(seq.size)
    return rank


def _unique_rows(mat: np.ndarray):
    """``np.unique(mat, axis=0, return_inverse=True)`` for non-negative integer rows, via one int64 key
    per row where the values allow it (sorting structured rows is ~50× slower)."""
    top = mat.max(axis=0) + 1 if mat.size else np.ones(mat.shape[1], np.int64)
    if float(np.prod(top.astype(np.float64))) < 2.0 ** 62:
        radix = np.concatenate([np.cumprod(top[::-1])[::-1][1:], [1]]).astype(np.int64)
        keys, first, inv = np.unique(mat @ radix, return_index=True, return_inverse=True)
        return mat[first], inv
    rows, inv = np.unique(mat, axis=0, return_inverse=True)
    return rows, inv.reshape(-1)


@dataclass
class Packing:
    """What the tiling and packing step hands to the rest of the allocation (one entry per tile/core).

    Tiles are stored node by node in view order; ``tile_box`` rows are ``(c0, c1, r0, r1, q0, q1)``.
    Cores are numbered in placement order; ``core_chip``/``core_x``/``core_y`` place them on the
    meshes (``core_gx``/``core_gy``: the chips tiled into one grid).

    Attributes
    ----------
    tile_node, tile_box, tile_res, tile_core : arrays (T,), (T, 6), dict of (T,), (T,)
    core_chip, core_x, core_y, core_gx, core_gy : arrays (K,)
    violations : list of Violation
        Found while tiling or assigning layers.
    unfit_nodes : tuple of int
        Indices of the nodes tiled with a limit raised to what one neuron needs (see
        :attr:`Allocation.unfit_nodes`).
    conv_layers : list of dict
        Conv-layer chips: per layer its memory words, destinations, chip and core slot.
    """

    tile_node: np.ndarray
    tile_box: np.ndarray
    tile_res: dict
    tile_core: np.ndarray
    core_chip: np.ndarray
    core_x: np.ndarray
    core_y: np.ndarray
    core_gx: np.ndarray
    core_gy: np.ndarray
    violations: list
    unfit_nodes: tuple = ()
    conv_layers: list = field(default_factory=list)

    @property
    def n_cores(self) -> int:
        return int(self.core_chip.shape[0])


def _crossbar(view: View, limits: Limits) -> Packing:
    """Tile every node (:func:`~mapping.partition.partition`), pack the tiles, place the cores."""
    part = partition(view, limits)
    nodes = list(part.tilings.values())
    tile_node = np.concatenate([np.full(len(t.tiles), i, np.int64) for i, t in enumerate(nodes)])
    tile_box = np.concatenate([np.stack([t.tiles.c0, t.tiles.c1, t.tiles.r0, t.tiles.r1, t.tiles.q0, t.tiles.q1],
                                        axis=1) for t in nodes])
    keys = list(nodes[0].tiles.res)
    tile_res = {k: np.concatenate([t.tiles.res[k] for t in nodes]).astype(np.int64) for k in keys}
    lim = np.array([getattr(limits, _LIMIT_ATTR[k]) for k in RESOURCES], np.float64)
    # Distinct tile resource vectors per tiling (unrolled copies share theirs), then over the network.
    local: dict[int, tuple] = {}
    class_id: dict[tuple, int] = {}
    inverse = []
    for t in nodes:
        if id(t.tiles) not in local:
            mat = np.stack([t.tiles.res[k] for k in RESOURCES], axis=1).astype(np.int64)
            rows, inv = _unique_rows(mat)
            ids = np.array([class_id.setdefault(tuple(r), len(class_id)) for r in rows.tolist()], np.int64)
            local[id(t.tiles)] = ids[inv.reshape(-1)]
        inverse.append(local[id(t.tiles)])
    classes = np.array(list(class_id), np.int64).reshape(len(class_id), len(RESOURCES))
    core = pack_classes(classes, np.concatenate(inverse), lim)
    n_cores = int(core.max()) + 1
    core = _core_order(core, n_cores)[core]
    core_mem = np.bincount(core, weights=tile_res["mem_bytes"], minlength=n_cores)
    core_chip = assign_chips(core_mem, limits)
    x, y, gx, gy = place(core_chip, limits)
    unfit = tuple(i for i, t in enumerate(nodes) if t.relaxed)
    return Packing(tile_node, tile_box, tile_res, core, core_chip, x, y, gx, gy, list(part.violations), unfit)


def _conv(view: View, limits: Limits) -> Packing:
    """One layer per core (:mod:`mapping.convlayer`): match layers to cores of fitting memory, place them.

    A pooled node (a layer's pooled output) sits on its producer's core; an unplaced layer on a core
    of its own that is on no chip (``core_chip = -1``, after every placed core: see
    :attr:`Allocation.cores_used`).
    """
    reqs, violations = layer_requirements(view, limits)
    chip, slot, v2 = assign_layers(reqs, limits, has_block(view))
    violations += v2
    n = len(view.nodes)
    tile_node = np.arange(n, dtype=np.int64)
    tile_box = np.array([[0, nd.shape[0], 0, nd.shape[1], 0, nd.shape[2]] for nd in view.nodes], np.int64).reshape(n, 6)
    own = np.array([nd.size for nd in view.nodes], np.int64)
    syn = np.array([sum(e.synapses for e in view.incoming[nd.name]) for nd in view.nodes], np.int64)
    tile_res = {"neurons": own, "own": own, "axons": np.zeros(n, np.int64), "synapses": syn,
                "syn_bytes": np.zeros(n, np.int64), "out_axons": np.array([r["destinations"] for r in reqs]),
                "mem_bytes": np.zeros(n, np.int64),
                "kernel_words": np.array([r["kernel_words"] for r in reqs], np.int64),
                "neuron_words": np.array([r["neuron_words"] for r in reqs], np.int64)}
    layer = np.array([r["pooled_into"] is None for r in reqs], bool)
    placed = layer & (chip >= 0)
    # Cores: placed layers by (chip, slot), then the unplaced ones; a pooled node joins its producer.
    order = np.flatnonzero(placed)[np.lexsort((slot[placed], chip[placed]))]
    order = np.concatenate([order, np.flatnonzero(layer & ~placed)])
    core = np.full(n, -1, np.int64)
    core[order] = np.arange(order.size)
    for i, r in enumerate(reqs):
        if r["pooled_into"] is not None:
            core[i] = core[view.index[r["pooled_into"]]]
            chip[i], slot[i] = chip[view.index[r["pooled_into"]]], slot[view.index[r["pooled_into"]]]
    for r, c, sl in zip(reqs, chip, slot):
        r["chip"], r["core_slot"] = int(c), int(sl)
    core_chip = chip[order]
    k = int(placed.sum())
    x, y, gx, gy = (np.zeros(order.size, np.int64) for _ in range(4))
    if k:
        x[:k], y[:k], gx[:k], gy[:k] = place(core_chip[:k], limits, slot[order[:k]])
    return Packing(tile_node, tile_box, tile_res, core, core_chip, x, y, gx, gy, violations, conv_layers=reqs)


def _traffic(view: View, tile_node, tile_box, tile_core, gx, gy, rates, seed: int = 0,
             max_samples: int = 1_000_000, core_chip=None) -> dict:
    """Estimated spikes × hops per tick, for this placement and for a random one; and the spikes per tick
    that cross from one chip to another (``inter_chip_spikes``, of ``spikes`` delivered to cores in all).

    Each consumer tile receives ``axons × rate`` spikes per tick from each presynaptic node; they are
    counted as travelling from the core of the producer tile at the centre of its receptive field.
    Beyond ``max_samples`` consumer tiles in all, every node is estimated from the same seeded random
    fraction of its tiles.
    """
    rng = np.random.default_rng(seed)
    if tile_core.size == 0:
        return {"spike_hops": 0.0, "spike_hops_random": 0.0, "rates": "none"}
    bounds = np.searchsorted(tile_node, np.arange(len(view.nodes) + 1))  # tiles are stored node by node
    span = {n.name: (int(bounds[i]), int(bounds[i + 1])) for i, n in enumerate(view.nodes)}
    cons, prod, weight = [], [], []
    labels: dict = {}
    fraction = min(1.0, max_samples / max(tile_node.size, 1))
    for node in view.nodes:
        a, b = span[node.name]
        if a == b:
            continue
        q_idx = np.arange(a, b)
        scale = 1.0
        if fraction < 1.0 and q_idx.size > 20:
            k = max(20, int(q_idx.size * fraction))
            q_idx = np.sort(rng.choice(q_idx, k, replace=False))
            scale = (b - a) / k
        bx = tile_box[q_idx]
        for g in view.groups(node.name):
            if g[0].from_input:
                continue
            pre = view.node(g[0].pre)
            pa, pb = span[pre.name]
            key = (pre.shape, pb - pa, hash(tile_box[pa:pb].tobytes()))
            if key not in labels:
                if len(labels) >= 48:
                    labels.pop(next(iter(labels)))
                labels[key] = _label_volume(pre.shape, tile_box[pa:pb])
            label = labels[key]
            lo_c, hi_c, lo_r, hi_r, lo_q, hi_q = _group_boxes(g, bx[:, 0], bx[:, 1], bx[:, 2], bx[:, 3], bx[:, 4],
                                                              bx[:, 5])
            ok = (hi_c > lo_c) & (hi_r > lo_r) & (hi_q > lo_q)
            if not ok.any():
                continue
            vol = ((hi_c - lo_c) * (hi_r - lo_r) * (hi_q - lo_q))[ok]
            local = label[((lo_c + hi_c - 1) // 2)[ok], ((lo_r + hi_r - 1) // 2)[ok], ((lo_q + hi_q - 1) // 2)[ok]]
            cons.append(tile_core[q_idx[ok]])
            prod.append(tile_core[pa + local])
            weight.append(vol * (_rate(rates, pre) * scale))
    if not cons:
        return {"spike_hops": 0.0, "spike_hops_random": 0.0, "rates": "calibration" if rates else "uniform"}
    cons, prod, weight = np.concatenate(cons), np.concatenate(prod), np.concatenate(weight)

    def total(x, y):
        return float((weight * (np.abs(x[cons] - x[prod]) + np.abs(y[cons] - y[prod]))).sum())

    perm = rng.permutation(gx.size)
    return {"spike_hops": total(gx, gy), "spike_hops_random": total(gx[perm], gy[perm]),
            **_inter_chip(cons, prod, weight, core_chip),
            "rates": "calibration" if rates else "uniform (1 spike/neuron/tick: relative figure)"}


def _inter_chip(cons, prod, weight, core_chip) -> dict:
    """Spikes per tick delivered to cores (``spikes``) and those whose producer core sits on another chip
    (``inter_chip_spikes``); cores on no chip (a conv-layer chip's unplaced layers) are left out of both."""
    if core_chip is None:
        return {}
    chip = np.asarray(core_chip)
    on = (chip[cons] >= 0) & (chip[prod] >= 0)
    cross = on & (chip[cons] != chip[prod])
    return {"spikes": float(weight[on].sum()), "inter_chip_spikes": float(weight[cross].sum())}


def _label_volume(shape, boxes: np.ndarray) -> np.ndarray:
    """Index of the tile holding each neuron of a node whose tiles ``boxes`` partition it."""
    c, h, w = shape
    diff = np.zeros((c + 1) * (h + 1) * (w + 1), np.float64)
    val = np.arange(1, boxes.shape[0] + 1, dtype=np.float64)
    for ci, sc in ((boxes[:, 0], 1), (boxes[:, 1], -1)):
        for ri, sr in ((boxes[:, 2], 1), (boxes[:, 3], -1)):
            for qi, sq in ((boxes[:, 4], 1), (boxes[:, 5], -1)):
                flat = (ci * (h + 1) + ri) * (w + 1) + qi
                diff += sc * sr * sq * np.bincount(flat, weights=val, minlength=diff.size)
    vol = np.rint(diff.reshape(c + 1, h + 1, w + 1).cumsum(0).cumsum(1).cumsum(2)[:c, :h, :w])
    return (vol - 1).astype(np.int32)


def _rate(rates, node) -> float:
    if not rates:
        return 1.0
    for key in (node.name, node.population):
        if key in rates:
            return float(np.mean(rates[key]))
    return float(np.mean(list(rates.values()))) if rates else 1.0


def _limit_violations(p: Packing, limits: Limits, block: bool = True) -> list[Violation]:
    """Limits of the packed result: every per-core limit, the chip count, the chips' shared memory."""
    out = []
    core_res = _core_res(p)
    # A tile over a per-core limit exists only where a single neuron needs more than a core has
    # (already reported with its hint), so only other cores are checked.
    if limits.architecture != "conv-layer":
        flagged = np.zeros(p.n_cores, bool)
        if p.unfit_nodes:
            flagged[np.unique(p.tile_core[np.isin(p.tile_node, list(p.unfit_nodes))])] = True
        for k in RESOURCES:
            lim = getattr(limits, _LIMIT_ATTR[k])
            over = (core_res[k] > lim) & ~flagged
            if over.any():  # pragma: no cover - an allocator bug, reported rather than hidden
                i = int(np.flatnonzero(over)[0])
                out.append(Violation(f"core {i}", None, k, int(core_res[k][i]), lim,
                                     "internal allocator error: please report it", what=_RESOURCE_NAME[k]))
    n_chips = int(p.core_chip.max()) + 1 if p.n_cores else 0
    if n_chips > limits.max_chips:
        fix = "use the looped schedule, fewer iterations, " if block else ""
        out.append(Violation("(network)", None, "chips", n_chips, limits.max_chips,
                             f"the network needs more chips than one system tiles: {fix}a smaller input or "
                             "fewer channels"))
    if limits.architecture != "conv-layer" and limits.shared_memory_bytes < INF:
        big = core_res["mem_bytes"] > limits.shared_memory_bytes
        if big.any():
            out.append(Violation("(network)", None, "shared_memory", int(core_res["mem_bytes"].max()),
                                 limits.shared_memory_bytes, "smaller tiles or fewer per-iteration parameter rows"))
    return out


def _core_res(p: Packing) -> dict:
    return {k: np.bincount(p.tile_core, weights=v, minlength=p.n_cores).astype(np.int64) for k, v in p.tile_res.items()}


def _run(net, spec, schedule: str, phase_ticks: int, rates, state_buffer: str = DEFAULT_STATE_BUFFER,
         window_ticks: int | None = None, split: bool = True) -> Allocation:
    t0 = time.perf_counter()
    limits = limits_of(spec)
    run, record, view = _split_view(net, schedule, limits, phase_ticks, state_buffer, window_ticks, split)
    view.set_rates(rates)
    if limits.max_events_per_tick < INF and not rates:
        view.notes.append(f"synaptic events per tick not checked against {spec.name}'s real-time budget "
                          "(core.synaptic_events_per_second): no rates given (itnet-neuro allocate measures them "
                          "on calibration images)")
    violations: list[Violation] = []
    if schedule == "looped" and net.block is not None and not limits.switchable:
        violations.append(Violation("(schedule)", None, "switchable", 1, None,
                                    f"{spec.name} cannot rewrite thresholds/biases between phases "
                                    "(neuron.parameters_switchable_at_runtime = false): use --schedule unrolled"))
    p = _conv(view, limits) if limits.architecture == "conv-layer" else _crossbar(view, limits)
    unrolled_block = has_block(view) and view.schedule != "looped"  # the looped schedule is a fix to offer
    violations = merge_copies(violations + _split_hints(p.violations, record, split)
                              + _limit_violations(p, limits, unrolled_block))
    lb, detail = _lower_bound(view, limits)
    violations = _chips_from_bound(violations, lb, limits)
    traffic = _traffic(view, p.tile_node, p.tile_box, p.tile_core, p.core_gx, p.core_gy, rates,
                       core_chip=p.core_chip)
    alloc = Allocation(spec=spec, limits=limits, schedule=schedule, schedule_reason="", view=view,
                       tile_node=p.tile_node, tile_box=p.tile_box, tile_res=p.tile_res, tile_core=p.tile_core,
                       core_chip=p.core_chip, core_x=p.core_x, core_y=p.core_y, core_gx=p.core_gx,
                       core_gy=p.core_gy, core_res=_core_res(p), violations=violations, lower_bound=lb,
                       lower_bound_detail=detail, traffic=traffic, phase_ticks=int(phase_ticks),
                       conv_layer={"layers": p.conv_layers} if p.conv_layers else {},
                       unfit_nodes=tuple(view.nodes[i].name for i in p.unfit_nodes), split=record, network=run)
    alloc.seconds = time.perf_counter() - t0
    return alloc


def _chips_from_bound(violations: list[Violation], lb: int, limits: Limits) -> list[Violation]:
    """The chip-count violation with the chips that the lower bound alone needs (no allocation needs fewer)."""
    if limits.cores_per_chip >= INF or limits.architecture == "conv-layer":
        return violations
    need = math.ceil(lb / limits.cores_per_chip)
    return [dataclasses.replace(v, hint=f"no allocation fits on fewer than {need:,} chips (lower bound {lb:,} cores); "
                                + v.hint) if v.resource == "chips" else v for v in violations]


#: Violations fan-in splitting addresses (one neuron needs more than a core feeds it).
_FANIN_RESOURCES = ("fan_in", "axons", "synapses", "syn_bytes")


def _split_hints(violations: list[Violation], record, split: bool) -> list[Violation]:
    """Per-neuron violations with what fan-in splitting did: refused (``split=False``) or why it could not."""
    if split and record is None:
        return violations
    why = {} if record is None else {(u["population"], u["iteration"]): u["reason"] for u in record.unsplit}
    out = []
    for v in violations:
        if v.resource not in _FANIN_RESOURCES or v.population.startswith(("(", "core ")):
            out.append(v)
        elif not split:
            out.append(dataclasses.replace(v, hint=v.hint + "; or let allocate split its fan-in over relay neurons "
                                                          "(without --no-split)"))
        else:
            reason = why.get((v.population, v.iteration))
            out.append(v if reason is None else dataclasses.replace(v, hint=f"fan-in splitting cannot: {reason}; "
                                                                          + v.hint))
    return out


def _summary(a: Allocation) -> dict:
    return {"feasible": a.feasible, "cores_used": a.cores_used, "chips_used": a.chips_used,
            "lower_bound_cores": a.lower_bound, "violations": len(a.violations)}


def plan(net, chip, schedule: str = "auto", *, phase_ticks: int = DEFAULT_PHASE_TICKS,
         rates: dict | None = None, state_buffer: str = DEFAULT_STATE_BUFFER,
         window_ticks: int | None = None, split: bool = True) -> Allocation:
    """Allocate and return the result, feasible or not (never raises for infeasibility).

    Parameters
    ----------
    net : itnet_neuro.ir.Network
    chip : str, path or ChipSpec
        A packaged chip name, a chip TOML path, or a loaded spec.
    schedule : {"auto", "looped", "unrolled"}
        ``auto`` allocates both (looped only where the chip can switch neuron parameters at run
        time) and keeps the feasible one with fewer cores; ``schedule_reason`` says why.
    phase_ticks : int
        T, ticks per phase of the looped schedule (sizes its state buffer).
    rates : dict, optional
        Population name → mean spikes per neuron per tick (calibration), for the traffic estimate.
    state_buffer : {"regenerate", "replay"}
        What carries the state between looped phases (:mod:`mapping.schedule`).
    window_ticks : int, optional
        Rate window of the regenerating buffer (default :func:`mapping.schedule.default_window`).
    split : bool
        Split the fan-in of neurons that need more inputs than a core can feed them over relay
        neurons (:mod:`mapping.split`; the allocation then holds the split network and records it);
        False: report those neurons as violations instead.
    """
    _check_schedule(schedule)
    run = functools.partial(_run, rates=rates, state_buffer=state_buffer, window_ticks=window_ticks, split=split)
    if int(phase_ticks) < 1:
        raise ValidationError(f"phase_ticks must be >= 1, got {phase_ticks}")
    spec = _load(chip)
    limits = limits_of(spec)
    if schedule != "auto":
        a = run(net, spec, schedule, phase_ticks)
        a.schedule_reason = f"requested (--schedule {schedule})"
        if net.block is None:
            a.schedule_reason += "; the network has no iterative block, so both schedules are the same"
        return a
    if net.block is None:
        a = run(net, spec, "unrolled", phase_ticks)
        a.schedule_reason = "the network has no iterative block: looped and unrolled are the same"
        return a
    unrolled = run(net, spec, "unrolled", phase_ticks)
    if not limits.switchable:
        unrolled.schedule_reason = (f"unrolled: looped is not possible on {spec.name} (its neuron parameters "
                                    "cannot change at run time: neuron.parameters_switchable_at_runtime = false)")
        return unrolled
    looped = run(net, spec, "looped", phase_ticks)
    if looped.feasible and (not unrolled.feasible or looped.cores_used <= unrolled.cores_used):
        best, other = looped, unrolled
        why = (f"looped: {looped.cores_used} cores vs {unrolled.cores_used} unrolled"
               + ("" if unrolled.feasible else " (unrolled is infeasible)")
               + f"; the block's {net.block.iterations} iterations share one copy, output n after n phases of "
               f"{phase_ticks} ticks")
    elif unrolled.feasible:
        best, other = unrolled, looped
        why = (f"unrolled: {unrolled.cores_used} cores vs {looped.cores_used} looped"
               + ("" if looped.feasible else " (looped is infeasible: "
                  + "; ".join(str(v) for v in looped.violations[:2]) + ")"))
    else:
        best, other = (looped, unrolled) if len(looped.violations) <= len(unrolled.violations) else (unrolled, looped)
        why = f"neither schedule fits {spec.name}; showing {best.schedule} (fewer violations)"
    best.schedule_reason = why
    best.alternatives = {other.schedule: _summary(other), best.schedule: _summary(best)}
    return best


def allocate(net, chip, schedule: str = "auto", *, phase_ticks: int = DEFAULT_PHASE_TICKS,
             rates: dict | None = None, state_buffer: str = DEFAULT_STATE_BUFFER, split: bool = True) -> Allocation:
    """Allocate ``net`` on ``chip``; raise :class:`~itnet_neuro.errors.AllocationError` if infeasible.

    The error lists every :class:`~mapping.violations.Violation` and carries the complete result as
    ``exc.allocation`` (for the report). Parameters as :func:`plan`.
    """
    a = plan(net, chip, schedule, phase_ticks=phase_ticks, rates=rates, state_buffer=state_buffer, split=split)
    if not a.feasible:
        exc = AllocationError(a.violations, f"allocation on {a.spec.name} ({a.schedule}) infeasible: "
                              f"{len(a.violations)} violation(s); first: {a.violations[0]}")
        exc.allocation = a
        raise exc
    return a


def find_violations(net, chip, schedule: str = "auto", *, phase_ticks: int = DEFAULT_PHASE_TICKS,
                    state_buffer: str = DEFAULT_STATE_BUFFER, split: bool = True) -> list[Violation]:
    """Every reason ``net`` does not fit ``chip`` under ``schedule`` (empty: it fits)."""
    return list(plan(net, chip, schedule, phase_ticks=phase_ticks, state_buffer=state_buffer, split=split).violations)
