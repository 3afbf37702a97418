"""Synapse memory of a tile from the chip's synapse encodings (Loihi; issue 12 §4).

Used where the chip spec gives its synapse-memory layout (``core.synapse_group_size`` and friends,
:class:`mapping.chip.Limits`); other chips keep :meth:`mapping.chip.Limits.synapse_bytes`. Every
figure comes from the spec (``hardware_models/chips/loihi.toml``, sourced from nengo-loihi's
``SynapseConfig.bits_per_axon``, ``conv2d_loihi_weights`` and ``hardware/builder.py``):

**Synapse lists.** An input axon points (pointer, length, compartment base) to one list of synapses.
A list of ``n`` synapses of ``b`` bits each is stored in groups of at most ``G`` synapses, each with
an ``h``-bit header and rounded up to whole ``w``-bit words:
``bits(n) = ⌊n/G⌋·w·⌈(G·b + h)/w⌉ + [r > 0]·w·⌈(r·b + h)/w⌉`` with ``r = n mod G``.
``b`` = the stored weight bits plus, for a sparse list, the target-index bits.

**Dense lists** (``dense`` into 1×1 maps, ``identity``): the targets of an axon are consecutive
compartments, so a synapse carries no index. **Sparse lists** (everything else) carry an index of
the smallest width in ``core.synapse_index_bits`` that holds the largest index the list can need.
Where the compartment base is limited (``core.max_compartment_base`` ``B`` < neurons per core), the
part of a target's offset beyond the base goes into the index, and a tile does not know where on
its core it will sit: the index is sized for the worst case, the largest compartment of a core.

**Shared lists** (``core.shared_synapse_lists``; convolutions and depthwise convolutions fed by no
other connection from the same presynaptic node): axons whose synapses have the same weights and
the same relative targets share one list. For a tile, an input pixel's *edge pattern* is the set of
kernel rows (and columns) that land on the tile; axons of one input channel with the same row and
column pattern share a list of ``F_c · taps`` synapses (``F_c`` the tile's output channels reading
channel ``c``). With a limited base, axons whose bases (first target) span ``s`` compartments may
fall into ``⌈s / B⌉ + 1`` base windows wherever the tile sits, and each window needs its own copy
(nengo-loihi's ``index_offset``). This is one kernel copy per edge pattern, as nengo-loihi stores
it, but per input channel: the axons here are discrete (one per presynaptic neuron), where
nengo-loihi uses population axons (one per pixel); the lists hold the same synapses.

**Exact per-axon lists** (all other connections): ``Σ_axons bits(n_a)`` with ``n_a`` the synapses of
axon ``a`` into the tile, from per-axis counts (a receptive field is a box, so ``n_a`` is a product
of per-axis counts). Where one presynaptic node feeds a tile through several connections, each
connection's part is costed as its own list with every group at its full size,
``full(n) = ⌈n/G⌉·w·⌈(G·b + h)/w⌉``: ``full(n₁) + full(n₂) ≥ full(n₁ + n₂) ≥ bits(n₁ + n₂)``, so this
never under-counts the one list the axon has (``bits`` itself is not subadditive). Explicit synapses (``sparse``) and ops whose taps are not their receptive field
(bilinear resize at borders) use the tile's mean synapses per axon, an estimate.
"""

from __future__ import annotations

import functools

import numpy as np

from mapping.chip import INF, Limits
from mapping.view import Edge

SHARED_OPS = ("conv2d", "depthwise")


def uses_encodings(lim: Limits) -> bool:
    """Whether the chip spec gives its synapse-memory layout (then this module costs synapse memory)."""
    return lim.group_size is not None and lim.word_bits is not None


