"""Keras side of chip-aware training: convolutions whose forward pass uses the chip's weight grid.

The grids are documented in :mod:`itnet_neuro.model.chipaware`. Each quantizer returns
``w + stop_gradient(q(w) − w)``: the forward pass sees ``q(w)``, the gradient reaches the latent
float weights unchanged (straight-through estimator). A model trained with these layers is saved
as a plain Keras model holding ``q(w)`` (:func:`plain_model`), so the converter and the safe loader
see stock ``Conv2D`` / ``DepthwiseConv2D`` layers only.
"""

from __future__ import annotations

from itnet_neuro.utils import import_tf

tf = import_tf()

__all__ = ["ternary_by_input", "ternary", "uniform", "quantizer_for", "ChipConv2D", "ChipDepthwiseConv2D",
           "plain_model", "TERNARY_DELTA"]

#: Ternary threshold as a fraction of the mean magnitude (Li & Liu 2016, Ternary Weight Networks).
TERNARY_DELTA = 0.7


def _mean_where(x, mask, axis):
    m = tf.cast(mask, x.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(x * m, axis=axis), tf.reduce_sum(m, axis=axis))


def ternary_by_input(w, groups: int = 1):
    """``w`` (kh, kw, C_in/G, C_out) on TrueNorth's grid: ``{0, σ_c α_o^{σ_c}}`` (see chipaware)."""
    kh, kw, pi, co = (int(s) for s in w.shape)
    po = co // groups
    g = tf.reshape(w, (kh, kw, pi, groups, po))
    sigma = tf.sign(tf.reduce_sum(g, axis=(0, 1, 4), keepdims=True))  # one sign per real input channel
    sigma = tf.where(sigma == 0, tf.ones_like(sigma), sigma)
    sigma = tf.reshape(tf.broadcast_to(sigma, g.shape), w.shape)
    a = tf.abs(w)
    delta = TERNARY_DELTA * tf.reduce_mean(a, axis=(0, 1, 2), keepdims=True)
    keep = (sigma * w) > delta
    pos = _mean_where(a, keep & (sigma > 0), (0, 1, 2))
    neg = _mean_where(a, keep & (sigma < 0), (0, 1, 2))
    q = tf.where(keep, tf.where(sigma > 0, pos, -neg), tf.zeros_like(w))
    return w + tf.stop_gradient(q - w)


def ternary(w):
    """Depthwise ``w`` (kh, kw, C, m): ``{0, ±α_c}`` per output channel (both signs)."""
    a = tf.abs(w)
    delta = TERNARY_DELTA * tf.reduce_mean(a, axis=(0, 1), keepdims=True)
    keep = a > delta
    alpha = _mean_where(a, keep, (0, 1))
    q = tf.where(keep, tf.sign(w) * alpha, tf.zeros_like(w))
    return w + tf.stop_gradient(q - w)


def uniform(w, max_int: int):
    """Symmetric grid ``{−M … M} · s`` with one scale ``s = max|w| / M`` per layer."""
    s = tf.reduce_max(tf.abs(w)) / float(max_int)
    s = tf.where(s > 0, s, tf.ones_like(s))
    q = tf.clip_by_value(tf.round(w / s), -float(max_int), float(max_int)) * s
    return w + tf.stop_gradient(q - w)


def quantizer_for(chip, depthwise: bool, groups: int = 1):
    """The forward-pass weight grid of ``chip`` as ``fn(kernel) -> kernel`` (None: float)."""
    from hardware_models.spec import load_chip

    ws = load_chip(chip).weights
    if ws.sign == "float" or ws.bits is None:
        return None
    if ws.sign == "axon-types":
        return ternary if depthwise else (lambda w: ternary_by_input(w, groups))
    m = ws.max_int_for(mixed_sign=True)
    return lambda w: uniform(w, m)


@tf.keras.utils.register_keras_serializable(package="itnet_neuro")
class ChipConv2D(tf.keras.layers.Conv2D):
    """``Conv2D`` whose forward pass uses ``chip``'s weight grid (training only; saved plain)."""

    def __init__(self, *args, chip: str = "ideal", **kwargs):
        super().__init__(*args, **kwargs)
        self.chip = chip
        self._q = quantizer_for(chip, False, self.groups)

    def chip_kernel(self):
        return self.kernel if self._q is None else self._q(self.kernel)

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel if self._q is None else self._q(kernel))

    def get_config(self):
        return {**super().get_config(), "chip": self.chip}


@tf.keras.utils.register_keras_serializable(package="itnet_neuro")
class ChipDepthwiseConv2D(tf.keras.layers.DepthwiseConv2D):
    """``DepthwiseConv2D`` whose forward pass uses ``chip``'s weight grid."""

    def __init__(self, *args, chip: str = "ideal", **kwargs):
        super().__init__(*args, **kwargs)
        self.chip = chip
        self._q = quantizer_for(chip, True)

    def chip_kernel(self):
        return self.depthwise_kernel if self._q is None else self._q(self.depthwise_kernel)

    def call(self, inputs):
        out = tf.keras.backend.depthwise_conv2d(inputs, self.chip_kernel(), strides=self.strides,
                                                padding=self.padding, dilation_rate=self.dilation_rate,
                                                data_format=self.data_format)
        return tf.keras.backend.bias_add(out, self.bias, data_format=self.data_format) if self.use_bias else out

    def get_config(self):
        return {**super().get_config(), "chip": self.chip}


def plain_model(model, config):
    """The same ItNet with stock layers holding the quantized weights (what the file stores)."""
    from itnet_neuro.model.build import build_itnet

    plain = build_itnet(config, chip_layers=False)
    for layer in model.layers:
        weights = layer.get_weights()
        if isinstance(layer, (ChipConv2D, ChipDepthwiseConv2D)) and weights:
            weights[0] = layer.chip_kernel().numpy()
        if weights:
            plain.get_layer(layer.name).set_weights(weights)
    return plain
