"""Build the ItNet as a Keras 2 functional model (paper §2.1, Figures 1a and 2; DESIGN.md §4).

Layers used (nothing else, no ``Lambda``): InputLayer, Conv2D, DepthwiseConv2D, BatchNormalization,
ReLU or :class:`~itnet_neuro.model.layers.ClipFloorShift`, MaxPooling2D / AveragePooling2D,
Concatenate, Add, Resizing (bilinear), UpSampling2D (bilinear), Dropout. NHWC throughout.

Architecture (our reading of Figure 2; f = ``width``, f_r = f // 2, t = ``expansion``)
---------------------------------------------------------------------------------------
Data block (executed once)::

    image (H×W×3)
    down1: [Conv3×3/2 (3→f_r) → BN → R] ‖ Pool2×2/2(image)            → H/2 × W/2 × (f_r+3)
    down2: [Conv3×3/2 (f_r+3→f_r) → BN → R] ‖ Pool2×2/2(down1)        → H/4 × W/4 × (2f_r+3)
    s1:    Conv3×3/2 (2f_r+3→f) → BN → R                              → H/8  × f   (finest scale)
    s{l}:  Conv3×3/2 (f→f) of s{l-1} → BN → R, l = 2..L                → H/2^(l+2) × f

The ENet-style stages (conv ‖ pool, concatenated) carry BN+R on the conv branch only, so every BN
directly follows a conv (foldable) and the concatenation is non-negative. All sizes use 'same'
padding, i.e. ceil: 360 → 180 → 90 → 45 → 23 → 12.

Iterative block, iteration n = 1..N, per scale l (state x_l: f channels at scale l)::

    n = 1: y_l = data s{l} output (injection Ã, B̃, C̃ — the scale mixing is skipped)
    n > 1: y_l = x_l + Conv3×3(f→f)( R( Conv3×3(L·f→f)( concat_j Resize_l(x_j) ) ) )   # residual block
    K bottleneck residual blocks:  y = y + Conv1×1(t·f_r→f)( [Drop]( R( DW3×3( R( Conv1×1(f→t·f_r)(y) )))))
    x_l ← BN_{l,n}(y_l)           # state of iteration n: fed back, and (l = 1) to classifier n
    classifier n: UpSampling8×(bilinear)( Conv1×1(f→C)(x_1) )      # logits, no softmax

* The iterative block's convs carry a bias and no BatchNorm; the only BN is one per scale per
  iteration *between* iterations (§2.5, Figure 3a), never shared, even in shared mode. It sits
  directly after the last residual sum, so a converter folds it into per-iteration threshold/bias
  tables of the neurons holding the state while the conv weights stay shared.
* Classifier n reads the state *after* BN_{1,n}: the one tensor that is both fed back and forwarded
  (Figure 2b: "This output is both fed back ... and forwarded to the classification block").
* The residual stream (the state) is linear and signed (no activation after a residual sum, as in
  MobileNetV2's linear bottlenecks).
* Where f_r applies: the down-sampling stages' convs, and the bottleneck blocks' hidden width t·f_r
  (the expansion factor t = 6 applied to f_r). This reading lands the paper's MACs: 1.99 G for
  ``paper-camvid-independent`` (paper: 2.0 G, grid-search bound < 2.2 G) and 6.08 G for
  ``paper-camvid-shared`` (paper: 6.2 G); with hidden width t·f it would be 2.33 G / 7.05 G.
* At the last iteration only what output N needs exists: the mixing and bottleneck blocks of scale 1
  and ``it_bn_s1_nN`` (the coarse scales of iteration N would feed nothing).
* The classifier's 8× up-sampling needs H and W to be multiples of 8 (checked by ItNetConfig).

Layer names (deterministic; ``describe_blocks`` returns them by role)
---------------------------------------------------------------------
``image`` (input);
``data_down{s}_conv|bn|act|pool|concat`` (s = 1, 2); ``data_s{l}_conv|bn|act`` (l = 1..L, 1 finest);
iterative block, with suffix ``_n{n}`` only in independent mode (shared mode: one layer, N calls):
``it_mix_s{l}_resize{j}`` (resample scale j to scale l, j ≠ l), ``it_mix_s{l}_concat`` (L > 1),
``it_mix_s{l}_conv1|act|conv2|add``;
``it_brb{k}_s{l}_expand|expand_act|dw|dw_act|drop|project|add`` (k = 1..K; ``drop`` only with dropout);
never shared: ``it_bn_s{l}_n{n}``; classifiers ``cls_n{n}_conv``, ``cls_n{n}_up`` (model output n).
"""

from __future__ import annotations

from typing import Any

from itnet_neuro.model.config import OUTPUT_STRIDE, ItNetConfig


def _it(base: str, n: int, config: ItNetConfig) -> str:
    """Name of an iterative-block layer: one name for all n when shared, ``_n{n}`` otherwise."""
    return base if config.shared else f"{base}_n{n}"


def _scales_at(n: int, config: ItNetConfig) -> list[int]:
    """Scales (1-based) computed at iteration n: all, except only the finest at the last one."""
    return [1] if n == config.iterations else list(range(1, config.scales + 1))


