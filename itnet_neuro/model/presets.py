"""Named ItNet configurations: the paper's networks and small ones that train on a laptop CPU.

=============================  ======  =====  ==  ==  ==  ===  ======  ==========================
name                           H × W   C      N   L   K   f    shared  note
=============================  ======  =====  ==  ==  ==  ===  ======  ==========================
``paper-camvid-independent``   360×480 11     16  3   1   29   no      §3.1/§3.3, Figure 5
``paper-camvid-shared``        360×480 11     16  3   1   51   yes     §3.3, Figure 5
``paper-cityscapes``           512×1024 19    16  3   1   51   yes     Figure 1 (f: our choice)
``tiny``                       48×64   11     4   3   1   8    yes     unit tests, seconds
``small``                      96×128  11     6   3   1   16   yes     the shipped model, minutes
=============================  ======  =====  ==  ==  ==  ===  ======  ==========================

The paper presets use dropout 0.1 and L2 1e-5 (§2.2, the setting of Figures 1 and 5) and thinned-out
losses (§3.2): the paper keeps the first output and lowers the density of the others without listing
them; we keep outputs 1, 4, 8, 12, 16 (our choice). The paper does not state f for Cityscapes; we use
the shared CamVid network's f = 51 (its graph size then scales with the pixel count: 3.0× CamVid).
With our float32 accounting f = 112 would give the paper's Cityscapes state (4.8 MB) and graph (276 MB),
but the same accounting gives 0.39× and 0.52× the CamVid graphs, whose f the paper does state, and no
reading of Figure 2 we tried fits all the paper's figures (``scripts/fig2_readings.py``,
``benchmarks/results/footprint_readings.json``), so we keep f = 51: the same gap to the paper as CamVid.
"""

from __future__ import annotations

from itnet_neuro.errors import ConfigError
from itnet_neuro.model.config import ItNetConfig

_PAPER = dict(num_classes=11, scales=3, iterations=16, bottleneck_blocks=1, expansion=6, pooling="max",
              dropout=0.1, l2=1e-5, loss_outputs=(1, 4, 8, 12, 16))

PRESETS: dict[str, ItNetConfig] = {
    "paper-camvid-independent": ItNetConfig(input_height=360, input_width=480, width=29, shared=False, **_PAPER),
    "paper-camvid-shared": ItNetConfig(input_height=360, input_width=480, width=51, shared=True, **_PAPER),
    "paper-cityscapes": ItNetConfig(input_height=512, input_width=1024, width=51, shared=True,
                                    **{**_PAPER, "num_classes": 19}),
    "tiny": ItNetConfig(input_height=48, input_width=64, num_classes=11, scales=3, iterations=4,
                        bottleneck_blocks=1, width=8, shared=True, pooling="avg"),
    "small": ItNetConfig(input_height=96, input_width=128, num_classes=11, scales=3, iterations=6,
                         bottleneck_blocks=1, width=16, shared=True, pooling="avg"),
}

#: What the paper reports for its CamVid networks (§3.3, §4, Figure 5) and Cityscapes (§4, Figure 1).
#: ``None``: not reported. MACs are for the output at which the networks reach ≈ 64.2 mIoU (§4),
#: graph sizes likewise; the grid search bounded the last output's MACs by 2.2 G (§3.1).
PAPER_FIGURES: dict[str, dict[str, float | str | None]] = {
    "paper-camvid-independent": {"macs": 2.0e9, "macs_bound_last": 2.2e9, "graph_bytes": 384e6,
                                 "state_bytes": None, "source": "§3.1, §4, Figure 5a/c"},
    "paper-camvid-shared": {"macs": 6.2e9, "macs_bound_last": None, "graph_bytes": 83e6,
                            "state_bytes": None, "source": "§4, Figure 5a/c"},
    "paper-cityscapes": {"macs": None, "macs_bound_last": None, "graph_bytes": 276e6,
                         "state_bytes": 4.8e6, "source": "§4 (state), Figure 1c (graph at 61.1 mIoU)"},
}


def get_preset(name: str) -> ItNetConfig:
    """The preset called ``name``; an unknown name lists the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}") from None


__all__ = ["PRESETS", "PAPER_FIGURES", "get_preset"]
