"""DYNAP-CNN allocation beside sinabs' own mapping (issue 12 §3): the same small conv nets, the same weights.

For each net, ``itnet-neuro``'s allocation on the ``dynapcnn`` chip (:func:`mapping.allocate.plan`) and sinabs
3.1's DYNAP-CNN backend (``DynapcnnNetwork`` → ``DynapcnnLayer.memory_summary`` and the config builder's
max-flow ``map_layers_to_cores`` on Speck 2f's 9 cores, which are DYNAP-CNN's: same kernel, neuron and bias
memories), run by ``benchmarks/peers/sinabs_peer.py`` in a venv of its own. Compared per net: feasibility
and cores used; per layer (one convolution with its pooling): kernel, neuron and bias memory words, each
with the reason where the two differ. No hardware: samna (the binary sinabs imports, fetched from outside
PyPI at import) is not installed in a usable form, so sinabs' configuration building is not run.

The venv (sinabs 3.1.3, torch 2.5.1: ~5 GB on disk with torch's CUDA wheels) is created under
``benchmarks/.venvs/sinabs`` when missing (``--venv`` elsewhere)::

    python benchmarks/bench_sinabs.py            # ~1 min with the venv in place, ~5 min without
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results"
VENV = ROOT / "benchmarks" / ".venvs" / "sinabs"
PEER = ROOT / "benchmarks" / "peers" / "sinabs_peer.py"
#: What the peer's venv gets (torch pinned: sinabs takes any torch >= 1.8; numpy < 2.3 for that torch).
PEER_PACKAGES = ("sinabs==3.1.3", "torch==2.5.1", "numpy<2.3")
DEVICE = "speck2fdevkit"


def conv(out, k=3, stride=1, padding=1, bias=False):
    return {"kind": "conv", "out": out, "k": k, "stride": stride, "padding": padding, "bias": bias}


def pool(size=2):
    return {"kind": "pool", "size": size}


def _convpool(n_conv=6):
    layers = []
    for i in range(n_conv):
        layers += [conv(8 * (i + 1))] + ([pool()] if i < n_conv - 1 else [])
    return layers


#: The nets: name → input (C, H, W), layers, and what each one probes.
NETS = {
    "convpool6": {"input": [2, 64, 64], "layers": _convpool(6),
                  "probes": "the issue's 6 convolutions with 5 poolings (pooling inside the convolution's core)"},
    "strided3": {"input": [2, 64, 64], "layers": [conv(16, stride=2), conv(32, stride=2), conv(64, stride=2)],
                 "probes": "strided convolutions, no pooling"},
    "bias2": {"input": [2, 32, 32], "layers": [conv(16, bias=True), pool(2), conv(32, bias=True)],
              "probes": "bias memory (one word per output channel of a convolution with a bias)"},
    "pool4": {"input": [2, 64, 64], "layers": [conv(8, k=5, padding=2), pool(4), conv(16), pool(2), conv(10, k=1,
                                                                                                       padding=0)],
              "probes": "4×4 pooling, a 5×5 and a 1×1 kernel"},
    "matching7": {"input": [4, 64, 64],
                  "layers": [conv(12), conv(12), conv(12), conv(64, k=5, stride=4, padding=2), conv(64), conv(64),
                             conv(32, k=1, padding=0)],
                  "probes": "three layers of 48 Ki neurons that only cores 0-2 hold, two 64 Ki-word kernels that only "
                            "cores 5-6 hold, a 24 Ki-word kernel for cores 3-6: one valid assignment class, found by a "
                            "matching"},
    "deep10": {"input": [2, 16, 16], "layers": [conv(4)] * 10,
               "probes": "ten convolutions on nine cores: infeasible for both"},
    "wide": {"input": [128, 16, 16], "layers": [conv(128)],
             "probes": "a kernel of 128·16·128 = 256 Ki words, larger than any core's 64 Ki: infeasible for both"},
    "big_map": {"input": [2, 128, 128], "layers": [conv(8), conv(8)],
                "probes": "8 × 128 × 128 = 128 Ki neurons in one layer, more than any core's 64 Ki: infeasible"},
}


# ------------------------------------------------------------------------------------------------ the nets
def weights(nets: dict, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded weights (and biases) of every convolution: ``"<net>/<layer>/weight"``, ``".../bias"``."""
    rng = np.random.default_rng(seed)
    out = {}
    for name, spec in nets.items():
        c = spec["input"][0]
        for i, layer in enumerate(spec["layers"]):
            if layer["kind"] == "conv":
                out[f"{name}/{i}/weight"] = rng.normal(0, 0.5, (layer["out"], c, layer["k"], layer["k"]))
                if layer["bias"]:
                    out[f"{name}/{i}/bias"] = rng.normal(0, 0.1, layer["out"])
                c = layer["out"]
    return out


