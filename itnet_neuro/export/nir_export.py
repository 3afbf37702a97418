"""IR → NIR (the Neuromorphic Intermediate Representation, ``nir`` 1.0.8): a graph plain ``nir.read`` loads.

Form of the exported graph (every choice below is forced by what NIR 1.0.8 can express and type-check)
-------------------------------------------------------------------------------------------------------
* **Shared block**: NIR cannot tie weights, so the network is exported *unrolled* (populations and
  connections ``name@n`` per iteration). Graph metadata ``shared_parameter_groups`` names, for every
  IR connection and block population, the unrolled NIR nodes that carry the same parameters, so a
  tool that can tie weights may re-fold them.
* **Populations** → ``nir.IF(r=1, v_threshold=θ, v_reset=0)`` of shape ``(C, H, W)``, with θ per
  neuron (the ``threshold_map`` where set, else broadcast per channel). Populations with reset to
  zero, membrane saturation or per-neuron biases (a chip's neuron) are refused. The IR's constant bias current goes into the ``bias`` of one incoming
  Conv2d/Affine (added every step, as in the IR).
* **Reset**: NIR's IF resets to ``v_reset``; the IR subtracts θ (reset by subtraction). NIR has no
  field for that, so each IF node's metadata says ``{"reset": "subtract", "v_init": …}`` and the graph
  metadata repeats it. A consumer that resets to zero instead loses the residual ``v − θ`` at every
  spike: a neuron driven by ``I`` per step fires at ``1/ceil(θ/I)`` instead of ``I/θ`` (0.25 instead of
  0.3 at 30 % of θ; 0.5 instead of 0.7 at 70 %), which lowers every rate and compounds over layers.
* **Connections** → one ``nir.Conv2d`` each (weight ``C_post × C_in × kH × kW``, zero rows outside
  the channels the IR's ``post_offset`` drives, so concatenation is a sum of zero-padded outputs):
  - NIR's Conv2d padding is symmetric; TensorFlow's 'same' pads the extra pixel at the end. An
    asymmetric ``(before, after)`` is exported as symmetric ``max(before, after)`` with the kernel
    extended by ``|after − before|`` zero rows/columns on the side that keeps every tap in place
    (exact).
  - **depthwise**: nir 1.0.8 infers a Conv2d's input channels from ``weight.shape[1]`` and ignores
    ``groups``, so a grouped Conv2d fails plain ``nir.read``. Depthwise weights are therefore expanded
    to the equivalent dense block-diagonal weight (``groups=1``; exact; ``C_in``× the stored weights).
  - avgpool → a block-diagonal Conv2d with ``gain / (kH·kW)`` taps (exact without padding; with
    padding TensorFlow excludes the padded taps from the count, so border outputs differ — flagged in
    the node metadata as ``"border": "approximate"``).
  - identity → 1×1 Conv2d with a diagonal weight.
  - dense → ``nir.Flatten`` + ``nir.Affine`` into a population exported flat (``(N,)``).
  - resize (bilinear / nearest up- or down-sampling): NIR 1.0.8 has no resampling node and no
    un-flatten, so it is ``nir.Flatten`` + ``nir.Affine`` with the exact block-diagonal
    ``kron(R_H, R_W)`` matrix, the population it drives is exported flat, and so is everything
    downstream of it (its convolutions become dense Affine matrices). This is exact but grows with
    the square of the map size; ``max_dense`` bounds the elements of one matrix and an error names
    the connection that exceeds it. In practice: generic CNNs without resampling and small ItNets
    (the ``tiny`` preset) export; the shipped 96×128 ItNet's multi-scale mixing exceeds the bound
    (use ``--format nengo``, which has sparse transforms).
  - sparse (explicit synapses, e.g. per-core realized weights) → the same flat ``nir.Affine`` with
    its exact ``(post, pre)`` matrix, under the same bound.
* **Delays**: one tick per IR connection; recorded as ``"delay": 1`` in each connection node's metadata
  (NIR edges have no delay).
* **Input** → ``nir.Input`` ``(C, H, W)``; its encoding (``current``: the value is injected every
  tick) in the metadata. **Readouts** → ``nir.Output`` nodes fed by 1×1 Conv2d nodes (global average:
  a full-window Conv2d first); ``out_size`` (the classifier's up-sampling) is in the metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from itnet_neuro.errors import ConversionError, MissingDependencyError
from itnet_neuro.ir.ops import connection_matrix
from itnet_neuro.ir.ops import spec as op_spec
from itnet_neuro.sim.kernels import KernelRegistry

#: Largest dense Affine (elements) the exporter writes for one connection.
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


def _symmetric(weight: np.ndarray, padding) -> tuple[np.ndarray, tuple[int, int]]:
    """Kernel and symmetric padding equivalent to an asymmetric ``(top, bottom, left, right)`` padding."""
    top, bottom, left, right = padding
    pads = []
    w = weight
    for axis, (a, b) in ((2, (top, bottom)), (3, (left, right))):
        if a != b:
            extra = abs(b - a)
            shape = list(w.shape)
            shape[axis] = extra
            z = np.zeros(shape, w.dtype)
            w = np.concatenate([z, w] if b > a else [w, z], axis=axis)
        pads.append(max(a, b))
    return w, (pads[0], pads[1])


class _Form(NamedTuple):
    """How one op is written to NIR: ``kind`` "conv" (a ``nir.Conv2d`` weight ``C_post × C_pre × kH × kW``,
    groups = 1) or "affine" (a ``nir.Affine`` on the flattened presynaptic map, post exported flat)."""

    kind: str
    weight: Callable
    approximate: Callable = lambda conn: False  # the export is not exact for this connection


#: NIR forms by op: this exporter's kernels.
NIR = KernelRegistry("nir")


def _conv_full(conn, pre_shape, post_channels: int) -> np.ndarray:
    """A conv op's weight placed at ``[post_offset + out channel, in channel]`` (from the op table)."""
    op = op_spec(conn.op)
    w = conn.weight
    full = np.zeros((post_channels, pre_shape[0]) + tuple(conn.kernel), np.float32)
    oc = np.broadcast_to(op.out_channel(conn, None), w.shape)[..., 0, 0]
    ic = np.broadcast_to(op.in_channel(conn, pre_shape), w.shape)[..., 0, 0]
    full[conn.post_offset + oc, ic] = w
    return full


