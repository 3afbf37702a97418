"""Event-driven kernels of the ``fast`` simulator: a convolution computed from its input's spikes only.

A dense convolution costs every input pixel × kernel taps × input channels × output channels whether
a neuron spiked or not; driven by events, the cost follows the spikes: each presynaptic pixel that
holds a spike in some channel adds its row of the kernel (``(k_H·k_W·C_out)`` values: its channels'
events times the weights, one sparse-times-dense product for all pixels) to the outputs it reaches,
tap by tap (a pixel reaches at most one output per tap, so the scatter needs no atomic add). Same
semantics as :mod:`itnet_neuro.sim.kernels.tf_ops` (NHWC, zero padding, stride; ``groups = 1``), and the
op table :mod:`itnet_neuro.ir.ops` is the reference. numpy and scipy only.

Which is faster depends on how many presynaptic pixels hold a spike: the dense kernels run near the
machine's MAC rate, this one at numpy's gather/scatter rate, so it wins only on sparse input.
``benchmarks/bench_event_driven.py`` measures the crossover on the shipped model's convolutions: it lies
near 0.1 % of neurons spiking per frame, where those populations fire at 7–12 %, so ``fast`` does not
use this kernel (finding the events is itself a pass over the frames, which is most of what the dense
kernel costs on these small convolutions). It stays as the measured alternative and its reference.
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.sim.kernels import KernelRegistry

#: The event-driven kernels, by op (``conv2d`` only, one group).
EVENTS = KernelRegistry("fast (event-driven kernels)")


def prepare(net, conn, dtype=np.float32):
    """The event-driven kernel of ``conn`` of ``net`` in ``dtype`` (NHWC)."""
    return EVENTS(conn.op)(conn, tuple(net.shape_of(conn.pre)), tuple(net.shape_of(conn.post)), np.dtype(dtype))


def supports(conn) -> bool:
    """Whether ``conn`` has an event-driven kernel here."""
    return conn.op in EVENTS and conn.groups == 1


@EVENTS.register("conv2d")
def conv2d(conn, pre, post, dtype):
    (kh, kw), (sh, sw) = conn.kernel, conn.stride
    top, _, left, _ = conn.padding
    c_out, c_in = conn.weight.shape[:2]
    # row c: every tap's weights from input channel c, (ky, kx, o) order
    rows = np.ascontiguousarray(np.transpose(conn.weight, (1, 2, 3, 0)).reshape(c_in, -1), dtype)
    ho, wo = post[1], post[2]

    def apply(x):
        import scipy.sparse as sp

        x = np.asarray(x)
        n, h, w, c = x.shape
        out = np.zeros((n * ho * wo, c_out), dtype)
        pix, ch = np.nonzero(x.reshape(-1, c))  # events, pixel-major (sorted by pixel)
        if pix.size == 0:
            return out.reshape(n, ho, wo, c_out)
        first = np.empty(pix.size, bool)
        first[0], first[1:] = True, pix[1:] != pix[:-1]
        active = pix[first]
        row_of = np.cumsum(first) - 1
        events = sp.csr_matrix((x.reshape(-1, c)[pix, ch].astype(dtype), (row_of, ch)), shape=(active.size, c))
        reach = np.asarray(events @ rows).reshape(active.size, kh, kw, c_out)
        img, rest = np.divmod(active, h * w)
        y, xx = np.divmod(rest, w)
        for ky in range(kh):
            oy, ry = np.divmod(y + top - ky, sh)
            for kx in range(kw):
                ox, rx = np.divmod(xx + left - kx, sw)
                ok = (ry == 0) & (rx == 0) & (oy >= 0) & (oy < ho) & (ox >= 0) & (ox < wo)
                out[(img[ok] * ho + oy[ok]) * wo + ox[ok]] += reach[ok, ky, kx]
        return out.reshape(n, ho, wo, c_out)

    return apply
