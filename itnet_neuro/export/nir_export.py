"""IR → NIR (the Neuromorphic Intermediate Representation, ``nir`` 1.0.8): a graph plain ``nir.read`` loads.

Every node is a plain ``Input``, ``Conv2d``, ``Affine``, ``IF``/``LIF`` or ``Output``, every population keeps its
``(C, H, W)`` shape, and no weight grows with the square of a feature map: the shipped 96×128 ItNet
exports (see ``benchmarks/results/nir_export.json`` for its node counts and file size). Every choice
below is forced by what NIR 1.0.8 can express and type-check:

* **Shared block**: NIR cannot tie weights, so the network is exported *unrolled* (populations and
  connections ``name@n`` per iteration). Graph metadata ``shared_parameter_groups`` names, for every
  IR connection and block population, the unrolled NIR nodes that carry the same parameters, so a
  tool that can tie weights may re-fold them (:mod:`itnet_neuro.convert.nir_import` does).
* **Populations** → ``nir.IF(r=1, v_threshold=θ, v_reset=0)`` of shape ``(C, H, W)`` (θ per neuron:
  the ``threshold_map`` where set, else broadcast per channel); a leaky population →
  ``nir.LIF(tau=1/leak, r=tau, v_leak=0)``, which forward Euler with ``dt = 1`` tick turns into the
  IR's ``v ← (1 − leak)·v + I``. Membrane saturation (``v_min``/``v_max``) and per-neuron biases
  (``bias_map``) have no NIR form and are refused. The IR's constant bias current is the
  ``bias`` of the last node of one incoming connection (added every step, as in the IR); a population
  copy that no connection drives in its iteration gets a zero-weight ``Conv2d`` from the input that
  carries its bias (node ``bias:NAME``), so that it is not a second graph input.
* **Reset, threshold, initial state**: NIR's IF resets to ``v_reset`` and fires on ``v > θ``; the IR
  subtracts θ (``reset="subtract"``; ``reset="zero"`` is NIR's own reset to 0) and fires on ``v ≥ θ``
  from ``v = v_init·θ``. NIR has no fields for these, so each neuron node's metadata says
  ``{"reset": "subtract" | "zero", "spike_condition": "v >= v_threshold", "v_init": …}`` and the graph
  metadata repeats it. A consumer that resets to zero instead loses the
  residual ``v − θ`` at every spike: a neuron driven by ``I`` per step fires at ``1/ceil(θ/I)``
  instead of ``I/θ`` (0.25 instead of 0.3 at 30 % of θ), which lowers every rate and compounds.
* **Connections** → ``nir.Conv2d`` nodes named after the IR connection (weight ``C_post × C_in × kH
  × kW``, zero rows outside the channels the IR's ``post_offset`` drives, so concatenation is a sum
  of zero-padded outputs):
  - NIR's Conv2d padding is symmetric (TensorFlow's 'same' pads the extra pixel at the end) and
    nir 1.0.8 infers a Conv2d's output size from ``weight.shape[2]`` for both axes, so every kernel
    is zero-extended to a square one whose taps, padding and stride read exactly the same inputs
    (:func:`square_conv`).
  - **depthwise / grouped**: nir 1.0.8 infers a Conv2d's input channels from ``weight.shape[1]`` and
    ignores ``groups`` (a grouped Conv2d fails plain ``nir.read``), so these weights are expanded to
    the equivalent block-diagonal dense weight (``groups=1``; exact; ``C_in``× the stored weights).
  - avgpool → a block-diagonal Conv2d with ``gain / (kH·kW)`` taps (exact without padding; with
    padding TensorFlow excludes the padded taps from the count, so border outputs differ — flagged in
    the node metadata as ``"border": "approximate"``); identity → a diagonal 1×1 Conv2d.
  - dense → a Conv2d whose kernel covers the whole presynaptic map (output ``(N, 1, 1)``): the IR's
    dense weight reshaped, no Flatten, so the population stays 3-D.
  - resize (bilinear / nearest, up or down) → an exact chain of plain Conv2d nodes, per axis
    (Conv2d, batched Affine, Conv2d: :func:`resample_chain` says why it is exact and small), shared by
    every connection from the same population to the same size, then one diagonal 1×1 Conv2d per
    connection with its per-channel gain.
  - sparse (an explicit synapse list, :mod:`itnet_neuro.ir.ops`) → into a ``(N, 1, 1)`` population a
    full-window Conv2d; into a spatial map the exact ``post × pre`` ``Affine`` of its synapses on the
    flattened maps. NIR has no un-flatten, so that population and everything it drives are exported
    flat ``(N,)``, every connection into them as such an ``Affine`` (:func:`flat_populations`; never
    the case for a converted network).
* **Delays**: one tick per IR connection; recorded as ``"delay": d`` in the metadata of the
  connection's own node (NIR edges have no delay).
* **Input** → ``nir.Input`` ``(C, H, W)``; its encoding (``current``: the value is injected every
  tick) and preprocessing in the graph metadata. **Readouts** → ``nir.Output`` nodes fed by 1×1
  Conv2d nodes carrying ``W·decode_scale`` (NIR carries spikes; global average: a full-window Conv2d);
  ``out_size`` (the classifier's up-sampling of the decoded logits) is in the Output's metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from itnet_neuro.errors import ConversionError, MissingDependencyError
from itnet_neuro.ir.ops import connection_matrix
from itnet_neuro.sim.kernels import KernelRegistry

#: Largest weight (elements) the exporter writes for one node (a safety bound; no export form grows
#: with the square of a feature map any more).
DEFAULT_MAX_DENSE = 1 << 24


def _nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("nir is not installed: run `pip install 'nir>=1.0.8,<1.1'`") from exc
    return nir


def _meta(d: dict) -> dict:
    """NIR writes metadata with h5py: numbers, strings and numeric lists stay, anything else becomes JSON."""
    out = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, float, str)):
            out[k] = v
        elif isinstance(v, (list, tuple)) and v and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                                        for x in v):
            out[k] = list(v)
        else:
            out[k] = json.dumps(v)
    return out


def _dense_weight(conn, pre_shape, post_channels: int) -> np.ndarray:
    """The connection's full ``C_post × C_pre × kH × kW`` weight (groups = 1)."""
    c_pre = pre_shape[0]
    off, c_out = conn.post_offset, conn.out_channels
    if conn.op == "conv2d":
        kh, kw = conn.kernel
        full = np.zeros((post_channels, c_pre, kh, kw), np.float32)
        g = conn.groups
        per_out, per_in = c_out // g, c_pre // g
        for k in range(g):
            full[off + k * per_out:off + (k + 1) * per_out, k * per_in:(k + 1) * per_in] = \
                conn.weight[k * per_out:(k + 1) * per_out]
        return full
    if conn.op == "depthwise":
        kh, kw = conn.kernel
        m = c_out // c_pre
        full = np.zeros((post_channels, c_pre, kh, kw), np.float32)
        for o in range(c_out):
            full[off + o, o // m] = conn.weight[o, 0]
        return full
    if conn.op == "avgpool":
        kh, kw = conn.kernel
        full = np.zeros((post_channels, c_pre, kh, kw), np.float32)
        for c in range(c_pre):
            full[off + c, c] = conn.weight[c] / float(kh * kw)
        return full
    if conn.op == "identity":
        full = np.zeros((post_channels, c_pre, 1, 1), np.float32)
        full[off + np.arange(c_pre), np.arange(c_pre), 0, 0] = conn.weight
        return full
    raise ConversionError(f"connection {conn.name!r}: op {conn.op!r} has no Conv2d form")


def _axis_geometry(n: int, k: int, stride: int, before: int, after: int, size: int):
    """``(offset, symmetric padding, stride)`` for one axis of a kernel zero-extended to ``size`` taps.

    The ``k`` real taps sit at ``offset … offset + k − 1``; output ``i`` then reads input
    ``i·stride − padding + offset + tap``, which equals the original ``i·stride − before + tap`` for
    ``padding = before + offset``; the output count must stay ``floor((n + before + after − k)/stride) + 1``.
    With one output the stride is free, so a large one absorbs any parity. None if impossible.
    """
    n_out = (n + before + after - k) // stride + 1
    strides = (stride,) if n_out > 1 else (stride, n + 2 * (before + size) + 1)
    for offset in range(size - k + 1):
        pad = before + offset
        for s in strides:
            if n + 2 * pad - size >= 0 and (n + 2 * pad - size) // s + 1 == n_out:
                return offset, pad, s
    return None


def square_conv(weight: np.ndarray, stride, padding, in_hw) -> tuple[np.ndarray, tuple, tuple]:
    """An equivalent Conv2d with a square kernel: ``(weight, stride, symmetric padding)``.

    nir 1.0.8 infers a Conv2d's output size from ``weight.shape[2]`` for *both* axes (and has only
    symmetric padding), so a non-square kernel, or TensorFlow's asymmetric 'same' padding, fails the
    type check of plain ``nir.read``. The kernel is zero-extended to ``S × S`` (the smallest ``S``
    that works), its taps placed so that every output reads the same inputs (see
    :func:`_axis_geometry`); exact, as the added taps are zero or read only zero padding.
    """
    kh, kw = weight.shape[2:]
    top, bottom, left, right = padding
    for size in range(max(kh, kw), max(kh, kw) + 2 * max(kh, kw) + 4):
        gh = _axis_geometry(in_hw[0], kh, stride[0], top, bottom, size)
        gw = _axis_geometry(in_hw[1], kw, stride[1], left, right, size)
        if gh is not None and gw is not None:
            sq = np.zeros(weight.shape[:2] + (size, size), np.float32)
            sq[:, :, gh[0]:gh[0] + kh, gw[0]:gw[0] + kw] = weight
            return sq, (gh[2], gw[2]), (gh[1], gw[1])
    raise ConversionError(f"NIR export: no square-kernel Conv2d reproduces kernel {(kh, kw)} stride {tuple(stride)} "
                          f"padding {tuple(padding)} on {tuple(in_hw)} (nir 1.0.8 needs square kernels)")


def resample_chain(nir, pre: str, pre_shape, out_hw, mode: str) -> list[tuple[str, object]]:
    """Nodes that resample ``pre`` ``(C, H, W)`` to ``(C, H_out, W_out)`` exactly, unit gain, in order.

    A Conv2d is shift-invariant and resampling is not (output row ``r`` reads the rows near
    ``(r + ½)·H/H_out − ½``), so no single NIR Conv2d resamples; a dense matrix grows with
    ``(H·W)·(H_out·W_out)``. Instead, with ``R_H``, ``R_W`` the 1-D matrices of ``tf.image.resize``
    (:func:`itnet_neuro.ir.ops.resize_matrix`) and ``K = min(H, H_out)``, ``M2·M1 = R_H``
    (up-sampling: ``M1 = I, M2 = R_H``; down: ``M1 = R_H, M2 = I``):

    1. ``A`` — Conv2d, kernel ``H × H`` (taps in its last column), padding ``(0, H−1)``: the rows move
       into channels, ``M1`` applied: ``(C, H, W) → (C·K, 1, W+H−1)`` (columns ``≥ W`` are zero);
    2. ``W`` — Affine with a batched weight ``(C·K, 1, M, W+H−1)``, ``M = W_out + H_out − 1``: ``R_W``
       along the last axis, which is what NIR's Affine acts on: ``→ (C·K, 1, M)``;
    3. ``B`` — Conv2d, kernel ``H_out × H_out`` (taps in its first column), padding ``(H_out−1, 0)``:
       a one-row input gives every output row ``r`` its own tap ``H_out−1−r``, so the rows come back
       out of the channels with ``M2`` applied: ``→ (C, H_out, W_out)``.

    Every product is with an exact 1 on one side, so the chain reproduces ``R_H·x·R_Wᵀ``; kernels are
    square (nir 1.0.8 infers Conv2d shapes from ``weight.shape[2]`` alone). Weights
    ``C²·K·(H² + H_out²) + C·K·M·(W+H−1)``, dense over channels since nir 1.0.8 ignores ``groups``;
    the zeros cost almost nothing in the gzip-compressed file. With ``H = H_out`` only the Affine
    ``(C, H, W_out, W)`` remains. Names ``resample:PRE:HOxWO:MODE:{A,W,B}``.
    """
    from itnet_neuro.ir.ops import resize_matrix

    c, h, w = pre_shape
    ho, wo = out_hw
    base = f"resample:{pre}:{ho}x{wo}:{mode}"
    rw = resize_matrix(w, wo, mode).astype(np.float32)
    meta = {"resample": mode, "itnet": json.dumps({"size_in": [h, w], "size_out": [ho, wo]})}
    if h == ho:
        if w == wo:
            return []
        weight = np.ascontiguousarray(np.broadcast_to(rw, (c, h, wo, w)), np.float32)
        return [(f"{base}:W", nir.Affine(weight=weight, bias=np.zeros((c, h, wo), np.float32),
                                         metadata=_meta({**meta, "stage": "W"})))]
    rh = resize_matrix(h, ho, mode)
    k = min(h, ho)
    m1, m2 = (np.eye(h), rh) if h <= ho else (rh, np.eye(ho))
    m = wo + ho - 1
    wa = np.zeros((c * k, c, h, h), np.float32)
    wb = np.zeros((c, c * k, ho, ho), np.float32)
    for ch in range(c):
        wa[ch * k:(ch + 1) * k, ch, :, h - 1] = m1
        wb[ch, ch * k:(ch + 1) * k, :, 0] = m2[::-1].T
    waff = np.zeros((c * k, 1, m, w + h - 1), np.float32)
    waff[:, 0, :wo, :w] = rw
    return [
        (f"{base}:A", nir.Conv2d(input_shape=(h, w), weight=wa, stride=1, padding=(0, h - 1), dilation=1, groups=1,
                                 bias=np.zeros(c * k, np.float32), metadata=_meta({**meta, "stage": "A"}))),
        (f"{base}:W", nir.Affine(weight=waff, bias=np.zeros((c * k, 1, m), np.float32),
                                 metadata=_meta({**meta, "stage": "W"}))),
        (f"{base}:B", nir.Conv2d(input_shape=(1, m), weight=wb, stride=1, padding=(ho - 1, 0), dilation=1, groups=1,
                                 bias=np.zeros(c, np.float32), metadata=_meta({**meta, "stage": "B"}))),
    ]


def _bias_geometry(n_in: int, n_out: int, kernel: int) -> tuple[int, int] | None:
    """``(stride, padding)`` of an axis of a Conv2d (``kernel`` taps) from ``n_in`` to ``n_out`` pixels."""
    for pad in range(0, n_out + kernel + 1):
        for stride in range(1, n_in + 2 * pad + 1):
            if n_in + 2 * pad >= kernel and (n_in + 2 * pad - kernel) // stride + 1 == n_out:
                return stride, pad
    return None


def _zero_conv(in_hw, out_hw, c_out: int, c_in: int):
    """``(weight, stride, padding)`` of a smallest all-zero square Conv2d from ``in_hw`` to ``out_hw``."""
    for k in range(1, 4):
        gh, gw = _bias_geometry(in_hw[0], out_hw[0], k), _bias_geometry(in_hw[1], out_hw[1], k)
        if gh is not None and gw is not None:
            return np.zeros((c_out, c_in, k, k), np.float32), (gh[0], gw[0]), (gh[1], gw[1])
    raise ConversionError(f"NIR export: no zero Conv2d maps {tuple(in_hw)} to {tuple(out_hw)}")


def _refuse_chip_neuron(unet) -> None:
    """The neuron options NIR cannot hold (membrane saturation, per-neuron biases) are refused."""
    for p in unet.populations:
        feature = ("membrane saturation (v_min/v_max)" if p.v_min is not None or p.v_max is not None else
                   "per-neuron biases (bias_map)" if p.bias_map is not None else None)
        if feature is not None:
            raise ConversionError(f"NIR export: population {p.name!r} has {feature}, which NIR's IF/LIF nodes "
                                  "cannot express; export the network before a chip's neuron is applied, or use "
                                  "--format nengo")


def _neuron_node(nir, p, flat: bool = False):
    """``nir.IF`` (or ``nir.LIF`` for a leaky population) of shape ``(C, H, W)`` (``(N,)`` if ``flat``)."""
    _, _, dec = p.params()
    shape = (p.size,) if flat else tuple(p.shape)
    theta = p.neuron_params()[0].reshape(shape)  # per neuron (threshold_map where set)
    zeros = np.zeros(shape, np.float32)
    meta = {"reset": p.reset, "spike_condition": "v >= v_threshold", "v_init": float(p.v_init),
            "itnet": json.dumps({"leak": float(p.leak), "decode_scale": dec.tolist(), "role": p.role,
                                 "pair": p.pair or "", "sign": int(p.sign), "source": p.source})}
    if p.leak > 0:
        tau = np.full(shape, 1.0 / float(p.leak), np.float64)
        return nir.LIF(tau=tau, r=tau.copy(), v_leak=zeros, v_threshold=theta, v_reset=zeros.copy(), metadata=meta)
    return nir.IF(r=np.ones(shape, np.float32), v_threshold=theta, v_reset=zeros, metadata=meta)


def _conv_node(nir, conn, pre_shape, post_shape, bias, max_dense):
    """conv2d / depthwise / avgpool / identity as one Conv2d (block-diagonal where grouped)."""
    full = _dense_weight(conn, pre_shape, post_shape[0])
    _check_size(full.size, conn.name, max_dense)
    meta = {}
    if conn.op == "avgpool" and any(conn.padding):
        meta["border"] = "approximate"
    wsq, stride, pad = square_conv(full, conn.stride, conn.padding, pre_shape[1:])
    return nir.Conv2d(input_shape=tuple(pre_shape[1:]), weight=wsq, stride=stride, padding=pad,
                      dilation=1, groups=1, bias=bias, metadata=meta), {}


def _dense_node(nir, conn, pre_shape, post_shape, bias, max_dense):
    """dense → a Conv2d whose kernel is the whole presynaptic map (CHW order = the IR's flattening)."""
    c, h, w = pre_shape
    full = np.zeros((post_shape[0], c, h, w), np.float32)
    full[conn.post_offset:conn.post_offset + conn.out_channels] = conn.weight.reshape(-1, c, h, w)
    _check_size(full.size, conn.name, max_dense)
    wsq, stride, pad = square_conv(full, (1, 1), (0, 0, 0, 0), (h, w))
    return nir.Conv2d(input_shape=(h, w), weight=wsq, stride=stride, padding=pad, dilation=1, groups=1,
                      bias=bias), {}


def _resize_node(nir, conn, pre_shape, post_shape, bias, max_dense):
    """resize → the shared resampling chain (:func:`resample_chain`), then a diagonal 1×1 gain Conv2d."""
    c = pre_shape[0]
    gain = np.zeros((post_shape[0], c, 1, 1), np.float32)
    gain[conn.post_offset + np.arange(c), np.arange(c), 0, 0] = conn.weight
    node = nir.Conv2d(input_shape=tuple(post_shape[1:]), weight=gain, stride=1, padding=0, dilation=1, groups=1,
                      bias=bias)
    return node, {"resample": (tuple(post_shape[1:]), conn.mode)}


def _sparse_node(nir, conn, pre_shape, post_shape, bias, max_dense):
    """sparse into a ``(N, 1, 1)`` population → the dense full-window Conv2d of its synapse list (into a
    spatial map: :func:`_affine_node`, the post exported flat)."""
    mat = connection_matrix(conn, pre_shape, post_shape).toarray().astype(np.float32)  # post × pre, CHW order
    _check_size(mat.size, conn.name, max_dense)
    full = mat.reshape((post_shape[0],) + tuple(pre_shape))
    wsq, stride, pad = square_conv(full, (1, 1), (0, 0, 0, 0), pre_shape[1:])
    return nir.Conv2d(input_shape=tuple(pre_shape[1:]), weight=wsq, stride=stride, padding=pad, dilation=1,
                      groups=1, bias=bias), {}


#: This exporter's kernels, one per op of the IR's op table (:mod:`itnet_neuro.ir.ops`): each writes the
#: connection's own NIR node and says what it needs upstream (a resampling chain).
NIR = KernelRegistry("nir")
NIR.register("conv2d", "depthwise", "avgpool", "identity")(_conv_node)
NIR.register("dense")(_dense_node)
NIR.register("resize")(_resize_node)
NIR.register("sparse")(_sparse_node)


def _check_size(size: int, what: str, max_dense: int) -> None:
    if size > max_dense:
        raise ConversionError(f"NIR export: connection {what!r} needs a weight of {size:,} elements > max_dense "
                              f"{max_dense:,}; raise max_dense (--max-dense) or export a smaller model")


def flat_populations(unet) -> set[str]:
    """Populations exported flat ``(N,)``: reached by a sparse connection into a spatial map (NIR can only
    write an explicit synapse list as an ``Affine`` on flattened maps, and has no un-flatten), and,
    transitively, everything such a population drives. Empty for every network the converter makes."""
    flat: set[str] = set()
    for p in unet.populations:  # topological order
        if any((c.op == "sparse" and tuple(p.shape[1:]) != (1, 1)) or c.pre in flat for c in unet.incoming(p.name)):
            flat.add(p.name)
    return flat


class _GraphBuilder:
    """Collects the nodes and edges of one export (see the module docstring for their form)."""

    def __init__(self, nir, unet, max_dense: int):
        self.nir, self.net, self.max_dense = nir, unet, max_dense
        self.nodes: dict = {}
        self.edges: list[tuple[str, str]] = []
        self.flat = flat_populations(unet)

    def _affine_node(self, conn, pre_shape, post_shape, bias) -> str:
        """Any connection into a flat population: the exact ``post × pre`` matrix of its synapses
        (:func:`itnet_neuro.ir.ops.connection_matrix`) as an ``Affine``; returns the node's source."""
        mat = connection_matrix(conn, pre_shape, post_shape).toarray().astype(np.float32)
        _check_size(mat.size, conn.name, self.max_dense)
        hw = int(np.prod(post_shape[1:]))
        self.nodes[conn.name] = self.nir.Affine(weight=mat, bias=np.repeat(bias, hw).astype(np.float32))
        if conn.pre in self.flat:
            return conn.pre
        name = f"{conn.name}:flatten"
        self.nodes[name] = self.nir.Flatten({"input": np.array(pre_shape)}, start_dim=0, end_dim=-1)
        self.edges.append((conn.pre, name))
        return name

    def chain_end(self, pre: str, out_hw, mode: str) -> str:
        """Name of the last node of ``pre``'s resampling chain to ``out_hw`` (built on first use)."""
        chain = resample_chain(self.nir, pre, self.net.shape_of(pre), out_hw, mode)
        src = pre
        for name, node in chain:
            if name not in self.nodes:
                self.nodes[name] = node
                self.edges.append((src, name))
            src = name
        return src

    def population(self, p) -> None:
        flat = p.name in self.flat
        self.nodes[p.name] = _neuron_node(self.nir, p, flat)
        _, bias, _ = p.params()
        incoming = self.net.incoming(p.name)
        if not incoming:
            self._bias_source(p, bias)
            return
        for k, conn in enumerate(incoming):
            pre_shape = self.net.shape_of(conn.pre)
            b = bias.astype(np.float32) if k == 0 else np.zeros(p.channels, np.float32)
            if flat:
                src = self._affine_node(conn, pre_shape, p.shape, b)
            else:
                node, needs = NIR(conn.op)(self.nir, conn, pre_shape, p.shape, b, self.max_dense)
                self.nodes[conn.name] = node
                src = self.chain_end(conn.pre, *needs["resample"]) if "resample" in needs else conn.pre
            self.nodes[conn.name].metadata = _meta({**self.nodes[conn.name].metadata, "delay": int(conn.delay),
                                                    "itnet": json.dumps({
                "connection": conn.name, "op": conn.op, "post_offset": int(conn.post_offset), "mode": conn.mode,
                "carries_bias": k == 0})})
            self.edges += [(src, conn.name), (conn.name, p.name)]

    def _bias_source(self, p, bias) -> None:
        """A zero-weight Conv2d from the input that only carries the bias of an undriven population."""
        c_in, h_in, w_in = self.net.input.shape
        flat = p.name in self.flat
        out_hw, c_out = ((1, 1), p.size) if flat else (p.shape[1:], p.channels)
        if flat:
            bias = np.repeat(bias, p.size // p.channels)
        wsq, stride, pad = _zero_conv((h_in, w_in), out_hw, c_out, c_in)
        name = f"bias:{p.name}"
        self.nodes[name] = self.nir.Conv2d(
            input_shape=(h_in, w_in), weight=wsq, stride=stride, padding=pad, dilation=1, groups=1,
            bias=bias.astype(np.float32),
            metadata=_meta({"delay": 1, "itnet": json.dumps({
                "op": "bias", "carries_bias": True,
                "why": "no connection drives this population copy; its bias still integrates"})}))
        if flat:
            self.nodes[f"{name}:flatten"] = self.nir.Flatten({"input": np.array((c_out, 1, 1))}, start_dim=0, end_dim=-1)
            self.edges += [(self.net.input.name, name), (name, f"{name}:flatten"), (f"{name}:flatten", p.name)]
            return
        self.edges += [(self.net.input.name, name), (name, p.name)]

    def readout(self, r) -> None:
        nir = self.nir
        out = f"readout:{r.name}"
        k = r.classes
        for i, t in enumerate(r.terms):
            pop = self.net.population(t.population)
            wk = (t.weight * pop.decode_scale[0][None, :]).astype(np.float32)  # decoded = rate · λ; NIR carries spikes
            bias = r.bias.astype(np.float32) if i == 0 else np.zeros(k, np.float32)
            c, h, w = pop.shape
            if pop.name in self.flat:  # per pixel: kron(W, I_hw); global average: W spread over the pixels
                mat = (np.repeat(wk, h * w, axis=1) / float(h * w) if t.pool == "global_avg"
                       else np.kron(wk, np.eye(h * w, dtype=np.float32)))
                self.nodes[f"{out}:{i}"] = nir.Affine(weight=mat.astype(np.float32),
                                                      bias=np.repeat(bias, mat.shape[0] // k).astype(np.float32))
                self.edges += [(t.population, f"{out}:{i}"), (f"{out}:{i}", out)]
                shape_out = (mat.shape[0],)
                continue
            ksz = (h, w) if t.pool == "global_avg" else (1, 1)
            conv_w = wk[:, :, None, None] / float(ksz[0] * ksz[1]) * np.ones((1, 1) + ksz, np.float32)
            wsq, stride, pad = square_conv(conv_w.astype(np.float32), (1, 1), (0, 0, 0, 0), (h, w))
            self.nodes[f"{out}:{i}"] = nir.Conv2d(input_shape=(h, w), weight=wsq, stride=stride,
                                                  padding=pad, dilation=1, groups=1, bias=bias,
                                                  metadata=_meta({"itnet": json.dumps({"pool": t.pool})}))
            self.edges += [(t.population, f"{out}:{i}"), (f"{out}:{i}", out)]
            shape_out = (k, 1, 1) if t.pool == "global_avg" else (k, h, w)
        self.nodes[out] = nir.Output({"output": np.array(shape_out)}, metadata=_meta({
            "index": int(r.index), "out_size": list(r.out_size) if r.out_size else "none",
            "decoding": "logits = (sum over ticks of this output) / ticks; then bilinear resize to out_size"}))


def _shared_groups(net) -> dict:
    """IR connection / block population → the unrolled NIR nodes that carry its parameters."""
    groups = {}
    if net.block is None:
        return groups
    n = net.block.iterations
    for c in net.connections:
        if c.post in net.block.populations:
            its = c.iterations or tuple(range(1, n + 1))
            groups[c.name] = [f"{c.name}@{i}" for i in its if not (c.feedback and i == 1)]
    for p in net.block.populations:
        groups[p] = [f"{p}@{i}" for i in range(1, n + 1)]
    return groups


def to_nir(net, *, max_dense: int = DEFAULT_MAX_DENSE):
    """The IR as a :class:`nir.NIRGraph` (see the module docstring for the form)."""
    nir = _nir()
    unet = net.unroll()
    _refuse_chip_neuron(unet)
    b = _GraphBuilder(nir, unet, max_dense)
    b.nodes[unet.input.name] = nir.Input({"input": np.array(unet.input.shape)})
    for p in unet.populations:
        b.population(p)
    for r in unet.readouts:
        b.readout(r)
    metadata = {
        "source": "itnet-neuro", "network": net.name, "export_format": 2,
        "neuron": "discrete-time IF, one update per step (dt = 1 tick): v += I (the incoming nodes' bias "
                  "included); spike if v >= v_threshold; then v -= v_threshold (node metadata reset='subtract'; "
                  "NIR's v_reset is not used) or v = v_reset (reset='zero'); v starts at v_init * v_threshold. "
                  "LIF: v = (1 - dt/tau) v + (dt r / tau) I.",
        "reset": "per node (metadata 'reset')", "spike_condition": "v >= v_threshold", "dt": 1,
        "input_encoding": unet.input.encoding,
        "input_preprocessing": {"scale": unet.input.scale, "offset": unet.input.offset},
        "delay_per_connection": 1,
        "resampling": "exact chains of Conv2d nodes named resample:PRE:HOxWO:MODE:*, then a 1x1 gain Conv2d",
        "shared_block": None if net.block is None else {"name": net.block.name, "iterations": net.block.iterations,
                                                         "state": list(net.block.state)},
        "shared_parameter_groups": json.dumps(_shared_groups(net)),
    }
    return nir.NIRGraph(nodes=b.nodes, edges=b.edges, metadata=_meta(metadata))


def export_nir(net, path: str | os.PathLike, *, max_dense: int = DEFAULT_MAX_DENSE) -> Path:
    """Write ``net`` as a NIR file (HDF5) atomically; returns the path."""
    nir = _nir()
    from itnet_neuro.utils import atomic_path

    graph = to_nir(net, max_dense=max_dense)
    with atomic_path(path) as tmp:
        write_graph(tmp, graph)
    return Path(path)


def write_graph(path, graph, min_compress: int = 512) -> None:
    """``nir.write``'s file layout, with gzip only for arrays of ``min_compress`` elements or more.

    ``nir.write`` compresses every array, and each compressed (chunked) HDF5 dataset costs a few
    kilobytes of index even for a scalar: a shipped-model export spends most of its file on that.
    The layout is the same (``version``, ``node/…``), so plain ``nir.read`` reads it.
    """
    import h5py

    nir = _nir()

    def put(group, node: dict) -> None:
        for k, v in node.items():
            if k == "metadata":
                if v:
                    put(group.create_group(k), v)
            elif isinstance(v, str):
                group.create_dataset(k, data=v, dtype=h5py.string_dtype())
            elif isinstance(v, np.ndarray):
                big = v.size >= min_compress
                group.create_dataset(k, data=v, dtype=v.dtype, compression="gzip" if big else None)
            elif isinstance(v, dict):
                put(group.create_group(str(k)), v)
            else:
                group.create_dataset(k, data=v)

    with h5py.File(path, "w", libver=("v108", "latest")) as f:  # compact groups: many small nodes
        f.create_dataset("version", data=nir.version, dtype=h5py.string_dtype())
        put(f.create_group("node"), graph.to_dict())


__all__ = ["NIR", "DEFAULT_MAX_DENSE", "flat_populations", "export_nir", "resample_chain", "square_conv", "to_nir", "write_graph"]