def _gain_full(conn, pre_shape, post_channels: int, taps: float) -> np.ndarray:
    """A per-channel gain spread over the ``kernel`` window as ``gain / taps`` (block diagonal)."""
    c = np.arange(pre_shape[0])
    full = np.zeros((post_channels, pre_shape[0]) + tuple(conn.kernel), np.float32)
    full[conn.post_offset + c, c] = (conn.weight / np.float32(taps))[:, None, None]
    return full


def _affine(conn, pre_shape, post_shape) -> np.ndarray:
    """The exact ``(post neurons, pre neurons)`` matrix of the op table's synapse list."""
    return connection_matrix(conn, pre_shape, post_shape).toarray().astype(np.float32)


NIR.register("conv2d", "depthwise")(_Form("conv", lambda conn, pre, c: _conv_full(conn, pre, c)))
# TensorFlow excludes padded taps from an average's count; a Conv2d cannot, so padded borders differ.
NIR.register("avgpool")(_Form("conv", lambda conn, pre, c: _gain_full(conn, pre, c, conn.kernel[0] * conn.kernel[1]),
                              approximate=lambda conn: any(conn.padding)))
NIR.register("identity")(_Form("conv", lambda conn, pre, c: _gain_full(conn, pre, c, 1.0)))
NIR.register("dense", "resize", "sparse")(_Form("affine", _affine))


def _conv_matrix(weight, stride, padding, pre_shape, post_shape) -> np.ndarray:
    """Dense ``(C_post·H·W) × (C_pre·H·W)`` matrix of a convolution (for flat presynaptic populations)."""
    c_out, c_in, kh, kw = weight.shape
    _, h, w = pre_shape
    _, ho, wo = post_shape
    top, _, left, _ = padding
    mat = np.zeros((c_out, ho, wo, c_in, h, w), np.float32)
    for i in range(ho):
        for j in range(wo):
            for ky in range(kh):
                y = i * stride[0] - top + ky
                if not 0 <= y < h:
                    continue
                for kx in range(kw):
                    x = j * stride[1] - left + kx
                    if 0 <= x < w:
                        mat[:, i, j, :, y, x] += weight[:, :, ky, kx]
    return mat.reshape(c_out * ho * wo, c_in * h * w)


