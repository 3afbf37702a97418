"""The cores of an allocation as records: tiles and the explicit input-axon list of every core.

A core's input axons are counted by the partitioner (:mod:`mapping.partition`): per tile and
presynaptic node, the bounding box of the tile's receptive fields in that node
(:func:`~mapping.partition._group_boxes`), × 2 for the channels whose weights into the tile have
both signs on ``"two-rows"`` chips. The records here come from the same computation, so their
sizes add up to each core's ``axons`` exactly:

* one :class:`~mapping.allocfile.AxonRecord` per tile and presynaptic node, with that box;
* one per tile and population edge (``core.population_axons``, Loihi's convolutions over all input
  channels), with the pixels of its receptive field and all channels (``population`` 1);
* on two-rows chips the box is cut into runs of channels: a run of single-sign channels is one
  record (``sign 0``), a run of mixed-sign channels two (``sign +1``, the excitatory row, and
  ``sign -1``, the inhibitory row);
* where a neuron reaches at most ``F = core.max_fanout_cores_per_neuron`` cores (TrueNorth: F = 1)
  the producer holds ``⌈d / F⌉`` copies of a neuron with ``d`` destinations. The records reading a
  neuron are given its copies in the order they are derived (cores in order, then nodes): the k-th
  record reading a neuron gets copy ``k // F``, so a box is cut where that rank changes. Both rows
  of a signed pair come from the same copy, as the partitioner counts one destination per tile.
  A consumer tiled with raised limits (an unfit node, already a violation) counts one destination
  per neuron in the partitioner; its records use copy 0.
"""

from __future__ import annotations

import bisect

import numpy as np

from mapping.allocfile import AxonRecord, CoreRecord, TileRecord
from mapping.chip import INF
from mapping.partition import _group_boxes
from mapping.synmem import population_axons, split_groups


def _label(view, name: str) -> tuple[str, int | None]:
    """``(population, iteration)`` of a node or of the network input, as tile records name them."""
    if name not in view.index:
        return name, None
    n = view.node(name)
    return (n.population if n.kind == "population" else n.name), n.iteration


def _sign_runs(group) -> tuple[list[int], list[bool]]:
    """Channel runs of a presynaptic node: starts (with the end as sentinel) and whether mixed."""
    mixed = np.zeros(group[0].pre_shape[0], bool)
    for e in group:
        mixed |= e.mixed
    starts = [0] + (np.flatnonzero(np.diff(mixed.astype(np.int8))) + 1).tolist() + [mixed.size]
    return starts, [bool(mixed[s]) for s in starts[:-1]]


def _split_signs(box, runs):
    """``(box, sign)`` pieces of ``box`` per channel run (two rows for a mixed run)."""
    if runs is None:
        yield box, 0
        return
    starts, mixed = runs
    c0, c1 = box[0], box[1]
    k = bisect.bisect_right(starts, c0) - 1
    while starts[k] < c1:
        piece = (max(c0, starts[k]), min(c1, starts[k + 1])) + tuple(box[2:])
        if mixed[k]:
            yield piece, 1
            yield piece, -1
        else:
            yield piece, 0
        k += 1


def _constant_boxes(sub: np.ndarray):
    """Boxes ``(c0, c1, r0, r1, q0, q1)`` (local) on which ``sub`` is constant, with their value."""
    if sub.min() == sub.max():
        return [((0, sub.shape[0], 0, sub.shape[1], 0, sub.shape[2]), int(sub.flat[0]))]
    cuts = []
    for ax in range(3):
        change = (np.diff(sub, axis=ax) != 0).any(axis=tuple(k for k in range(3) if k != ax))
        cuts.append([0] + (np.flatnonzero(change) + 1).tolist() + [sub.shape[ax]])
    out = []
    for c0, c1 in zip(cuts[0][:-1], cuts[0][1:]):
        for r0, r1 in zip(cuts[1][:-1], cuts[1][1:]):
            start = 0
            qs = cuts[2]
            for j in range(1, len(qs)):  # merge equal neighbours along the columns
                if j == len(qs) - 1 or sub[c0, r0, qs[j]] != sub[c0, r0, qs[start]]:
                    out.append(((c0, c1, r0, r1, qs[start], qs[j]), int(sub[c0, r0, qs[start]])))
                    start = j
    return out


