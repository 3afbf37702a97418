"""Custom Keras layers of the ItNet, and ``CUSTOM_OBJECTS`` to load a saved model without user code.

Only one custom layer exists: :class:`ClipFloorShift`, the quantization-clip-floor-shift activation of
Bu et al. (2022, ICLR, "Optimal ANN-SNN conversion for high-accuracy and ultra-low-latency SNNs").
Every other layer of an ItNet is a stock ``tf.keras`` layer (DESIGN.md §4; no ``Lambda``).
"""

from __future__ import annotations

from itnet_neuro.utils import import_tf

tf = import_tf()


@tf.keras.utils.register_keras_serializable(package="itnet_neuro")
class ClipFloorShift(tf.keras.layers.Layer):
    r"""Quantized clip-floor-shift activation with a trainable threshold (Bu et al. 2022).

    .. math:: y = \lambda \cdot \mathrm{clip}\left(\frac{1}{L}\left\lfloor \frac{x L}{\lambda} + \frac12
              \right\rfloor, 0, 1\right)

    with L = ``levels`` quantization levels and one trainable threshold λ per layer (a scalar, so
    the converter can map it to one firing threshold θ = λ). The floor has a straight-through
    gradient (d floor(z)/dz := 1), as in the paper. Output range: [0, λ] in steps of λ/L.

    Conversion: an integrate-and-fire neuron with reset by subtraction, threshold θ = λ and initial
    membrane potential θ/2 reproduces this activation exactly after L time steps on average.

    Parameters
    ----------
    levels : int
        L ≥ 1, number of quantization steps.
    initial_threshold : float
        Initial λ > 0.
    """

    def __init__(self, levels: int = 8, initial_threshold: float = 4.0, **kwargs):
        super().__init__(**kwargs)
        self.levels = int(levels)
        self.initial_threshold = float(initial_threshold)

    def build(self, input_shape):
        self.threshold = self.add_weight(
            name="threshold", shape=(), dtype=self.dtype, trainable=True,
            initializer=tf.keras.initializers.Constant(self.initial_threshold))
        super().build(input_shape)

    def call(self, inputs):
        lam = tf.cast(self.threshold, inputs.dtype)
        levels = tf.cast(self.levels, inputs.dtype)
        z = inputs * levels / lam + 0.5
        z = z + tf.stop_gradient(tf.floor(z) - z)  # straight-through floor
        return lam * tf.clip_by_value(z / levels, 0.0, 1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(levels=self.levels, initial_threshold=self.initial_threshold)
        return config


#: Every custom layer by the class name Keras stores in the model file.
CUSTOM_OBJECTS: dict[str, type] = {
    "ClipFloorShift": ClipFloorShift,
    "itnet_neuro>ClipFloorShift": ClipFloorShift,
}

__all__ = ["ClipFloorShift", "CUSTOM_OBJECTS"]
