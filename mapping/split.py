"""Fan-in splitting: an IR → IR transform that gives every neuron an input one core can feed.

A neuron of a crossbar core sees at most ``core.max_fanin_per_neuron`` synapses and the core's
``core.max_axons`` inputs (a signed input takes two of them on ``"two-rows"`` chips). Where one
neuron needs more, its inputs are split into groups that fit; each group's partial sum is computed
by **relay neurons** on other cores, and the original neuron sums the relays (DESIGN.md §6)::

    before:  post ← e₁ + e₂ + … + e_m                      (m connections, fan-in Σ fan_in(e))
    after:   relay_k ← the connections of group k            (fan-in ≤ the chip's limit)
             post   ← direct connections + Σ_k θ_k · relay_k (fan-in ≤ the chip's limit)

Relays are IF neurons (reset by subtraction, no bias) in one of two forms, chosen per chip:

``pair`` (every chip whose weights carry their sign)
    A partial sum ``S`` is signed, so each relay is a signed pair ``x = x⁺ − x⁻`` as the converter
    builds them (DESIGN.md §5): one population of ``2·C`` channels, ``x⁺_c`` at channel ``2c``
    driven by ``+S_c`` and ``x⁻_c`` at ``2c + 1`` driven by ``−S_c`` (one population, so that both
    halves share their input axons on a core). The post sums them with a 1×1 convolution of
    ``groups = C`` and weights ``(+θ_c, −θ_c)``: two inputs per relay.
``sign`` (``weights.sign = "two-rows"``, BrainScaleS)
    There a signed input already costs two rows, one excitatory and one inhibitory; the chip's own
    split is by sign. Each group takes one sign of its connections' weights (``S⁺ = W⁺·r ≥ 0`` or
    ``−S⁻ = −W⁻·r ≥ 0`` for presynaptic rates ``r ≥ 0``), so its partial sum is never negative and
    one unsigned population of ``C`` channels carries it; the post sums it with an identity of gain
    ``±θ_c``: one input (one row) per relay. A connection may keep one sign on the post and send
    the other to a relay.

With relay threshold ``θ`` and the partial sum's ANN value ``S̄`` (in the post's input current per
tick), a relay fires at ``S̄/θ`` spikes per tick (``|S̄|/θ`` for the half of its sign), so the
post receives ``θ · S̄/θ = S̄`` on average: the split network computes the same rates as long as
``|S̄| ≤ θ``. ``θ`` is therefore the largest partial sum measured on calibration images (the
caller's, :func:`itnet_neuro.sim.calibrate.calibrate_split`), and until measured the **weight
bound** ``Σ |w| · r_max``, which no input can exceed (``r_max = 1`` spike per tick for a population,
the input's largest value for the network input). A relay adds one tick of latency (its own
connection's delay); a relay of a looped block member has one threshold for all iterations, since
the summing weights ``±θ`` are shared by them.

Groups are chosen per post population (per channel segment of a concatenation) by first-fit
decreasing bin packing of **units** — all connections from one presynaptic population (they share
input axons), or, in ``sign`` mode, one sign of them — into relays whose neuron fits one core,
keeping as many units as fit directly on the post. The plan is made for the largest block of the
segment's channels at one pixel that it can fit on one core (halving down to one neuron): a relay's
input to its post is its own per channel, where direct inputs are shared by a pixel's channels, so a
plan that fits only one neuron can leave the post at one neuron per core (the paper preset's
``data_s1_act`` on BrainScaleS-2: 137,700 cores where 2,700 hold it). When the relays' own inputs to the post do not
fit, a second **level** of relays sums the first (and so on, each level one more tick). A unit that
alone needs more than a core (a single connection over the limit) cannot be split here — that needs
a connection reading a part of its presynaptic channels — and stays a violation
(:attr:`SplitRecord.unsplit` says why).

The result is recorded (:class:`SplitRecord`, in ``alloc.json`` under ``split``) so that the
simulation rebuilds exactly the allocated network with :func:`apply_record`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from itnet_neuro.errors import ValidationError
from mapping.chip import INF, Limits
from mapping.partition import _edge_synapses, _group_axons, _mixed_cum, channel_segments
from mapping.schedule import split_copy

#: Relay forms (see the module docstring).
MODES = ("pair", "sign")
#: Levels of relays at most (each adds a tick of latency); a network needing more is left with violations.
MAX_LEVELS = 4
#: Ops whose connection can move into a signed-pair relay (their output channels can be doubled).
PAIR_OPS = ("conv2d", "depthwise", "dense", "identity", "avgpool")


# ------------------------------------------------------------------------------------------ the record

@dataclass(frozen=True)
class Relay:
    """One relay population and the connections it takes over from its post.

    Attributes
    ----------
    name : str
        Relay population, named ``<post>~fanin<level>.<k>`` (``…@n`` for an unrolled copy).
    post : str
        The population it feeds (a relay of the previous level, or the original population).
    channels : (int, int)
        The post channels ``[a, b)`` it sums into (a channel segment of a concatenation).
    sign : int
        ``0``: a signed pair (``2·(b − a)`` channels, ``x⁺`` / ``x⁻`` interleaved); ``+1`` / ``−1``:
        the non-negative part of that sign of its inputs (``b − a`` channels).
    level : int
        1 for relays of an original population, L + 1 for relays summing level-L relays.
    inputs : tuple of str
        Names of the connections (into ``post``) it takes over, as the network names them before.
    threshold : tuple of float or None
        θ per relay channel pair (``b − a`` values, the same for every parameter row), in the post's
        input current per tick; None: the weight bound (see the module docstring).
    """

    name: str
    post: str
    channels: tuple
    sign: int
    level: int
    inputs: tuple
    threshold: tuple | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "post": self.post, "channels": list(self.channels), "sign": self.sign,
                "level": self.level, "inputs": list(self.inputs),
                "threshold": None if self.threshold is None else [float(x) for x in self.threshold]}


@dataclass(frozen=True)
class SplitRecord:
    """What fan-in splitting did to a network, enough to rebuild it (:func:`apply_record`).

    Attributes
    ----------
    schedule : str
        ``"unrolled"``: the relays were added to ``net.unroll()`` (per copy ``pop@n``, only where a
        copy needs them); ``"looped"``: to the block network (relays of block members are members).
    mode : str
        ``"pair"`` or ``"sign"`` (see the module docstring).
    relays : tuple of Relay
        In the order they are applied (level by level).
    nodes : tuple of dict
        Per split post segment: ``population``, ``iteration``, ``channels``, ``level``, ``relays``,
        ``relay_neurons``, ``block_channels`` (the block of channels at one pixel the plan fits on
        one core), ``direct`` (connections kept), ``need_before`` / ``need_after`` (the per-neuron
        fan-in and input axons, against ``limit``).
    unsplit : tuple of dict
        Post segments over a limit that splitting could not fix (``population``, ``iteration``,
        ``channels``, ``reason``).
    extra_ticks : dict
        Latency the relays add, per readout name, and ``"max"`` (ticks on the longest path).
    calibration : dict
        How the thresholds were set: ``{"method": "weight bound"}`` or the calibration images,
        percentile and the largest relay rate measured on them.
    """

    schedule: str
    mode: str
    relays: tuple = ()
    nodes: tuple = ()
    unsplit: tuple = ()
    extra_ticks: dict = field(default_factory=dict)
    calibration: dict = field(default_factory=lambda: {"method": "weight bound"})

    @property
    def relay_names(self) -> tuple:
        return tuple(r.name for r in self.relays)

    @property
    def levels(self) -> int:
        return max((r.level for r in self.relays), default=0)

    def to_dict(self) -> dict:
        return {"schedule": self.schedule, "mode": self.mode, "levels": self.levels,
                "relays": [r.to_dict() for r in self.relays], "nodes": [dict(n) for n in self.nodes],
                "unsplit": [dict(u) for u in self.unsplit], "extra_ticks": dict(self.extra_ticks),
                "calibration": dict(self.calibration)}

    @classmethod
    def from_dict(cls, d: dict) -> "SplitRecord":
        """The inverse of :meth:`to_dict` (no checks: :mod:`mapping.allocfile` validates files)."""
        relays = tuple(Relay(r["name"], r["post"], tuple(r["channels"]), int(r["sign"]), int(r["level"]),
                             tuple(r["inputs"]), None if r["threshold"] is None else tuple(r["threshold"]))
                       for r in d["relays"])
        return cls(d["schedule"], d["mode"], relays, tuple(d.get("nodes", ())), tuple(d.get("unsplit", ())),
                   dict(d.get("extra_ticks", {})), dict(d.get("calibration", {"method": "weight bound"})))

    def with_thresholds(self, thresholds: dict, calibration: dict) -> "SplitRecord":
        """A copy with measured thresholds (relay name → ``(b − a,)`` θ) and how they were measured."""
        relays = tuple(dataclasses.replace(r, threshold=tuple(float(x) for x in thresholds[r.name]))
                       if r.name in thresholds else r for r in self.relays)
        return dataclasses.replace(self, relays=relays, calibration=dict(calibration))


# -------------------------------------------------------------------------------- names and helpers

def _tag(name: str, tag: str) -> str:
    """``name`` with ``tag`` appended before an unrolled copy's ``@n``."""
    base, it = split_copy(name)
    return base + tag + ("" if it is None else f"@{it}")


