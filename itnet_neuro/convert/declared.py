"""How many weights a Keras model config makes Keras allocate, computed before Keras sees it.

Keras builds every layer's variables from the config (``filters``, ``units``, ``kernel_size`` and the
input shape it infers) *before* it compares them with the weights stored in the file. A config that
declares ``Dense(units=10**9)`` is therefore a memory bomb even when the file is a few kilobytes. This
module infers the shapes of a functional config of the layers :mod:`~itnet_neuro.convert.safe_load`
admits, counts the parameters, and refuses the file when they exceed the byte limit of
:func:`itnet_neuro.untrusted.max_bytes_limit` (float32, 4 bytes each). Spatial sizes are rounded up,
so the count is an upper bound.
"""

from __future__ import annotations

import math

from itnet_neuro.errors import ModelFileError

#: Largest size of one axis a config may declare (pixels or channels).
MAX_DIM = 1 << 24
_SAME_SHAPE = ("ReLU", "Activation", "Dropout", "SpatialDropout2D", "GaussianDropout", "GaussianNoise",
               "Softmax", "ClipFloorShift", "itnet_neuro>ClipFloorShift", "Add", "Rescaling")


def _ints(layer: str, key: str, value, n: int) -> tuple[int, ...]:
    vals = tuple(value) if isinstance(value, (list, tuple)) else (value,) * n
    if len(vals) != n or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_DIM
                                 for v in vals):
        raise ModelFileError(f"layer {layer!r}: {key} must be {n} integer(s) in 1..{MAX_DIM}, got {value!r}")
    return vals


