"""How much memory a simulation will take, estimated before it starts (issue 14 §3).

A run that does not fit is refused with the estimate and what would fit (a batch size, a number of
images or of ticks) instead of being killed by the system halfway. :func:`check_run` covers what every
backend keeps for the whole run — the spike-encoded input (``B × T × input``, float32, made before
any backend starts) and the spike trains the reference simulators keep (``B × T × neurons``, uint8)
— plus each reference simulator's working memory; the ``fast`` simulator plans its own batches and
chunks within the budget (:func:`itnet_neuro.sim.fast.estimate_memory`).

Budget: ``max_memory`` bytes if given, else ``ITNET_NEURO_MAX_MEMORY``, else 70 % of the memory
available now (``MemAvailable``).
"""

from __future__ import annotations

import os

from itnet_neuro.errors import SimulationError, ValidationError

#: Working bytes per neuron and tick of the images being simulated at once (besides the uint8 trains):
#: nengo's float64 probe of one image, nengo-dl's float32 probe of its minibatch, brian2's spike monitor
#: (int32 index + float64 time per spike; at most one spike per tick), the reference loop's float64 state.
WORKING_BYTES = {"fast": 0, "reference": 8, "nengo": 8, "nengo-dl": 4, "brian2": 12}
#: Bytes per synapse of the simulator's own copy of the network (nengo's sparse transforms, brian2's
#: Synapses with their per-synapse arrays); the others read the IR's weights.
SYNAPSE_BYTES = {"fast": 0, "reference": 0, "nengo": 16, "nengo-dl": 16, "brian2": 64}
#: Interpreter, TensorFlow and simulator overhead not counted above.
OVERHEAD = 200 << 20


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


def budget(max_memory: int | None = None) -> int:
    """Bytes a simulation may use (see the module docstring)."""
    if max_memory:
        return int(max_memory)
    raw = os.environ.get("ITNET_NEURO_MAX_MEMORY")
    if raw:
        try:
            return int(float(raw))
        except ValueError:
            raise ValidationError(f"ITNET_NEURO_MAX_MEMORY={raw!r}: must be a number of bytes") from None
    return int(0.7 * available_memory())


def run_bytes(unrolled, images: int, ticks: int, backend: str, *, record: bool = False, batch: int | None = None,
              n_synapses: int | None = None) -> int:
    """Bytes of the whole-run arrays of simulating ``images`` images for ``ticks`` ticks on ``backend``.

    ``unrolled`` is the unrolled network; ``batch`` the images a backend holds at once (nengo-dl's
    minibatch; nengo and brian2 run one image at a time, the reference loop all of them).
    """
    neurons = sum(p.size for p in unrolled.populations)
    spikes_in = 0 if unrolled.input.encoding == "current" else images * ticks * unrolled.input.size * (4 + 8 + 1)
    trains = images * ticks * neurons if (record or backend != "fast") else 0
    at_once = {"nengo": 1, "brian2": 1, "reference": images}.get(backend, batch or images)
    working = WORKING_BYTES.get(backend, 8) * at_once * ticks * neurons
    synapses = 0
    if SYNAPSE_BYTES.get(backend, 0):
        synapses = SYNAPSE_BYTES[backend] * (unrolled.n_synapses if n_synapses is None else n_synapses)
    return int(spikes_in + trains + working + synapses + OVERHEAD)


def check_run(net, images: int, ticks: int, backend: str, *, record: bool = False, batch: int | None = None,
              max_memory: int | None = None) -> int:
    """Refuse a run whose whole-run arrays do not fit the budget; return the estimate in bytes.

    Raises
    ------
    SimulationError
        With the estimate, the budget and the largest number of images (and for nengo-dl the
        minibatch) that would fit, or the number of ticks when not even one image fits.
    """
    unrolled = net.unroll()
    n_syn = unrolled.n_synapses if SYNAPSE_BYTES.get(backend, 0) else 0
    limit = budget(max_memory)

    def need(b_images, b_ticks=ticks, b_batch=batch):
        return run_bytes(unrolled, b_images, b_ticks, backend, record=record, batch=b_batch, n_synapses=n_syn)

    total = need(images)
    if total <= limit:
        return total
    advice = _advice(need, images, ticks, backend, batch, limit)
    raise SimulationError(f"{backend} simulator: {images} image(s) × {ticks} ticks of {net.name!r} need about "
                          f"{total / 2**30:.1f} GiB, {limit / 2**30:.1f} GiB available; {advice}")


def _advice(need, images: int, ticks: int, backend: str, batch: int | None, limit: int) -> str:
    if backend == "nengo-dl":
        fit = _largest(lambda b: need(images, ticks, b) <= limit, min(batch or images, images))
        if fit:
            return f"use --batch-size {fit}"
    fit = _largest(lambda n: need(n, ticks, min(batch or n, n)) <= limit, images)
    if fit:
        return f"simulate at most {fit} image(s) per run (--images {fit})"
    t_fit = _largest(lambda t: need(1, t, 1) <= limit, ticks)
    if t_fit:
        return f"simulate fewer ticks (--ticks {t_fit} fits one image), or a smaller input"
    return "use a smaller input or a machine with more memory"


def _largest(fits, upper: int) -> int:
    """The largest ``n`` in ``[1, upper]`` with ``fits(n)`` (monotone), 0 if none."""
    lo, hi = 0, int(upper)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


__all__ = ["available_memory", "budget", "run_bytes", "check_run", "WORKING_BYTES", "SYNAPSE_BYTES"]
