"""The op table: what each connection op of the IR *means*, declared once (numpy only).

Every connection of the IR names an ``op``; this module says, per op, everything that does not
depend on how a backend runs it:

* the ``weight`` layout (axis order, number of axes) and whether the kernel size comes from it;
* ``out_channels``: how many channels of ``post`` it drives (from ``post_offset`` on);
* ``fan_in``: synapses onto one post neuron, and ``synapses``: the structural synapse count of the
  whole connection (border padding excluded) — what the mapping and the synaptic-operation counts use;
* ``check``: the shape check against the ``pre`` and ``post`` shapes (``None`` when it fits, else why);
* ``in_channel(conn, pre_shape)`` / ``out_channel(conn, post_shape)``: the presynaptic and (driven-relative)
  postsynaptic channel of every weight entry, as index arrays broadcastable to ``weight`` (the
  converter scales weights by them); ``post_shape`` may be ``None`` for ops whose weight layout says it;
* ``synapse_list``: the connection as explicit synapses ``(post, pre, weight)`` over flat channels-first
  indices — the op's meaning in its most literal form, from which the sparse ``post × pre`` matrix
  of every matrix-based backend is built;
* ``receptive``: per post channel, row and column, the presynaptic range it reads (what the mapping
  measures tiles with);
* ``conv_layer``: how a conv-layer core (one dense kernel per layer, no groups) computes it;
* ``uses_index`` / ``validate``: whether the op carries the explicit ``index`` array of
  :class:`~itnet_neuro.ir.graph.Connection`, and its checks that need no shapes.

:func:`to_sparse` rewrites any connection as the equivalent ``sparse`` one (its synapse list).

How an op *runs* lives with each backend as registered kernels (:mod:`itnet_neuro.sim.kernels`);
:data:`OP_TABLE` is the list of valid ops, and :func:`spec` the lookup that fails loudly.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np

from itnet_neuro.errors import ValidationError

Shape = tuple  # (C, H, W)


@dataclass(frozen=True)
class Receptive:
    """Receptive fields of a connection in its presynaptic map, as ranges per post axis.

    Attributes
    ----------
    clo, chi : np.ndarray
        ``(C_driven,)``: driven post channel ``k`` (``post_offset + k`` of ``post``) reads presynaptic
        channels ``[clo[k], chi[k])``.
    cin_factor : int
        Presynaptic channels per post neuron that carry synapses (so that a tile's synapses are
        ``channels · cin_factor · Σ tapr · Σ tapq``).
    rlo, rhi, tapr : np.ndarray
        ``(H_post,)``: post row ``r`` reads presynaptic rows ``[rlo[r], rhi[r])`` through ``tapr[r]``
        synapse taps. ``qlo, qhi, tapq`` the same per post column.
    inputs : np.ndarray or None
        ``(C_pre,)`` distinct presynaptic neurons read, per channel, where the ranges are not exactly
        the product of the neurons read (``sparse``); ``None`` where they are.
    first : int
        ``clo[k]``, ``chi[k]`` belong to driven channel ``first + k`` (channels before it have no synapse).
    """

    clo: np.ndarray
    chi: np.ndarray
    cin_factor: int
    rlo: np.ndarray
    rhi: np.ndarray
    tapr: np.ndarray
    qlo: np.ndarray
    qhi: np.ndarray
    tapq: np.ndarray
    inputs: np.ndarray | None = None
    first: int = 0


@dataclass(frozen=True)
class OpSpec:
    """The meaning of one connection op (see the module docstring for each field)."""

    name: str
    layout: str
    weight_ndim: int
    kernel_from_weight: bool
    out_channels: Callable[..., int]
    fan_in: Callable[..., int]
    synapses: Callable[..., int]
    check: Callable[..., str | None]
    in_channel: Callable[..., np.ndarray]
    out_channel: Callable[..., np.ndarray]
    synapse_list: Callable[..., tuple]
    receptive: Callable[..., Receptive]
    conv_layer: str | None  # "kernel" | "whole-map" | "pointwise" | None (no conv-layer form)
    uses_index: bool = False  # the connection carries an explicit ``index`` array
    validate: Callable[..., str | None] = lambda conn: None  # checks needing no shapes (None: fine)


#: Every connection op, by name.
OP_TABLE: dict[str, OpSpec] = {}


def register(spec_: OpSpec) -> OpSpec:
    """Add ``spec_`` to :data:`OP_TABLE` (one call per op)."""
    if spec_.name in OP_TABLE:
        raise ValueError(f"op {spec_.name!r} is registered twice")
    OP_TABLE[spec_.name] = spec_
    return spec_


def spec(op: str) -> OpSpec:
    """The :class:`OpSpec` of ``op``; an unknown op raises, listing the valid ones."""
    try:
        return OP_TABLE[op]
    except KeyError:
        raise ValidationError(f"op {op!r} is not an IR connection op; valid: {', '.join(sorted(OP_TABLE))}") from None


# ------------------------------------------------------------------------------------ geometry
def conv_output_hw(h: int, w: int, kernel: tuple[int, int], stride: tuple[int, int],
                   padding: tuple[int, int, int, int]) -> tuple[int, int]:
    """Spatial output size of a convolution or pooling window.

    ``out = floor((in + pad_before + pad_after - k) / s) + 1`` for each axis; ``padding`` is
    ``(top, bottom, left, right)``.
    """
    top, bottom, left, right = padding
    return ((h + top + bottom - kernel[0]) // stride[0] + 1, (w + left + right - kernel[1]) // stride[1] + 1)


def valid_taps(pre_hw, post_hw, kernel, stride, padding) -> int:
    """Number of (output pixel, kernel tap) pairs that land inside the input (not on zero padding)."""
    total = 1
    for axis in range(2):
        n_in, n_out, k, s, before = pre_hw[axis], post_hw[axis], kernel[axis], stride[axis], padding[2 * axis]
        pos = np.arange(n_out)[:, None] * s - before + np.arange(k)[None, :]
        total *= int(np.count_nonzero((pos >= 0) & (pos < n_in)))
    return total


def window_taps(pre_hw, post_hw, kernel, stride, padding):
    """Valid (output pixel, tap) pairs: arrays ``out_idx, ky, kx, in_idx`` (flat spatial indices)."""
    ho, wo = post_hw
    oy, ox, ky, kx = np.meshgrid(np.arange(ho), np.arange(wo), np.arange(kernel[0]), np.arange(kernel[1]),
                                 indexing="ij")
    iy = oy * stride[0] - padding[0] + ky
    ix = ox * stride[1] - padding[2] + kx
    ok = (iy >= 0) & (iy < pre_hw[0]) & (ix >= 0) & (ix < pre_hw[1])
    return (oy * wo + ox)[ok], ky[ok], kx[ok], (iy * pre_hw[1] + ix)[ok]


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


def _conv_axis(n_out: int, n_in: int, k: int, s: int, before: int):
    lo = np.arange(n_out, dtype=np.int64) * s - before
    lo_c, hi_c = np.clip(lo, 0, n_in), np.clip(lo + k, 0, n_in)
    return lo_c, hi_c, (hi_c - lo_c)


def _resize_axis(n_out: int, n_in: int, mode: str):
    """Input index range per output index of TensorFlow 2's resize (half-pixel centres)."""
    centre = (np.arange(n_out) + 0.5) * (n_in / n_out)
    if mode == "nearest":
        lo = np.clip(np.floor(centre).astype(np.int64), 0, n_in - 1)
        return lo, lo + 1, np.ones(n_out, np.int64)
    f = np.floor(centre - 0.5).astype(np.int64)
    lo = np.clip(f, 0, n_in - 1)
    hi = np.clip(f + 1, 0, n_in - 1) + 1
    # The IR counts 4 synapses per bilinear output neuron (2 per axis) wherever it sits.
    return lo, hi, np.full(n_out, 2, np.int64)


