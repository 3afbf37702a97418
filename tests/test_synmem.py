"""Loihi's synapse encodings (mapping.synmem) against figures derived by hand from the sources
(nengo-loihi's ``SynapseConfig.bits_per_axon``, ``conv2d_loihi_weights`` and ``build_synapse``, as
written down in hardware_models/chips/loihi.toml), and the lower bound against brute force."""

from __future__ import annotations

import dataclasses

import numpy as np

from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm, same_padding
from mapping import synmem
from mapping.chip import INF, limits_of
from mapping.schedule import build_view


def _loihi():
    from hardware_models.spec import load_chip

    return limits_of(load_chip("loihi"))


def _net(c_in, hw, conns_post):
    """Input ``(c_in, *hw)`` → one population fed by ``conns_post = (shape, [Connection …])``."""
    shape, conns = conns_post
    thr = np.ones((1, shape[0]))
    pop = Population("p", shape, threshold=thr, bias=np.zeros((1, shape[0])), decode_scale=thr)
    return Network("t", InputSpec("x", (c_in,) + hw), (pop,), tuple(conns),
                   (Readout("r", 0, (ReadoutTerm("p", np.ones((1, shape[0]))),), np.zeros(1)),))


def test_the_spec_carries_nengo_loihis_figures():
    lim = _loihi()
    assert (lim.group_size, lim.group_header_bits, lim.word_bits) == (64, 10, 64)
    assert lim.index_bits == (6, 7, 8, 9, 10, 11, 12) and lim.max_compartment_base == 256
    assert lim.shared_lists and lim.population_axons and lim.stored_weight_bits == 8


def test_list_bits_by_hand():
    """Groups of 64 synapses, a 10-bit header each, rounded up to 64-bit words."""
    lim = _loihi()
    assert synmem.list_bits(1, 8, lim) == 64                 # 8 + 10 bits: one word
    assert synmem.list_bits(64, 18, lim) == 19 * 64          # 64·18 + 10 = 1162 bits: 19 words
    assert synmem.list_bits(65, 8, lim) == 9 * 64 + 64       # 522 bits (9 words) + a group of one
    assert synmem.list_bits(0, 8, lim) == 0
    # A 1024-neuron core with a 256-compartment base: indices up to 1023 need the 10-bit width.
    assert synmem.index_bits(lim) == 10
    assert synmem.index_bits(dataclasses.replace(lim, max_neurons=40)) == 6


def test_full_group_costing_is_subadditive_where_list_bits_are_not():
    """One axon's synapses of two connections form one list. ``bits`` itself is not subadditive
    (b = 1: two lists of 54 take 128 bits, one of 108 takes 192), so those are costed with every
    group at its full size, which is (module docstring of mapping.synmem)."""
    lim = _loihi()
    assert synmem.list_bits(108, 1, lim) > 2 * synmem.list_bits(54, 1, lim)
    n = np.arange(0, 300)
    for b in (1, 8, 18):
        f = synmem.full_group_bits(n, b, lim)
        assert (f >= synmem.list_bits(n, b, lim)).all()
        assert (f[:, None] + f[None, :] >= synmem.list_bits(n[:, None] + n[None, :], b, lim)).all()


def test_edge_patterns_of_a_same_padded_3x3_row():
    """5 rows, kernel 3, stride 1, padding 1: row 0 meets taps {0, 1}, rows 1-3 all three, row 4
    taps {1, 2}; the first targets of the full pattern are rows 0..2."""
    assert synmem.axis_classes(5, 3, 1, 1, 0, 5) == ((2, 1, 1, 0, 0), (2, 1, 1, 3, 3), (3, 2, 3, 0, 2))
    # stride 2, kernel 3, padding 0, 7 inputs → 3 outputs (rows 2r..2r+2): row 0 meets tap {0}, rows
    # 1, 3, 5 tap {1} (outputs 0, 1, 2), rows 2 and 4 taps {0, 2} (two outputs), row 6 tap {2}.
    assert synmem.axis_classes(7, 3, 2, 0, 0, 3) == ((1, 0, 1, 0, 0), (1, 0, 3, 0, 2), (1, 0, 1, 2, 2),
                                                     (2, 1, 2, 0, 1))


