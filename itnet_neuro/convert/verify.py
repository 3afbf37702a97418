"""Verification of a conversion against the Keras model, layer by layer (like nengo-dl's ``Converter.verify``).

Rate level (:func:`rate_forward`): every population's steady-state rate of the IF neuron with reset by
subtraction, ``r = clip((Σ W·r_pre + bias) / θ, 0, 1)`` (the input injects its value as current), is
evaluated in topological order of the unrolled network through the TensorFlow kernels of
:mod:`itnet_neuro.sim.kernels.tf_ops` (those of the ``fast`` simulator) — the same op semantics every
simulator uses. Its decoded value ``r·λ`` is compared with the Keras activation it
replaces (``relu(±activation)`` for the halves of a signed pair), and each readout with the Keras
logits.

Spiking (``spiking_ticks > 0``): the network simulated by the project's ``fast`` simulator
(:func:`itnet_neuro.sim.simulate`), each readout's argmax compared with the Keras model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from itnet_neuro.errors import ConversionError


def _prepared(net):
    from itnet_neuro.sim.kernels.tf_ops import prepare

    return {c.name: prepare(net, c) for c in net.connections}


def _currents(net, prep, pop, source, x):
    """Input current of ``pop`` given presynaptic values ``source[name]`` (NHWC)."""
    from itnet_neuro.sim.kernels.tf_ops import _tf

    tf = _tf()
    c_total = pop.channels
    chunks = []
    for c in net.incoming(pop.name):
        src = x if c.pre == net.input.name else source[c.pre]
        y = prep[c.name](src)
        n = int(y.shape[-1])
        if c.post_offset or n != c_total:
            y = tf.pad(y, [[0, 0], [0, 0], [0, 0], [c.post_offset, c_total - c.post_offset - n]])
        chunks.append(y)
    if not chunks:
        return tf.zeros((x.shape[0], pop.shape[1], pop.shape[2], c_total))
    return tf.add_n(chunks) if len(chunks) > 1 else chunks[0]


def readout_logits(net, decoded: dict, batch: int | None = None) -> list[np.ndarray]:
    """Every readout's logits (B, H, W, K) from decoded population values (NHWC)."""
    return [_one_readout(r, decoded) for r in net.readouts]


def _one_readout(r, decoded: dict) -> np.ndarray:
    from itnet_neuro.sim.kernels.tf_ops import _tf

    tf = _tf()
    total = None
    for t in r.terms:
        d = decoded[t.population]
        if t.pool == "global_avg":
            d = tf.reduce_mean(d, axis=(1, 2), keepdims=True)
        y = tf.einsum("bhwc,kc->bhwk", d, t.weight)
        total = y if total is None else total + y
    total = total + r.bias
    if r.out_size is not None and tuple(total.shape[1:3]) != tuple(r.out_size):
        total = tf.image.resize(total, r.out_size, method="bilinear")
    return np.asarray(total)


def rate_forward(net, x: np.ndarray) -> tuple[dict, list[np.ndarray]]:
    """Steady-state rates (NHWC, unrolled names) and readout logits of ``net`` on inputs ``x`` (NHWC)."""
    from itnet_neuro.sim.kernels.tf_ops import _tf

    tf = _tf()
    net = net.unroll()
    prep = _prepared(net)
    x = tf.constant(np.asarray(x, np.float32))
    rates, decoded = {}, {}
    for p in net.populations:
        thr, bias, dec = p.params()
        cur = _currents(net, prep, p, rates, x)
        r = tf.clip_by_value((cur + bias) / thr, 0.0, 1.0)
        rates[p.name] = r
        decoded[p.name] = r * dec
    return {k: np.asarray(v) for k, v in rates.items()}, readout_logits(net, decoded, x.shape[0])


#: The reference RMS of a population is floored at this fraction of its λ (a nearly silent half of a
#: signed pair would otherwise show a large relative error on a negligible value).
REL_FLOOR = 0.05


@dataclass
class LayerCheck:
    population: str
    source: str
    shape: tuple
    rel_error: float        # RMS(decoded − keras) / max(RMS(keras), REL_FLOOR·λ)
    clipped: float          # fraction of Keras values above λ (saturated neurons)
    mean_rate: float


@dataclass
class VerifyReport:
    layers: list[LayerCheck]
    readouts: list[dict]
    tolerance: float
    spiking: dict = field(default_factory=dict)

    @property
    def worst(self) -> LayerCheck | None:
        return max(self.layers, key=lambda l: l.rel_error) if self.layers else None

    @property
    def passed(self) -> bool:
        ok_layers = all(l.rel_error <= self.tolerance for l in self.layers)
        ok_out = all(r["rel_error"] <= self.tolerance and r["argmax_agreement"] >= 0.99 for r in self.readouts)
        return ok_layers and ok_out

    def table(self) -> str:
        lines = [f"{'population':<30} {'keras node':<24} {'rel.err':>8} {'clipped':>8} {'rate':>6}"]
        for l in self.layers:
            lines.append(f"{l.population:<30} {l.source:<24} {l.rel_error:>8.4f} {l.clipped:>8.4f} {l.mean_rate:>6.3f}")
        for r in self.readouts:
            lines.append(f"readout {r['name']:<22} {r['source']:<24} {r['rel_error']:>8.4f} "
                         f"argmax agreement {r['argmax_agreement']:.4f}")
        w = self.worst
        if w is not None:
            lines.append(f"worst layer: {w.population} ({w.source}), relative error {w.rel_error:.4f}")
        for k, v in self.spiking.items():
            lines.append(f"spiking check ({k} ticks): " + ", ".join(
                f"{name} argmax agreement {a:.3f}" for name, a in v.items()))
        lines.append(f"verification {'PASSED' if self.passed else 'FAILED'} (tolerance {self.tolerance:g} relative "
                     "error per layer and readout, ≥ 0.99 argmax agreement per readout)")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"layers": [vars(l) | {"shape": list(l.shape)} for l in self.layers], "readouts": self.readouts,
                "tolerance": self.tolerance, "passed": self.passed,
                "worst": None if self.worst is None else self.worst.population, "spiking": self.spiking}