def _window_axes_of(conn, pre, post):
    (kh, kw), (sh, sw), pad = conn.kernel, conn.stride, conn.padding
    return _conv_axis(post[1], pre[1], kh, sh, pad[0]), _conv_axis(post[2], pre[2], kw, sw, pad[2])


def _one_to_one_axis(n: int):
    ar = np.arange(n, dtype=np.int64)
    return ar, ar + 1, np.ones(n, np.int64)


def _receptive(clo, chi, cin_factor, rows, cols) -> Receptive:
    return Receptive(np.asarray(clo, np.int64), np.asarray(chi, np.int64), int(cin_factor),
                     *(np.asarray(a, np.int64) for a in rows), *(np.asarray(a, np.int64) for a in cols))


def _window_check(conn, pre, post) -> str | None:
    hw = conv_output_hw(pre[1], pre[2], conn.kernel, conn.stride, conn.padding)
    if hw != tuple(post[1:]):
        return f"window {conn.kernel} stride {conn.stride} padding {conn.padding} gives {hw}, post has {post[1:]}"
    return None


def _window_synapses(conn, pre, post, per_channel: int) -> int:
    taps = valid_taps(pre[1:], post[1:], conn.kernel, conn.stride, conn.padding)
    return int(conn.weight.shape[0] * taps * per_channel)


