"""A BrainScaleS-2-sized spiking network in continuous time: membrane traces and the effect of mismatch.

BrainScaleS-2 has 512 analog neuron circuits (two hemispheres of 256) that integrate continuously and
run 1000× faster than biology. This example builds a 512-neuron IR network (a 16×16 input → 256 hidden
IF neurons → 256 output neurons, dense, random weights) and emulates it with brian2 as leaky
integrate-and-fire neurons with exponential synaptic currents (:func:`itnet_neuro.sim.brian2_backend.run_lif`),
using the chip model's membrane time constant, tick and fixed-pattern mismatch figures
(``hardware_models/chips/brainscales2.toml``). It compares

* the ideal discrete IF rates of the ``fast`` simulator (what the converted network assumes),
* the analog LIF rates without mismatch (the cost of the leak and of continuous time),
* the analog LIF rates of one chip instance with per-synapse and per-neuron mismatch,

and plots a few membrane traces with and without mismatch. Writes ``docs/brainscales2_membranes.png``.

    python examples/brainscales2_membranes.py [--out docs/brainscales2_membranes.png] [--duration 0.2]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hardware_models.spec import load_chip
from itnet_neuro.ir.graph import Connection, InputSpec, Network, Population, Readout, ReadoutTerm
from itnet_neuro.sim.brian2_backend import run_lif
from itnet_neuro.sim.core import simulate
from itnet_neuro.utils import save_figure, use_agg_backend


def bss2_sized_network(seed: int = 0) -> tuple[Network, np.ndarray]:
    """512 IF neurons: 16×16 input → 256 hidden → 256 output (dense), and one input pattern."""
    rng = np.random.default_rng(seed)
    n_in, n_hid, n_out = 256, 256, 256
    # excitatory-biased random weights with inhibition, scaled for rates of ~0.05-0.5 spikes per tick
    w1 = rng.normal(0.0015, 0.012, (n_hid, n_in))
    w2 = rng.normal(0.003, 0.03, (n_out, n_hid))
    hidden = Population("hidden", (n_hid, 1, 1), threshold=1.0, bias=0.0, decode_scale=1.0, v_init=0.0)
    output = Population("output", (n_out, 1, 1), threshold=1.0, bias=0.0, decode_scale=1.0, v_init=0.0)
    conns = (Connection("in_hidden", "image", "hidden", "dense", w1),
             Connection("hidden_output", "hidden", "output", "dense", w2))
    ro = Readout("out", 0, (ReadoutTerm("output", np.eye(n_out)),), np.zeros(n_out))
    net = Network("bss2-sized", InputSpec("image", (1, 16, 16)), (hidden, output), conns, (ro,))
    yy, xx = np.mgrid[0:16, 0:16] / 15.0
    x = (0.5 + 0.5 * np.sin(3 * xx + 2 * yy)).reshape(1, 16, 16)  # a smooth "image" in [0, 1]
    return net, x


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "brainscales2_membranes.png"))
    p.add_argument("--duration", type=float, default=0.2, help="emulated biological seconds")
    p.add_argument("--chip-seed", type=int, default=1)
    args = p.parse_args(argv)

    chip = load_chip("brainscales2")
    tick = chip.timing.biological_tick_seconds          # 1 ms biological per tick
    tau_m = chip.neuron.membrane_time_constant_s        # 10 ms biological
    net, x = bss2_sized_network()
    assert net.n_neurons == 2 * chip.core.max_neurons   # the whole chip: both hemispheres
    ticks = int(round(args.duration / tick))

    ideal = simulate(net, x[None].astype(np.float32), ticks, backend="fast", record=True)
    ideal_rate = {p.name: ideal.trains[p.name][0].reshape(ticks, -1).mean(axis=0) for p in net.populations}
    common = dict(tau_m_s=tau_m, tau_syn_s=tau_m / 2, tick_s=tick, record_v=4)
    clean = run_lif(net, x, args.duration, **common)
    mism = run_lif(net, x, args.duration, weight_mismatch=chip.noise.weight_mismatch_rel_std,
                   neuron_mismatch=chip.noise.neuron_mismatch_rel_std, seed=args.chip_seed, **common)

    use_agg_backend()
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
    t_ms = clean["t"] * 1e3
    for k, col in zip(range(3), ("tab:blue", "tab:orange", "tab:green")):
        axes[0, 0].plot(t_ms, clean["v"]["hidden"][k], color=col, lw=0.8, label=f"hidden {k}")
        axes[0, 0].plot(t_ms, mism["v"]["hidden"][k], color=col, lw=0.8, ls="--")
    axes[0, 0].axhline(1.0, color="k", lw=0.6, ls=":")
    axes[0, 0].set_xlim(0, min(60, t_ms[-1]))
    axes[0, 0].set_xlabel("biological time (ms)")
    axes[0, 0].set_ylabel("membrane v (units of θ)")
    axes[0, 0].set_title("Hidden membranes: ideal circuits (solid), one chip instance (dashed)", fontsize=8)
    sec = axes[0, 0].secondary_xaxis("top", functions=(lambda ms: ms / chip.timing.acceleration_factor * 1e3,
                                                        lambda us: us * chip.timing.acceleration_factor / 1e3))
    sec.set_xlabel("hardware time (µs)", fontsize=8)
    axes[0, 0].legend(fontsize=7)
    for k, col in zip(range(3), ("tab:blue", "tab:orange", "tab:green")):
        axes[0, 1].plot(t_ms, clean["v"]["output"][k], color=col, lw=0.8)
        axes[0, 1].plot(t_ms, mism["v"]["output"][k], color=col, lw=0.8, ls="--")
    axes[0, 1].axhline(1.0, color="k", lw=0.6, ls=":")
    axes[0, 1].set_xlim(0, min(60, t_ms[-1]))
    axes[0, 1].set_xlabel("biological time (ms)")
    axes[0, 1].set_title("Output membranes", fontsize=8)
    for ax, pop in ((axes[1, 0], "hidden"), (axes[1, 1], "output")):
        ax.scatter(ideal_rate[pop], clean["rates"][pop], s=5, alpha=0.6, label="analog LIF, no mismatch")
        ax.scatter(ideal_rate[pop], mism["rates"][pop], s=5, alpha=0.6, label=(
            f"analog LIF, mismatch {chip.noise.weight_mismatch_rel_std:.0%} / {chip.noise.neuron_mismatch_rel_std:.0%}"))
        top = max(1e-3, float(ideal_rate[pop].max()))
        ax.plot([0, top], [0, top], "k:", lw=0.8)
        ax.set_xlabel("ideal IF rate (spikes/tick, fast simulator)")
        ax.set_ylabel("analog rate (spikes/tick)")
        err = np.abs(mism["rates"][pop] - clean["rates"][pop]).mean()
        ax.set_title(f"{pop} (256 neurons): mean |Δrate| from mismatch {err:.3f}/tick", fontsize=8)
        ax.legend(fontsize=7)
    fig.suptitle(f"BrainScaleS-2-sized network (512 neurons) in continuous time: τ_m = {tau_m * 1e3:.0f} ms "
                 f"biological, {chip.timing.acceleration_factor:.0f}× accelerated, "
                 f"{args.duration * 1e3:.0f} ms emulated = {args.duration / chip.timing.acceleration_factor * 1e6:.0f} µs",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, args.out)
    for pop in ("hidden", "output"):
        print(f"{pop}: ideal IF {ideal_rate[pop].mean():.3f}, LIF {clean['rates'][pop].mean():.3f}, "
              f"LIF+mismatch {mism['rates'][pop].mean():.3f} spikes/tick (mean over 256 neurons)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