def describe_blocks(config: ItNetConfig) -> dict[str, Any]:
    """Map the roles of the ItNet's blocks to the names of its Keras layers (pure Python, no TF).

    Returns
    -------
    dict
        JSON-serializable; lists indexed by scale hold ``scale - 1`` and are ``None`` where a scale is
        not computed (coarse scales of the last iteration)::

            {"input": "image", "shared": bool, "iterations": N, "scales": L, "bottleneck_blocks": K,
             "data": {"down": [{"conv","bn","act","pool","concat"} × 2],
                      "scales": [{"conv","bn","act"} × L]},          # "act" is injected at n = 1
             "iterative": [                                          # one entry per n = 1..N
                {"n": n, "scales": [l, ...],                         # scales computed at n
                 "inputs": [layer whose output is x_l entering iteration n, per scale],
                 "mix":  [None | {"resize": {j: name}, "concat": name|None, "conv1","act","conv2","add"}],
                 "brb":  [None | [{"expand","expand_act","dw","dw_act","drop"(None),"project","add"} × K]],
                 "bn":   [None | "it_bn_s{l}_n{n}"]}, ...],          # BN output = state x_l after n
             "classifier": [{"n", "conv", "up", "reads"} × N],       # "reads": the BN layer of scale 1
             "outputs": ["cls_n1_up", ...],                          # model.outputs in this order
             "shared_layers": [...],                                 # iterative layers called > once
             "conv_layers": {"data": [...], "iterative": [...], "classifier": [...]}}
    """
    L, K, N = config.scales, config.bottleneck_blocks, config.iterations
    data = {
        "down": [{r: f"data_down{s}_{r}" for r in ("conv", "bn", "act", "pool", "concat")} for s in (1, 2)],
        "scales": [{r: f"data_s{l}_{r}" for r in ("conv", "bn", "act")} for l in range(1, L + 1)],
    }
    iterative: list[dict[str, Any]] = []
    prev_state = [d["act"] for d in data["scales"]]
    calls: dict[str, int] = {}
    conv_it: list[str] = []

    def use(name: str, is_conv: bool = False) -> str:
        if name not in calls and is_conv:
            conv_it.append(name)
        calls[name] = calls.get(name, 0) + 1
        return name

    for n in range(1, N + 1):
        active = _scales_at(n, config)
        entry: dict[str, Any] = {"n": n, "scales": active, "inputs": list(prev_state),
                                 "mix": [None] * L, "brb": [None] * L, "bn": [None] * L}
        for l in active:
            if n > 1:
                mix = {
                    "resize": {j: use(_it(f"it_mix_s{l}_resize{j}", n, config))
                               for j in range(1, L + 1) if j != l},
                    "concat": use(_it(f"it_mix_s{l}_concat", n, config)) if L > 1 else None,
                    "conv1": use(_it(f"it_mix_s{l}_conv1", n, config), True),
                    "act": use(_it(f"it_mix_s{l}_act", n, config)),
                    "conv2": use(_it(f"it_mix_s{l}_conv2", n, config), True),
                    "add": use(_it(f"it_mix_s{l}_add", n, config)),
                }
                entry["mix"][l - 1] = mix
            blocks = []
            for k in range(1, K + 1):
                b = f"it_brb{k}_s{l}_"
                blocks.append({
                    "expand": use(_it(b + "expand", n, config), True),
                    "expand_act": use(_it(b + "expand_act", n, config)),
                    "dw": use(_it(b + "dw", n, config), True),
                    "dw_act": use(_it(b + "dw_act", n, config)),
                    "drop": use(_it(b + "drop", n, config)) if config.dropout > 0 else None,
                    "project": use(_it(b + "project", n, config), True),
                    "add": use(_it(b + "add", n, config)),
                })
            entry["brb"][l - 1] = blocks
            entry["bn"][l - 1] = f"it_bn_s{l}_n{n}"
        iterative.append(entry)
        prev_state = list(entry["bn"])
    classifier = [{"n": n, "conv": f"cls_n{n}_conv", "up": f"cls_n{n}_up", "reads": f"it_bn_s1_n{n}"}
                  for n in range(1, N + 1)]
    return {
        "input": "image",
        "shared": config.shared,
        "iterations": N,
        "scales": L,
        "bottleneck_blocks": K,
        "output_stride": OUTPUT_STRIDE,
        "data": data,
        "iterative": iterative,
        "classifier": classifier,
        "outputs": [c["up"] for c in classifier],
        "shared_layers": sorted(name for name, c in calls.items() if c > 1),
        "conv_layers": {
            "data": [d["conv"] for d in data["down"]] + [d["conv"] for d in data["scales"]],
            "iterative": conv_it,
            "classifier": [c["conv"] for c in classifier],
        },
    }


