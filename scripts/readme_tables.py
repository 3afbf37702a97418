"""Regenerate the README's tables from the results files the benchmark scripts wrote.

Each generated block sits between two marker comments in README.md::

    <!-- readme_tables:NAME from FILE (scripts/readme_tables.py; do not edit by hand) -->
    ...
    <!-- /readme_tables:NAME -->

``python scripts/readme_tables.py`` rewrites the blocks; ``--check`` only compares and exits 1 naming the
blocks that differ (``tests/test_readme.py`` runs it, so a README that disagrees with its results
files fails the tests). Every source file must carry the ``command`` that wrote it.

Blocks:

* ``chips``: the shipped model on every chip, its allocation realized core by core beside the old
  device effects by chip name (``benchmarks/results/chips.json``, ``benchmarks/bench_chips.py``);
* ``startup``: where ``fast``'s cold start goes (``benchmarks/results/startup.json``,
  ``benchmarks/bench_startup.py``);
* ``allocate``: allocation speed and quality on the paper presets (``benchmarks/results/allocate.json``,
  ``benchmarks/bench_allocate.py``);
* ``footprint``: which reading of the paper's Figure 2 reproduces its footprint figures
  (``benchmarks/results/footprint_readings.json``, ``scripts/fig2_readings.py``);
* ``explore``: the shipped model over every chip × schedule × phase length
  (``benchmarks/results/explore.json``, ``benchmarks/bench_explore.py``); ``explore_timing``: a
  sub-sweep's wall time, serial against a local Dask cluster (``explore_timing.json``, ``--timing``);
* ``demo``: the shipped model on the demo's chips and schedules, and ``compare``: its allocation on every
  packaged chip (``benchmarks/results/simulate_shipped.json``, ``benchmarks/bench_shipped.py``);
* ``examples``: what each example shows and how long it ran (``docs/examples/*.json``, written by the
  examples themselves);
* ``simulate``: every simulation backend cold and warm as ratios to ``fast`` measured in one run, and
  ``fast`` against the machine's dense-MAC floor (``benchmarks/results/simulate.json``,
  ``benchmarks/bench_simulate.py``);
* ``event_driven``: the event-driven convolution against the dense one by spike density
  (``benchmarks/results/event_driven.json``, ``benchmarks/bench_event_driven.py``);
* ``paper_unrolled``: the paper preset's 256 ticks on ``fast``, time and peak memory
  (``benchmarks/results/paper_unrolled.json``, ``benchmarks/bench_paper_unrolled.py``);
* ``peer_snntoolbox``: ``fast`` beside snntoolbox 0.6's INI simulator on one segmentation CNN, per image-tick
  at batch 1 and 50 (``benchmarks/results/peer_snntoolbox.json``, ``benchmarks/bench_snntoolbox.py``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"

_BLOCK = re.compile(r"(<!-- readme_tables:(?P<name>[a-z_]+) from (?P<file>\S+) [^>]*-->\n)(?P<body>.*?)"
                    r"(<!-- /readme_tables:(?P=name) -->)", re.S)


def load(name: str) -> dict:
    """A results file (by name in ``benchmarks/results/``, or a path under the repo); it must say which
    command wrote it. A folder gives ``{file stem: its results}`` of every ``*.json`` in it."""
    path = ROOT / name if "/" in name and not name.startswith("benchmarks/results/") else RESULTS / Path(name).name
    if path.is_dir():
        return {p.stem: load(str(p.relative_to(ROOT))) for p in sorted(path.glob("*.json"))}
    data = json.loads(path.read_text())
    if not str(data.get("command", "")).strip():
        raise SystemExit(f"{path}: no 'command' key saying which script wrote it")
    return data


def _f(v, fmt=".3f") -> str:
    return "–" if v is None else format(v, fmt)


# ---------------------------------------------------------------------------------------------- allocate

def allocate_text(d: dict) -> str:
    every = [r for p in d["presets"].values() for r in p["runs"]]
    runs = [r for r in every if r.get("ratio_to_lower_bound") is not None]  # None: layers unplaced
    chips = sorted({r["chip"] for r in every})
    slowest = max(r["seconds"] for r in every)
    neuron_bound = [r["ratio_to_lower_bound"] for r in runs if r["bound_resource"] == "neurons"]
    spinnaker = [r["ratio_to_lower_bound"] for r in runs if r["chip"] == "spinnaker"]
    other = [r["ratio_to_lower_bound"] for r in runs if r["bound_resource"] not in ("neurons", None, "layers")]
    looped = [r for r in runs if r.get("looped_over_unrolled_cores") and r["chip"] != "ideal"
              and r["bound_resource"] != "layers"]  # one core either way, or one layer per core
    from hardware_models import load_chip

    switch = {c: load_chip(c).neuron.parameters_switchable_at_runtime for c in chips}
    can = [r["looped_over_unrolled_cores"] for r in looped if switch[r["chip"]]]
    cannot = sorted({r["chip"] for r in looped if not switch[r["chip"]]})
    cannot_ratios = [r["looped_over_unrolled_cores"] for r in looped if r["chip"] in cannot]
    text = (f"**Allocation** (`allocate.json`): both paper presets on all {len(chips)} chips, {len(every)} "
            f"allocations, {_allocate_time(d, every, slowest)}. Cores are within {max(neuron_bound):.2f}× of the "
            f"lower bound where neurons bind (SpiNNaker: {min(spinnaker):.2f}–{max(spinnaker):.2f}×) and up "
            f"to {max(other):.1f}× where synapse memory or axons bind. Looping the shared block needs "
            f"{min(can):.2f}–{max(can):.2f}× the cores of unrolling it")
    if cannot:
        text += (f" ({min(cannot_ratios):.2f}–{max(cannot_ratios):.2f}× on {', '.join(cannot)}, which cannot "
                 "switch neuron parameters between phases, so their looped allocation is hypothetical)")
    return text + "." + _unplaced_text(every)


def _unplaced_text(every: list) -> str:
    """Allocations that left layers on no core: their cores are no allocation of the network (no ratio)."""
    off = [r for r in every if r.get("unplaced_layers")]
    if not off:
        return ""
    chips = sorted({r["chip"] for r in off})
    return (f" On {', '.join(chips)} the presets have more layers than the chip has cores: {len(off)} allocations "
            f"leave {min(r['unplaced_layers'] for r in off)}–{max(r['unplaced_layers'] for r in off)} layers "
            "unplaced, so their cores are not compared with the bound.")


def _allocate_time(d: dict, runs: list, slowest: float) -> str:
    """The time goal, met or not; CPU seconds and the load average where the wall time missed it."""
    goal = d["goals"]["seconds"]
    if slowest < goal:
        return f"each within the {goal:g} s goal (the slowest took {slowest / goal:.0%} of it)"
    over = sum(r["seconds"] >= goal for r in runs)
    cpu = max(r["cpu_seconds"] for r in runs)
    load = max(d["load_average_before"][0], d["load_average_after"][0])
    return (f"{over} over the {goal:g} s goal in wall-clock time (slowest {slowest:.1f} s, measured under a "
            f"load average of up to {load:.0f} on {d['machine']['cpus']} cores); in CPU time the slowest took "
            f"{cpu:.1f} s ({'within' if cpu < goal else 'over'} the goal)")


# --------------------------------------------------------------------------------------------- footprint

_READING_WORDS = {
    ("stage", "conv_pool"): "conv-then-pool stages", ("stage", "pool_conv"): "pool-then-conv stages",
    ("stage", "conv_s2"): "strided-conv stages without pool branch", ("stage_width", "f"): "f channels in the stages",
    ("finest", 4): "finest scale at 1/4", ("mix_hidden", "f_r"): "f_r in the mixing block",
    ("brb_hidden", "t*f"): "bottleneck hidden width t·f", ("last_all", True): "a complete last iteration",
    ("image", False): "the image not counted", ("concat", True): "concatenations fused into their convs",
    ("skip", True): "residual sums fused into their convs", ("upsample", True): "up-sampling fused into the classifier",
    ("bn_node", True): "BN between iterations as nodes", ("per_call", True): "feature maps once per call",
    ("bytes_param", 8): "8-byte parameters", ("bytes_act", 8): "8-byte activations",
    ("bytes_act", 2): "2-byte activations", ("mb", 2 ** 20): "MB = 2^20 bytes"}


def _reading(row: dict, builder: dict) -> str:
    words = [_READING_WORDS[(k, v)] for k, v in row["reading"].items() if builder[k] != v]
    return ", ".join(words) or "the builder's reading"


def _ratios(row: dict) -> str:
    r, o = row["ratios"], row["outputs"]
    return (f"CamVid independent {r['camvid_independent_macs']:.2f}× MACs and "
            f"{r['camvid_independent_graph_mb']:.2f}× graph (output {o['camvid_independent']}), shared "
            f"{r['camvid_shared_macs']:.2f}× and {r['camvid_shared_graph_mb']:.2f}× (output {o['camvid_shared']}), "
            f"Cityscapes (f = {row['cityscapes_f']}) {r['cityscapes_state_mb']:.2f}× state and "
            f"{r['cityscapes_graph_mb']:.2f}× graph (output {o['cityscapes']})")


def _fits_break(d: dict) -> str:
    """What the readings within the tolerance give up, counted in the results file."""
    n, w = d["within_tolerance"], d["within_tolerance_with"]
    return (f"{n - w['float32']} of the {n} count 8 bytes per value where the only precision the paper names is "
            f"float32 (§4) and {n - w['meets_macs_bound']} break the 2.2 G bound")


def footprint_text(d: dict) -> str:
    b, best, builder, tol = d["builder"], d["best"], d["readings_enumerated"]["builder"], d["tolerance"]
    miss = {k: f"{d[k]['worst_residual']:.0%}" for k in ("best_float32", "best_float32_and_macs_bound",
                                                         "best_f29_is_largest", "best_float32_and_f29_is_largest",
                                                         "best_builder_architecture")}
    return (
        f"**Against the paper** (`footprint_readings.json`, `scripts/fig2_readings.py`): {d['readings']:,} readings "
        f"of Figure 2 and §2.3 (stage layout and widths, finest scale, mixing and bottleneck widths, fused "
        f"concatenations, skips and up-sampling, BN as a node, bytes per value, MB) against the paper's six figures "
        f"(CamVid MACs and graph of both networks, Cityscapes state and graph). Ours: {_ratios(b)}. The paper does "
        f"not state Cityscapes' f, and f = {b['cityscapes_f']} matches both its figures, but the CamVid graphs, "
        f"whose f it does state, stay at {b['ratios']['camvid_independent_graph_mb']:.2f}× and "
        f"{b['ratios']['camvid_shared_graph_mb']:.2f}×; and f = 30 would cost "
        f"{b['camvid_independent_f30_last_macs'] / 1e9:.2f} G, so our reading does not make f = 29 the largest "
        f"width under §3.1's 2.2 G either. {d['within_tolerance']} readings come within {tol:.0%} of all six "
        f"figures; the closest ({_reading(best, builder)}) gives {_ratios(best)}, but {_fits_break(d)} that chose "
        f"f = 29 (§3.1; the closest: {best['camvid_independent_last_macs'] / 1e9:.2f} G at the last output). The "
        f"best reading in float32 misses by {miss['best_float32']} (with the bound: "
        f"{miss['best_float32_and_macs_bound']}); the best that makes f = 29 the largest width under the bound by "
        f"{miss['best_f29_is_largest']} ({miss['best_float32_and_f29_is_largest']} in float32); the best that keeps "
        f"our architecture by {miss['best_builder_architecture']} "
        f"({_reading(d['best_builder_architecture'], builder)}). So no reading fits; we keep the builder's "
        f"architecture and §2.3's accounting in float32, and the CamVid graph sizes stay unexplained.")


def chips_table(d: dict) -> str:
    """Per chip: allocation, mIoU per output with the allocation realized and by chip name, clips."""
    runs = d["runs"]
    n = len(runs[0]["realized"]["snn_miou"])
    head = "| chip | allocation (unrolled) | simulated as | " + " | ".join(str(i + 1) for i in range(n)) + " | clipped |"
    lines = [head, "|" + "---|" * (n + 4)]
    ann = runs[0]["realized"]["ann_miou"]
    lines.append("| Keras ANN | | | " + " | ".join(_f(v) for v in ann) + " | |")
    for r in runs:
        a = r["allocation"]
        fit = f"fits, {a['cores']:,} cores" if a["feasible"] else f"does not fit ({a['n_violations']} violation(s))"
        clip = r["realized"].get("clipped") or {}
        clips = ", ".join(f"{k} {v}" for k, v in sorted(clip.items()) if v) or "none"
        how = "allocation realized" + ("" if a["feasible"] else " (--ignore-limits)")
        lines.append(f"| {r['chip']} | {fit} | {how} | " + " | ".join(_f(v) for v in r["realized"]["snn_miou"])
                     + f" | {clips} |")
        if "by_name" in r:
            lines.append("| | | chip name only (per-connection weights) | "
                         + " | ".join(_f(v) for v in r["by_name"]["snn_miou"]) + " | |")
    return "\n".join(lines) + "\n"


def startup_text(d: dict) -> str:
    return _startup_cli(d["cli"]) + "\n" + _startup_tf(d)


def _startup_cli(c: dict) -> str:
    """The CLI's first tick and whole-process time per run length (issue 17)."""
    runs = c["runs"]
    n = min(len(r["runs"]) for r in runs.values())
    lo = min(r["load_average_1min_range"][0] for r in runs.values())
    hi = max(r["load_average_1min_range"][1] for r in runs.values())
    lines = [f"**Start-up and cold end-to-end** (`startup.json`): `itnet-neuro simulate shipped.snn.h5 --chip ideal` "
             f"on the shipped model, each run a fresh process on a warm disk, medians of {n} runs taken in turn "
             f"(1-minute load average {lo:.1f}–{hi:.1f}, 2 cores). *First tick*: when the simulator's first tick "
             f"started, counted from the process's start as Linux records it (results.json "
             f"`wall_seconds.first_tick_after_process_start`; `python -c pass` alone takes "
             f"{c['python_c_pass_median_s']:.2f} s).",
             "", "| images × ticks | kernels | first tick after | whole process |", "|---|---|---:|---:|"]
    for r in sorted(runs.values(), key=lambda r: (r["ticks"], r["images"], not r["file_checked_before"])):
        note = " (the default run)" if not r["arguments"] else ""
        note += "" if r["file_checked_before"] else ", a file not read before¹"
        lines.append(f"| {r['images']} × {r['ticks']}{note} | {', '.join(r['kernels'])} | "
                     f"{r['median_first_tick_after_s']:.2f} s | {r['median_wall_s']:.2f} s |")
    lines += ["", "¹ its HDF5 safety check (`itnet_neuro/untrusted.py`, SECURITY.md) walks it in a child process "
              "first; the other rows read the same file, whose check is remembered by the SHA-256 of its bytes."]
    return "\n".join(lines) + "\n"