def mode_of(limits: Limits) -> str:
    """``"sign"`` on two-rows chips (a signed input costs two rows there), else ``"pair"``."""
    return "sign" if limits.two_rows else "pair"


def _interleave(w: np.ndarray) -> np.ndarray:
    """Rows ``(w₀, −w₀, w₁, −w₁, …)`` along axis 0: the inputs of a signed-pair relay."""
    out = np.empty((2 * w.shape[0],) + w.shape[1:], np.float32)
    out[0::2], out[1::2] = w, -w
    return out


def _part(w: np.ndarray, sign: int) -> np.ndarray:
    """The weights of one sign (the others zero), keeping their sign."""
    return np.where(np.sign(w) == sign, w, 0).astype(np.float32)


def _input_range(net) -> tuple[float, float]:
    """Smallest and largest value the network input can take per tick (its rate for a population)."""
    if net.input.encoding != "current":
        return 0.0, 1.0
    a, b = net.input.offset, 255.0 * net.input.scale + net.input.offset
    return float(min(a, b)), float(max(a, b))


# ------------------------------------------------------------------------- moving connections into relays

def pair_input(c, relay: str):
    """Connection ``c`` (into a post segment) re-targeted at a signed-pair relay: outputs interleaved ±."""
    w = c.weight
    common = dict(name=_tag(c.name, "~" + split_copy(relay)[0].rsplit("~", 1)[1]), post=relay, post_offset=0)
    if c.op in ("conv2d", "depthwise", "dense"):
        return dataclasses.replace(c, weight=_interleave(w), **common)
    if c.op == "identity":  # a depthwise 1×1 with multiplier 2
        return dataclasses.replace(c, op="depthwise", weight=_interleave(w.reshape(-1, 1, 1, 1)), kernel=(1, 1),
                                   stride=(1, 1), padding=(0, 0, 0, 0), **common)
    if c.op == "avgpool" and not any(c.padding):  # the window mean as a depthwise of equal taps
        kh, kw = c.kernel
        taps = np.broadcast_to((w / (kh * kw)).reshape(-1, 1, 1, 1), (w.shape[0], 1, kh, kw))
        return dataclasses.replace(c, op="depthwise", weight=_interleave(taps), **common)
    raise ValidationError(f"connection {c.name!r}: a {c.op} connection cannot feed a signed-pair relay")


