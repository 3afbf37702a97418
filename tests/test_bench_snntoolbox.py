"""The snntoolbox side-by-side's network is what benchmarks/bench_snntoolbox.py claims (no peer venv needed)."""

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import bench_snntoolbox as bench  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return bench.build_model()


def _same_taps(size: int, k: int, s: int) -> np.ndarray:
    """Per output position along one axis, how many of the kernel's taps land inside the input ('same' padding,
    TensorFlow's rule: the smaller half of the padding before), counted one by one."""
    out = -(-size // s)
    pad = max((out - 1) * s + k - size, 0)
    return np.array([sum(0 <= o * s - pad // 2 + j < size for j in range(k)) for o in range(out)])


def test_the_net_has_the_relu_units_it_claims(model):
    h, w, units = bench.HEIGHT, bench.WIDTH, 0
    for filters, _, s in bench.CONVS:
        h, w = -(-h // s), -(-w // s)
        units += h * w * filters
    assert units == bench.RELU_UNITS == 44_544
    assert bench.relu_units(model) == bench.RELU_UNITS
    assert model.output_shape[1:] == (bench.HEIGHT // bench.OUT_STRIDE, bench.WIDTH // bench.OUT_STRIDE, bench.CLASSES)


def test_our_converter_makes_one_neuron_per_relu_unit_and_every_synapse(model):
    from itnet_neuro.convert import convert_model

    rng = np.random.default_rng(0)
    net = convert_model(model, calibration=rng.random((4, bench.HEIGHT, bench.WIDTH, 3), np.float32),
                        n_calibration=4, percentile=bench.PERCENTILE, per_channel=False, v_init=0.0).network
    assert net.n_neurons == bench.relu_units(model)
    assert [p.shape for p in net.populations] == [tuple(np.roll(layer.output_shape[1:], 1)) for layer in model.layers
                                                  if getattr(layer, "activation", None) is not None
                                                  and layer.activation.__name__ == "relu"]
    assert len(net.readouts) == 1  # the linear classifier: a readout, no neurons
    synapses, (h, w, c) = 0, (bench.HEIGHT, bench.WIDTH, 3)
    for filters, k, s in bench.CONVS:
        taps = np.outer(_same_taps(h, k, s), _same_taps(w, k, s))
        synapses += int(taps.sum()) * c * filters
        h, w, c = taps.shape + (filters,)
    assert net.n_synapses == synapses


def test_block_labels_take_each_blocks_majority_and_ignore_void():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, bench.VOID + 1, (2, 8, 12)).astype(np.uint8)
    labels[0, :4, :4] = bench.VOID  # a block with no labelled pixel stays void
    out = bench.block_labels(labels)
    for n, i, j in np.ndindex(out.shape):
        block = labels[n, 4 * i:4 * i + 4, 4 * j:4 * j + 4].ravel()
        counts = np.bincount(block[block != bench.VOID], minlength=bench.CLASSES)
        assert out[n, i, j] == (bench.VOID if counts.sum() == 0 else counts.argmax())
