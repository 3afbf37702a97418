"""Keras model → rate-coded spiking IR: safe loading, per-layer converters, normalization, verification.

Importing this package does not import TensorFlow; the functions below do when called.
"""

from itnet_neuro.convert.api import (ConversionResult, calibration_images, convert_file, convert_model,
                                     shipped_model_path)
from itnet_neuro.convert.safe_load import check_model_file, safe_load_model

__all__ = ["ConversionResult", "calibration_images", "check_model_file", "convert_file", "convert_model",
           "safe_load_model", "shipped_model_path"]
