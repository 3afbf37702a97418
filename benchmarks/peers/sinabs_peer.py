"""Runs inside the sinabs venv (made by benchmarks/bench_sinabs.py): sinabs 3.1's own DYNAP-CNN mapping of the
nets in ``NETS.npz``, no hardware. Prints one JSON document: per net the DynapcnnLayers' memory words
(``DynapcnnLayer.memory_summary``) and the layer → core map of sinabs' max-flow mapping
(``ConfigBuilder.map_layers_to_cores`` with the device's ``get_constraints``), or its error.

samna, SynSense's binary, is imported by sinabs' modules but not used by the memory summary or the mapping;
its PyPI package is a shim that downloads the real one from outside PyPI at import, which cannot happen
here, so an empty placeholder module stands in for it. Whatever needs samna (building the samna
configuration, validating it on the device model) is therefore not run.

    python sinabs_peer.py NETS.npz DEVICE
"""

import importlib.abc
import importlib.machinery
import json
import sys
import types
import warnings

import numpy as np


class _Absent(type):
    """A placeholder class whose every attribute is another placeholder class (for annotations and base
    classes at import); calling anything that needs samna fails where it is used."""

    def __getattr__(cls, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Absent(attr, (), {})


class _NoSamna(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``samna`` and its submodules as empty modules whose attributes are placeholder classes."""

    def find_spec(self, name, path=None, target=None):
        if name == "samna" or name.startswith("samna.") or name == "samnagui":
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []
        mod.__getattr__ = lambda attr: _Absent(attr, (), {}) if not attr.startswith("__") else None
        return mod

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _NoSamna())


def build(spec, arrays, name):
    import sinabs.layers as sl
    import torch
    from torch import nn

    mods = []
    for i, layer in enumerate(spec["layers"]):
        if layer["kind"] == "conv":
            w = torch.tensor(arrays[f"{name}/{i}/weight"], dtype=torch.float32)
            bias = f"{name}/{i}/bias" in arrays.files
            conv = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2:], stride=layer["stride"], padding=layer["padding"],
                             bias=bias)
            with torch.no_grad():
                conv.weight.copy_(w)
                if bias:
                    conv.bias.copy_(torch.tensor(arrays[f"{name}/{i}/bias"], dtype=torch.float32))
            mods += [conv, sl.IAFSqueeze(batch_size=1)]
        else:
            mods.append(sl.SumPool2d(layer["size"]))
    return nn.Sequential(*mods)


def peer(spec, arrays, name, device):
    from sinabs.backend.dynapcnn import DynapcnnNetwork
    from sinabs.backend.dynapcnn.chip_factory import ChipFactory

    net = DynapcnnNetwork(build(spec, arrays, name), input_shape=tuple(spec["input"]), batch_size=1, discretize=True)
    memory = net.memory_summary() if callable(net.memory_summary) else net.memory_summary
    layers = [{"index": int(k), "kernel": int(memory["kernel"][k]), "neuron": int(memory["neuron"][k]),
               "bias": int(memory["bias"][k])} for k in sorted(memory["kernel"])]
    builder = ChipFactory(device).get_config_builder()
    out = {"layers": layers, "constraints": [[c.kernel_memory, c.neuron_memory, c.bias_memory]
                                             for c in builder.get_constraints()]}
    try:
        mapping = builder.map_layers_to_cores(net.dynapcnn_layers)
    except Exception as e:  # sinabs raises ValueError/InvalidModel when no matching places every layer
        return {**out, "feasible": False, "cores": None, "error": f"{type(e).__name__}: {e}"}
    out.update(feasible=True, cores=len(set(mapping.values())), layer2core={str(k): int(v) for k, v in mapping.items()})
    return out


def main():
    import sinabs

    arrays = np.load(sys.argv[1])
    specs = json.loads(str(arrays["__specs__"]))
    warnings.simplefilter("ignore")
    result = {"sinabs": sinabs.__version__, "device": sys.argv[2], "nets": {}}
    for name, spec in specs.items():
        result["nets"][name] = peer(spec, arrays, name, sys.argv[2])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
