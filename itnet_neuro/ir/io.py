"""Reading and writing the IR as ``.snn.h5`` (h5py, versioned schema, no pickle).

File layout (schema version 2)::

    /                       attrs: format="itnet-neuro-snn", schema_version=2, name, metadata (JSON)
    /input                  attrs: name, shape, encoding, scale, offset
    /populations/<name>     attrs: order, shape, v_init, leak, role, pair, sign, source,
                                   reset, v_min, v_max (NaN = unbounded)
                            datasets: threshold (R×C), bias (R×C), decode_scale (R×C),
                                      threshold_map, bias_map (R×C×H×W, only where set)
    /connections/<name>     attrs: order, pre, post, op, stride, padding, kernel, groups, mode,
                                   post_offset, delay, iterations (JSON, null = all), feedback
                            dataset: weight (axis order per op, see itnet_neuro.ir.graph.OPS);
                                     index (2 × nnz int64) for ops that carry one (sparse)
    /readouts/<name>        attrs: index, iteration (-1 = none), out_size (JSON); dataset: bias (K)
    /readouts/<name>/terms/<i>  attrs: population, pool; dataset: weight (K×C)
    /block                  attrs: name, iterations, populations (JSON), state (JSON)   [optional]

The ``sparse`` op and its ``index`` dataset need no version of their own: a file without a sparse
connection has exactly the layout above without ``index``, and a reader that predates the op refuses
a file with one on its unknown op, naming the connection.

Every attribute is a number or a string and every dataset a numeric array: reading never
unpickles. Files are written to a temporary file and renamed into place. Version 1 files (before
the neuron options ``reset``, ``v_min``, ``v_max`` and the per-neuron maps) still read, as
populations with the default neuron (reset by subtraction, no saturation, per-channel parameters).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from itnet_neuro.errors import SchemaError, ValidationError
from itnet_neuro.ir.graph import (Connection, InputSpec, IterativeBlock, Network, Population, Readout,
                                  ReadoutTerm)

FORMAT = "itnet-neuro-snn"
SCHEMA_VERSION = 2
#: Versions :func:`load_network` reads (1: no neuron options, read with their defaults).
READABLE_VERSIONS = (1, 2)


def save_network(net: Network, path: str | os.PathLike) -> Path:
    """Write ``net`` to ``path`` (``.snn.h5``) atomically."""
    import h5py

    from itnet_neuro.utils import atomic_path

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["name"] = net.name
            f.attrs["metadata"] = json.dumps(net.metadata)
            g = f.create_group("input")
            g.attrs.update(name=net.input.name, shape=list(net.input.shape), encoding=net.input.encoding,
                           scale=float(net.input.scale), offset=float(net.input.offset))
            pg = f.create_group("populations")
            for i, p in enumerate(net.populations):
                g = pg.create_group(p.name)
                g.attrs.update(order=i, shape=list(p.shape), v_init=float(p.v_init), leak=float(p.leak),
                               role=p.role, pair=p.pair or "", sign=int(p.sign), source=p.source, reset=p.reset,
                               v_min=_nan_for_none(p.v_min), v_max=_nan_for_none(p.v_max))
                for key in ("threshold", "bias", "decode_scale", "threshold_map", "bias_map"):
                    if getattr(p, key) is not None:
                        g.create_dataset(key, data=getattr(p, key),
                                         compression="gzip" if getattr(p, key).size > 4096 else None)
            cg = f.create_group("connections")
            for i, c in enumerate(net.connections):
                g = cg.create_group(c.name)
                g.attrs.update(order=i, pre=c.pre, post=c.post, op=c.op, stride=list(c.stride),
                               padding=list(c.padding), kernel=list(c.kernel), groups=int(c.groups), mode=c.mode,
                               post_offset=int(c.post_offset), delay=int(c.delay),
                               iterations=json.dumps(None if c.iterations is None else list(c.iterations)),
                               feedback=bool(c.feedback))
                g.create_dataset("weight", data=c.weight, compression="gzip" if c.weight.size > 4096 else None)
                if c.index is not None:
                    g.create_dataset("index", data=c.index, compression="gzip" if c.index.size > 4096 else None)
            rg = f.create_group("readouts")
            for r in net.readouts:
                g = rg.create_group(r.name)
                g.attrs.update(index=int(r.index), iteration=-1 if r.iteration is None else int(r.iteration),
                               out_size=json.dumps(None if r.out_size is None else list(r.out_size)))
                g.create_dataset("bias", data=r.bias)
                tg = g.create_group("terms")
                for j, t in enumerate(r.terms):
                    h = tg.create_group(str(j))
                    h.attrs.update(population=t.population, pool=t.pool or "")
                    h.create_dataset("weight", data=t.weight)
            if net.block is not None:
                g = f.create_group("block")
                g.attrs.update(name=net.block.name, iterations=int(net.block.iterations),
                               populations=json.dumps(list(net.block.populations)),
                               state=json.dumps(list(net.block.state)))
    return Path(path)


def load_network(path: str | os.PathLike) -> Network:
    """Read a ``.snn.h5`` file written by :func:`save_network`.

    Raises
    ------
    SchemaError
        The file is not an itnet-neuro IR, its schema version is unknown, or it is malformed.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path}: no such file (convert a model first: `itnet-neuro convert MODEL.h5`)")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SchemaError(f"{path}: not an HDF5 file ({exc})") from exc
    with f:
        if _str(f.attrs.get("format", "")) != FORMAT:
            raise SchemaError(f"{path}: not an itnet-neuro spiking network (no format={FORMAT!r} attribute); "
                              "if this is a Keras model, convert it first with `itnet-neuro convert`")
        version = int(f.attrs.get("schema_version", -1))
        if version not in READABLE_VERSIONS:
            raise SchemaError(f"{path}: schema version {version} is not supported by this itnet-neuro (reads "
                              f"versions {', '.join(map(str, READABLE_VERSIONS))}); re-run `itnet-neuro convert` "
                              "with this version")
        try:
            return _read(f)
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, (SchemaError, ValidationError)):
                raise SchemaError(f"{path}: {exc}") from exc
            raise SchemaError(f"{path}: malformed spiking network file ({type(exc).__name__}: {exc})") from exc


