"""Per-backend kernel registries: how each IR op runs in each backend.

What an op *means* is declared once in :mod:`itnet_neuro.ir.ops`; how it *runs* is one registered
function per backend and op::

    NUMPY = KernelRegistry("reference")

    @NUMPY.register("conv2d")
    def conv2d(net, conn, x): ...

Looking up an op a backend has no kernel for raises one line naming the backend, the op and what
is registered — no op ever falls through to a default. The registries (each module imports its
heavy stack lazily): :mod:`~itnet_neuro.sim.kernels.numpy_ops` (the ``reference`` loop),
:mod:`~itnet_neuro.sim.kernels.tf_ops` (``fast`` and the converter's rate check),
:mod:`~itnet_neuro.sim.kernels.nengo_ops` (``nengo``/``nengo-dl`` transforms),
:mod:`~itnet_neuro.sim.kernels.brian2_ops` (``brian2`` synapses).
"""

from __future__ import annotations

from typing import Callable

from itnet_neuro.errors import SimulationError


class MissingKernelError(SimulationError):
    """A backend has no kernel for an op of the network it was asked to run."""


class KernelRegistry:
    """Kernels of one backend, by op name.

    Parameters
    ----------
    backend : str
        The backend's name, as the error messages say it.
    """

    def __init__(self, backend: str):
        self.backend = backend
        self._kernels: dict[str, Callable] = {}

    def register(self, *ops: str) -> Callable:
        """Decorator registering the function as the kernel of each of ``ops``."""
        from itnet_neuro.ir.ops import spec

        for op in ops:
            spec(op)  # only ops of the IR's op table

        def deco(fn: Callable) -> Callable:
            for op in ops:
                if op in self._kernels:
                    raise ValueError(f"backend {self.backend!r}: op {op!r} registered twice")
                self._kernels[op] = fn
            return fn

        return deco

    def __call__(self, op: str) -> Callable:
        """The kernel of ``op``; :class:`MissingKernelError` when there is none."""
        try:
            return self._kernels[op]
        except KeyError:
            raise MissingKernelError(f"backend {self.backend!r} has no kernel for op {op!r}; registered: "
                                     f"{', '.join(sorted(self._kernels)) or 'none'}") from None

    def __contains__(self, op: str) -> bool:
        return op in self._kernels

    @property
    def ops(self) -> tuple[str, ...]:
        return tuple(sorted(self._kernels))


__all__ = ["KernelRegistry", "MissingKernelError"]
