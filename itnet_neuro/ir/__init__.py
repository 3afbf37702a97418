"""The spiking intermediate representation (numpy + h5py only; see :mod:`itnet_neuro.ir.graph`)."""

from itnet_neuro.ir.graph import (ENCODINGS, OPS, Connection, InputSpec, IterativeBlock, Network, Population,
                                  Readout, ReadoutTerm, same_padding)
from itnet_neuro.ir.io import SCHEMA_VERSION, load_network, save_network
from itnet_neuro.ir.ops import OP_TABLE, conv_output_hw

__all__ = ["ENCODINGS", "OPS", "OP_TABLE", "Connection", "InputSpec", "IterativeBlock", "Network", "Population",
           "Readout", "ReadoutTerm", "SCHEMA_VERSION", "conv_output_hw", "load_network", "same_padding", "save_network"]