def build_itnet(config: ItNetConfig, *, chip_layers: bool = True):
    """Build the ItNet of ``config`` as an (uncompiled) ``tf.keras.Model`` with N outputs.

    Output n (``cls_n{n}_up``) holds logits of shape (batch, H, W, C). Layer names follow the module
    docstring. Seeds TensorFlow's global RNG with ``config.seed`` so the initial weights are
    reproducible. Convolutions take ``config.groups_of(name)`` groups; with ``config.chip`` set and
    ``chip_layers`` they quantize their weights to the chip's grid in the forward pass
    (:mod:`itnet_neuro.model.chiplayers`; ``chip_layers=False`` gives the stock layers a file stores).
    """
    from itnet_neuro.model.layers import ClipFloorShift
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    kl = tf.keras.layers
    tf.keras.utils.set_random_seed(config.seed)
    names = describe_blocks(config)
    reg = tf.keras.regularizers.l2(config.l2) if config.l2 > 0 else None
    f, fr, t = config.width, config.reduced_width, config.expansion
    Pool = kl.MaxPooling2D if config.pooling == "max" else kl.AveragePooling2D
    Conv, Depthwise, extra = kl.Conv2D, kl.DepthwiseConv2D, {}
    if config.chip is not None and chip_layers:
        from itnet_neuro.model.chiplayers import ChipConv2D, ChipDepthwiseConv2D

        Conv, Depthwise, extra = ChipConv2D, ChipDepthwiseConv2D, {"chip": config.chip}
    cache: dict[str, Any] = {}

    def get(name: str, factory):
        """The layer called ``name``: created on first use, reused after (this is weight sharing)."""
        if name not in cache:
            cache[name] = factory(name)
        return cache[name]

    def act(name: str):
        if config.activation == "clip_floor_shift":
            return get(name, lambda nm: ClipFloorShift(levels=config.levels, name=nm))
        return get(name, lambda nm: kl.ReLU(name=nm))

    def conv(name, filters, kernel, strides=1, use_bias=True):
        return get(name, lambda nm: Conv(filters, kernel, strides=strides, padding="same", use_bias=use_bias,
                                         groups=config.groups_of(nm), kernel_regularizer=reg, name=nm, **extra))

    image = kl.Input((config.input_height, config.input_width, config.input_channels), name=names["input"])

    # ---- data block (Figure 2a): BN after every conv here
    h = image
    for d in names["data"]["down"]:
        c = conv(d["conv"], fr, 3, strides=2, use_bias=False)(h)
        c = kl.BatchNormalization(name=d["bn"])(c)
        c = act(d["act"])(c)
        p = Pool(pool_size=2, strides=2, padding="same", name=d["pool"])(h)
        h = kl.Concatenate(name=d["concat"])([c, p])
    states = []
    for d in names["data"]["scales"]:
        h = conv(d["conv"], f, 3, strides=2, use_bias=False)(h)
        h = kl.BatchNormalization(name=d["bn"])(h)
        h = act(d["act"])(h)
        states.append(h)

    # ---- iterative block (Figure 2b) and classification blocks
    sizes = config.scale_sizes()
    outputs = []
    for it, cls in zip(names["iterative"], names["classifier"]):
        new_states = [None] * config.scales
        for l in it["scales"]:
            y = states[l - 1]
            mix = it["mix"][l - 1]
            if mix is not None:
                hl, wl = sizes[l - 1]
                parts = []
                for j in range(1, config.scales + 1):
                    if j == l:
                        parts.append(states[j - 1])
                    else:
                        rs = get(mix["resize"][j], lambda nm: kl.Resizing(hl, wl, interpolation="bilinear",
                                                                          name=nm))
                        parts.append(rs(states[j - 1]))
                z = get(mix["concat"], lambda nm: kl.Concatenate(name=nm))(parts) if len(parts) > 1 else parts[0]
                z = conv(mix["conv1"], f, 3)(z)
                z = act(mix["act"])(z)
                z = conv(mix["conv2"], f, 3)(z)
                y = get(mix["add"], lambda nm: kl.Add(name=nm))([y, z])
            for b in it["brb"][l - 1]:
                z = conv(b["expand"], t * fr, 1)(y)
                z = act(b["expand_act"])(z)
                z = get(b["dw"], lambda nm: Depthwise(3, padding="same", use_bias=True,
                                                      depthwise_regularizer=reg, name=nm, **extra))(z)
                z = act(b["dw_act"])(z)
                if b["drop"] is not None:
                    z = get(b["drop"], lambda nm: kl.Dropout(config.dropout, name=nm))(z)
                z = conv(b["project"], f, 1)(z)
                y = get(b["add"], lambda nm: kl.Add(name=nm))([y, z])
            new_states[l - 1] = kl.BatchNormalization(name=it["bn"][l - 1])(y)
        states = new_states
        # the classifier is the readout, decoded off the chip: float weights, no chip grid
        logits = get(cls["conv"], lambda nm: kl.Conv2D(config.num_classes, 1, padding="same", kernel_regularizer=reg,
                                                       name=nm))(states[0])
        outputs.append(kl.UpSampling2D(size=OUTPUT_STRIDE, interpolation="bilinear", name=cls["up"])(logits))
    return tf.keras.Model(image, outputs, name="itnet")


__all__ = ["build_itnet", "describe_blocks"]
