"""Named memory formulas that chip specs refer to by name (STYLE.md §2).

A chip TOML says e.g. ``kernel_memory_formula = "dynapcnn_kernel_memory"``; the loader checks the
name is registered for that field in :data:`FORMULA_ROLES`, and mapping code calls
:func:`get_formula`. Each function is pure integer arithmetic and documents where its rule comes from.

Signatures by role:

- ``synapse_memory_formula``: ``f(n_weights, weight_bits) -> int`` for one input axon (row) of a core;
  the name ends in ``_bits`` or ``_bytes`` to give the unit;
- ``kernel_memory_formula``: ``f(c_in, c_out, kernel_h, kernel_w) -> words``;
- ``neuron_memory_formula``: ``f(c_out, out_h, out_w) -> words``.
"""

from __future__ import annotations

import math
from typing import Callable

__all__ = ["FORMULAS", "get_formula", "dynapcnn_kernel_memory", "dynapcnn_neuron_memory",
           "dynapcnn_bias_memory", "loihi_synapse_memory_bits",
           "spinnaker_synapse_row_bytes", "FORMULA_ROLES"]


def _ceil_log2(n: int) -> int:
    """⌈log2 n⌉ for a positive integer, exactly (no floating point)."""
    if n < 1:
        raise ValueError(f"ceil_log2 needs a positive integer, got {n}")
    return (n - 1).bit_length()


def dynapcnn_kernel_memory(c_in: int, c_out: int, kernel_h: int, kernel_w: int) -> int:
    """Kernel (weight) memory words one DYNAP-CNN core needs for a conv layer.

    .. math:: K = c_{in} \\cdot 2^{\\lceil \\log_2(k_h k_w) \\rceil + \\lceil \\log_2 c_{out} \\rceil}

    Source: sinabs ``DynapcnnLayer.memory_summary`` (synsense/sinabs,
    ``sinabs/backend/dynapcnn/dynapcnn_layer.py``), which documents this rule as
    ``K_MT = c · 2^(⌈log2(kx·ky)⌉ + ⌈log2 f⌉)`` with ``c`` input and ``f`` output channels.

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels of the layer (≥ 1).
    kernel_h, kernel_w : int
        Kernel height and width (≥ 1).

    Returns
    -------
    int
        Memory words (one word per stored weight slot, including the power-of-two padding).
    """
    return c_in * 2 ** (_ceil_log2(kernel_h * kernel_w) + _ceil_log2(c_out))


def dynapcnn_neuron_memory(c_out: int, out_h: int, out_w: int) -> int:
    """Neuron (membrane state) memory words one DYNAP-CNN core needs for a conv layer's output.

    .. math:: N = c_{out} \\cdot 2^{\\lceil \\log_2 h_{out} \\rceil + \\lceil \\log_2 w_{out} \\rceil}

    ``h_out × w_out`` is the feature map *before* the layer's sum pooling (the neurons sit between
    the convolution and the pooling). Source: sinabs ``DynapcnnLayer.memory_summary``
    (synsense/sinabs, ``sinabs/backend/dynapcnn/dynapcnn_layer.py``).

    Parameters
    ----------
    c_out : int
        Output channels (≥ 1).
    out_h, out_w : int
        Output feature-map height and width of the convolution (≥ 1).

    Returns
    -------
    int
        Memory words.
    """
    return c_out * 2 ** (_ceil_log2(out_h) + _ceil_log2(out_w))


def dynapcnn_bias_memory(c_out: int, has_bias: bool = True) -> int:
    """Bias memory words of a DYNAP-CNN layer: one per output channel when the layer has a bias.

    Source: sinabs ``DynapcnnLayer.memory_summary`` (``"bias": len(conv.bias)`` or 0).
    """
    return c_out if has_bias else 0


