"""Chip specifications (TOML, each number with its source) and device models.

Depends on nothing else of this project and never imports TensorFlow, nengo or brian2.

- :mod:`hardware_models.spec`: :func:`load_chip`, :func:`list_chips` and the frozen :class:`ChipSpec`
  (sections ``chip``, ``core``, ``weights``, ``neuron``, ``timing``, ``energy``, ``noise``);
- :mod:`hardware_models.formulas`: named memory formulas the TOML files refer to;
- :mod:`hardware_models.device`: weight quantization per chip family, analog mismatch and temporal
  noise, timing and energy (numpy only, imported on first use);
- :mod:`hardware_models.errors`: :class:`SpecError` (a :class:`ValueError`).
"""

from hardware_models.errors import SpecError
from hardware_models.spec import PACKAGED_CHIPS_DIR, ChipSpec, Source, list_chips, load_chip

__all__ = ["SpecError", "ChipSpec", "Source", "load_chip", "list_chips", "PACKAGED_CHIPS_DIR"]
