"""From user images to network inputs, with the input scale checked (never applied twice, never guessed).

A network records how raw pixels become its inputs: ``x = raw · scale + offset``
(:class:`itnet_neuro.ir.graph.InputSpec`; the converter's ``input_scale`` / ``input_offset``), and the
range of the inputs it was calibrated on (metadata ``input_range``). :func:`model_inputs` then reads:

* ``uint8`` images as raw pixels: ``raw · scale + offset``;
* float images as model inputs, used as they are — if their range fits what the network expects
  (the calibration range, else ``[offset, 255·scale + offset]``, with 50 % slack);
* float images *outside* that range are refused with both ranges and the fix: e.g. floats in
  [0, 255] for a network that expects [0, 1] (they were not scaled), or floats of a network whose
  calibration saw [0, 255] while these stay below 1 % of it (scaled twice) — the silent 0.914 → 0.0036
  of issue 16 can no longer happen.
"""

from __future__ import annotations

import logging

import numpy as np

from itnet_neuro.errors import DataError

log = logging.getLogger("itnet_neuro")


def expected_range(scale: float, offset: float, recorded=None) -> tuple[float, float]:
    """The model-input range a network expects: the recorded calibration range, else that of raw [0, 255]."""
    if recorded is not None:
        lo, hi = (float(v) for v in recorded)
        return lo, hi
    a, b = offset, 255.0 * scale + offset
    return (min(a, b), max(a, b))


def check_range(x: np.ndarray, lo: float, hi: float, what: str, scale: float, offset: float) -> None:
    """Refuse float model inputs whose range does not fit ``[lo, hi]`` (see the module docstring)."""
    if x.size == 0:
        return
    xmin, xmax = float(np.min(x)), float(np.max(x))
    slack = 0.5 * max(hi - lo, 1e-9)  # wide: it must catch a factor of 255, not a brighter image
    raw_hint = f"raw pixels are mapped by x = raw·{scale:.6g} + {offset:.6g}"
    if xmin < lo - slack or xmax > hi + slack:
        looks_raw = xmax > 1.5 * max(abs(hi), 1.0) and xmin >= 0 and xmax <= 255.0
        fix = ("give uint8 pixels (scaled for you), or scale the floats yourself" if looks_raw
               else "check the preprocessing, or convert with --input-scale/--input-offset matching your data")
        raise DataError(f"{what}: float inputs span [{xmin:.4g}, {xmax:.4g}], the network expects model inputs in "
                        f"[{lo:.4g}, {hi:.4g}] ({raw_hint}); {fix} — they are never rescaled silently")
    if hi > 10 and xmax < 0.01 * hi:
        log.warning(f"{what}: float inputs reach only {xmax:.4g} while the network's calibration inputs reached "
                    f"{hi:.4g}: were they scaled twice?")


def model_inputs(images, scale: float, offset: float, *, recorded_range=None, what: str = "images") -> np.ndarray:
    """``images`` (N × H × W × C; uint8 raw pixels or float model inputs) → float32 model inputs."""
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return (a.astype(np.float32) * np.float32(scale) + np.float32(offset)).astype(np.float32)
    if a.dtype.kind not in "iuf":
        raise DataError(f"{what}: images must be numbers, got dtype {a.dtype}")
    a = a.astype(np.float32)
    lo, hi = expected_range(scale, offset, recorded_range)
    check_range(a, lo, hi, what, scale, offset)
    return a
