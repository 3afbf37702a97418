"""NIR graph → spiking IR: ``itnet-neuro convert model.nir``.

Any network exported to NIR (``nir`` 1.0.8; by sinabs, snnTorch, norse, rockpool, lava-dl, or by
:mod:`itnet_neuro.export.nir_export`) becomes an IR :class:`~itnet_neuro.ir.graph.Network` that can
be allocated onto the chip models and simulated. What each node becomes:

===================  ==========================================================================
NIR node             IR
===================  ==========================================================================
Input                the input (``(C, H, W)``, or ``(N,)`` as ``(N, 1, 1)``), ``current`` encoding
IF                   IF population: ``θ_IR = v_threshold / (dt·r)`` (per channel, or a
                     per-neuron ``threshold_map``)
LIF                  leaky population: ``leak = dt/τ``, ``θ_IR = v_threshold·τ / (dt·r)``,
                     ``v_leak`` → bias ``v_leak / r``
CubaLIF              as LIF when ``dt/τ_syn = 1`` (the synaptic current follows its input in one
                     step); any slower synapse is refused (the IR's neuron has no synaptic filter)
Conv2d, SumPool2d,   folded into connections (conv2d, grouped, depthwise, avgpool, identity,
AvgPool2d, Scale,    dense; chains of them composed when that is exact); the exporter's
Flatten, Affine,     resampling chains become ``resize``
Linear
Delay                ``round(delay/dt)`` extra ticks on the connections through it
LI, I                only directly before an Output: decoded as the mean of their input (their
                     steady state, up to ``r`` and ``v_leak``)
Output               a readout (per pixel, or global average)
Threshold, Conv1d,   refused, with the reason
subgraphs, cycles
===================  ==========================================================================

Semantics that differ and how they are handled:

* **Reset.** NIR neurons reset to ``v_reset``; with ``v_reset = 0`` that is the IR's
  ``reset="zero"`` neuron, imported exactly. A node whose metadata says ``"reset": "subtract"``
  (our exports) gets reset by subtraction. ``v_reset ≠ 0`` is refused unless ``reset="subtract"``
  is given, which imports every neuron with reset by subtraction (what rate-coded conversion and
  sinabs' IAF actually do, though their NIR export writes ``v_reset = 0``; a reset-to-zero neuron
  fires at ``1/ceil(θ/I)`` instead of ``I/θ``).
* **Threshold.** NIR fires on ``v > θ``, the IR on ``v ≥ θ``; they differ only when ``v`` lands on
  θ exactly.
* **Time.** One IR tick is one step ``dt`` (the graph metadata's ``dt``, else ``dt=``; snnTorch writes
  ``r = τ/dt``, so ``dt`` defaults to ``τ/r`` when every LIF agrees, else 1). Every connection takes
  one tick (latency = depth), as in all IR networks; an exporter's ``"delay"`` metadata is kept.
* **Shared weights.** Graphs written by our exporter carry ``shared_parameter_groups``; the unrolled
  block is folded back into an iterative block (so it can run looped) when every group's weights
  agree.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from itnet_neuro.convert import nir_linear as lin
from itnet_neuro.errors import ConversionError, MissingDependencyError, ModelFileError
from itnet_neuro.ir.graph import Connection, InputSpec, Network, Population, Readout, ReadoutTerm

NEURONS = ("IF", "LIF", "CubaLIF")
LINEAR = ("Conv2d", "SumPool2d", "AvgPool2d", "Flatten", "Affine", "Linear", "Scale", "Delay")
READOUT_INTEGRATORS = ("LI", "I")
REFUSED = {
    "Threshold": "a stateless threshold (Heaviside) has no rate-coded equivalent; use IF neurons",
    "Conv1d": "1-D convolutions are not converted; the IR's maps are 2-D (C, H, W)",
    "NIRGraph": "nested subgraphs (e.g. snnTorch's RLeaky/RSynaptic recurrent layers) are not converted; "
                "the IR allows recurrence only through an iterative block",
    "CubaLI": "a current-based leaky integrator has no spiking form; only LI/I may end a graph as a readout",
}
RESETS = ("auto", "subtract")


def _nir():
    try:
        import nir
    except ImportError as exc:  # pragma: no cover
        raise MissingDependencyError("nir is not installed: run `pip install 'nir>=1.0.8,<1.1'`") from exc
    return nir


def is_nir_file(path) -> bool:
    """True if ``path`` is a NIR HDF5 file (``version`` and ``node`` at its root)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return "node" in f and "version" in f
    except OSError:
        return False