def _str(v) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _nan_for_none(v: float | None) -> float:
    return float("nan") if v is None else float(v)


def _none_for_nan(a, key: str) -> float | None:
    v = float(a.get(key, float("nan")))
    return None if np.isnan(v) else v


def _arr(ds) -> np.ndarray:
    if ds.dtype.kind not in "fiub":
        raise SchemaError(f"dataset {ds.name} has non-numeric dtype {ds.dtype}")
    return np.asarray(ds[()])


def _read(f) -> Network:
    a = f["input"].attrs
    inp = InputSpec(name=_str(a["name"]), shape=tuple(int(v) for v in a["shape"]), encoding=_str(a["encoding"]),
                    scale=float(a["scale"]), offset=float(a["offset"]))
    pops = []
    for name, g in f["populations"].items():
        a = g.attrs
        pops.append((int(a["order"]), Population(
            name=name, shape=tuple(int(v) for v in a["shape"]), threshold=_arr(g["threshold"]), bias=_arr(g["bias"]),
            decode_scale=_arr(g["decode_scale"]), v_init=float(a["v_init"]), leak=float(a["leak"]),
            role=_str(a["role"]), pair=_str(a["pair"]) or None, sign=int(a["sign"]), source=_str(a["source"]),
            threshold_map=_arr(g["threshold_map"]) if "threshold_map" in g else None,
            bias_map=_arr(g["bias_map"]) if "bias_map" in g else None, reset=_str(a.get("reset", "subtract")),
            v_min=_none_for_nan(a, "v_min"), v_max=_none_for_nan(a, "v_max"))))
    conns = []
    for name, g in f["connections"].items():
        a = g.attrs
        its = json.loads(_str(a["iterations"]))
        conns.append((int(a["order"]), Connection(
            name=name, pre=_str(a["pre"]), post=_str(a["post"]), op=_str(a["op"]), weight=_arr(g["weight"]),
            stride=tuple(a["stride"]), padding=tuple(a["padding"]), kernel=tuple(a["kernel"]), groups=int(a["groups"]),
            mode=_str(a["mode"]), post_offset=int(a["post_offset"]), delay=int(a["delay"]),
            iterations=None if its is None else tuple(its), feedback=bool(a["feedback"]),
            index=_arr(g["index"]) if "index" in g else None)))
    readouts = []
    for name, g in f["readouts"].items():
        a = g.attrs
        terms = [ReadoutTerm(population=_str(t.attrs["population"]), weight=_arr(t["weight"]),
                             pool=_str(t.attrs["pool"]) or None)
                 for _, t in sorted(g["terms"].items(), key=lambda kv: int(kv[0]))]
        out_size = json.loads(_str(a["out_size"]))
        it = int(a["iteration"])
        readouts.append(Readout(name=name, index=int(a["index"]), terms=tuple(terms), bias=_arr(g["bias"]),
                                iteration=None if it < 0 else it,
                                out_size=None if out_size is None else tuple(out_size)))
    block = None
    if "block" in f:
        a = f["block"].attrs
        block = IterativeBlock(name=_str(a["name"]), iterations=int(a["iterations"]),
                               populations=tuple(json.loads(_str(a["populations"]))),
                               state=tuple(json.loads(_str(a["state"]))))
    return Network(name=_str(f.attrs["name"]), input=inp, populations=tuple(p for _, p in sorted(pops, key=lambda x: x[0])),
                   connections=tuple(c for _, c in sorted(conns, key=lambda x: x[0])), readouts=tuple(readouts),
                   block=block, metadata=json.loads(_str(f.attrs["metadata"])))
