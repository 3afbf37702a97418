"""The ground truth: a plain tick-by-tick numpy loop over the IR, in float64.

Nothing clever: every tick, every population integrates the delayed spikes of its inputs through
the op's linear map (written here again in numpy, independently of :mod:`itnet_neuro.ir.tf_ops`), adds
its bias, and fires and resets one neuron update at a time (:mod:`itnet_neuro.sim.core` states the
semantics; every neuron option of the IR — per-neuron maps, reset to zero, leak, saturation — and a
chip's trial-to-trial noise are modelled). The looped schedule is implemented literally — phases,
parameter row ``n-1``, a state buffer replaying phase ``n-1`` — so that the tests can check the
``fast`` simulator's shortcut (looped = unrolled copies shifted by ``(n-1)·T_phase``) against it.

Also here: :func:`connection_matrix`, every connection as a sparse ``post × pre`` matrix, which the
``brian2`` and ``nengo`` backends build their synapses from.
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.ir.graph import Connection, Network, Population
from itnet_neuro.sim.core import RunSpec, SimResult, finish_result, local_grid, synapses_per_pre_neuron


# ------------------------------------------------------------------------------------------- ops
def resize_matrix(n_in: int, n_out: int, mode: str) -> np.ndarray:
    """``(n_out, n_in)`` 1-D resampling matrix of ``tf.image.resize`` (half-pixel centres, no antialias)."""
    a = np.zeros((n_out, n_in))
    scale = n_in / n_out
    o = np.arange(n_out)
    if mode == "nearest":
        src = np.minimum(np.floor((o + 0.5) * scale).astype(int), n_in - 1)
        a[o, src] = 1.0
        return a
    src = (o + 0.5) * scale - 0.5
    f = np.floor(src)
    lerp = src - f
    lo = np.clip(f, 0, n_in - 1).astype(int)
    hi = np.clip(f + 1, 0, n_in - 1).astype(int)
    np.add.at(a, (o, lo), 1.0 - lerp)
    np.add.at(a, (o, hi), lerp)
    return a


def _patches(xp: np.ndarray, ky: int, kx: int, stride, out_hw):
    sh, sw = stride
    return xp[:, :, ky:ky + sh * (out_hw[0] - 1) + 1:sh, kx:kx + sw * (out_hw[1] - 1) + 1:sw]


def apply_op(net: Network, conn: Connection, x: np.ndarray) -> np.ndarray:
    """The linear map of ``conn`` on ``x`` ``(B, C_pre, H, W)`` → ``(B, C_out, H_post, W_post)``, float64."""
    x = np.asarray(x, np.float64)
    post = net.shape_of(conn.post)
    out_hw = post[1:]
    w = conn.weight.astype(np.float64)
    op = conn.op
    b = x.shape[0]
    if op in ("conv2d", "depthwise", "avgpool"):
        top, bottom, left, right = conn.padding
        xp = np.pad(x, [(0, 0), (0, 0), (top, bottom), (left, right)])
        kh, kw = conn.kernel
        if op == "conv2d":
            g = conn.groups
            cin_g = w.shape[1]
            per = w.shape[0] // g
            out = np.zeros((b, w.shape[0]) + tuple(out_hw))
            for ky in range(kh):
                for kx in range(kw):
                    patch = _patches(xp, ky, kx, conn.stride, out_hw)
                    for k in range(g):
                        out[:, k * per:(k + 1) * per] += np.einsum(
                            "oi,bihw->bohw", w[k * per:(k + 1) * per, :, ky, kx], patch[:, k * cin_g:(k + 1) * cin_g])
            return out
        c_in = x.shape[1]
        if op == "depthwise":
            m = w.shape[0] // c_in
            out = np.zeros((b, c_in, m) + tuple(out_hw))
            for ky in range(kh):
                for kx in range(kw):
                    patch = _patches(xp, ky, kx, conn.stride, out_hw)
                    out += patch[:, :, None] * w[:, 0, ky, kx].reshape(1, c_in, m, 1, 1)
            return out.reshape(b, c_in * m, *out_hw)
        ones = np.pad(np.ones((1, 1) + x.shape[2:]), [(0, 0), (0, 0), (top, bottom), (left, right)])
        s = np.zeros((b, c_in) + tuple(out_hw))
        cnt = np.zeros((1, 1) + tuple(out_hw))
        for ky in range(kh):
            for kx in range(kw):
                s += _patches(xp, ky, kx, conn.stride, out_hw)
                cnt += _patches(ones, ky, kx, conn.stride, out_hw)
        return s / np.maximum(cnt, 1.0) * w.reshape(1, -1, 1, 1)
    if op == "dense":
        return (x.reshape(b, -1) @ w.T).reshape(b, -1, 1, 1)
    if op == "resize":
        if tuple(x.shape[2:]) != tuple(out_hw):
            ah = resize_matrix(x.shape[2], out_hw[0], conn.mode)
            aw = resize_matrix(x.shape[3], out_hw[1], conn.mode)
            x = np.einsum("oh,bchw,pw->bcop", ah, x, aw, optimize=True)
        return x * w.reshape(1, -1, 1, 1)
    return x * w.reshape(1, -1, 1, 1)  # identity


def _window_taps(pre_hw, post_hw, kernel, stride, padding):
    """Valid (output pixel, tap) pairs: arrays ``out_idx, ky, kx, in_idx`` (flat spatial indices)."""
    ho, wo = post_hw
    oy, ox, ky, kx = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(kernel[0]), np.arange(kernel[1]),
                                 indexing="ij")
    iy = oy * stride[0] - padding[0] + ky
    ix = ox * stride[1] - padding[2] + kx
    ok = (iy >= 0) & (iy < pre_hw[0]) & (ix >= 0) & (ix < pre_hw[1])
    return (oy * wo + ox)[ok], ky[ok], kx[ok], (iy * pre_hw[1] + ix)[ok]


def connection_matrix(net: Network, conn: Connection):
    """``conn`` as a ``scipy.sparse.csr_matrix`` of shape ``(post neurons, pre neurons)`` (CHW order).

    Rows cover the whole ``post`` population (the ``post_offset`` channels are placed), so
    ``I_post = M @ s_pre`` for flattened channels-first vectors.
    """
    import scipy.sparse as sp

    pre = net.shape_of(conn.pre)
    post = net.shape_of(conn.post)
    p_in, p_out = pre[1] * pre[2], post[1] * post[2]
    n_pre, n_post = int(np.prod(pre)), int(np.prod(post))
    row0 = conn.post_offset * p_out
    w = conn.weight.astype(np.float64)
    op = conn.op
    if op == "dense":
        m = sp.csr_matrix(w)
        rows, cols, vals = m.nonzero()[0], m.nonzero()[1], m.data
        coo = m.tocoo()
        rows, cols, vals = coo.row, coo.col, coo.data
    elif op in ("conv2d", "depthwise", "avgpool"):
        o_idx, ky, kx, i_idx = _window_taps(pre[1:], post[1:], conn.kernel, conn.stride, conn.padding)
        if op == "conv2d":
            g = conn.groups
            c_out, cin_g = w.shape[0], w.shape[1]
            per = c_out // g
            o = np.arange(c_out)[:, None, None]
            i = np.arange(cin_g)[None, :, None]
            ch_in = (o // per) * cin_g + i
            rows = np.broadcast_to(o * p_out + o_idx[None, None], (c_out, cin_g, len(o_idx)))
            cols = np.broadcast_to(ch_in * p_in + i_idx[None, None], rows.shape)
            vals = w[np.arange(c_out)[:, None, None], np.arange(cin_g)[None, :, None], ky[None, None], kx[None, None]]
        elif op == "depthwise":
            c_out = w.shape[0]
            m_ = c_out // pre[0]
            o = np.arange(c_out)[:, None]
            rows = o * p_out + o_idx[None]
            cols = (o // m_) * p_in + i_idx[None]
            vals = w[o, 0, ky[None], kx[None]]
        else:
            counts = np.bincount(o_idx, minlength=p_out).astype(np.float64)
            c = np.arange(pre[0])[:, None]
            rows = c * p_out + o_idx[None]
            cols = c * p_in + i_idx[None]
            vals = w[c] / counts[o_idx][None]
        rows, cols, vals = (np.ravel(a) for a in (rows, cols, vals))
    else:  # resize, identity: per-channel gain on a spatial map
        if op == "resize" and tuple(pre[1:]) != tuple(post[1:]):
            a = sp.csr_matrix(np.kron(resize_matrix(pre[1], post[1], conn.mode),
                                      resize_matrix(pre[2], post[2], conn.mode)))
        else:
            a = sp.identity(p_in, format="csr")
        blocks = sp.block_diag([a * float(g) for g in w], format="coo")
        rows, cols, vals = blocks.row, blocks.col, blocks.data
    m = sp.coo_matrix((vals, (rows + row0, cols)), shape=(n_post, n_pre)).tocsr()
    m.sum_duplicates()
    return m


# ----------------------------------------------------------------------------------- simulation
class _Neurons:
    """State of one population copy: ``v`` ``(B, C, H, W)`` float64, its parameter row, its neuron options.

    ``noise(name, t)``: the trial-to-trial factors ``(B, C, H, W)`` on the synaptic input of tick ``t``,
    or None (:meth:`itnet_neuro.sim.hardware.Hardware.input_noise`)."""

    def __init__(self, pop: Population, row: int, batch: int, name: str | None = None, noise=None):
        theta, bias = pop.neuron_params(row + 1)
        self.theta = theta.astype(np.float64)[None]
        self.bias = bias.astype(np.float64)[None]
        self.leak = float(pop.leak)
        self.reset, self.v_min, self.v_max = pop.reset, pop.v_min, pop.v_max
        self.v = np.broadcast_to(pop.v_init * self.theta, (batch,) + pop.shape).copy()
        self.name, self.noise = name or pop.name, noise

    def step(self, current: np.ndarray, t: int) -> np.ndarray:
        """One tick: ``v = (1 - leak)·v + I·n + b``; saturate; ``s = v >= θ``; reset."""
        if self.noise is not None:
            factors = self.noise(self.name, t)
            if factors is not None:
                current = current * factors
        self.v = (1.0 - self.leak) * self.v + (current + self.bias)
        if self.v_min is not None or self.v_max is not None:
            self.v = np.clip(self.v, self.v_min, self.v_max)
        s = self.v >= self.theta
        if self.reset == "zero":
            self.v[s] = 0.0
        else:
            self.v -= self.theta * s
        return s


def _input_emission(spec: RunSpec, e: int) -> np.ndarray:
    return spec.inputs.astype(np.float64) if spec.input_spikes is None else spec.input_spikes[:, e].astype(np.float64)


def run(spec: RunSpec, *, record: bool = False, hardware=None, seed: int = 0, **_) -> SimResult:
    """Run ``spec`` tick by tick (see the module docstring) with ``hardware``'s trial-to-trial noise."""
    batch = spec.inputs.shape[0]
    noise = None
    if hardware is not None and hardware.has_input_noise:
        def noise(name, t):
            return hardware.input_noise(name, range(batch), (t,), unet.population(name).shape)[:, 0]

    ticks = spec.ticks
    unet = spec.unrolled
    # trains[name][:, t] = spikes emitted at local tick t (index 0 = tick 0: none for populations)
    trains = {p.name: np.zeros((batch, ticks + 1) + p.shape, np.uint8) for p in unet.populations}

    def emission(net: Network, pre: str, e: int, copy: str | None = None):
        if e < 0:
            return None
        if pre == net.input.name:
            return _input_emission(spec, e) if e < ticks else None
        return trains[copy or pre][:, e].astype(np.float64) if e >= 1 else None

    def integrate(net: Network, conns, t: int, resolve) -> np.ndarray | float:
        total = 0.0
        for c in conns:
            x = emission(net, c.pre, t - c.delay, resolve(c))
            if x is not None and x.any():
                y = apply_op(net, c, x)
                shape = list(y.shape)
                full = np.zeros((batch,) + net.shape_of(c.post))
                full[:, c.post_offset:c.post_offset + shape[1]] = y
                total = total + full
        return total

    if spec.schedule == "unrolled":
        neurons = {p.name: _Neurons(p, 0, batch, noise=noise) for p in unet.populations}
        incoming = {p.name: unet.incoming(p.name) for p in unet.populations}
        for t in range(1, ticks + 1):
            for p in unet.populations:
                cur = integrate(unet, incoming[p.name], t, lambda c: None)
                trains[p.name][:, t] = neurons[p.name].step(cur, t)
    else:
        net = spec.net
        members = set(net.block.populations)
        outside = [p for p in net.populations if p.name not in members]
        neurons = {p.name: _Neurons(p, 0, batch, noise=noise) for p in outside}
        for t in range(1, ticks + 1):  # phase 1: the populations outside the block
            for p in outside:
                trains[p.name][:, t] = neurons[p.name].step(integrate(net, net.incoming(p.name), t, lambda c: None), t)
        block = [p for p in net.populations if p.name in members]
        for n in range(1, net.block.iterations + 1):
            state = {p.name: _Neurons(p, n - 1, batch, f"{p.name}@{n}", noise) for p in block}  # row n-1, v_init·θ

            def resolve(c, n=n):
                if c.feedback:
                    return f"{c.pre}@{n - 1}"  # the state buffer: phase n-1's spikes at local ticks
                return f"{c.pre}@{n}" if c.pre in members else None

            for t in range(1, ticks + 1):
                for p in block:
                    conns = [c for c in net.incoming(p.name) if c.active_in(n) and not (c.feedback and n == 1)]
                    trains[f"{p.name}@{n}"][:, t] = state[p.name].step(integrate(net, conns, t, resolve), t)

    lg = local_grid(spec)
    counts = {name: np.cumsum(trains[name][:, 1:], axis=1, dtype=np.uint32)[:, lg - 1]
              for name in spec.readout_populations}
    spikes = {name: float(tr.sum()) for name, tr in trains.items()}
    per_pre = synapses_per_pre_neuron(unet)
    synops = {}
    for c in unet.connections:
        if c.pre == unet.input.name:
            x = spec.inputs if spec.input_spikes is None else spec.input_spikes
            events = np.count_nonzero(x) * (ticks if spec.input_spikes is None else 1)
        else:
            events = spikes[c.pre]
        synops[c.name] = float(events * per_pre[c.name])
    out = {name: tr[:, 1:] for name, tr in trains.items()} if record else None
    return finish_result(spec, "reference", counts, lg, spikes, synops, out)