def read_graph(path: str | os.PathLike):
    """``nir.read`` with type checking, as one clear error on failure."""
    nir = _nir()
    if not Path(path).is_file():
        raise ModelFileError(f"{path}: NIR file not found")
    try:
        return nir.read(str(path))
    except (ValueError, KeyError, AssertionError, TypeError) as exc:
        raise ModelFileError(f"{path}: nir.read cannot load it ({exc})") from exc


def _kind(node) -> str:
    return type(node).__name__


def _meta(node) -> dict:
    meta = dict(getattr(node, "metadata", None) or {})
    if isinstance(meta.get("itnet"), (str, bytes)):
        meta.update(json.loads(meta["itnet"]))
    return meta


def _ir_shape(shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) == 3:
        return shape
    if len(shape) == 1:
        return (shape[0], 1, 1)
    raise ConversionError(f"NIR graph: a tensor of shape {shape} has no IR form (need (C, H, W) or (N,))")


def _order(graph) -> tuple[list[str], dict]:
    """Topological order of the nodes and their predecessors; a cycle is refused."""
    pred = {n: [] for n in graph.nodes}
    succ = {n: [] for n in graph.nodes}
    for a, b in graph.edges:
        pred[b].append(a)
        succ[a].append(b)
    indeg = {n: len(p) for n, p in pred.items()}
    ready = [n for n in graph.nodes if indeg[n] == 0]
    order = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    if len(order) != len(graph.nodes):
        stuck = sorted(n for n in graph.nodes if indeg[n] > 0)[:4]
        raise ConversionError(f"NIR graph: a cycle through {', '.join(map(repr, stuck))}; recurrent graphs are not "
                              "converted (the IR allows recurrence only through an iterative block)")
    return order, pred


def infer_dt(graph, dt: float | None) -> float:
    """Step length: given, else the graph metadata's ``dt``, else ``τ/r`` shared by every LIF, else 1."""
    if dt is not None:
        return float(dt)
    meta = graph.metadata or {}
    if "dt" in meta:
        return float(np.asarray(meta["dt"]))
    ratios = set()
    for node in graph.nodes.values():
        if _kind(node) in ("LIF", "CubaLIF"):
            tau = np.asarray(node.tau if _kind(node) == "LIF" else node.tau_mem, np.float64)
            ratios.update(np.round(np.unique(tau / np.asarray(node.r, np.float64)), 12).tolist())
    return float(ratios.pop()) if len(ratios) == 1 else 1.0


# ------------------------------------------------------------------------------------------ linear nodes
def _apply(name: str, node, value: lin.Value, dt: float) -> lin.Value:
    """One linear node on the value flowing into it (see :mod:`~itnet_neuro.convert.nir_linear`)."""
    from itnet_neuro.sim.nir_graph import apply_linear

    kind = _kind(node)
    meta = _meta(node)
    out_shape = tuple(int(v) for v in node.output_type["output"])
    const = apply_linear(node, value.const[None])[0]
    if "resample" in meta:
        terms = [lin.resize_on_term(t, node, str(meta["stage"]), meta, out_shape) for t in value.terms]
    elif kind in ("Conv2d", "SumPool2d", "AvgPool2d"):
        w, stride, pad = (lin.conv_geometry(node) if kind == "Conv2d"
                          else lin.pool_geometry(node, value.const.shape[0]))
        terms = [lin.conv_on_term(t, w, stride, pad, out_shape) for t in value.terms]
    elif kind == "Flatten":
        if len(out_shape) != 1:
            raise ConversionError(f"NIR node {name!r}: a Flatten to {out_shape} (not to one axis) has no IR form")
        terms = [dataclasses.replace(t, shape=out_shape) for t in value.terms]
    elif kind in ("Affine", "Linear"):
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2:
            raise ConversionError(f"NIR node {name!r}: {kind} with a {w.ndim}-D weight is only converted inside "
                                  "an itnet-neuro resampling chain")
        terms = [lin.dense_on_term(t, w) for t in value.terms]
    elif kind == "Scale":
        terms = [lin.scale_term(t, np.asarray(node.scale, np.float64)) for t in value.terms]
    else:  # Delay
        d = np.unique(np.round(np.asarray(node.delay, np.float64) / dt))
        if d.size != 1:
            raise ConversionError(f"NIR node {name!r}: per-neuron delays {d.tolist()} ticks; the IR delays a whole "
                                  "connection")
        terms = [dataclasses.replace(t, extra_delay=t.extra_delay + int(d[0])) for t in value.terms]
    if "delay" in meta:
        terms = [dataclasses.replace(t, delay=int(meta["delay"])) if t.delay is None else t for t in terms]
    if "connection" in meta:
        terms = [dataclasses.replace(t, label=str(meta["connection"])) for t in terms]
    return lin.Value(terms, const)


