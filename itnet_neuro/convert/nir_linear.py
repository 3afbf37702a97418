"""The linear part of a NIR graph, folded into IR connections (used by :mod:`~itnet_neuro.convert.nir_import`).

Between two neuron nodes a NIR graph may hold any chain of linear nodes (Conv2d, pooling, Flatten,
Affine, Scale, Delay); the IR has one weighted connection per (presynaptic population, op). So the
value flowing out of every linear node is kept as a list of :class:`Term` s — each exactly one
future IR connection from one source (a neuron node or the input) — plus a constant (the biases,
as a full array, so that zero padding acting on a bias is seen). Each linear node maps the terms of
its inputs:

* ``Conv2d`` / ``SumPool2d`` / ``AvgPool2d`` on a gain term gives a conv term; on a conv term the two
  convolutions are composed into one (exact when the second one's zero padding only ever meets
  outputs of the first that read nothing but padding, checked per axis, else refused);
* ``Flatten`` (to one axis) marks the term flat; ``Affine``/``Linear`` on a flat term gives a dense
  term (a conv term is first written as its matrix, bounded by ``max_dense``);
* ``Scale`` multiplies a term's gains (per channel on a spatial term);
* ``Delay`` adds ``round(delay / dt)`` ticks;
* the exact resampling chains :mod:`itnet_neuro.export.nir_export` writes (metadata ``resample``) are
  recognized — their weights checked against a freshly built chain — and become one resize term.

:func:`ir_op` then turns a term into the IR op it is (identity, depthwise, grouped conv2d, avgpool,
conv2d, dense, resize), trimming the zero rows a concatenation left and the zero taps a square
kernel needed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from itnet_neuro.errors import ConversionError

#: Largest dense matrix (elements) a convolution is written as when an Affine reads it.
MAX_DENSE = 1 << 24


@dataclass
class Term:
    """One future IR connection from ``src``.

    ``kind``: ``"gain"`` (``gain`` per element of the source, shape ``src_shape``), ``"conv"``
    (``weight`` ``C_out × C_src × kH × kW``, ``stride``, ``padding`` top/bottom/left/right on the
    source map), ``"dense"`` (``weight`` ``N_out × N_src``), ``"resize"`` (``gain`` per channel, to
    ``shape``). ``shape`` is the term's value shape now (flattened after a Flatten).
    """

    src: str
    kind: str
    src_shape: tuple
    shape: tuple
    gain: np.ndarray | None = None
    weight: np.ndarray | None = None
    stride: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)
    mode: str = ""
    extra_delay: int = 0
    delay: int | None = None  # an absolute delay written by the exporter
    offset: int = 0           # resize: first output channel it drives
    pending: str = ""         # resize: the chain stage that completes it
    label: str = ""           # the IR connection name an exporter recorded

    @property
    def flat(self) -> bool:
        return len(self.shape) == 1


@dataclass
class Value:
    """The output of a linear node: terms plus a constant of the node's output shape."""

    terms: list
    const: np.ndarray


def source_value(src: str, shape) -> Value:
    """A neuron's spikes or the input, unchanged."""
    shape = tuple(int(s) for s in shape)
    return Value([Term(src, "gain", shape, shape, gain=np.ones(shape))], np.zeros(shape))


def add_values(values: list[Value]) -> Value:
    shapes = {v.const.shape for v in values}
    if len(shapes) != 1:
        raise ConversionError(f"NIR graph: inputs of one node have different shapes {sorted(shapes)}")
    return Value([t for v in values for t in v.terms], sum(v.const for v in values))


# ------------------------------------------------------------------------------------------ geometry
def _pair(v) -> tuple[int, int]:
    a = np.asarray(v).reshape(-1)
    return (int(a[0]), int(a[0])) if a.size == 1 else (int(a[0]), int(a[1]))


