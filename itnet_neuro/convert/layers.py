"""Per-layer-type converters, registered by Keras class name (STYLE.md §1, §6).

Each converter takes the conversion context, the :class:`~itnet_neuro.convert.graph.Node` and the
:class:`~itnet_neuro.convert.expr.Expr` of each input, and returns the node's ``Expr``. Activations
create populations (and return the identity expression of them); linear layers fold into the
expression when that is exact and keeps fan-in bounded, and otherwise make the context materialize
their input first. A new layer type is one registered function here.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from itnet_neuro.convert.expr import Expr, Part, Term, add, affine, concat
from itnet_neuro.errors import ConversionError, UnsupportedLayerError
from itnet_neuro.ir.graph import same_padding

CONVERTERS: dict[str, Callable] = {}


def register(*names: str):
    def deco(fn):
        for n in names:
            CONVERTERS[n] = fn
        return fn
    return deco


def get_converter(class_name: str, layer_name: str) -> Callable:
    try:
        return CONVERTERS[class_name]
    except KeyError:
        raise UnsupportedLayerError(f"layer {layer_name!r} ({class_name}): no spiking conversion; supported layer "
                                    f"types: {', '.join(sorted(CONVERTERS))}") from None


def _unsupported(node, why: str):
    raise UnsupportedLayerError(f"layer {node.name!r} ({node.class_name}): {why}")


def _pad(node, size_hw, kernel, stride, padding: str, pending=(0, 0, 0, 0)):
    """The window op's padding (top, bottom, left, right) on the *unpadded* map of ``size_hw``, with a
    preceding ZeroPadding2D's ``pending`` padding added (zeros either way: exact)."""
    t, b, l, r = pending
    hw = (size_hw[0] + t + b, size_hw[1] + l + r)
    if padding == "valid":
        own = (0, 0, 0, 0)
    elif padding == "same":
        own = same_padding(hw[0], kernel[0], stride[0]) + same_padding(hw[1], kernel[1], stride[1])
    else:
        _unsupported(node, f"padding={padding!r} (use 'same' or 'valid')")
    return tuple(int(a + c) for a, c in zip(own, pending))


