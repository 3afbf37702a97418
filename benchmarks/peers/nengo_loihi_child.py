"""Runs inside the nengo-loihi peer venv (benchmarks/bench_nengo_loihi.py makes it): builds each net
of an .npz in nengo-loihi 1.1's emulator builder, which splits blocks to fit cores, allocates them
with its Greedy allocator and checks them with ``validate_board`` (no board needed). Prints JSON.

    python nengo_loihi_child.py nets.npz out.json
"""

import json
import re
import sys
import time
import warnings

import numpy as np


def build(spec, arrays):
    import nengo
    import nengo_loihi

    relu = nengo.SpikingRectifiedLinear()
    one, zero = nengo.dists.Choice([1.0]), nengo.dists.Choice([0.0])
    with nengo.Network(seed=0) as net:
        nengo_loihi.add_params(net)
        c, h, w = spec["input"]
        inp = nengo.Node(np.zeros(c * h * w))
        prev = nengo.Ensemble(c * h * w, 1, neuron_type=relu, gain=one, bias=zero, label="input")
        net.config[prev].on_chip = False  # the input is sent from off chip, as in the IR
        nengo.Connection(inp, prev.neurons, synapse=None)
        shape = nengo.transforms.ChannelShape((h, w, c))  # channels last, nengo's default
        for layer in spec["layers"]:
            wgt = arrays[layer["name"]]
            if layer["op"] == "conv2d":
                kh, kw = wgt.shape[2:]
                pad = "same" if layer["padding"] == "same" else "valid"
                t = nengo.Convolution(wgt.shape[0], shape, kernel_size=(kh, kw), strides=tuple(layer["stride"]),
                                      padding=pad, init=wgt.transpose(2, 3, 1, 0))
                n_out, out_shape = t.output_shape.size, t.output_shape
            else:  # dense, from a (C, H, W) map flattened channels-first as the IR does
                cc, hh, ww = (shape.shape[2], shape.shape[0], shape.shape[1]) if len(shape.shape) == 3 \
                    else (shape.shape[0], 1, 1)
                perm = np.arange(cc * hh * ww).reshape(cc, hh, ww).transpose(1, 2, 0).ravel()
                t = wgt[:, perm]  # column j of nengo's channels-last order is IR column perm[j]
                n_out, out_shape = wgt.shape[0], nengo.transforms.ChannelShape((1, 1, wgt.shape[0]))
            post = nengo.Ensemble(n_out, 1, neuron_type=relu, gain=one, bias=zero, label=layer["name"])
            nengo.Connection(prev.neurons, post.neurons, transform=t, synapse=0.005)
            prev, shape = post, out_shape
        nengo.Probe(prev.neurons)
    return net


def measure(spec, arrays):
    import nengo_loihi
    from nengo_loihi.hardware.allocators import Greedy
    from nengo_loihi.hardware.validate import validate_board

    start = time.perf_counter()
    net = build(spec, arrays)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with nengo_loihi.Simulator(net, target="sim", progress_bar=False) as sim:
                model = sim.model
    except Exception as exc:  # a BuildError is their "does not fit"
        return {"feasible": False, "error": f"{type(exc).__name__}: {exc}"}
    blocks = []
    for b in model.blocks:
        u = b.utilization()
        label = str(b.label)
        layer = re.match(r"<Ensemble '([^']+)'>", label)  # a split block is labelled "<Ensemble 'name'>[a:b:c]"
        blocks.append({"layer": layer.group(1) if layer else label.split("[")[0], "label": label,
                       "compartments": int(u["compartments"][0]), "in_axons": int(u["in-axons"][0]),
                       "out_axons": int(u["out-axons"][0]), "synapse_bits": int(u["synapses"][0])})
    n_chips = -(-len(blocks) // 128)
    board = Greedy()(model, n_chips=n_chips)
    validate_board(board)
    cores = sum(len(chip.cores) for chip in board.chips)
    return {"feasible": True, "cores": cores, "chips": len(board.chips), "blocks": blocks,
            "limits": {"compartments": nengo_loihi.block.MAX_COMPARTMENTS,
                       "in_axons": nengo_loihi.block.MAX_IN_AXONS, "out_axons": nengo_loihi.block.MAX_OUT_AXONS,
                       "synapse_bits": nengo_loihi.block.MAX_SYNAPSE_BITS},
            "seconds": round(time.perf_counter() - start, 2)}


def main():
    import nengo
    import nengo_loihi

    data = np.load(sys.argv[1])
    specs = json.loads(str(data["specs"]))
    out = {"versions": {"nengo": nengo.__version__, "nengo_loihi": nengo_loihi.__version__,
                        "numpy": np.__version__}, "nets": {}}
    for spec in specs:
        arrays = {layer["name"]: data[spec["name"] + "/" + layer["name"]] for layer in spec["layers"]}
        print(f"nengo-loihi: {spec['name']}", file=sys.stderr, flush=True)
        out["nets"][spec["name"]] = measure(spec, arrays)
    with open(sys.argv[2], "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