def conv_geometry(node) -> tuple[np.ndarray, tuple, tuple]:
    """``(dense weight, stride, padding4)`` of a Conv2d node (dilation expanded, groups made dense)."""
    w = np.asarray(node.weight, np.float64)
    dh, dw = _pair(node.dilation)
    if (dh, dw) != (1, 1):
        kh, kw = w.shape[2:]
        full = np.zeros(w.shape[:2] + ((kh - 1) * dh + 1, (kw - 1) * dw + 1))
        full[:, :, ::dh, ::dw] = w
        w = full
    g = int(np.asarray(node.groups))
    if g > 1:
        co, cig = w.shape[:2]
        dense = np.zeros((co, cig * g) + w.shape[2:])
        per = co // g
        for k in range(g):
            dense[k * per:(k + 1) * per, k * cig:(k + 1) * cig] = w[k * per:(k + 1) * per]
        w = dense
    pad = node.padding
    if isinstance(pad, (str, bytes)):
        pad = pad.decode() if isinstance(pad, bytes) else pad
        if pad == "same" and any(k % 2 == 0 for k in w.shape[2:]):
            raise ConversionError("NIR Conv2d padding='same' with an even kernel is ambiguous; give integers")
        pad = (0, 0) if pad == "valid" else ((w.shape[2] - 1) // 2, (w.shape[3] - 1) // 2)
    ph, pw = _pair(pad)
    return w, _pair(node.stride), (ph, ph, pw, pw)


def pool_geometry(node, channels: int) -> tuple[np.ndarray, tuple, tuple]:
    """A SumPool2d / AvgPool2d node as a depthwise-shaped dense weight (AvgPool counts padding, as PyTorch)."""
    kh, kw = _pair(node.kernel_size)
    ph, pw = _pair(node.padding)
    w = np.zeros((channels, channels, kh, kw))
    w[np.arange(channels), np.arange(channels)] = 1.0 / (kh * kw) if type(node).__name__ == "AvgPool2d" else 1.0
    return w, _pair(node.stride), (ph, ph, pw, pw)


def _out_size(n: int, k: int, s: int, before: int, after: int) -> int:
    return (n + before + after - k) // s + 1


def compose(first: Term, w2: np.ndarray, s2: tuple, p2: tuple) -> Term:
    """The conv term ``second ∘ first`` (``first`` a conv term), exact or refused."""
    w1, s1, p1 = first.weight, first.stride, first.padding
    k1, k2 = w1.shape[2:], w2.shape[2:]
    for ax in range(2):
        n0 = first.src_shape[1 + ax]
        n1 = _out_size(n0, k1[ax], s1[ax], p1[2 * ax], p1[2 * ax + 1])
        lead, trail = p2[2 * ax], p2[2 * ax + 1]
        if lead and k1[ax] > s1[ax] + p1[2 * ax]:
            raise ConversionError("two linear nodes in a row cannot be folded exactly: the second one's zero "
                                  "padding meets border outputs of the first that read real inputs; put a neuron "
                                  "layer between them")
        if trail and n1 * s1[ax] - p1[2 * ax] < n0:
            raise ConversionError("two linear nodes in a row cannot be folded exactly: the first drops trailing "
                                  f"input rows ({n0} pixels, stride {s1[ax]}) that the composite would read")
    kh = k1[0] + (k2[0] - 1) * s1[0]
    kw = k1[1] + (k2[1] - 1) * s1[1]
    w = np.zeros((w2.shape[0], w1.shape[1], kh, kw))
    for j in range(k2[0]):
        for m in range(k2[1]):
            w[:, :, j * s1[0]:j * s1[0] + k1[0], m * s1[1]:m * s1[1] + k1[1]] += \
                np.einsum("ab,bcuv->acuv", w2[:, :, j, m], w1)
    stride = (s1[0] * s2[0], s1[1] * s2[1])
    before = (p1[0] + p2[0] * s1[0], p1[2] + p2[2] * s1[1])
    out_hw = [_out_size(_out_size(first.src_shape[1 + ax], k1[ax], s1[ax], p1[2 * ax], p1[2 * ax + 1]),
                        k2[ax], s2[ax], p2[2 * ax], p2[2 * ax + 1]) for ax in range(2)]
    after = [max(0, (out_hw[ax] - 1) * stride[ax] + (kh, kw)[ax] - first.src_shape[1 + ax] - before[ax])
             for ax in range(2)]
    pad = (before[0], after[0], before[1], after[1])
    return dataclasses.replace(first, weight=w, stride=stride, padding=pad, shape=(w2.shape[0], *out_hw))


def conv_on_term(t: Term, w: np.ndarray, stride: tuple, pad: tuple, out_shape: tuple) -> Term:
    """A convolution (dense weight) applied to one term."""
    if t.kind == "gain":
        g = per_channel(t.gain, f"a spatially varying gain on {t.src!r} before a convolution")
        return dataclasses.replace(t, kind="conv", weight=w * g[None, :, None, None], gain=None, stride=stride,
                                   padding=pad, shape=tuple(out_shape))
    if t.kind == "conv":
        return compose(t, w, stride, pad)
    if t.kind == "resize" and not t.pending:
        return gain_after_resize(t, w, stride, pad)
    raise ConversionError(f"a convolution after a {t.kind} of {t.src!r} has no IR form; put a neuron layer between")


def per_channel(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` ``(C, H, W)`` (or flat) → ``(C,)`` if constant over space, else refuse naming ``what``."""
    a = np.asarray(a, np.float64)
    if a.ndim <= 1:
        return a.reshape(-1)
    flat = a.reshape(a.shape[0], -1)
    if not np.allclose(flat, flat[:, :1], rtol=1e-6, atol=1e-12):
        raise ConversionError(f"NIR graph: {what} has no per-channel form in the IR")
    return flat[:, 0]


# ------------------------------------------------------------------------------------------ matrices
def conv_matrix(t: Term) -> np.ndarray:
    """A conv term as its dense ``(C_out·H·W) × (C_src·H·W)`` matrix (CHW order)."""
    from itnet_neuro.sim.nir_graph import conv2d

    n_src = int(np.prod(t.src_shape))
    n_out = int(np.prod(t.shape))
    if n_src * n_out > MAX_DENSE:
        raise ConversionError(f"NIR graph: an Affine reads a convolution of {t.src!r} flattened; as one matrix it "
                              f"needs {n_src * n_out:,} elements > {MAX_DENSE:,}")
    eye = np.eye(n_src).reshape((n_src,) + tuple(t.src_shape))
    top, bottom, left, right = t.padding
    xp = np.pad(eye, [(0, 0), (0, 0), (top, bottom), (left, right)])
    node = type("C", (), {"weight": t.weight, "dilation": 1, "stride": t.stride, "padding": 0, "groups": 1,
                          "bias": np.zeros(t.weight.shape[0])})
    return conv2d(xp, node).reshape(n_src, -1).T


def dense_on_term(t: Term, w: np.ndarray) -> Term:
    """An Affine/Linear weight ``(N_out × N_in)`` applied to a flat term."""
    if t.kind == "gain":
        m = w * np.asarray(t.gain, np.float64).reshape(1, -1)
    elif t.kind == "conv":
        m = w @ conv_matrix(t)
    elif t.kind == "dense":
        m = w @ t.weight
    else:
        raise ConversionError(f"an Affine after a {t.kind} of {t.src!r} has no IR form; put a neuron layer between")
    return dataclasses.replace(t, kind="dense", weight=m, gain=None, shape=(w.shape[0],), stride=(1, 1),
                               padding=(0, 0, 0, 0))


def resize_on_term(t: Term, node, stage: str, info: dict, out_shape) -> Term:
    """A stage of an exported resampling chain (metadata ``resample``), checked against a fresh chain."""
    import nir

    from itnet_neuro.export.nir_export import resample_chain

    mode = str(node.metadata["resample"])
    c = t.src_shape[0]
    (h, w), (ho, wo) = info["size_in"], info["size_out"]
    chain = {name.rsplit(":", 1)[1]: n for name, n in resample_chain(nir, "x", (c, h, w), (ho, wo), mode)}
    want = chain.get(stage)
    if want is None or np.asarray(node.weight).shape != want.weight.shape or \
            not np.allclose(np.asarray(node.weight), want.weight, atol=1e-7):
        raise ConversionError(f"NIR node with resample metadata (stage {stage}) does not hold the weights of a "
                              f"{mode} resampling {(h, w)} → {(ho, wo)}; its metadata is wrong")
    stages = list(chain)
    if stage == stages[0]:
        if t.kind != "gain":
            raise ConversionError(f"a resampling chain after a {t.kind} of {t.src!r} has no IR form")
        g = per_channel(t.gain, f"a spatially varying gain on {t.src!r} before resampling")
        t = dataclasses.replace(t, kind="resize", gain=g, mode=mode, pending=stages[-1])
    elif t.kind != "resize" or not t.pending:
        raise ConversionError(f"resampling stage {stage} without its first stage (from {t.src!r})")
    if stage == t.pending:
        t = dataclasses.replace(t, pending="")
    return dataclasses.replace(t, shape=tuple(out_shape))


def gain_after_resize(t: Term, w: np.ndarray, stride, pad) -> Term:
    """A 1×1 channel-placing Conv2d after a resize (the exporter's per-connection gain node)."""
    c = t.gain.shape[0]
    m = w[:, :, 0, 0] if w.shape[2:] == (1, 1) else None
    ok = m is not None and tuple(stride) == (1, 1) and not any(pad)
    if ok:
        rows, cols = np.nonzero(m)
        off = int(rows[0] - cols[0]) if rows.size else 0
        ok = rows.size == 0 or (np.all(rows - cols == off) and off >= 0 and off + c <= m.shape[0])
    if not ok:
        raise ConversionError(f"a convolution after resampling {t.src!r} has no IR form; put a neuron layer between")
    gain = np.array([m[off + k, k] for k in range(c)]) * t.gain
    return dataclasses.replace(t, gain=gain, offset=t.offset + off, shape=(m.shape[0],) + tuple(t.shape[1:]))


def scale_term(t: Term, s: np.ndarray) -> Term:
    """``Scale`` (element-wise) on one term."""
    if t.kind == "gain":
        return dataclasses.replace(t, gain=t.gain * s.reshape(t.gain.shape))
    if t.kind == "dense":
        return dataclasses.replace(t, weight=t.weight * s.reshape(-1, 1))
    g = per_channel(s, f"a spatially varying Scale after a {t.kind} of {t.src!r}")
    if t.kind == "conv":
        return dataclasses.replace(t, weight=t.weight * g[:, None, None, None])
    return dataclasses.replace(t, gain=t.gain * g)


# ------------------------------------------------------------------------------------------ IR ops
def _trim_axis(nz: np.ndarray, n: int, n_out: int, stride: int, pad: int) -> tuple[int, int, int, int, int]:
    """``(first tap, last tap + 1, before, after, stride)`` of one axis with zero taps trimmed."""
    first, last = int(nz.min()), int(nz.max()) + 1
    stride = 1 if n_out == 1 else stride
    first = min(first, pad)  # padding cannot be negative: keep leading zero taps instead
    before = pad - first
    k = last - first
    after = (n_out - 1) * stride + k - n - before
    if after < 0:  # the trimmed kernel would give more outputs: keep trailing zero taps
        last -= after
        after = 0
    return first, last, before, after, stride


def unsquare(t: Term, out_hw) -> tuple[np.ndarray, tuple, tuple] | None:
    """``(weight, stride, padding4)`` of a conv term with zero border taps removed; None if all zero."""
    w = t.weight
    if not np.any(w):
        return None
    nz = np.argwhere(np.abs(w).sum(axis=(0, 1)) > 0)
    geo = [_trim_axis(nz[:, ax], t.src_shape[1 + ax], out_hw[ax], t.stride[ax], t.padding[2 * ax])
           for ax in range(2)]
    (y0, y1, top, bottom, sh), (x0, x1, left, right, sw) = geo
    full = np.zeros(w.shape[:2] + (max(y1, w.shape[2]), max(x1, w.shape[3])))
    full[:, :, :w.shape[2], :w.shape[3]] = w
    return full[:, :, y0:y1, x0:x1], (sh, sw), (top, bottom, left, right)


def _placement(m: np.ndarray, c_in: int, mult: int = 1) -> int | None:
    """Offset ``off`` if every nonzero of ``m`` (C_out × C_in) lies at ``(off + c·mult + j, c)``."""
    rows, cols = np.nonzero(m)
    if rows.size == 0:
        return None
    off = int(rows.min()) - mult * int(cols[np.argmin(rows)])
    ok = off >= 0 and off + c_in * mult <= m.shape[0] and np.all((rows - off) // mult == cols)
    return off if ok else None


def _groups(m: np.ndarray) -> int:
    """Largest group count ``g`` for which ``m`` (C_out × C_in nonzero mask) is block-diagonal."""
    co, ci = m.shape
    for g in range(min(co, ci), 1, -1):
        if co % g or ci % g:
            continue
        po, pi = co // g, ci // g
        if all(not m[k * po:(k + 1) * po, :k * pi].any() and not m[k * po:(k + 1) * po, (k + 1) * pi:].any()
               for k in range(g)):
            return g
    return 1


def conv_op(t: Term, post_shape) -> dict | None:
    """The IR op of a conv term: identity, avgpool, depthwise, grouped or plain conv2d."""
    geo = unsquare(t, post_shape[1:])
    if geo is None:
        return None
    w, stride, pad = geo
    ci = w.shape[1]
    if tuple(post_shape[1:]) == (1, 1) and w.shape[2:] == tuple(t.src_shape[1:]) and not any(pad):
        rows = np.flatnonzero(np.abs(w).sum(axis=(1, 2, 3)) > 0)  # a full-window kernel is a dense layer
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        return dict(op="dense", weight=w[lo:hi].reshape(hi - lo, -1), post_offset=lo)
    mask = np.abs(w).sum(axis=(2, 3)) > 0
    same = tuple(t.src_shape[1:]) == tuple(post_shape[1:])
    if w.shape[2:] == (1, 1) and stride == (1, 1) and not any(pad) and same:
        off = _placement(mask, ci)
        if off is not None:
            return dict(op="identity", weight=np.array([w[off + c, c, 0, 0] for c in range(ci)]), post_offset=off)
    for mult in range(1, mask.shape[0] // ci + 1):
        off = _placement(mask, ci, mult)
        if off is None:
            continue
        dw = np.stack([w[off + o, o // mult] for o in range(ci * mult)])[:, None]
        flat = dw.reshape(dw.shape[0], -1)
        if mult == 1 and not any(pad) and np.allclose(flat, flat[:, :1]):
            return dict(op="avgpool", weight=flat[:, 0] * flat.shape[1], kernel=w.shape[2:], stride=stride,
                        padding=pad, post_offset=off)
        return dict(op="depthwise", weight=dw, stride=stride, padding=pad, post_offset=off)
    rows = np.flatnonzero(mask.any(axis=1))
    lo, hi = int(rows[0]), int(rows[-1]) + 1
    sub = w[lo:hi]
    g = _groups(mask[lo:hi])
    po, pi = sub.shape[0] // g, ci // g
    packed = np.concatenate([sub[k * po:(k + 1) * po, k * pi:(k + 1) * pi] for k in range(g)])  # C_out × C_in/g
    return dict(op="conv2d", weight=packed, stride=stride, padding=pad, groups=g, post_offset=lo)


def ir_op(t: Term, post_shape) -> dict | None:
    """Keyword arguments of the IR :class:`~itnet_neuro.ir.graph.Connection` a term becomes (None: all zero)."""
    if t.kind == "gain":
        g = per_channel(t.gain, f"a spatially varying gain from {t.src!r}")
        return None if not np.any(g) else dict(op="identity", weight=g, post_offset=0)
    if t.kind == "resize":
        if t.pending:
            raise ConversionError(f"resampling of {t.src!r} ends before its last stage {t.pending}")
        return dict(op="resize", weight=t.gain, mode=t.mode, post_offset=t.offset)
    if t.kind == "dense":
        rows = np.flatnonzero(np.abs(t.weight).sum(axis=1) > 0)
        if rows.size == 0:
            return None
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        return dict(op="dense", weight=t.weight[lo:hi], post_offset=lo)
    return conv_op(t, post_shape)


__all__ = ["MAX_DENSE", "Term", "Value", "add_values", "compose", "conv_geometry", "conv_on_term",
           "dense_on_term", "ir_op", "per_channel", "pool_geometry", "resize_on_term", "scale_term",
           "source_value", "unsquare"]
