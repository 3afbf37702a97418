r"""The paper's footprint metrics (§2.3) of an ItNet, computed from its config alone (no TensorFlow).

For every output n = 1..N (0-based lists):

* **MACs**: multiply-accumulates of every conv call needed to produce outputs 1..n (data block,
  iterations 1..n, classifiers 1..n; a conv costs H_out·W_out·C_out·C_in·k², a depthwise conv
  H_out·W_out·C·k²; biases, BN, activations, pooling, resizing and up-sampling are not counted).
* **graph size** (bytes): Σ over the conv *layers* of the graph up to output n of
  (parameters + input feature map + output feature map) · 4 bytes (float32). A shared layer is one
  node of the graph with a self-loop, so it is counted once however often it is called (§2.3, §3.3);
  in independent mode every iteration adds its own layers. Other layers are assumed fused (§2.3).
* **depth**: the longest path from the input to output n counted in conv layers (the latency on
  fully parallel hardware, §1, §2.3).
* **params**: all parameters of the Keras model (``model.count_params()``: conv weights and biases,
  BN γ, β, moving mean and variance, clip-floor-shift thresholds); ``params_conv`` conv only.
* **state**: bytes of the iterative block's state, Σ_l H_l·W_l·f · 4.
* **normalized AUC** of mIoU over MACs (§2.3):

  .. math:: AUC = \frac{1}{x_N}\sum_{n=0}^{N-1} (x_{n+1}-x_n)\,\frac{(y_{n+1}-y_0)+(y_n-y_0)}{2},
            \quad (x_0, y_0) = (0, 0.00828)

  with x_n the MACs and y_n the mIoU (fraction) of output n; y_0 is CamVid's chance level.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from itnet_neuro.model.build import describe_blocks
from itnet_neuro.model.config import ItNetConfig

BYTES_PER_VALUE = 4  # float32
#: mIoU at chance level on CamVid (§2.3), y_0 of the AUC.
CHANCE_MIOU_CAMVID = 0.00828


@dataclass(frozen=True)
class ConvCall:
    """One call of a conv layer in the unrolled graph (a shared layer has N calls)."""

    layer: str  # Keras layer name
    kind: str  # 'conv' | 'depthwise'
    kernel: int
    stride: int
    cin: int
    cout: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    bias: bool
    output: int  # first output (1-based) that needs this call; 0 never happens (data block → 1)
    depth: int  # conv layers on the longest path from the input up to and including this call

    @property
    def macs(self) -> int:
        per_pixel = self.kernel ** 2 * self.cin * (1 if self.kind == "depthwise" else self.cout)
        return self.out_hw[0] * self.out_hw[1] * per_pixel

    @property
    def params(self) -> int:
        if self.kind == "depthwise":
            return self.kernel ** 2 * self.cin + (self.cin if self.bias else 0)
        return self.kernel ** 2 * self.cin * self.cout + (self.cout if self.bias else 0)

    @property
    def input_values(self) -> int:
        return self.in_hw[0] * self.in_hw[1] * self.cin

    @property
    def output_values(self) -> int:
        return self.out_hw[0] * self.out_hw[1] * self.cout


@dataclass
class _Plan:
    calls: list[ConvCall] = field(default_factory=list)
    other_params: int = 0  # BN (4 per channel) and clip-floor-shift thresholds (1 per layer)
    depth_per_output: list[int] = field(default_factory=list)


def conv_calls(config: ItNetConfig) -> _Plan:
    """Every conv call of the ItNet of ``config`` with shapes and depth, mirroring ``build_itnet``."""
    names = describe_blocks(config)
    f, fr, t, L = config.width, config.reduced_width, config.expansion, config.scales
    cfs = config.activation == "clip_floor_shift"
    plan = _Plan()
    seen_act: set[str] = set()

    def act(name: str) -> None:
        if cfs and name not in seen_act:
            plan.other_params += 1
        seen_act.add(name)

    def call(layer, kind, k, s, cin, cout, in_hw, out_hw, bias, output, depth_in) -> int:
        plan.calls.append(ConvCall(layer, kind, k, s, cin, cout, tuple(in_hw), tuple(out_hw), bias, output,
                                   depth_in + 1))
        return depth_in + 1

    # data block: needed by output 1
    hw, c, depth = (config.input_height, config.input_width), config.input_channels, 0
    for d, out_hw in zip(names["data"]["down"], config.stage_sizes()):
        dc = call(d["conv"], "conv", 3, 2, c, fr, hw, out_hw, False, 1, depth)
        plan.other_params += 4 * fr
        act(d["act"])
        depth = max(dc, depth)  # concat with the pooled input (depth unchanged on that branch)
        hw, c = out_hw, fr + c
    sizes = config.scale_sizes()
    state_depth, state_c = [], []
    for d, out_hw in zip(names["data"]["scales"], sizes):
        depth = call(d["conv"], "conv", 3, 2, c, f, hw, out_hw, False, 1, depth)
        plan.other_params += 4 * f
        act(d["act"])
        hw, c = out_hw, f
        state_depth.append(depth)

    for it, cls in zip(names["iterative"], names["classifier"]):
        n = it["n"]
        new_depth = [0] * L
        for l in it["scales"]:
            hw = sizes[l - 1]
            d = state_depth[l - 1]
            mix = it["mix"][l - 1]
            if mix is not None:
                dz = max(state_depth)
                dz = call(mix["conv1"], "conv", 3, 1, L * f, f, hw, hw, True, n, dz)
                act(mix["act"])
                dz = call(mix["conv2"], "conv", 3, 1, f, f, hw, hw, True, n, dz)
                d = max(d, dz)
            for b in it["brb"][l - 1]:
                dz = call(b["expand"], "conv", 1, 1, f, t * fr, hw, hw, True, n, d)
                act(b["expand_act"])
                dz = call(b["dw"], "depthwise", 3, 1, t * fr, t * fr, hw, hw, True, n, dz)
                act(b["dw_act"])
                dz = call(b["project"], "conv", 1, 1, t * fr, f, hw, hw, True, n, dz)
                d = max(d, dz)
            plan.other_params += 4 * f  # it_bn_s{l}_n{n}, never shared
            new_depth[l - 1] = d
        state_depth = new_depth
        dc = call(cls["conv"], "conv", 1, 1, f, config.num_classes, sizes[0], sizes[0], True, n, state_depth[0])
        plan.depth_per_output.append(dc)
    return plan


def normalized_auc(mious: Sequence[float], macs: Sequence[float], y0: float = CHANCE_MIOU_CAMVID) -> float:
    """Normalized area under mIoU(MACs) of §2.3 (trapezoids from (0, y0), divided by x_N).

    Parameters
    ----------
    mious : sequence of float
        y_1..y_N, mIoU of each output as a fraction in [0, 1].
    macs : sequence of float
        x_1..x_N, MACs of each output (increasing).
    """
    if len(mious) != len(macs) or not len(macs):
        raise ValueError(f"normalized_auc: need as many mIoUs ({len(mious)}) as MACs ({len(macs)}), >= 1")
    xs = [0.0] + [float(x) for x in macs]
    ys = [y0] + [float(y) for y in mious]
    auc = sum((xs[i + 1] - xs[i]) * ((ys[i + 1] - y0) + (ys[i] - y0)) / 2 for i in range(len(xs) - 1))
    return auc / xs[-1]


def footprint(config: ItNetConfig, mious: Sequence[float] | None = None) -> dict[str, Any]:
    """All footprint metrics of ``config`` (paper §2.3) as a JSON-serializable dict.

    Keys: ``macs_per_output``, ``params``, ``params_conv``, ``graph_bytes`` (whole graph, all outputs),
    ``graph_bytes_per_output``, ``depth_per_output``, ``state_bytes``, ``conv_layers`` (unique),
    ``conv_calls``; with ``mious`` (one per output, fractions) also ``miou_per_output`` and
    ``normalized_auc``.
    """
    plan = conv_calls(config)
    N = config.iterations
    macs = [0] * (N + 1)
    for c in plan.calls:
        macs[c.output] += c.macs
    cum = list(_cumsum(macs[1:]))
    # graph: a layer enters the graph with its first call (shared layers: once)
    first: dict[str, ConvCall] = {}
    for c in plan.calls:
        first.setdefault(c.layer, c)
    graph = [0] * (N + 1)
    for c in first.values():
        graph[c.output] += (c.params + c.input_values + c.output_values) * BYTES_PER_VALUE
    graph_cum = list(_cumsum(graph[1:]))
    params_conv = sum(c.params for c in first.values())
    state = sum(h * w for h, w in config.scale_sizes()) * config.width * BYTES_PER_VALUE
    out: dict[str, Any] = {
        "macs_per_output": cum,
        "params": params_conv + plan.other_params,
        "params_conv": params_conv,
        "graph_bytes": graph_cum[-1],
        "graph_bytes_per_output": graph_cum,
        "depth_per_output": list(plan.depth_per_output),
        "state_bytes": state,
        "conv_layers": len(first),
        "conv_calls": len(plan.calls),
    }
    if mious is not None:
        mious = [float(m) for m in mious]
        out["miou_per_output"] = mious
        out["normalized_auc"] = normalized_auc(mious, cum)
    return out


def _cumsum(xs):
    total = 0
    for x in xs:
        total += x
        yield total


def compare_with_paper(name: str, fp: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Rows (quantity, ours, paper, ratio) comparing ``fp`` of preset ``name`` with the paper."""
    from itnet_neuro.model.presets import PAPER_FIGURES

    paper = PAPER_FIGURES.get(name)
    if paper is None:
        return []
    rows = []
    macs = fp["macs_per_output"]

    def ratio(a, b):
        return f"{a / b:.2f}" if b else "-"

    if paper.get("macs"):
        # the output whose MACs are closest to the paper's figure, and the last one
        n = min(range(len(macs)), key=lambda i: abs(macs[i] - paper["macs"]))
        if n != len(macs) - 1:
            rows.append((f"MACs (output {n + 1}, closest)", f"{macs[n] / 1e9:.2f} G",
                         f"{paper['macs'] / 1e9:.1f} G", ratio(macs[n], paper["macs"])))
        rows.append(("MACs (last output)", f"{macs[-1] / 1e9:.2f} G", f"{paper['macs'] / 1e9:.1f} G",
                     ratio(macs[-1], paper["macs"])))
    if paper.get("macs_bound_last"):
        rows.append(("MACs bound, last output", f"{macs[-1] / 1e9:.2f} G",
                     f"< {paper['macs_bound_last'] / 1e9:.1f} G", ratio(macs[-1], paper["macs_bound_last"])))
    if paper.get("graph_bytes"):
        rows.append(("graph size (all outputs)", f"{fp['graph_bytes'] / 1e6:.0f} MB",
                     f"{paper['graph_bytes'] / 1e6:.0f} MB", ratio(fp["graph_bytes"], paper["graph_bytes"])))
    if paper.get("state_bytes"):
        rows.append(("state", f"{fp['state_bytes'] / 1e6:.2f} MB", f"{paper['state_bytes'] / 1e6:.1f} MB",
                     ratio(fp["state_bytes"], paper["state_bytes"])))
    return rows


def keras_macs(model) -> int:
    """MACs of every Conv2D/DepthwiseConv2D call of a built Keras model, from its node shapes.

    Independent of the config: the cross-check of :func:`footprint` (tests compare both).
    """
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    total = 0
    for layer in model.layers:
        if not isinstance(layer, (tf.keras.layers.Conv2D, tf.keras.layers.DepthwiseConv2D)):
            continue
        kh, kw = layer.kernel_size
        for node in layer.inbound_nodes:
            in_shape = node.input_shapes
            out_shape = node.output_shapes
            cin = int(in_shape[-1])
            h, w, cout = (int(v) for v in out_shape[1:])
            if isinstance(layer, tf.keras.layers.DepthwiseConv2D):
                total += h * w * cin * kh * kw
            else:
                total += h * w * cout * cin * kh * kw
    return total


__all__ = ["footprint", "conv_calls", "normalized_auc", "compare_with_paper", "keras_macs", "ConvCall",
           "CHANCE_MIOU_CAMVID"]