def _startup_tf(d: dict) -> str:
    t, f = d["tensorflow_import"], d["fast_process"]
    return (f"Where `fast`'s cold start goes (`startup.json`, medians of {len(t['pairs'])} paired runs): importing "
            f"TensorFlow takes {f['median_import_tf_over_second_call']:.0f}× as long as a warm simulation of the "
            f"`{d['network']['preset']}` preset (2 images × 64 ticks) on TensorFlow's kernels, while the first call costs only "
            f"{f['median_first_over_second_call']:.1f}× the second (no tracing to speak of). "
            f"`itnet_neuro.utils.import_tf` keeps `tf.lite` from importing jax, which cuts the import by "
            f"{t['median_saved_fraction']:.0%}. Runs short enough for `fast`'s numpy kernels (`simulate --kernels "
            f"auto`, the default) never import TensorFlow.")


# ------------------------------------------------------------------------------------------------- fan-in

#: The chips whose neurons take fewer inputs than the shipped model's, one results file each (bench_fanin.py).
FANIN_FILES = ("fanin_truenorth.json", "fanin_brainscales2.json")


def fanin_table(d: dict) -> str:
    """Per chip (``d`` and the other :data:`FANIN_FILES`): the allocation with fan-in splitting, and mIoU per
    output unsplit, split on the ideal chip, and split as the allocation realizes it on the chip."""
    docs = [d] + [load(f) for f in FANIN_FILES[1:] if (RESULTS / f).exists()]
    n = len(next(iter(d["chips"].values()))["miou"]["ideal"]["snn_miou"])
    lines = ["| chip | allocate | cores | chips | bound | ÷ bound | +ticks | run | "
             + " | ".join(f"out{i + 1}" for i in range(n)) + " |", "|" + "---|" * (n + 8)]
    runs = (("ideal", "unsplit, ideal chip"), ("ideal_split", "split, ideal chip"), ("chip", "split, realized"))
    for doc in docs:
        for name, r in doc["chips"].items():
            fit = "exit 0" if r["exit_code"] == 0 else f"exit {r['exit_code']}: " + "; ".join(
                v.split(" (")[0] for v in r["violations"][:1])
            head = (f"| {name} ({r['schedule']}) | {fit} | {r['cores']:,} | {r['chips']:,} | {r['lower_bound']:,} | {r['ratio']:.2f}× | "
                    f"+{(r['split'] or {}).get('extra_ticks', {}).get('max', 0)} |")
            for i, (key, label) in enumerate(runs):
                m = r["miou"][key]
                label += " (--ignore-limits)" if key == "chip" and m.get("ignore_limits") else ""
                lines.append((head if i == 0 else "| | | | | | | |") + f" {label} | "
                             + " | ".join(_f(v) for v in m["snn_miou"]) + " |")
    conds = {(doc["images"], doc["ticks"]) for doc in docs}
    return "\n".join(lines) + "\n\n" + "; ".join(f"{i} synthetic images, {t} ticks (per output's phase when looped)" for i, t in sorted(conds)) + \
        " (`python benchmarks/bench_fanin.py`, one results file per chip).\n"


