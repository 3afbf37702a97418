"""Mapping a spiking IR onto chip cores: partitioning, schedules, allocation, placement, reports.

Uses :mod:`hardware_models` and the IR (:mod:`itnet_neuro.ir`, numpy + h5py only). Never imports
TensorFlow, nengo or brian2 (DESIGN.md §3).

Public API (imported lazily, so ``import mapping`` stays cheap)::

    from mapping import allocate, plan, find_violations, lower_bound_cores, compare
    alloc = plan(net, "loihi", schedule="auto")      # Allocation: feasible or not
    mapping.report.table(alloc); mapping.report.plot_cores(alloc, "cores.png")
    from mapping import allocfile; allocfile.write(alloc, "alloc.json"); allocfile.read("alloc.json")

Modules: :mod:`~mapping.chip` (the one adapter to the chip spec), :mod:`~mapping.view` (nodes and
edge geometry), :mod:`~mapping.schedule` (looped/unrolled, the state-buffer semantics),
:mod:`~mapping.partition` (tiling), :mod:`~mapping.pack` (bin packing), :mod:`~mapping.place`
(mesh placement), :mod:`~mapping.convlayer` (DYNAP-CNN cores), :mod:`~mapping.allocate`,
:mod:`~mapping.report`, :mod:`~mapping.allocfile` (``alloc.json``, the one reader and writer),
:mod:`~mapping.axons` (the cores' tiles and input-axon records), :mod:`~mapping.violations`,
:mod:`~mapping.compare`, :mod:`~mapping.testing` (generators).
"""

_API = {"allocate": "mapping.allocate", "plan": "mapping.allocate", "find_violations": "mapping.allocate",
        "lower_bound_cores": "mapping.allocate", "Allocation": "mapping.allocate", "Violation": "mapping.violations",
        "compare": "mapping.compare", "SCHEDULES": "mapping.schedule", "DEFAULT_PHASE_TICKS": "mapping.schedule"}

__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'mapping' has no attribute {name!r}")
