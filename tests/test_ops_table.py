"""The op table (itnet_neuro.ir.ops) and the per-backend kernel registries.

References: the numpy kernels (written independently of the op table) for the table's synapse lists;
the structural synapse counts for the table's ``synapses``; every op of the table has a kernel in
every backend, and a missing one fails with a message naming the backend and the op.
"""

import numpy as np
import pytest

from itnet_neuro.errors import SimulationError, ValidationError
from itnet_neuro.ir import Connection
from itnet_neuro.ir.ops import OP_TABLE, connection_matrix
from itnet_neuro.sim.kernels import KernelRegistry, MissingKernelError
from itnet_neuro.sim.testnets import random_convnet


def _registries():
    from itnet_neuro.export.nir_export import NIR
    from itnet_neuro.sim.kernels.brian2_ops import BRIAN2
    from itnet_neuro.sim.kernels.nengo_ops import NENGO
    from itnet_neuro.sim.kernels.numpy_ops import NUMPY
    from itnet_neuro.sim.kernels.tf_ops import TF

    return (NUMPY, TF, NENGO, BRIAN2, NIR)


def test_every_op_has_a_kernel_in_every_backend():
    for reg in _registries():
        assert set(reg.ops) == set(OP_TABLE), reg.backend


def test_missing_kernel_names_backend_and_op():
    reg = KernelRegistry("brian2")
    reg.register("conv2d")(lambda *a: None)
    with pytest.raises(MissingKernelError, match=r"backend 'brian2' has no kernel for op 'dense'; registered: conv2d"):
        reg("dense")
    assert issubclass(MissingKernelError, SimulationError)


def test_registering_an_op_outside_the_table_fails():
    with pytest.raises(ValidationError, match="not an IR connection op; valid: "):
        KernelRegistry("x").register("maxpool")


def test_unknown_op_fails_at_construction():
    with pytest.raises(ValidationError, match="op must be one of"):
        Connection("c", "a", "b", "maxpool", np.ones(3))


def test_synapse_lists_equal_the_numpy_kernels_and_structural_counts():
    """``connection_matrix`` (from the table's synapse list) applied to x equals the op's numpy kernel;
    its stored entries equal ``Network.synapses`` for every op whose count is structural (resize
    counts 4 taps per bilinear neuron by convention, also where two of them coincide at a border)."""
    from itnet_neuro.sim.kernels.numpy_ops import apply_op

    net = random_convnet(3).unroll()
    rng = np.random.default_rng(0)
    seen = set()
    for c in net.connections:
        pre, post = net.shape_of(c.pre), net.shape_of(c.post)
        m = connection_matrix(c, pre, post)
        x = rng.uniform(0, 1, (2,) + pre)
        y = (m @ x.reshape(2, -1).T).T.reshape((2,) + post)[:, c.post_offset:c.post_offset + c.out_channels]
        np.testing.assert_allclose(y, apply_op(net, c, x), atol=1e-12, err_msg=c.name)
        if c.op != "resize":
            assert m.nnz == net.synapses(c), c.name
        seen.add(c.op)
    assert seen == set(OP_TABLE) - {"sparse"}