def _gain_check(conn, pre, post) -> str | None:
    if conn.weight.shape[0] != pre[0]:
        return f"gain has {conn.weight.shape[0]} channels, pre has {pre[0]}"
    return None


def _offset_rows(conn, post, out_ch, spatial_out):
    """Flat post index of driven channel ``out_ch`` at spatial index ``spatial_out``."""
    return (conn.post_offset + out_ch) * (post[1] * post[2]) + spatial_out


# -------------------------------------------------------------------------------------- conv2d
def _conv2d_check(conn, pre, post):
    w, g = conn.weight, conn.groups
    if pre[0] % g or w.shape[0] % g or w.shape[1] * g != pre[0]:
        return f"weight {w.shape} with groups={g} does not match {pre[0]} input channels"
    return _window_check(conn, pre, post)


def _conv2d_in_channel(conn, pre_shape):
    c_out, cin_g = conn.weight.shape[:2]
    per = c_out // conn.groups
    return ((np.arange(c_out)[:, None] // per) * cin_g + np.arange(cin_g)[None, :])[:, :, None, None]


def _rows_out(conn, post_shape=None):
    return np.arange(conn.weight.shape[0]).reshape((-1,) + (1,) * (conn.weight.ndim - 1))


def _conv2d_synapses(conn, pre, post):
    p_in, p_out = pre[1] * pre[2], post[1] * post[2]
    o_idx, ky, kx, i_idx = window_taps(pre[1:], post[1:], conn.kernel, conn.stride, conn.padding)
    w = conn.weight.astype(np.float64)
    c_out, cin_g = w.shape[0], w.shape[1]
    o = np.arange(c_out)[:, None, None]
    ch_in = _conv2d_in_channel(conn, pre)[:, :, :, 0]
    rows = np.broadcast_to(_offset_rows(conn, post, o, o_idx[None, None]), (c_out, cin_g, len(o_idx)))
    cols = np.broadcast_to(ch_in * p_in + i_idx[None, None], rows.shape)
    vals = w[o, np.arange(cin_g)[None, :, None], ky[None, None], kx[None, None]]
    return rows.ravel(), cols.ravel(), vals.ravel()


def _conv2d_receptive(conn, pre, post):
    c_out, cin_g = conn.weight.shape[:2]
    clo = (np.arange(c_out) // (c_out // conn.groups)) * cin_g
    return _receptive(clo, clo + cin_g, cin_g, *_window_axes_of(conn, pre, post))


register(OpSpec(
    name="conv2d", layout="C_out × C_in/groups × kH × kW", weight_ndim=4, kernel_from_weight=True,
    out_channels=lambda conn, post: int(conn.weight.shape[0]),
    fan_in=lambda conn, pre_channels: int(conn.weight.shape[1]) * conn.kernel[0] * conn.kernel[1],
    synapses=lambda conn, pre, post: _window_synapses(conn, pre, post, int(conn.weight.shape[1])),
    check=_conv2d_check, in_channel=_conv2d_in_channel, out_channel=_rows_out,
    synapse_list=_conv2d_synapses, receptive=_conv2d_receptive, conv_layer="kernel"))


# ----------------------------------------------------------------------------------- depthwise
def _depthwise_check(conn, pre, post):
    w = conn.weight
    if w.shape[1] != 1 or w.shape[0] % pre[0]:
        return f"depthwise weight {w.shape} does not match {pre[0]} input channels"
    return _window_check(conn, pre, post)


def _depthwise_in_channel(conn, pre_shape):
    m = conn.weight.shape[0] // pre_shape[0]
    return (np.arange(conn.weight.shape[0]) // m).reshape(-1, 1, 1, 1)


def _depthwise_synapses(conn, pre, post):
    p_in = pre[1] * pre[2]
    o_idx, ky, kx, i_idx = window_taps(pre[1:], post[1:], conn.kernel, conn.stride, conn.padding)
    w = conn.weight.astype(np.float64)
    o = np.arange(w.shape[0])[:, None]
    rows = _offset_rows(conn, post, o, o_idx[None])
    cols = _depthwise_in_channel(conn, pre)[:, :, 0, 0] * p_in + i_idx[None]
    vals = w[o, 0, ky[None], kx[None]]
    return rows.ravel(), cols.ravel(), vals.ravel()


def _depthwise_receptive(conn, pre, post):
    clo = _depthwise_in_channel(conn, pre).ravel()
    return _receptive(clo, clo + 1, 1, *_window_axes_of(conn, pre, post))


register(OpSpec(
    name="depthwise", layout="C_out × 1 × kH × kW  (groups = C_in, C_out = C_in · multiplier)", weight_ndim=4,
    kernel_from_weight=True,
    out_channels=lambda conn, post: int(conn.weight.shape[0]),
    fan_in=lambda conn, pre_channels: conn.kernel[0] * conn.kernel[1],
    synapses=lambda conn, pre, post: _window_synapses(conn, pre, post, 1),
    check=_depthwise_check, in_channel=_depthwise_in_channel, out_channel=_rows_out,
    synapse_list=_depthwise_synapses, receptive=_depthwise_receptive, conv_layer="kernel"))


# --------------------------------------------------------------------------------------- dense
def _dense_check(conn, pre, post):
    n_in = int(np.prod(pre))
    if conn.weight.shape[1] != n_in:
        return f"dense weight {conn.weight.shape} needs {conn.weight.shape[1]} inputs, pre has {n_in}"
    if post[1:] != (1, 1):
        return "a dense connection must drive a (N, 1, 1) population"
    return None


def _dense_synapses(conn, pre, post):
    w = conn.weight.astype(np.float64)
    rows = np.broadcast_to((conn.post_offset + np.arange(w.shape[0]))[:, None], w.shape)
    cols = np.broadcast_to(np.arange(w.shape[1])[None, :], w.shape)
    return rows.ravel(), cols.ravel(), w.ravel()


def _dense_receptive(conn, pre, post):
    c_out = conn.weight.shape[0]
    zeros = lambda n: np.zeros(n, np.int64)  # noqa: E731
    ones = lambda n: np.ones(n, np.int64)  # noqa: E731
    return _receptive(zeros(c_out), np.full(c_out, pre[0]), int(np.prod(pre)),
                      (zeros(post[1]), np.full(post[1], pre[1]), ones(post[1])),
                      (zeros(post[2]), np.full(post[2], pre[2]), ones(post[2])))


register(OpSpec(
    name="dense", layout="N_out × N_in  (N_in in the flattened (C, H, W) order of pre)", weight_ndim=2,
    kernel_from_weight=False,
    out_channels=lambda conn, post: int(conn.weight.shape[0]),
    fan_in=lambda conn, pre_channels: int(conn.weight.shape[1]),
    synapses=lambda conn, pre, post: int(conn.weight.size),
    check=_dense_check,
    in_channel=lambda conn, pre_shape: (np.arange(conn.weight.shape[1]) // (pre_shape[1] * pre_shape[2]))[None, :],
    out_channel=_rows_out, synapse_list=_dense_synapses, receptive=_dense_receptive, conv_layer="whole-map"))


# ------------------------------------------------------------ per-channel gains: avgpool, resize, identity
def _gain_channels(conn, pre_shape=None):
    return np.arange(conn.weight.shape[0])


def _gain_synapses(conn, pre, post, a):
    """Per-channel gain ``weight[c]`` on a spatial map ``a`` ``(H_post·W_post, H_pre·W_pre)`` (scipy.sparse)."""
    a = a.tocoo()
    c = np.arange(conn.weight.shape[0])[:, None]
    rows = _offset_rows(conn, post, c, a.row[None])
    cols = c * (pre[1] * pre[2]) + a.col[None]
    vals = conn.weight.astype(np.float64)[:, None] * a.data[None]
    return rows.ravel(), cols.ravel(), vals.ravel()


def _avgpool_map(conn, pre, post):
    """The window mean over the taps inside the input (TensorFlow's ``padding="same"`` count)."""
    import scipy.sparse as sp

    o_idx, _, _, i_idx = window_taps(pre[1:], post[1:], conn.kernel, conn.stride, conn.padding)
    counts = np.bincount(o_idx, minlength=post[1] * post[2]).astype(np.float64)
    return sp.coo_matrix((1.0 / counts[o_idx], (o_idx, i_idx)), shape=(post[1] * post[2], pre[1] * pre[2]))


def _resize_map(conn, pre, post):
    import scipy.sparse as sp

    if tuple(pre[1:]) == tuple(post[1:]):
        return sp.identity(pre[1] * pre[2], format="coo")
    return sp.coo_matrix(np.kron(resize_matrix(pre[1], post[1], conn.mode), resize_matrix(pre[2], post[2], conn.mode)))


def _gain_receptive(axes):
    def receptive(conn, pre, post):
        ch = np.arange(conn.weight.shape[0])
        return _receptive(ch, ch + 1, 1, *axes(conn, pre, post))
    return receptive


def _gain_op(name, layout, *, fan_in, synapses, check, spatial, axes, conv_layer):
    register(OpSpec(
        name=name, layout=layout, weight_ndim=1, kernel_from_weight=False,
        out_channels=lambda conn, post: int(conn.weight.shape[0]), fan_in=fan_in, synapses=synapses, check=check,
        in_channel=_gain_channels, out_channel=_gain_channels,
        synapse_list=lambda conn, pre, post: _gain_synapses(conn, pre, post, spatial(conn, pre, post)),
        receptive=_gain_receptive(axes), conv_layer=conv_layer))


def _per_pixel_synapses(conn, pre, post) -> int:
    return int(conn.weight.shape[0] * post[1] * post[2] * conn.fan_in(pre[0]))


def _identity_check(conn, pre, post):
    return _gain_check(conn, pre, post) or (None if pre[1:] == post[1:] else "identity needs equal spatial sizes")


_gain_op("avgpool", "C  (per-channel gain on the window mean; kernel, stride, padding as attributes)",
         fan_in=lambda conn, pre_channels: conn.kernel[0] * conn.kernel[1],
         synapses=lambda conn, pre, post: _window_synapses(conn, pre, post, 1),
         check=lambda conn, pre, post: _gain_check(conn, pre, post) or _window_check(conn, pre, post),
         spatial=_avgpool_map, axes=_window_axes_of, conv_layer="kernel")
_gain_op("resize", "C  (per-channel gain on a bilinear/nearest resampling to post's H × W; up or down)",
         fan_in=lambda conn, pre_channels: 4 if conn.mode == "bilinear" else 1,
         synapses=_per_pixel_synapses, check=_gain_check, spatial=_resize_map,
         axes=lambda conn, pre, post: (_resize_axis(post[1], pre[1], conn.mode),
                                       _resize_axis(post[2], pre[2], conn.mode)),
         conv_layer=None)
_gain_op("identity", "C  (per-channel gain, one-to-one)", fan_in=lambda conn, pre_channels: 1,
         synapses=_per_pixel_synapses, check=_identity_check, spatial=lambda conn, pre, post: _resize_map(conn, pre, pre),
         axes=lambda conn, pre, post: (_one_to_one_axis(post[1]), _one_to_one_axis(post[2])), conv_layer="pointwise")


# -------------------------------------------------------------------------------------- sparse
_SPARSE_STATS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _sparse_validate(conn) -> str | None:
    nnz = conn.weight.shape[0]
    if conn.index.shape != (2, nnz):
        return f"sparse index must have shape (2, nnz) = (2, {nnz}) like its weight (nnz,), got {conn.index.shape}"
    if nnz and conn.index.min() < 0:
        return f"sparse index has a negative entry ({int(conn.index.min())})"
    if conn.post_offset:
        return f"post_offset must be 0 for sparse (index row 0 addresses all of post), got {conn.post_offset}"
    return None


def _sparse_check(conn, pre, post):
    for row, what, shape in ((0, "post", post), (1, "pre", pre)):
        n = int(np.prod(shape))
        if conn.index.shape[1] and int(conn.index[row].max()) >= n:
            return f"index row {row} reaches {int(conn.index[row].max())}, {what} {tuple(shape)} has {n} neurons"
    return None


def _sparse_out_channels(conn, post):
    if post is None:
        raise ValidationError(f"connection {conn.name!r}: a sparse connection drives every channel of its post; "
                              "ask the network: net.out_channels(conn)")
    return int(post[0])


def _pairs(conn) -> np.ndarray:
    """Distinct ``(post, pre)`` pairs as int64 keys ``post · (max pre + 1) + pre``, sorted."""
    stats = _SPARSE_STATS.setdefault(conn, {})
    if "pairs" not in stats:
        n_pre = int(conn.index[1].max()) + 1 if conn.index.shape[1] else 1
        stats["pairs"] = np.unique(conn.index[0] * n_pre + conn.index[1])
        stats["n_pre"] = n_pre
    return stats["pairs"]


def _sparse_fan_in(conn, pre_channels=None) -> int:
    pairs = _pairs(conn)
    if not pairs.size:
        return 0
    return int(np.unique(pairs // _SPARSE_STATS[conn]["n_pre"], return_counts=True)[1].max())


def _distinct_per(a: np.ndarray, b: np.ndarray, n_a: int) -> np.ndarray:
    """For each ``a`` in ``[0, n_a)``: the number of distinct ``b`` paired with it."""
    n_b = int(b.max(initial=0)) + 1
    return np.bincount(np.unique(a * n_b + b) // n_b, minlength=n_a)


def _coords(flat: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Channel, row and column of flat channels-first indices into ``shape``."""
    hw = shape[1] * shape[2]
    return flat // hw, flat % hw // shape[2], flat % shape[2]


def _monotone(lo: np.ndarray, hi: np.ndarray):
    """Ranges that only move forward: ``lo`` suffix minimum, ``hi`` prefix maximum (a tile's range is then
    its first ``lo`` to its last ``hi``, covering every member's; exact when the ranges already move
    forward, as those of every windowed op do)."""
    lo = np.minimum.accumulate(lo[::-1])[::-1]
    hi = np.maximum.accumulate(hi)
    return np.minimum(lo, hi), hi


def _sparse_receptive(conn, pre, post):
    """Receptive fields from the index: per post channel, row and column, the range of presynaptic
    channels, rows and columns its synapses read (made monotone, see :func:`_monotone`); taps: the
    most distinct presynaptic channels (rows, columns) one post neuron of that channel (row, column)
    reads, so that ``channels · cin_factor · Σ tapr · Σ tapq`` bounds a tile's synapses (equal for a
    connection that came from a windowed op)."""
    keys = _pairs(conn)
    n_pre = _SPARSE_STATS[conn]["n_pre"]
    post_i, pre_i = keys // n_pre, keys % n_pre
    n_post = int(np.prod(post))
    p_axes, q_axes, neuron_axes = _coords(post_i, post), _coords(pre_i, pre), _coords(np.arange(n_post), post)
    ranges, taps = [], []
    for a in range(3):
        lo = np.full(post[a], np.iinfo(np.int64).max, np.int64)
        hi = np.zeros(post[a], np.int64)
        np.minimum.at(lo, p_axes[a], q_axes[a])
        np.maximum.at(hi, p_axes[a], q_axes[a] + 1)
        ranges.append(_monotone(lo, hi))
        tap = np.zeros(post[a], np.int64)
        np.maximum.at(tap, neuron_axes[a], _distinct_per(post_i, q_axes[a], n_post))
        taps.append(tap)
    (clo, chi), (rlo, rhi), (qlo, qhi) = ranges
    inputs = np.bincount(_coords(np.unique(pre_i), pre)[0], minlength=pre[0])
    c0, c1 = (int(p_axes[0].min()), int(p_axes[0].max()) + 1) if keys.size else (0, 0)  # channels with synapses
    return Receptive(clo[c0:c1], chi[c0:c1], int(taps[0].max(initial=0)), rlo, rhi, taps[1], qlo, qhi, taps[2],
                     inputs=inputs, first=c0)


register(OpSpec(
    name="sparse", layout="nnz  (one weight per synapse; index (2, nnz): row 0 the flat (C, H, W) index into post, "
                          "row 1 into pre; duplicated pairs are summed)",
    weight_ndim=1, kernel_from_weight=False, out_channels=_sparse_out_channels,
    fan_in=_sparse_fan_in, synapses=lambda conn, pre, post: int(_pairs(conn).size), check=_sparse_check,
    in_channel=lambda conn, pre_shape: conn.index[1] // (pre_shape[1] * pre_shape[2]),
    out_channel=lambda conn, post_shape: conn.index[0] // (post_shape[1] * post_shape[2]),
    synapse_list=lambda conn, pre, post: (conn.index[0], conn.index[1], conn.weight.astype(np.float64)),
    receptive=_sparse_receptive, conv_layer=None, uses_index=True, validate=_sparse_validate))


# ------------------------------------------------------------------------------------- helpers
def connection_matrix(conn, pre_shape: Shape, post_shape: Shape):
    """``conn`` as a ``scipy.sparse.csr_matrix`` ``(post neurons, pre neurons)``, channels-first flat.

    Rows cover the whole ``post`` population (the driven channels placed from ``post_offset``), so
    ``I_post = M @ s_pre``. Built from :attr:`OpSpec.synapse_list`; duplicated pairs are summed and
    structural zero weights kept (float64).
    """
    import scipy.sparse as sp

    rows, cols, vals = spec(conn.op).synapse_list(conn, tuple(pre_shape), tuple(post_shape))
    n_pre, n_post = int(np.prod(pre_shape)), int(np.prod(post_shape))
    m = sp.coo_matrix((np.asarray(vals, np.float64), (np.asarray(rows, np.int64), np.asarray(cols, np.int64))),
                      shape=(n_post, n_pre)).tocsr()
    m.sum_duplicates()
    return m



def to_sparse(net, conn):
    """``conn`` of ``net`` as an equivalent ``sparse`` connection: the same synapses, the same weights.

    Built from the op's synapse list (:attr:`OpSpec.synapse_list`): one entry per distinct
    ``(post, pre)`` pair (a pair an op lists twice, like the two taps of a bilinear resize that
    coincide at a border, becomes one synapse with the summed weight), structural zero weights kept,
    sorted by post then pre, ``post_offset`` folded into the post index. Delay, iterations and
    feedback are kept.
    """
    m = connection_matrix(conn, net.shape_of(conn.pre), net.shape_of(conn.post)).tocoo()
    index = np.stack([m.row, m.col]).astype(np.int64)
    return dataclasses.replace(conn, op="sparse", weight=m.data.astype(np.float32), index=index, post_offset=0,
                               kernel=(1, 1), stride=(1, 1), padding=(0, 0, 0, 0), groups=1)