def list_bits(n, bits_per_synapse: int, lim: Limits) -> np.ndarray:
    """Bits of synapse lists of ``n`` synapses (array), ``bits_per_synapse`` each (module docstring)."""
    n = np.asarray(n, np.int64)
    g, w, h = int(lim.group_size), int(lim.word_bits), int(lim.group_header_bits)
    full, rem = n // g, n % g
    per_full = w * -(-(g * bits_per_synapse + h) // w)
    return full * per_full + np.where(rem > 0, w * (-(-(rem * bits_per_synapse + h) // w)), 0)


def full_group_bits(n, bits_per_synapse: int, lim: Limits) -> np.ndarray:
    """``list_bits`` with every group costed at its full size (an upper bound that is subadditive)."""
    n = np.asarray(n, np.int64)
    g, w, h = int(lim.group_size), int(lim.word_bits), int(lim.group_header_bits)
    return -(-n // g) * (w * -(-(g * bits_per_synapse + h) // w))


def index_bits(lim: Limits) -> int:
    """Index width of a sparse list: room for the largest index any list on a core can need."""
    widths = sorted(lim.index_bits or ())
    if not widths:
        return 0
    if lim.max_neurons == INF:
        return widths[-1]
    need = int(lim.max_neurons - 1).bit_length()
    return next((x for x in widths if x >= need), widths[-1])


def is_shared(e: Edge, lim: Limits) -> bool:
    return (lim.shared_lists and e.op in SHARED_OPS and e.inputs is None and e.consumers is None
            and len(e.key) > 7)


def is_population(e: Edge, lim: Limits) -> bool:
    """A convolution over all input channels (groups 1) on a chip with population axons: one input
    axon per presynaptic pixel carries every channel (the spike names its channel)."""
    return (lim.population_axons and lim.shared_lists and not lim.two_rows and e.op == "conv2d"
            and e.cin_factor == e.pre_shape[0]
            and e.inputs is None and e.consumers is None and len(e.key) > 7)


def split_groups(groups: list[list[Edge]], lim: Limits) -> tuple[list[list[Edge]], list[Edge]]:
    """Incoming edges by presynaptic node, without the population edges, and the population edges
    (each its own axons: one per pixel of its receptive field, as nengo-loihi gives each connection)."""
    pop = [e for g in groups for e in g if is_population(e, lim)]
    rest = [[e for e in g if not is_population(e, lim)] for g in groups]
    return [g for g in rest if g], pop


def _dense_list(e: Edge) -> bool:
    return e.op == "identity" or (e.op == "dense" and e.post_shape[1:] == (1, 1))


# ------------------------------------------------------------------------------- shared lists

@functools.lru_cache(maxsize=1 << 16)
def axis_classes(n_in: int, k: int, s: int, pad: int, a: int, b: int) -> tuple:
    """Edge patterns along one axis for the post range ``[a, b)``: per distinct set of kernel taps that
    land on the range, ``(taps, span, inputs, first_lo, first_hi)`` — taps used, post positions
    between the first and last target, how many input positions have this pattern, and the range of
    their first targets relative to ``a``."""
    classes: dict[int, list] = {}
    for i in range(max(0, a * s - pad), min(n_in, (b - 1) * s - pad + k)):
        mask, first, taps = 0, None, []
        for t in range(k):
            num = i + pad - t
            if num % s == 0 and a <= num // s < b:
                mask |= 1 << t
                taps.append(t)
                first = num // s if first is None else min(first, num // s)
        if not mask:
            continue
        span = (max(taps) - min(taps)) // s
        c = classes.setdefault(mask, [len(taps), span, 0, first - a, first - a])
        c[2] += 1
        c[3], c[4] = min(c[3], first - a), max(c[4], first - a)
    return tuple(tuple(v) for _, v in sorted(classes.items()))


def _channel_counts(e: Edge, c0: int, c1: int) -> np.ndarray:
    """Per presynaptic channel: how many of the tile's channels ``[c0, c1)`` read it through ``e``."""
    a, b = max(c0, e.drive[0]), min(c1, e.drive[1])
    diff = np.zeros(e.pre_shape[0] + 1, np.int64)
    if a < b:
        np.add.at(diff, e.clo[a:b], 1)
        np.add.at(diff, e.chi[a:b], -1)
    return np.cumsum(diff[:-1])


def _hist(values: np.ndarray) -> tuple:
    """``((value, multiplicity), ...)`` of the positive entries of a small non-negative int array."""
    m = np.bincount(values)
    v = np.flatnonzero(m)
    v = v[v > 0]
    return tuple(zip(v.tolist(), m[v].tolist()))


def _cached(e: Edge, key: tuple, make):
    """Per-edge memo (the histograms of a range recur across tiles, searches and passes)."""
    memo = e.__dict__.setdefault("_synmem_memo", {})
    if key not in memo:
        memo[key] = make()
    return memo[key]


def _chan_hist(e: Edge, c0: int, c1: int) -> tuple:
    return _cached(e, ("c", c0, c1), lambda: _hist(_channel_counts(e, c0, c1)))


@functools.lru_cache(maxsize=1 << 16)
def _shared_bits(chan: tuple, rows: tuple, cols: tuple, ct: int, wt: int, bits: int, lim: Limits) -> int:
    if not chan or not rows or not cols:
        return 0
    r = np.array(rows, np.int64)
    q = np.array(cols, np.int64)
    taps = r[:, 0][:, None] * q[:, 0][None, :]
    axons = r[:, 2][:, None] * q[:, 2][None, :]
    span = (r[:, 4] - r[:, 3])[:, None] * wt * ct + (q[:, 4] - q[:, 3])[None, :] * ct
    base = lim.max_compartment_base
    copies = np.ones_like(span) if base == INF else np.where(span == 0, 1, np.minimum(axons, -(-span // int(base)) + 1))
    total = 0
    for f, mult in chan:
        total += mult * int((copies * list_bits(f * taps, bits, lim)).sum())
    return total


def shared_bits(e: Edge, lim: Limits, c0, c1, r0, r1, q0, q1, population: bool = False) -> int:
    """Bits of the shared lists one tile needs for ``e`` (module docstring); ``population``: one list
    per edge pattern holding every input channel's synapses (population axons)."""
    kh, kw = e.kernel
    sh, sw = e.stride
    pad = e.key[7]
    rows = axis_classes(e.pre_shape[1], kh, sh, pad[0], r0, r1)
    cols = axis_classes(e.pre_shape[2], kw, sw, pad[2], q0, q1)
    if population:
        f = max(0, min(c1, e.drive[1]) - max(c0, e.drive[0])) * e.pre_shape[0]
        chan = ((f, 1),) if f else ()
    else:
        chan = _chan_hist(e, c0, c1)
    return _shared_bits(chan, rows, cols, c1 - c0, q1 - q0, lim.stored_weight_bits + index_bits(lim), lim)


def population_axons(e: Edge, c0, c1, r0, r1, q0, q1) -> np.ndarray:
    """Input axons of tiles (arrays) for a population edge: the pixels of their receptive fields."""
    a, b = np.maximum(c0, e.drive[0]), np.minimum(c1, e.drive[1])
    rows = e.rhi[np.asarray(r1) - 1] - e.rlo[np.asarray(r0)]
    cols = e.qhi[np.asarray(q1) - 1] - e.qlo[np.asarray(q0)]
    return np.where(a < b, rows * cols, 0)


# ------------------------------------------------------------------------------ per-axon lists

def _exact(e: Edge) -> bool:
    """Whether a tile's synapses per axon are the product of per-axis receptive-field counts."""
    if e.inputs is not None or e.consumers is not None:
        return False
    d0, d1 = e.drive
    return (np.array_equal(e.tapr, e.rhi - e.rlo) and np.array_equal(e.tapq, e.qhi - e.qlo)
            and bool(np.all(e.chi[d0:d1] - e.clo[d0:d1] == e.cin_factor)))


def _axis_hist(lo: np.ndarray, hi: np.ndarray, n_in: int, a: int, b: int) -> tuple:
    diff = np.zeros(n_in + 1, np.int64)
    np.add.at(diff, lo[a:b], 1)
    np.add.at(diff, hi[a:b], -1)
    return _hist(np.cumsum(diff[:-1]))


@functools.lru_cache(maxsize=1 << 16)
def _product_bits(chan: tuple, rows: tuple, cols: tuple, bits: int, lim: Limits, full: bool) -> int:
    if not chan or not rows or not cols:
        return 0
    c, r, q = (np.array(h, np.int64) for h in (chan, rows, cols))
    n = c[:, 0][:, None, None] * r[:, 0][None, :, None] * q[:, 0][None, None, :]
    mult = c[:, 1][:, None, None] * r[:, 1][None, :, None] * q[:, 1][None, None, :]
    cost = full_group_bits if full else list_bits
    return int((mult * cost(n, bits, lim)).sum())


def axon_bits(e: Edge, lim: Limits, c0, c1, r0, r1, q0, q1, alone: bool = True) -> int:
    """Bits of the per-axon lists one tile needs for ``e``; ``alone``: no other connection from the
    same presynaptic node feeds the tile (else full groups, module docstring)."""
    bits = lim.stored_weight_bits + (0 if _dense_list(e) else index_bits(lim))
    cost = list_bits if alone else full_group_bits
    if _cached(e, ("exact",), lambda: _exact(e)):
        chan = _chan_hist(e, c0, c1)
        rows = _cached(e, ("r", r0, r1), lambda: _axis_hist(e.rlo, e.rhi, e.pre_shape[1], r0, r1))
        cols = _cached(e, ("q", q0, q1), lambda: _axis_hist(e.qlo, e.qhi, e.pre_shape[2], q0, q1))
        return _product_bits(chan, rows, cols, bits, lim, not alone)
    a, b = max(c0, e.drive[0]), min(c1, e.drive[1])
    if a >= b:
        return 0
    syn = (b - a) * e.cin_factor * int(e.tapr_cum[r1] - e.tapr_cum[r0]) * int(e.tapq_cum[q1] - e.tapq_cum[q0])
    if e.inputs is not None:
        axons = int(e.inputs[int(e.clo[a:b].min()):int(e.chi[a:b].max())].sum())
    else:
        axons = (int(e.chi[a:b].max() - e.clo[a:b].min()) * int(e.rhi[r0:r1].max() - e.rlo[r0:r1].min())
                 * int(e.qhi[q0:q1].max() - e.qlo[q0:q1].min()))
    axons = max(1, min(axons, syn))
    return axons * int(cost(-(-syn // axons), bits, lim))


def tile_bytes(groups: list[list[Edge]], lim: Limits, c0, c1, r0, r1, q0, q1, pop: list | None = None) -> np.ndarray:
    """Synapse memory in bytes of tiles (arrays of boxes) fed by ``groups`` (edges by presynaptic node,
    without population edges) and the population edges ``pop`` (:func:`split_groups`)."""
    out = np.zeros(np.shape(c0), np.int64)
    boxes = np.stack([np.asarray(x, np.int64) for x in (c0, c1, r0, r1, q0, q1)], axis=-1).reshape(-1, 6)
    flat = out.reshape(-1)
    for i, box in enumerate(boxes.tolist()):
        total = 0
        for g in groups:
            for e in g:
                if len(g) == 1 and is_shared(e, lim):
                    total += shared_bits(e, lim, *box)
                else:
                    total += axon_bits(e, lim, *box, alone=len(g) == 1)
        for e in pop or ():
            total += shared_bits(e, lim, *box, population=True)
        flat[i] = (total + 7) // 8
    return out


# ------------------------------------------------------------------------------ search estimate

@functools.lru_cache(maxsize=4096)
def _interior_axis(k: int, s: int, n: int) -> tuple[int, float]:
    """Edge patterns of ``n`` post positions away from the map's border: how many, and their mean taps."""
    classes = axis_classes(k + (n + 1) * s + k, k, s, 0, k, k + n)
    return len(classes), sum(c[0] for c in classes) / max(1, len(classes))


def _axis_arrays(k: int, s: int, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = np.asarray(n)
    values = {int(v): _interior_axis(k, s, int(v)) for v in np.unique(n)}
    count = np.vectorize(lambda v: values[int(v)][0], otypes=[np.float64])(n)
    taps = np.vectorize(lambda v: values[int(v)][1], otypes=[np.float64])(n)
    return count, taps


def _lists_and_taps(e: Edge, lim: Limits, tc, th, tw):
    """Estimated lists of an interior tile (its edge patterns, plus the base-window copies of the
    ``s_h·s_w`` patterns that span the tile) and their mean taps."""
    kh, kw = e.kernel
    sh, sw = e.stride
    nr, tr = _axis_arrays(kh, sh, th)
    nq, tq = _axis_arrays(kw, sw, tw)
    lists = nr * nq
    base = lim.max_compartment_base
    if base != INF:
        lists = lists + sh * sw * np.ceil(tc * th * tw / base)
    return lists, np.ceil(tr * tq).astype(np.int64)


def estimate_shared_bits(e: Edge, lim: Limits, inputs_c, tc, th, tw) -> np.ndarray:
    """Rough shared-list bits of a ``tc × th × tw`` tile (broadcast arrays) for the tile-shape search;
    :func:`mapping.partition.tile_node` measures every tile exactly and corrects the scale."""
    per_channel = max(1, (e.drive[1] - e.drive[0]) // max(1, e.pre_shape[0] // max(1, e.cin_factor)))
    f = np.minimum(tc, per_channel)
    lists, taps = _lists_and_taps(e, lim, tc, th, tw)
    bits = lim.stored_weight_bits + index_bits(lim)
    return inputs_c * lists * list_bits(f * taps, bits, lim)


def estimate_population_bits(e: Edge, lim: Limits, tc, th, tw) -> np.ndarray:
    """:func:`estimate_shared_bits` for a population edge: one list per pattern, all channels in it."""
    lists, taps = _lists_and_taps(e, lim, tc, th, tw)
    bits = lim.stored_weight_bits + index_bits(lim)
    return lists * list_bits(tc * e.pre_shape[0] * taps, bits, lim)


def estimate_axon_bits(lim: Limits, axons, synapses, dense: bool) -> np.ndarray:
    """Per-axon lists costed with the mean synapses per axon (search estimate)."""
    axons = np.asarray(axons, np.int64)
    per = np.where(axons > 0, -(-np.asarray(synapses, np.int64) // np.maximum(axons, 1)), 0)
    bits = lim.stored_weight_bits + (0 if dense else index_bits(lim))
    return axons * list_bits(per, bits, lim)


__all__ = ["uses_encodings", "list_bits", "full_group_bits", "index_bits", "is_shared", "is_population",
           "split_groups", "population_axons", "estimate_population_bits", "axis_classes", "shared_bits", "axon_bits",
           "tile_bytes", "estimate_shared_bits", "estimate_axon_bits"]
