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
  ``benchmarks/bench_allocate.py``).

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


BLOCKS = {"startup": startup_text, "allocate": allocate_text, "chips": chips_table, "fanin": fanin_table}


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