def _values(graph, order, pred, dt) -> dict:
    """The value (terms + constant) flowing out of every input, neuron and linear node."""
    values = {}
    for name in order:
        node = graph.nodes[name]
        kind = _kind(node)
        if kind in REFUSED:
            raise ConversionError(f"NIR node {name!r} ({kind}): {REFUSED[kind]}")
        if kind == "Input" or kind in NEURONS:
            values[name] = lin.source_value(name, node.output_type["output"])
        elif kind in LINEAR:
            try:
                values[name] = _apply(name, node, lin.add_values([values[p] for p in pred[name]]), dt)
            except ConversionError as exc:
                raise ConversionError(f"NIR node {name!r} ({kind}): {exc}") from None
        elif kind not in ("Output",) + READOUT_INTEGRATORS:
            raise ConversionError(f"NIR node {name!r}: type {kind} is not converted (known: Input, Output, "
                                  f"{', '.join(NEURONS + LINEAR)}; LI/I before an Output)")
    return values


# ------------------------------------------------------------------------------------------ neurons
def _channel(node, field: str, name: str) -> np.ndarray:
    return lin.per_channel(np.asarray(getattr(node, field), np.float64), f"{field} of {name!r} (per neuron)")


def _reset_of(name: str, node, meta: dict, reset: str, notes: list) -> str:
    """The IR reset of a neuron node: ``"subtract"`` or ``"zero"`` (see the module docstring)."""
    if meta.get("reset") in ("subtract", "zero"):
        return str(meta["reset"])
    v_reset = np.asarray(node.v_reset, np.float64)
    if reset == "subtract":
        notes.append(f"{name}: resets to v_reset={float(v_reset.mean()):g} in NIR, imported as reset by "
                     "subtraction (reset='subtract')")
        return "subtract"
    if np.any(v_reset != 0):
        raise ConversionError(f"NIR node {name!r} ({_kind(node)}) resets to v_reset={float(v_reset.mean()):g} ≠ 0; the "
                              "IR's neurons reset to 0 or by subtraction. Import it with reset by subtraction "
                              "(reset='subtract', CLI --nir-reset subtract), as rate-coded networks run")
    return "zero"


def _neuron_params(name: str, node, dt: float) -> tuple[np.ndarray, float, np.ndarray]:
    """``(input gain per step, leak, constant input per step)`` per channel, in NIR's voltage units."""
    kind = _kind(node)
    r = _channel(node, "r", name)
    if kind == "IF":
        return dt * r, 0.0, np.zeros_like(r)
    tau = _channel(node, "tau" if kind == "LIF" else "tau_mem", name)
    a = dt / tau
    if not np.allclose(a, a[0], rtol=1e-9) or not 0 <= a[0] < 1:
        raise ConversionError(f"NIR node {name!r}: dt/τ = {np.unique(a)[:3].tolist()}; the IR needs one leak in "
                              "[0, 1) per population (give dt=... if the step is not the graph's)")
    gain = a * r
    if kind == "CubaLIF":
        a_syn = dt / _channel(node, "tau_syn", name)
        if not np.allclose(a_syn, 1.0, rtol=1e-6):
            raise ConversionError(f"NIR node {name!r} (CubaLIF): dt/τ_syn = {float(a_syn.mean()):.4g} ≠ 1: a "
                                  "synaptic current filter has no equivalent in the IR's neuron (use LIF or IF)")
        gain = gain * _channel(node, "w_in", name)
    return gain, float(a[0]), a * _channel(node, "v_leak", name)


