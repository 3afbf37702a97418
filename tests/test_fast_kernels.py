"""The ``fast`` simulator's two kernel sets and its batching (issue 17).

References: the numpy reference kernels (:mod:`itnet_neuro.sim.kernels.numpy_ops`) op by op; the
tick-by-tick reference loop spike for spike; a batch against the same images run one at a time.
"""

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm
from itnet_neuro.ir.examples import tiny_iterative_network
from itnet_neuro.ir.ops import resize_matrix, to_sparse
from itnet_neuro.sim.core import simulate
from itnet_neuro.sim.testnets import chip_neuron_convnet, dyadic, dyadic_input, random_convnet

ROOT = Path(__file__).resolve().parents[1]
KERNELS = ("numpy", "tensorflow")


def _single_op_net(op, kernel, stride, c=3, m=2, h=7, w=9, groups=1):
    """One connection from the input: ``op`` with the given geometry (depthwise multiplier ``m``)."""
    rng = np.random.default_rng(1)
    pad = (0, 1, 1, 1)
    ho = (h + 1 - kernel[0]) // stride[0] + 1
    wo = (w + 2 - kernel[1]) // stride[1] + 1
    if op == "depthwise":
        weight, c_out = rng.normal(size=(c * m, 1, *kernel)), c * m
    elif op == "conv2d":
        weight, c_out = rng.normal(size=(2 * groups, c // groups, *kernel)), 2 * groups
    else:
        weight, c_out = rng.uniform(0.5, 2.0, c), c
    conn = Connection("c", "x", "y", op, weight.astype(np.float32), kernel=kernel, stride=stride, padding=pad,
                      groups=groups)
    post = Population("y", (c_out, ho, wo), threshold=1.0, bias=0.0, decode_scale=1.0)
    ro = Readout("r", 0, (ReadoutTerm("y", np.ones((1, c_out))),), np.zeros(1))
    return Network("t", InputSpec("x", (c, h, w)), (post,), (conn,), (ro,))


def _cases():
    """``(net, conn)`` for every connection of the test networks, their ``sparse`` forms, and odd geometries."""
    out = []
    for net in (random_convnet(5).unroll(), tiny_iterative_network().unroll()):
        out += [(net, c) for c in net.connections] + [(net, to_sparse(net, c)) for c in net.connections[:6]]
    for op, kernel, stride, groups in (("depthwise", (3, 3), (1, 2), 1), ("depthwise", (2, 3), (3, 1), 1),
                                       ("conv2d", (3, 2), (2, 1), 1), ("conv2d", (3, 3), (1, 1), 3),
                                       ("avgpool", (2, 2), (1, 2), 1)):
        net = _single_op_net(op, kernel, stride, groups=groups)
        out.append((net, net.connections[0]))
    return out


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_numpy_kernels_equal_reference_ops(dtype, tol):
    from itnet_neuro.sim.kernels.blas_ops import prepare
    from itnet_neuro.sim.kernels.numpy_ops import apply_op

    rng = np.random.default_rng(0)
    ops = set()
    for net, c in _cases():
        x = rng.uniform(0, 1, (2,) + tuple(net.shape_of(c.pre)))
        want = apply_op(net, c, x)
        got = np.transpose(prepare(net, c, dtype)(np.transpose(x, (0, 2, 3, 1)).astype(dtype)), (0, 3, 1, 2))
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=f"{c.name} ({c.op})")
        ops.add(c.op)
    assert ops >= {"conv2d", "depthwise", "avgpool", "resize", "identity", "sparse"}


@pytest.mark.parametrize("density", [0.0, 0.01, 0.2, 1.0])
def test_event_kernels_equal_reference_ops(density):
    """Event-driven convolutions against the reference op on spike frames of several densities, and on
    signed, non-binary frames (what a fused signed pair delivers: s⁺ − r·s⁻)."""
    from itnet_neuro.sim.kernels.event_ops import prepare, supports
    from itnet_neuro.sim.kernels.numpy_ops import apply_op

    rng = np.random.default_rng(2)
    n = 0
    for net, c in _cases():
        if not supports(c):
            continue
        shape = (3,) + tuple(net.shape_of(c.pre))
        x = (rng.uniform(size=shape) < density) * rng.choice([1.0, -0.75], size=shape)
        got = np.transpose(prepare(net, c, np.float64)(np.transpose(x, (0, 2, 3, 1))), (0, 3, 1, 2))
        np.testing.assert_allclose(got, apply_op(net, c, x), rtol=1e-12, atol=1e-12, err_msg=c.name)
        n += 1
    assert n >= 5


NETS = {
    "tiny": lambda: dyadic(tiny_iterative_network()),
    "conv1": lambda: random_convnet(1, iterations=3),
    "strong": lambda: random_convnet(2, strong=True),
    "chip": lambda: chip_neuron_convnet(3, iterations=3),
}


def _assert_same(a, b):
    for name in a.trains:
        diff = int((a.trains[name] != b.trains[name]).sum())
        assert diff == 0, f"{name}: {diff} spikes differ ({b.info.get('kernels')} vs {a.backend})"


def _update_or_skip(update):
    """``update`` (``neuron_update=`` of the fast simulator); skip where the compiled one was not built."""
    from itnet_neuro.sim.fast import compiled_update

    if update == "compiled" and compiled_update("auto") is None:
        pytest.skip("the compiled neuron update is not built here (no C compiler at install time)")
    return update


@pytest.mark.parametrize("kernels, update", [("numpy", "numpy"), ("numpy", "compiled"), ("tensorflow", "compiled")])
@pytest.mark.parametrize("net_name", sorted(NETS))
@pytest.mark.parametrize("schedule, buffer", [("unrolled", None), ("looped", "regenerate")])
def test_both_kernel_sets_equal_reference(kernels, update, net_name, schedule, buffer):
    net = NETS[net_name]()
    x = dyadic_input((3,) + net.input.shape, seed=4)
    kw = dict(schedule=schedule, record=True, state_buffer=buffer, window_ticks=5 if buffer else None)
    ref = simulate(net, x, 24, backend="reference", **kw)
    fast = simulate(net, x, 24, backend="fast", chunk_ticks=7, kernels=kernels,
                    neuron_update=_update_or_skip(update), workers=2, **kw)  # 3 images: shares of 1 and 2
    assert (fast.info["kernels"], fast.info["neuron_update"], fast.info["workers"]) == (kernels, update, 2)
    _assert_same(ref, fast)
    assert sum(ref.spikes_per_population.values()) > 100


@pytest.mark.parametrize("kernels", KERNELS)
@pytest.mark.parametrize("encoding", ["current", "poisson"])
def test_batch_equals_images_one_by_one(kernels, encoding):
    """A batch of 5 split between 3 worker threads gives every image the spikes it gets alone (batch 1),
    counts and synaptic ops summed."""
    net = random_convnet(6, iterations=3)
    net = dataclasses.replace(net, input=dataclasses.replace(net.input, encoding=encoding))
    x = dyadic_input((5,) + net.input.shape, seed=7)
    together = simulate(net, x, 30, backend="fast", record=True, batch_size=5, chunk_ticks=11, kernels=kernels,
                        workers=3)
    assert (together.info["batch_size"], together.info["workers"]) == (5, 3)
    alone = simulate(net, x, 30, backend="fast", record=True, batch_size=1, chunk_ticks=11, kernels=kernels)
    assert alone.info["batch_size"] == 1
    if encoding == "current":  # the poisson draw is per run, not per image: compare the runs as wholes
        for i in range(5):
            one = simulate(net, x[i:i + 1], 30, backend="fast", record=True, kernels=kernels)
            for name, tr in one.trains.items():
                np.testing.assert_array_equal(together.trains[name][i:i + 1], tr, err_msg=f"image {i} {name}")
    for name, tr in alone.trains.items():
        np.testing.assert_array_equal(together.trains[name], tr, err_msg=name)
    assert together.synaptic_ops == pytest.approx(alone.synaptic_ops, rel=1e-12)
    assert together.spikes_per_population == alone.spikes_per_population
    for name, c in alone.counts.items():
        np.testing.assert_array_equal(together.counts[name], c, err_msg=name)
    assert sum(together.spikes_per_population.values()) > 100


def test_auto_kernels_follow_work_and_tensorflow(monkeypatch):
    from itnet_neuro.sim import fast

    net = random_convnet(0).unroll()
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    neurons = sum(p.size for p in net.populations)
    assert fast.choose_kernels("auto", net, 10) == "numpy"
    assert fast.choose_kernels("auto", net, int(fast.AUTO_NUMPY_NEURON_TICKS / neurons) + 1) == "tensorflow"
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert fast.choose_kernels("auto", net, 10) == "tensorflow"
    assert fast.choose_kernels("numpy", net, 10) == "numpy"
    with pytest.raises(Exception, match="kernels must be one of 'numpy', 'tensorflow'"):
        fast.kernel_factory("torch")


CLI_RUN = """
import sys
from itnet_neuro.cli import main
rc = main(["simulate", sys.argv[1], "--chip", "ideal", "--images", "1", "--ticks", "16", "-o", sys.argv[2]])
print(rc, "tensorflow" in sys.modules)
"""


def test_short_cli_run_never_imports_tensorflow(tmp_path):
    """A short ``simulate --chip ideal`` of an IR file runs on the numpy kernels without TensorFlow (issue 17 §2)."""
    from itnet_neuro.ir.io import save_network

    net = tiny_iterative_network(24, 32)
    save_network(net, tmp_path / "m.snn.h5")
    proc = subprocess.run([sys.executable, "-c", CLI_RUN, str(tmp_path / "m.snn.h5"), str(tmp_path / "r.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-2:] == ["0", "False"], proc.stdout[-2000:]


@pytest.mark.parametrize("kernels", KERNELS)
def test_signed_pairs_run_once_and_match_reference(kernels):
    """A pair whose negative half's current is minus the positive half's runs its ops once (mirror); a
    convolution reading both halves with V and -V·θ⁻/θ⁺ runs once on s⁺ − r·s⁻ (fused); spikes equal
    the reference loop's in float32 and float64 (dyadic weights: no rounding either way)."""
    import dataclasses as dc

    from itnet_neuro.sim.fast import _prepared, kernel_factory
    from itnet_neuro.sim.testnets import signed_pair_convnet

    net = signed_pair_convnet(0)
    pops = {p.name: p for p in _prepared(net, np.float32, kernel_factory("numpy"), set())}
    assert {n: p.mirror for n, p in pops.items() if p.mirror} == {"a_neg": "a_pos", "c_neg": "c_pos"}
    assert {n: sorted(p.fused) for n, p in pops.items() if p.fused} == {"b": ["a_pos->b"],
                                                                         "c_pos": ["a_pos->c_pos@c_pos"]}
    x = dyadic_input((3,) + net.input.shape, seed=1)
    ref = simulate(net, x, 40, backend="reference", record=True)
    for precision in ("float32", "float64"):
        got = simulate(net, x, 40, backend="fast", record=True, kernels=kernels, precision=precision)
        assert got.info["mirrored_populations"] == 2
        for name, train in ref.trains.items():
            np.testing.assert_array_equal(got.trains[name], train, err_msg=f"{name} ({precision})")
    assert all(t.sum() > 100 for t in ref.trains.values())  # every population spiked: not vacuous
    # a bias one step off is no longer minus the partner's: both halves run their own ops, still exact
    off = dc.replace(net, populations=tuple(dc.replace(p, bias=p.bias + 1 / 32) if p.name == "a_neg" else p
                                            for p in net.populations))
    assert not [p.name for p in _prepared(off, np.float32, kernel_factory("numpy"), set()) if p.name == "a_neg"
                and p.mirror]
    ref = simulate(off, x, 40, backend="reference", record=True)
    got = simulate(off, x, 40, backend="fast", record=True, kernels=kernels)
    for name, train in ref.trains.items():
        np.testing.assert_array_equal(got.trains[name], train, err_msg=name)


NEURONS = [dict(), dict(leak=0.5), dict(reset="zero"), dict(v_min=-0.75), dict(v_max=1.25),
           dict(reset="zero", leak=0.3, v_min=-1.0, v_max=1.5)]


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_update_is_numpys_bit_for_bit(neuron, dtype):
    """The compiled update against the neuron of itnet_neuro.sim.core written out in numpy, on float (not
    dyadic) currents, biases and thresholds where every rounding shows: the same spikes, the same membranes
    to the last bit, for a population and for a mirrored half (bias − sum), across blocks of neurons."""
    from itnet_neuro.sim.fast import compiled_update

    _update_or_skip("compiled")
    rng = np.random.default_rng(3)
    b, t, n = 3, 20, 5000  # more neurons than one block of the compiled loop
    raw = rng.normal(0.05, 0.4, (b, t, n)).astype(dtype)
    bias, theta = rng.normal(0, 0.05, n).astype(dtype), rng.uniform(0.3, 1.7, n).astype(dtype)
    leak, zero = neuron.get("leak", 0.0), neuron.get("reset") == "zero"
    lo, hi = neuron.get("v_min"), neuron.get("v_max")
    for negate in (False, True):
        v0 = rng.uniform(-0.5, 1.0, (b, n)).astype(dtype)
        v, want = v0.copy(), np.zeros(raw.shape, np.uint8)
        for k in range(t):
            c = bias - raw[:, k] if negate else raw[:, k] + bias
            v = (v * dtype(1.0 - leak) if leak else v) + c
            v = np.clip(v, lo, hi) if lo is not None or hi is not None else v
            s = v >= theta
            v = v * ~s if zero else v - theta * s
            want[:, k] = s
        got_v, got = v0.copy(), np.empty(raw.shape, np.uint8)
        options = (1.0 - leak, bool(leak), zero, lo is not None, lo or 0.0, hi is not None, hi or 0.0)
        fired = compiled_update("compiled").fire_chunk(raw, bias, negate, got_v, theta, got, *options)
        np.testing.assert_array_equal(got, want)
        assert fired == int(want.sum())
        np.testing.assert_array_equal(got_v.view(np.uint8), v.astype(dtype).view(np.uint8))
        assert 0.02 < want.mean() < 0.5  # neurons fire and stay silent: not vacuous


TERM_CASES = [(True, [(False, False)]), (False, [(False, False)]), (False, [(True, False)]),
              (True, [(True, True), (False, False)]), (False, [(False, True), (True, False), (True, True)]),
              (False, [(True, True), (False, True)])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("has_base, terms", TERM_CASES)
def test_compiled_update_adds_terms_as_numpy_does(dtype, has_base, terms):
    """``fire_chunk(raw, …, terms=[(y, rows, gain), …], has_base=…)`` fires exactly as ``fire_chunk`` on the sum
    numpy's path builds (fast._add_term, one op after the other: copy, zero fill, ``+= y`` on the frames an op
    ran on, an identity's ``x * gain`` first): float data, both signs, several blocks; ``terms``: per op,
    (skips frames, identity gain)."""
    from itnet_neuro.sim.fast import _add_term, compiled_update

    fire_chunk = compiled_update(_update_or_skip("compiled")).fire_chunk
    rng = np.random.default_rng(8)
    b, t, n = 2, 9, 4500
    raw = rng.normal(0.05, 0.4, (b, t, n)).astype(dtype)
    bias, theta = rng.normal(0, 0.05, n).astype(dtype), rng.uniform(0.3, 1.7, n).astype(dtype)
    summed, filled, args = raw.copy().reshape(b * t, n), has_base, []
    for skips, identity in terms:
        keep = rng.uniform(size=b * t) < 0.6 if skips else np.ones(b * t, bool)
        y = rng.normal(0.0, 0.3, (int(keep.sum()), n)).astype(dtype)
        gain = rng.uniform(0.2, 1.5, n).astype(dtype) if identity else None
        rows = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int64) if skips else None
        args.append((y, rows, gain))
        filled = _add_term(summed, filled, keep if skips else None, y * gain if identity else y, 0, n, n)
    options = (1.0, False, False, False, 0.0, False, 0.0)
    for negate in (False, True):
        v0 = rng.uniform(-0.5, 1.0, (b, n)).astype(dtype)
        want_v, want = v0.copy(), np.empty(raw.shape, np.uint8)
        fire_chunk(summed.reshape(raw.shape), bias, negate, want_v, theta, want, *options)
        got_v, got = v0.copy(), np.empty(raw.shape, np.uint8)
        fire_chunk(raw, bias, negate, got_v, theta, got, *options, terms=args, has_base=has_base)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_v.view(np.uint8), want_v.view(np.uint8))
        assert 0.02 < want.mean() < 0.5
    y, _, _ = args[0]
    with pytest.raises(ValueError, match="rows must name a row"):
        fire_chunk(raw, bias, False, v0, theta, got, *options, terms=[(y, np.full(b * t, y.shape[0], np.int64), None)])
    with pytest.raises(ValueError, match="C-contiguous"):
        fire_chunk(raw, bias, False, v0, theta, got, *options, terms=[(y.astype(np.float16), None, None)])


@pytest.mark.parametrize("kernels", ["numpy", "tensorflow"])
def test_compiled_update_runs_float_networks_as_numpys_does(kernels):
    """Whole runs on float (not dyadic) weights, where the order of every addition shows: the compiled update
    (which adds a population's last op as it reads the others' sum) gives numpy's update's spikes exactly —
    populations of one, two and three inputs, and the first ticks' empty frames the ops skip."""
    import dataclasses as dc

    _update_or_skip("compiled")
    net = random_convnet(5, iterations=3)
    rng = np.random.default_rng(2)
    net = dc.replace(net, connections=tuple(dc.replace(c, weight=c.weight * rng.uniform(0.9, 1.1, c.weight.shape))
                                            for c in net.connections))
    x = rng.uniform(0, 1, (3,) + net.input.shape)
    runs = [simulate(net, x, 30, backend="fast", record=True, chunk_ticks=7, kernels=kernels, neuron_update=u)
            for u in ("numpy", "compiled")]
    assert runs[1].info["neuron_update"] == "compiled"
    _assert_same(runs[0], runs[1])
    assert sum(runs[0].spikes_per_population.values()) > 100
    fan_in = {p.name: len(net.incoming(p.name)) for p in net.populations}
    assert {1, 2} <= set(fan_in.values()), fan_in


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_resampling_equals_the_separable_matrices(mode, dtype, monkeypatch):
    """The compiled resampling (two taps per axis and pixel) against numpy's products with the separable
    matrices of resize_matrix (the numpy path it replaces, also run here): up, down, by odd factors; exact on
    dyadic frames, within rounding on float ones."""
    from itnet_neuro.sim.kernels import blas_ops

    if blas_ops.compiled_ops() is None:
        pytest.skip("the compiled resampling is not built here (no C compiler at install time)")
    rng = np.random.default_rng(4)
    for (h, w), (ho, wo) in [((6, 8), (12, 16)), ((3, 4), (12, 16)), ((12, 16), (6, 8)), ((5, 7), (9, 4)),
                             ((4, 4), (4, 9))]:
        conn = Connection("r", "x", "y", "resize", rng.uniform(0.5, 2.0, 5), mode=mode)
        kernels = [blas_ops.resize(conn, (5, h, w), (5, ho, wo), np.dtype(dtype))]
        monkeypatch.setattr(blas_ops, "compiled_ops", lambda: None)
        kernels.append(blas_ops.resize(conn, (5, h, w), (5, ho, wo), np.dtype(dtype)))
        monkeypatch.undo()
        spikes = (rng.uniform(size=(3, h, w, 5)) < 0.3).astype(dtype)
        dyadic_gain = Connection("r", "x", "y", "resize", np.array([0.5, 1, 1.5, 2, 0.25]), mode=mode)
        exact = [blas_ops.resize(dyadic_gain, (5, h, w), (5, ho, wo), np.dtype(dtype))]
        monkeypatch.setattr(blas_ops, "compiled_ops", lambda: None)
        exact.append(blas_ops.resize(dyadic_gain, (5, h, w), (5, ho, wo), np.dtype(dtype)))
        monkeypatch.undo()
        if (ho, wo) != (9, 4):  # 5 → 9 has non-dyadic weights
            np.testing.assert_array_equal(exact[0](spikes), exact[1](spikes), err_msg=f"{(h, w)} → {(ho, wo)}")
        x = rng.normal(size=(3, h, w, 5)).astype(dtype)
        np.testing.assert_allclose(kernels[0](x), kernels[1](x), rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)
    with pytest.raises(ValueError, match="3 taps"):
        blas_ops.taps(np.array([[0.2, 0.3, 0.5]]))
    rows, row_w = blas_ops.taps(resize_matrix(3, 6, mode).astype(dtype))
    x, out, gain = np.ones((1, 3, 3, 2), dtype), np.empty((1, 6, 6, 2), dtype), np.ones(2, dtype)
    blas_ops.compiled_ops().resample(x, rows, row_w, rows, row_w, gain, out)
    np.testing.assert_allclose(out, 1.0, rtol=1e-6)  # weights of a row sum to 1
    for bad in (rows + 3, rows - 1):  # a tap past the end, a tap before the start: refused, nothing read
        with pytest.raises(ValueError, match="outside the input"):
            blas_ops.compiled_ops().resample(x, rows, row_w, np.ascontiguousarray(bad), row_w, gain, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_windows_are_numpys_bit_for_bit(dtype, monkeypatch):
    """Depthwise convolution (multipliers 1 and 2) and average pooling by the compiled loop against numpy's
    tap-by-tap kernels on float data, 18 channels (a block of 16 in registers and a scalar tail), strided
    and not, square and not, bit for bit."""
    from itnet_neuro.sim.kernels import blas_ops

    if blas_ops.compiled_ops() is None:
        pytest.skip("the compiled ops are not built here (no C compiler at install time)")
    rng = np.random.default_rng(6)
    for op, kernel, stride, m in [("depthwise", (3, 3), (1, 1), 1), ("depthwise", (3, 3), (1, 2), 2),
                                  ("depthwise", (2, 3), (3, 1), 1), ("avgpool", (2, 2), (2, 2), 1),
                                  ("avgpool", (3, 3), (1, 2), 1)]:
        net = _single_op_net(op, kernel, stride, c=18, m=m)
        c = net.connections[0]
        assert blas_ops.compiled_window_fits(c, net.shape_of(c.pre), dtype)
        compiled = blas_ops.prepare(net, c, dtype)
        monkeypatch.setattr(blas_ops, "compiled_ops", lambda: None)
        numpy_kernel = blas_ops.prepare(net, c, dtype)
        monkeypatch.undo()
        x = rng.normal(size=(3,) + tuple(np.roll(net.shape_of(c.pre), -1))).astype(dtype)
        np.testing.assert_array_equal(compiled(x).view(np.uint8), numpy_kernel(x).view(np.uint8),
                                      err_msg=f"{op} {kernel} {stride} ×{m}")


def _window_chain(c: int, h: int = 8, w: int = 12) -> Network:
    """input → identity → a → depthwise 3×3 → b → average pool 2×2 / 2 → d: windows on spiking populations."""
    rng = np.random.default_rng(9)

    def pop(name, hh, ww):
        return Population(name, (c, hh, ww), threshold=rng.uniform(0.75, 1.25, (1, c)), bias=rng.normal(0, 0.05, (1, c)),
                          decode_scale=1.0)

    conns = (Connection("x_a", "x", "a", "identity", rng.uniform(0.3, 0.9, c)),
             Connection("a_b", "a", "b", "depthwise", rng.normal(0, 0.6, (c, 1, 3, 3)), kernel=(3, 3), padding=(1, 1, 1, 1)),
             Connection("b_d", "b", "d", "avgpool", rng.uniform(1.0, 2.0, c), kernel=(2, 2), stride=(2, 2)))
    ro = Readout("r", 0, (ReadoutTerm("d", np.ones((1, c))),), np.zeros(1))
    return Network("windows", InputSpec("x", (c, h, w)), (pop("a", h, w), pop("b", h, w), pop("d", h // 2, w // 2)),
                   conns, (ro,))


def test_compiled_windows_run_in_fast_as_the_reference_does():
    """With TensorFlow's kernels, 16-channel depthwise convolutions and average pools run on the compiled
    window loop (kernel_factory); a whole run equals the reference loop spike for spike (dyadic)."""
    from itnet_neuro.sim.fast import kernel_factory
    from itnet_neuro.sim.kernels import blas_ops

    if blas_ops.compiled_ops() is None:
        pytest.skip("the compiled ops are not built here (no C compiler at install time)")
    net = dyadic(_window_chain(18))
    windows = [c for c in net.connections if c.op in ("depthwise", "avgpool")]
    assert len(windows) == 2 and all(blas_ops.compiled_window_fits(c, net.shape_of(c.pre), np.float32)
                                     for c in windows)
    kernels = [kernel_factory("tensorflow")(net, c) for c in windows]
    assert [k.__qualname__.split(".")[0] for k in kernels] == ["_compiled_window", "avgpool"]
    assert {k.__module__ for k in kernels} == {"itnet_neuro.sim.kernels.blas_ops"}
    x = dyadic_input((2,) + net.input.shape, seed=3)
    ref = simulate(net, x, 20, backend="reference", record=True)
    got = simulate(net, x, 20, backend="fast", record=True, kernels="tensorflow", chunk_ticks=6)
    _assert_same(ref, got)
    assert min(ref.spikes_per_population.values()) > 20, ref.spikes_per_population


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("empty", [0.0, 0.03, 0.5, 1.0])
def test_compiled_frame_cast_keeps_numpys_frames(dtype, empty):
    """The compiled cast of a delay tail and a chunk's spikes (slices, not copies) gives numpy's frames, by the
    same rule: every frame when few are empty (the empty ones then too, all zeros), else only the nonempty ones,
    and which."""
    from itnet_neuro.sim.fast import SKIP_EMPTY_ONE_IN, _cast_frames, _frames_numpy
    from itnet_neuro.sim.kernels.blas_ops import compiled_ops

    ops = compiled_ops()
    if ops is None:
        pytest.skip("the compiled ops are not built here (no C compiler at install time)")
    rng = np.random.default_rng(11)
    tail, now = ((rng.uniform(size=(3, 10, 4, 5, 6)) < 0.2).astype(np.uint8) for _ in range(2))
    blank = rng.uniform(size=(3, 10)) < empty
    tail[blank], now[blank] = 0, 0
    parts = [tail[:, 8:], now[:, :7]]  # 2 + 7 ticks
    shape = (3, 9, 4, 5, 6)
    nz, x = _cast_frames(ops, parts, shape, dtype)
    nz_np, x_np = _frames_numpy(parts, shape, dtype)
    if x_np is None:
        assert x is None and nz is None
        return
    everything = np.concatenate(parts, axis=1).reshape(27, 4, 5, 6).astype(dtype)
    n_empty = 27 - int(np.count_nonzero(everything.reshape(27, -1).any(axis=1)))
    if n_empty * SKIP_EMPTY_ONE_IN < 27:
        assert nz is None and nz_np is None
        np.testing.assert_array_equal(x, everything)
    else:
        np.testing.assert_array_equal(nz, everything.reshape(27, -1).any(axis=1))
    np.testing.assert_array_equal(nz, nz_np)
    np.testing.assert_array_equal(x, x_np)
    assert x.ctypes.data % 64 == 0  # TensorFlow wraps it without a copy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compiled_pair_difference_is_numpys_bit_for_bit(dtype):
    """``s⁺ − s⁻·r`` of a fused pair's frames (:func:`itnet_neuro.sim.fast._pair_inputs`) against numpy's two
    ufuncs, on float ``r`` per channel and on slices along images and ticks (a delay tail, a chunk's start)."""
    from itnet_neuro.sim.fast import compiled_update

    _update_or_skip("compiled")
    rng = np.random.default_rng(5)
    plus, minus = ((rng.uniform(size=(3, 9, 5, 6, 7)) < 0.3).astype(np.uint8) for _ in range(2))
    r = rng.uniform(0.3, 3.0, 7).astype(dtype)
    want = plus[:, 2:8] - minus[:, 2:8] * r
    out = np.full((3, 10, 5, 6, 7), np.nan, dtype)
    plus[1, 3], minus[1, 3], minus[2, 5] = 0, 0, 0  # an empty frame, and one where only the plus half spiked
    want = plus[:, 2:8] - minus[:, 2:8] * r
    nonempty = np.full((3, 8), 7, np.uint8)
    count = compiled_update("compiled").pair_difference(plus[:, 2:8].reshape(3, 6, -1), minus[:, 2:8].reshape(3, 6, -1),
                                                        r, out[:, 1:7].reshape(3, 6, -1), nonempty[:, 1:7])
    np.testing.assert_array_equal(out[:, 1:7].view(np.uint8), want.astype(dtype).view(np.uint8))
    spiked = (plus[:, 2:8] | minus[:, 2:8]).reshape(3, 6, -1).any(axis=2)
    np.testing.assert_array_equal(nonempty[:, 1:7], spiked)
    assert count == spiked.sum() == 17 and (nonempty[:, [0, 7]] == 7).all()
    assert np.isnan(out[:, [0, 7, 8, 9]]).all()  # nothing outside the slice written
    with pytest.raises(ValueError, match="disagree in shape"):
        compiled_update("compiled").pair_difference(plus.reshape(3, 9, -1), minus.reshape(3, 9, -1), r[:4],
                                                    np.zeros((3, 9, 210), dtype))


def test_compiled_update_refuses_what_it_cannot_do():
    from itnet_neuro.errors import SimulationError
    from itnet_neuro.sim.fast import compiled_update

    _update_or_skip("compiled")
    assert compiled_update("numpy") is None
    with pytest.raises(SimulationError, match="neuron_update must be 'auto', 'compiled' or 'numpy'"):
        compiled_update("cuda")
    f = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match="disagree in shape"):
        compiled_update("compiled").fire_chunk(np.zeros((1, 2, 4), np.float32), f, False, np.zeros((1, 3), np.float32),
                                                f, np.zeros((1, 2, 4), np.uint8), 1.0, False, False, False, 0.0,
                                                False, 0.0)


def test_a_failing_worker_stops_the_run(monkeypatch):
    """An error in one worker's share is raised by simulate, and the other worker stops at its next chunk."""
    from itnet_neuro.sim import fast

    net = random_convnet(6, iterations=3)
    x = dyadic_input((4,) + net.input.shape, seed=7)
    seen, fire = [], fast._Batch._fire

    def failing(self, p, *args):
        seen.append((self.b0, self.t0))
        if self.b0 == 2 and self.t0 > 1:
            raise RuntimeError("worker failed")
        return fire(self, p, *args)

    monkeypatch.setattr(fast._Batch, "_fire", failing)
    with pytest.raises(RuntimeError, match="worker failed"):
        simulate(net, x, 400, backend="fast", batch_size=4, chunk_ticks=4, workers=2, kernels="numpy")
    assert max(t for b, t in seen if b == 0) < 400 - 4  # the other share did not run to the end


@pytest.mark.parametrize("dtype", [np.uint8, bool])
def test_grid_counts_are_the_cumulative_spikes(dtype):
    """_count_on_grid (the compiled accumulation where built) against np.cumsum: the counts at the grid ticks
    inside a chunk, channels first, and the running count after it; a chunk with no grid tick only adds."""
    from itnet_neuro.sim.fast import _count_on_grid

    rng = np.random.default_rng(2)
    s = (rng.random((3, 13, 4, 5, 6)) < 0.3).astype(dtype)
    before = rng.integers(0, 50, (3, 4, 5, 6)).astype(np.uint32)
    lg = np.array([3, 9, 10, 11, 22, 40])  # grid ticks; this chunk holds ticks 9 … 21
    running, out = before.copy(), np.zeros((3, 6, 6, 4, 5), np.uint32)
    _count_on_grid(s, running, out, lg, 9)
    total = before[:, None] + np.cumsum(s, axis=1, dtype=np.uint32)
    for g, tick in enumerate(lg):
        want = np.moveaxis(total[:, tick - 9], -1, 1) if 9 <= tick <= 21 else 0
        np.testing.assert_array_equal(out[:, g], want, err_msg=f"grid tick {tick}")
    np.testing.assert_array_equal(running, total[:, -1])
    _count_on_grid(s, running, out, np.array([1, 2]), 9)  # no grid tick here
    np.testing.assert_array_equal(running, total[:, -1] + s.sum(axis=1, dtype=np.uint32))


@pytest.mark.parametrize("update", ["numpy", "compiled"])
def test_the_input_current_starts_at_its_delay(update):
    """An input connection of delay 3 (``encoding="current"``): no current before tick 3, in the first chunk
    and not in the second (the compiled update reads the current per image, :meth:`_Sum.add_constant`); the
    reference loop's spikes."""
    net = random_convnet(1, iterations=2)
    conns = tuple(dataclasses.replace(c, delay=3) if c.pre == net.input.name else c for c in net.connections)
    net = dataclasses.replace(net, connections=conns)
    assert net.input.encoding == "current" and any(c.delay == 3 for c in net.connections)
    x = dyadic_input((2,) + net.input.shape, seed=6)
    ref = simulate(net, x, 20, backend="reference", record=True)
    got = simulate(net, x, 20, backend="fast", record=True, kernels="tensorflow", chunk_ticks=7,
                   neuron_update=_update_or_skip(update))
    _assert_same(ref, got)
    first = min(int(np.argmax(tr.reshape(tr.shape[0], tr.shape[1], -1).any(axis=(0, 2)))) for tr in ref.trains.values()
                if tr.any())
    assert first >= 2  # nothing fires before the current arrives (index 2 = tick 3)
