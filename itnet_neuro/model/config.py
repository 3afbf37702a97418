"""`ItNetConfig`: the ItNet hyperparameters (paper §2.1–2.2, Figure 2), frozen and validated.

Pure Python (no TensorFlow): the footprint, the converter and ``read_config`` use it without loading
TensorFlow. Every invalid field raises :class:`~itnet_neuro.errors.ConfigError` with a one-line
message naming the field, the value, the limit and what to try.

Symbols (paper Figure 2): L scales, N iterations, K bottleneck residual blocks, width f,
reduced width f_r = f // 2, expansion factor t.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

from itnet_neuro.errors import ConfigError

#: Pooling of the data block's down-sampling stages.
POOLINGS = ("max", "avg")
#: Activation used wherever Figure 2 draws an "R".
ACTIVATIONS = ("relu", "clip_floor_shift")
#: The classification block up-samples the finest scale 8-fold (Figure 2 caption), so the finest
#: scale sits at 1/8 of the input: two stride-2 stages in the data block plus one stride-2 conv.
OUTPUT_STRIDE = 8


def _fail(name: str, value, why: str, fix: str) -> None:
    raise ConfigError(f"ItNetConfig.{name}={value!r}: {why}; {fix}")


@dataclass(frozen=True)
class ItNetConfig:
    """Hyperparameters of one ItNet.

    Attributes
    ----------
    input_height, input_width : int
        Input image size H × W in pixels (both multiples of 8, the classifier's up-sampling factor).
    input_channels : int
        Channels of the input image (3: RGB; 1: grey or a depth map; any number from an ``npz`` file).
    num_classes : int
        C, channels of every output.
    scales : int
        L, number of scales processed in parallel (finest 1/8 of the input, each next one 1/2 of it).
    iterations : int
        N, number of iterations of the iterative block = number of outputs.
    bottleneck_blocks : int
        K, bottleneck residual blocks per scale in the iterative block.
    width : int
        f, channels of the iterative block's state at every scale; f_r = f // 2 (see ``reduced_width``).
    expansion : int
        t, expansion factor of the bottleneck residual blocks (paper: 6).
    shared : bool
        True: the iterative block's conv layers are created once and called N times (paper's ItNet);
        False: independent layers per iteration. BatchNorm is never shared (§2.5).
    loss_weights : tuple of float or None
        a_n for n = 1..N (None: all 1). Normalized to ā_n = a_n / Σ a_i over the outputs that carry a
        loss (§2.2); see ``normalized_loss_weights``.
    loss_outputs : tuple of int or None
        1-based outputs that carry a loss ("thinned-out" outputs, §3.2); None: all N.
    pooling : {'max', 'avg'}
        Pool of the data block's ENet-style stages. 'max' as in the paper; 'avg' converts exactly.
    activation : {'relu', 'clip_floor_shift'}
        'clip_floor_shift' is the quantized activation of Bu et al. (2022) with ``levels`` levels and a
        trainable threshold, which makes rate-coded conversion near-lossless at few time steps.
    levels : int
        Quantization levels of 'clip_floor_shift' (ignored for 'relu').
    dropout : float
        Dropout rate after the depthwise convolutions of the bottleneck blocks (§2.2: 0.1 or 0).
    l2 : float
        L2 weight decay on every convolution kernel (§2.2: 1e-5 or 0).
    seed : int
        Seed of the weight initialization.
    conv_groups : tuple of (str, int) or None
        Group count per convolution layer name (Keras ``groups``; layers not listed: 1). Chosen by
        :func:`itnet_neuro.model.chipaware.plan_groups` so every neuron's fan-in fits a chip's core.
    chip : str or None
        The chip the model is trained for (quantization-aware training with its weight grid,
        :mod:`itnet_neuro.model.chipaware`); None: a float model.
    ticks : int or None
        The tick budget the model is trained for with ``chip`` (its activations are clip-floor-shift
        with ``levels = ticks``, the most spikes a neuron sends in ``ticks`` ticks).
    """

    input_height: int = 96
    input_width: int = 128
    input_channels: int = 3
    num_classes: int = 11
    scales: int = 3
    iterations: int = 6
    bottleneck_blocks: int = 1
    width: int = 16
    expansion: int = 6
    shared: bool = True
    loss_weights: tuple[float, ...] | None = None
    loss_outputs: tuple[int, ...] | None = None
    pooling: str = "max"
    activation: str = "relu"
    levels: int = 8
    dropout: float = 0.0
    l2: float = 0.0
    seed: int = 0
    conv_groups: tuple[tuple[str, int], ...] | None = None
    chip: str | None = None
    ticks: int | None = None

    def __post_init__(self):
        # Normalize list inputs (e.g. from JSON) to tuples so the dataclass stays hashable.
        if isinstance(self.conv_groups, dict):
            object.__setattr__(self, "conv_groups", tuple(sorted(self.conv_groups.items())))
        elif self.conv_groups is not None:
            try:
                object.__setattr__(self, "conv_groups", tuple((str(k), v) for k, v in self.conv_groups))
            except (TypeError, ValueError):
                _fail("conv_groups", self.conv_groups, "is not a mapping of layer name to groups",
                      'give e.g. {"it_mix_s1_conv1": 6}')
        for name in ("loss_weights", "loss_outputs"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                try:
                    object.__setattr__(self, name, tuple(value))
                except TypeError:
                    _fail(name, value, "is not a sequence", "give a list of numbers or null")
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        ints = {
            "input_height": (8, 8192), "input_width": (8, 8192), "input_channels": (1, 64), "num_classes": (1, 1000),
            "scales": (1, 6), "iterations": (1, 256), "bottleneck_blocks": (0, 16), "width": (2, 4096),
            "expansion": (1, 16), "levels": (1, 256), "seed": (0, 2**31 - 1),
        }
        for name, (lo, hi) in ints.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                _fail(name, v, "must be an integer", f"use an integer in [{lo}, {hi}]")
            if not lo <= v <= hi:
                _fail(name, v, f"out of range [{lo}, {hi}]", f"use a value in [{lo}, {hi}]")
        for name in ("input_height", "input_width"):
            v = getattr(self, name)
            if v % OUTPUT_STRIDE:
                _fail(name, v, f"is not a multiple of {OUTPUT_STRIDE} (the classifier up-samples 8-fold)",
                      f"use {v - v % OUTPUT_STRIDE} or {v - v % OUTPUT_STRIDE + OUTPUT_STRIDE}")
        coarsest = min(self.scale_sizes()[-1])
        if coarsest < 1:  # pragma: no cover - 'same' padding never gives 0
            _fail("scales", self.scales, "coarsest scale would be empty", "use fewer scales")
        if not isinstance(self.shared, bool):
            _fail("shared", self.shared, "must be true or false", "use a boolean")
        if self.pooling not in POOLINGS:
            _fail("pooling", self.pooling, "unknown pooling", f"use one of {POOLINGS}")
        if self.activation not in ACTIVATIONS:
            _fail("activation", self.activation, "unknown activation", f"use one of {ACTIVATIONS}")
        if not (isinstance(self.dropout, (int, float)) and 0.0 <= self.dropout < 1.0):
            _fail("dropout", self.dropout, "must be in [0, 1)", "use e.g. 0.1 (paper) or 0")
        if not (isinstance(self.l2, (int, float)) and 0.0 <= self.l2 < 1.0 and math.isfinite(self.l2)):
            _fail("l2", self.l2, "must be in [0, 1)", "use e.g. 1e-5 (paper) or 0")
        for name, g in self.conv_groups or ():
            if isinstance(g, bool) or not isinstance(g, int) or g < 1:
                _fail("conv_groups", dict(self.conv_groups), f"{name}: groups {g!r} is not an integer >= 1",
                      "use a positive integer that divides the layer's input and output channels")
        if self.chip is not None and (not isinstance(self.chip, str) or not self.chip):
            _fail("chip", self.chip, "must be a chip name", "use e.g. truenorth (see `itnet-neuro chips`) or null")
        if self.ticks is not None and (isinstance(self.ticks, bool) or not isinstance(self.ticks, int)
                                       or not 1 <= self.ticks <= 1_000_000):
            _fail("ticks", self.ticks, "must be an integer in [1, 1000000]", "use e.g. 256 or null")
        if self.loss_outputs is not None:
            outs = self.loss_outputs
            if not outs:
                _fail("loss_outputs", outs, "is empty", "list at least one output (1-based) or use null")
            for o in outs:
                if isinstance(o, bool) or not isinstance(o, int) or not 1 <= o <= self.iterations:
                    _fail("loss_outputs", outs, f"entry {o!r} is not an output in [1, {self.iterations}]",
                          "use 1-based output indices")
            if len(set(outs)) != len(outs) or list(outs) != sorted(outs):
                _fail("loss_outputs", outs, "must be strictly increasing", "sort and de-duplicate it")
        if self.loss_weights is not None:
            w = self.loss_weights
            if len(w) != self.iterations:
                _fail("loss_weights", w, f"has {len(w)} entries, not N={self.iterations}",
                      "give one weight a_n per output")
            for x in w:
                if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
                    _fail("loss_weights", w, f"entry {x!r} is not a finite number >= 0", "use weights >= 0")
        if sum(self.normalized_loss_weights(check=False)) <= 0:
            _fail("loss_weights", self.loss_weights, "no output carries a positive loss weight",
                  "give at least one loss output a weight > 0")

    # ------------------------------------------------------------------ derived values
    @property
    def reduced_width(self) -> int:
        """f_r = f // 2 (Figure 2: "f_r = f/2"; floor for odd f, at least 1)."""
        return max(1, self.width // 2)

    def scale_sizes(self) -> list[tuple[int, int]]:
        """(height, width) of each scale l = 1..L: l=1 is input/8, each next ceil(previous/2).

        'same' padding of a stride-2 conv gives ceil, so 360 → 45 → 23 → 12.
        """
        h, w = self.input_height // OUTPUT_STRIDE, self.input_width // OUTPUT_STRIDE
        sizes = [(h, w)]
        for _ in range(1, self.scales):
            h, w = -(-h // 2), -(-w // 2)
            sizes.append((h, w))
        return sizes

    def stage_sizes(self) -> list[tuple[int, int]]:
        """(height, width) after the data block's two down-sampling stages (1/2 and 1/4)."""
        h1, w1 = -(-self.input_height // 2), -(-self.input_width // 2)
        return [(h1, w1), (-(-h1 // 2), -(-w1 // 2))]

    def loss_output_indices(self) -> tuple[int, ...]:
        """1-based outputs that carry a loss."""
        return self.loss_outputs if self.loss_outputs is not None else tuple(range(1, self.iterations + 1))

    def normalized_loss_weights(self, check: bool = True) -> tuple[float, ...]:
        """ā_n = a_n / Σ_i a_i for every output n = 1..N (0 for outputs without loss), summing to 1."""
        a = self.loss_weights if self.loss_weights is not None else (1.0,) * self.iterations
        on = set(self.loss_output_indices())
        raw = [float(a[n - 1]) if n in on else 0.0 for n in range(1, self.iterations + 1)]
        total = sum(raw)
        if total <= 0:
            if check:  # pragma: no cover - validated in __post_init__
                raise ConfigError("ItNetConfig.loss_weights: no output carries a positive loss weight")
            return tuple(raw)
        return tuple(x / total for x in raw)

    # ------------------------------------------------------------------ (de)serialization
    def groups_of(self, layer: str) -> int:
        """Keras ``groups`` of convolution ``layer`` (1 unless ``conv_groups`` lists it)."""
        return dict(self.conv_groups or ()).get(layer, 1)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for k in ("loss_weights", "loss_outputs"):
            if d[k] is not None:
                d[k] = list(d[k])
        if d["conv_groups"] is not None:
            d["conv_groups"] = {k: v for k, v in d["conv_groups"]}
        for k in ("conv_groups", "chip", "ticks"):  # float models' JSON stays as it was
            if d[k] is None:
                del d[k]
        return d

    def to_json(self) -> str:
        """One-line JSON; ``from_json(to_json())`` gives an equal config."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ItNetConfig":
        if not isinstance(d, dict):
            raise ConfigError(f"ItNet config must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"ItNet config has unknown key(s) {unknown}; valid keys: {sorted(known)}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "ItNetConfig":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"ItNet config is not valid JSON: {exc}") from exc
        return cls.from_dict(d)

    def replace(self, **changes) -> "ItNetConfig":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)


__all__ = ["ItNetConfig", "POOLINGS", "ACTIVATIONS", "OUTPUT_STRIDE"]
