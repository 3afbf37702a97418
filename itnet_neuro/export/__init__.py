"""Exports of the spiking IR: NIR (:func:`export_nir`) and a nengo ``Network`` (:func:`export_nengo`)."""

from __future__ import annotations

from itnet_neuro.export.nir_export import export_nir, to_nir


def export_nengo(net, x=None, **kwargs):
    """The IR as a :class:`nengo.Network` (built by :func:`itnet_neuro.sim.nengo_backend.build_nengo_network`).

    Depthwise and grouped convolutions use ``nengo.Convolution(groups=...)``; the shared block is
    unrolled (nengo has no weight tying across time either).
    """
    from itnet_neuro.sim.nengo_backend import build_nengo_network

    return build_nengo_network(net, x, **kwargs)


FORMATS = ("nir", "nengo")

__all__ = ["FORMATS", "export_nengo", "export_nir", "to_nir"]
