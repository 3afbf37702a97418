"""``fast``: the project's vectorized IF simulator (time folded into the batch, closed-form firing).

How it is fast
--------------
The network is evaluated population by population in topological order, a *chunk* of ``Tc`` ticks
at a time. A population's input current for all ``Tc`` ticks of a chunk is one batched TensorFlow
op per incoming connection (its kernel in :mod:`itnet_neuro.sim.kernels.tf_ops`, the registry
of this backend) applied to the presynaptic spike frames of ticks ``t - d`` with time
folded into the batch dimension; frames without a spike are skipped. Its spikes then follow without
a tick loop (DESIGN.md §7): for a non-leaky IF neuron with reset by subtraction, ``v < θ`` at the
chunk start and every tick's input ``I ≤ θ``, the spike count up to local tick ``t`` is exactly::

    c(t) = max(0, max_{τ ≤ t} floor((v + S(τ)) / θ)),        S(τ) = Σ_{k ≤ τ} I[k]

(by induction: ``u(t-1) < θ·(c(t-1) + 1)`` and ``I ≤ θ`` keep ``c`` from rising by more than one per
tick, so the sequential rule "spike iff ``u(t) - θ·c(t-1) ≥ θ``" and the formula agree). So the
chunk is one cumulative sum, one division, one running maximum. Neurons that violate the condition
in a chunk (an input above θ, a membrane at or above θ carried over, or a leak) are gathered and
updated tick by tick — exactly, not approximately — so the result never depends on the shortcut.

Arithmetic: currents in float32 (TensorFlow; ``precision="float64"`` computes them in float64 and then
matches the float64 reference/nengo/brian2 spike for spike even on arbitrary float weights — on the
converted tiny ItNet float32 moves ~0.5% of per-neuron counts at rounding ties), membrane sums in
float64. The ``looped`` schedule runs
the unrolled copies for ``T_phase`` ticks and places copy ``n`` at offset ``(n-1)·T_phase``, which
is what the looped schedule computes (:mod:`itnet_neuro.sim.core`; the literal phase-by-phase loop
in :mod:`itnet_neuro.sim.reference` is tested against it).

Memory is estimated before anything runs (:func:`estimate_memory`); a batch that would not fit is
refused with the batch size that would.
"""

from __future__ import annotations

import os

import numpy as np

from itnet_neuro.errors import SimulationError
from itnet_neuro.ir.graph import Network
from itnet_neuro.sim.core import RunSpec, SimResult, finish_result, local_grid, synapses_per_pre_neuron
from itnet_neuro.utils import progress


