"""The ItNet: config, presets, Keras model, save/load, footprint metrics.

Importing this package does not import TensorFlow; ``build_itnet``, ``load_itnet`` and
``save_itnet`` import it when called.
"""

from itnet_neuro.model.build import build_itnet, describe_blocks
from itnet_neuro.model.config import ItNetConfig
from itnet_neuro.model.footprint import footprint, normalized_auc
from itnet_neuro.model.io import load_itnet, read_config, save_itnet
from itnet_neuro.model.presets import PRESETS, get_preset

__all__ = ["ItNetConfig", "build_itnet", "describe_blocks", "footprint", "normalized_auc", "load_itnet",
           "read_config", "save_itnet", "PRESETS", "get_preset"]
