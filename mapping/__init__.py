"""Mapping a spiking IR onto chip cores: quantization, partitioning, allocation, placement, reports.

Uses :mod:`hardware_models` and the IR (:mod:`itnet_neuro.ir`, numpy + h5py only). Never imports
TensorFlow, nengo or brian2 (DESIGN.md §3).
"""