def available_memory() -> int:
    """Bytes of memory available now (``MemAvailable``), or 4 GiB where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def estimate_memory(net: Network, batch: int, chunk: int, grid_points: int) -> int:
    """Peak bytes the ``fast`` simulator needs for ``batch`` images and chunks of ``chunk`` ticks.

    Per image: float64 membranes of every neuron, the delay tails, the readout counts on the grid.
    Per image and tick of a chunk: one uint8 spike frame per neuron (all chunk buffers alive, the
    worst case), and for the largest population its float32 current, float64 cumulative sum and the
    float32 frames and op output of its largest input.
    """
    sizes = [p.size for p in net.populations]
    total = sum(sizes)
    largest = max(sizes)
    dmax = max((c.delay for c in net.connections), default=1)
    ro = {t.population for r in net.readouts for t in r.terms}
    ro_size = sum(net.population(p).size for p in ro)
    largest_pre = max([int(np.prod(net.shape_of(c.pre))) for c in net.connections] + [net.input.size])
    per_image = total * (8 + dmax) + ro_size * 4 * grid_points + net.input.size * 4
    per_tick = total + largest * (4 + 8 + 8 + 1) + largest_pre * 4 * 2 + largest * 4
    return int(batch * (per_image + chunk * per_tick)) + (200 << 20)


def _plan_batch(net: Network, images: int, ticks: int, grid_points: int, batch_size, chunk_ticks, max_memory):
    budget = int(max_memory or 0.7 * available_memory())

    def fits(b, c):
        return estimate_memory(net, b, c, grid_points) <= budget

    want_chunk = min(ticks, chunk_ticks or 64)
    if batch_size is None:
        batch = images
        while batch > 1 and not fits(batch, min(want_chunk, 16)):
            batch = max(1, batch // 2)
    else:
        batch = max(1, min(int(batch_size), images))
    if not fits(batch, 1):
        need = estimate_memory(net, batch, 1, grid_points)
        fit = 0
        for b in range(batch, 0, -1):
            if fits(b, 1):
                fit = b
                break
        hint = (f"use --batch-size {fit}" if fit else "use a smaller input (or fewer ticks on the grid)")
        raise SimulationError(f"fast simulator: {batch} image(s) of {net.name!r} need about {need / 2**30:.1f} GiB, "
                              f"{budget / 2**30:.1f} GiB available; {hint}")
    chunk = want_chunk
    while chunk > 1 and not fits(batch, chunk):
        chunk = max(1, chunk // 2)
    return batch, chunk


def fire(current: np.ndarray, v: np.ndarray, theta: np.ndarray, leak: float = 0.0, reset: str = "subtract",
         v_min: float | None = None, v_max: float | None = None) -> tuple[np.ndarray, int]:
    """Spikes of one chunk: ``current`` ``(B, Tc, ...)`` float32 (bias included), ``v`` ``(B, ...)`` float64
    updated in place, ``theta`` broadcastable to ``v``; the neuron options as in :mod:`itnet_neuro.ir.graph`.
    Returns ``(spikes uint8 (B, Tc, ...), n_sequential)``.

    The closed form (module docstring) holds for the non-leaky neuron with reset by subtraction; with
    saturation it holds where the membrane provably stays inside ``[v_min, v_max]``: it stays below
    ``θ + max_t I`` and, since counts only grow, above ``v + min_t S(t) − θ·c(Tc)``. Every other
    neuron (all of them for a leak or reset to zero) takes the exact tick-by-tick update.
    """
    theta64 = np.broadcast_to(np.asarray(theta, np.float64), v.shape)
    if leak != 0.0 or reset != "subtract":
        spikes = np.empty(current.shape, np.uint8)
        v[...] = _sequential(current, v, theta64, spikes, leak, reset, v_min, v_max)
        return spikes, int(v.size)
    c_max = current.max(axis=1)
    bad = (v >= theta64) | (c_max > theta64)
    if v_max is not None:
        bad |= theta64 + c_max > v_max
    del c_max
    v0 = v.copy()  # the chunk's start, for the neurons that turn out to need the sequential update
    u = np.cumsum(current, axis=1, dtype=np.float64)
    u += v[:, None]
    u_min = u.min(axis=1) if v_min is not None else None
    last = u[:, -1].copy()
    u /= theta64[:, None]
    np.floor(u, out=u)
    np.maximum.accumulate(u, axis=1, out=u)
    np.maximum(u, 0.0, out=u)
    spikes = np.empty(current.shape, np.uint8)
    spikes[:, 0] = u[:, 0] > 0
    np.greater(u[:, 1:], u[:, :-1], out=spikes[:, 1:], casting="unsafe")
    v[...] = last - theta64 * u[:, -1]
    if u_min is not None:
        bad |= u_min - theta64 * u[:, -1] < v_min
    del u
    n_bad = int(np.count_nonzero(bad))
    if n_bad:
        cur_b = np.moveaxis(current, 1, -1)[bad]  # (n_bad, Tc)
        s_b = np.empty(cur_b.shape, np.uint8)
        v[bad] = _sequential(cur_b, v0[bad], theta64[bad], s_b, leak, reset, v_min, v_max, time_axis=-1)
        np.moveaxis(spikes, 1, -1)[bad] = s_b
    return spikes, n_bad


def _sequential(cur, v, theta, out, leak, reset, v_min, v_max, time_axis: int = 1) -> np.ndarray:
    """The tick-by-tick neuron update (:mod:`itnet_neuro.sim.core`) of ``cur`` (ticks on ``time_axis``)
    from membranes ``v`` (float64); spikes into ``out`` (shaped like ``cur``); returns the final ``v``."""
    keep = 1.0 - leak
    v = np.array(v, np.float64)
    cur = np.moveaxis(cur, time_axis, 0)
    out = np.moveaxis(out, time_axis, 0)
    for k in range(cur.shape[0]):
        v = keep * v + cur[k] if leak else v + cur[k]
        if v_min is not None or v_max is not None:
            np.clip(v, v_min, v_max, out=v)
        s = v >= theta
        if reset == "zero":
            v[s] = 0.0
        else:
            v -= theta * s
        out[k] = s
    return v


class _Pop:
    """A population of the unrolled network, prepared for the chunk loop (NHWC)."""

    def __init__(self, net: Network, pop, index: int, dtype=np.float32):
        from itnet_neuro.sim.kernels.tf_ops import prepare

        self.pop = pop
        self.name = pop.name
        c, h, w = pop.shape
        self.nhwc = (h, w, c)
        theta, bias = pop.neuron_params()  # (C, H, W) per neuron
        self.theta = np.transpose(theta, (1, 2, 0)).astype(np.float64)
        self.bias = np.transpose(bias, (1, 2, 0)).astype(np.float32)
        self.neuron = dict(leak=float(pop.leak), reset=pop.reset, v_min=pop.v_min, v_max=pop.v_max)
        self.v_init = float(pop.v_init)
        self.incoming = [(conn, prepare(net, conn, dtype)) for conn in net.incoming(pop.name)]
        self.index = index


def run(spec: RunSpec, *, record: bool = False, hardware=None, seed: int = 0, batch_size: int | None = None,
        chunk_ticks: int | None = None, max_memory: int | None = None, show_progress: bool | None = None,
        precision: str = "float32", **_) -> SimResult:
    """Simulate ``spec`` (see the module docstring). ``hardware`` adds its trial-to-trial noise
    (:meth:`itnet_neuro.sim.hardware.Hardware.input_noise`)."""
    from itnet_neuro.utils import import_tf

    import_tf()
    net = spec.unrolled
    ticks = spec.ticks
    images = spec.inputs.shape[0]
    lg = local_grid(spec)
    batch, chunk = _plan_batch(net, images, ticks, len(lg), batch_size, chunk_ticks, max_memory)
    if precision not in ("float32", "float64"):
        raise SimulationError(f"fast simulator: precision must be 'float32' or 'float64', got {precision!r}")
    fdt = np.float32 if precision == "float32" else np.float64
    pops = [_Pop(net, p, i, fdt) for i, p in enumerate(net.populations)]
    index = {p.name: p for p in pops}
    last_use: dict[str, int] = {}
    for p in pops:
        for conn, _ in p.incoming:
            last_use[conn.pre] = p.index
    dmax = max((c.delay for c in net.connections), default=1)
    ro_pops = set(spec.readout_populations)
    per_pre = synapses_per_pre_neuron(net)
    spikes_total = {p.name: 0.0 for p in pops}
    synops = {c.name: 0.0 for c in net.connections}
    n_sequential = {p.name: 0 for p in pops}
    counts_out = {name: np.zeros((images, len(lg)) + index[name].nhwc, np.uint32) for name in ro_pops}
    trains = {p.name: np.zeros((images, ticks) + p.nhwc, np.uint8) for p in pops} if record else None
    in_name = net.input.name
    n_chunks = -(-ticks // chunk)
    bar = progress(total=-(-images // batch) * n_chunks, desc="fast", unit="chunk",
                   disable=None if show_progress is None else not show_progress)
    for b0 in range(0, images, batch):
        b1 = min(images, b0 + batch)
        nb = b1 - b0
        x_nhwc = np.ascontiguousarray(np.transpose(spec.inputs[b0:b1], (0, 2, 3, 1)))
        in_spikes = (None if spec.input_spikes is None
                     else np.ascontiguousarray(np.transpose(spec.input_spikes[b0:b1], (0, 1, 3, 4, 2))))
        const_in: dict[str, np.ndarray] = {}
        for p in pops:
            for conn, prep in p.incoming:
                if conn.pre == in_name:
                    if in_spikes is None:
                        const_in[conn.name] = np.asarray(prep(x_nhwc.astype(fdt)))
                        synops[conn.name] += float(np.count_nonzero(x_nhwc)) * ticks * per_pre[conn.name]
                    else:
                        synops[conn.name] += float(np.count_nonzero(in_spikes)) * per_pre[conn.name]
        v = {p.name: np.broadcast_to(p.v_init * p.theta, (nb,) + p.nhwc).astype(np.float64) for p in pops}
        tails = {p.name: np.zeros((nb, dmax) + p.nhwc, np.uint8) for p in pops}
        running = {name: np.zeros((nb,) + index[name].nhwc, np.uint32) for name in ro_pops}
        for t0 in range(1, ticks + 1, chunk):
            t1 = min(ticks + 1, t0 + chunk)
            tc = t1 - t0
            buf: dict[str, np.ndarray] = {}
            for p in pops:
                cur = np.zeros((nb, tc) + p.nhwc, fdt)
                for conn, prep in p.incoming:
                    d = conn.delay
                    lo, hi = conn.post_offset, conn.post_offset + net.out_channels(conn)
                    if conn.pre == in_name:
                        if in_spikes is None:
                            first = max(d - t0, 0)  # local index of the first tick t >= d
                            if first < tc:
                                cur[:, first:, ..., lo:hi] += const_in[conn.name][:, None]
                            continue
                        e0, e1 = t0 - d, t1 - d
                        frames = np.zeros((nb, tc) + in_spikes.shape[2:], fdt)
                        a, z = max(e0, 0), min(e1, in_spikes.shape[1])
                        if z > a:
                            frames[:, a - e0:z - e0] = in_spikes[:, a:z]
                    else:
                        both = np.concatenate([tails[conn.pre], buf[conn.pre]], axis=1)
                        frames = both[:, dmax - d:dmax - d + tc]
                    flat = frames.reshape((nb * tc,) + frames.shape[2:])
                    nz = flat.reshape(nb * tc, -1).any(axis=1)
                    n_nz = int(nz.sum())
                    if n_nz == 0:
                        continue
                    target = cur.reshape((nb * tc,) + p.nhwc)
                    if n_nz == nb * tc:
                        target[..., lo:hi] += np.asarray(prep(flat.astype(fdt)))
                    else:
                        target[nz, ..., lo:hi] += np.asarray(prep(flat[nz].astype(fdt)))
                if hardware is not None:  # trial-to-trial noise on the synaptic input
                    factors = hardware.input_noise(p.name, range(b0, b1), range(t0, t1), p.pop.shape)
                    if factors is not None:
                        cur *= np.moveaxis(factors, 2, -1).astype(fdt)
                cur += p.bias.astype(fdt)
                s, n_bad = fire(cur, v[p.name], p.theta, **p.neuron)
                del cur
                n_sequential[p.name] += n_bad
                buf[p.name] = s
                count = float(s.sum(dtype=np.int64))
                spikes_total[p.name] += count
                for conn in net.outgoing(p.name):
                    synops[conn.name] += count * per_pre[conn.name]
                if p.name in ro_pops:
                    cs = np.cumsum(s, axis=1, dtype=np.uint32)
                    cs += running[p.name][:, None]
                    sel = (lg >= t0) & (lg < t1)
                    counts_out[p.name][b0:b1, sel] = cs[:, lg[sel] - t0]
                    running[p.name] = cs[:, -1]
                if record:
                    trains[p.name][b0:b1, t0 - 1:t1 - 1] = s
                for conn, _ in p.incoming:  # release what no later population reads in this chunk
                    pre = conn.pre
                    if pre in buf and last_use.get(pre) == p.index:
                        tails[pre] = _tail(tails[pre], buf.pop(pre), dmax)
            for name in list(buf):
                tails[name] = _tail(tails[name], buf.pop(name), dmax)
            bar.update(1)
    bar.close()
    counts = {name: np.ascontiguousarray(np.moveaxis(c, -1, 2)) for name, c in counts_out.items()}
    if record:
        trains = {name: np.ascontiguousarray(np.moveaxis(t, -1, 2)) for name, t in trains.items()}
    info = {"batch_size": batch, "chunk_ticks": chunk, "sequential_neuron_chunks": n_sequential,
            "threads": os.cpu_count()}
    return finish_result(spec, "fast", counts, lg, spikes_total, synops, trains, info)


def _tail(old: np.ndarray, new: np.ndarray, dmax: int) -> np.ndarray:
    """The last ``dmax`` frames of ``old`` followed by ``new`` (ticks before the next chunk)."""
    if new.shape[1] >= dmax:
        return new[:, -dmax:].copy()
    return np.concatenate([old, new], axis=1)[:, -dmax:].copy()
