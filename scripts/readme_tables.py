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
* ``explore``: the shipped model over every chip × schedule × phase length
  (``benchmarks/results/explore.json``, ``benchmarks/bench_explore.py``); ``explore_timing``: a
  sub-sweep's wall time, serial against a local Dask cluster (``explore_timing.json``, ``--timing``).

The shipped model's demo/compare tables and the backend speed table are left out until
``benchmarks/bench_shipped.py`` and ``benchmarks/bench_simulate.py`` have written their results with
the current simulator (issue 14).
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
    """A results file; it must say which command wrote it."""
    data = json.loads((RESULTS / name).read_text())
    if not str(data.get("command", "")).strip():
        raise SystemExit(f"{RESULTS / name}: no 'command' key saying which script wrote it")
    return data


def _f(v, fmt=".3f") -> str:
    return "–" if v is None else format(v, fmt)


# ---------------------------------------------------------------------------------------------- allocate

def allocate_text(d: dict) -> str:
    runs = [r for p in d["presets"].values() for r in p["runs"]]
    chips = sorted({r["chip"] for r in runs})
    slowest = max(r["seconds"] for r in runs)
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
    text = (f"**Allocation** (`allocate.json`): both paper presets on all {len(chips)} chips, {len(runs)} "
            f"allocations, each within the {d['goals']['seconds']:g} s goal (the slowest took "
            f"{slowest / d['goals']['seconds']:.0%} of it). Cores are within {max(neuron_bound):.2f}× of the "
            f"lower bound where neurons bind (SpiNNaker: {min(spinnaker):.2f}–{max(spinnaker):.2f}×) and up "
            f"to {max(other):.1f}× where synapse memory or axons bind. Looping the shared block needs "
            f"{min(can):.2f}–{max(can):.2f}× the cores of unrolling it")
    if cannot:
        text += (f" ({min(cannot_ratios):.2f}–{max(cannot_ratios):.2f}× on {', '.join(cannot)}, which cannot "
                 "switch neuron parameters between phases, so their looped allocation is hypothetical)")
    return text + "."


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
    t, f = d["tensorflow_import"], d["fast_process"]
    return (f"Where `fast`'s cold start goes (`startup.json`, medians of {len(t['pairs'])} paired runs): importing "
            f"TensorFlow takes {f['median_import_tf_over_second_call']:.0f}× as long as a warm simulation of the "
            f"`{d['network']['preset']}` preset (2 images × 64 ticks), while the first call costs only "
            f"{f['median_first_over_second_call']:.1f}× the second (no tracing to speak of). "
            f"`itnet_neuro.utils.import_tf` keeps `tf.lite` from importing jax, which cuts the import by "
            f"{t['median_saved_fraction']:.0%}.")


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
                 f"{d['machine']['cpus']} cores shared with other jobs (load average {d['load_average_before'][0]:.1f} "
                 f"before, {d['load_average_after'][0]:.1f} after): {sw['wall_seconds']:.0f} s for the "
                 f"{sw['ran']} points it ran" + (f" ({sw['resumed']} resumed from an earlier run)" if sw["resumed"] else "")
                 + ".")
    return "\n".join(lines) + "\n"


def explore_timing_text(d: dict) -> str:
    s, c = d["serial"], d["local_cluster"]
    return (f"Wall time of a {s['points']}-point sub-sweep ({', '.join(d['chips'])} × both schedules, T = "
            f"{d['phase_ticks']}, {d['images']} images; {d['what']}; `explore_timing.json`): serial "
            f"{s['wall_seconds']:.0f} s, local cluster of {c['workers']} worker processes {c['wall_seconds']:.0f} s, "
            f"on {d['machine']['cpus']} cores shared with other jobs (load average {s['load_average_before'][0]:.1f} "
            f"before, {c['load_average_after'][0]:.1f} after).\n")


BLOCKS = {"startup": startup_text, "allocate": allocate_text, "chips": chips_table, "explore": explore_table,
          "explore_timing": explore_timing_text}


def render(readme: str) -> tuple[str, list[str]]:
    """``(new README text, names of the blocks that changed)``."""
    changed = []

    def sub(m):
        name, source = m.group("name"), m.group("file")
        if name not in BLOCKS:
            raise SystemExit(f"README.md: unknown block {name!r}; known: {', '.join(BLOCKS)}")
        body = BLOCKS[name](load(Path(source).name)).rstrip("\n") + "\n"
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
