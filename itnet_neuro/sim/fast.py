"""``fast``: the project's vectorized IF simulator (time folded into the batch, a vectorized tick loop per chunk).

How it is fast
--------------
The network is evaluated population by population in topological order, a *chunk* of ``Tc`` ticks
at a time. A population's input current for all ``Tc`` ticks of a chunk is one batched TensorFlow
op per incoming connection (its kernel in :mod:`itnet_neuro.sim.kernels.tf_ops`, the registry
of this backend) applied to the presynaptic spike frames of ticks ``t - d`` with time
folded into the batch dimension; frames without a spike are skipped. Its spikes then follow from
the neuron update of :mod:`itnet_neuro.sim.core`, one tick after the other, each tick one vectorized
step over every neuron and image of the batch (add, compare, subtract where it spiked) — exact by
construction. (The closed form of DESIGN.md §7, ``c(t) = max(0, max_τ floor((v + S(τ)) / θ))``, was
the previous rule: a cumulative sum, a division, a running maximum and a gathered tick-by-tick
fallback for the neurons it did not cover; numpy runs it as seven float64 passes over the chunk
against three here, and it measured about 6× slower on the shipped model — issue 17.)

Arithmetic: currents in float32 (TensorFlow; ``precision="float64"`` computes them in float64 and then
matches the float64 reference/nengo/brian2 spike for spike even on arbitrary float weights — on the
converted tiny ItNet float32 moves ~0.5% of per-neuron counts at rounding ties), membranes in
float64. The ``looped`` schedule runs
the unrolled copies for ``T_phase`` ticks and places copy ``n`` at offset ``(n-1)·T_phase``, which
is what the looped schedule computes with the replaying state buffer (:mod:`itnet_neuro.sim.core`;
the literal phase-by-phase loop in :mod:`itnet_neuro.sim.reference` is tested against it). With the
regenerating buffer copy ``n``'s feedback input depends on copy ``n-1``'s *final* window, so the
copies run in stages, one iteration after the other (stage 1 with the populations outside the
block), and a regenerated connection's frames are the buffer's regular train
(:func:`itnet_neuro.sim.core.regular_train`) instead of its presynaptic copy's spikes.

Memory is estimated before anything runs (:func:`estimate_memory`); a batch that would not fit is
refused with the batch size that would.
"""

from __future__ import annotations

import os

import numpy as np

from itnet_neuro.errors import SimulationError
from itnet_neuro.ir.graph import Network
from itnet_neuro.sim.core import (RunSpec, SimResult, finish_result, local_grid, regenerated_spikes, regular_train,
                                  synapses_per_pre_neuron)
from itnet_neuro.utils import process_age, progress


def estimate_memory(net: Network, batch: int, chunk: int, grid_points: int, *, images: int | None = None,
                    ticks: int = 0, record: bool = False, spike_input: bool = False,
                    precision: str = "float32", kernels: str = "tensorflow") -> int:
    """Peak bytes the ``fast`` simulator needs for ``batch`` images and chunks of ``chunk`` ticks.

    Per image of a batch: float64 membranes of every neuron, the delay tails, the running readout
    counts. Per image and tick of a chunk: one uint8 spike frame per neuron (all chunk buffers alive, the
    worst case), and for the largest population its current (float32, or float64 with
    ``precision="float64"``) and spikes, the frames and op output of its largest input and, with the
    numpy kernels, their temporaries (the largest convolution's unfolded input, :func:`_unfolded_size`,
    a padded input, :func:`_padded_size`, and one more current-sized array). Per chunk: the shared
    presynaptic frames (:data:`FRAME_CACHE_BYTES`). For the whole run (``images``, default ``batch``): the
    readout counts on the grid (uint32), the spike-encoded input (float32, ``ticks`` of it) and, with
    ``record``, every spike train (uint8).
    """
    images = batch if images is None else images
    fbytes = 8 if precision == "float64" else 4
    sizes = [p.size for p in net.populations]
    total = sum(sizes)
    largest = max(sizes)
    dmax = max((c.delay for c in net.connections), default=1)
    ro = {t.population for r in net.readouts for t in r.terms}
    ro_size = sum(net.population(p).size for p in ro)
    largest_pre = max([int(np.prod(net.shape_of(c.pre))) for c in net.connections] + [net.input.size])
    # the numpy kernels' temporaries: a convolution's unfolded input, a padded copy of its input, and a
    # second output-sized array (a depthwise product before it is summed)
    unfolded = _unfolded_size(net) + _padded_size(net) + largest if kernels == "numpy" else 0
    per_image = total * (8 + dmax) + ro_size * 4 + net.input.size * fbytes
    per_tick = total + largest * (fbytes + 1) + largest_pre * fbytes * 2 + largest * fbytes + unfolded * fbytes
    whole = images * (ro_size * 4 * grid_points + (ticks * net.input.size * 4 if spike_input else 0)
                      + (ticks * total if record else 0))
    return int(batch * (per_image + chunk * per_tick) + whole) + FRAME_CACHE_BYTES + (200 << 20)