def _rel(a, b, floor: float = 0.0) -> float:
    """RMS(a − b) / max(RMS(b), floor): the floor keeps nearly silent populations from dominating."""
    den = max(float(np.sqrt(np.mean(np.square(b)))), floor)
    num = float(np.sqrt(np.mean(np.square(a - b))))
    return num / den if den > 0 else num


def verify(result, images: np.ndarray | None = None, *, tolerance: float = 0.1, spiking_ticks: int = 0,
           n_images: int = 8) -> VerifyReport:
    """Rates of every population and readout against the Keras model on ``images`` (default: calibration).

    Parameters
    ----------
    result : ConversionResult
    images : np.ndarray, optional
        Model inputs (N × H × W × C); default the first ``n_images`` calibration images.
    tolerance : float
        Largest relative error (per population and readout) that passes.
    spiking_ticks : int
        If > 0, also run the tick-by-tick reference loop for that many ticks and report the readouts'
        argmax agreement with Keras.
    """
    from itnet_neuro.convert.graph import node_tensors
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    net = result.network
    if images is None:
        images = result.calibration[:n_images]
    images = np.asarray(images, np.float32)
    conv = result.converter
    meta = net.metadata
    sources = meta["keras_sources"]
    nodes = {n.id: n for n in conv.nodes}
    needed = sorted({s["node"] for s in sources.values()} | set(meta["readout_sources"].values()))
    probe = tf.keras.Model(conv.model.inputs, node_tensors(conv.model, [nodes[n] for n in needed]))
    acts = probe(images, training=False)
    acts = {n: np.asarray(a) for n, a in zip(needed, acts if isinstance(acts, list) else [acts])}
    rates, logits = rate_forward(net, images)
    unrolled = net.unroll()
    layers = []
    for p in unrolled.populations:
        src = sources.get(p.name)
        if src is None:
            continue
        a = acts[src["node"]]
        if a.ndim == 2:
            a = a[:, None, None, :]
        ref = np.maximum(src["sign"] * a[..., src["channels"][0]:src["channels"][1]], 0.0)
        dec = rates[p.name] * p.decode_scale[0]
        clipped = float(np.mean(ref > p.decode_scale[0] * (1 + 1e-6)))
        lam = float(np.mean(p.decode_scale[0]))
        if p.pair is not None:  # a signed pair carries one value: floor by the larger half's scale
            lam = max(lam, float(np.mean(unrolled.population(p.pair).decode_scale[0])))
        floor = REL_FLOOR * lam
        layers.append(LayerCheck(p.name, src["node"], p.shape, _rel(dec, ref, floor), clipped,
                                 float(rates[p.name].mean())))
    readouts = []
    def keras_logits(r, like):
        """The Keras logits a readout reproduces, NHWC, resized like the readout (its out_size)."""
        ref = acts[meta["readout_sources"][r.name]]
        if ref.ndim == 2:
            ref = ref[:, None, None, :]
        if tuple(ref.shape[1:3]) != tuple(like.shape[1:3]):
            ref = np.asarray(tf.image.resize(ref, like.shape[1:3], method="bilinear"))
        return ref

    for r, lg in zip(net.readouts, logits):
        ref = keras_logits(r, lg)
        agree = float(np.mean(np.argmax(lg, -1) == np.argmax(ref, -1)))
        readouts.append({"name": r.name, "source": meta["readout_sources"][r.name], "rel_error": _rel(lg, ref),
                         "argmax_agreement": agree})
    report = VerifyReport(layers, readouts, tolerance)
    if spiking_ticks > 0:  # the project's simulator (fast backend, unrolled, decoded from tick 1)
        from itnet_neuro.sim import simulate
        from itnet_neuro.sim.metrics import decode

        sim = simulate(net, np.ascontiguousarray(np.transpose(images, (0, 3, 1, 2))), spiking_ticks,
                       backend="fast", grid=[spiking_ticks])
        agree = {}
        for r in unrolled.readouts:
            lg = np.transpose(decode(sim, unrolled, r, 0), (0, 2, 3, 1))
            ref = keras_logits(r, lg)
            agree[r.name] = float(np.mean(np.argmax(lg, -1) == np.argmax(ref, -1)))
        report.spiking[spiking_ticks] = agree
    return report
