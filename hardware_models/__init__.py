"""Chip specifications (TOML, each number with its source) and device models.

Depends on nothing else of this project and never imports TensorFlow, nengo or brian2.
"""
