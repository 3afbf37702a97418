"""An ItNet built for one chip: group counts, weight grid and tick budget from the chip's TOML (issue 13).

Pure Python (no TensorFlow); the Keras side (quantized layers, export) is
:mod:`itnet_neuro.model.chiplayers`. Every limit comes from :func:`hardware_models.spec.load_chip`.

Fan-in: what one neuron of the spiking network reads
------------------------------------------------------
The converter (:mod:`itnet_neuro.convert`) turns the ItNet into integrate-and-fire populations; a
neuron's input axons are what :mod:`mapping.partition` counts for one neuron of a tile:

* a ReLU / clip-floor-shift output is one population: **1 axon per channel and kernel tap**;
* the iterative block's state (the BN output) and every resampled state are signed, carried by a
  pair of populations x⁺, x⁻: **2 axons per channel and tap** (:data:`SIGNED`);
* a residual sum reads the summand it adds as an identity from that pair: **+2 axons**;
* on ``weights.sign = "two-rows"`` chips (BrainScaleS) an input whose weights into a core have
  both signs takes an excitatory and an inhibitory row: every axon above counts **twice** (trained
  weights have both signs, so this is the case to plan for);
* fan-out copies (TrueNorth: each neuron reaches one core) are neurons on the producer's core,
  not axons of the consumer, so they do not count here.

The limit is the smallest of ``core.max_axons``, ``core.max_fanin_per_neuron`` and
``core.max_synapses`` (None: unbounded). :func:`plan_groups` gives each convolution the smallest
group count ``G`` that divides its input and output channels, keeps every concatenated input's
channel range in whole groups or inside one group (the converter maps each source population to one
IR ``conv2d``, grouped or a slice of one group) and brings the fan-in of every neuron within the limit. The depthwise
convolutions (9 inputs) need none.

Weight grid (forward pass, straight-through estimator; :mod:`itnet_neuro.model.chiplayers`)
-------------------------------------------------------------------------------------------
``weights.sign``:

``"axon-types"`` (TrueNorth)
    A core gives each axon one of 4 types, shared by all its neurons; a neuron holds one signed
    integer per type; the crossbar bit is 0 or 1. Convolutions are trained **ternary with one sign
    per input channel**: ``w[k, c, o] ∈ {0, σ_c · α_o^{σ_c}}``, ``σ_c = ±1`` per input channel (the
    sign of its weights' sum), one magnitude per output channel and sign (``α_o^+``, ``α_o^-``).
    Every axon of a source population then needs one type per sign, so a neuron fed by one or two
    source populations is realized exactly by 4 types (up to the 9-bit rounding of ``α⁻/α⁺``);
    neurons fed by more populations (the mixing convolution reads three scales' pairs; the data
    block's pool branches) need more values than 4 types and are approximate. Depthwise
    convolutions are ternary per channel with both signs (``{0, ±α_c}``), approximate for the same
    reason. The scale of each source population (the converter's decode scale) is not trained.
``"signed"``, ``"two-rows"``, ``"exponent"``
    Symmetric uniform grid of the chip's integer range (``weights.max_int_for``) with one scale per
    layer (the realizer uses one unit per core, a layer spans whole cores); Loihi's exponent is
    taken as that per-layer scale.
``"float"``
    No quantization.

Activations: clip-floor-shift with ``levels = ticks`` (:class:`~itnet_neuro.model.layers.ClipFloorShift`,
Bu et al. 2022): the value an IF neuron with reset by subtraction and ``v0 = θ/2`` encodes in ``ticks``
ticks. Thresholds and biases are set by the converter and fitted to the chip's ranges by
:mod:`mapping.realize` (clips are counted there); training does not bound them.
"""

from __future__ import annotations

from dataclasses import dataclass

from itnet_neuro.errors import ConfigError
from itnet_neuro.model.config import ItNetConfig

__all__ = ["ConvSite", "conv_sites", "fanin_limit", "plan_groups", "plannable_width", "chip_config", "CHIP_PRESETS",
           "chip_preset", "trained_for", "chip_mismatch_warning", "DEFAULT_TICKS", "SIGNED"]

#: Presynaptic neurons per channel of a signed (paired) input.
SIGNED = 2
#: Tick budget when ``--ticks`` is not given (the issue's simulation budget).
DEFAULT_TICKS = 256