def _span(values, fmt) -> str:
    """``a`` when all equal, else ``a–b`` (min–max); ``–`` when none."""
    vals = [v for v in values if v is not None]
    if not vals:
        return "–"
    lo, hi = min(vals), max(vals)
    return format(lo, fmt) if lo == hi else f"{format(lo, fmt)}–{format(hi, fmt)}"


def explore_table(d: dict) -> str:
    """Per chip and schedule (the phase lengths side by side): fit, cores, ratio to the bound, mIoU of the last
    output per phase length, and time to 90 % and energy at the longest phase."""
    sw = d["sweep"]
    st = sw["settings"]
    groups: dict = {}
    for r in sw["rows"]:
        groups.setdefault((r["chip"], r["schedule"]), []).append(r)
    phases = list(dict.fromkeys(str(r["phase_ticks"]) for r in sw["rows"]))
    n_out = max(len(r.get("miou") or ()) for r in sw["rows"])
    lines = [f"{sw['points']} points, {st['images']} synthetic test images each, decoder "
             f"{st['decoder'] or 'default'}; a looped point runs N = {n_out} phases of T ticks, an unrolled one N × T "
             "ticks. ×bound: cores over the allocator-independent lower bound; → 90 %: hardware seconds until "
             "the last output reaches 90 % of the ANN's mIoU (– never within the run); energy where the chip "
             "publishes figures (≥: some components unknown).", "",
             "| chip | schedule | status | cores | ×bound | mIoU last output, T = " + " / ".join(phases)
             + f" | → 90 %, T = {phases[-1]} | J / image, T = {phases[-1]} |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for (chip, schedule), rows in groups.items():
        status = ", ".join(dict.fromkeys({"infeasible": "does not fit", "allocated": "allocated, not simulated"}
                                         .get(r["status"], r["status"]) for r in rows))
        last = rows[-1]
        s90 = (last.get("seconds_to_90") or [None])[-1]
        e = last.get("energy_j_per_image")
        mious = " / ".join(_f((r.get("miou") or [None])[-1]) for r in rows)
        lines.append(f"| {chip} | {schedule} | {status} | {_span([r.get('cores') for r in rows], ',')} | "
                     f"{_span([r.get('ratio_to_bound') for r in rows], '.2f')} | {mious} | "
                     f"{'–' if s90 is None else format(s90, '.3g') + ' s'} | "
                     f"{'–' if e is None else ('≥ ' if last.get('energy_lower_bound') else '') + format(e, '.3g')} |")
    reasons = sorted(set(sw.get("allocate_only", {}).values()))
    lines += [""] + [f"Allocated, not simulated: {why.removeprefix('not simulated: ')}." for why in reasons]
    lines.append(f"The sweep ran on a local Dask cluster of {sw['workers']} worker processes, niced, on "
                 f"{d['machine']['cpus']} cores (load average {d['load_average_before'][0]:.1f} "
                 f"before, {d['load_average_after'][0]:.1f} after): {sw['wall_seconds']:.0f} s for the "
                 f"{sw['ran']} points it ran" + (f" ({sw['resumed']} resumed from an earlier run)" if sw["resumed"] else "")
                 + ".")
    return "\n".join(lines) + "\n"


def explore_timing_text(d: dict) -> str:
    s, c = d["serial"], d["local_cluster"]
    return (f"Wall time of a {s['points']}-point sub-sweep ({', '.join(d['chips'])} × both schedules, T = "
            f"{d['phase_ticks']}, {d['images']} images; {d['what']}; `explore_timing.json`): serial "
            f"{s['wall_seconds']:.0f} s, local cluster of {c['workers']} worker processes {c['wall_seconds']:.0f} s, "
            f"on {d['machine']['cpus']} cores (load average {s['load_average_before'][0]:.1f} "
            f"before, {c['load_average_after'][0]:.1f} after).\n")


# ---------------------------------------------------------------------------------------------- examples

_EXAMPLES = {
    "anytime_curve": lambda d: "convert the shipped ItNet, simulate it on the ideal chip: every output's mIoU over ticks",
    "looped_vs_unrolled_loihi": lambda d: (
        f"the shared block on Loihi's device model looped ({d['schedules']['looped']['cores']} cores) vs unrolled "
        f"({d['schedules']['unrolled']['cores']} cores)"),
    "own_chip_toml": lambda d: "your own chip as a TOML file: cores vs neurons per core",
    "nir_onto_chips": lambda d: "a sinabs-style NIR graph imported spike for spike, allocated and simulated on six chips",
    "classifier_from_npz": lambda d: (
        f"train a 1-channel classifier from an npz file, convert, accuracy over ticks (ideal "
        f"{d['runs']['ideal']['snn_accuracy']:.2f}, Loihi {d['runs']['loihi']['snn_accuracy']:.2f}, ANN "
        f"{d['runs']['ideal']['ann_accuracy']:.2f})"),
    "brainscales2_membranes": lambda d: "BrainScaleS-2's analog membranes with brian2",
}


def examples_table(d: dict) -> str:
    """One row per example: what it shows (its figures from its json) and its wall time, where recorded."""
    lines = ["| example | what it shows | time |", "|---|---|---:|"]
    for name, what in _EXAMPLES.items():
        r = d.get(name)
        t = f"{r['wall_seconds']:.0f} s" if r and "wall_seconds" in r else "not recorded"
        lines.append(f"| `examples/{name}.py` | {what(r) if r else what(None)} | {t} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ demo, compare

def demo_table(d: dict) -> str:
    """Per output: the ANN, the ideal chip (unrolled, looped), device effects, the Loihi allocation."""
    runs = d["runs"]
    ideal, loihi = runs["ideal"], runs["loihi_allocation"]
    n = len(ideal["outputs"])

    def row(label, what, run, key, fmt=".3f", scale=1.0):
        cells = [_f(None if o.get(key) is None else o[key] * scale, fmt) for o in run["outputs"]]
        return f"| {label} | {what} | " + " | ".join(cells) + " |"

    a = loihi["allocation"]
    lines = ["| chip (schedule) | output | " + " | ".join(str(i + 1) for i in range(n)) + " |",
             "|---|---|" + "---:|" * n,
             row("Keras ANN", "mIoU", ideal, "ann_miou"),
             row(f"ideal IF (unrolled, {d['ticks']} ticks)", "mIoU", ideal, "snn_miou"),
             row("", "ticks to 90 %", ideal, "ticks_to_90", ".0f")]
    for phase in (100, 200):
        run = runs[f"ideal_looped_{phase}"]
        lines.append(row(f"ideal IF (looped, {n} phases × {phase} ticks)", "mIoU", run, "snn_miou"))
    lines += [row("BrainScaleS-2 device effects (unrolled)", "mIoU", runs["brainscales2"], "snn_miou"),
              row("", "µs to 90 %", runs["brainscales2"], "seconds_to_90", ".0f", 1e6),
              row("TrueNorth device effects (unrolled)", "mIoU", runs["truenorth"], "snn_miou"),
              row(f"Loihi allocation ({a['schedule']}, {a['cores']} cores, phases of {a['phase_ticks']} ticks)",
                  "mIoU", loihi, "snn_miou"),
              row("", "first output (tick)", loihi, "first_output_tick", ".0f")]
    return "\n".join(lines)


def compare_table(d: dict) -> str:
    from mapping.compare import format_table

    return "\n".join(line for line in format_table(d["compare"], markdown=True).splitlines()
                     if line.startswith("|"))


# ---------------------------------------------------------------------------------------------- simulate

_LABELS = {"fast": "`fast` (float32, default)", "reference": "`reference` (tick loop, numpy)", "nengo": "`nengo`",
           "nengo-dl": "`nengo-dl`", "brian2:numpy": "`brian2`, numpy target",
           "brian2:cython": "`brian2`, cython target (compiled)"}


def _times(v) -> str:
    return "–" if v is None else (f"{v:.2f}×" if v < 10 else f"{v:.0f}×")


def _sim_cell(cell: dict, name: str) -> list[str]:
    """Cold and warm of one backend in one cell, as multiples of ``fast``'s."""
    if name not in cell["runs"]:
        return ["", ""]
    r, ratio = cell["runs"][name], cell["ratio_to_fast"].get(name, {})
    if "skipped" in r:
        return ["skipped¹", ""]
    cold = r.get("cold", {})
    fast_cold = cell["runs"]["fast"].get("cold", {}).get("seconds")
    if "timed out" in cold.get("error", "") and fast_cold:
        return [f"> {cold['timeout_seconds'] / fast_cold:.0f}×²", ""]
    if "error" in cold or "error" in r:
        return ["failed", ""]
    return [_times(ratio.get("cold")), "cold only³" if isinstance(r.get("warm"), str) else _times(ratio.get("warm"))]


def _disagreements(d: dict) -> list[str]:
    out = []
    for c in d["cells"]:
        for name, r in c["runs"].items():
            a = (r or {}).get("agreement_with_reference")
            if a and a["populations_with_different_spike_total"]:
                rel = a.get("relative_difference_of_all_spikes")
                out.append(f"{name} on {c['network']} ×{c['images']} ({a['populations_with_different_spike_total']} "
                           f"of {a['populations']} populations" + ("" if rel is None else f"; all spikes {rel:+.3%}")
                           + ")")
    return out


def _load_range(d: dict) -> str:
    loads = [x[0] for c in d["cells"] for r in c["runs"].values() for x in
             ((r or {}).get("cold", {}).get("load_before"), (r or {}).get("cold", {}).get("load_after")) if x]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "–"


def _per_tick_text(pt: dict | None) -> list[str]:
    """The per-tick sentence of the simulate block: ``fast`` over the floor, ``nengo`` over ``fast``."""
    if not pt or "runs" not in pt:
        return []
    runs = {(r["backend"], r["images"]): r for r in pt["runs"]}
    def ratio(key, n):
        span = pt.get(key + "_range", {}).get(str(n))
        return f"{pt[key][str(n)]}×" + (f" ({span[0]}–{span[1]})" if span and span[0] != span[1] else "")

    fast = [f"×{n}: {ratio('fast_over_floor', n)} the floor" for b, n in runs if b == "fast"
            and str(n) in pt.get("fast_over_floor", {})]
    nengo = [f"×{n}: {ratio('nengo_over_fast', n)}" for n in pt["nengo_over_fast"]]
    ticks = "; ".join(f"{b} ×{n} {r['ticks'][0]} and {r['ticks'][1]} ticks" for (b, n), r in runs.items())
    rounds = (f"; the median of {len(pt['rounds'])} rounds, each its own process, with the range in brackets"
              if len(pt.get("rounds", [])) > 1 else "")
    return [f"Per tick, as the difference of a short and a long warm run in one process on the shipped model "
            f"({ticks}; fast on TensorFlow's kernels, best of 3; nengo's stepping without its build, best of "
            f"2; nengo simulates ×8 one image after the other{rounds}): `fast` " + ", ".join(fast)
            + "; `nengo` per tick over `fast`'s: " + ", ".join(nengo) + "."]


def simulate_table(d: dict) -> str:
    cells, nets = d["cells"], d["networks"]
    names = [n for n in _LABELS if any(n in c["runs"] for c in cells)]
    head = " | ".join(f"{c['network']} ×{c['images']}, {c['ticks']} ticks: cold | warm" for c in cells)
    lines = [f"| backend | {head} |", "|---|" + "---:|---:|" * len(cells)]
    for name in names:
        lines.append(f"| {_LABELS[name]} | " + " | ".join(x for c in cells for x in _sim_cell(c, name)) + " |")
    desc = "; ".join(f"**{k}**: {v['model']}, {v['weights']} weights, {v['neurons_unrolled']:,} neurons and "
                     f"{v['synapses_unrolled']:,} synapses unrolled" for k, v in nets.items())
    fl = d["floor"]
    over = {f"{c['network']} ×{c['images']}": c["ratio_to_fast"].get("fast_warm_per_tick_over_floor")
            for c in cells if c["network"] != "micro"}
    bad = _disagreements(d)
    text = [f"Every backend's time as a multiple of `fast`'s in the same cell, all measured in one run "
            f"(`{d['command']}`, {d['started']}; load average {_load_range(d)} on {d['machine']['cpus']} "
            f"cores; only ratios are quoted, absolute seconds are in the file). **Cold**: the whole "
            f"`itnet-neuro simulate NET.snn.h5` process as a user runs it (imports, loading, building, compiling, "
            f"simulating, writing results.json; brian2's cython target from an empty compiled-code cache). "
            f"**Warm**: a second identical `simulate()` call in one process (nengo and nengo-dl rebuild their "
            f"simulator in every call). ×N: N synthetic images, simulated as one batch where the backend can "
            f"(nengo and brian2 run one image after the other); unrolled schedule. Networks: {desc}. Caps: {d['plan']['caps']}; an empty "
            f"cell was not run.", "", *lines, ""]
    notes = {"¹": "¹ not started: the run had used its time budget or reached its --stop-at time.",
             "²": "² its cold run did not finish within its limit; the ratio is that limit over `fast`'s cold "
                  "time, a lower bound.", "³": "³ timed cold only (cap)."}
    used = [v for k, v in notes.items() if any(k in line for line in lines)]
    text += [" ".join(used), ""] if used else []
    if "best_mac_per_second" in fl:
        text.append("`fast` warm, per call over its ticks (set-up included), against the dense-MAC floor (every "
                    "unrolled synapse once per tick at "
                    f"the best float32 rate TensorFlow reached in the same run, {fl['best']}): "
                    + ", ".join(f"{k}: {_times(v)}" for k, v in over.items()) + ".")
    text += _per_tick_text(d.get("per_tick"))
    text.append("Spike totals per population agree with `reference` for every backend in every cell."
                if not bad else "Spike totals per population agree with `reference` for every backend in every "
                "cell except " + "; ".join(bad) + (" (`fast` sums currents and integrates membranes in float32, the reference in float64)"
                                                     if all(b.startswith("fast ") for b in bad) else "") + ".")
    return "\n".join(text)


def event_driven_text(d: dict) -> str:
    """Event-driven against dense convolution: the measured crossover and the model's spike densities."""
    conv = d["convolutions"]
    ratios = [t["event_ms"] / t["dense_ms"] for r in conv for t in r["times"]]
    lowest = min(t["density"] for r in conv for t in r["times"])
    wins = [r["crossover_density"] for r in conv if r["crossover_density"]]
    at_model = [t["event_ms"] / t["dense_ms"] for r in conv for t in r["times"] if t["density"] >= 0.03]
    verdict = (f"the event-driven kernel was slower on every one at every density down to {lowest:.1%} "
               f"({min(ratios):.1f}–{max(ratios):.0f}× the dense time)" if not wins else
               f"the event-driven kernel was faster on {len(wins)} of them and only below {max(wins):.2%} of "
               f"neurons spiking per frame; from {lowest:.1%} up it took {min(ratios):.2f}–{max(ratios):.0f}× the "
               f"dense time, {min(at_model):.1f}–{max(at_model):.0f}× at 3% and more")
    verdict += ", so `fast` does not use it"
    q = d["model_spike_density"]["quantiles"]
    return (f"**Event-driven accumulation** (`{d['command']}`, {d['started']}, load {d['load_average_before'][0]:.1f}; "
            f"`event_driven.json`, plot `event_driven.png`): on the shipped model's {len(conv)} distinct "
            f"convolutions, {d['frames']} spike frames per call in float32 against TensorFlow's dense kernel, "
            f"{verdict}. The shipped model's populations fire at {q['0.25']:.1%}–{q['0.75']:.1%} of their neurons "
            f"per tick (quartiles; {d['model_spike_density']['silent_populations']} of "
            f"{d['model_spike_density']['populations']} silent in the first {d['model_spike_density']['ticks']} ticks, "
            f"which `fast` skips frame by frame).")


def paper_unrolled_text(d: dict) -> str:
    """The paper preset at 256 ticks on ``fast``: time and peak memory against the 8 GB target."""
    n, sim, c = d["network"], d["simulate"], d["conditions"]
    return (f"**The paper preset** (`{d['command']}`, {d['started']}, load {sim['load_before'][0]:.1f}–"
            f"{sim['load_after'][0]:.1f} on {d['machine']['cpus']} cores): `{n['preset']}` ({n['weights']} weights, "
            f"{n['neurons_unrolled'] / 1e6:.1f} M neurons and {n['synapses_unrolled'] / 1e9:.1f} G synapses "
            f"unrolled), {c['images']} image × {c['ticks']} ticks, unrolled, `fast` on {sim['plan']['kernels']}'s "
            f"kernels in chunks of {sim['plan']['chunk_ticks']} ticks under a {c['memory_budget_bytes'] / 2**30:.1f} GiB "
            f"budget: peak RSS {sim['peak_rss_bytes'] / 1e9:.2f} GB (estimate {sim['plan']['estimate_bytes'] / 1e9:.2f} GB; "
            f"target 8 GB), simulation {sim['simulate_seconds']:.0f} s wall ({sim['seconds_per_tick']:.2f} s per "
            f"tick), {sim['simulate_cpu_seconds']:.0f} s CPU.")


# -------------------------------------------------------------------------------------------- snntoolbox

def peer_snntoolbox_text(d: dict) -> str:
    """Neurons, per image-tick cost per batch size and accuracy, ours beside snntoolbox's INI simulator."""
    net, acc, ms, plan = d["network"], d["accuracy"], d["ms_per_image_tick"], d["plan"]
    ticks, loads = plan["ticks"], [r["load_average"][0] for r in d["runs"]]
    lines = ["| | ours (`fast`) | snntoolbox 0.6.0 (INI) | snntoolbox ÷ ours |", "|---|---:|---:|---:|",
             f"| neurons | {net['neurons']['ours']:,} | {net['neurons']['snntoolbox']:,} | |",
             f"| synapses | {net['synapses']['ours']:,} | {net['synapses']['snntoolbox']:,} | |"]
    for b, row in ms.items():
        mine, peer = row["ours"], row["snntoolbox"]
        lines += [f"| batch {b} ({mine['images']} images): ms per image-tick, {ticks[0]} → {ticks[-1]} ticks | "
                  f"{mine['wall_ms_difference']:.2f} | {peer['wall_ms_difference']:.2f} | "
                  f"{row['snntoolbox_over_ours']:.1f}× |",
                  f"| batch {b}: ms per image-tick, the {ticks[-1]}-tick run's average | {mine['wall_ms_longest_run']:.2f} "
                  f"| {peer['wall_ms_longest_run']:.2f} | {row['snntoolbox_over_ours_longest_run']:.1f}× |"]
    lines.append(f"| pixel accuracy at tick {ticks[-1]} ({acc['images']} images; Keras ANN {acc['ann']:.3f}) | "
                 f"{acc['ours']:.3f} | {acc['snntoolbox']:.3f} | |")
    c = net["layers"]
    convs = ", ".join(f"{x['kernel'][0]}×{x['kernel'][1]}" + (f" stride {x['strides'][0]}" if x["strides"][0] > 1 else "")
                      + f" → {x['output'][2]}" for x in c if x.get("activation") == "relu")
    text = [f"One {net['input'][0]}×{net['input'][1]} segmentation CNN (ReLU convolutions {convs}, 'same' padding, "
            f"then a 1×1 classifier to {net['output'][2]} classes at {net['output'][0]}×{net['output'][1]}; "
            f"{net['keras_relu_units']:,} ReLU units, trained {d['training']['epochs']} epochs on synthetic scenes), "
            "the same weights and normalization (per layer, 99.9th percentile) in both tools; snntoolbox also makes "
            "neurons of the classifier, ours reads it out. Warm, the simulation only, wall clock; per image-tick "
            f"from the difference of {ticks[0]} and {ticks[-1]} ticks, best of {plan['repeats']} "
            f"(`{d['command']}`, {d['started']}, load average {min(loads):.1f}–{max(loads):.1f} on "
            f"{d['machine']['cpus']} cores). snntoolbox's INI sums its whole (batch × outputs × duration) record "
            "every tick, so its cost per tick grows with the run's length; its network step alone (the SNN's "
            "`predict_on_batch`, once per tick) takes "
            + ", ".join(f"{r['snntoolbox']['network_step_only_wall_ms']:.2f} ms per image-tick at batch {b}"
                        for b, r in ms.items())
            + f". Pixel agreement with the ANN's argmax: ours {acc['ours_agrees_with_ann']:.1%}, snntoolbox "
            f"{acc['snntoolbox_agrees_with_ann']:.1%}.", "", *lines]
    return "\n".join(text)


BLOCKS = {"startup": startup_text, "event_driven": event_driven_text, "paper_unrolled": paper_unrolled_text,
          "allocate": allocate_text, "chips": chips_table, "fanin": fanin_table,
          "footprint": footprint_text, "explore": explore_table, "explore_timing": explore_timing_text,
          "simulate": simulate_table, "examples": examples_table, "demo": demo_table, "compare": compare_table,
          "peer_snntoolbox": peer_snntoolbox_text}


def render(readme: str) -> tuple[str, list[str]]:
    """``(new README text, names of the blocks that changed)``."""
    changed = []

    def sub(m):
        name, source = m.group("name"), m.group("file")
        if name not in BLOCKS:
            raise SystemExit(f"README.md: unknown block {name!r}; known: {', '.join(BLOCKS)}")
        body = BLOCKS[name](load(source)).rstrip("\n") + "\n"
        if body != m.group("body"):
            changed.append(name)
        return m.group(1) + body + m.group(5)

    return _BLOCK.sub(sub, readme), changed


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 if a block differs from its results file")
    args = p.parse_args(argv)
    text = README.read_text()
    new, changed = render(text)
    if args.check:
        if changed:
            print(f"README.md disagrees with its results files in: {', '.join(changed)} "
                  "(run python scripts/readme_tables.py)")
            return 1
        return 0
    if new != text:
        README.write_text(new)
    print(f"README.md: {', '.join(changed) or 'no block'} regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