def to_ir(name: str, spec: dict, arrays: dict):
    """The net in the project's IR: ``conv2d`` connections, ``avgpool`` for the poolings, a readout at the end."""
    from itnet_neuro.ir import Connection, InputSpec, Network, Population, Readout, ReadoutTerm

    shape, prev, pops, conns = tuple(spec["input"]), "x", [], []
    for i, layer in enumerate(spec["layers"]):
        c, h, w = shape
        if layer["kind"] == "conv":
            k, s, p = layer["k"], layer["stride"], layer["padding"]
            shape = (layer["out"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            bias = arrays.get(f"{name}/{i}/bias", np.zeros(layer["out"]))
            conns.append(Connection(f"c{i}", prev, f"L{i}", "conv2d", arrays[f"{name}/{i}/weight"], stride=(s, s),
                                    padding=(p, p, p, p)))
        else:
            shape = (c, h // layer["size"], w // layer["size"])
            bias = np.zeros(c)
            conns.append(Connection(f"c{i}", prev, f"L{i}", "avgpool", np.ones(c), kernel=(layer["size"],) * 2,
                                    stride=(layer["size"],) * 2))
        pops.append(Population(f"L{i}", shape, threshold=np.ones((1, shape[0])), bias=np.asarray(bias)[None, :],
                               decode_scale=np.ones((1, shape[0]))))
        prev = f"L{i}"
    readout = Readout("r", 0, (ReadoutTerm(prev, np.ones((1, shape[0]))),), np.zeros(1))
    return Network(name, InputSpec("x", tuple(spec["input"])), tuple(pops), tuple(conns), (readout,))


# --------------------------------------------------------------------------------------------------- ours
def ours(name: str, spec: dict, arrays: dict) -> dict:
    """Our allocation on ``dynapcnn``: feasibility, cores, and per convolution its memory words and core."""
    from mapping.allocate import plan

    a = plan(to_ir(name, spec, arrays), "dynapcnn", "unrolled")
    rows = {r["node"]: r for r in a.conv_layer["layers"]}
    core = {a.view.nodes[t].name: int(a.tile_core[t]) for t in range(len(a.tile_core))}
    layers = [{"node": f"L{i}", "kernel": rows[f"L{i}"]["kernel_words"], "neuron": rows[f"L{i}"]["neuron_words"],
               "bias": rows[f"L{i}"]["bias_words"], "core_slot": rows[f"L{i}"]["core_slot"],
               "core": core.get(f"L{i}") if rows[f"L{i}"]["chip"] >= 0 else None}
              for i, layer in enumerate(spec["layers"]) if layer["kind"] == "conv"]
    pooled = {r["node"]: r["pooled_into"] for r in a.conv_layer["layers"] if r["pooled_into"]}
    return {"feasible": a.feasible, "cores": a.cores_used, "lower_bound": a.lower_bound, "layers": layers,
            "pooled_into": pooled, "violations": [str(v) for v in a.violations]}


# ------------------------------------------------------------------------------------------------- theirs
def theirs(python: Path, nets: dict, arrays: dict, folder: Path) -> dict:
    """Run the peer script on the nets (weights passed in an npz) and parse what it prints."""
    path = folder / "nets.npz"
    np.savez(path, __specs__=json.dumps(nets), **arrays)
    proc = subprocess.run([str(python), str(PEER), str(path), DEVICE], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(f"{PEER.name} failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}")
    return parse_peer(proc.stdout, nets)


def parse_peer(text: str, nets: dict) -> dict:
    """The peer's JSON (last line of its output), checked: every net, per layer ``kernel``/``neuron``/``bias``
    as integers, ``feasible``, and on a feasible net a core for every layer. One-line ValueError otherwise."""
    lines = [line for line in text.strip().splitlines() if line.startswith("{")]
    if not lines:
        raise ValueError("sinabs peer: no JSON document in its output")
    doc = json.loads(lines[-1])
    for name, spec in nets.items():
        row = doc.get("nets", {}).get(name)
        n_conv = sum(layer["kind"] == "conv" for layer in spec["layers"])
        if row is None:
            raise ValueError(f"sinabs peer: net {name!r} missing from its output")
        if len(row.get("layers", ())) != n_conv:
            raise ValueError(f"sinabs peer: net {name!r} has {len(row.get('layers', ()))} layers, expected {n_conv}")
        for layer in row["layers"]:
            if not all(isinstance(layer.get(k), int) for k in ("kernel", "neuron", "bias")):
                raise ValueError(f"sinabs peer: net {name!r} layer {layer.get('index')}: memory words must be integers")
        if row.get("feasible") and len(row.get("layer2core", {})) != n_conv:
            raise ValueError(f"sinabs peer: net {name!r} is feasible but does not map every layer to a core")
    return doc


# ------------------------------------------------------------------------------------------------ compare
def compare(mine: dict, peer: dict) -> dict:
    """One net: feasibility and cores side by side, per layer the memory words, and the reason of each difference."""
    layers, reasons = [], []
    for i, (a, b) in enumerate(zip(mine["layers"], peer["layers"])):
        row = {"layer": i}
        for k in ("kernel", "neuron", "bias"):
            row[k] = {"ours": a[k], "sinabs": b[k]}
            if a[k] != b[k]:
                reasons.append(f"layer {i} {k} words: ours {a[k]:,}, sinabs {b[k]:,} — " + _word_reason(k))
        row["core"] = {"ours": a["core_slot"] if a["core"] is not None else None,
                       "sinabs": peer.get("layer2core", {}).get(str(b["index"]))}
        layers.append(row)
    for side in ("ours", "sinabs"):  # each side's cores must hold its layers under the peer's own constraints
        bad = [r["layer"] for r in layers if r["core"][side] is not None and not _holds(peer["constraints"],
                                                                                        r["core"][side], r, side)]
        if bad:
            reasons.append(f"{side}: layer(s) {bad} on a core whose memories (sinabs get_constraints) do not hold them")
    if mine["feasible"] != peer["feasible"]:
        why = mine["violations"][0] if mine["violations"] else peer.get("error", "")
        reasons.append(f"feasibility: ours {mine['feasible']}, sinabs {peer['feasible']} — {why}")
    elif mine["feasible"] and mine["cores"] != peer["cores"]:
        reasons.append(f"cores: ours {mine['cores']}, sinabs {peer['cores']} — one layer per core in both, so the "
                       "layer counts differ (a pooling placed as its own layer?)")
    return {"feasible": {"ours": mine["feasible"], "sinabs": peer["feasible"]},
            "cores": {"ours": mine["cores"] if mine["feasible"] else None, "sinabs": peer["cores"]},
            "lower_bound": mine["lower_bound"], "layers": layers,
            "same_cores": all(r["core"]["ours"] == r["core"]["sinabs"] for r in layers),
            "ours_violations": mine["violations"],
            "sinabs_error": peer.get("error"), "differences": reasons, "agree": not reasons}


def _holds(constraints: list, core: int, row: dict, side: str) -> bool:
    kernel, neuron, bias = constraints[core]
    return row["kernel"][side] <= kernel and row["neuron"][side] <= neuron and row["bias"][side] <= bias


def _word_reason(kind: str) -> str:
    return {"kernel": "the kernel formula c·2^(⌈log2 k²⌉+⌈log2 f⌉) is the same in both: a difference means the "
                      "layers' shapes differ",
            "neuron": "f·2^(⌈log2 H⌉+⌈log2 W⌉) of the convolution's output in both: the output shapes differ",
            "bias": "sinabs counts one word per output channel of a convolution with a bias parameter; ours where "
                    "the population's bias is non-zero"}[kind]


def constraints_row(peer: dict) -> dict:
    """The chip's per-core memories: ours (dynapcnn.toml) beside sinabs' ``get_constraints``."""
    from hardware_models.spec import load_chip

    core = load_chip("dynapcnn").core
    mine = [list(t) for t in zip(core.kernel_memory_words, core.neuron_memory_words, core.bias_memory_words)]
    theirs_ = next(iter(peer["nets"].values()))["constraints"]
    return {"ours": mine, "sinabs": theirs_, "agree": mine == theirs_}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venv", default=str(VENV))
    parser.add_argument("--output", default=str(RESULTS / "peer_sinabs.json"))
    args = parser.parse_args(argv)
    from benchmarks.common import ensure_peer_venv
    from itnet_neuro.utils import write_json

    # The PyPI ``samna`` that sinabs requires is a shim that installs the real samna from outside PyPI when
    # imported; it is uninstalled again so that nothing tries to (the peer script stands in for it).
    python = ensure_peer_venv(Path(args.venv), PEER_PACKAGES, "sinabs", probe="import sinabs, torch",
                              uninstall=["samna"])
    arrays = weights(NETS)
    with tempfile.TemporaryDirectory(prefix="bench-sinabs-") as tmp:
        peer = theirs(python, NETS, arrays, Path(tmp))
    nets = {}
    for name, spec in NETS.items():
        row = compare(ours(name, spec, arrays), peer["nets"][name])
        nets[name] = {"input": spec["input"], "layers_spec": spec["layers"], "probes": spec["probes"], **row}
        print(f"{name:10s} feasible ours {row['feasible']['ours']!s:5s} sinabs {row['feasible']['sinabs']!s:5s}  "
              f"cores ours {row['cores']['ours']} sinabs {row['cores']['sinabs']}  "
              + ("agree" if row["agree"] else "; ".join(row["differences"])), flush=True)
    results = {"command": "python benchmarks/bench_sinabs.py" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
               "peer": {"sinabs": peer["sinabs"], "device": peer["device"], "packages": list(PEER_PACKAGES),
                        "not_run": "samna (configuration building and validation): not installable from PyPI"},
               "constraints": constraints_row(peer),
               "core_choice": "each side picks any core whose kernel, neuron and bias memories hold a layer; "
                              "'same_cores' says whether the two picked the same ones (both valid either way)",
               "ours": {"chip": "dynapcnn", "schedule": "unrolled"}, "weights": "normal(0, 0.5), seed 0",
               "nets": nets, "agree": sum(r["agree"] for r in nets.values()), "of": len(nets)}
    write_json(args.output, results)
    print(f"wrote {args.output}: {results['agree']} of {results['of']} nets agree")
    return 0


if __name__ == "__main__":
    sys.exit(main())
