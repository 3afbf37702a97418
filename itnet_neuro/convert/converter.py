"""Keras functional CNN (ItNet or generic) → spiking IR (:class:`itnet_neuro.ir.Network`).

Pipeline
--------
1. Safe loading (:mod:`~itnet_neuro.convert.safe_load`), then a functional copy whose node indices
   follow its config (:func:`~itnet_neuro.convert.graph.functional_copy`).
2. One forward pass on the calibration images records every node's activation.
3. Node by node (topological order) the registered converter of each layer type
   (:mod:`~itnet_neuro.convert.layers`) turns inputs into an :class:`~itnet_neuro.convert.expr.Expr`.
   Activations (ReLU, ReLU6, clip-floor-shift) become IF populations with reset by subtraction.
   Linear layers fold into the expressions (exact) while that keeps one IR connection per
   presynaptic population; a linear value is *materialized* as a population (non-negative) or a signed
   pair ``x = x⁺ − x⁻`` (two IF populations, ``x⁺ = relu(x)``, ``x⁻ = relu(−x)``) when
   (a) its consumer cannot fold it (e.g. a convolution of a convolution), or
   (b) several layers consume it and it is not already a plain population — folding it into each of
   them would multiply the fan-in (the ItNet's fed-back state: every iteration would add terms).
4. Normalization (Rueckauer et al. 2017): the decode scale λ of each population is the ``percentile``
   of its positive calibration activations (per channel or per layer); a clipped ReLU (ReLU6) sets it to its clip (a clipped neuron), the
   clip-floor-shift layer fixes it to its trained λ. Weights become ``W·λ_pre`` (spike units),
   thresholds ``θ = λ / |s|`` with ``s`` the folded BatchNorm scale after the weights.
5. ItNet in shared mode (from the stored ``itnet_config``): the unrolled per-iteration populations
   of each role merge into one block member with N-row tables; connections whose spike-unit weights
   agree across iterations exist once; where they differ (sign of a folded BN scale) one copy per
   group of iterations is kept and reported.

The steady-state rate of a population is ``r = clip((Σ W·r_pre + bias) / θ, 0, 1)`` and its decoded
value ``r·λ`` equals the Keras activation up to clipping at λ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from itnet_neuro.convert.expr import Expr, Part, Term, flatten_parts, single
from itnet_neuro.convert.graph import Node, build_graph, functional_copy, node_tensors
from itnet_neuro.errors import ConversionError, UnsupportedLayerError
from itnet_neuro.ir.graph import (Connection, InputSpec, IterativeBlock, Network, Population, Readout,
                                  ReadoutTerm)

INPUT = "__input__"


@dataclass(eq=False)
class PopRec:
    """A population of the unrolled network, before normalization."""

    name: str
    iteration: int | None
    shape: tuple
    terms: list[Term]           # offsets relative to this population
    bias: np.ndarray            # (C,) value units, before scale
    scale: np.ndarray           # (C,) signed: value = scale ⊙ (Σ terms + bias); the population holds relu(value)
    values: np.ndarray          # calibration activations this population stands for (N, H, W, C), >= 0
    kind: str = "relu"          # "relu" | "cfs"
    cap: float | None = None    # ReLU6 / clip-floor-shift λ
    levels: int = 0
    role: str = "hidden"
    pair: str | None = None
    sign: int = 1
    source: str = ""            # Keras node id
    node: str = ""              # Keras node whose activation `values` is (for verification)
    values_sign: int = 1        # the population holds relu(values_sign · activation(node)[channels])
    channels: tuple = (0, 0)    # channel range of node's activation
    decode: np.ndarray | None = None  # λ, set by normalization


@dataclass
class ConversionOptions:
    percentile: float = 99.99
    per_channel: bool = True
    v_init: float = 0.5


class Converter:
    """Holds the conversion state; one instance per conversion (see :func:`convert_model`)."""

    def __init__(self, model, config, images: np.ndarray, options: ConversionOptions, input_scale: float,
                 input_offset: float):
        self.options = options
        self.itnet = config
        self.model = functional_copy(model)
        self.nodes, self.outputs = build_graph(self.model)
        self.by_id: dict[str, Node] = {n.id: n for n in self.nodes}
        self.input_scale, self.input_offset = input_scale, input_offset
        self.images = images
        self.notes: list[str] = []
        self.softmax_nodes: set[str] = set()  # layers whose built-in softmax the readout leaves out
        self.materialized: list[dict] = []
        self.folded: list[str] = []
        self.recs: list[PopRec] = []
        self._names: set[tuple[str, int | None]] = set()
        self._iter_of, self._key_of, self._block_nodes = self._block_layout()
        self.acts = self._activations(images)
        self.values: dict[str, Expr] = {}
        self.input_node: Node | None = None

    # ------------------------------------------------------------------ ItNet knowledge
    def _block_layout(self):
        """Iteration of each Keras node of the ItNet's iterative block (from the stored config)."""
        iters: dict[str, int] = {}
        keys: dict[str, str] = {}
        block: set[str] = set()
        if self.itnet is None:
            return iters, keys, block
        from itnet_neuro.model.build import describe_blocks

        desc = describe_blocks(self.itnet)
        calls: dict[str, list[int]] = {}

        def walk(obj, n):
            if isinstance(obj, str):
                calls.setdefault(obj, []).append(n)
            elif isinstance(obj, dict):
                for k, v in obj.items():
                    if k != "n":
                        walk(v, n)
            elif isinstance(obj, list):
                for v in obj:
                    walk(v, n)

        for entry in desc["iterative"]:
            n = entry["n"]
            for k in ("mix", "brb", "bn"):
                walk(entry[k], n)
        for c in desc["classifier"]:
            walk({"conv": c["conv"], "up": c["up"]}, c["n"])
        for layer, its in calls.items():
            for k, n in enumerate(its):
                nid = layer if k == 0 else f"{layer}#{k}"
                if nid in self.by_id:
                    iters[nid] = n
                    keys[nid] = re.sub(r"_n\d+$", "", layer) if self.itnet.shared else layer
                    if not layer.startswith("cls_"):
                        block.add(nid)
        return iters, keys, block

    @property
    def shared_block(self) -> bool:
        return self.itnet is not None and self.itnet.shared and bool(self._block_nodes)

    def iteration(self, node_id: str) -> int | None:
        return self._iter_of.get(node_id)

    def key(self, node_id: str) -> str:
        if node_id in self._key_of:
            return self._key_of[node_id]
        return node_id.replace("#", "_call").replace("/", "_")  # '/' is reserved in IR names (DenseNet uses it)

    # ------------------------------------------------------------------ activations
    def _activations(self, images):
        from itnet_neuro.utils import import_tf

        tf = import_tf()
        tensors = node_tensors(self.model, self.nodes)
        probe = tf.keras.Model(self.model.inputs, tensors)
        outs = []
        for i in range(0, len(images), 8):
            res = probe(images[i:i + 8], training=False)
            outs.append([np.asarray(r) for r in res])
        acts = {}
        for k, n in enumerate(self.nodes):
            a = np.concatenate([o[k] for o in outs], axis=0)
            if a.ndim == 2:
                a = a[:, None, None, :]
            acts[n.id] = a.astype(np.float32)
        return acts

    # ------------------------------------------------------------------ helpers for layer converters
    def note(self, msg: str) -> None:
        if msg not in self.notes:
            self.notes.append(msg)

    def output_only(self, node: Node) -> bool:
        """True if ``node`` only reaches model outputs through pass-through layers (softmax, dropout)."""
        passthrough = ("Softmax", "Dropout", "Activation", "Reshape", "Flatten")
        if node.is_output and not node.consumers:
            return True
        if not node.consumers:
            return False
        for c in node.consumers:
            cn = self.by_id[c]
            if cn.class_name not in passthrough:
                return False
            if cn.class_name == "Activation" and getattr(cn.layer.activation, "__name__", "") not in ("softmax",
                                                                                                    "linear"):
                return False
            if not self.output_only(cn):
                return False
        return True

    def shape_of(self, pre) -> tuple:
        if pre is INPUT:
            return self.input_shape
        return pre.shape

    def input_expr(self, node: Node) -> Expr:
        if self.input_node is not None:
            raise ConversionError("models with several inputs are not converted; give the model one image input")
        self.input_node = node
        a = self.acts[node.id]
        if a.ndim != 4:
            raise ConversionError(f"input {node.name!r}: expected an image input (H, W, C), got shape {a.shape[1:]}")
        self.input_shape = (a.shape[3], a.shape[1], a.shape[2])
        return single(INPUT, a.shape[3], self.input_shape, node.id)

    def _unique(self, name: str, iteration) -> str:
        base, k = name, 1
        while (name, iteration) in self._names or (name, None) in self._names or \
                (iteration is None and any(n == name for n, _ in self._names)):
            k += 1
            name = f"{base}_{k}"
        self._names.add((name, iteration))
        return name

    def _new_pop(self, name, node_id, shape, parts: list[Part], scale_sign: int, kind="relu", cap=None, levels=0,
                 role="hidden", values=None, channels=None, values_sign=1, source_node=None) -> PopRec:
        """A population holding ``relu(scale_sign · value)`` of the concatenated ``parts``."""
        it = self.iteration(node_id)
        name = self._unique(name, it)
        c = shape[0]
        scale = np.ones(c, np.float32)
        bias = np.zeros(c, np.float32)
        terms: list[Term] = []
        base = parts[0].offset
        for p in parts:
            lo = p.offset - base
            scale[lo:lo + p.channels] = p.scale * scale_sign
            bias[lo:lo + p.channels] = p.bias
            for t in p.terms:
                if t.op == "gap_dense":
                    raise ConversionError(f"{node_id}: internal: readout-only term reached a population")
                terms.append(Term(t.pre, t.op, t.weight, lo + t.offset, t.stride, t.padding, t.kernel, t.groups,
                                  t.mode, t.out_hw))
        ch = channels if channels is not None else (base, base + c)
        act_node = source_node or node_id
        if values is None:
            a = self.acts[act_node][..., ch[0]:ch[1]]
            values = np.maximum(values_sign * a, 0.0)
        rec = PopRec(name, it, tuple(shape), terms, bias, scale, values, kind, cap, levels, role, None, 1,
                     act_node, act_node, values_sign, ch)
        self.recs.append(rec)
        return rec

    def activation(self, node: Node, e: Expr, kind: str, cap=None, levels=0) -> Expr:
        """An IF population for ``relu/relu6/cfs(e)``: every term of ``e`` becomes one connection."""
        parts = self._connectable(node, e)
        rec = self._new_pop(self.key(node.id), node.id, e.shape, parts, 1, kind=kind, cap=cap, levels=levels,
                            channels=(0, e.channels))
        return single(rec, e.channels, e.shape, node.id)

    def _connectable(self, node, e: Expr) -> list[Part]:
        """``e``'s parts with readout-only terms (Dense after GlobalAveragePooling2D) made connectable."""
        if any(t.op == "gap_dense" for p in e.parts for t in p.terms):  # pragma: no cover - Dense handles it
            raise ConversionError(f"{node.id}: a Dense layer after GlobalAveragePooling2D feeds a spiking layer")
        return e.parts

    def prepare_for_spatial(self, node: Node, e: Expr, needs_zero_bias: bool, reason: str | None = None) -> Expr:
        """``e`` with every part that a spatial/cross-channel consumer cannot fold materialized."""
        parts = []
        for p in e.parts:
            bad = not p.is_identity() or (needs_zero_bias and np.any(p.bias))
            if not p.terms and not np.any(p.bias):
                parts.append(p)
                continue
            if bad:
                why = ("its terms are not one-to-one (" + ", ".join(sorted({t.op for t in p.terms})) + ")"
                       if not p.is_identity() else "a constant bias would meet zero padding")
                parts.append(self._materialize_part(node, e, p, reason or f"consumer {node.name} cannot fold it: {why}"))
            else:
                parts.append(p)
        return Expr(parts, e.shape, e.node, e.flat, e.keras_flatten)

    def materialize_expr(self, node: Node, e: Expr, reason: str) -> Expr:
        """All of ``e`` as one population or signed pair (one part of identity terms)."""
        if len(e.parts) == 1 and e.parts[0].is_identity() and not np.any(e.parts[0].bias):
            return e
        tmp = flatten_parts(e)
        whole = tmp.parts[0]
        return Expr([self._materialize_part(node, tmp, whole, reason)], e.shape, e.node, e.flat, e.keras_flatten)

    def _materialize_part(self, node: Node, e: Expr, p: Part, reason: str) -> Part:
        producer = p.producer or e.node
        base = self.key(producer)
        if len(e.parts) > 1:
            base = f"{base}_c{p.offset}"
        shape = (p.channels,) + tuple(e.shape[1:])
        src = e.node if e.node in self.acts else producer
        ch = (p.offset, p.offset + p.channels)
        nonneg = Expr([p], shape).nonnegative()
        role = "state" if self._is_state(producer) else "hidden"
        if nonneg:
            rec = self._new_pop(base, producer, shape, [p], 1, role=role, channels=ch, source_node=src)
            self.materialized.append({"value": producer, "as": rec.name, "signed": False, "reason": reason})
            return Part(p.offset, p.channels, [Term(rec, "identity", np.ones(p.channels, np.float32))],
                        np.zeros(p.channels, np.float32), np.ones(p.channels, np.float32), producer)
        pos = self._new_pop(base + "_pos", producer, shape, [p], 1, role=role, channels=ch, source_node=src)
        neg = self._new_pop(base + "_neg", producer, shape, [p], -1, role=role, channels=ch, values_sign=-1,
                            source_node=src)
        pos.pair, neg.pair, neg.sign = neg.name, pos.name, -1
        self.materialized.append({"value": producer, "as": [pos.name, neg.name], "signed": True, "reason": reason})
        one = np.ones(p.channels, np.float32)
        return Part(p.offset, p.channels, [Term(pos, "identity", one), Term(neg, "identity", -one)],
                    np.zeros(p.channels, np.float32), one.copy(), producer)

    def _is_state(self, node_id: str) -> bool:
        return self.itnet is not None and self.by_id.get(node_id) is not None and \
            self.by_id[node_id].name.startswith("it_bn_")

    def max_pool(self, node: Node, e: Expr, padding: str) -> Expr:
        from itnet_neuro.convert.maxpool import convert_max_pool

        return convert_max_pool(self, node, e, padding)

    # ------------------------------------------------------------------ the walk
    def run(self):
        from itnet_neuro.convert.layers import get_converter

        for node in self.nodes:
            conv = get_converter(node.class_name, node.name)
            inputs = [self.values[i] for i in node.inputs]
            self._check_pending_pad(node, inputs)
            e = conv(self, node, inputs)
            users = len(node.consumers) + (1 if node.is_output else 0)
            if any(e.pad) and users != 1:
                raise UnsupportedLayerError(f"layer {node.name!r} (ZeroPadding2D): read by {users} layers; a zero "
                                            "padding converts only when one convolution or pooling reads it")
            if users >= 2 and not e.all_identity():
                e = self.prepare_for_spatial(node, e, needs_zero_bias=False,
                                             reason=f"read by {users} layers (folding it into each would "
                                                    "multiply their fan-in)")
            self.values[node.id] = e
        self.readouts = [self._readout(self.by_id[o], k) for k, o in enumerate(self.outputs)]

    def _readout(self, node: Node, index: int) -> dict:
        e = self.values[node.id]
        out_size = getattr(e, "out_size", None)
        # the Keras tensor the readout reproduces: the logits before a final softmax / resize
        ref = node.id
        while self.by_id[ref].class_name in ("Softmax", "Activation", "Dropout", "Reshape", "Flatten") and \
                self.by_id[ref].inputs:
            ref = self.by_id[ref].inputs[0]
        if out_size is not None:
            ref = self.by_id[ref].inputs[0] if self.by_id[ref].inputs else ref
        terms: dict[tuple, np.ndarray] = {}
        pops: dict[tuple, PopRec] = {}
        k = e.channels
        bias = np.zeros(k, np.float32)
        parts = []
        for p in e.parts:
            ok = all(self._readout_ok(t) for t in p.terms)
            if not ok:
                p = self._materialize_part(node, e, p, "readout needs per-pixel terms")
            parts.append(p.folded())
        for p in parts:
            bias[p.offset:p.offset + p.channels] += p.bias
            for t in p.terms:
                pool = "global_avg" if t.op in ("gap", "gap_dense") else None
                if t.pre is INPUT:
                    raise ConversionError(f"output {node.name!r} reads the input directly; nothing spikes on its path")
                c_pre = t.pre.shape[0]
                key = (id(t.pre), pool)
                w = terms.setdefault(key, np.zeros((k, c_pre), np.float32))
                pops[key] = t.pre
                o = p.offset + t.offset
                if t.op in ("identity", "gap"):
                    w[o + np.arange(c_pre), np.arange(c_pre)] += t.weight
                elif t.op == "conv2d":
                    w[o:o + t.out_channels] += t.weight[:, :, 0, 0]
                else:  # dense on a (C,1,1) population or gap_dense
                    w[o:o + t.out_channels] += t.weight.reshape(t.out_channels, c_pre)
        return {"name": f"out{index + 1}" if self.itnet is not None else f"output{index}", "index": index,
                "node": node.id, "ref": ref, "softmax": ref in self.softmax_nodes, "iteration": self.iteration(node.id), "out_size": out_size,
                "terms": [(pops[key], key[1], w) for key, w in terms.items()], "bias": bias}

    #: Layers that take a pending ZeroPadding2D into their own zero padding (or pass it on unchanged).
    PAD_CONSUMERS = ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "AveragePooling2D", "MaxPooling2D",
                     "ZeroPadding2D", "Dropout",
                     "SpatialDropout2D", "GaussianDropout", "GaussianNoise")

    def _check_pending_pad(self, node: Node, inputs: list[Expr]) -> None:
        if any(any(e.pad) for e in inputs) and node.class_name not in self.PAD_CONSUMERS:
            raise UnsupportedLayerError(f"layer {node.name!r} ({node.class_name}) reads a ZeroPadding2D output: the "
                                        "padding converts only into a following convolution or average pooling "
                                        f"({', '.join(self.PAD_CONSUMERS[:4])})")

    @staticmethod
    def _readout_ok(t: Term) -> bool:
        if t.op in ("identity", "gap", "gap_dense"):
            return True
        if t.op == "conv2d":
            return t.weight.shape[2:] == (1, 1) and t.stride == (1, 1) and not any(t.padding)
        if t.op == "dense":
            return t.pre is not INPUT and t.pre.shape[1:] == (1, 1)
        return False