def _padded_size(net: Network) -> int:
    """Elements per frame of the largest zero-padded input of a windowed op (conv2d, depthwise, avgpool)."""
    sizes = [0]
    for c in net.connections:
        if c.op in ("conv2d", "depthwise", "avgpool") and any(c.padding):
            ch, h, w = net.shape_of(c.pre)
            top, bottom, left, right = c.padding
            sizes.append(ch * (h + top + bottom) * (w + left + right))
    return max(sizes)


def _unfolded_size(net: Network) -> int:
    """Elements per frame of the largest input the numpy kernels unfold for a convolution (im2col:
    output pixels × kernel taps × input channels per group, :mod:`itnet_neuro.sim.kernels.blas_ops`)."""
    sizes = [0]
    for c in net.connections:
        if c.op == "conv2d" and tuple(c.kernel) != (1, 1):
            _, h, w = net.shape_of(c.post)
            sizes.append(h * w * c.kernel[0] * c.kernel[1] * int(c.weight.shape[1]))
    return max(sizes)


def _plan_batch(net: Network, images: int, ticks: int, grid_points: int, batch_size, chunk_ticks, max_memory,
                **whole_run):
    """``(batch, chunk)`` that fit the memory budget, or :class:`SimulationError` with what would fit.

    ``whole_run``: ``record``, ``spike_input``, ``precision``, ``kernels`` as :func:`estimate_memory` takes them.
    """
    from itnet_neuro.sim.memory import _largest, budget as memory_budget

    limit = memory_budget(max_memory)

    def need(b, c, n=images):
        return estimate_memory(net, b, c, grid_points, images=n, ticks=ticks, **whole_run)

    want_chunk = min(ticks, chunk_ticks or 64)
    batch = max(1, min(int(batch_size), images)) if batch_size else images
    if batch_size is None:
        while batch > 1 and need(batch, min(want_chunk, 16)) > limit:
            batch = max(1, batch // 2)
    if need(batch, 1) > limit:
        fit = _largest(lambda b: need(b, 1) <= limit, batch)
        n_fit = _largest(lambda n: need(1, 1, n) <= limit, images)
        hint = (f"use --batch-size {fit}" if fit else f"simulate at most {n_fit} image(s) per run (--images "
                f"{n_fit})" if n_fit else "use a smaller input, fewer ticks or fewer grid points")
        raise SimulationError(f"fast simulator: {images} image(s) × {ticks} ticks of {net.name!r} need about "
                              f"{need(batch, 1) / 2**30:.1f} GiB in batches of {batch}, {limit / 2**30:.1f} GiB "
                              f"available; {hint}")
    chunk = want_chunk
    while chunk > 1 and need(batch, chunk) > limit:
        chunk = max(1, chunk // 2)
    return batch, chunk


def fire(current: np.ndarray, v: np.ndarray, theta: np.ndarray, leak: float = 0.0, reset: str = "subtract",
         v_min: float | None = None, v_max: float | None = None) -> np.ndarray:
    """Spikes of one chunk: ``current`` ``(B, Tc, ...)`` (bias included), ``v`` ``(B, ...)`` float64 updated
    in place, ``theta`` broadcastable to ``v``; the neuron options as in :mod:`itnet_neuro.ir.graph`.
    Returns the spikes, uint8 ``(B, Tc, ...)``.

    The neuron update of :mod:`itnet_neuro.sim.core`, one tick after the other, each tick one
    vectorized step over all neurons and images (module docstring: the closed form it replaced made
    seven float64 passes over the chunk plus a gathered fallback where this makes three).
    """
    theta64 = np.broadcast_to(np.asarray(theta, np.float64), v.shape)
    spikes = np.empty(current.shape, np.bool_)
    keep = 1.0 - leak
    clip = v_min is not None or v_max is not None
    tmp = np.empty(v.shape, np.float64)
    for k in range(current.shape[1]):
        if leak:
            v *= keep
        np.add(v, current[:, k], out=v)
        if clip:
            np.clip(v, v_min, v_max, out=v)
        s = spikes[:, k]
        np.greater_equal(v, theta64, out=s)
        # unmasked arithmetic (a masked ufunc, where=s, runs 2.5x slower): v − θ·0 and v·1 are v exactly
        if reset == "zero":
            np.logical_not(s, out=tmp, casting="unsafe")
            v *= tmp
        else:
            np.multiply(theta64, s, out=tmp)
            v -= tmp
    return spikes.view(np.uint8)


class _Pop:
    """A population of the unrolled network, prepared for the chunk loop (NHWC)."""

    def __init__(self, net: Network, pop, index: int, dtype, prepare):
        self.pop = pop
        self.name = pop.name
        c, h, w = pop.shape
        self.nhwc = (h, w, c)
        theta, bias = pop.neuron_params()  # (C, H, W) per neuron
        # C-contiguous NHWC (astype keeps the transposed strides): a ufunc over arrays whose strides
        # disagree runs element by element, measured 8x slower in fire()
        self.theta = np.ascontiguousarray(np.transpose(theta, (1, 2, 0)), np.float64)
        self.bias = np.ascontiguousarray(np.transpose(bias, (1, 2, 0)), dtype)
        self.neuron = dict(leak=float(pop.leak), reset=pop.reset, v_min=pop.v_min, v_max=pop.v_max)
        self.v_init = float(pop.v_init)
        self.incoming = [(conn, prepare(net, conn, dtype)) for conn in net.incoming(pop.name)]
        self.slices = [(c.post_offset, c.post_offset + net.out_channels(c)) for c, _ in self.incoming]
        self.outgoing = [c.name for c in net.outgoing(pop.name)]
        self.index = index


def run(spec: RunSpec, *, record: bool = False, hardware=None, seed: int = 0, batch_size: int | None = None,
        chunk_ticks: int | None = None, max_memory: int | None = None, show_progress: bool | None = None,
        precision: str = "float32", kernels: str = "auto", **_) -> SimResult:
    """Simulate ``spec`` (see the module docstring). ``hardware`` adds its trial-to-trial noise
    (:meth:`itnet_neuro.sim.hardware.Hardware.input_noise`); ``kernels``: ``"numpy"``,
    ``"tensorflow"`` or ``"auto"`` (:func:`choose_kernels`)."""
    net = spec.unrolled
    ticks = spec.ticks
    images = spec.inputs.shape[0]
    lg = local_grid(spec)
    kernels = choose_kernels(kernels, net, images * ticks)
    batch, chunk = _plan_batch(net, images, ticks, len(lg), batch_size, chunk_ticks, max_memory, record=record,
                               spike_input=spec.input_spikes is not None, precision=precision, kernels=kernels)
    if precision not in ("float32", "float64"):
        raise SimulationError(f"fast simulator: precision must be 'float32' or 'float64', got {precision!r}")
    fdt = np.float32 if precision == "float32" else np.float64
    prepare = kernel_factory(kernels)
    pops = [_Pop(net, p, i, fdt, prepare) for i, p in enumerate(net.populations)]
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
    # channels-first, as results keep them: the counts are a whole-run array (GBs for the paper preset),
    # written one grid tick at a time rather than transposed as a whole at the end
    counts_out = {name: np.zeros((images, len(lg)) + index[name].pop.shape, np.uint32) for name in ro_pops}
    # channels-first from the start: transposing the whole-run trains at the end doubled their peak
    trains = {p.name: np.zeros((images, ticks) + p.pop.shape, np.uint8) for p in pops} if record else None
    in_name = net.input.name
    n_chunks = -(-ticks // chunk)
    stages = _stages(spec, pops)
    stage_of = {p.name: k for k, st in enumerate(stages) for p in st}
    regen = spec.regenerated
    counted = {c.pre for c in net.connections if c.name in regen}  # state copies the buffer measures
    # outside populations read by a later stage at the same local ticks (mapping.schedule, rule 3)
    carried = {c.pre for c in net.connections if c.name not in regen and c.pre != net.input.name
               and stage_of[c.pre] < stage_of[c.post]}
    regen_spikes = 0.0
    bar = progress(total=-(-images // batch) * n_chunks * len(stages), desc="fast", unit="chunk",
                   disable=None if show_progress is None else not show_progress)
    # one current buffer for every population and chunk: a fresh array each time costs a page fault per
    # 4 KiB (a third of the paper preset's CPU time was the kernel's)
    scratch = np.empty(batch * chunk * max(p.pop.size for p in pops), fdt)
    first_tick_after_s = process_age()  # issue 17: start-up as the user sees it, interpreter included
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
        v = {p.name: np.array(np.broadcast_to(p.v_init * p.theta, (nb,) + p.nhwc), np.float64, order="C")
             for p in pops}
        tails = {p.name: np.zeros((nb, dmax) + p.nhwc, np.uint8) for p in pops}
        running = {name: np.zeros((nb,) + index[name].nhwc, np.uint32) for name in ro_pops}
        window = {name: np.zeros((nb,) + index[name].nhwc, np.int64) for name in counted}
        kept = {name: np.zeros((nb, ticks) + index[name].nhwc, np.uint8) for name in carried}
        for stage, t0 in ((st, t) for st in stages for t in range(1, ticks + 1, chunk)):
            t1 = min(ticks + 1, t0 + chunk)
            tc = t1 - t0
            buf: dict[str, np.ndarray] = {}
            frames_of = _FrameCache()
            for p in stage:
                cur = scratch[:nb * tc * p.pop.size].reshape((nb, tc) + p.nhwc)
                cur.fill(0)
                for (conn, prep), (lo, hi) in zip(p.incoming, p.slices):
                    d = conn.delay
                    if conn.pre == in_name and in_spikes is None:
                        first = max(d - t0, 0)  # local index of the first tick t >= d
                        if first < tc:
                            cur[:, first:, ..., lo:hi] += const_in[conn.name][:, None]
                        continue
                    key = ("regen" if conn.name in regen else "", conn.pre, d)
                    if key not in frames_of:
                        if conn.pre == in_name:
                            e0, e1 = t0 - d, t1 - d
                            frames = np.zeros((nb, tc) + in_spikes.shape[2:], fdt)
                            a, z = max(e0, 0), min(e1, in_spikes.shape[1])
                            if z > a:
                                frames[:, a - e0:z - e0] = in_spikes[:, a:z]
                        elif conn.name in regen:  # the regenerating state buffer (module docstring)
                            frames = regular_train(window[conn.pre], spec.window_ticks, t0 - d, t1 - d)
                        elif stage_of[conn.pre] < stage_of[p.name]:
                            frames = _shifted(kept[conn.pre], t0 - d, t1 - d)
                        else:
                            both = np.concatenate([tails[conn.pre], buf[conn.pre]], axis=1)
                            frames = both[:, dmax - d:dmax - d + tc]
                        frames_of.put(key, frames, fdt, count=conn.name in regen)
                    nz, x_nz, n_events = frames_of[key]
                    if conn.name in regen:
                        synops[conn.name] += n_events * per_pre[conn.name]
                    if x_nz is None:
                        continue
                    target = cur.reshape((nb * tc,) + p.nhwc)
                    if nz is None:
                        target[..., lo:hi] += np.asarray(prep(x_nz))
                    else:
                        target[nz, ..., lo:hi] += np.asarray(prep(x_nz))
                if hardware is not None:  # trial-to-trial noise on the synaptic input
                    factors = hardware.input_noise(p.name, range(b0, b1), range(t0, t1), p.pop.shape)
                    if factors is not None:
                        cur *= np.moveaxis(factors, 2, -1).astype(fdt)
                cur += p.bias
                s = fire(cur, v[p.name], p.theta, **p.neuron)
                del cur
                buf[p.name] = s
                count = float(np.count_nonzero(s))
                spikes_total[p.name] += count
                for name in p.outgoing:
                    if name not in regen:
                        synops[name] += count * per_pre[name]
                if p.name in carried:
                    kept[p.name][:, t0 - 1:t1 - 1] = s
                if p.name in counted and t1 > ticks - spec.window_ticks + 1:
                    lo = max(t0, ticks - spec.window_ticks + 1)
                    window[p.name] += s[:, lo - t0:].sum(axis=1, dtype=np.int64)
                if p.name in ro_pops:
                    _count_on_grid(s, running[p.name], counts_out[p.name][b0:b1], lg, t0)
                if record:
                    trains[p.name][b0:b1, t0 - 1:t1 - 1] = np.moveaxis(s, -1, 2)
                for conn, _ in p.incoming:  # release what no later population reads in this chunk
                    pre = conn.pre
                    if pre in buf and last_use.get(pre) == p.index:
                        tails[pre] = _tail(tails[pre], buf.pop(pre), dmax)
            for name in list(buf):
                tails[name] = _tail(tails[name], buf.pop(name), dmax)
            bar.update(1)
        regen_spikes += sum(regenerated_spikes(m, spec.window_ticks, ticks) for m in window.values())
    bar.close()
    counts = counts_out
    info = {"batch_size": batch, "chunk_ticks": chunk, "threads": os.cpu_count(), "kernels": kernels,
            "first_tick_after_s": first_tick_after_s}
    if regen:
        info["state_buffer_spikes"] = regen_spikes
    return finish_result(spec, "fast", counts, lg, spikes_total, synops, trains, info)


#: ``kernels=`` of :func:`run` → the module whose ``prepare`` builds the ops.
KERNELS = {"numpy": "itnet_neuro.sim.kernels.blas_ops", "tensorflow": "itnet_neuro.sim.kernels.tf_ops"}


#: Below this many neuron-ticks (all images) ``kernels="auto"`` runs the numpy kernels unless TensorFlow is
#: already imported. Measured on the shipped model (415 k neurons unrolled, 2 cores, batch 1, issue 17):
#: TensorFlow's convolutions save 6–10 ms per image-tick (more at larger batches), its import costs 4–5 s,
#: so it pays off after 450–750 image-ticks; 1.5·10⁸ neuron-ticks is about 360.
AUTO_NUMPY_NEURON_TICKS = 1.5e8


def choose_kernels(kernels: str, net: Network, image_ticks: int) -> str:
    """``kernels`` itself, or for ``"auto"`` the faster set for a run of ``image_ticks`` (images × ticks) on
    ``net`` counting TensorFlow's import: ``"tensorflow"`` once it is imported or for a long run."""
    import sys

    if kernels != "auto":
        return kernels
    if "tensorflow" in sys.modules:
        return "tensorflow"
    work = float(image_ticks) * sum(p.size for p in net.populations)
    return "numpy" if work < AUTO_NUMPY_NEURON_TICKS else "tensorflow"


def kernel_factory(kernels: str):
    """``prepare(net, conn, dtype)`` of the kernel set ``kernels`` (:data:`KERNELS`)."""
    import importlib

    if kernels not in KERNELS:
        raise SimulationError(f"fast simulator: kernels must be one of {', '.join(map(repr, KERNELS))}, "
                              f"got {kernels!r}")
    return importlib.import_module(KERNELS[kernels]).prepare


class _FrameCache(dict):
    """Presynaptic frames of one chunk, as the kernels take them, shared by the connections that read the
    same population at the same delay (a signed pair's two halves, a state read by several layers):
    key → ``(nz, x, events)`` — ``nz`` the mask of the ``B·Tc`` frames holding a spike (None: all
    do), ``x`` those frames in the kernels' dtype (None: no spike), ``events`` the spikes in them
    (counted only where asked: the state buffer's, whose synaptic events no population counts).
    Holds at most :data:`FRAME_CACHE_BYTES`, oldest entries leaving first."""

    def put(self, key, frames: np.ndarray, dtype, count: bool = False) -> None:
        flat = frames.reshape((-1,) + frames.shape[2:])
        nz = flat.reshape(flat.shape[0], -1).any(axis=1)
        n_nz = int(np.count_nonzero(nz))
        events = float(flat.sum(dtype=np.int64)) if n_nz and count else 0.0
        if n_nz == 0:
            x, nz = None, None
        elif n_nz == flat.shape[0]:
            x, nz = flat.astype(dtype), None
        else:
            x = flat[nz].astype(dtype)
        while self and sum(e[1].nbytes for e in self.values() if e[1] is not None) > FRAME_CACHE_BYTES:
            del self[next(iter(self))]
        self[key] = (nz, x, events)


#: Bytes of presynaptic frames :class:`_FrameCache` keeps within one chunk (:func:`estimate_memory`).
FRAME_CACHE_BYTES = 64 << 20


def _count_on_grid(s: np.ndarray, running: np.ndarray, out: np.ndarray, lg: np.ndarray, t0: int) -> None:
    """Cumulative counts of the chunk's spikes ``s`` ``(B, Tc, H, W, C)`` from tick ``t0`` on into ``out[:, g]``
    ``(B, C, H, W)`` at the grid ticks ``lg[g]`` inside the chunk; ``running`` (uint32 NHWC, the count
    before) is updated."""
    sel = np.nonzero((lg >= t0) & (lg < t0 + s.shape[1]))[0]
    k = 0
    for g in sel:
        for k in range(k, lg[g] - t0 + 1):
            running += s[:, k]
        k = lg[g] - t0 + 1
        out[:, g] = np.moveaxis(running, -1, 1)
    for k in range(k, s.shape[1]):
        running += s[:, k]


def _shifted(train: np.ndarray, e0: int, e1: int) -> np.ndarray:
    """Frames of ``train`` ``(B, T, ...)`` (index k = emission at tick k+1) emitted at ticks ``e0 … e1-1``."""
    out = np.zeros((train.shape[0], e1 - e0) + train.shape[2:], train.dtype)
    a = max(e0, 1)
    if e1 > a:
        out[:, a - e0:] = train[:, a - 1:e1 - 1]
    return out


def _stages(spec: RunSpec, pops: list) -> list[list]:
    """Populations in the order they run: all at once, or — with the regenerating state buffer —
    iteration by iteration (the populations outside the block, which only feed iteration 1, with it)."""
    if not spec.regenerated:
        return [pops]
    n_it = spec.iterations
    stage_of = [int(p.name.rsplit("@", 1)[1]) if "@" in p.name else 1 for p in pops]
    return [[p for p, k in zip(pops, stage_of) if k == n] for n in range(1, n_it + 1)]


def _tail(old: np.ndarray, new: np.ndarray, dmax: int) -> np.ndarray:
    """The last ``dmax`` frames of ``old`` followed by ``new`` (ticks before the next chunk)."""
    if new.shape[1] >= dmax:
        return new[:, -dmax:].copy()
    return np.concatenate([old, new], axis=1)[:, -dmax:].copy()
