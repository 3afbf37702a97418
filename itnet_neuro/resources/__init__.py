"""Files shipped with the package: the small trained ItNet used as every command's default."""

from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent

#: The shipped shared-weight ItNet (trained by ``scripts/train_shipped_model.py``).
SHIPPED_MODEL = RESOURCES / "itnet_small_shared.h5"

#: The same network trained for TrueNorth (``scripts/train_truenorth_model.py``, issue 13): grouped
#: convolutions within a core's 256 axons, TrueNorth's weight grid, clip-floor-shift at 256 ticks.
TRUENORTH_MODEL = RESOURCES / "itnet_small_truenorth.h5"