def _conv_tile_bits(shared: bool):
    lim = dataclasses.replace(_loihi(), shared_lists=shared)
    pad = same_padding(5, 3, 1) * 2
    conn = Connection("xp", "x", "p", "conv2d", np.ones((4, 2, 3, 3)), padding=pad)
    view = build_view(_net(2, (5, 5), ((4, 5, 5), [conn])), "unrolled", lim)
    return synmem.tile_bytes(view.groups("p"), lim, *(np.array([v]) for v in (0, 4, 0, 5, 0, 5)))[0] * 8


def test_a_convolution_shares_one_list_per_edge_pattern_and_channel():
    """3×3 conv, 2 → 4 channels on 5×5, one tile of all 100 neurons. Per input channel, 3 row × 3
    column patterns; a list holds 4 × taps synapses of 8 + 10 bits: 36 → 704 bits, 24 → 448, 16 → 320.
    Bases of the full × full pattern span 2·5·4 + 2·4 = 48 compartments: 2 copies (the tile may
    straddle a 256-compartment window); full × edge spans 40, edge × full 8: 2 copies; edge × edge:
    one axon each, 1 copy. Per channel 2·704 + 2·2·448 + 2·2·448 + 4·320 = 6272 bits; two channels."""
    assert _conv_tile_bits(shared=True) == 2 * 6272


def test_without_sharing_every_axon_has_its_own_list():
    """The same tile, one list per presynaptic neuron: per channel 9 axons of 36 synapses (704 bits),
    12 of 24 (448), 4 of 16 (320): 6336 + 5376 + 1280 = 12992 bits."""
    assert _conv_tile_bits(shared=False) == 2 * 12992


def test_dense_lists_carry_no_index():
    """Dense 3 → 5: three axons of five 8-bit synapses, 50 bits → one 64-bit word each."""
    lim = _loihi()
    conn = Connection("xp", "x", "p", "dense", np.ones((5, 3)))
    view = build_view(_net(3, (1, 1), ((5, 1, 1), [conn])), "unrolled", lim)
    assert synmem.tile_bytes(view.groups("p"), lim, *(np.array([v]) for v in (0, 5, 0, 1, 0, 1)))[0] == 3 * 64 // 8


def test_population_axons_and_shared_lists_lower_the_bound_to_the_optimum():
    """A 3×3 conv from 2 channels of 2×2: per neuron 8 input axons, per pixel 4; on 4-axon cores the
    brute-force optimum (population axons) is 1 core, and the bound must not say 2. A 1×1 conv over
    six pixels shares one 1-synapse list; with 8 bytes of synapse memory the optimum is 1 core."""
    from mapping.bound import lower_bound
    from tests.test_bound import optimum

    lim = dataclasses.replace(_loihi(), max_neurons=4, max_axons=4, synapse_memory_bytes=INF, max_output_axons=INF)
    pad = same_padding(2, 3, 1) * 2
    net = _net(2, (2, 2), ((1, 2, 2), [Connection("xp", "x", "p", "conv2d", np.ones((1, 2, 3, 3)), padding=pad)]))
    assert optimum(net, lim) == 1
    assert lower_bound(build_view(net, "unrolled", lim), lim)[0] == 1
    lim = dataclasses.replace(_loihi(), max_neurons=6, max_axons=INF, synapse_memory_bytes=8, max_output_axons=INF)
    net = _net(1, (1, 6), ((1, 1, 6), [Connection("xp", "x", "p", "conv2d", np.ones((1, 1, 1, 1)))]))
    assert optimum(net, lim) == 1
    assert lower_bound(build_view(net, "unrolled", lim), lim)[0] == 1