class FanoutCopies:
    """Which fan-out copy of each presynaptic neuron drives each record (see the module docstring).

    Keeps, per producer node, how many records already read each neuron (int32 per neuron).
    """

    def __init__(self, alloc):
        self.per_copy = int(alloc.limits.max_fanout_cores)
        self.unfit = set(alloc.unfit_nodes)
        self.view = alloc.view
        self.served: dict[str, np.ndarray] = {}

    def split(self, pre: str, post: str, box):
        """``(box, copy)`` pieces of the presynaptic ``box`` that node ``post`` reads from ``pre``."""
        if pre not in self.view.index or post in self.unfit:
            return [(box, 0)]
        if pre not in self.served:
            self.served[pre] = np.zeros(self.view.node(pre).shape, np.int32)
        c0, c1, r0, r1, q0, q1 = box
        sub = self.served[pre][c0:c1, r0:r1, q0:q1]
        pieces = [((c0 + a, c0 + b, r0 + c, r0 + d, q0 + e, q0 + f), rank // self.per_copy)
                  for (a, b, c, d, e, f), rank in _constant_boxes(sub)]
        sub += 1
        return pieces


def tile_axons(alloc, tiles: np.ndarray, copies: FanoutCopies | None) -> dict[int, list]:
    """Tile index → its ``(source, iteration, box, sign, copy, population)`` input records, for ``tiles``."""
    out = {int(t): [] for t in tiles}
    if alloc.limits.architecture == "conv-layer":
        return out
    view = alloc.view
    node_of = alloc.tile_node[tiles]
    for i in np.unique(node_of).tolist():
        idx = tiles[node_of == i]
        node = view.nodes[i]
        c0, c1, r0, r1, q0, q1 = alloc.tile_box[idx].T
        groups, pop = split_groups(view.groups(node.name), alloc.limits)
        for e in pop:  # population axons: one per pixel of the receptive field, all channels
            source, it = _label(view, e.pre)
            n = population_axons(e, c0, c1, r0, r1, q0, q1)
            for t, a, b, c, d, k in zip(idx.tolist(), r0.tolist(), r1.tolist(), q0.tolist(), q1.tolist(), n.tolist()):
                if k:
                    box = (0, e.pre_shape[0], int(e.rlo[a]), int(e.rhi[b - 1]), int(e.qlo[c]), int(e.qhi[d - 1]))
                    out[t].append((source, it, box, 0, 0, 1))
        for group in groups:
            source, it = _label(view, group[0].pre)
            runs = _sign_runs(group) if alloc.limits.two_rows else None
            boxes = np.stack(_group_boxes(group, c0, c1, r0, r1, q0, q1), axis=1)
            ok = (boxes[:, 1] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 2]) & (boxes[:, 5] > boxes[:, 4])
            for t, box in zip(idx[ok].tolist(), boxes[ok].tolist()):
                pieces = copies.split(group[0].pre, node.name, box) if copies else [(box, 0)]
                for piece, copy in pieces:
                    out[t].extend((source, it, tuple(b), sign, copy, 0) for b, sign in _split_signs(piece, runs))
    return out


def iter_core_records(alloc, chunk: int = 4096):
    """The :class:`~mapping.allocfile.CoreRecord` of every core of ``alloc``, in core order.

    Derived ``chunk`` cores at a time, so that memory stays bounded for millions of cores.
    """
    view = alloc.view
    order = np.argsort(alloc.tile_core, kind="stable")
    bounds = np.searchsorted(alloc.tile_core[order], np.arange(alloc.cores_used + 1))
    labels = [_label(view, n.name) + (n.kind, n.multiplexed) for n in view.nodes]
    copies = FanoutCopies(alloc) if alloc.limits.max_fanout_cores < INF else None
    res = alloc.core_res
    for k0 in range(0, alloc.cores_used, chunk):
        k1 = min(k0 + chunk, alloc.cores_used)
        tiles = order[bounds[k0]:bounds[k1]]
        axons = tile_axons(alloc, tiles, copies)
        box = dict(zip(tiles.tolist(), alloc.tile_box[tiles].tolist()))
        neurons = dict(zip(tiles.tolist(), alloc.tile_res["neurons"][tiles].tolist()))
        for i in range(k0, k1):
            ts = order[bounds[i]:bounds[i + 1]].tolist()
            trec = []
            for t in ts:
                pop, it, kind, mux = labels[alloc.tile_node[t]]
                b = box[t]
                own = (b[1] - b[0]) * (b[3] - b[2]) * (b[5] - b[4])
                trec.append(TileRecord(pop, it, (b[0], b[1]), (b[2], b[3]), (b[4], b[5]), neurons[t], own, kind, mux))
            arec = tuple(AxonRecord(j, *r) for j, t in enumerate(ts) for r in axons[t])
            yield CoreRecord(i, int(alloc.core_chip[i]), int(alloc.core_x[i]), int(alloc.core_y[i]), tuple(trec),
                             arec, int(res["neurons"][i]), int(res["axons"][i]), int(res["synapses"][i]),
                             int(res["mem_bytes"][i]), int(res["out_axons"][i]))
