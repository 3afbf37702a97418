"""Loihi allocation beside its own toolchain, nengo-loihi 1.1 (issue 12 §3): cores per net, ours vs theirs.

The same small nets (dense layers and convolutions, weights drawn here from a fixed seed and handed
to the peer in an .npz) are allocated by ``mapping.plan(net, "loihi")`` and by nengo-loihi 1.1's
emulator builder — its block splitting, its Greedy allocator (one block per core) and
``validate_board`` — which need no Loihi board. nengo-loihi runs in its own venv
(``benchmarks/.venvs/nengo-loihi``, git-ignored: nengo-loihi 1.1.0, nengo 3.2.0, numpy < 2), made
here when missing. Per net: cores (theirs, ours, our lower bound), feasibility, per layer their blocks
and what bounds them, ours, and the reason for each difference.

    python benchmarks/bench_nengo_loihi.py          # ~1 min once the peer venv exists (~1 min to make)
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
PEER_VENV = ROOT / "benchmarks" / ".venvs" / "nengo-loihi"
PEER_PACKAGES = ["nengo-loihi==1.1.0", "nengo==3.2.0", "numpy<2"]
CHILD = ROOT / "benchmarks" / "peers" / "nengo_loihi_child.py"

#: name → input (C, H, W) and layers: ("conv", C_out, kernel, stride, padding) or ("dense", N_out).
NETS = {
    "dense_256_300_10": ((256, 1, 1), [("dense", 300), ("dense", 10)]),
    "dense_784_500_100": ((784, 1, 1), [("dense", 500), ("dense", 100)]),
    "conv_mnist_8_16": ((1, 28, 28), [("conv", 8, 3, 1, "same"), ("conv", 16, 3, 2, "same"), ("dense", 10)]),
    "conv_cifar_16_32_32": ((3, 32, 32), [("conv", 16, 3, 1, "same"), ("conv", 32, 3, 2, "same"),
                                          ("conv", 32, 3, 2, "same"), ("dense", 10)]),
    "conv_5x5_valid_32_64": ((2, 16, 16), [("conv", 32, 5, 1, "valid"), ("conv", 64, 1, 1, "valid"),
                                           ("conv", 16, 3, 2, "valid")]),
    "conv_wide_64_64": ((16, 16, 16), [("conv", 64, 3, 1, "same"), ("conv", 64, 3, 1, "same")]),
}


# ------------------------------------------------------------------------------------ the nets

def layer_specs(name: str) -> tuple[dict, dict]:
    """A net as the peer reads it (JSON spec) and its weights (IR layout, C_out × C_in × kH × kW)."""
    from itnet_neuro.ir import same_padding

    (c, h, w), layers = NETS[name]
    rng = np.random.default_rng(sum(map(ord, name)))  # fixed per net
    spec, arrays, shape = {"name": name, "input": [c, h, w], "layers": []}, {}, (c, h, w)
    for i, layer in enumerate(layers):
        lname = f"L{i}_{layer[0]}"
        if layer[0] == "conv":
            _, cout, k, s, pad = layer
            wgt = rng.normal(0, 1 / math.sqrt(shape[0] * k * k), (cout, shape[0], k, k))
            if pad == "same":
                pads = same_padding(shape[1], k, s) + same_padding(shape[2], k, s)
                out = (cout, -(-shape[1] // s), -(-shape[2] // s))
            else:
                pads = (0, 0, 0, 0)
                out = (cout, (shape[1] - k) // s + 1, (shape[2] - k) // s + 1)
            spec["layers"].append({"name": lname, "op": "conv2d", "stride": [s, s], "padding": pad, "pads": pads})
        else:
            n = int(np.prod(shape))
            wgt = rng.normal(0, 1 / math.sqrt(n), (layer[1], n))
            spec["layers"].append({"name": lname, "op": "dense"})
            out = (layer[1], 1, 1)
        arrays[lname] = wgt.astype(np.float32)
        shape = out
    return spec, arrays


def ir_network(spec: dict, arrays: dict):
    """The same net as an IR :class:`~itnet_neuro.ir.Network` (input off chip, last layer read out)."""
    from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm

    inp = InputSpec("input", tuple(spec["input"]))
    pops, conns, prev, shape = [], [], "input", tuple(spec["input"])
    for layer in spec["layers"]:
        wgt = arrays[layer["name"]].astype(np.float64)
        if layer["op"] == "conv2d":
            k, s = wgt.shape[2], layer["stride"][0]
            out = (wgt.shape[0],) + tuple((n + p0 + p1 - k) // s + 1 for n, p0, p1 in
                                          ((shape[1], *layer["pads"][:2]), (shape[2], *layer["pads"][2:])))
            conns.append(Connection(f"{prev}_{layer['name']}", prev, layer["name"], "conv2d", wgt,
                                    stride=(s, s), padding=tuple(layer["pads"])))
        else:
            out = (wgt.shape[0], 1, 1)
            conns.append(Connection(f"{prev}_{layer['name']}", prev, layer["name"], "dense", wgt))
        thr = np.ones((1, out[0]))
        pops.append(Population(layer["name"], out, threshold=thr, bias=np.zeros((1, out[0])), decode_scale=thr))
        prev, shape = layer["name"], out
    readout = Readout("out", 0, (ReadoutTerm(prev, np.ones((1, shape[0]))),), np.zeros(1))
    return Network(spec["name"], inp, tuple(pops), tuple(conns), (readout,))


# ------------------------------------------------------------------------------------ ours

def ours(net) -> dict:
    from mapping.allocate import plan

    start = time.perf_counter()
    a = plan(net, "loihi", "unrolled")
    seconds = time.perf_counter() - start
    lim = a.limits
    layers = {}
    for i, node in enumerate(a.view.nodes):
        idx = np.flatnonzero(a.tile_node == i)
        layers[node.population] = {
            "tiles": int(idx.size), "cores_touched": int(np.unique(a.tile_core[idx]).size),
            "neurons": int(a.tile_res["neurons"][idx].sum()), "axons": int(a.tile_res["axons"][idx].sum()),
            "synapse_bytes": int(a.tile_res["syn_bytes"][idx].sum())}
    binding = {}
    for k, attr in (("neurons", "max_neurons"), ("axons", "max_axons"), ("syn_bytes", "synapse_memory_bytes"),
                    ("out_axons", "max_output_axons")):
        binding[k] = round(float(a.core_res[k].max()) / getattr(lim, attr), 3)
    return {"feasible": bool(a.feasible), "cores": int(a.cores_used), "lower_bound": int(a.lower_bound),
            "lower_bound_detail": {k: v["cores"] for k, v in a.lower_bound_detail.items()},
            "layers": layers, "max_core_use": binding, "violations": [str(v) for v in a.violations],
            "seconds": round(seconds, 2)}


# ------------------------------------------------------------------------------------ comparison

def _their_layers(theirs: dict) -> dict:
    out = {}
    lim = theirs["limits"]
    for b in theirs["blocks"]:
        row = out.setdefault(b["layer"], {"blocks": 0, "compartments": 0, "in_axons": 0, "synapse_bits": 0,
                                          "binding": {}})
        row["blocks"] += 1
        for k in ("compartments", "in_axons", "synapse_bits"):
            row[k] += b[k]
        fracs = {k: b[k] / lim[k] for k in ("compartments", "in_axons", "out_axons", "synapse_bits")}
        top = max(fracs, key=fracs.get)
        row["binding"][top] = row["binding"].get(top, 0) + 1
    return out


def reasons(spec: dict, theirs: dict, mine: dict) -> list[str]:
    """Why the core counts differ, from the per-layer figures."""
    if not theirs.get("feasible"):
        return [f"nengo-loihi does not build it: {theirs.get('error')}"]
    out = []
    tl = _their_layers(theirs)
    touched = sum(r["cores_touched"] for r in mine["layers"].values())
    if mine["cores"] < touched:
        out.append(f"we pack tiles of several layers onto one core ({touched} layer-core pairs on {mine['cores']} "
                   "cores); nengo-loihi gives every block a core of its own")
    for layer in spec["layers"]:
        name = layer["name"]
        t, m = tl.get(name), mine["layers"].get(name)
        if t is None or m is None:
            continue
        t_bits, m_bits = t["synapse_bits"], 8 * m["synapse_bytes"]
        line = (f"{name} ({layer['op']}): theirs {t['blocks']} block(s) bound by "
                f"{', '.join(f'{k} ×{v}' for k, v in t['binding'].items())}; synapse memory theirs "
                f"{t_bits / 8e3:.1f} kB, ours {m_bits / 8e3:.1f} kB; input axons theirs {t['in_axons']}, ours {m['axons']}")
        if layer["op"] == "conv2d":
            line += (" (both: population axons, one per input pixel, and one kernel list per edge pattern; ours "
                     "sizes the index (10 bits) and the 256-compartment base-window copies for the worst position "
                     "of a tile on its core, theirs for the block's actual compartments; our tiles are boxes of "
                     "channels × rows × columns, theirs runs of consecutive compartments (channels last), so the "
                     "receptive fields, hence input axons, differ)")
        else:
            same = t["synapse_bits"] == m_bits and t["in_axons"] == m["axons"] and t["blocks"] == m["tiles"]
            line += (" (both: one axon per input neuron, dense lists of 8-bit weights without indices"
                     + ("; blocks = tiles, axons and synapse bits agree exactly)" if same else "; they differ)"))
        out.append(line)
    if "input" in tl:
        out.append(f"nengo-loihi also counts {tl['input']['blocks']} block(s) for the off-chip input ensemble in "
                   "its model; they are not on the chip (not in its board's cores)")
    return out


def run(names: list[str], venv: Path = PEER_VENV) -> dict:
    from benchmarks.common import ensure_peer_venv

    probe = "import nengo_loihi, nengo; print(nengo_loihi.__version__, nengo.__version__)"
    py = ensure_peer_venv(venv, PEER_PACKAGES, "nengo-loihi", probe=probe)
    specs, arrays = [], {}
    for name in names:
        spec, arr = layer_specs(name)
        specs.append(spec)
        arrays.update({f"{name}/{k}": v for k, v in arr.items()})
    with tempfile.TemporaryDirectory() as tmp:
        npz, out = Path(tmp) / "nets.npz", Path(tmp) / "theirs.json"
        np.savez(npz, specs=json.dumps(specs), **arrays)
        subprocess.run([str(py), str(CHILD), str(npz), str(out)], check=True)
        theirs = json.loads(out.read_text())
    rows = []
    for spec in specs:
        net = ir_network(spec, {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(spec["name"] + "/")})
        print(f"ours: {spec['name']}", flush=True)
        mine = ours(net)
        t = theirs["nets"][spec["name"]]
        rows.append({"net": spec["name"], "input": spec["input"], "layers": NETS[spec["name"]][1],
                     "neurons": int(sum(np.prod(p.shape) for p in net.populations)),
                     "theirs": {k: t[k] for k in ("feasible", "cores", "chips", "seconds", "error") if k in t},
                     "theirs_layers": _their_layers(t) if t.get("feasible") else None,
                     "ours": mine,
                     "bound_at_most_theirs": (not t.get("feasible")) or mine["lower_bound"] <= t["cores"],
                     "ours_over_theirs": round(mine["cores"] / t["cores"], 3) if t.get("feasible") else None,
                     "reasons": reasons(spec, t, mine)})
    return {"peer": theirs["versions"], "nets": rows}


def main(argv=None) -> int:
    from benchmarks.common import finish, header

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", nargs="*", default=list(NETS), choices=list(NETS))
    p.add_argument("--out", default=str(RESULTS / "peer_nengo_loihi.json"))
    p.add_argument("--venv", default=str(PEER_VENV), help="nengo-loihi's venv (made when missing)")
    args = p.parse_args(argv)
    cmd = "python benchmarks/bench_nengo_loihi.py" + ("" if args.nets == list(NETS) else " --nets " + " ".join(args.nets))
    cmd += "" if args.venv == str(PEER_VENV) else f" --venv {args.venv}"
    doc = header(cmd)
    doc["conditions"] = ("same nets and weights on both sides (seeded, passed to the peer as .npz); nengo-loihi "
                         "1.1.0 emulator build (block splitting), Greedy allocator and validate_board, no board; "
                         "ours: mapping.plan(net, 'loihi', 'unrolled'); inputs off chip on both sides")
    doc.update(run(args.nets, Path(args.venv)))
    for r in doc["nets"]:
        print(f"{r['net']:24s} theirs {r['theirs'].get('cores')!s:>4}  ours {r['ours']['cores']:>4}  "
              f"bound {r['ours']['lower_bound']:>4}  feasible theirs/ours {r['theirs']['feasible']}/{r['ours']['feasible']}")
    finish(doc, Path(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
