"""The spiking intermediate representation (IR): a graph of IF populations and weighted connections.

The IR *describes* a rate-coded spiking network; it holds no execution code (STYLE.md §1). The
converter writes it, ``mapping`` allocates it, every simulation backend reads it. Only numpy here.

Conventions
-----------
* Feature maps are **channels first**: a population's ``shape`` is ``(C, H, W)`` (NIR/PyTorch order;
  Keras' NHWC/HWIO is transposed once, in the converter). A dense population is ``(N, 1, 1)``.
* Neuron model (DESIGN.md §5), one update per tick ``t``::

      v[t] = (1 - leak) * v[t-1] + I[t] + bias
      v[t] = clip(v[t], v_min, v_max)           (saturation; unbounded by default)
      s[t] = v[t] >= threshold
      v[t] = v[t] - threshold * s[t]            (reset="subtract", the default)
      v[t] = v[t] * (1 - s[t])                  (reset="zero")

  with ``v[0] = v_init * threshold``. ``threshold`` and ``bias`` are per channel, or per neuron where
  the population has a ``threshold_map`` / ``bias_map`` (a chip's realized parameters, mismatch). ``I[t]`` is the weighted sum of the presynaptic spikes of tick
  ``t - delay`` (or, for an input with ``encoding="current"``, the input value itself).
* A population's *decoded value* is ``rate * decode_scale`` with ``rate = spikes / ticks``: the
  activation of the ANN unit it replaces.
* Parameter rows: ``threshold``, ``bias`` and ``decode_scale`` are ``(R, C)`` arrays. ``R = 1`` for a
  population outside the iterative block; ``R = N`` (one row per iteration) for a member of the
  shared iterative block: iteration ``n`` (1-based) uses row ``n - 1``. This is how per-iteration
  BatchNorm survives weight sharing (a per-iteration *neuron parameter table*).
* Iterations are 1-based, as in the paper. A connection between two block members with
  ``feedback=True`` carries iteration ``n - 1``'s spikes of ``pre`` into iteration ``n`` of ``post``;
  ``iterations`` restricts on which iterations a connection exists (e.g. the data block injects its
  output into iteration 1 only, the scale-mixing path exists for ``n >= 2``).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

import numpy as np

from itnet_neuro.errors import ValidationError
from itnet_neuro.ir.ops import OP_TABLE
from itnet_neuro.ir.ops import spec as op_spec

#: Connection operators and the axis order of their ``weight`` array (the op table, :mod:`itnet_neuro.ir.ops`).
OPS = {name: op.layout for name, op in OP_TABLE.items()}
ENCODINGS = ("current", "poisson", "regular")
RESETS = ("subtract", "zero")
RESIZE_MODES = ("bilinear", "nearest")
_FORBIDDEN_NAME_CHARS = "/"  # "@n" suffixes name the copies made by Network.unroll


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name or any(ch in name for ch in _FORBIDDEN_NAME_CHARS):
        raise ValidationError(f"{kind} name {name!r}: must be a non-empty string without '/'")


def _as_float_array(kind: str, name: str, what: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if shape is not None and arr.shape != shape:
        raise ValidationError(f"{kind} {name!r}: {what} must have shape {shape}, got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValidationError(f"{kind} {name!r}: {what} contains NaN or inf")
    arr = np.array(arr, copy=True)
    arr.setflags(write=False)
    return arr


def _int_tuple(kind: str, name: str, what: str, value, length: int, minimum: int) -> tuple[int, ...]:
    try:
        tup = tuple(int(v) for v in value)
    except TypeError:
        tup = (int(value),) * length
    if len(tup) != length or any(v < minimum for v in tup):
        raise ValidationError(f"{kind} {name!r}: {what} must be {length} integers >= {minimum}, got {value!r}")
    return tup


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``padding="same"``: output ``ceil(size / stride)``, extra padding at the end."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


@dataclass(frozen=True)
class InputSpec:
    """The network input.

    Attributes
    ----------
    name : str
    shape : tuple of int
        ``(C, H, W)`` of one input image after preprocessing.
    encoding : str
        ``"current"``: the (preprocessed) pixel value is injected as input current every tick (the
        usual choice for rate-coded conversion, Rueckauer et al. 2017); ``"poisson"`` / ``"regular"``:
        the value (clipped to [0, 1]) is a spike probability / a deterministic rate per tick.
    scale, offset : float
        Preprocessing applied to raw pixel values in [0, 255]: ``x = raw * scale + offset``
        (CamVid: ``1/255, 0``; Cityscapes: ``1/127.5, -1``).
    """

    name: str
    shape: tuple[int, int, int]
    encoding: str = "current"
    scale: float = 1.0 / 255.0
    offset: float = 0.0

    def __post_init__(self):
        _check_name("input", self.name)
        object.__setattr__(self, "shape", _int_tuple("input", self.name, "shape", self.shape, 3, 1))
        if self.encoding not in ENCODINGS:
            raise ValidationError(f"input {self.name!r}: encoding must be one of {ENCODINGS}, got {self.encoding!r}")

    @property
    def size(self) -> int:
        return math.prod(map(int, self.shape))


@dataclass(frozen=True, eq=False)
class Population:
    """A group of integrate-and-fire neurons laid out as a feature map.

    Attributes
    ----------
    name : str
    shape : tuple of int
        ``(C, H, W)``; neurons = C·H·W.
    threshold : np.ndarray
        ``(R, C)`` firing threshold θ per channel, > 0. ``R`` = 1, or N for a block member (row n-1
        is used in iteration n).
    bias : np.ndarray
        ``(R, C)`` constant input current added every tick.
    decode_scale : np.ndarray
        ``(R, C)`` value represented by a rate of one spike per tick.
    v_init : float
        Initial membrane potential as a fraction of θ (0, or 0.5 to halve the rate quantization error).
    leak : float
        Fraction of ``v`` lost per tick; 0 for the IF neuron of rate-coded conversion.
    role : str
        ``"hidden"``, ``"state"`` (fed back by the iterative block), ``"pos"``/``"neg"`` halves of a
        signed pair are marked by ``pair``.
    pair : str or None
        Name of the partner population of a signed pair ``x = x⁺ − x⁻`` (``sign`` tells which half).
    sign : int
        +1 for x⁺ (or an unsigned population), −1 for x⁻.
    source : str
        The Keras layer(s) this population replaces (for reports and verification).
    threshold_map : np.ndarray or None
        ``(R, C, H, W)`` per-neuron θ (> 0) replacing ``threshold`` in the neuron update (a chip's
        realized thresholds, fixed-pattern mismatch); ``threshold`` stays the per-channel value that
        reports and decoding use. ``None``: every neuron of channel c uses ``threshold[:, c]``.
    bias_map : np.ndarray or None
        ``(R, C, H, W)`` per-neuron bias replacing ``bias`` in the neuron update.
    reset : str
        ``"subtract"`` (``v -= θ`` after a spike, rate coding's choice) or ``"zero"`` (``v = 0``).
    v_min, v_max : float or None
        Membrane saturation: after integration ``v`` is clipped to ``[v_min, v_max]`` (population
        units, ``v_min <= 0 < v_max``), before the threshold test; ``None`` = unbounded.
    """

    name: str
    shape: tuple[int, int, int]
    threshold: np.ndarray
    bias: np.ndarray
    decode_scale: np.ndarray
    v_init: float = 0.5
    leak: float = 0.0
    role: str = "hidden"
    pair: str | None = None
    sign: int = 1
    source: str = ""
    threshold_map: np.ndarray | None = None
    bias_map: np.ndarray | None = None
    reset: str = "subtract"
    v_min: float | None = None
    v_max: float | None = None

    def __post_init__(self):
        _check_name("population", self.name)
        shape = _int_tuple("population", self.name, "shape", self.shape, 3, 1)
        object.__setattr__(self, "shape", shape)
        c = shape[0]
        thr = np.asarray(self.threshold, dtype=np.float32)
        rows = thr.shape[0] if thr.ndim == 2 else 1
        for what in ("threshold", "bias", "decode_scale"):
            val = np.asarray(getattr(self, what), dtype=np.float32)
            if val.ndim == 0:
                val = np.full((rows, c), float(val), np.float32)
            elif val.ndim == 1:
                val = val[None]
            object.__setattr__(self, what, _as_float_array("population", self.name, what, val, (rows, c)))
        if np.any(self.threshold <= 0):
            bad = int(np.argmin(self.threshold.min(axis=0)))
            raise ValidationError(
                f"population {self.name!r}: threshold must be > 0, got {float(self.threshold.min()):g} in channel "
                f"{bad} (a sign change of a folded BatchNorm scale? see the conversion summary)")
        if not 0.0 <= self.v_init < 1.0:
            raise ValidationError(f"population {self.name!r}: v_init must be in [0, 1), got {self.v_init}")
        if not 0.0 <= self.leak < 1.0:
            raise ValidationError(f"population {self.name!r}: leak must be in [0, 1), got {self.leak}")
        if self.sign not in (1, -1):
            raise ValidationError(f"population {self.name!r}: sign must be +1 or -1, got {self.sign}")
        self._check_neuron_options()

    def _check_neuron_options(self) -> None:
        """Validate ``threshold_map``, ``bias_map``, ``reset``, ``v_min``, ``v_max`` (see the class docstring)."""
        full = (self.rows,) + self.shape
        for what in ("threshold_map", "bias_map"):
            val = getattr(self, what)
            if val is None:
                continue
            val = np.asarray(val, dtype=np.float32)
            if val.shape == self.shape and self.rows == 1:
                val = val[None]
            object.__setattr__(self, what, _as_float_array("population", self.name, what, val, full))
        if self.threshold_map is not None and np.any(self.threshold_map <= 0):
            raise ValidationError(f"population {self.name!r}: threshold_map must be > 0, got "
                                  f"{float(self.threshold_map.min()):g}")
        if self.reset not in RESETS:
            raise ValidationError(f"population {self.name!r}: reset must be one of {RESETS}, got {self.reset!r}")
        for what in ("v_min", "v_max"):
            val = getattr(self, what)
            if val is not None:
                val = float(val)
                if not math.isfinite(val):
                    raise ValidationError(f"population {self.name!r}: {what} must be finite or None, got {val}")
                object.__setattr__(self, what, val)
        if self.v_min is not None and self.v_min > 0:
            raise ValidationError(f"population {self.name!r}: v_min must be <= 0, got {self.v_min:g}")
        if self.v_max is not None and self.v_max <= 0:
            raise ValidationError(f"population {self.name!r}: v_max must be > 0, got {self.v_max:g}")

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        """Number of neurons."""
        return math.prod(map(int, self.shape))

    @property
    def rows(self) -> int:
        """Rows of the parameter tables: 1, or the iteration count for a block member."""
        return int(self.threshold.shape[0])

    def params(self, iteration: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(threshold, bias, decode_scale)``, each ``(C,)``, for 1-based ``iteration``."""
        row = 0 if self.rows == 1 or iteration is None else iteration - 1
        if not 0 <= row < self.rows:
            raise ValidationError(f"population {self.name!r}: no parameter row for iteration {iteration}")
        return self.threshold[row], self.bias[row], self.decode_scale[row]

    def neuron_params(self, iteration: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(threshold, bias)`` per neuron, each ``(C, H, W)`` float32, for 1-based ``iteration``:
        the maps where set, else the per-channel values broadcast over the feature map."""
        thr, bias, _ = self.params(iteration)
        row = 0 if self.rows == 1 or iteration is None else iteration - 1
        c = self.channels
        theta = (np.broadcast_to(thr.reshape(c, 1, 1), self.shape) if self.threshold_map is None
                 else self.threshold_map[row])
        b = np.broadcast_to(bias.reshape(c, 1, 1), self.shape) if self.bias_map is None else self.bias_map[row]
        return np.array(theta, np.float32), np.array(b, np.float32)

    @property
    def ideal_neuron(self) -> bool:
        """The non-leaky IF neuron with reset by subtraction and no saturation (DESIGN.md §5)."""
        return self.leak == 0.0 and self.reset == "subtract" and self.v_min is None and self.v_max is None

    def with_rows(self, row: int, name: str) -> "Population":
        """A copy with only parameter row ``row`` (0-based), renamed: used by :meth:`Network.unroll`."""
        def rows(a):
            return None if a is None else a[row:row + 1]

        return dataclasses.replace(self, name=name, threshold=rows(self.threshold), bias=rows(self.bias),
                                   decode_scale=rows(self.decode_scale), threshold_map=rows(self.threshold_map),
                                   bias_map=rows(self.bias_map),
                                   pair=None if self.pair is None else f"{self.pair}@{row + 1}")


@dataclass(frozen=True, eq=False)
class Connection:
    """Weighted synapses from ``pre`` (a population or the input) to ``post`` (a population).

    Attributes
    ----------
    name, pre, post : str
    op : str
        One of :data:`OPS`; the ``weight`` axis order depends on it (see :data:`OPS`).
    weight : np.ndarray
        Synaptic weights, in units of the post neuron's input current per presynaptic spike.
    stride : tuple of int
        ``(sh, sw)`` for conv2d / depthwise / avgpool.
    padding : tuple of int
        ``(top, bottom, left, right)`` zero padding for conv2d / depthwise / avgpool.
    kernel : tuple of int
        ``(kH, kW)``: for conv ops taken from ``weight``; for avgpool the window.
    groups : int
        Channel groups of conv2d (depthwise has ``groups = C_in``).
    mode : str
        Resampling of a ``resize`` connection (``"bilinear"`` with TensorFlow 2's half-pixel
        centres, or ``"nearest"``).
    post_offset : int
        This connection drives channels ``[post_offset, post_offset + C_out)`` of ``post``: how
        concatenation is expressed.
    delay : int
        Synaptic delay in ticks (>= 1); one tick per connection makes latency equal depth.
    iterations : tuple of int or None
        1-based iterations of the block in which this connection exists; ``None``: all.
    feedback : bool
        Between two block members: ``pre`` of iteration n-1 drives ``post`` of iteration n.
    index : np.ndarray or None
        ``(2, nnz)`` int64, only for ops that carry one (``sparse``): row 0 the flat ``(C, H, W)``
        index into ``post`` (``c·H·W + h·W + w``), row 1 into ``pre``; ``weight`` is ``(nnz,)``.
    """

    name: str
    pre: str
    post: str
    op: str
    weight: np.ndarray
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)
    kernel: tuple[int, int] = (1, 1)
    groups: int = 1
    mode: str = "bilinear"
    post_offset: int = 0
    delay: int = 1
    iterations: tuple[int, ...] | None = None
    feedback: bool = False
    index: np.ndarray | None = None  # 2 × nnz int64 (op "sparse"): flat post index, flat pre index

    def __post_init__(self):
        _check_name("connection", self.name)
        if self.op not in OP_TABLE:
            raise ValidationError(f"connection {self.name!r}: op must be one of {sorted(OP_TABLE)}, got {self.op!r}")
        op = OP_TABLE[self.op]
        w = _as_float_array("connection", self.name, "weight", self.weight)
        if w.ndim != op.weight_ndim:
            raise ValidationError(f"connection {self.name!r}: {self.op} weight must be {op.layout} "
                                  f"({op.weight_ndim}-D), got shape {w.shape}")
        object.__setattr__(self, "weight", w)
        self._set_index(op)
        object.__setattr__(self, "stride", _int_tuple("connection", self.name, "stride", self.stride, 2, 1))
        object.__setattr__(self, "padding", _int_tuple("connection", self.name, "padding", self.padding, 4, 0))
        kernel = tuple(w.shape[2:]) if op.kernel_from_weight else self.kernel
        object.__setattr__(self, "kernel", _int_tuple("connection", self.name, "kernel", kernel, 2, 1))
        if self.groups < 1:
            raise ValidationError(f"connection {self.name!r}: groups must be >= 1, got {self.groups}")
        if self.mode not in RESIZE_MODES:
            raise ValidationError(f"connection {self.name!r}: mode must be one of {RESIZE_MODES}, got {self.mode!r}")
        if self.delay < 1:
            raise ValidationError(f"connection {self.name!r}: delay must be >= 1 tick, got {self.delay}")
        if self.post_offset < 0:
            raise ValidationError(f"connection {self.name!r}: post_offset must be >= 0, got {self.post_offset}")
        if self.iterations is not None:
            its = tuple(sorted(int(i) for i in self.iterations))
            if not its or its[0] < 1:
                raise ValidationError(f"connection {self.name!r}: iterations must be 1-based, got {self.iterations}")
            object.__setattr__(self, "iterations", its)
        why = op.validate(self)
        if why:
            raise ValidationError(f"connection {self.name!r} ({self.op}): {why}")

    def _set_index(self, op) -> None:
        if self.index is None and not op.uses_index:
            return
        if not op.uses_index:
            raise ValidationError(f"connection {self.name!r}: op {self.op!r} takes no index (only "
                                  f"{sorted(n for n, o in OP_TABLE.items() if o.uses_index)} do)")
        if self.index is None:
            raise ValidationError(f"connection {self.name!r}: op {self.op!r} needs an index (2 × nnz integers)")
        idx = np.asarray(self.index)
        if idx.dtype.kind not in "iu" and idx.size:
            raise ValidationError(f"connection {self.name!r}: index must be integer, got dtype {idx.dtype}")
        if idx.dtype != np.int64 or idx.flags.writeable:  # frozen int64 arrays are shared, not copied
            idx = np.array(idx, dtype=np.int64, copy=True)
            idx.setflags(write=False)
        object.__setattr__(self, "index", idx)

    @property
    def out_channels(self) -> int:
        """Channels of ``post`` this connection drives (from ``post_offset`` on; see the op table)."""
        return op_spec(self.op).out_channels(self, None)

    def active_in(self, iteration: int) -> bool:
        return self.iterations is None or iteration in self.iterations

    def fan_in(self, pre_channels: int) -> int:
        """Synapses onto one post neuron from this connection (ignoring the zero padding at borders)."""
        return int(op_spec(self.op).fan_in(self, pre_channels))


@dataclass(frozen=True, eq=False)
class ReadoutTerm:
    """One population's contribution to a readout: ``W @ decoded(population)`` per pixel.

    Attributes
    ----------
    population : str
    weight : np.ndarray
        ``K × C_pop``: a 1×1 convolution (or, with ``pool="global_avg"``, a dense layer on the
        spatial mean) applied to the population's decoded values.
    pool : str or None
        ``None`` (per pixel) or ``"global_avg"`` (mean over H × W first).
    """

    population: str
    weight: np.ndarray
    pool: str | None = None

    def __post_init__(self):
        w = _as_float_array("readout term", self.population, "weight", self.weight)
        if w.ndim != 2:
            raise ValidationError(f"readout term {self.population!r}: weight must be K × C_pop, got {w.shape}")
        object.__setattr__(self, "weight", w)
        if self.pool not in (None, "global_avg"):
            raise ValidationError(f"readout term {self.population!r}: pool must be None or 'global_avg'")


@dataclass(frozen=True, eq=False)
class Readout:
    """A network output decoded from spike counts: ``logits = Σ_terms W·decoded + bias``, then resized.

    Linear, so it commutes with averaging over ticks: it can accumulate at its own resolution and
    up-sample the decoded logits afterwards (no spiking computation is replaced by it).

    Attributes
    ----------
    name : str
    index : int
        Output index (0-based) in the source model's output order.
    iteration : int or None
        1-based block iteration the terms are read from (``None`` for populations outside the block).
    terms : tuple of ReadoutTerm
    bias : np.ndarray
        ``(K,)``.
    out_size : tuple of int or None
        ``(H, W)`` the decoded logits are resized to (bilinear), e.g. the 8× up-sampling of an ItNet
        classification block; ``None`` keeps the population's size.
    """

    name: str
    index: int
    terms: tuple[ReadoutTerm, ...]
    bias: np.ndarray
    iteration: int | None = None
    out_size: tuple[int, int] | None = None

    def __post_init__(self):
        _check_name("readout", self.name)
        if not self.terms:
            raise ValidationError(f"readout {self.name!r}: needs at least one term")
        object.__setattr__(self, "terms", tuple(self.terms))
        k = self.terms[0].weight.shape[0]
        if any(t.weight.shape[0] != k for t in self.terms):
            raise ValidationError(f"readout {self.name!r}: all terms must produce the same {k} outputs")
        object.__setattr__(self, "bias", _as_float_array("readout", self.name, "bias", self.bias, (k,)))
        if self.out_size is not None:
            object.__setattr__(self, "out_size", _int_tuple("readout", self.name, "out_size", self.out_size, 2, 1))

    @property
    def classes(self) -> int:
        return int(self.bias.shape[0])


@dataclass(frozen=True)
class IterativeBlock:
    """The shared iterative block: populations that exist once and run ``iterations`` times.

    Attributes
    ----------
    name : str
    iterations : int
        N; members' parameter tables have N rows.
    populations : tuple of str
        Member populations (weights between them are shared by every iteration).
    state : tuple of str
        Members whose spikes are fed back to the next iteration (the looped schedule's state buffer).
    """

    name: str
    iterations: int
    populations: tuple[str, ...]
    state: tuple[str, ...] = ()

    def __post_init__(self):
        _check_name("block", self.name)
        if self.iterations < 1:
            raise ValidationError(f"block {self.name!r}: iterations must be >= 1, got {self.iterations}")
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "state", tuple(self.state))
        missing = set(self.state) - set(self.populations)
        if missing:
            raise ValidationError(f"block {self.name!r}: state populations {sorted(missing)} are not block members")


@dataclass(frozen=True, eq=False)
class Network:
    """The whole spiking network: input, populations (in topological order), connections, readouts.

    Validated on construction: names are unique, every connection's ``pre``/``post`` exists, every
    weight's shape agrees with the shapes it connects, block members carry N parameter rows.
    """

    name: str
    input: InputSpec
    populations: tuple[Population, ...]
    connections: tuple[Connection, ...]
    readouts: tuple[Readout, ...]
    block: IterativeBlock | None = None
    metadata: Mapping = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "populations", tuple(self.populations))
        object.__setattr__(self, "connections", tuple(self.connections))
        object.__setattr__(self, "readouts", tuple(sorted(self.readouts, key=lambda r: r.index)))
        try:
            json.dumps(dict(self.metadata))
        except TypeError as exc:
            raise ValidationError(f"network {self.name!r}: metadata must be JSON-serializable ({exc})") from exc
        object.__setattr__(self, "metadata", dict(self.metadata))
        self._validate()

    # ----------------------------------------------------------------- lookup
    @property
    def pop_index(self) -> dict[str, Population]:
        """Name → population, built once per network (``population()`` and ``shape_of()`` are called per
        connection: rebuilding it each time was a third of the fast simulator's set-up, issue 17)."""
        index = self.__dict__.get("_pop_index")
        if index is None:
            index = {p.name: p for p in self.populations}
            object.__setattr__(self, "_pop_index", index)
        return index

    def population(self, name: str) -> Population:
        try:
            return self.pop_index[name]
        except KeyError:
            raise ValidationError(f"network {self.name!r}: no population {name!r}") from None

    def shape_of(self, name: str) -> tuple[int, int, int]:
        """Shape of a population or of the input."""
        if name == self.input.name:
            return self.input.shape
        return self.population(name).shape

    def incoming(self, post: str) -> list[Connection]:
        return [c for c in self.connections if c.post == post]

    def outgoing(self, pre: str) -> list[Connection]:
        return [c for c in self.connections if c.pre == pre]

    def out_channels(self, conn: Connection) -> int:
        """Channels of ``conn.post`` that ``conn`` drives, from ``conn.post_offset`` on (the op table's
        ``out_channels``, which may need the post shape: a ``sparse`` connection drives all of ``post``,
        and its :attr:`Connection.out_channels` refuses, pointing here)."""
        return int(op_spec(conn.op).out_channels(conn, self.shape_of(conn.post)))

    def in_block(self, name: str) -> bool:
        return self.block is not None and name in self.block.populations

    # ----------------------------------------------------------------- counts
    @property
    def n_neurons(self) -> int:
        return sum(p.size for p in self.populations)

    def synapses(self, conn: Connection) -> int:
        """Number of nonzero-structure synapses of one connection (border padding excluded)."""
        return int(op_spec(conn.op).synapses(conn, self.shape_of(conn.pre), self.shape_of(conn.post)))

    @property
    def n_synapses(self) -> int:
        return sum(self.synapses(c) for c in self.connections)

    # ------------------------------------------------------------- validation
    def _validate(self) -> None:
        names = [self.input.name] + [p.name for p in self.populations]
        seen: set[str] = set()
        for n in names:
            if n in seen:
                raise ValidationError(f"network {self.name!r}: duplicate population name {n!r}")
            seen.add(n)
        for kind, items in (("connection", self.connections), ("readout", self.readouts)):
            dup = _first_duplicate(i.name for i in items)
            if dup is not None:
                raise ValidationError(f"network {self.name!r}: duplicate {kind} name {dup!r}")
        pops = self.pop_index
        order = {n: i for i, n in enumerate(names)}
        block_members = set(self.block.populations) if self.block else set()
        if self.block is not None:
            unknown = block_members - set(pops)
            if unknown:
                raise ValidationError(f"block {self.block.name!r}: unknown populations {sorted(unknown)}")
        for p in self.populations:
            want = self.block.iterations if p.name in block_members else 1
            if p.rows != want:
                raise ValidationError(f"population {p.name!r}: parameter tables have {p.rows} rows, expected {want} "
                                      f"({'block member' if want > 1 else 'outside the iterative block'})")
            if p.pair is not None and p.pair not in pops:
                raise ValidationError(f"population {p.name!r}: pair partner {p.pair!r} does not exist")
        driven: dict[str, np.ndarray] = {p.name: np.zeros(p.channels, bool) for p in self.populations}
        for c in self.connections:
            if c.pre not in order:
                raise ValidationError(f"connection {c.name!r}: pre {c.pre!r} does not exist")
            if c.post not in pops:
                raise ValidationError(f"connection {c.name!r}: post {c.post!r} is not a population")
            if c.feedback:
                if not (c.pre in block_members and c.post in block_members):
                    raise ValidationError(f"connection {c.name!r}: feedback connections must join two block members")
            elif order[c.pre] >= order[c.post]:
                raise ValidationError(f"connection {c.name!r}: {c.pre!r} must come before {c.post!r} "
                                      "(populations are stored in topological order)")
            if c.pre in block_members and c.post not in block_members:
                raise ValidationError(f"connection {c.name!r}: block member {c.pre!r} may only feed block members "
                                      "or readouts")
            if c.iterations is not None and self.block is not None and c.iterations[-1] > self.block.iterations:
                raise ValidationError(f"connection {c.name!r}: iteration {c.iterations[-1]} > block iterations "
                                      f"{self.block.iterations}")
            self._check_shapes(c)
            driven[c.post][c.post_offset:c.post_offset + self.out_channels(c)] = True
        for r in self.readouts:
            for t in r.terms:
                if t.population not in pops:
                    raise ValidationError(f"readout {r.name!r}: population {t.population!r} does not exist")
                if t.weight.shape[1] != pops[t.population].channels:
                    raise ValidationError(f"readout {r.name!r}: term weight for {t.population!r} has "
                                          f"{t.weight.shape[1]} input channels, population has "
                                          f"{pops[t.population].channels}")
            if r.iteration is not None and (self.block is None or not 1 <= r.iteration <= self.block.iterations):
                raise ValidationError(f"readout {r.name!r}: iteration {r.iteration} is outside the iterative block")

    def _check_shapes(self, c: Connection) -> None:
        pre, post = self.shape_of(c.pre), self.shape_of(c.post)
        why, c_out = None, self.out_channels(c)
        if c.post_offset + c_out > post[0]:
            why = f"drives channels [{c.post_offset}, {c.post_offset + c_out}) of {post[0]}"
        why = why or op_spec(c.op).check(c, pre, post)
        if why:
            raise ValidationError(f"connection {c.name!r} ({c.op}, {c.pre} {pre} → {c.post} {post}): {why}")

    # -------------------------------------------------------------- transforms
    def unroll(self) -> "Network":
        """The same network with the iterative block copied once per iteration (names ``pop@n``).

        Copy ``n`` gets parameter row ``n-1``; a feedback connection joins copy ``n-1`` to copy ``n``;
        a connection into the block exists in the copies its ``iterations`` name. The result has no
        block and every population one parameter row: what the ``unrolled`` schedule and the
        reference simulators run.
        """
        if self.block is None:
            return self
        n_it = self.block.iterations
        members = set(self.block.populations)
        pops: list[Population] = []
        block_pops = [p for p in self.populations if p.name in members]
        for p in self.populations:
            if p.name not in members:
                pops.append(p)
        for n in range(1, n_it + 1):
            pops.extend(p.with_rows(n - 1, f"{p.name}@{n}") for p in block_pops)
        conns: list[Connection] = []
        for c in self.connections:
            pre_in, post_in = c.pre in members, c.post in members
            if not post_in:
                conns.append(c)
                continue
            for n in range(1, n_it + 1):
                if not c.active_in(n):
                    continue
                if c.feedback:
                    if n == 1:
                        continue
                    pre = f"{c.pre}@{n - 1}"
                else:
                    pre = f"{c.pre}@{n}" if pre_in else c.pre
                conns.append(dataclasses.replace(c, name=f"{c.name}@{n}", pre=pre, post=f"{c.post}@{n}",
                                                 iterations=None, feedback=False))
        readouts = []
        for r in self.readouts:
            if r.iteration is None:
                readouts.append(r)
                continue
            terms = tuple(dataclasses.replace(t, population=f"{t.population}@{r.iteration}") if t.population in members
                          else t for t in r.terms)
            readouts.append(dataclasses.replace(r, terms=terms, iteration=None))
        meta = dict(self.metadata)
        meta["unrolled_from_block"] = {"name": self.block.name, "iterations": n_it}
        # Copies of iteration n only depend on copies <= n and on non-members, so this order is topological.
        return Network(name=self.name, input=self.input, populations=tuple(pops), connections=tuple(conns),
                       readouts=tuple(readouts), block=None, metadata=meta)

    def depth(self) -> dict[str, int]:
        """Depth of every population of the unrolled network: the longest delay path from the input (which
        emits at tick 0), i.e. the tick by which input has arrived along *every* path — the paper's
        latency (§2.3). Input can first arrive earlier, along the shortest path
        (:func:`mapping.schedule.arrival_ticks` with ``longest=False``). 0 where no path leads."""
        depth = {self.input.name: 0}
        net = self.unroll()
        for p in net.populations:
            incoming = [depth[c.pre] + c.delay for c in net.incoming(p.name) if c.pre in depth]
            depth[p.name] = max(incoming) if incoming else 0
        return depth

    def summary(self) -> str:
        """A short human-readable description (populations, neurons, synapses, block)."""
        lines = [f"network {self.name}: input {self.input.shape} ({self.input.encoding}), "
                 f"{len(self.populations)} populations, {self.n_neurons:,} neurons, "
                 f"{len(self.connections)} connections, {self.n_synapses:,} synapses, "
                 f"{len(self.readouts)} readouts"]
        if self.block is not None:
            table = sum(p.threshold.size + p.bias.size for p in self.populations if self.in_block(p.name))
            lines.append(f"iterative block {self.block.name!r}: {len(self.block.populations)} populations shared by "
                         f"{self.block.iterations} iterations; per-iteration tables {table:,} values")
        return "\n".join(lines)


def _first_duplicate(names: Iterable[str]) -> str | None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            return n
        seen.add(n)
    return None
