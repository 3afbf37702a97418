"""Your own chip as a TOML file: how many cores the shipped ItNet needs as neurons per core vary.

A chip model is one TOML file (``hardware_models/chips/*.toml``: every number with its source, or
marked uncertain with a note). Here a design study starts from Loihi's file and writes ``my_chip``
variants with 256 … 4096 neurons per core (everything else kept), allocates the shipped ItNet on
each — looped and unrolled — and plots the cores used against the lower bound, with the resource
that binds. Any of these files works wherever a chip name does: ``itnet-neuro allocate --chip
my_chip.toml``.

    python examples/own_chip_toml.py [--out docs/examples/own_chip_toml.png]
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from _gallery import ROOT, parser, run_example

NEURONS = (256, 512, 1024, 2048, 4096)


def chip_toml(neurons: int) -> str:
    """Loihi's TOML with a new name and ``core.max_neurons``, each change stating its source."""
    text = (ROOT / "hardware_models" / "chips" / "loihi.toml").read_text()
    text = re.sub(r'^name = "loihi"', 'name = "my_chip"', text, flags=re.M)
    text = re.sub(r"^max_neurons = \d+", f"max_neurons = {neurons}", text, flags=re.M)
    return re.sub(r'^max_neurons_source = .*$', f'max_neurons_source = "design study: {neurons} neuron '
                  'compartments per core (examples/own_chip_toml.py)"', text, flags=re.M)


def run() -> dict:
    from itnet_neuro.convert import convert_model
    from itnet_neuro.resources import SHIPPED_MODEL
    from mapping import plan

    net = convert_model(SHIPPED_MODEL, n_calibration=4).network
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in NEURONS:
            path = Path(tmp) / f"my_chip_{n}.toml"
            path.write_text(chip_toml(n))
            for schedule in ("looped", "unrolled"):
                a = plan(net, str(path), schedule)
                rows.append({"neurons_per_core": n, "schedule": schedule, "cores": a.cores_used,
                             "lower_bound": a.lower_bound, "feasible": a.feasible,
                             "violations": len(a.violations)})
    return {"chip": "loihi.toml with core.max_neurons varied", "network": net.name, "rows": rows}


def draw(fig, r: dict) -> None:
    ax = fig.add_subplot(1, 1, 1)
    for schedule, mark in (("looped", "o"), ("unrolled", "s")):
        rows = [x for x in r["rows"] if x["schedule"] == schedule]
        ns = [x["neurons_per_core"] for x in rows]
        ax.plot(ns, [x["cores"] for x in rows], marker=mark, label=f"{schedule}: cores used")
        ax.plot(ns, [x["lower_bound"] for x in rows], marker=mark, ls=":", color=ax.lines[-1].get_color(),
                label=f"{schedule}: lower bound")
    ax.set(xscale="log", yscale="log", xlabel="neurons per core (my_chip.toml)", ylabel="cores",
           title=f"{r['network']} on your own chip: Loihi's file with core.max_neurons varied")
    ax.set_xticks(NEURONS, [str(n) for n in NEURONS])
    ax.legend(fontsize=8)


def main(argv=None) -> int:
    p = parser(__doc__)
    return run_example(__file__, p, argv, run, draw)


if __name__ == "__main__":
    raise SystemExit(main())