def _refuse_chip_neuron(unet) -> None:
    """The neuron options this form cannot hold (reset to zero, saturation, per-neuron biases) are refused."""
    for p in unet.populations:
        feature = ("reset to zero" if p.reset != "subtract" else
                   "membrane saturation (v_min/v_max)" if p.v_min is not None or p.v_max is not None else
                   "per-neuron biases (bias_map)" if p.bias_map is not None else None)
        if feature is not None:
            raise ConversionError(f"NIR export: population {p.name!r} has {feature}, which this export (IF nodes "
                                  "with reset by subtraction, biases per channel) cannot express; export the "
                                  "network before a chip's neuron is applied, or use --format nengo")


def to_nir(net, *, max_dense: int = DEFAULT_MAX_DENSE):
    """The IR as a :class:`nir.NIRGraph` (see the module docstring for the form)."""
    nir = _nir()
    unet = net.unroll()
    _refuse_chip_neuron(unet)
    nodes: dict = {}
    edges: list[tuple[str, str]] = []
    inp = unet.input.name
    nodes[inp] = nir.Input({"input": np.array(unet.input.shape)})
    # NIR 1.0.8 has neither a resampling node nor an un-flatten: a population reached through an Affine
    # (dense, resize, sparse), or from a flat population, is flat itself (populations are topological).
    flat: set[str] = set()
    for p in unet.populations:
        if any(NIR(c.op).kind == "affine" or c.pre in flat for c in unet.incoming(p.name)):
            flat.add(p.name)

    def check(size: int, what: str):
        if size > max_dense:
            raise ConversionError(f"NIR export: {what} needs a dense matrix of {size:,} elements > max_dense "
                                  f"{max_dense:,} (NIR 1.0.8 has no resampling/un-flatten node); export a smaller "
                                  "model, raise max_dense, or use --format nengo")

    bias_done: set[str] = set()
    for p in unet.populations:
        _, bias, _ = p.params()
        c, h, w = p.shape
        shape = (c * h * w,) if p.name in flat else (c, h, w)
        theta = p.neuron_params()[0].reshape(shape)  # per neuron (threshold_map where set)
        nodes[p.name] = nir.IF(r=np.ones(shape, np.float32), v_threshold=theta.copy(),
                               v_reset=np.zeros(shape, np.float32),
                               metadata=_meta({"reset": "subtract", "v_init": float(p.v_init),
                                               "leak": float(p.leak), "decode_scale": p.decode_scale[0].tolist(),
                                               "role": p.role, "pair": p.pair or "", "source": p.source}))
        bias_full = np.broadcast_to(bias.reshape(c, 1, 1), (c, h, w)).astype(np.float32)
        for conn in unet.incoming(p.name):
            pre_shape = unet.shape_of(conn.pre)
            pre_flat = conn.pre in flat
            key = f"{conn.name}"
            b = bias_full if p.name not in bias_done else np.zeros_like(bias_full)
            meta = {"delay": int(conn.delay), "op": conn.op, "post_offset": int(conn.post_offset)}
            src = conn.pre
            form = NIR(conn.op)
            if form.kind == "affine":
                if not pre_flat and len(pre_shape) == 3:
                    fl = f"{key}:flatten"
                    nodes[fl] = nir.Flatten({"input": np.array(pre_shape)}, start_dim=0, end_dim=-1)
                    edges.append((conn.pre, fl))
                    src = fl
                check(c * h * w * int(np.prod(pre_shape)), f"{conn.op} {conn.name!r}")
                nodes[key] = nir.Affine(weight=form.weight(conn, pre_shape, p.shape), bias=b.reshape(-1), metadata=meta)
            else:
                full = form.weight(conn, pre_shape, c)
                if form.approximate(conn):
                    meta["border"] = "approximate"
                if pre_flat:
                    check(c * h * w * int(np.prod(pre_shape)), f"convolution {conn.name!r} from flat {conn.pre!r}")
                    mat = _conv_matrix(full, conn.stride, conn.padding, pre_shape, p.shape)
                    nodes[key] = nir.Affine(weight=mat, bias=b.reshape(-1), metadata=meta)
                else:
                    wsym, pad = _symmetric(full, conn.padding)
                    nodes[key] = nir.Conv2d(input_shape=tuple(pre_shape[1:]), weight=wsym, stride=tuple(conn.stride),
                                            padding=pad, dilation=1, groups=1, bias=b[:, 0, 0].copy(),
                                            metadata=meta)
                    if p.name in flat:
                        fl = f"{key}:flatten"
                        nodes[fl] = nir.Flatten({"input": np.array((c, h, w))}, start_dim=0, end_dim=-1)
                        edges.append((key, fl))
                        edges.append((fl, p.name))
                        bias_done.add(p.name)
                        edges.append((src, key))
                        continue
            bias_done.add(p.name)
            edges.append((src, key))
            edges.append((key, p.name))
    for r in unet.readouts:
        out = f"readout:{r.name}"
        k = r.classes
        shape_out = None
        for i, t in enumerate(r.terms):
            pop = unet.population(t.population)
            dec = pop.decode_scale[0]
            wk = (t.weight * dec[None, :]).astype(np.float32)  # decoded = rate · λ; NIR carries spikes
            bias = r.bias.astype(np.float32) if i == 0 else np.zeros(k, np.float32)
            src = t.population
            if pop.name in flat:
                c, h, w = pop.shape
                if t.pool == "global_avg":
                    mat = np.repeat(wk, h * w, axis=1) / float(h * w)
                    shape_term = (k,)
                else:
                    mat = np.kron(wk, np.eye(h * w, dtype=np.float32))
                    shape_term = (k * h * w,)
                nodes[f"{out}:{i}"] = nir.Affine(weight=mat, bias=np.broadcast_to(bias[:, None], (k, mat.shape[0] // k))
                                                 .reshape(-1).copy())
            else:
                c, h, w = pop.shape
                ksz = (h, w) if t.pool == "global_avg" else (1, 1)
                conv_w = wk[:, :, None, None] / float(ksz[0] * ksz[1]) * np.ones((1, 1) + ksz, np.float32)
                nodes[f"{out}:{i}"] = nir.Conv2d(input_shape=(h, w), weight=conv_w.astype(np.float32), stride=1,
                                                 padding=0, dilation=1, groups=1, bias=bias)
                shape_term = (k, 1, 1) if t.pool == "global_avg" else (k, h, w)
            edges.append((src, f"{out}:{i}"))
            edges.append((f"{out}:{i}", out))
            shape_out = shape_term
        nodes[out] = nir.Output({"output": np.array(shape_out)}, metadata=_meta({
            "index": int(r.index), "out_size": list(r.out_size) if r.out_size else "none",
            "decoding": "logits = sum of terms(spike count / ticks); then bilinear resize to out_size"}))
    groups = {}
    if net.block is not None:
        n = net.block.iterations
        for c in net.connections:
            if c.post in net.block.populations:
                its = c.iterations or tuple(range(1, n + 1))
                groups[c.name] = [f"{c.name}@{i}" for i in its if not (c.feedback and i == 1)]
        for p in net.block.populations:
            groups[p] = [f"{p}@{i}" for i in range(1, n + 1)]
    metadata = {
        "source": "itnet-neuro", "network": net.name,
        "neuron": "discrete-time IF, one update per step: v += I + bias; spike if v >= v_threshold; "
                  "v -= v_threshold (reset by subtraction; NIR's v_reset is not used)",
        "reset": "subtract", "input_encoding": unet.input.encoding,
        "input_preprocessing": {"scale": unet.input.scale, "offset": unet.input.offset},
        "delay_per_connection": 1,
        "shared_block": None if net.block is None else {"name": net.block.name, "iterations": net.block.iterations,
                                                         "state": list(net.block.state)},
        "shared_parameter_groups": json.dumps(groups),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=_meta(metadata))


def export_nir(net, path: str | os.PathLike, *, max_dense: int = DEFAULT_MAX_DENSE) -> Path:
    """Write ``net`` as a NIR file (HDF5) atomically; returns the path."""
    nir = _nir()
    from itnet_neuro.utils import atomic_path

    graph = to_nir(net, max_dense=max_dense)
    with atomic_path(path) as tmp:
        nir.write(str(tmp), graph)
    return Path(path)


__all__ = ["DEFAULT_MAX_DENSE", "export_nir", "to_nir"]