def sign_input(c, relay: str, sign: int):
    """Connection ``c`` re-targeted at the one-signed relay of ``sign``: weights ``max(sign·w, 0)``."""
    name = _tag(c.name, "~" + split_copy(relay)[0].rsplit("~", 1)[1])
    return dataclasses.replace(c, name=name, post=relay, post_offset=0, weight=sign * _part(c.weight, sign))


def pair_movable(c, input_name: str) -> bool:
    return c.op in PAIR_OPS and not (c.op == "avgpool" and any(c.padding))


def sign_movable(c, net) -> bool:
    """A one-signed relay needs non-negative presynaptic values (every population, not a signed input);
    explicit synapses (``sparse``) address their post's neurons and stay there."""
    return c.index is None and (c.pre != net.input.name or _input_range(net)[0] >= 0)


def weight_bound(c, net) -> np.ndarray:
    """Per output channel of ``c``: ``Σ |w|`` over one neuron's synapses × the largest presynaptic rate."""
    w = np.abs(c.weight.astype(np.float64))
    per = w.reshape(w.shape[0], -1).sum(axis=1) if w.ndim > 1 else w
    r_max = max(abs(x) for x in _input_range(net)) if c.pre == net.input.name else 1.0
    return per * r_max


def _relay_population(post, name: str, channels: tuple, sign: int, theta: np.ndarray):
    """The relay population: ``2·C`` (pair) or ``C`` channels of IF neurons, θ per channel, no bias."""
    from itnet_neuro.ir.graph import Population

    c = channels[1] - channels[0]
    th = np.repeat(theta, 2) if sign == 0 else theta
    rows = np.tile(th.astype(np.float32)[None], (post.rows, 1))
    return Population(name, (len(th),) + tuple(post.shape[1:]), threshold=rows, bias=np.zeros_like(rows),
                      decode_scale=rows, v_init=post.v_init, role="relay",
                      source=f"fan-in relay of {post.name} channels [{channels[0]}, {channels[0] + c})")