@dataclass(frozen=True)
class ConvSite:
    """One convolution and what each neuron it drives reads.

    ``parts``: the input's channel ranges (concatenated sources) as ``(channels, axons per channel)``;
    ``extra``: axons the same neuron reads from elsewhere (a residual identity pair), per neuron.
    """

    name: str
    kernel: int
    out_channels: int
    parts: tuple[tuple[int, int], ...]
    extra: int = 0
    depthwise: bool = False

    @property
    def in_channels(self) -> int:
        return sum(c for c, _ in self.parts)

    def fanin(self, groups: int, rows: int = 1) -> int:
        """Largest fan-in of one neuron with ``groups`` groups; ``rows`` axons per input (two-rows: 2)."""
        taps = self.kernel * self.kernel
        if self.depthwise:
            return taps * max(m for _, m in self.parts) * rows + self.extra * rows
        per = [m for c, m in self.parts for _ in range(c)]
        size = len(per) // groups
        worst = max(sum(per[g * size:(g + 1) * size]) for g in range(groups))
        return taps * worst * rows + self.extra * rows

    def aligned(self, groups: int) -> bool:
        """``groups`` divides both channel counts and every source's range fills whole groups or lies in
        one group (what the converter maps to one IR ``conv2d`` per source population)."""
        if groups == 1:
            return True
        if self.in_channels % groups or self.out_channels % groups:
            return False
        size, start = self.in_channels // groups, 0
        for c, _ in self.parts:
            whole = start % size == 0 and c % size == 0
            if not whole and start // size != (start + c - 1) // size:
                return False
            start += c
        return True


def conv_sites(config: ItNetConfig) -> list[ConvSite]:
    """Every convolution of ``config``'s ItNet (shared layers once), with its neurons' inputs."""
    from itnet_neuro.model.build import describe_blocks

    f, fr, t, L = config.width, config.reduced_width, config.expansion, config.scales
    names = describe_blocks(config)
    cin = config.input_channels
    down = names["data"]["down"]
    sites = [ConvSite(down[0]["conv"], 3, fr, ((cin, 1),)),
             ConvSite(down[1]["conv"], 3, fr, ((fr, 1), (cin, 1)))]
    prev = ((fr, 1), (fr, 1), (cin, 1))
    for d in names["data"]["scales"]:
        sites.append(ConvSite(d["conv"], 3, f, prev))
        prev = ((f, 1),)
    seen: set[str] = set()
    for it in names["iterative"]:
        for l in it["scales"]:
            mix = it["mix"][l - 1]
            if mix is not None and mix["conv1"] not in seen:
                seen.update((mix["conv1"], mix["conv2"]))
                sites.append(ConvSite(mix["conv1"], 3, f, ((f, SIGNED),) * L))
                sites.append(ConvSite(mix["conv2"], 3, f, ((f, 1),), extra=SIGNED))
            for b in it["brb"][l - 1]:
                if b["expand"] in seen:
                    continue
                seen.update((b["expand"], b["dw"], b["project"]))
                sites.append(ConvSite(b["expand"], 1, t * fr, ((f, SIGNED),)))
                sites.append(ConvSite(b["dw"], 3, t * fr, ((t * fr, 1),), depthwise=True))
                sites.append(ConvSite(b["project"], 1, f, ((t * fr, 1),), extra=SIGNED))
    return sites


def fanin_limit(chip) -> int | None:
    """Most axons one neuron may read on ``chip`` (None: unbounded): min of the core's axons, fan-in
    per neuron and synapses."""
    from hardware_models.spec import load_chip

    core = load_chip(chip).core
    limits = [v for v in (core.max_axons, core.max_fanin_per_neuron, core.max_synapses) if v is not None]
    return int(min(limits)) if limits else None


def _rows(chip) -> int:
    from hardware_models.spec import load_chip

    return 2 if load_chip(chip).weights.sign == "two-rows" else 1


