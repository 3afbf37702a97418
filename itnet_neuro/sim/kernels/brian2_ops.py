"""brian2 synapses per op, for the ``brian2`` backend and :func:`itnet_neuro.sim.brian2_backend.run_lif`.

A kernel is ``kernel(conn, pre_shape, post_shape) -> scipy.sparse.csr_matrix`` ``(post neurons, pre
neurons)`` (channels-first flat, the whole ``post`` population): one brian2 synapse per stored
entry, ``i`` = column, ``j`` = row, ``w`` = value. The input's current into a first layer is the
same matrix applied to the input.
"""

from __future__ import annotations

from itnet_neuro.ir.ops import connection_matrix
from itnet_neuro.sim.kernels import KernelRegistry

#: The ``brian2`` backend's synapse builders, by op.
BRIAN2 = KernelRegistry("brian2")


def synapse_matrix(net, conn):
    """The synapses of ``conn`` of ``net`` as a ``(post, pre)`` CSR matrix (this backend's kernel)."""
    return BRIAN2(conn.op)(conn, tuple(net.shape_of(conn.pre)), tuple(net.shape_of(conn.post)))


@BRIAN2.register("conv2d", "depthwise", "dense", "avgpool", "resize", "identity", "sparse")
def from_synapse_list(conn, pre, post):
    """The op table's explicit synapse list (:func:`itnet_neuro.ir.ops.connection_matrix`)."""
    return connection_matrix(conn, pre, post)
