"""itnet-neuro: ItNet → rate-coded spiking network → neuromorphic chip allocation → simulation.

Importing this package is cheap: TensorFlow, nengo and brian2 load lazily inside the modules that
need them (DESIGN.md §3).
"""

__version__ = "0.1.0"