def _out_hw(hw, kernel, stride, pad):
    return ((hw[0] + pad[0] + pad[1] - kernel[0]) // stride[0] + 1, (hw[1] + pad[2] + pad[3] - kernel[1]) // stride[1] + 1)


#: Activations with no spiking form, and why (an IF neuron's rate is ``clip(I/θ, 0, 1)``: it can only clip).
NO_SPIKING_FORM = {
    "swish": "x·sigmoid(x) multiplies two signals and goes negative; retrain with ReLU or ReLU6",
    "silu": "x·sigmoid(x) multiplies two signals and goes negative; retrain with ReLU or ReLU6",
    "hard_swish": "x·relu6(x+3)/6 multiplies two signals; retrain with ReLU or ReLU6",
    "gelu": "x·Φ(x) multiplies two signals and goes negative; retrain with ReLU or ReLU6",
    "sigmoid": "a smooth saturating curve, not a clip; use ReLU6 (a clipped neuron) and retrain",
    "hard_sigmoid": "relu6(x+3)/6 needs a shifted clip; use ReLU6 and retrain",
    "tanh": "negative outputs: an IF neuron's rate is >= 0; use ReLU and retrain",
    "elu": "negative outputs: an IF neuron's rate is >= 0; use ReLU and retrain",
    "selu": "negative outputs: an IF neuron's rate is >= 0; use ReLU and retrain",
    "softplus": "a smooth curve, not a clip; use ReLU and retrain",
}


def _refuse_activation(node, name: str):
    why = NO_SPIKING_FORM.get(name, "use relu or relu6 (softmax only on an output)")
    _unsupported(node, f"activation {name!r} has no spiking form: {why}")


def _activation_of(node) -> str:
    act = getattr(node.layer, "activation", None)
    name = getattr(act, "__name__", "linear") if act is not None else "linear"
    if name not in ("linear", "relu", "relu6", "softmax"):
        _refuse_activation(node, name)
    return name


def _finish(ctx, node, e: Expr) -> Expr:
    """Apply a layer's built-in activation (``Conv2D(activation='relu')``)."""
    act = _activation_of(node)
    if act in ("relu", "relu6"):
        return ctx.activation(node, e, kind="relu", cap=6.0 if act == "relu6" else None)
    if act == "softmax":  # a classifier's final softmax: monotone, the readout gives its logits
        if not ctx.output_only(node):
            _unsupported(node, "activation 'softmax' between layers has no rate-coded equivalent; use it on an "
                               "output only")
        ctx.note(f"{node.name}: final softmax dropped (monotone; readouts give logits)")
        ctx.softmax_nodes.add(node.id)
    return e


# ------------------------------------------------------------------------------ sources and no-ops
@register("InputLayer")
def _input(ctx, node, inputs):
    return ctx.input_expr(node)


@register("Dropout", "SpatialDropout2D", "GaussianDropout", "GaussianNoise")
def _identity(ctx, node, inputs):
    return inputs[0]


@register("Softmax")
def _softmax(ctx, node, inputs):
    if not ctx.output_only(node):
        _unsupported(node, "softmax between layers has no rate-coded equivalent; use it on an output only")
    ctx.note(f"{node.name}: final softmax dropped (monotone; readouts give logits)")
    return inputs[0]


# ------------------------------------------------------------------------------ activations
@register("ReLU")
def _relu(ctx, node, inputs):
    layer = node.layer
    slope = float(getattr(layer, "negative_slope", 0.0) or 0.0)
    thr = float(getattr(layer, "threshold", 0.0) or 0.0)
    if slope != 0.0 or thr != 0.0:
        _unsupported(node, f"negative_slope={slope}, threshold={thr}: only a plain ReLU (optionally with max_value) "
                           "maps to an IF neuron")
    cap = getattr(layer, "max_value", None)
    cap = None if cap is None else float(np.asarray(cap))
    return ctx.activation(node, inputs[0], kind="relu", cap=cap)


@register("Activation")
def _activation(ctx, node, inputs):
    name = getattr(node.layer.activation, "__name__", "?")
    if name in ("relu", "relu6"):
        return ctx.activation(node, inputs[0], kind="relu", cap=6.0 if name == "relu6" else None)
    if name == "linear":
        return inputs[0]
    if name == "softmax":
        return _softmax(ctx, node, inputs)
    _refuse_activation(node, name)


@register("ClipFloorShift")
def _cfs(ctx, node, inputs):
    lam = float(np.asarray(node.layer.threshold.numpy()))
    if lam <= 0:
        _unsupported(node, f"trained threshold λ={lam} <= 0")
    return ctx.activation(node, inputs[0], kind="cfs", cap=lam, levels=int(node.layer.levels))


# ------------------------------------------------------------------------------ linear: weights
def _kernel_oihw(kernel_hwio: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(kernel_hwio, (3, 2, 0, 1))).astype(np.float32)


def _fold_conv(ctx, node, e: Expr, op: str, weight: np.ndarray, bias: np.ndarray, stride, padding,
               multiplier: int = 1) -> Expr:
    """``op`` (conv2d / depthwise) applied to ``e``: fold into one term per input population."""
    kernel = tuple(weight.shape[2:])
    padded = any(padding)
    e = ctx.prepare_for_spatial(node, e, needs_zero_bias=padded and kernel != (1, 1))
    out_hw = _out_hw(e.shape[1:], kernel, stride, padding)
    c_out = weight.shape[0]
    const = np.array(bias, np.float32)
    parts_out: list[Part] = []
    terms: list[Term] = []
    for p in e.parts:
        for t in p.terms:
            a = p.offset + t.offset
            c = t.out_channels
            gain = (p.scale[t.offset:t.offset + c] * t.weight).astype(np.float32)
            if op == "conv2d":
                w = weight[:, a:a + c] * gain[None, :, None, None]
                terms.append(Term(t.pre, "conv2d", w, 0, tuple(stride), tuple(padding)))
            else:
                rows = slice(a * multiplier, (a + c) * multiplier)
                w = weight[rows] * np.repeat(gain, multiplier)[:, None, None, None]
                parts_out.append(Part(a * multiplier, c * multiplier,
                                      [Term(t.pre, "depthwise", w, 0, tuple(stride), tuple(padding))],
                                      np.zeros(c * multiplier, np.float32), np.ones(c * multiplier, np.float32),
                                      node.id))
        if np.any(p.bias):  # exact: no padding reaches a nonzero bias (checked above)
            sb = (p.scale * p.bias).astype(np.float32)
            if op == "conv2d":
                const += np.einsum("oikl,i->o", weight[:, p.offset:p.offset + p.channels], sb)
            else:
                w = weight[p.offset * multiplier:(p.offset + p.channels) * multiplier, 0].sum(axis=(1, 2))
                const[p.offset * multiplier:(p.offset + p.channels) * multiplier] += w * np.repeat(sb, multiplier)
    if op == "conv2d":
        part = Part(0, c_out, terms, const, np.ones(c_out, np.float32), node.id)
        return Expr([part], (c_out,) + tuple(out_hw), node.id)
    # depthwise: one part per input term's channel range; terms on the same channels share a part
    merged: dict[tuple[int, int], Part] = {}
    for q in parts_out:
        key = (q.offset, q.channels)
        if key in merged:
            merged[key].terms.extend(q.terms)
        else:
            merged[key] = q
    parts = sorted(merged.values(), key=lambda q: q.offset)
    if _overlapping(parts):
        e2 = ctx.materialize_expr(node, e, reason="depthwise over overlapping channel ranges")
        return _fold_conv(ctx, node, e2, op, weight, bias, stride, padding, multiplier)
    for q in parts:
        q.bias = q.bias + const[q.offset:q.offset + q.channels]
    return _fill_gaps(Expr(parts, (c_out,) + tuple(out_hw), node.id), const, node.id)


def _overlapping(parts: list[Part]) -> bool:
    end = 0
    for q in parts:
        if q.offset < end:
            return True
        end = q.offset + q.channels
    return False


def _fill_gaps(e: Expr, const: np.ndarray, producer: str) -> Expr:
    """Parts with no term for channels nobody drives (e.g. constant-bias-only channels)."""
    parts, pos = [], 0
    for q in e.parts:
        if q.offset > pos:
            parts.append(Part(pos, q.offset - pos, [], const[pos:q.offset].copy(),
                              np.ones(q.offset - pos, np.float32), producer))
        parts.append(q)
        pos = q.offset + q.channels
    if pos < e.channels:
        parts.append(Part(pos, e.channels - pos, [], const[pos:].copy(), np.ones(e.channels - pos, np.float32),
                          producer))
    e.parts = parts
    return e


def _grouped_terms(node, pre, a: int, c: int, weight: np.ndarray, groups: int, gain: np.ndarray, stride,
                   padding) -> Term:
    """The term of a grouped conv2d (``weight``: C_out × C_in/G × kH × kW) reading input channels
    ``[a, a + c)`` from ``pre``: whole groups (an IR conv2d with groups) or a slice of one group."""
    pi = weight.shape[1]
    po = weight.shape[0] // groups
    if a % pi == 0 and c % pi == 0:
        g0, ng = a // pi, c // pi
        w = weight[g0 * po:(g0 + ng) * po].reshape(ng, po, pi, *weight.shape[2:])
        w = w * gain.reshape(ng, 1, pi, 1, 1)
        return Term(pre, "conv2d", w.reshape(ng * po, pi, *weight.shape[2:]).astype(np.float32), g0 * po,
                    tuple(stride), tuple(padding), groups=ng)
    g = a // pi
    if (a + c - 1) // pi != g:
        _unsupported(node, f"groups={groups}: input channels [{a}, {a + c}) of one source straddle groups of {pi} "
                           "channels; choose groups so that every concatenated input fills whole groups")
    w = weight[g * po:(g + 1) * po, a - g * pi:a - g * pi + c] * gain[None, :, None, None]
    return Term(pre, "conv2d", w.astype(np.float32), g * po, tuple(stride), tuple(padding))


def _dense_groups(weight: np.ndarray, groups: int) -> np.ndarray:
    """The block-diagonal C_out × C_in × kH × kW kernel of a grouped one."""
    po, pi = weight.shape[0] // groups, weight.shape[1]
    dense = np.zeros((weight.shape[0], pi * groups) + weight.shape[2:], weight.dtype)
    for g in range(groups):
        dense[g * po:(g + 1) * po, g * pi:(g + 1) * pi] = weight[g * po:(g + 1) * po]
    return dense


@register("Conv2D")
def _conv2d(ctx, node, inputs):
    layer = node.layer
    groups = int(getattr(layer, "groups", 1))
    if groups != 1:
        return _grouped_conv2d(ctx, node, inputs, groups)
    if tuple(layer.dilation_rate) != (1, 1):
        _unsupported(node, f"dilation_rate={layer.dilation_rate}; use 1")
    e = inputs[0]
    w = _kernel_oihw(layer.kernel.numpy())
    b = layer.bias.numpy() if layer.use_bias else np.zeros(w.shape[0], np.float32)
    stride = tuple(layer.strides)
    if e.shape[1:] == (1, 1) and w.shape[2:] == (1, 1) and not any(e.pad):
        # a 1×1 convolution of a 1×1 map is a Dense layer (MobileNet's classifier after GAP + Reshape)
        out = _dense_core(ctx, node, Expr(e.parts, e.shape, e.node, flat=True), layer.kernel.numpy()[0, 0], b)
        out.flat = False
        return _finish(ctx, node, out)
    pad = _pad(node, e.shape[1:], w.shape[2:], stride, layer.padding, e.pad)
    return _finish(ctx, node, _fold_conv(ctx, node, e, "conv2d", w, b, stride, pad))


def _grouped_conv2d(ctx, node, inputs, groups: int):
    """A grouped Conv2D: one IR conv2d (with groups) or group slice per input population (see
    :func:`_grouped_terms`); constants fold through the block-diagonal kernel."""
    layer = node.layer
    if tuple(layer.dilation_rate) != (1, 1):
        _unsupported(node, f"dilation_rate={layer.dilation_rate}; use 1")
    w = _kernel_oihw(layer.kernel.numpy())
    b = layer.bias.numpy() if layer.use_bias else np.zeros(w.shape[0], np.float32)
    stride = tuple(layer.strides)
    e = inputs[0]
    pad = _pad(node, e.shape[1:], w.shape[2:], stride, layer.padding, e.pad)
    e = ctx.prepare_for_spatial(node, e, needs_zero_bias=any(pad) and w.shape[2:] != (1, 1))
    dense = _dense_groups(w, groups)
    const = np.array(b, np.float32)
    terms = []
    for p in e.parts:
        for t in p.terms:
            a, c = p.offset + t.offset, t.out_channels
            gain = (p.scale[t.offset:t.offset + c] * t.weight).astype(np.float32)
            terms.append(_grouped_terms(node, t.pre, a, c, w, groups, gain, stride, pad))
        if np.any(p.bias):
            sb = (p.scale * p.bias).astype(np.float32)
            const += np.einsum("oikl,i->o", dense[:, p.offset:p.offset + p.channels], sb)
    out_hw = _out_hw(e.shape[1:], w.shape[2:], stride, pad)
    part = Part(0, w.shape[0], terms, const, np.ones(w.shape[0], np.float32), node.id)
    return _finish(ctx, node, Expr([part], (w.shape[0],) + tuple(out_hw), node.id))


@register("SeparableConv2D")
def _separable(ctx, node, inputs):
    """Depthwise then pointwise, composed into one conv2d (exact: both are linear, nothing in between)."""
    layer = node.layer
    if tuple(layer.dilation_rate) != (1, 1):
        _unsupported(node, f"dilation_rate={layer.dilation_rate}; use 1")
    e = inputs[0]
    d = layer.depthwise_kernel.numpy()  # kH, kW, C_in, m
    pw = layer.pointwise_kernel.numpy()[0, 0]  # C_in·m, C_out
    kh, kw, c_in, m = d.shape
    w = np.einsum("ijo,hwij->oihw", pw.reshape(c_in, m, -1), d).astype(np.float32)
    b = layer.bias.numpy() if layer.use_bias else np.zeros(w.shape[0], np.float32)
    stride = tuple(layer.strides)
    pad = _pad(node, e.shape[1:], w.shape[2:], stride, layer.padding, e.pad)
    return _finish(ctx, node, _fold_conv(ctx, node, e, "conv2d", w, b, stride, pad))


@register("DepthwiseConv2D")
def _depthwise(ctx, node, inputs):
    layer = node.layer
    if tuple(layer.dilation_rate) != (1, 1):
        _unsupported(node, f"dilation_rate={layer.dilation_rate}; use 1")
    e = inputs[0]
    k = layer.depthwise_kernel.numpy()  # kH, kW, C_in, m
    c_in, m = k.shape[2], k.shape[3]
    w = np.transpose(k, (2, 3, 0, 1)).reshape(c_in * m, 1, k.shape[0], k.shape[1]).astype(np.float32)
    b = layer.bias.numpy() if layer.use_bias else np.zeros(c_in * m, np.float32)
    stride = tuple(layer.strides)
    pad = _pad(node, e.shape[1:], w.shape[2:], stride, layer.padding, e.pad)
    return _finish(ctx, node, _fold_conv(ctx, node, e, "depthwise", w, b, stride, pad, multiplier=m))


@register("Dense")
def _dense(ctx, node, inputs):
    layer = node.layer
    e = inputs[0]
    kernel = layer.kernel.numpy()  # N_in × N_out
    b = layer.bias.numpy() if layer.use_bias else np.zeros(kernel.shape[1], np.float32)
    if not e.flat and not e.keras_flatten:  # Dense on a feature map acts per pixel: a 1×1 convolution
        w = kernel.T[:, :, None, None].astype(np.float32)
        return _finish(ctx, node, _fold_conv(ctx, node, e, "conv2d", w, b, (1, 1), (0, 0, 0, 0)))
    return _finish(ctx, node, _dense_core(ctx, node, e, kernel, b))


def _dense_core(ctx, node, e: Expr, kernel: np.ndarray, b: np.ndarray) -> Expr:
    """A dense map (``kernel`` N_in × N_out, Keras order) of a flat or Keras-flattened value."""
    n_out = kernel.shape[1]
    c, h, wd = e.shape
    if e.keras_flatten:  # Keras flattens H, W, C; the IR's dense reads C, H, W
        w_full = kernel.reshape(h, wd, c, n_out).transpose(3, 2, 0, 1)  # N, C, H, W
    else:
        w_full = kernel.T.reshape(n_out, c, 1, 1)
    gap_terms = [t for p in e.parts for t in p.terms if t.op == "gap"]
    if gap_terms and (len(gap_terms) != sum(len(p.terms) for p in e.parts) or not ctx.output_only(node)
                      or _activation_of(node) not in ("linear", "softmax")):
        e = ctx.materialize_expr(node, e, reason="a Dense layer after GlobalAveragePooling2D that is not a readout")
    elif not gap_terms:
        e = ctx.prepare_for_spatial(node, e, needs_zero_bias=False)
    const = b.astype(np.float32).copy()
    terms = []
    for p in e.parts:
        for t in p.terms:
            a = p.offset + t.offset
            cc = t.out_channels
            gain = (p.scale[t.offset:t.offset + cc] * t.weight).astype(np.float32)
            w = w_full[:, a:a + cc] * gain[None, :, None, None]
            if t.op == "gap":
                terms.append(Term(t.pre, "gap_dense", w[:, :, 0, 0], 0, out_hw=(1, 1)))
            else:
                pre_shape = ctx.shape_of(t.pre)
                terms.append(Term(t.pre, "dense", w.reshape(n_out, -1) if pre_shape[1:] != (1, 1)
                                  else w[:, :, 0, 0], 0))
        if np.any(p.bias):
            sb = p.scale * p.bias
            const += np.einsum("ochw,c->o", w_full[:, p.offset:p.offset + p.channels], sb)
    part = Part(0, n_out, terms, const, np.ones(n_out, np.float32), node.id)
    return Expr([part], (n_out, 1, 1), node.id, flat=True)


@register("BatchNormalization")
def _bn(ctx, node, inputs):
    layer = node.layer
    axis = layer.axis if isinstance(layer.axis, int) else layer.axis[0]
    if axis not in ((-1, 1) if inputs[0].flat else (-1, 3)):
        _unsupported(node, f"axis={layer.axis}; BatchNormalization over the channel axis (-1) only")
    c = inputs[0].channels
    gamma = layer.gamma.numpy() if layer.scale else np.ones(c, np.float32)
    beta = layer.beta.numpy() if layer.center else np.zeros(c, np.float32)
    mean, var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    g = gamma / np.sqrt(var + layer.epsilon)
    h = beta - g * mean
    return affine(inputs[0], g.astype(np.float32), h.astype(np.float32), node.id)


# ------------------------------------------------------------------------------ linear: spatial
def _per_channel(ctx, node, e: Expr, op: str, out_shape, **geom) -> Expr:
    """A per-channel spatial map (pooling, resampling): exact for identity terms, bias and scale pass."""
    e = ctx.prepare_for_spatial(node, e, needs_zero_bias=False)
    parts = []
    for p in e.parts:
        terms = [Term(t.pre, op, t.weight, t.offset, **geom) for t in p.terms]
        parts.append(Part(p.offset, p.channels, terms, p.bias, p.scale, node.id))
    return Expr(parts, tuple(out_shape), node.id, flat=(op == "gap"))


@register("AveragePooling2D")
def _avgpool(ctx, node, inputs):
    layer = node.layer
    e = inputs[0]
    k, s = tuple(layer.pool_size), tuple(layer.strides)
    if any(e.pad):  # ZeroPadding2D zeros count in the mean: a depthwise convolution with 1/(kH·kW) taps
        c = e.channels
        w = np.full((c, 1) + k, 1.0 / (k[0] * k[1]), np.float32)
        pad = _pad(node, e.shape[1:], k, s, layer.padding, e.pad)
        return _fold_conv(ctx, node, e, "depthwise", w, np.zeros(c, np.float32), s, pad)
    pad = _pad(node, e.shape[1:], k, s, layer.padding)
    out = (e.channels,) + _out_hw(e.shape[1:], k, s, pad)
    return _per_channel(ctx, node, e, "avgpool", out, stride=s, padding=pad, kernel=k)


@register("GlobalAveragePooling2D")
def _gap(ctx, node, inputs):
    e = inputs[0]
    out = _per_channel(ctx, node, e, "gap", (e.channels, 1, 1), kernel=tuple(e.shape[1:]), out_hw=(1, 1))
    out.flat = not getattr(node.layer, "keepdims", False)  # keepdims: a 1×1 map (MobileNet's head)
    return out


def _resize(ctx, node, e: Expr, out_hw, mode: str) -> Expr:
    if mode not in ("bilinear", "nearest"):
        _unsupported(node, f"interpolation={mode!r}; use 'bilinear' or 'nearest'")
    out = (e.channels,) + tuple(out_hw)
    if ctx.output_only(node) and mode == "bilinear":
        # a readout up-samples its decoded logits afterwards (linear, so it commutes)
        e2 = Expr(e.parts, e.shape, e.node, e.flat)
        e2.out_size = tuple(out_hw)
        return e2
    return _per_channel(ctx, node, e, "resize", out, mode=mode, out_hw=tuple(out_hw))


@register("UpSampling2D")
def _upsampling(ctx, node, inputs):
    e = inputs[0]
    sh, sw = node.layer.size
    return _resize(ctx, node, e, (e.shape[1] * sh, e.shape[2] * sw), node.layer.interpolation)


@register("Resizing")
def _resizing(ctx, node, inputs):
    layer = node.layer
    if getattr(layer, "crop_to_aspect_ratio", False):
        _unsupported(node, "crop_to_aspect_ratio=True; use False")
    return _resize(ctx, node, inputs[0], (int(layer.height), int(layer.width)), layer.interpolation)


@register("MaxPooling2D")
def _maxpool(ctx, node, inputs):
    layer = node.layer
    if tuple(layer.pool_size) == (1, 1):  # a 1×1 "max" is a subsampling (ResNet50V2's shortcut)
        e = inputs[0]
        s = tuple(layer.strides)
        pad = _pad(node, e.shape[1:], (1, 1), s, layer.padding)
        out = (e.channels,) + _out_hw(e.shape[1:], (1, 1), s, pad)
        return _per_channel(ctx, node, e, "avgpool", out, stride=s, padding=pad, kernel=(1, 1))
    e = inputs[0]
    if tuple(layer.pool_size) == (2, 2) and tuple(layer.strides) == (2, 2) and not any(e.pad):
        return ctx.max_pool(node, e, layer.padding)
    k, s = tuple(layer.pool_size), tuple(layer.strides)
    pad = _pad(node, e.shape[1:], k, s, layer.padding, e.pad)
    from itnet_neuro.convert.maxpool import convert_max_pool_window

    return convert_max_pool_window(ctx, node, e, k, s, pad)


# ------------------------------------------------------------------------------ merging
@register("Concatenate")
def _concat(ctx, node, inputs):
    axis = node.layer.axis
    if axis not in (-1, 3):
        _unsupported(node, f"axis={axis}; concatenate along channels (-1) only")
    return concat(list(inputs), node.id)


@register("Add")
def _add(ctx, node, inputs):
    return add(list(inputs), node.id)


@register("ZeroPadding2D")
def _zeropad(ctx, node, inputs):
    """Kept pending (the value is unchanged inside); the next convolution or pooling adds it to its own
    zero padding, which is exact (:func:`_pad`)."""
    (t, b), (l, r) = node.layer.padding
    e = inputs[0]
    out = Expr(e.parts, e.shape, e.node, e.flat, e.keras_flatten)
    out.pad = tuple(int(a + c) for a, c in zip(e.pad, (t, b, l, r)))
    return out


@register("Reshape")
def _reshape(ctx, node, inputs):
    """Only reshapes that keep the values in place: ``(C,) ↔ (1, 1, C)`` and flattening ``(H, W, C)``."""
    e = inputs[0]
    target = tuple(int(v) for v in node.layer.target_shape)
    c, h, w = e.shape
    if len(target) == 3 and target[:2] == (1, 1) and target[2] == c and (h, w) == (1, 1):
        return Expr(e.parts, e.shape, node.id, flat=False)
    if len(target) == 1 and target[0] in (-1, c * h * w):
        return _flatten(ctx, node, inputs)
    _unsupported(node, f"target_shape={target} from {(h, w, c)}: only (C,) ↔ (1, 1, C) and flattening keep "
                       "every value in place; use Flatten or GlobalAveragePooling2D")


@register("Rescaling")
def _rescaling(ctx, node, inputs):
    e = inputs[0]
    c = e.channels
    scale = np.broadcast_to(np.asarray(node.layer.scale, np.float32), (c,))
    offset = np.broadcast_to(np.asarray(node.layer.offset, np.float32), (c,))
    return affine(e, scale.copy(), offset.copy(), node.id)


@register("Normalization")
def _normalization(ctx, node, inputs):
    layer = node.layer
    if getattr(layer, "invert", False):
        _unsupported(node, "invert=True; use the forward normalization")
    e = inputs[0]
    c = e.channels
    mean = np.broadcast_to(np.asarray(layer.mean, np.float32).reshape(-1), (c,))
    var = np.broadcast_to(np.asarray(layer.variance, np.float32).reshape(-1), (c,))
    g = 1.0 / np.sqrt(np.maximum(var, 1e-7))
    return affine(e, g.astype(np.float32), (-mean * g).astype(np.float32), node.id)


@register("Flatten")
def _flatten(ctx, node, inputs):
    e = inputs[0]
    if e.flat or e.shape[1:] == (1, 1):
        return Expr(e.parts, e.shape, node.id, flat=True)
    out = Expr(e.parts, e.shape, node.id)
    out.keras_flatten = True
    return out


__all__ = ["CONVERTERS", "get_converter", "register"]