def _sum_connection(relay: Relay, theta: np.ndarray, iterations):
    """``post ← ±θ · relay``: a 1×1 conv of ``groups = C`` with ``(+θ, −θ)`` (pair) or an identity ``sign·θ``."""
    from itnet_neuro.ir.graph import Connection

    a, b = relay.channels
    name = _tag(relay.name, "~sum")
    if relay.sign == 0:
        w = np.stack([theta, -theta], axis=1).reshape(b - a, 2, 1, 1)
        return Connection(name, relay.name, relay.post, "conv2d", w, groups=b - a, post_offset=a, iterations=iterations)
    return Connection(name, relay.name, relay.post, "identity", relay.sign * theta, post_offset=a,
                      iterations=iterations)


def _union_iterations(conns):
    if any(c.iterations is None for c in conns):
        return None
    return tuple(sorted({i for c in conns for i in c.iterations}))


# ------------------------------------------------------------------------------------ applying a record

def apply_record(net, record: SplitRecord):
    """The network ``record`` describes: ``net`` (the block network, or any network for ``unrolled``,
    which is unrolled first) with its relays. Raises ValidationError if ``record`` names a
    population or connection the network lacks (an allocation of another network)."""
    run = net.unroll() if record.schedule == "unrolled" else net
    for level in sorted({r.level for r in record.relays}):
        run = apply_level(run, [r for r in record.relays if r.level == level])
    return run


def apply_level(run, relays):
    """``run`` with ``relays`` (of one level) added and their inputs moved off their posts."""
    pops = {p.name: p for p in run.populations}
    order = [p.name for p in run.populations]
    conns = {c.name: c for c in run.connections}
    originals: dict[str, object] = {}
    remaining: dict[str, set] = {}
    block_new: dict[str, list] = {}
    for relay in relays:
        if relay.post not in pops:
            raise ValidationError(f"split relay {relay.name!r}: the network has no population {relay.post!r}; "
                                  "allocate this network")
        moved = [_take(conns, originals, remaining, name, relay) for name in relay.inputs]
        theta = _theta(relay, moved, run)
        pop = _relay_population(pops[relay.post], relay.name, relay.channels, relay.sign, theta)
        pops[pop.name] = pop
        order.insert(order.index(relay.post), pop.name)
        if run.block is not None and relay.post in run.block.populations:
            block_new.setdefault(relay.post, []).append(pop.name)
        for c in moved:
            new = pair_input(c, relay.name) if relay.sign == 0 else sign_input(c, relay.name, relay.sign)
            conns[new.name] = new
        s = _sum_connection(relay, theta, _union_iterations(moved))
        conns[s.name] = s
    _finish_direct(conns, originals, remaining)
    return _rebuild(run, [pops[n] for n in order], list(conns.values()), block_new)


def _take(conns: dict, originals: dict, remaining: dict, name: str, relay: Relay):
    """The connection ``name`` into ``relay.post``, its moved sign(s) struck from what stays there."""
    c = originals.get(name) or conns.get(name)
    if c is None or c.post != relay.post:
        raise ValidationError(f"split relay {relay.name!r}: the network has no connection {name!r} into "
                              f"{relay.post!r}; allocate this network")
    originals.setdefault(name, c)
    remaining.setdefault(name, {s for s in (1, -1) if np.any(np.sign(c.weight) == s)})
    remaining[name].difference_update({1, -1} if relay.sign == 0 else {relay.sign})
    return c


