"""``fast``: the project's vectorized IF simulator (time folded into the batch, a vectorized tick loop per chunk).

How it is fast
--------------
The network is evaluated population by population in topological order, a *chunk* of ``Tc`` ticks
at a time. A population's input current for all ``Tc`` ticks of a chunk is one batched op per incoming
connection (its kernel in :mod:`itnet_neuro.sim.kernels.tf_ops`, or the numpy kernels of
:mod:`itnet_neuro.sim.kernels.blas_ops`: :func:`choose_kernels`, :func:`kernel_factory`) applied to the
presynaptic spike frames of ticks ``t - d`` with time folded into the batch dimension; frames without a
spike are skipped. The negative half of a signed pair whose current is exactly minus its positive
half's (:func:`_mirrors`: every ItNet pair) runs no ops: both halves fire from ``±`` one sum. Its
spikes then follow from the neuron update of :mod:`itnet_neuro.sim.core`, one tick after the other,
each tick one vectorized step over every neuron and image of the batch (add, compare, subtract where
it spiked) — exact by construction. Where ``pip install`` found a C compiler that update is one compiled
pass over the chunk (:mod:`itnet_neuro.sim.kernels._neuron`, :func:`compiled_update`) instead of numpy's
five passes per tick, with numpy's arithmetic bit for bit; it also adds up the population's op outputs as
it reads them (:class:`_Sum`: an identity op is its frames times a gain), and the frames reach TensorFlow
64-byte aligned, so without a copy. The compiled ops of :mod:`itnet_neuro.sim.kernels._ops` cast the spike
frames to float while noting the empty ones, resample, run the depthwise windows that TensorFlow's
kernels run slowly at ItNet sizes, and add a chunk's spikes to the readout counts. A worker's large
per-chunk arrays come from buffers it keeps from one chunk to the next (:mod:`itnet_neuro.sim.kernels.buffers`:
no page faults after the first chunk), and the input's constant current (``encoding="current"``) is read
per image by the update rather than written out for every frame (:meth:`_Sum.add_constant`). (The closed form of DESIGN.md §7,
``c(t) = max(0, max_τ floor((v + S(τ)) / θ))``, was the previous rule: a cumulative sum, a division, a
running maximum and a gathered tick-by-tick fallback for the neurons it did not cover; numpy runs it
as seven float64 passes over the chunk against three here, and it measured about 6× slower on the
shipped model — issue 17.)

Arithmetic: ``precision="float32"`` (default) sums currents and integrates membranes in float32, as
nengo-dl, sinabs and snntoolbox do; ``precision="float64"`` does both in float64 and then matches the
float64 reference/nengo/brian2 spike for spike even on arbitrary float weights. With dyadic weights
(every integer-weight chip, the tests) both are exact; on the shipped model's float weights float32
moves about 1 spike in 10⁴ to a neighbouring tick or neuron at rounding ties. The ``looped`` schedule runs
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
import threading

import numpy as np

from itnet_neuro.errors import SimulationError
from itnet_neuro.ir.graph import Network
from itnet_neuro.sim.core import (RunSpec, SimResult, finish_result, local_grid, regenerated_spikes, regular_train,
                                  synapses_per_pre_neuron)
from itnet_neuro.sim.kernels.blas_ops import compiled_dtype, compiled_ops
from itnet_neuro.sim.kernels.buffers import aligned_empty, pooled
from itnet_neuro.utils import process_age, progress


def estimate_memory(net: Network, batch: int, chunk: int, grid_points: int, *, images: int | None = None,
                    ticks: int = 0, record: bool = False, spike_input: bool = False,
                    precision: str = "float32", kernels: str = "tensorflow") -> int:
    """Peak bytes the ``fast`` simulator needs for ``batch`` images and chunks of ``chunk`` ticks.

    Per image of a batch: the membranes of every neuron (float32, or float64 with ``precision="float64"``),
    the delay tails, the running readout counts. Per image and tick of a chunk: one uint8 spike frame per
    neuron (all chunk buffers alive, the worst case), and for the largest population its current (in
    the same dtype) and spikes, the current of the largest signed pair's half (a mirrored pair's,
    :func:`_mirrors`), the frames of its largest input, two op outputs (:class:`_Sum` keeps two for the
    compiled update to add as it reads them) and, with the
    numpy kernels, their temporaries (the largest convolution's unfolded input, :func:`_unfolded_size`,
    a padded input, :func:`_padded_size`, and one more current-sized array). Per chunk: the shared
    presynaptic frames (:data:`FRAME_CACHE_BYTES`, shared out between the workers of :func:`run`, which split a
    batch's images: nothing is repeated per worker), and the buffers kept for the next chunk's arrays
    (:data:`POOL_BYTES`, shared out the same way; no more than a chunk's frames and spikes). For the whole run
    (``images``, default ``batch``): the readout counts on the grid (uint32), the spike-encoded input (float32,
    ``ticks`` of it) and, with ``record``, every spike train (uint8).
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
    pair = max([p.size for p in net.populations if p.pair is not None] or [0])
    per_image = total * (fbytes + dmax) + ro_size * 4 + net.input.size * fbytes
    per_tick = (total + largest * (fbytes + 1) + largest_pre * fbytes * 2 + 2 * largest * fbytes
                + unfolded * fbytes + pair * fbytes)
    whole = images * (ro_size * 4 * grid_points + (ticks * net.input.size * 4 if spike_input else 0)
                      + (ticks * total if record else 0))
    pool = min(POOL_BYTES, batch * chunk * total * (2 * fbytes + 1))  # frames, a pair's difference, spikes
    return int(batch * (per_image + chunk * per_tick) + whole) + FRAME_CACHE_BYTES + pool + (200 << 20)


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
                workers: int = 1, **whole_run):
    """``(batch, chunk)`` that fit the memory budget, or :class:`SimulationError` with what would fit; a
    batch's images are split between ``workers``.

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
    if not chunk_ticks:
        share = -(-batch // max(1, min(workers, batch)))  # images per worker
        frames = FRAMES_PER_CHUNK[whole_run.get("kernels", "tensorflow")]
        want_chunk = min(ticks, MAX_CHUNK_TICKS, max(8, frames // share))
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


#: Frames (images × ticks) per chunk and worker, by kernel set, when the caller names no chunk length:
#: fewer calls per tick on longer chunks, but larger arrays run out of cache (numpy's kernels unfold a
#: convolution's input, so they want shorter chunks). Measured on the shipped model (issue 17, hand
#: measurements, warm, best of 3): TensorFlow's, 1 image × 256 ticks — chunks of 64 ticks 0.86 s, 128
#: 0.63 s, 256 0.64 s; 8 images in 2 workers, ms per tick — 32 ticks 13.4 and 11.6, 64 ticks 10.9 and
#: 10.1, 128 ticks 10.8 and 14.1 (two runs each). numpy's, 1 image × 256 ticks — 64 ticks 0.93 s, 128
#: 1.09 s, 256 1.48 s; 8 images × 128 ticks in 2 workers — 16 ticks 3.5 s, 32 ticks 3.9 s, 64 ticks 4.4 s.
FRAMES_PER_CHUNK = {"tensorflow": 256, "numpy": 64}
#: ... and at most this many ticks: on the 4-layer CNN of benchmarks/bench_snntoolbox.py (1 image, 10
#: images one by one, TensorFlow's kernels, ms per image-tick from 100 → 200 ticks, three runs) chunks of
#: 64 ticks took 0.10–0.11, 128 ticks 0.12, the whole run (100 and 200 ticks) 0.19–0.25.
MAX_CHUNK_TICKS = 128


def fire(current: np.ndarray, v: np.ndarray, theta: np.ndarray, leak: float = 0.0, reset: str = "subtract",
         v_min: float | None = None, v_max: float | None = None) -> np.ndarray:
    """Spikes of one chunk: ``current`` ``(B, Tc, ...)`` (bias included), ``v`` ``(B, ...)`` updated in place
    in its own dtype (float32 or float64), ``theta`` broadcastable to ``v``; the neuron options as in
    :mod:`itnet_neuro.ir.graph`. Returns the spikes, uint8 ``(B, Tc, ...)``.

    The neuron update of :mod:`itnet_neuro.sim.core`, one tick after the other, each tick one
    vectorized step over all neurons and images (module docstring: the closed form it replaced made
    seven float64 passes over the chunk plus a gathered fallback where this makes three).
    """
    thetav = np.broadcast_to(np.asarray(theta, v.dtype), v.shape)
    spikes = np.empty(current.shape, np.bool_)
    keep = 1.0 - leak
    clip = v_min is not None or v_max is not None
    tmp = np.empty(v.shape, v.dtype)
    for k in range(current.shape[1]):
        if leak:
            v *= keep
        np.add(v, current[:, k], out=v)
        if clip:
            np.clip(v, v_min, v_max, out=v)
        s = spikes[:, k]
        np.greater_equal(v, thetav, out=s)
        # unmasked arithmetic (a masked ufunc, where=s, runs 2.5x slower): v − θ·0 and v·1 are v exactly
        if reset == "zero":
            np.logical_not(s, out=tmp, casting="unsafe")
            v *= tmp
        else:
            np.multiply(thetav, s, out=tmp)
            v -= tmp
    return spikes.view(np.uint8)


def compiled_update(choice: str = "auto"):
    """The compiled neuron update (:mod:`itnet_neuro.sim.kernels._neuron`, built by ``pip install`` where a C
    compiler is found), or None for numpy's :func:`fire`: ``"auto"`` takes the compiled one where it was
    built, ``"compiled"`` insists on it, ``"numpy"`` never uses it. Both give the same spikes, bit for bit;
    the compiled one makes one pass over a chunk where numpy makes five per tick (issue 17)."""
    if choice not in ("auto", "compiled", "numpy"):
        raise SimulationError(f"fast simulator: neuron_update must be 'auto', 'compiled' or 'numpy', got {choice!r}")
    if choice == "numpy":
        return None
    try:
        from itnet_neuro.sim.kernels import _neuron
    except ImportError as err:
        if choice == "compiled":
            raise SimulationError(f"fast simulator: the compiled neuron update is not built ({err}); install a C "
                                  "compiler and reinstall (make setup, or pip install -e .), or use "
                                  "neuron_update='numpy'") from None
        return None
    return _neuron


class _Pop:
    """A population of the unrolled network, prepared for the chunk loop (NHWC, the run's float dtype)."""

    def __init__(self, net: Network, pop, dtype, prepare, regenerated, mirror: str | None = None,
                 fuse: bool = True):
        self.pop = pop
        self.name = pop.name
        c, h, w = pop.shape
        self.nhwc = (h, w, c)
        theta, bias = pop.neuron_params()  # (C, H, W) per neuron
        # C-contiguous NHWC (astype keeps the transposed strides): a ufunc over arrays whose strides
        # disagree runs element by element, measured 8x slower in fire()
        self.theta = np.ascontiguousarray(np.transpose(theta, (1, 2, 0)), dtype)
        self.bias = np.ascontiguousarray(np.transpose(bias, (1, 2, 0)), dtype)
        self.neuron = dict(leak=float(pop.leak), reset=pop.reset, v_min=pop.v_min, v_max=pop.v_max)
        #: the same options as :func:`itnet_neuro.sim.kernels._neuron.fire_chunk` takes them
        self.compiled_options = (1.0 - float(pop.leak), bool(pop.leak), pop.reset == "zero", pop.v_min is not None,
                                 float(pop.v_min or 0.0), pop.v_max is not None, float(pop.v_max or 0.0))
        self.v_init = float(pop.v_init)
        #: the population whose current this one's is exactly minus (a signed pair's negative half:
        #: :func:`_mirrors`); its ops are not run again
        self.mirror = mirror
        self.follower = False  # the next population mirrors this one
        incoming = net.incoming(pop.name)
        self.incoming = [(conn, None if mirror else prepare(net, conn, dtype)) for conn in incoming]
        self.slices = [(c.post_offset, c.post_offset + net.out_channels(c)) for c in incoming]
        #: an identity op's gain per neuron (NHWC, flat), for the compiled update to apply (fast._Sum)
        self.gains = {c.name: np.tile(np.asarray(c.weight, dtype).reshape(-1), h * w) for c in incoming
                      if c.op == "identity" and not mirror and net.out_channels(c) == pop.shape[0]}
        self.outgoing = [c.name for c in net.outgoing(pop.name)]
        self.index = -1
        #: connection from a signed pair's positive half → (the one from its negative half, r): one op on
        #: ``s⁺ − r·s⁻`` instead of two (:func:`_pair_inputs`)
        self.fused = {} if mirror or not fuse else _pair_inputs(net, incoming, regenerated)
        self.skipped = {b.name for b, _ in self.fused.values()}


#: Connection fields that must agree for two connections to deliver the same current up to its sign
#: (``pre`` first: the two inputs of a fused pair agree on the rest, ``_SAME_FIELDS[1:]``).
_SAME_FIELDS = ("pre", "op", "stride", "padding", "kernel", "groups", "mode", "post_offset", "delay")


def _mirrors(net: Network, regenerated) -> dict[str, str]:
    """``{negative half: positive half}`` of the signed pairs whose negative half's input current is
    exactly minus the positive half's at every tick: the same incoming connections in the same order,
    weights negated, biases negated. Negation is exact in floating point and every kernel is linear,
    so ``fast`` computes the pair's ops once and fires both halves from ``±`` the sum (issue 17)."""
    out = {}
    for p in net.populations:
        q = p.pair
        if p.sign != -1 or q is None or q not in net.pop_index or net.population(q).shape != p.shape:
            continue
        mine, theirs = net.incoming(p.name), net.incoming(q)
        if len(mine) != len(theirs) or not mine:
            continue
        if all(_negated(a, b, regenerated) for a, b in zip(mine, theirs)) and \
                np.array_equal(p.neuron_params()[1], -net.population(q).neuron_params()[1]):
            out[p.name] = q
    return out


def _same_geometry(a, b, fields=_SAME_FIELDS) -> bool:
    """Connections ``a`` and ``b`` agree on every field of ``fields``."""
    return all(getattr(a, f) == getattr(b, f) for f in fields)


def _negated(a, b, regenerated) -> bool:
    """Connection ``a`` delivers exactly minus what ``b`` delivers."""
    return (_same_geometry(a, b) and a.index is None and b.index is None
            and (a.name in regenerated) == (b.name in regenerated)
            and np.array_equal(np.asarray(a.weight), -np.asarray(b.weight)))


def _pair_inputs(net: Network, incoming, regenerated) -> dict:
    """``{conn from x⁺: (conn from x⁻, r)}`` among the convolutions ``incoming`` where the second's weights are
    the first's times ``-r`` per input channel (a signed pair read with each half's own threshold,
    ``r = θ⁻/θ⁺``): their sum is the first op applied to ``s⁺ − r·s⁻``, one op instead of two. ``r`` is
    taken from the weights and must reproduce the second connection's within 4 float32 ulps; the
    ops are linear, so the current changes only by rounding (dyadic weights: not at all)."""
    by_pre = {c.pre: c for c in incoming if c.name not in regenerated and c.op == "conv2d" and c.groups == 1}
    out = {}
    for c in incoming:
        if by_pre.get(c.pre) is not c or c.pre == net.input.name:
            continue
        pos = net.population(c.pre)
        other = by_pre.get(pos.pair) if pos.sign == 1 and pos.pair is not None else None
        if other is not None and _same_geometry(c, other, _SAME_FIELDS[1:]):
            r = _channel_ratio(np.asarray(c.weight, np.float32), np.asarray(other.weight, np.float32))
            if r is not None:
                out[c.name] = (other, r)
    return out


def _channel_ratio(plus: np.ndarray, minus: np.ndarray) -> np.ndarray | None:
    """``r`` per input channel (axis 1) with ``minus == -plus · r`` to 4 float32 ulps, or None."""
    if plus.shape != minus.shape or not np.array_equal(plus == 0, minus == 0):
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(plus == 0, np.nan, -minus.astype(np.float64) / plus)
    moved = np.moveaxis(ratio, 1, 0).reshape(plus.shape[1], -1)
    r = np.array([np.nanmedian(row) if np.isfinite(row).any() else 1.0 for row in moved], np.float32)
    ok = np.all(np.abs(-plus * r.reshape(1, -1, 1, 1) - minus) <= 4 * np.spacing(np.abs(minus)))
    return r if ok and np.all(r > 0) else None


def _prepared(net: Network, dtype, prepare, regenerated) -> list[_Pop]:
    """Every population as a :class:`_Pop`, in topological order with each mirrored pair together, the
    positive half first, where the earlier half stood (valid: both halves read the same populations).
    Pair inputs are fused (:func:`_pair_inputs`) only in float32: float64 promises the reference's sums."""
    mirror = _mirrors(net, regenerated)
    fuse = np.dtype(dtype) == np.float32
    partner = {**mirror, **{pos: neg for neg, pos in mirror.items()}}
    pops, done = [], set()
    for p in net.populations:
        if p.name in done:
            continue
        if p.name not in partner:
            pops.append(_Pop(net, p, dtype, prepare, regenerated, fuse=fuse))
            continue
        neg = p.name if p.name in mirror else partner[p.name]
        pos = mirror[neg]
        pops.append(_Pop(net, net.population(pos), dtype, prepare, regenerated, fuse=fuse))
        pops[-1].follower = True
        pops.append(_Pop(net, net.population(neg), dtype, prepare, regenerated, mirror=pos))
        done.update((pos, neg))
    for i, p in enumerate(pops):
        p.index = i
    return pops


def run(spec: RunSpec, *, record: bool = False, hardware=None, seed: int = 0, batch_size: int | None = None,
        chunk_ticks: int | None = None, max_memory: int | None = None, show_progress: bool | None = None,
        precision: str = "float32", kernels: str = "auto", neuron_update: str = "auto", workers: int | None = None,
        **_) -> SimResult:
    """Simulate ``spec`` (see the module docstring). ``hardware`` adds its trial-to-trial noise
    (:meth:`itnet_neuro.sim.hardware.Hardware.input_noise`); ``kernels``: ``"numpy"``,
    ``"tensorflow"`` or ``"auto"`` (:func:`choose_kernels`); ``neuron_update``: ``"compiled"``, ``"numpy"``
    or ``"auto"`` (:func:`compiled_update`); ``workers``: threads that each run a share of a batch's images
    (default :func:`default_workers`)."""
    net = spec.unrolled
    ticks = spec.ticks
    images = spec.inputs.shape[0]
    lg = local_grid(spec)
    kernels = choose_kernels(kernels, net, images * ticks)
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise SimulationError(f"fast simulator: workers must be at least 1, got {workers}")
    batch, chunk = _plan_batch(net, images, ticks, len(lg), batch_size, chunk_ticks, max_memory, record=record,
                               spike_input=spec.input_spikes is not None, precision=precision, kernels=kernels,
                               workers=workers)
    if precision not in ("float32", "float64"):
        raise SimulationError(f"fast simulator: precision must be 'float32' or 'float64', got {precision!r}")
    fdt = np.float32 if precision == "float32" else np.float64
    update = compiled_update(neuron_update)
    pops = _prepared(net, fdt, kernel_factory(kernels), spec.regenerated)
    shares = [_shares(b0, min(images, b0 + batch), workers) for b0 in range(0, images, batch)]
    workers = len(shares[0])  # no more than the first (largest) batch has images
    whole = _Run(spec, pops, fdt, -(-batch // workers), chunk, record, hardware, lg, workers, update)
    bar = progress(total=sum(map(len, shares)) * -(-ticks // chunk) * len(whole.stages), desc="fast", unit="chunk",
                   disable=None if show_progress is None else not show_progress)
    first_tick_after_s = process_age()  # issue 17: start-up as the user sees it, interpreter included
    _run_shares(whole, shares, bar)
    bar.close()
    info = {"batch_size": batch, "chunk_ticks": chunk, "threads": os.cpu_count(), "kernels": kernels,
            "workers": workers, "neuron_update": "numpy" if update is None else "compiled",
            "mirrored_populations": sum(p.mirror is not None for p in pops), "first_tick_after_s": first_tick_after_s}
    if spec.regenerated:
        info["state_buffer_spikes"] = whole.regen_spikes
    return finish_result(spec, "fast", whole.counts, lg, whole.spikes_total, whole.synops, whole.trains, info)


def default_workers() -> int:
    """Threads for the images of a batch: one per CPU this process may use (:func:`os.sched_getaffinity`).

    Each worker runs its share of the images' chunk loop on its own; numpy's large ufuncs and matrix
    products, TensorFlow's ops and the compiled update release the GIL. Measured on the shipped model,
    8 images on 2 CPUs (issue 17, hand measurement, ms per tick): TensorFlow's kernels 16.7 in one worker,
    10.8 in two; numpy's 51.6 and 28.1 (OpenBLAS's own threads mostly waited).
    """
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _shares(b0: int, b1: int, workers: int) -> list[tuple[int, int]]:
    """Images ``b0 … b1-1`` split into at most ``workers`` contiguous shares of (nearly) equal size."""
    k = max(1, min(workers, b1 - b0))
    edges = [b0 + (b1 - b0) * i // k for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


def _run_shares(whole: "_Run", shares: list[list[tuple[int, int]]], bar) -> None:
    """Every batch, its shares of images run by the workers side by side, their counts added in order. An
    error or Ctrl-C in any thread stops the others at their next chunk and is raised here."""
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    if len(shares[0]) == 1:  # one worker: no thread at all
        for (b0, b1), in shares:
            st = _Batch(whole, b0, b1)
            st.all_chunks(bar)
            whole.add(st)
        return
    with ThreadPoolExecutor(len(shares[0]), thread_name_prefix="fast") as pool:
        try:
            for share in shares:
                done = [_Batch(whole, b0, b1, slot) for slot, (b0, b1) in enumerate(share)]
                futures = [pool.submit(st.all_chunks, bar) for st in done]
                wait(futures, return_when=FIRST_EXCEPTION)
                for f in futures:
                    if f.done() and f.exception() is not None:
                        raise f.exception()
                for f, st in zip(futures, done):
                    f.result()
                    whole.add(st)
        except BaseException:
            whole.cancelled = True
            raise


class _Run:
    """What a whole run keeps: the prepared populations, the counts it returns, each worker's scratch memory."""

    def __init__(self, spec: RunSpec, pops: list[_Pop], fdt, batch: int, chunk: int, record: bool, hardware,
                 lg: np.ndarray, workers: int = 1, update=None):
        net = spec.unrolled
        self.spec, self.net, self.pops, self.fdt, self.hardware = spec, net, pops, fdt, hardware
        self.index = {p.name: p for p in pops}
        self.last_use = {conn.pre: p.index for p in pops for conn, _ in p.incoming}
        self.dmax = max((c.delay for c in net.connections), default=1)
        self.chunk = chunk
        self.lock = threading.Lock()  # the progress bar's, shared by the workers
        self.cancelled = False  # set when a worker failed or the user interrupted: the others stop
        self.per_pre = synapses_per_pre_neuron(net)
        self.spikes_total = {p.name: 0.0 for p in pops}
        self.synops = {c.name: 0.0 for c in net.connections}
        self.regen_spikes = 0.0
        self.lg = lg
        #: the compiled neuron update (:func:`compiled_update`), or None for :func:`fire`
        self.update = update
        images, ticks = spec.inputs.shape[0], spec.ticks
        # channels-first, as results keep them: the counts are a whole-run array (GBs for the paper preset),
        # written one grid tick at a time rather than transposed as a whole at the end
        self.counts = {name: np.zeros((images, len(self.lg)) + self.index[name].pop.shape, np.uint32)
                       for name in spec.readout_populations}
        # channels-first from the start: transposing the whole-run trains at the end doubled their peak
        self.trains = {p.name: np.zeros((images, ticks) + p.pop.shape, np.uint8) for p in pops} if record else None
        self.stages = _stages(spec, pops)
        self.stage_of = {p.name: k for k, st in enumerate(self.stages) for p in st}
        regen = spec.regenerated
        self.counted = {c.pre for c in net.connections if c.name in regen}  # state copies the buffer measures
        # outside populations read by a later stage at the same local ticks (mapping.schedule, rule 3)
        self.carried = {c.pre for c in net.connections if c.name not in regen and c.pre != net.input.name
                        and self.stage_of[c.pre] < self.stage_of[c.post]}
        # one current buffer for every population and chunk (a fresh array each time costs a page fault per
        # 4 KiB: a third of the paper preset's CPU time was the kernel's), one more for a mirrored pair
        # (``batch``: the images of one worker's share)
        self.scratch = [np.empty(batch * chunk * max(p.pop.size for p in pops), fdt) for _ in range(workers)]
        self.pair_scratch = [np.empty(batch * chunk * max([p.pop.size for p in pops if p.follower] or [0]), fdt)
                             for _ in range(workers)]

    def add(self, st: "_Batch") -> None:
        """Add what a finished share of images counted (in share order: the sums do not depend on timing)."""
        for name, n in st.spikes_total.items():
            self.spikes_total[name] += n
        for name, n in st.synops.items():
            self.synops[name] += n
        self.regen_spikes += sum(regenerated_spikes(m, self.spec.window_ticks, self.spec.ticks)
                                 for m in st.window.values())


class _Batch:
    """The state of one worker's share of a batch of images (membranes, delay tails, running counts, what it
    counted) and its chunk loop; ``slot``: the worker's scratch memory in :class:`_Run`."""

    def __init__(self, run: _Run, b0: int, b1: int, slot: int = 0):
        spec, net, fdt = run.spec, run.net, run.fdt
        self.run, self.b0, self.b1, self.nb = run, b0, b1, b1 - b0
        self.scratch, self.pair_scratch = run.scratch[slot], run.pair_scratch[slot]
        self.spikes_total = dict.fromkeys(run.spikes_total, 0.0)
        self.synops = dict.fromkeys(run.synops, 0.0)
        nb = self.nb
        self.x = np.ascontiguousarray(np.transpose(spec.inputs[b0:b1], (0, 2, 3, 1)))
        self.in_spikes = (None if spec.input_spikes is None
                          else np.ascontiguousarray(np.transpose(spec.input_spikes[b0:b1], (0, 1, 3, 4, 2))))
        self.const_in = self._constant_input()
        self.v = {p.name: np.array(np.broadcast_to(p.v_init * p.theta, (nb,) + p.nhwc), fdt, order="C")
                  for p in run.pops}
        self.tails = {p.name: np.zeros((nb, run.dmax) + p.nhwc, np.uint8) for p in run.pops}
        self.running = {name: np.zeros((nb,) + run.index[name].nhwc, np.uint32) for name in run.counts}
        self.window = {name: np.zeros((nb,) + run.index[name].nhwc, np.int64) for name in run.counted}
        self.kept = {name: np.zeros((nb, spec.ticks) + run.index[name].nhwc, np.uint8) for name in run.carried}

    def _constant_input(self) -> dict[str, np.ndarray]:
        """The input's current per connection from it (``encoding="current"``: the same at every tick),
        and the input's synaptic events counted."""
        run, in_name, out = self.run, self.run.net.input.name, {}
        for p in run.pops:
            for conn, prep in p.incoming:
                if conn.pre != in_name:
                    continue
                if self.in_spikes is None:
                    if prep is not None:
                        out[conn.name] = np.asarray(prep(self.x.astype(run.fdt)))
                    events = float(np.count_nonzero(self.x)) * run.spec.ticks
                else:
                    events = float(np.count_nonzero(self.in_spikes))
                self.synops[conn.name] += events * run.per_pre[conn.name]
        return out

    def all_chunks(self, bar) -> None:
        """Every stage and chunk of the run for these images; ``bar`` advanced once per chunk."""
        run, ticks = self.run, self.run.spec.ticks
        with pooled(POOL_BYTES // len(run.scratch)):
            for stage, t0 in ((s, t) for s in run.stages for t in range(1, ticks + 1, run.chunk)):
                if run.cancelled:
                    return
                self.chunk(stage, t0, min(ticks + 1, t0 + run.chunk))
                with run.lock:
                    bar.update(1)

    def chunk(self, stage: list[_Pop], t0: int, t1: int) -> None:
        """Ticks ``t0 … t1-1`` of the populations of ``stage``, in order."""
        run = self.run
        self.t0, self.t1, self.tc = t0, t1, t1 - t0
        self.buf: dict[str, np.ndarray] = {}
        self.frames_of = _FrameCache(FRAME_CACHE_BYTES // len(run.scratch))
        total = None
        for p in stage:
            factors = self._noise(p)
            if p.mirror is None:
                raw = self.scratch[:self.nb * self.tc * p.pop.size].reshape((self.nb, self.tc) + p.nhwc)
                total = self._currents(p, raw, fuse=run.update is not None and factors is None)
            else:
                self._count_regenerated(p)
            self._emitted(p, *self._fire(p, total, factors))
        for name in list(self.buf):
            self.tails[name] = _tail(self.tails[name], self.buf.pop(name), run.dmax)

    def _fire(self, p: _Pop, total: "_Sum", factors: np.ndarray | None) -> tuple[np.ndarray, int | None]:
        """The chunk's spikes of ``p`` from the ops' sum ``total`` (minus it for a mirrored half), uint8
        ``(B, Tc, H, W, C)``, and their number (None: not counted yet): the compiled update
        (:data:`_Run.update`) where the chip adds no noise (``factors`` None), else :func:`fire` on
        :meth:`_with_bias` — the same spikes."""
        run, v = self.run, self.v[p.name]
        if run.update is None or factors is not None:
            return fire(self._with_bias(p, total.whole(), factors), v, p.theta, **p.neuron), None
        s = aligned_empty(total.raw.shape, np.uint8)
        n, nb, tc = p.pop.size, self.nb, self.tc
        count = run.update.fire_chunk(total.raw.reshape(nb, tc, n), p.bias.reshape(n), p.mirror is not None,
                                      v.reshape(nb, n), p.theta.reshape(n), s.reshape(nb, tc, n),
                                      *p.compiled_options, **total.update_args(n))
        return s, count

    def _noise(self, p: _Pop) -> np.ndarray | None:
        """The chip's trial-to-trial noise factors on ``p``'s synaptic input in this chunk (NHWC), or None."""
        run = self.run
        if run.hardware is None:
            return None
        f = run.hardware.input_noise(p.name, range(self.b0, self.b1), range(self.t0, self.t1), p.pop.shape)
        return None if f is None else np.moveaxis(f, 2, -1).astype(run.fdt)

    def _with_bias(self, p: _Pop, raw: np.ndarray, factors: np.ndarray | None) -> np.ndarray:
        """The current ``p`` integrates: the ops' sum ``raw`` (minus it for a mirrored half) times the
        chip's noise ``factors``, plus the bias; in place unless ``raw`` is still needed by the next population."""
        run = self.run
        if not p.follower and p.mirror is None:
            if factors is not None:
                raw *= factors
            raw += p.bias
            return raw
        cur = self.pair_scratch[:raw.size].reshape(raw.shape)
        if factors is not None:
            np.multiply(raw, factors, out=cur)
            src = cur
        else:
            src = raw
        # minus the sum plus the bias is the bias minus the sum, bit for bit (IEEE negation is exact)
        return np.subtract(p.bias, src, out=cur) if p.mirror else np.add(src, p.bias, out=cur)

    def _currents(self, p: _Pop, raw: np.ndarray, fuse: bool) -> "_Sum":
        """Sum of ``p``'s incoming ops over the chunk, no bias, in ``raw`` ``(B, Tc, H, W, C)`` or, with ``fuse``
        (the compiled update will read it), partly left to the update (:class:`_Sum`)."""
        run, total = self.run, _Sum(raw, fuse)
        for (conn, prep), (lo, hi) in zip(p.incoming, p.slices):
            if conn.pre == run.net.input.name and self.in_spikes is None:
                const = self.const_in[conn.name]
                if not total.add_constant(const, self._input_rows(conn), lo, hi):
                    total.fold()
                    total.filled = self._add_input(raw, conn, lo, hi, total.filled)
                continue
            if conn.name in p.skipped:
                continue
            pair = p.fused.get(conn.name)
            nz, x_nz, n_events = self._frames(conn) if pair is None else self._difference(conn, *pair)
            if conn.name in run.spec.regenerated:
                self.synops[conn.name] += n_events * run.per_pre[conn.name]
            if x_nz is not None:
                total.add(nz, x_nz, prep, lo, hi, p.gains.get(conn.name))
        return total.done()

    def _first_input_frame(self, conn) -> int:
        """The chunk's local index of its first tick ``t >= conn.delay``: the input's current starts there."""
        return max(conn.delay - self.t0, 0)

    def _input_rows(self, conn) -> np.ndarray:
        """Per frame ``b·Tc + k`` of the chunk, the image ``b`` whose constant input current it gets, -1 before
        tick ``conn.delay`` (:meth:`_add_input`'s frames)."""
        first = self._first_input_frame(conn)
        rows = np.repeat(np.arange(self.nb, dtype=np.int64), self.tc).reshape(self.nb, self.tc)
        rows[:, :first] = -1
        return rows.reshape(-1)

    def _add_input(self, raw: np.ndarray, conn, lo: int, hi: int, filled: bool) -> bool:
        """Add the input's constant current (``encoding="current"``) from tick ``conn.delay`` on."""
        if not filled:
            raw.fill(0)
        first = self._first_input_frame(conn)
        if first < self.tc:
            raw[:, first:, ..., lo:hi] += self.const_in[conn.name][:, None]
        return True

    def _count_regenerated(self, p: _Pop) -> None:
        """A mirrored half runs no ops; the state buffer's events it receives are still counted."""
        run = self.run
        for conn, _ in p.incoming:
            if conn.name in run.spec.regenerated:
                self.synops[conn.name] += self._frames(conn)[2] * run.per_pre[conn.name]

    def _frames(self, conn):
        """``(nz, x, events)`` of :class:`_FrameCache` for what ``conn`` delivers in this chunk."""
        regen = conn.name in self.run.spec.regenerated
        key = ("regen" if regen else "", conn.pre, conn.delay)
        if key not in self.frames_of:
            self.frames_of.put(key, self._parts(conn), self.run.fdt, count=regen)
        return self.frames_of[key]

    def _difference(self, a, b, r: np.ndarray):
        """:meth:`_frames` of ``s_a.pre − r·s_b.pre`` (a signed pair's halves, the same delay; ``r`` per
        channel, :func:`_pair_inputs`)."""
        key = ("difference", a.pre, b.pre, a.delay, r.tobytes())
        if key not in self.frames_of:
            plus, minus = self._parts(a), self._parts(b)
            x = aligned_empty((self.nb, self.tc) + plus[0].shape[2:], self.run.fdt)
            rf, update, k = r.astype(self.run.fdt), self.run.update, 0
            nonempty = np.empty((self.nb, self.tc), np.uint8)
            for q, m in zip(plus, minus):
                part = x[:, k:k + q.shape[1]]
                if update is not None and q.dtype == m.dtype == np.uint8:  # one pass, numpy's arithmetic
                    flat = (q.shape[0], q.shape[1], -1)
                    update.pair_difference(q.reshape(flat), m.reshape(flat), rf, part.reshape(flat),
                                           nonempty[:, k:k + q.shape[1]])
                else:
                    np.multiply(m, rf, out=part)
                    np.subtract(q, part, out=part)
                    nonempty = None
                k += q.shape[1]
            if nonempty is None:
                self.frames_of.put(key, [x], self.run.fdt)
            else:  # the frames are already floats, and the update noted which hold a spike
                self.frames_of.store(key, *_selected(x, nonempty), 0.0)
        return self.frames_of[key]

    def _parts(self, conn) -> list[np.ndarray]:
        """What ``conn`` delivers in this chunk, ``(B, t_i, H, W, C)`` pieces along the ticks."""
        run, d, t0, t1 = self.run, conn.delay, self.t0, self.t1
        if conn.pre == run.net.input.name:
            frames = aligned_empty((self.nb, self.tc) + self.in_spikes.shape[2:], run.fdt)
            frames.fill(0)
            a, z = max(t0 - d, 0), min(t1 - d, self.in_spikes.shape[1])
            if z > a:
                frames[:, a - (t0 - d):z - (t0 - d)] = self.in_spikes[:, a:z]
            return [frames]
        if conn.name in run.spec.regenerated:  # the regenerating state buffer (module docstring)
            return [regular_train(self.window[conn.pre], run.spec.window_ticks, t0 - d, t1 - d)]
        if run.stage_of[conn.pre] < run.stage_of[conn.post]:
            return [_shifted(self.kept[conn.pre], t0 - d, t1 - d)]
        # the last d ticks of the previous chunk, then this chunk's first Tc - d
        tail, now = self.tails[conn.pre], self.buf[conn.pre]
        parts = [tail[:, run.dmax - d:run.dmax - d + self.tc], now[:, :max(self.tc - d, 0)]]
        return [q for q in parts if q.shape[1]]

    def _emitted(self, p: _Pop, s: np.ndarray, count: int | None) -> None:
        """Book the chunk's spikes ``s`` of ``p`` (``count`` of them, None: count them): totals, events, grid
        counts, trains; free what no later population of the chunk reads."""
        run, spec, t0, t1 = self.run, self.run.spec, self.t0, self.t1
        self.buf[p.name] = s
        count = float(np.count_nonzero(s) if count is None else count)
        self.spikes_total[p.name] += count
        for name in p.outgoing:
            if name not in spec.regenerated:
                self.synops[name] += count * run.per_pre[name]
        if p.name in run.carried:
            self.kept[p.name][:, t0 - 1:t1 - 1] = s
        if p.name in run.counted and t1 > spec.ticks - spec.window_ticks + 1:
            lo = max(t0, spec.ticks - spec.window_ticks + 1)
            self.window[p.name] += s[:, lo - t0:].sum(axis=1, dtype=np.int64)
        if p.name in run.counts:
            _count_on_grid(s, self.running[p.name], run.counts[p.name][self.b0:self.b1], run.lg, t0)
        if run.trains is not None:
            run.trains[p.name][self.b0:self.b1, t0 - 1:t1 - 1] = np.moveaxis(s, -1, 2)
        for conn, _ in p.incoming:  # release what no later population reads in this chunk
            pre = conn.pre
            if pre in self.buf and run.last_use.get(pre) == p.index:
                self.tails[pre] = _tail(self.tails[pre], self.buf.pop(pre), run.dmax)


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


#: Ops that run on the numpy kernels even with ``kernels="tensorflow"``: no arithmetic to speak of, so
#: TensorFlow's per-call conversions cost more than the op. Measured on the shipped model's connections,
#: 320 spike frames each (batch 8 × 40 ticks, 10 % spikes, 2 cores, issue 17): identity 7.2 ms numpy
#: against 15.9 ms TensorFlow, resize 26.7 against 34.4 ms (conv2d, depthwise and avgpool: TensorFlow's
#: are faster). numpy's resampling is now a compiled loop where it was built (blas_ops._two_taps).
NUMPY_ALWAYS = ("identity", "resize")
#: ... and these where the compiled window loop takes them (blas_ops.compiled_window_fits): TensorFlow's
#: depthwise kernel spends most of a call on set-up at ItNet sizes.
COMPILED_WINDOWS = ("depthwise", "avgpool")


def kernel_factory(kernels: str):
    """``prepare(net, conn, dtype)`` of the kernel set ``kernels`` (:data:`KERNELS`; with TensorFlow's,
    the ops of :data:`NUMPY_ALWAYS` and the compiled windows of :data:`COMPILED_WINDOWS` on numpy's)."""
    import importlib

    if kernels not in KERNELS:
        raise SimulationError(f"fast simulator: kernels must be one of {', '.join(map(repr, KERNELS))}, "
                              f"got {kernels!r}")
    chosen = importlib.import_module(KERNELS[kernels]).prepare
    if kernels == "numpy":
        return chosen
    blas = importlib.import_module(KERNELS["numpy"])

    def prepare(net, conn, dtype=np.float32):
        light = conn.op in NUMPY_ALWAYS or (conn.op in COMPILED_WINDOWS
                                            and blas.compiled_window_fits(conn, net.shape_of(conn.pre), dtype))
        return (blas.prepare if light else chosen)(net, conn, dtype)

    return prepare


def _add_term(flat: np.ndarray, filled: bool, nz, y: np.ndarray, lo: int, hi: int, full: int) -> bool:
    """Add one op's output ``y`` (its frames ``nz``, None: all; channels ``lo:hi``) into the frames ``flat``, which
    hold nothing yet unless ``filled``; returns True (now filled)."""
    if not filled and nz is None and (lo, hi) == (0, full):
        np.copyto(flat, y)  # 0 + y is y: no zero fill, no second pass
        return True
    if not filled:
        flat.fill(0)
    if nz is None:
        flat[..., lo:hi] += y
    else:
        flat[nz, ..., lo:hi] += y
    return True


class _Sum:
    """A population's summed input for one chunk: ``raw`` ``(B, Tc, H, W, C)`` (holding something only if
    ``filled``) plus the ops' outputs the compiled update adds as it reads them, ``terms`` — a pass over memory
    fewer per op, and none at all for an identity op (the update multiplies its frames by the gain). The same
    sum as numpy's, in the same order and roundings: ``((y₁ + y₂) + …) + y_k`` (:func:`_add_term`).
    Without ``fuse`` (numpy's update, or the chip's noise) every op is added into ``raw`` as it comes."""

    #: op outputs computed ahead and kept for the update at once: the memory estimate's current and op output
    COMPUTED = 2
    #: terms the compiled update takes (``MAX_TERMS`` of :mod:`itnet_neuro.sim.kernels._neuron`)
    TERMS = 8

    def __init__(self, raw: np.ndarray, fuse: bool):
        self.raw, self.fuse, self.filled = raw, fuse, False
        self.flat = raw.reshape((-1,) + raw.shape[2:])
        # (nz, y, prep, gain, rows): y the op's output, or its frames when gain is set; rows: see add_constant
        self.terms: list[tuple] = []

    def add(self, nz, x: np.ndarray, prep, lo: int, hi: int, gain: np.ndarray | None) -> None:
        """One op's frames ``x`` (on the frames ``nz``, None: all) and kernel ``prep``, driving channels ``lo:hi``;
        ``gain``: per neuron, for an identity op the update may multiply itself."""
        whole = (lo, hi) == (0, self.raw.shape[-1])
        lazy_gain = gain is not None and self.fuse and whole and x.dtype == self.raw.dtype and x.flags.c_contiguous
        y = x if lazy_gain else np.asarray(prep(x))
        term = (nz, y, prep, gain if lazy_gain else None, None)
        if not (self.fuse and whole and y.dtype == self.raw.dtype and y.flags.c_contiguous):
            self.fold()
            self.filled = _add_term(self.flat, self.filled, nz, y, lo, hi, self.raw.shape[-1])
            return
        computed = sum(t[3] is None and t[4] is None for t in self.terms) + (term[3] is None)
        if computed > self.COMPUTED or len(self.terms) == self.TERMS:
            self.fold()
        self.terms.append(term)

    def add_constant(self, y: np.ndarray, rows: np.ndarray, lo: int, hi: int) -> bool:
        """The same current on many frames, ``y[rows[f]]`` on frame ``f`` (-1: none), driving channels ``lo:hi``: the
        input's current under ``encoding="current"``, which the update reads from ``y`` (one row per image)
        instead of a chunk of it written out (on the shipped model a fill and an addition over its largest
        population, every chunk). False (nothing done) where the update cannot take it: the caller adds it."""
        if not (self.fuse and (lo, hi) == (0, self.raw.shape[-1]) and y.dtype == self.raw.dtype
                and y.flags.c_contiguous):
            return False
        if len(self.terms) == self.TERMS:
            self.fold()
        self.terms.append((None, y, None, None, rows))
        return True

    def fold(self) -> None:
        """Add the kept terms into ``raw``, in order (an identity's frames through its kernel first)."""
        for nz, y, prep, gain, rows in self.terms:
            y = np.asarray(prep(y)) if gain is not None else y
            if rows is not None:
                nz = rows >= 0
                y = y[rows[nz]]
            self.filled = _add_term(self.flat, self.filled, nz, y, 0, self.raw.shape[-1], self.raw.shape[-1])
        self.terms = []

    def done(self) -> "_Sum":
        """Finish: fold what the update cannot take; a sum of nothing is zero."""
        if not self.fuse:
            self.fold()
        if not self.filled and not self.terms:
            self.raw.fill(0)
            self.filled = True
        return self

    def update_args(self, n: int) -> dict:
        """``terms`` and ``has_base`` of :func:`itnet_neuro.sim.kernels._neuron.fire_chunk`."""
        terms = []
        for nz, y, _, gain, rows in self.terms:
            if nz is not None:
                rows = np.full(nz.size, -1, np.int64)
                rows[nz] = np.arange(y.shape[0])
            terms.append((y.reshape(y.shape[0], n), rows, gain))
        return {"terms": terms, "has_base": self.filled}

    def whole(self) -> np.ndarray:
        """The sum as one array (numpy's update, or a mirrored half with noise)."""
        self.fold()
        return self.raw


class _FrameCache(dict):
    """Presynaptic frames of one chunk, as the kernels take them, shared by the connections that read the
    same population at the same delay (a signed pair's two halves, a state read by several layers):
    key → ``(nz, x, events)`` — ``nz`` the mask of the ``B·Tc`` frames holding a spike (None: all
    do), ``x`` those frames in the kernels' dtype (None: no spike), ``events`` the spikes in them
    (counted only where asked: the state buffer's, whose synaptic events no population counts).
    Holds at most ``limit`` bytes of frames (one more entry if it alone is larger), oldest entries leaving first."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit, self.nbytes = limit, 0

    def put(self, key, parts: list[np.ndarray], dtype, count: bool = False) -> None:
        """Store the frames whose concatenation along the tick axis is ``parts`` (``(B, t_i, ...)`` each:
        a delay tail and this chunk's spikes, not copied together first)."""
        nb, shape = parts[0].shape[0], parts[0].shape[2:]
        tc = sum(p.shape[1] for p in parts)
        events = float(sum(p.sum(dtype=np.int64) for p in parts)) if count else 0.0
        ops = compiled_ops()
        if ops is not None and all(p.dtype == np.uint8 for p in parts) and compiled_dtype(dtype):
            nz, x = _cast_frames(ops, parts, (nb, tc) + shape, dtype)
        else:
            nz, x = _frames_numpy(parts, (nb, tc) + shape, dtype)
        self.store(key, nz, x, events)

    def store(self, key, nz, x, events: float) -> None:
        """Store ``(nz, x, events)`` under ``key``; the oldest entries leave while over the limit."""
        self[key] = (nz, x, events)
        self.nbytes += 0 if x is None else x.nbytes
        while len(self) > 1 and self.nbytes > self.limit:
            old = self.pop(next(iter(self)))[1]
            self.nbytes -= 0 if old is None else old.nbytes


def _frames_numpy(parts: list[np.ndarray], shape, dtype) -> tuple:
    """``(nz, x)`` of :class:`_FrameCache` with numpy: the nonempty frames found first, then cast — every frame
    unless at least one in :data:`SKIP_EMPTY_ONE_IN` is empty (the compiled cast's rule, :func:`_selected`),
    else only the nonempty ones."""
    nb, tc, frame = shape[0], shape[1], shape[2:]
    nz = np.concatenate([_nonempty(p) for p in parts], axis=1).reshape(-1)  # frame b·Tc + k
    n_nz = int(np.count_nonzero(nz))
    if n_nz == 0:
        return None, None
    every = _every_frame(nz.size, n_nz)
    if every and len(parts) == 1 and parts[0].dtype == dtype and parts[0].flags.c_contiguous:
        return None, parts[0].reshape((-1,) + frame)
    if every:  # cast each part straight into place
        x, k = aligned_empty(shape, dtype), 0
        for p in parts:
            x[:, k:k + p.shape[1]] = p
            k += p.shape[1]
        return None, x.reshape((-1,) + frame)
    x = aligned_empty((n_nz,) + frame, dtype)
    x[...] = np.concatenate(parts, axis=1).reshape((-1,) + frame)[nz]
    return nz, x


#: With the compiled cast (:func:`_cast_frames`) the empty frames are known only once every frame is cast; they
#: are then left out (a copy of the others) only if at least one in this many is empty: a convolution of an
#: empty frame gives zeros, which change no sum, and can cost less than copying the others out. Shipped model,
#: 8 images in 2 workers, in-process alternation (6 pairs each, issue 17): one in 4 against one in 16, wall
#: per tick median 7.90 against 8.85 ms (pair ratios median 0.83); one in 2 against one in 4, 9.15 against
#: 8.09 (1.10).
SKIP_EMPTY_ONE_IN = 4


def _every_frame(frames: int, nonempty: int) -> bool:
    """Whether all ``frames`` go to the kernels, the empty ones too: fewer than one in :data:`SKIP_EMPTY_ONE_IN`
    is empty (``nonempty`` of them are not)."""
    return (frames - nonempty) * SKIP_EMPTY_ONE_IN < frames


def _cast_frames(ops, parts: list[np.ndarray], shape, dtype) -> tuple:
    """``(nz, x)`` of :class:`_FrameCache` with the compiled cast, which notes the empty frames as it casts."""
    nb, tc, frame = shape[0], shape[1], shape[2:]
    x = aligned_empty(shape, dtype)
    nonempty = np.empty((nb, tc), np.uint8)
    ops.cast_frames([p.reshape(nb, p.shape[1], -1) for p in parts], x.reshape(nb, tc, -1), nonempty)
    return _selected(x, nonempty)


def _selected(x: np.ndarray, nonempty: np.ndarray) -> tuple:
    """``(nz, x)`` of :class:`_FrameCache` from every frame ``x`` ``(B, Tc, ...)`` and which hold a spike,
    ``nonempty`` ``(B, Tc)`` uint8: the empty frames left out if one in :data:`SKIP_EMPTY_ONE_IN` is."""
    frames = x.reshape((-1,) + x.shape[2:])
    nz = nonempty.reshape(-1).view(bool)
    n_nz = int(np.count_nonzero(nz))
    if n_nz == 0:
        return None, None
    if _every_frame(nz.size, n_nz):
        return None, frames
    kept = aligned_empty((n_nz,) + frames.shape[1:], x.dtype)
    np.compress(nz, frames, axis=0, out=kept)
    return nz, kept


def _nonempty(frames: np.ndarray) -> np.ndarray:
    """``(B, T)`` bool: which frames of ``frames`` ``(B, T, ...)`` are not all zero. uint8 frames are read 8
    at a time as uint64 (their maximum is nonzero exactly when a byte is): 3x faster than ``any``."""
    flat = frames.reshape(frames.shape[:2] + (-1,))
    if flat.dtype == np.uint8 and flat.shape[2] % 8 == 0 and flat.strides[2] == 1:
        flat = flat.view(np.uint64)
    if not flat.shape[2]:
        return np.zeros(flat.shape[:2], bool)
    return flat.max(axis=2) != 0 if flat.dtype.kind == "u" else flat.any(axis=2)


#: Bytes of presynaptic frames :class:`_FrameCache` keeps within one chunk (:func:`estimate_memory`).
FRAME_CACHE_BYTES = 64 << 20
#: Bytes of buffers the workers keep for the next chunk's arrays (:mod:`itnet_neuro.sim.kernels.buffers`),
#: shared out between them (:func:`estimate_memory`).
POOL_BYTES = 128 << 20


def _count_on_grid(s: np.ndarray, running: np.ndarray, out: np.ndarray, lg: np.ndarray, t0: int) -> None:
    """Cumulative counts of the chunk's spikes ``s`` ``(B, Tc, H, W, C)`` from tick ``t0`` on into ``out[:, g]``
    ``(B, C, H, W)`` at the grid ticks ``lg[g]`` inside the chunk; ``running`` (uint32 NHWC, the count
    before) is updated."""
    sel = np.nonzero((lg >= t0) & (lg < t0 + s.shape[1]))[0]
    k = 0
    for g in sel:
        _add_ticks(s, k, lg[g] - t0 + 1, running)
        k = lg[g] - t0 + 1
        out[:, g] = np.moveaxis(running, -1, 1)
    _add_ticks(s, k, s.shape[1], running)


def _add_ticks(s: np.ndarray, k0: int, k1: int, running: np.ndarray) -> None:
    """``running += s[:, k]`` for ``k0 <= k < k1``: the compiled loop in one pass where it was built."""
    ops = compiled_ops()
    if ops is None or k1 - k0 < 2:
        for k in range(k0, k1):
            running += s[:, k]
        return
    nb, frames = s.shape[0], s[:, k0:k1]
    ops.accumulate((frames.view(np.uint8) if frames.dtype == bool else frames).reshape(nb, k1 - k0, -1),
                   running.reshape(nb, -1))


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