def loihi_synapse_memory_bits(n_weights: int, weight_bits: int, index_bits: int = 0,
                              delay_bits: int = 0, tag_bits: int = 0, synapses_per_group: int = 64) -> int:
    """Synapse-memory bits one Loihi input axon with ``n_weights`` synapses occupies.

    Weights are stored in groups of up to ``synapses_per_group``; each group carries a 4-bit format
    index and a 6-bit synapse count and is rounded up to whole 64-bit memory words:

    .. math:: B = \\sum_{g} 64 \\left\\lceil \\frac{n_g (b_w + b_i + b_d + b_t) + 4 + 6}{64} \\right\\rceil

    Source: nengo-loihi ``SynapseConfig.bits_per_axon`` (nengo/nengo-loihi,
    ``nengo_loihi/block.py``), whose core limit is ``MAX_SYNAPSE_BITS = 16384·64`` bits (128 KiB).
    ``index_bits`` is 0 for dense (compressed) weights and 6–12 for sparse ones there.

    Parameters
    ----------
    n_weights : int
        Synapses fanning out of this input axon within the core (≥ 0).
    weight_bits, index_bits, delay_bits, tag_bits : int
        Bits stored per synapse for the weight, the target index, the delay and the learning tag.
    synapses_per_group : int
        Synapses per memory group (nengo-loihi uses 64: ``n_synapses = 63`` plus one).

    Returns
    -------
    int
        Bits, a multiple of 64.
    """
    bits_per_weight = weight_bits + index_bits + delay_bits + tag_bits
    total = 0
    for start in range(0, n_weights, synapses_per_group):
        n = min(n_weights - start, synapses_per_group)
        total += 64 * math.ceil((n * bits_per_weight + 4 + 6) / 64)
    return total


def spinnaker_synapse_row_bytes(n_weights: int, weight_bits: int = 16) -> int:
    """SDRAM bytes of one static sPyNNaker synaptic row (one presynaptic neuron into one core).

    A row holds a 3-word header plus one 32-bit synaptic word per synapse (16-bit weight, delay,
    synapse type and target neuron index); the word size does not depend on ``weight_bits``:

    .. math:: B = 4 \\, (3 + n)

    Source: sPyNNaker ``neural_modelling`` synapse row format (``N_SYNAPSE_ROW_HEADER_WORDS 3``;
    rows are read as ``(row_length + N_SYNAPSE_ROW_HEADER_WORDS) * sizeof(uint32_t)`` bytes, at most
    255 synaptic words per row).

    Parameters
    ----------
    n_weights : int
        Synapses in the row (targets on this core, ≥ 0).
    weight_bits : int
        Accepted for the common synapse-formula signature; the synaptic word is 32 bits regardless.

    Returns
    -------
    int
        Bytes.
    """
    return 4 * (3 + n_weights)


#: Formula name (as written in a chip TOML) → function.
FORMULAS: dict[str, Callable[..., int]] = {
    "dynapcnn_kernel_memory": dynapcnn_kernel_memory,
    "dynapcnn_neuron_memory": dynapcnn_neuron_memory,
    "dynapcnn_bias_memory": dynapcnn_bias_memory,
    "loihi_synapse_memory_bits": loihi_synapse_memory_bits,
    "spinnaker_synapse_row_bytes": spinnaker_synapse_row_bytes,
}

#: Which formulas may fill which spec field. Synapse-memory formulas share one signature,
#: ``f(n_weights, weight_bits) -> int`` for one input axon (row) of a core, and their name ends in
#: ``_bits`` or ``_bytes`` to give the unit; kernel formulas take ``(c_in, c_out, kernel_h, kernel_w)``
#: and neuron formulas ``(c_out, out_h, out_w)``, both in memory words.
FORMULA_ROLES: dict[str, frozenset[str]] = {
    "synapse_memory_formula": frozenset({"loihi_synapse_memory_bits", "spinnaker_synapse_row_bytes"}),
    "kernel_memory_formula": frozenset({"dynapcnn_kernel_memory"}),
    "neuron_memory_formula": frozenset({"dynapcnn_neuron_memory"}),
}


def get_formula(name: str) -> Callable[..., int]:
    """The formula registered as ``name``; an unknown name lists the valid ones."""
    try:
        return FORMULAS[name]
    except KeyError:
        raise KeyError(f"unknown memory formula {name!r}: valid names are {', '.join(sorted(FORMULAS))}") from None