def _window(layer: str, conf: dict, hw, kernel_key: str, stride_key: str):
    k = _ints(layer, kernel_key, conf.get(kernel_key), 2)
    s = conf.get(stride_key)
    s = k if s is None else _ints(layer, stride_key, s, 2)
    d = _ints(layer, "dilation_rate", conf.get("dilation_rate", 1), 2)
    same = conf.get("padding", "valid") == "same"
    out = tuple(-(-h // st) if same else max((h - (kk - 1) * dd - 1) // st + 1, 1)
                for h, kk, st, dd in zip(hw, k, s, d))
    return out, k


def _layer(cls: str, name: str, conf: dict, ins: list[tuple[int, ...]]) -> tuple[tuple[int, ...], int]:
    """``(output shape without batch, parameters)`` of one call of a layer on ``ins``."""
    x = ins[0]
    c = x[-1]
    bias = 1 if conf.get("use_bias", True) else 0
    if cls in _SAME_SHAPE:
        return x, (1 if "ClipFloorShift" in cls else 0)
    if cls == "BatchNormalization":
        return x, 4 * c
    if cls == "Dense":
        (units,) = _ints(name, "units", conf.get("units"), 1)
        return x[:-1] + (units,), c * units + bias * units
    if cls == "Flatten":
        return (math.prod(x),), 0
    if cls == "Normalization":  # mean, variance and a count, per feature of the normalized axis
        return x, 2 * c + 1
    if cls == "Reshape":
        target = conf.get("target_shape")
        if not isinstance(target, (list, tuple)):
            raise ModelFileError(f"layer {name!r}: target_shape must be a list, got {target!r}")
        known = _ints(name, "target_shape", [v for v in target if v != -1], len([v for v in target if v != -1]))
        rest = max(math.prod(x) // max(math.prod(known), 1), 1)
        return tuple(rest if v == -1 else int(v) for v in target), 0
    if cls == "Concatenate":
        axis = conf.get("axis", -1)
        axis = axis % len(x) if isinstance(axis, int) and axis != 0 else len(x) - 1
        return x[:axis] + (sum(i[axis] for i in ins),) + x[axis + 1:], 0
    if len(x) != 3:
        raise ModelFileError(f"layer {name!r} ({cls}): needs an image input (H, W, C), gets {x}")
    hw = x[:2]
    if cls == "Conv2D":
        (f,) = _ints(name, "filters", conf.get("filters"), 1)
        (g,) = _ints(name, "groups", conf.get("groups", 1), 1)
        out, k = _window(name, conf, hw, "kernel_size", "strides")
        return out + (f,), k[0] * k[1] * (c // g) * f + bias * f
    if cls == "DepthwiseConv2D":
        (m,) = _ints(name, "depth_multiplier", conf.get("depth_multiplier", 1), 1)
        out, k = _window(name, conf, hw, "kernel_size", "strides")
        return out + (c * m,), k[0] * k[1] * c * m + bias * c * m
    if cls == "SeparableConv2D":
        (f,) = _ints(name, "filters", conf.get("filters"), 1)
        (m,) = _ints(name, "depth_multiplier", conf.get("depth_multiplier", 1), 1)
        out, k = _window(name, conf, hw, "kernel_size", "strides")
        return out + (f,), k[0] * k[1] * c * m + c * m * f + bias * f
    if cls == "ZeroPadding2D":
        pad = conf.get("padding", 1)
        pairs = [pad, pad] if isinstance(pad, int) else list(pad)
        flat = [v for p in pairs for v in (p if isinstance(p, (list, tuple)) else (p, p))]
        if len(flat) != 4 or not all(isinstance(v, int) and 0 <= v <= MAX_DIM for v in flat):
            raise ModelFileError(f"layer {name!r}: padding must be integers in 0..{MAX_DIM}, got {pad!r}")
        return (hw[0] + flat[0] + flat[1], hw[1] + flat[2] + flat[3], c), 0
    if cls in ("AveragePooling2D", "MaxPooling2D"):
        out, _ = _window(name, conf, hw, "pool_size", "strides")
        return out + (c,), 0
    if cls == "GlobalAveragePooling2D":
        return ((1, 1, c) if conf.get("keepdims") else (c,)), 0
    if cls == "UpSampling2D":
        s = _ints(name, "size", conf.get("size", 2), 2)
        return (hw[0] * s[0], hw[1] * s[1], c), 0
    if cls == "Resizing":
        return _ints(name, "height", conf.get("height"), 1) + _ints(name, "width", conf.get("width"), 1) + (c,), 0
    raise ModelFileError(f"layer {name!r}: class {cls!r} is not one the converter reads")


def _input_shape(name: str, conf: dict) -> tuple[int, ...]:
    shape = conf.get("batch_input_shape") or conf.get("batch_shape")
    if not isinstance(shape, (list, tuple)) or len(shape) < 2:
        raise ModelFileError(f"input {name!r}: no batch_input_shape in the model config")
    # an unknown size (None) cannot give a layer weights (Keras needs the channels); count it as 1
    return tuple(_ints(name, "batch_input_shape", [1 if v is None else v for v in shape[1:]], len(shape) - 1))


def declared_parameters(cfg: dict) -> int:
    """Parameters Keras would allocate building the functional model config ``cfg``.

    Raises
    ------
    ModelFileError
        The config is malformed (names the layer and key) or a size is out of range.
    """
    layers = (cfg.get("config") or {}).get("layers")
    if not isinstance(layers, list):
        raise ModelFileError("model_config has no layer list")
    shapes: dict[tuple[str, int], tuple[int, ...]] = {}
    counted: set[str] = set()
    total, pending = 0, list(layers)
    while pending:
        left, known = [], len(shapes)
        for layer in pending:
            total += _resolve(layer, shapes, counted, left)
        if len(shapes) == known:
            names = ", ".join(repr(str(lay.get("name"))) for lay in left[:3]) if all(
                isinstance(lay, dict) for lay in left[:3]) else "?"
            raise ModelFileError(f"model_config: layers {names} have inputs no layer produces")
        pending = left
    return total


def _resolve(layer, shapes, counted, left) -> int:
    """Infer every call of ``layer`` whose inputs are known; queue it in ``left`` otherwise."""
    if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
        raise ModelFileError("model_config: a layer entry is not an object with a config")
    cls, conf = str(layer.get("class_name")), layer["config"]
    name = str(layer.get("name", conf.get("name")))
    if cls == "InputLayer":
        shapes[(name, 0)] = _input_shape(name, conf)
        return 0
    nodes = layer.get("inbound_nodes")
    if not isinstance(nodes, list) or not nodes:
        raise ModelFileError(f"layer {name!r}: no inbound_nodes")
    params = 0
    for i, node in enumerate(nodes):
        if (name, i) in shapes:
            continue
        try:
            keys = [(str(t[0]), int(t[1])) for t in node]
        except (TypeError, ValueError, IndexError):
            raise ModelFileError(f"layer {name!r}: malformed inbound node {i}") from None
        if not keys or any(k not in shapes for k in keys):
            left.append(layer)
            return params
        shapes[(name, i)], p = _layer(cls, name, conf, [shapes[k] for k in keys])
        if name not in counted:  # a shared layer's weights are allocated once, at its first call
            counted.add(name)
            params += p
    return params
