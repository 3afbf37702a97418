"""The ``fast`` simulator's reused chunk buffers (:mod:`itnet_neuro.sim.kernels.buffers`, issue 17).

References: the tick-by-tick reference loop, spike for spike, with every array of a run taken from the pool
(small limits force buffers to be dropped and taken again); and the pool's own promises, checked by the memory
addresses it hands out: a buffer an array still views is never handed out again, a free one is.
"""

import threading

import numpy as np
import pytest

from itnet_neuro.sim.core import simulate
from itnet_neuro.sim.kernels import buffers
from itnet_neuro.sim.testnets import dyadic_input, random_convnet

MB = 1 << 20


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def test_this_interpreter_counts_views_and_pools():
    assert buffers.counts_views()
    with buffers.pooled(MB) as pool:
        assert pool is not None


def test_a_viewed_buffer_is_never_handed_out_again():
    with buffers.pooled(64 * MB) as pool:
        a = buffers.aligned_empty((MB,), np.float32)
        view = a[10:20]
        del a
        b = buffers.aligned_empty((MB,), np.float32)
        assert not (_address(b) <= _address(view) < _address(b) + b.nbytes)
        assert len(pool.bufs) == 2


def test_a_free_buffer_is_taken_again_aligned():
    with buffers.pooled(64 * MB):
        a = buffers.aligned_empty((3, MB), np.float32)
        where = _address(a)
        del a
        b = buffers.aligned_empty((3, MB), np.float32)  # the same buffer
        c = buffers.aligned_empty((MB,), np.uint8)  # too small for it: a buffer of its own
        assert _address(b) == where and _address(c) != where
        assert all(_address(x) % 64 == 0 for x in (b, c))


def test_a_buffer_held_by_tensorflow_is_not_taken():
    tf = pytest.importorskip("tensorflow")
    with buffers.pooled(64 * MB):
        a = buffers.aligned_empty((2, 512, 512, 1), np.float32)
        a.fill(1)
        t = tf.convert_to_tensor(a)
        del a
        b = buffers.aligned_empty((2, 512, 512, 1), np.float32)
        b.fill(2)
        assert float(tf.reduce_max(t)) == 1.0


def test_the_pool_keeps_no_more_than_its_limit():
    with buffers.pooled(5 * MB) as pool:
        for k in range(1, 8):
            buffers.aligned_empty((k * MB // 2,), np.uint8)  # freed at once
            assert sum(b.size for b in pool.bufs[:-1]) <= 5 * MB
        kept = [buffers.aligned_empty((2 * MB,), np.uint8) for _ in range(4)]  # in use: forgotten, not freed
        assert sum(b.size for b in pool.bufs[:-1]) <= 5 * MB
        assert all(k.base.size >= 2 * MB for k in kept)


def test_the_pool_is_the_threads_own_and_ends_with_its_block():
    seen = {}

    def other():
        seen["pool"] = getattr(buffers._local, "pool", None)

    with buffers.pooled(8 * MB) as pool:
        assert pool is not None
        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert seen["pool"] is None and getattr(buffers._local, "pool", None) is None
    with buffers.pooled(0) as none:
        assert none is None


@pytest.mark.parametrize("limit", [0.2, 64])
@pytest.mark.parametrize("kernels", ["numpy", "tensorflow"])
def test_runs_from_reused_buffers_equal_the_reference(kernels, limit, monkeypatch):
    """Every array of a run taken from the pool, 2 workers, 3 chunks: the reference loop's spikes."""
    from itnet_neuro.sim import fast

    monkeypatch.setattr(buffers, "MIN_POOLED_BYTES", 0)
    monkeypatch.setattr(fast, "POOL_BYTES", int(limit * MB))
    net = random_convnet(2, iterations=3)
    x = dyadic_input((3,) + net.input.shape, seed=5)
    ref = simulate(net, x, 21, backend="reference", record=True)
    got = simulate(net, x, 21, backend="fast", record=True, kernels=kernels, chunk_ticks=7, workers=2)
    assert got.info["workers"] == 2
    for name, tr in ref.trains.items():
        assert int((got.trains[name] != tr).sum()) == 0, name
    assert sum(ref.spikes_per_population.values()) > 100
