"""Linear expressions of spiking populations: how linear Keras layers are folded before they spike.

A Keras tensor that is not the output of an activation is *linear* in the populations that feed it.
The converter keeps it as an :class:`Expr`, a list of channel :class:`Part` s (concatenation), each

    value[part channels] = scale ⊙ (Σ_terms op_term(decoded pre) + bias)

where each :class:`Term` is exactly one IR connection (``op`` ∈ conv2d / depthwise / dense / avgpool /
resize / identity, or the readout-only ``gap`` / ``gap_dense``). Weights are in *value units* (they act
on the decoded value of ``pre``); the converter multiplies in the presynaptic decode scale when it
emits a connection. ``scale`` is kept factored out so that a per-iteration BatchNorm after shared
weights ends in the post neurons' threshold table instead of in the (shared) weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

#: Ops whose weight is a per-channel gain (C,): they commute with per-channel scaling.
PER_CHANNEL_OPS = ("identity", "avgpool", "resize", "gap")


@dataclass
class Term:
    """One connection-to-be from ``pre`` (a population record or the input) into a part.

    ``offset`` is the first channel of the part this term drives; ``weight`` follows
    :data:`itnet_neuro.ir.graph.OPS` (value units).
    """

    pre: object
    op: str
    weight: np.ndarray
    offset: int = 0
    stride: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)
    kernel: tuple = (1, 1)
    groups: int = 1
    mode: str = "bilinear"
    out_hw: tuple | None = None

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[0])

    def scaled_rows(self, factor: np.ndarray) -> "Term":
        """This term with output channel ``o`` multiplied by ``factor[o]``."""
        w = self.weight
        if self.op in PER_CHANNEL_OPS:
            w = w * factor
        else:
            w = w * factor.reshape((-1,) + (1,) * (w.ndim - 1))
        return dataclasses.replace(self, weight=w.astype(np.float32))

    def geometry(self) -> tuple:
        return (self.op, self.offset, self.stride, self.padding, self.kernel, self.groups, self.mode,
                self.out_hw, self.weight.shape)


@dataclass
class Part:
    """Channels ``[offset, offset + channels)`` of an expression."""

    offset: int
    channels: int
    terms: list[Term]
    bias: np.ndarray          # (C,) unscaled
    scale: np.ndarray         # (C,)
    producer: str = ""        # layer (node) whose value this part is, for naming materialized populations

    def is_identity(self) -> bool:
        """Every term is a one-to-one gain from a population (nothing spatial or cross-channel)."""
        return all(t.op == "identity" for t in self.terms)

    def folded(self) -> "Part":
        """The same part with ``scale`` multiplied into the terms and bias (scale = 1)."""
        s = self.scale
        if np.all(s == 1.0):
            return self
        terms = [t.scaled_rows(s[t.offset:t.offset + t.out_channels]) for t in self.terms]
        return Part(self.offset, self.channels, terms, (self.bias * s).astype(np.float32),
                    np.ones_like(s), self.producer)


@dataclass
class Expr:
    """A linear value: its channel parts, spatial shape ``(C, H, W)`` and the Keras node it came from."""

    parts: list[Part]
    shape: tuple
    node: str = ""
    flat: bool = False  # the Keras tensor is 2-D (after GlobalAveragePooling2D / Dense on a vector)
    keras_flatten: bool = False  # produced by Flatten: Keras order is H, W, C
    pad: tuple = (0, 0, 0, 0)  # pending ZeroPadding2D (top, bottom, left, right) for the next window op

    @property
    def channels(self) -> int:
        return int(self.shape[0])

    def all_identity(self) -> bool:
        return all(p.is_identity() for p in self.parts)

    def bias_zero(self) -> bool:
        return all(not np.any(p.bias) for p in self.parts)

    def nonnegative(self) -> bool:
        """True if the value can never be negative (nonnegative gains of nonnegative populations)."""
        for p in self.parts:
            if np.any(p.scale < 0) or np.any(p.bias < 0):
                return False
            for t in p.terms:
                if np.any(t.weight < 0):
                    return False
        return True


def single(pre, channels: int, shape: tuple, node: str, gain=None, producer: str = "") -> Expr:
    """The expression ``gain ⊙ decoded(pre)`` (gain 1 by default)."""
    g = np.ones(channels, np.float32) if gain is None else np.asarray(gain, np.float32)
    part = Part(0, channels, [Term(pre, "identity", g)], np.zeros(channels, np.float32),
                np.ones(channels, np.float32), producer or node)
    return Expr([part], tuple(shape), node)


def concat(exprs: list[Expr], node: str) -> Expr:
    parts, off = [], 0
    for e in exprs:
        for p in e.parts:
            parts.append(Part(off + p.offset, p.channels, list(p.terms), p.bias, p.scale, p.producer))
        off += e.channels
    shape = (off,) + tuple(exprs[0].shape[1:])
    return Expr(parts, shape, node)


def affine(e: Expr, gain: np.ndarray, shift: np.ndarray, node: str) -> Expr:
    """``gain ⊙ e + shift`` per channel, with the gain kept in ``scale`` (BatchNorm, Rescaling)."""
    parts = []
    for p in e.parts:
        g = gain[p.offset:p.offset + p.channels].astype(np.float32)
        h = shift[p.offset:p.offset + p.channels].astype(np.float32)
        new_scale = p.scale * g
        safe = np.where(np.abs(new_scale) < 1e-12, 1e-12, new_scale)
        parts.append(Part(p.offset, p.channels, list(p.terms), (p.bias + h / safe).astype(np.float32),
                          new_scale.astype(np.float32), node))
    return Expr(parts, e.shape, node, flat=e.flat)


def flatten_parts(e: Expr) -> Expr:
    """``e`` as one part (scales folded into the terms; terms keep their channel offsets)."""
    if len(e.parts) == 1:
        return e
    c = e.channels
    whole = Part(0, c, [], np.zeros(c, np.float32), np.ones(c, np.float32), e.node)
    for p in e.parts:
        q = p.folded()
        whole.bias[p.offset:p.offset + p.channels] = q.bias
        whole.terms.extend(dataclasses.replace(t, offset=p.offset + t.offset) for t in q.terms)
    return Expr([whole], e.shape, e.node, e.flat, e.keras_flatten)


def add(exprs: list[Expr], node: str) -> Expr | None:
    """Sum of expressions with the same part layout (None if the layouts differ)."""
    layout = [(p.offset, p.channels) for p in exprs[0].parts]
    if any([(p.offset, p.channels) for p in e.parts] != layout for e in exprs[1:]):
        exprs = [flatten_parts(e) for e in exprs]
        layout = [(0, exprs[0].channels)]
    parts = []
    for i, (off, ch) in enumerate(layout):
        ps = [e.parts[i] for e in exprs]
        same_scale = all(np.array_equal(ps[0].scale, q.scale) for q in ps[1:])
        if not same_scale:
            ps = [q.folded() for q in ps]
        terms = [t for q in ps for t in q.terms]
        bias = np.sum([q.bias for q in ps], axis=0).astype(np.float32)
        parts.append(Part(off, ch, terms, bias, ps[0].scale, node))
    return Expr(parts, exprs[0].shape, node, flat=exprs[0].flat)


__all__ = ["Expr", "Part", "Term", "PER_CHANNEL_OPS", "add", "affine", "concat", "single"]
