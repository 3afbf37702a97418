"""Thresholds of fan-in relays measured on calibration images (numpy; no TensorFlow).

:mod:`mapping.split` splits a neuron's inputs over relay neurons; a relay with threshold θ fires at
``S̄/θ`` spikes per tick for a partial sum ``S̄`` (the ANN value of its input current), and an IF
neuron fires at most once per tick, so θ must be at least the largest ``S̄`` it will see. Here
``S̄`` is measured by the IR's rate evaluation, in float64 with :func:`itnet_neuro.sim.reference.apply_op`,
of the split network with its relays at the weight bound (which no input exceeds, so no relay
clips and every population has its rate of the unsplit network)::

    r_p = clip((Σ_conn op(r_pre) + b_p) / θ_p, 0, 1)        r_input = the input value

    θ_relay[c] = percentile over images, pixels and copies of S̄_c      (pair: of |S̄_c|)

The default percentile is 100 (the largest value measured): relays then stay below one spike per
tick on the calibration images. A looped block relay gets one θ for all iterations (its summing
weights ±θ are shared by them).
"""

from __future__ import annotations

import numpy as np

from itnet_neuro.errors import ValidationError

#: Calibration of relay thresholds unless given: the converter's kind of images (synthetic, validation
#: split), 16 of them (~4 s for the shipped model in numpy).
DEFAULT_IMAGES = 16
DEFAULT_PERCENTILE = 100.0


def calibration_inputs(net, n: int = DEFAULT_IMAGES, seed: int = 0) -> np.ndarray:
    """``n`` synthetic validation images at the network's size, preprocessed, ``(n, C, H, W)`` float32
    (the first of the images :func:`itnet_neuro.convert.convert_model` calibrates with by default)."""
    from itnet_neuro.data.synthetic import load_split

    c, h, w = net.input.shape
    if c != 3:
        raise ValidationError(f"network {net.name!r}: synthetic calibration images are RGB, the input has {c} "
                              "channels; give calibration images")
    images, _ = load_split("val", int(n), h, w, seed=seed)
    raw = np.clip(images * 255.0, 0, 255)
    x = raw * np.float32(net.input.scale) + np.float32(net.input.offset)
    return np.ascontiguousarray(np.transpose(x, (0, 3, 1, 2)).astype(np.float32))


def _rate_pass(net, x: np.ndarray, keep):
    """The rate evaluation of ``net.unroll()`` on ``x``: yields ``(population, current, rate)`` in
    topological order (arrays ``(B, C, H, W)``, float64), for the populations ``keep(name)`` accepts."""
    from itnet_neuro.sim.kernels.numpy_ops import apply_op

    flat = net.unroll()
    incoming: dict[str, list] = {}
    for c in flat.connections:
        incoming.setdefault(c.post, []).append(c)
    rates = {flat.input.name: np.asarray(x, np.float64)}
    for p in flat.populations:
        cur = np.zeros((x.shape[0],) + p.shape)
        for c in incoming.get(p.name, ()):
            y = apply_op(flat, c, rates[c.pre])
            cur[:, c.post_offset:c.post_offset + y.shape[1]] += y
        thr, bias, _ = p.params()
        rates[p.name] = np.clip((cur + bias.reshape(1, -1, 1, 1)) / thr.reshape(1, -1, 1, 1), 0.0, 1.0)
        if keep(p.name):
            yield p.name, cur, rates[p.name]


def relay_currents(run, relays, x: np.ndarray) -> dict[str, np.ndarray]:
    """ANN input current ``(B, C, H, W)`` of every copy of each relay population in ``relays``.

    ``run`` is the split network as :func:`mapping.split.apply_record` builds it; keys are the
    populations of ``run.unroll()`` (``relay`` or ``relay@n``).
    """
    from mapping.schedule import split_copy

    base = set(relays)
    return {name: cur for name, cur, _ in _rate_pass(run, x, lambda n: n in base or split_copy(n)[0] in base)}


def population_rates(net, x: np.ndarray) -> dict[str, float]:
    """Mean spikes per neuron per tick of every population on images ``x`` (the rate evaluation), by
    unrolled name (``pop@n``) and by population (the mean over its copies), and of the input (its
    mean value, a current per tick): what :func:`mapping.allocate.plan` takes as ``rates``."""
    from mapping.schedule import split_copy

    out: dict[str, float] = {net.input.name: float(np.mean(np.abs(x)))}
    copies: dict[str, list] = {}
    for name, _, rate in _rate_pass(net, x, lambda n: True):
        out[name] = float(rate.mean())
        copies.setdefault(split_copy(name)[0], []).append(out[name])
    for base, vals in copies.items():
        out.setdefault(base, float(np.mean(vals)))
    return out


def calibrate_split(net, record, x: np.ndarray, *, percentile: float = DEFAULT_PERCENTILE, data: str = "synthetic"):
    """``record`` (a :class:`mapping.split.SplitRecord`) with each relay's θ measured on images ``x``.

    Parameters
    ----------
    net : Network
        The network that was allocated (before splitting; the block network for ``looped``).
    x : np.ndarray
        Calibration inputs ``(B, C, H, W)``, preprocessed.
    percentile : float
        Of the partial sums per relay channel (100: the largest, no relay above one spike per tick).
    """
    import dataclasses

    from mapping.schedule import split_copy
    from mapping.split import apply_record

    if not 0 < percentile <= 100:
        raise ValidationError(f"relay percentile {percentile}: must be in (0, 100]")
    bare = dataclasses.replace(record, relays=tuple(dataclasses.replace(r, threshold=None) for r in record.relays))
    run = apply_record(net, bare)
    cur = relay_currents(run, bare.relay_names, x)
    thresholds, rates = {}, []
    for r in bare.relays:
        copies = [v for k, v in cur.items() if k == r.name or (record.schedule == "looped" and split_copy(k)[0] == r.name)]
        s = np.concatenate([_signed(v, r.sign) for v in copies], axis=0)  # (B·copies, C, H, W)
        flat = np.moveaxis(s, 1, 0).reshape(s.shape[1], -1)
        theta = np.percentile(flat, percentile, axis=1)
        bound = _bound(run, r)
        theta = np.where(theta > 0, theta, bound)
        thresholds[r.name] = theta
        rates.append(float((flat / theta[:, None]).max(initial=0.0)))
    info = {"method": "calibration images", "data": data, "images": int(x.shape[0]), "percentile": float(percentile),
            "max_relay_rate": max(rates, default=0.0)}
    return record.with_thresholds(thresholds, info)


def _signed(cur: np.ndarray, sign: int) -> np.ndarray:
    """The partial sum a relay's θ must cover: ``|S|`` per channel pair (pair), the current otherwise."""
    if sign == 0:
        return np.maximum(np.abs(cur[:, 0::2]), np.abs(cur[:, 1::2]))
    return np.maximum(cur, 0.0)


def _bound(run, relay) -> np.ndarray:
    """The relay's weight-bound θ per channel (pair), as :func:`mapping.split.apply_record` set it."""
    th = run.population(relay.name).threshold[0].astype(np.float64)
    return th[0::2] if relay.sign == 0 else th
