"""A NIR graph from another library onto our chips: import, check spike for spike, allocate, simulate.

Written here with NIR's own API the way sinabs exports a small CNN (``Conv2d → IF → SumPool2d →
Conv2d → IF → Flatten → Affine → IF → Output``, IF neurons with ``v_reset = 0`` as sinabs writes
them, random weights). Imported with ``reset="subtract"`` — what sinabs' IAF actually runs (as written,
the neurons would become the IR's reset-to-zero neurons) — the graph becomes an IR network whose
spikes equal the NIR graph's, run with the same reset (:mod:`itnet_neuro.sim.nir_graph`), neuron for
neuron.
It is then allocated on every packaged chip and simulated with each chip's device model; the plot
shows the cores per chip and how far each chip's output rates move from the ideal ones.

    python examples/nir_onto_chips.py [--out docs/examples/nir_onto_chips.png]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _gallery import parser, run_example


def sinabs_style_graph(seed: int = 0):
    """A 2×16×16 event-camera-sized CNN as sinabs would export it (weights random)."""
    import nir

    rng = np.random.default_rng(seed)

    def conv(c_out, c_in, hw, scale):
        return nir.Conv2d(input_shape=hw, weight=rng.normal(0.02, scale, (c_out, c_in, 3, 3)), stride=1, padding=1,
                          dilation=1, groups=1, bias=np.full(c_out, 0.05))

    def if_(shape):
        return nir.IF(r=np.ones(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape))

    nodes = {"input": nir.Input({"input": np.array([2, 16, 16])}), "conv1": conv(8, 2, (16, 16), 0.5),
             "iaf1": if_((8, 16, 16)),
             "pool1": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "conv2": conv(16, 8, (8, 8), 0.25), "iaf2": if_((16, 8, 8)),
             "flat": nir.Flatten({"input": np.array([16, 8, 8])}, start_dim=0, end_dim=-1),
             "fc": nir.Affine(weight=rng.normal(0.0, 0.08, (10, 1024)), bias=np.full(10, 0.05)), "iaf3": if_((10,)),
             "output": nir.Output({"output": np.array([10])})}
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def run(ticks: int) -> dict:
    import nir

    from itnet_neuro.convert.nir_import import from_nir, verify_nir
    from itnet_neuro.sim.core import simulate
    from itnet_neuro.sim.hardware import Hardware
    from mapping import plan

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sinabs_cnn.nir"
        nir.write(str(path), sinabs_style_graph())
        graph = nir.read(str(path))
    net, report = from_nir(graph, reset="subtract", name="sinabs_cnn")
    check = verify_nir(graph, net, ticks=ticks, images=2, reset="subtract")
    x = np.random.default_rng(1).uniform(0, 1, (2,) + net.input.shape).astype(np.float32)
    ideal = simulate(net, x, ticks, grid=[ticks]).counts["iaf3"][:, -1].astype(float) / ticks
    chips = {}
    for chip in ("truenorth", "loihi", "loihi2", "spinnaker2", "brainscales2", "dynapcnn"):
        a = plan(net, chip)
        hw = Hardware.from_chip(chip, seed=0)
        rates = simulate(net, x, ticks, grid=[ticks], hardware=hw).counts["iaf3"][:, -1].astype(float) / ticks
        chips[chip] = {"cores": a.cores_used, "feasible": a.feasible, "schedule": a.schedule,
                       "output_rate_rms_error": float(np.sqrt(np.mean((rates - ideal) ** 2))),
                       "argmax_agreement": float(np.mean(rates.reshape(2, -1).argmax(1) == ideal.reshape(2, -1).argmax(1)))}
    return {"ticks": ticks, "populations": len(net.populations), "neurons": net.n_neurons, "synapses": net.n_synapses,
            "ops": sorted({c.op for c in net.connections}), "notes": report["notes"][:3], "nir_vs_ir": check,
            "ideal_output_rate_mean": float(ideal.mean()), "chips": chips}


def draw(fig, r: dict) -> None:
    ax1, ax2 = fig.subplots(1, 2)
    names = list(r["chips"])
    ax1.bar(names, [r["chips"][c]["cores"] for c in names],
            color=["tab:blue" if r["chips"][c]["feasible"] else "tab:red" for c in names])
    ax1.set(ylabel="cores (red: does not fit)", title=f"sinabs-style CNN from NIR: {r['neurons']:,} neurons")
    ax2.bar(names, [r["chips"][c]["output_rate_rms_error"] for c in names], color="tab:gray")
    ax2.set(ylabel="RMS error of output rates vs ideal chip",
            title=f"NIR vs IR: {r['nir_vs_ir']['agreement']:.4%} of neuron-ticks agree")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", rotation=30)


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--ticks", type=int, default=128)
    return run_example(__file__, p, argv, run, draw)


if __name__ == "__main__":
    raise SystemExit(main())