def _theta(relay: Relay, moved, net) -> np.ndarray:
    """θ per relay channel (pair): the record's, else the weight bound (never below a tiny floor)."""
    if relay.threshold is not None:
        theta = np.asarray(relay.threshold, np.float64)
        if theta.shape != (relay.channels[1] - relay.channels[0],) or np.any(theta <= 0):
            raise ValidationError(f"split relay {relay.name!r}: threshold must be {relay.channels[1] - relay.channels[0]} "
                                  "positive values; allocate again")
        return theta.astype(np.float32)
    bound = sum(weight_bound(c, net) for c in moved)
    return np.maximum(bound, 1e-6).astype(np.float32)


def _finish_direct(conns: dict, originals: dict, remaining: dict) -> None:
    """Replace each moved connection by what stays on its post: nothing, or its weights of one sign."""
    for name, c in originals.items():
        left = remaining[name]
        del conns[name]
        if len(left) == 1:
            sign = next(iter(left))
            kept = dataclasses.replace(c, name=_tag(name, "~pos" if sign > 0 else "~neg"), weight=_part(c.weight, sign))
            conns[kept.name] = kept
        elif len(left) == 2:  # pragma: no cover - a relay always takes at least one sign
            conns[name] = c


def _rebuild(run, pops, conns, block_new):
    from itnet_neuro.ir.graph import IterativeBlock, Network

    block = run.block
    if block is not None and block_new:
        members = []
        for p in block.populations:
            members.extend(block_new.get(p, []))
            members.append(p)
        block = IterativeBlock(block.name, block.iterations, tuple(members), block.state)
    meta = dict(run.metadata)
    meta["fanin_split"] = {"relays": sum(1 for p in pops if p.role == "relay")}
    return Network(run.name, run.input, tuple(pops), tuple(conns), run.readouts, block, metadata=meta)


# ------------------------------------------------------------------------------------------- planning

@dataclass
class _Unit:
    """Connections into one post segment from one presynaptic node (or one sign of them)."""

    conns: tuple  # connection names
    sign: int  # 0: whole (pair mode, or kept whole); ±1: one sign (sign mode)
    need: np.ndarray  # (fan_in, axons, synapses) of one post neuron
    movable: bool
    pre: str
    whole: np.ndarray | None = None  # a sign's unit: the need of both signs together (whole connections)


def _load(units) -> np.ndarray:
    """Per-neuron need of ``units`` together on one neuron: both signs of one group cost its whole need."""
    signs: dict = {}
    for u in units:
        signs.setdefault(u.conns, []).append(u)
    total = np.zeros(3)
    for us in signs.values():
        total = total + (us[0].whole if len(us) == 2 else sum(u.need for u in us))
    return total


def _caps(limits: Limits) -> np.ndarray:
    return np.array([limits.max_fanin, limits.max_axons, limits.max_synapses], np.float64)


def _fits(need: np.ndarray, caps: np.ndarray, limits: Limits) -> bool:
    if np.any(need > caps):
        return False
    if limits.synapse_memory_bytes < INF:
        b = limits.synapse_bytes(np.array([int(need[1])]), np.array([int(need[2])]))[0]
        return bool(b <= limits.synapse_memory_bytes)
    return True