def plan_groups(config: ItNetConfig, chip) -> dict[str, int]:
    """Smallest group count per convolution (only those > 1) so every neuron's fan-in fits ``chip``.

    Raises :class:`ConfigError` naming the layer when no group count fits.
    """
    from hardware_models.spec import load_chip

    spec = load_chip(chip)
    limit, rows = fanin_limit(spec), _rows(spec)
    out: dict[str, int] = {}
    if limit is None:
        return out
    for s in conv_sites(config):
        if s.depthwise:
            ok = [1] if s.fanin(1, rows) <= limit else []
        else:
            ok = [g for g in range(1, s.in_channels + 1) if s.aligned(g) and s.fanin(g, rows) <= limit]
        if not ok:
            raise ConfigError(f"{s.name}: no group count brings its neurons' fan-in within {spec.name}'s "
                              f"{limit} axons (fan-in {s.fanin(1, rows)} ungrouped) while keeping each concatenated "
                              f"input in whole groups; use another width (now {config.width}) or fewer scales "
                              f"(now {config.scales})")
        if ok[0] > 1:
            out[s.name] = ok[0]
    return out


def plannable_width(config: ItNetConfig, chip, *, up_to: int | None = None) -> int | None:
    """Smallest width ``f ≥ config.width`` (up to ``2 f``) for which :func:`plan_groups` finds groups.

    A grouped convolution over a concatenation must keep each source's channels in whole groups, so
    ``L`` scales of ``f`` channels need a group count dividing ``f`` with ``L·f/G`` dividing ``f``.
    """
    for f in range(config.width, (up_to or 2 * config.width) + 1):
        try:
            plan_groups(config.replace(width=f, conv_groups=None), chip)
            return f
        except ConfigError:
            continue
    return None


def chip_config(config: ItNetConfig, chip, ticks: int | None = None) -> ItNetConfig:
    """``config`` trained for ``chip`` at ``ticks``: its groups, clip-floor-shift at ``ticks`` levels."""
    from hardware_models.spec import load_chip

    spec = load_chip(chip)
    ticks = DEFAULT_TICKS if ticks is None else int(ticks)
    levels = min(ticks, 256)  # ItNetConfig.levels' range; at more ticks the grid is finer than trained
    base = config.replace(conv_groups=None, chip=None, ticks=None)
    try:
        groups = plan_groups(base, spec)
    except ConfigError as exc:
        f = plannable_width(base, spec)
        hint = f"; width={f} fits (--set width={f})" if f is not None else ""
        raise ConfigError(f"{exc}{hint}") from None
    return base.replace(conv_groups=groups or None, chip=spec.name, ticks=ticks,
                        activation="clip_floor_shift", levels=levels)


#: One preset per chip family, ``<chip>-small``: the ``small`` network (96×128, N = 6, L = 3, shared,
#: average pooling) at the smallest width ≥ 16 whose convolutions can be grouped to fit the chip
#: (:func:`plannable_width`), trained for the chip at 256 ticks.
#: BrainScaleS has none: with two rows per input no width from 16 to 32 plans (the data block's
#: 2 f_r + 3 input channels admit no group count), see :func:`plannable_width`.
CHIP_PRESETS = {"truenorth": "truenorth", "loihi": "loihi", "spinnaker2": "spinnaker2"}


def chip_preset(name: str) -> ItNetConfig | None:
    """The preset ``<chip>-small`` as a config (None if ``name`` is not a chip preset)."""
    from itnet_neuro.model.presets import get_preset

    chip = name.removesuffix("-small")
    if not name.endswith("-small") or chip not in CHIP_PRESETS:
        return None
    base = get_preset("small")
    f = plannable_width(base, CHIP_PRESETS[chip])
    if f is None:
        raise ConfigError(f"preset {name!r}: no width from {base.width} to {2 * base.width} fits {chip}")
    return chip_config(base.replace(width=f), CHIP_PRESETS[chip])


def trained_for(config: ItNetConfig | dict | None) -> tuple[str | None, int | None]:
    """``(chip, ticks)`` a model config records (None, None for a float model)."""
    if config is None:
        return None, None
    if isinstance(config, dict):
        return config.get("chip"), config.get("ticks")
    return config.chip, config.ticks


def chip_mismatch_warning(config, chip) -> str | None:
    """One warning line when a model trained for one chip is used on another (None otherwise)."""
    trained, ticks = trained_for(config)
    if trained is None or chip is None:
        return None
    from hardware_models.spec import load_chip

    name = load_chip(chip).name
    if name == trained:
        return None
    return (f"warning: this model was trained for {trained} at {ticks} ticks, not for {name}: its groups and "
            f"weight grid follow {trained}'s rules (retrain with `itnet-neuro train --chip {name}`)")