def _thresholds(name: str, node, gain: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(θ per channel, θ per neuron or None)`` in IR units (``v_threshold / gain``)."""
    full = np.asarray(node.v_threshold, np.float64)
    full = full.reshape((-1, 1, 1) if full.ndim == 1 else full.shape) / gain.reshape(-1, 1, 1)
    flat = full.reshape(full.shape[0], -1)
    if np.allclose(flat, flat[:, :1], rtol=1e-7, atol=0):
        return flat[:, 0], None
    return flat.mean(axis=1), full[None]


def _population(name: str, node, bias: np.ndarray, dt: float, reset: str, notes: list) -> Population:
    """An IR population for a neuron node: ``v`` in units of ``1/gain``, so weights stay as they are."""
    meta = _meta(node)
    mode = _reset_of(name, node, meta, reset, notes)
    gain, leak, drive = _neuron_params(name, node, dt)
    if np.any(gain <= 0):
        raise ConversionError(f"NIR node {name!r}: input gain dt·r{'/τ' if leak else ''} <= 0")
    theta, theta_map = _thresholds(name, node, gain)
    if "leak" in meta:  # the exporter's own value, exact
        leak = float(meta["leak"])
    if meta.get("spike_condition") != "v >= v_threshold":
        notes.append(f"{name}: NIR fires on v > θ, the IR on v >= θ (they differ only when v lands on θ)")
    dec = np.asarray(meta["decode_scale"], np.float64) if "decode_scale" in meta else theta
    return Population(name, _ir_shape(node.output_type["output"]), threshold=theta, bias=bias + drive / gain,
                      decode_scale=dec, v_init=float(meta.get("v_init", 0.0)), leak=leak, reset=mode,
                      threshold_map=theta_map,
                      role=str(meta.get("role", "hidden")), pair=meta.get("pair") or None, sign=int(meta.get("sign", 1)),
                      source=str(meta.get("source", name)))


def _connections(name: str, value: lin.Value, post_shape, taken: set) -> list[Connection]:
    conns = []
    for t in value.terms:
        kw = lin.ir_op(t, post_shape)
        if kw is None:
            continue
        base = t.label or f"{t.src}->{name}"
        cname, k = base, 1
        while cname in taken:
            k += 1
            cname = f"{base}_{k}"
        taken.add(cname)
        delay = t.delay if t.delay is not None else 1 + t.extra_delay
        conns.append(Connection(cname, t.src, name, delay=delay, **kw))
    return conns


# ------------------------------------------------------------------------------------------ readouts
def _readout_term(t: lin.Term, pops: dict) -> ReadoutTerm:
    if t.src not in pops:
        raise ConversionError(f"NIR Output reads the input {t.src!r} directly; nothing spikes on its path")
    pop = pops[t.src]
    lam = pop.decode_scale[0].astype(np.float64)
    c, h, w = pop.shape
    if t.kind == "gain":
        return ReadoutTerm(t.src, np.diag(lin.per_channel(t.gain, f"the gain of a readout of {t.src!r}") / lam))
    if t.kind == "dense":
        m = t.weight.reshape(t.weight.shape[0], c, h * w)
        if h * w == 1:
            return ReadoutTerm(t.src, m[:, :, 0] / lam)
        if np.allclose(m, m[:, :, :1]):
            return ReadoutTerm(t.src, m[:, :, 0] * (h * w) / lam, pool="global_avg")
    if t.kind == "conv":
        geo = lin.unsquare(t, t.shape[-2:] if len(t.shape) == 3 else (1, 1))
        if geo is not None:
            wgt, stride, pad = geo
            if wgt.shape[2:] == (1, 1) and stride == (1, 1) and not any(pad):
                return ReadoutTerm(t.src, wgt[:, :, 0, 0] / lam)
            flat = wgt.reshape(wgt.shape[0], wgt.shape[1], -1)
            if wgt.shape[2:] == (h, w) and not any(pad) and np.allclose(flat, flat[:, :, :1]):
                return ReadoutTerm(t.src, flat[:, :, 0] * (h * w) / lam, pool="global_avg")
    raise ConversionError(f"a readout of {t.src!r} through a {t.kind} that is neither per pixel nor a global "
                          "average; the IR's readouts are one of these (end the graph with a spiking layer)")


def _readout_value(graph, name: str, pred: dict, values: dict, notes: list) -> lin.Value:
    parts = []
    for p in pred[name]:
        node = graph.nodes[p]
        if _kind(node) in READOUT_INTEGRATORS:
            v = lin.add_values([values[q] for q in pred[p]])
            r = np.asarray(node.r, np.float64)
            leak = np.asarray(getattr(node, "v_leak", 0.0), np.float64)
            v = lin.Value([lin.scale_term(t, r) for t in v.terms], v.const * r + leak)
            notes.append(f"{p} ({_kind(node)}): decoded as the mean of its input current (its steady state)")
            parts.append(v)
        else:
            parts.append(values[p])
    return lin.add_values(parts)


def _readouts(graph, pred, values, pops, ours: bool, notes: list) -> list[Readout]:
    outs = [n for n, v in graph.nodes.items() if _kind(v) == "Output" and (not ours or n.startswith("readout:"))]
    readouts = []
    for k, name in enumerate(outs):
        meta = _meta(graph.nodes[name])
        v = _readout_value(graph, name, pred, values, notes)
        terms = tuple(_readout_term(t, pops) for t in v.terms)
        if not terms:
            continue
        bias = lin.per_channel(v.const, f"the bias of Output {name!r}")
        size = meta.get("out_size")
        size = tuple(int(x) for x in np.asarray(size).reshape(-1)) if size is not None and not isinstance(
            size, (str, bytes)) else None
        readouts.append(Readout(name.removeprefix("readout:").replace("/", "_"), int(meta.get("index", k)), terms,
                                bias, out_size=size))
    if not readouts:
        raise ConversionError("NIR graph: no Output reads a spiking population, so there is nothing to decode")
    return readouts


# ------------------------------------------------------------------------------------------ the network
def _input_spec(graph, inputs: list[str]) -> InputSpec:
    if len(inputs) != 1:
        raise ConversionError(f"NIR graph: {len(inputs)} Input nodes; the IR takes one image input")
    meta = graph.metadata or {}
    pre = meta.get("input_preprocessing")
    pre = json.loads(pre) if isinstance(pre, (str, bytes)) else (pre or {})
    node = graph.nodes[inputs[0]]
    return InputSpec(inputs[0], _ir_shape(node.output_type["output"]), "current",
                     float(pre.get("scale", 1.0)), float(pre.get("offset", 0.0)))


def from_nir(graph_or_path, *, dt: float | None = None, reset: str = "auto", name: str | None = None,
             refold: bool = True) -> tuple[Network, dict]:
    """Build the IR network of a NIR graph (see the module docstring for what each node becomes).

    Parameters
    ----------
    graph_or_path : nir.NIRGraph or path of a ``.nir`` file
    dt : float, optional
        Length of one tick in the graph's time unit (default: see :func:`infer_dt`).
    reset : {"auto", "subtract"}
        ``auto``: ``v_reset = 0`` → the IR's reset to zero, our exports' ``"subtract"`` metadata →
        reset by subtraction, any other ``v_reset`` refused; ``subtract``: every neuron by subtraction.
    refold : bool
        Fold an itnet-neuro export's unrolled block back into an iterative block.

    Returns
    -------
    network : Network
    report : dict
        ``dt``, ``notes`` (every approximation made), ``refolded``.
    """
    if reset not in RESETS:
        raise ConversionError(f"reset={reset!r}: use one of {RESETS}")
    path = None
    if isinstance(graph_or_path, (str, os.PathLike)):
        path = Path(graph_or_path)
        graph = read_graph(path)
    else:
        graph = graph_or_path
    meta = graph.metadata or {}
    ours = str(meta.get("source", "")) == "itnet-neuro"
    dt = infer_dt(graph, dt)
    order, pred = _order(graph)
    values = _values(graph, order, pred, dt)
    notes: list[str] = []
    pops: dict[str, Population] = {}
    conns: list[Connection] = []
    taken: set[str] = set()
    for n in order:
        node = graph.nodes[n]
        if _kind(node) not in NEURONS:
            continue
        v = (lin.add_values([values[p] for p in pred[n]]) if pred[n]
             else lin.Value([], np.zeros(tuple(int(x) for x in node.input_type["input"]))))
        bias = lin.per_channel(v.const, f"the constant input (biases) reaching {n!r}")
        pops[n] = _population(n, node, bias, dt, reset, notes)
        conns += _connections(n, v, pops[n].shape, taken)
    inputs = [n for n in order if _kind(graph.nodes[n]) == "Input"]
    readouts = _readouts(graph, pred, values, pops, ours, notes)
    label = name or (str(meta.get("network")) if ours and "network" in meta else (path.stem if path else "nir"))
    netmeta = {"source": "nir", "nir_file": str(path) if path else None, "dt": dt, "notes": notes[:50],
               "exported_by": str(meta.get("source", "")) or None}
    net = Network(label, _input_spec(graph, inputs), tuple(pops.values()), tuple(conns), tuple(readouts),
                  metadata=netmeta)
    refolded = False
    if refold and ours and meta.get("shared_parameter_groups"):
        folded = refold_block(net, json.loads(meta["shared_parameter_groups"]), meta.get("shared_block"))
        if folded is not None:
            net, refolded = folded, True
    return net, {"dt": dt, "notes": notes, "refolded": refolded, "populations": len(net.populations),
                 "connections": len(net.connections), "readouts": len(net.readouts)}


# ------------------------------------------------------------------------------------------ shared block
def _split(name: str, members: set) -> tuple[str, int | None]:
    base, sep, it = name.rpartition("@")
    return (base, int(it)) if sep and base in members and it.isdigit() else (name, None)


def _topological(pops: list[Population], conns: list[Connection]) -> list[Population]:
    names = [p.name for p in pops]
    indeg = {n: 0 for n in names}
    succ = {n: [] for n in names}
    for c in conns:
        if not c.feedback and c.pre in indeg:
            indeg[c.post] += 1
            succ[c.pre].append(c.post)
    by = {p.name: p for p in pops}
    ready = [n for n in names if indeg[n] == 0]
    out = []
    while ready:
        n = ready.pop(0)
        out.append(by[n])
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    return out


def _merge_members(net: Network, members: list[str], n: int) -> dict[str, Population]:
    merged = {}
    for m in members:
        copies = [net.population(f"{m}@{i}") for i in range(1, n + 1)]
        first = copies[0]
        if any(c.shape != first.shape or c.leak != first.leak or c.v_init != first.v_init or c.reset != first.reset
               for c in copies):
            return {}
        tmap = None if all(c.threshold_map is None for c in copies) else \
            np.stack([c.neuron_params()[0] for c in copies])  # per-neuron θ of every iteration
        merged[m] = dataclasses.replace(
            first, name=m, threshold_map=tmap, threshold=np.concatenate([c.threshold for c in copies]),
            bias=np.concatenate([c.bias for c in copies]),
            decode_scale=np.concatenate([c.decode_scale for c in copies]),
            pair=None if first.pair is None else first.pair.rpartition("@")[0])
    return merged


def _fold_connections(net: Network, members: set, n: int) -> list[Connection] | None:
    groups: dict[str, dict[int, Connection]] = {}
    out = []
    for c in net.connections:
        post, it = _split(c.post, members)
        if it is None:
            out.append(c)
            continue
        base = c.name.rpartition("@")[0] or c.name
        groups.setdefault(base, {})[it] = c
    for base, copies in groups.items():
        ref = copies[min(copies)]
        post = _split(ref.post, members)[0]
        pre, pre_it = _split(ref.pre, members)
        lag = None if pre_it is None else min(copies) - pre_it
        for it, c in copies.items():
            same = (c.op == ref.op and c.weight.shape == ref.weight.shape and np.array_equal(c.weight, ref.weight)
                    and (c.stride, c.padding, c.kernel, c.groups, c.mode, c.post_offset, c.delay)
                    == (ref.stride, ref.padding, ref.kernel, ref.groups, ref.mode, ref.post_offset, ref.delay))
            p, pit = _split(c.pre, members)
            if not same or p != pre or (lag is not None and it - pit != lag) or lag not in (None, 0, 1):
                return None
        its = tuple(sorted(copies))
        out.append(dataclasses.replace(ref, name=base, pre=pre, post=post, feedback=lag == 1,
                                       iterations=None if its == tuple(range(1, n + 1)) else its))
    return out


def refold_block(net: Network, groups: dict, block) -> Network | None:
    """Fold the unrolled copies ``name@n`` of an itnet-neuro export back into an iterative block.

    ``groups``: the export's ``shared_parameter_groups``; ``block``: its ``shared_block`` metadata.
    Returns None (keep the unrolled network) when any group's copies differ.
    """
    from itnet_neuro.errors import ValidationError
    from itnet_neuro.ir.graph import IterativeBlock

    block = json.loads(block) if isinstance(block, (str, bytes)) else block
    if not block or block == "null":
        return None
    n = int(block["iterations"])
    names = {p.name for p in net.populations}
    members = [g for g, copies in groups.items() if copies == [f"{g}@{i}" for i in range(1, n + 1)]
               and all(c in names for c in copies)]
    merged = _merge_members(net, members, n)
    conns = _fold_connections(net, set(members), n) if merged else None
    if conns is None:
        return None
    pops = [p for p in net.populations if _split(p.name, set(members))[1] is None] + list(merged.values())
    readouts = []
    for r in net.readouts:
        its = {_split(t.population, set(members))[1] for t in r.terms}
        it = its.pop() if len(its) == 1 else None
        terms = tuple(dataclasses.replace(t, population=_split(t.population, set(members))[0]) for t in r.terms)
        readouts.append(dataclasses.replace(r, terms=terms, iteration=it))
    pops = _topological(pops, conns)
    order = [p.name for p in pops if p.name in merged]
    try:
        return Network(net.name, net.input, tuple(pops), tuple(conns), tuple(readouts),
                       IterativeBlock(str(block["name"]), n, tuple(order), tuple(block.get("state", ()))),
                       {**net.metadata, "refolded_block": True})
    except ValidationError:
        return None





def verify_nir(graph, net: Network, *, ticks: int = 32, images: int = 2, seed: int = 0,
               reset: str = "auto") -> dict:
    """Run the NIR graph (:func:`~itnet_neuro.sim.nir_graph.simulate_nir`) and the imported IR (reference
    backend) on the same random inputs in [0, 1]; the fraction of neuron-ticks that agree.

    With ``reset="subtract"`` the NIR side is run as the IR reads it (reset by subtraction, ``v ≥ θ``):
    this checks the import, not the neuron model change (which the notes state).
    """
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.nir_graph import simulate_nir

    rng = np.random.default_rng(seed)
    node = graph.nodes[net.input.name]
    x = rng.uniform(0, 1, (images,) + tuple(int(s) for s in node.output_type["output"]))
    ref = simulate_nir(graph, x, ticks, dt=net.metadata.get("dt"), as_ir=reset == "subtract")
    res = simulate(net.unroll() if net.block is None else net, x.reshape((images,) + net.input.shape), ticks,
                   backend="reference", record=True)
    total = agree = 0
    for name, spikes in ref.spikes.items():
        if name in res.trains:
            a = res.trains[name].reshape(spikes.shape)
            total += a.size
            agree += int(np.count_nonzero(a == spikes))
    return {"ticks": ticks, "images": images, "neuron_ticks": total, "agreement": agree / max(total, 1),
            "spikes": int(sum(s.sum() for s in ref.spikes.values()))}

__all__ = ["from_nir", "infer_dt", "is_nir_file", "read_graph", "refold_block", "verify_nir"]
