"""``itnet-neuro demo`` / ``make demo``: the whole pipeline on the shipped model, as a user would run it.

Every step is an ``itnet-neuro`` command, printed before it runs, so the demo doubles as a tutorial:
data preview → footprint → convert (+ layer-by-layer verification) → nengo export → chips → allocation
on every chip → allocation on Loihi (phase length measured) → spiking simulation on the ideal chip and
with the device effects of TrueNorth and BrainScaleS-2 (unrolled), and on the Loihi allocation (looped,
regenerating state buffer) → a summary of every output's accuracy and latency, and one plot of all
four. Outputs go to one folder (default ``out/demo``).
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path

#: Chips simulated with ``--chip`` (the unrolled schedule; the chip's quantization, noise and tick apply
#: whether or not the model fits it): the ideal reference, a digital and a mixed-signal chip.
CHIP_RUNS = ("ideal", "truenorth", "brainscales2")
#: Chip simulated from its allocation (``--alloc``: the schedule and phase length the allocator chose).
ALLOC_RUN = "loihi"
SIM_CHIPS = CHIP_RUNS + (ALLOC_RUN,)


@dataclass
class Step:
    title: str
    argv: list[str]


def plan(out: Path, images: int, ticks: int) -> list[Step]:
    """The demo's commands, in order."""
    snn = str(out / "model.snn.h5")
    alloc = str(out / f"alloc_{ALLOC_RUN}.json")
    steps = [
        Step("synthetic street scenes (CamVid's 11 classes)",
             ["data", "preview", "-o", str(out / "synthetic_examples.png")]),
        Step("the paper's footprint metrics of the shipped shared-weight ItNet", ["footprint"]),
        Step("convert to a rate-coded spiking network and verify it layer by layer",
             ["convert", "-o", snn, "--verify"]),
        # NIR 1.0.8 has no resampling node, so this model's up-sampling would have to be written as dense
        # matrices (the first one 28.3 M elements, over export's default limit); nengo holds it as it is.
        Step("export to nengo (NIR refuses this model's up-sampling: it has no resampling node)",
             ["export", snn, "--format", "nengo"]),
        Step("the packaged chip models", ["chips"]),
        # infeasible chips are rows of the table with their reasons, not failures of the demo
        Step("allocate on every packaged chip", ["compare", snn, "--json", str(out / "compare.json")]),
        Step(f"allocate on {ALLOC_RUN}: the shared block once, looped over the iterations, its phase length "
             "measured (core map PNG)",
             ["allocate", snn, "--chip", ALLOC_RUN, "--phase-ticks", "auto", "-o", alloc,
              "--plot", str(out / f"cores_{ALLOC_RUN}.png")]),
    ]
    for chip in CHIP_RUNS:
        what = "no device effects" if chip == "ideal" else "its device effects, unrolled, fitting or not"
        steps.append(Step(f"simulate on {chip} ({what}): mIoU of every output over time",
                          ["simulate", snn, "--chip", chip, "--images", str(images), "--ticks", str(ticks),
                           "-o", str(out / f"results_{chip}.json"), "--plot", str(out / f"plots_{chip}")]))
    steps.append(Step(f"simulate the {ALLOC_RUN} allocation (its schedule, phase length and regenerating state "
                      "buffer: output n after n phases)",
                      ["simulate", snn, "--alloc", alloc, "--images", str(images),
                       "-o", str(out / f"results_{ALLOC_RUN}.json"), "--plot", str(out / f"plots_{ALLOC_RUN}")]))
    return steps


def load_results(out: Path) -> dict[str, dict]:
    """The results files the simulation steps wrote, by chip, in :data:`SIM_CHIPS` order."""
    return {chip: json.loads((out / f"results_{chip}.json").read_text())
            for chip in SIM_CHIPS if (out / f"results_{chip}.json").exists()}


def summarize(results: dict[str, dict]) -> str:
    """Per chip and output: ANN vs SNN mIoU, latency (depth) and time to 90% of the ANN's mIoU."""
    lines = [f"{'chip':<13} {'schedule':<8} {'output':>6}  {'ANN mIoU':>8}  {'SNN mIoU':>8}  {'depth tick':>10}  "
             f"{'→90% ANN':>9}  {'→90% on chip':>12}"]

    def cell(v, width):
        return f"{'-' if v is None else v:>{width}}"

    for chip, res in results.items():
        for o in res["outputs"]:
            secs = o.get("seconds_to_90")
            lines.append(f"{chip:<13} {res['schedule']:<8} {o['index'] + 1:>6}  {o['ann_miou']:>8.3f}  "
                         f"{o['snn_miou']:>8.3f}  {cell(o['first_output_tick'], 10)}  {cell(o.get('ticks_to_90'), 9)}  "
                         f"{'-' if secs is None else f'{secs:.3g} s':>12}")
    return "\n".join(lines)


def run_demo(out_dir: str | Path = "out/demo", *, images: int = 8, ticks: int = 256) -> int:
    """Run every step; stop at the first one that fails. Returns the exit code."""
    from itnet_neuro.cli import main

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    steps = plan(out, images, ticks)
    start = time.perf_counter()
    for i, step in enumerate(steps, 1):
        print(f"\n[{i}/{len(steps)}] {step.title}\n$ itnet-neuro {shlex.join(step.argv)}", flush=True)
        code = main(step.argv)
        if code != 0:
            print(f"demo stopped: step {i} exited {code}")
            return code
    print(f"\nDemo finished in {time.perf_counter() - start:.0f} s. Results in {out}/:")
    results = load_results(out)
    print(summarize(results))
    if results:
        from itnet_neuro.sim.plots import plot_chip_comparison

        plot_chip_comparison(results, out / "anytime_by_chip.png")
    for path in sorted(out.rglob("*.png")):
        print(f"  plot: {path}")
    return 0
