"""Spiking simulation of the IR: one interface (:func:`simulate`), backends registered by name.

``fast`` (default, vectorized, hardware-aware), ``reference`` (the tick-by-tick ground truth),
``nengo``, ``nengo-dl`` and ``brian2``; the shared tick semantics are in :mod:`itnet_neuro.sim.core`.
Importing this package loads neither TensorFlow nor nengo nor brian2.
"""

from itnet_neuro.sim.core import BACKENDS, SCHEDULES, SimResult, get_backend, preprocess, simulate
from itnet_neuro.sim.metrics import decode

__all__ = ["BACKENDS", "SCHEDULES", "SimResult", "decode", "get_backend", "preprocess", "simulate"]