def _positions(h: int, w: int):
    return {(h // 2, w // 2), (0, 0), (h - 1, w - 1)}


def _measure(group, seg, shape, limits, two_rows: bool, block: int = 1) -> np.ndarray:
    """``(fan_in, axons, synapses)`` fed by ``group`` (edges from one pre): the fan-in of the worst
    neuron of ``seg``, the axons and synapses of its worst block of ``block`` channels at one pixel
    (``block = 1``: of one neuron)."""
    a, b = seg
    c0 = np.arange(a, b, block, dtype=np.int64)
    c1 = np.minimum(c0 + block, b)
    ch = np.arange(a, b, dtype=np.int64)
    mc = _mixed_cum(group, two_rows)
    worst = np.zeros(3, np.int64)
    fan = np.zeros(b - a, np.int64)
    for e in group:
        fan += np.where((ch >= e.drive[0]) & (ch < e.drive[1]), e.fan_in, 0)
    for r, q in _positions(shape[1], shape[2]):
        z = np.zeros_like(c0)
        ax = _group_axons(group, mc, c0, c1, z + r, z + r + 1, z + q, z + q + 1)
        syn = sum(_edge_synapses(e, c0, c1, z + r, z + r + 1, z + q, z + q + 1) for e in group)
        worst = np.maximum(worst, [int(fan.max()), int(ax.max()), int(np.max(syn))])
    return worst.astype(np.float64)


def _units(view, node, seg, limits, mode, net, block: int = 1) -> list[_Unit]:
    """The units of one post segment: per presynaptic node its edges driving the segment (needs of a
    block of ``block`` channels at one pixel, see :func:`_measure`)."""
    a, b = seg
    out = []
    conns = {c.name: c for c in net.connections}
    for group in view.groups(node.name):
        g = [e for e in group if e.drive[0] < b and e.drive[1] > a]
        if not g:
            continue
        inside = all(e.drive == (a, b) for e in g) and all(e.name in conns for e in g)
        names = tuple(e.name for e in g)
        whole = _measure(g, seg, node.shape, limits, limits.two_rows, block)
        if mode == "pair" or not inside:
            movable = inside and all(pair_movable(conns[n], net.input.name) for n in names) and mode == "pair"
            out.append(_Unit(names, 0, whole, movable, g[0].pre))
            continue
        if not all(sign_movable(conns[n], net) for n in names):
            out.append(_Unit(names, 0, whole, False, g[0].pre))
            continue
        half = _measure(g, seg, node.shape, limits, False, block)
        for s in (1, -1):
            if any(np.any(np.sign(conns[n].weight) == s) for n in names):
                out.append(_Unit(names, s, half, True, g[0].pre, whole))
    return out


def _decreasing(units: list[_Unit], caps) -> list[_Unit]:
    scale = np.where(np.isfinite(caps), caps, 1.0)
    return sorted(units, key=lambda u: -float(np.max(u.need / scale)))


def _first_fit(bins: list, u: _Unit, caps, limits, k_max: float) -> bool:
    """Put ``u`` in the first relay bin of its sign with room, or a new one while fewer than ``k_max``."""
    for bn in bins:
        if bn[0] == u.sign and _fits(bn[2] + u.need, caps, limits):
            bn[1].append(u)
            bn[2] = bn[2] + u.need
            return True
    if len(bins) >= k_max:
        return False
    bins.append([u.sign, [u], u.need.copy()])
    return True


def _pack(units: list[_Unit], caps, limits, r: int, k_max: int):
    """``(direct, bins)`` with at most ``k_max`` relay bins, or None: first-fit decreasing, the post
    (direct, capacity reduced by ``r`` inputs per relay) first, then the relays (one sign each)."""
    order = _decreasing(units, caps)
    fixed = [u for u in order if not u.movable]
    for k in range(1, k_max + 1):
        direct, bins = list(fixed), []
        room = caps - r * k
        ok = True
        for u in (u for u in order if u.movable):
            if _fits(_load(direct + [u]), room, limits):
                direct.append(u)
            elif not _first_fit(bins, u, caps, limits, k):
                ok = False
                break
        if ok and _fits(_load(direct) + r * len(bins), caps, limits):
            return direct, bins
    return None


def _pack_all(units: list[_Unit], caps, limits):
    """Every movable unit into relays (the next level sums them): first-fit decreasing."""
    bins: list = []
    for u in _decreasing([u for u in units if u.movable], caps):
        _first_fit(bins, u, caps, limits, INF)
    return [u for u in units if not u.movable], bins


def _k_max(room: np.ndarray, r, n: int) -> int:
    """Relays whose ``r`` inputs each (per resource) still fit the post's remaining ``room`` (at most ``n``)."""
    finite = np.isfinite(room)
    if not finite.any():
        return n
    return int(max(0, min(n, np.min(room[finite] // np.broadcast_to(r, room.shape)[finite]))))


def _plan_segment(units: list[_Unit], caps, limits, r):
    """``((direct, bins), None)`` for one post segment over a limit, or ``(None, reason)``; ``r``: what
    one relay adds to the post's ``(fan_in, axons, synapses)``."""
    movable = [u for u in units if u.movable]
    big = [u for u in movable if not _fits(u.need, caps, limits)]
    if big:
        u = big[0]
        return None, (f"connection {split_copy(u.conns[0])[0]!r} alone needs {_need_text(u.need)} per neuron, over the core's "
                      f"{_need_text(caps)}: splitting inside one connection is not supported")
    fixed = _load([u for u in units if not u.movable])
    if not _fits(fixed, caps, limits) or not movable:
        ops = sorted({split_copy(c)[0] for u in units if not u.movable for c in u.conns})
        return None, (f"its connections that cannot feed a relay ({', '.join(ops[:3])}) need {_need_text(fixed)} "
                      f"per neuron, over the core's {_need_text(caps)}")
    k = _k_max(caps - fixed, r, len(movable))
    res = _pack(units, caps, limits, r, k) if k >= 1 else None
    if res is None:
        res = _pack_all(units, caps, limits)
        if len(res[1]) >= len(movable) and all(_fits(u.need, r * np.ones(3), limits) for u in movable):
            return None, (f"a relay cannot sum two of its {len(movable)} inputs ({_need_text(movable[0].need)} "
                          f"each) within the core's {_need_text(caps)}")
    return res, None


def _blocks(channels: int, per_channel: int, limits: Limits) -> list[int]:
    """Channel blocks to plan for, largest first, down to 1 (one neuron): halving, each block's relay
    (``per_channel`` neurons per channel) within a core's neurons."""
    out, b = [], channels
    while b > 1:
        if b * per_channel <= limits.max_neurons:
            out.append(b)
        b = -(-b // 2)
    return out + [1]


def _block_plan(view, node, seg, limits, mode, run, units):
    """``(block, (direct, bins) or None, reason)``: the relay plan under which a block of ``block``
    channels at one pixel fits one core, for the largest block that has one.

    A relay's input to its post is its own per channel (an identity or a grouped 1×1), where the
    post's direct inputs are shared by its channels at a pixel: a plan that fits only one neuron
    (``block = 1``) can leave the post at one neuron per core. Every block plan fits each neuron too
    (a block's axons and synapses include each of its neurons').
    """
    r = 2 if mode == "pair" else 1
    one, reason = _plan_segment(units, _caps(limits), limits, np.full(3, r, np.float64))
    if one is None:  # no block plan either: a block's needs include each of its neurons'
        return 1, None, reason
    for block in _blocks(seg[1] - seg[0], r, limits)[:-1]:
        us = _units(view, node, seg, limits, mode, run, block)
        plan, _ = _plan_segment(us, _caps(limits), limits, np.array([r, r * block, r * block], np.float64))
        if plan is not None:
            return block, plan, None
    return 1, one, None


def _need_text(v) -> str:
    names = ("fan-in", "axons", "synapses")
    return ", ".join(f"{n} {int(x)}" for n, x in zip(names, v) if np.isfinite(x))


def _may_exceed(view, node, seg, limits) -> bool:
    """Whether one neuron of the segment can need more than a core feeds (a cheap upper bound first)."""
    fan = sum(e.fan_in for e in view.incoming[node.name] if e.drive[0] < seg[1] and e.drive[1] > seg[0])
    return not _fits(np.array([fan, fan * (2 if limits.two_rows else 1), fan], np.float64), _caps(limits), limits)


def _segment_relays(view, node, seg, limits, mode, run, level, start: int):
    """Relays of one post segment at ``level``: ``(relays, node summary or None, unsplit or None)``."""
    if not _may_exceed(view, node, seg, limits):
        return [], None, None
    caps = _caps(limits)
    units = _units(view, node, seg, limits, mode, run)
    total = _load(units)
    if not units or _fits(total, caps, limits):
        return [], None, None
    where = {"population": split_copy(node.name)[0] if node.iteration is not None else node.name,
             "iteration": node.iteration, "channels": list(seg), "level": level}
    block, plan, reason = _block_plan(view, node, seg, limits, mode, run, units)
    if plan is None:
        return [], None, dict(where, reason=reason)
    direct, bins = plan
    if block > 1:  # the per-neuron needs of what stays on the post
        kept = {(u.conns, u.sign) for u in direct}
        direct = [u for u in units if (u.conns, u.sign) in kept]
    relays = []
    for k, (sign, members, _) in enumerate(bins, start):
        inputs = tuple(dict.fromkeys(n for u in members for n in u.conns))
        relays.append(Relay(_tag(node.name, f"~fanin{level}.{k}"), node.name, tuple(seg), int(sign), level, inputs))
    width = (seg[1] - seg[0]) * (2 if mode == "pair" else 1)
    after = _load(direct) + (2 if mode == "pair" else 1) * len(bins)
    summary = dict(where, relays=[x.name for x in relays], relay_neurons=len(relays) * width * node.shape[1] * node.shape[2],
                   block_channels=block,
                   direct=sorted({n for u in direct for n in u.conns}),
                   need_before=_need_dict(total), need_after=_need_dict(after), limit=_need_dict(caps))
    return relays, summary, None


def _need_dict(v) -> dict:
    return {k: (None if not np.isfinite(x) else int(x)) for k, x in zip(("fan_in", "axons", "synapses"), v)}


def split_network(net, schedule: str, limits: Limits, phase_ticks: int | None = None, mode: str | None = None, *,
                  state_buffer: str | None = None, window_ticks: int | None = None):
    """``(network as the schedule runs it, with relays; SplitRecord; its View)``, or ``(None, None,
    view of net)`` when no neuron needs more than a core can feed it (the view is None where the
    chip has no per-neuron limit: nothing was built).

    ``schedule`` is ``"unrolled"`` (relays per copy of ``net.unroll()``) or ``"looped"`` (relays
    in the block network). Levels are added until every post fits or :data:`MAX_LEVELS`; what
    cannot be split is listed in :attr:`SplitRecord.unsplit` (and stays a violation). ``state_buffer``
    and ``window_ticks``: the looped view's state buffer (:func:`mapping.schedule.looped_view`).
    """
    from mapping.schedule import DEFAULT_PHASE_TICKS, DEFAULT_STATE_BUFFER, build_view

    if limits.architecture != "crossbar" or not (np.isfinite(_caps(limits)).any()
                                                 or limits.synapse_memory_bytes < INF):
        return None, None, None
    mode = mode or mode_of(limits)
    run = net.unroll() if schedule == "unrolled" else net
    relays, nodes, unsplit = [], [], {}
    for level in range(1, MAX_LEVELS + 1):
        view = build_view(run, schedule, limits, phase_ticks or DEFAULT_PHASE_TICKS,
                          state_buffer or DEFAULT_STATE_BUFFER, window_ticks)
        new = []
        for node in view.nodes:
            if node.kind != "population" or not view.incoming[node.name]:
                continue
            for seg in channel_segments(view.incoming[node.name], node.shape[0]):
                start = sum(1 for r in new if r.post == node.name)
                rs, summary, bad = _segment_relays(view, node, seg, limits, mode, run, level, start)
                new += rs
                if summary:
                    nodes.append(summary)
                if bad:
                    unsplit[(node.name, tuple(seg))] = bad
        if not new:
            break
        run = apply_level(run, new)
        relays += new
        view = None
    if not relays:
        return None, (SplitRecord(schedule, mode, unsplit=tuple(unsplit.values())) if unsplit else None), view
    record = SplitRecord(schedule, mode, tuple(relays), tuple(nodes), tuple(unsplit.values()))
    return run, dataclasses.replace(record, extra_ticks=extra_ticks(net, run, schedule)), view


def _depths(net) -> dict:
    """Ticks until each population of ``net.unroll()`` first receives input (longest delay path)."""
    flat = net.unroll()
    incoming: dict[str, list] = {}
    for c in flat.connections:
        incoming.setdefault(c.post, []).append(c)
    depth = {flat.input.name: 0}
    for p in flat.populations:
        d = [depth[c.pre] + c.delay for c in incoming.get(p.name, ()) if c.pre in depth]
        depth[p.name] = max(d) if d else 0
    return depth


def extra_ticks(net, run, schedule: str) -> dict:
    """Latency the relays add per readout (its deepest population) and ``"max"``, in ticks."""
    before, after = _depths(net), _depths(run)
    out = {}
    for r in net.unroll().readouts:
        pops = [t.population for t in r.terms]
        out[r.name] = int(max(after[p] for p in pops) - max(before[p] for p in pops))
    out["max"] = max(out.values(), default=0)
    return out
