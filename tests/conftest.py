"""Shared pytest configuration."""

import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("ITNET_NEURO_PROGRESS", "0")
