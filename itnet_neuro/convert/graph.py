"""The Keras functional graph as a list of nodes (one per layer *call*), in topological order.

A layer called N times (the ItNet's shared iterative block) has N inbound nodes; each call is one
:class:`Node` here, named ``layer`` for the first call and ``layer#k`` for call ``k`` (0-based).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from itnet_neuro.errors import ConversionError


@dataclass
class Node:
    id: str                      # "layer" or "layer#k"
    layer: object                # the Keras layer
    index: int                   # node index of the call
    inputs: list[str]            # ids of the nodes whose outputs this call reads
    consumers: list[str] = field(default_factory=list)
    is_output: bool = False
    output_index: int = -1

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__

    @property
    def name(self) -> str:
        return self.layer.name


def node_id(layer_name: str, index: int) -> str:
    return layer_name if index == 0 else f"{layer_name}#{index}"


def functional_copy(model):
    """A fresh functional model with the same layers' weights: node indices then follow the config.

    Sequential models become functional ones over the same layer list.
    """
    from itnet_neuro.utils import import_tf

    tf = import_tf()
    if isinstance(model, tf.keras.Sequential):
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    custom = {}
    try:
        from itnet_neuro.model.layers import CUSTOM_OBJECTS

        custom = dict(CUSTOM_OBJECTS)
    except ImportError:  # pragma: no cover
        pass
    config = model.get_config()
    copy = tf.keras.Model.from_config(config, custom_objects=custom)
    copy.set_weights(model.get_weights())
    return copy


def build_graph(model) -> tuple[list[Node], list[str]]:
    """Nodes of ``model`` (a functional copy, see :func:`functional_copy`) and the output node ids."""
    config = model.get_config()
    layers = {layer.name: layer for layer in model.layers}
    nodes: dict[str, Node] = {}
    for lc in config["layers"]:
        name = lc["config"]["name"] if "name" in lc.get("config", {}) else lc["name"]
        name = lc.get("name", name)
        layer = layers[name]
        inbound = lc.get("inbound_nodes") or []
        if not inbound:  # InputLayer
            nodes[node_id(name, 0)] = Node(node_id(name, 0), layer, 0, [])
            continue
        for k, call in enumerate(inbound):
            if isinstance(call, dict):  # pragma: no cover - Keras 3 style
                raise ConversionError(f"layer {name!r}: unsupported inbound-node format; save with Keras 2")
            ins = [node_id(str(ref[0]), int(ref[1])) for ref in call]
            nodes[node_id(name, k)] = Node(node_id(name, k), layer, k, ins)
    outputs = [node_id(str(o[0]), int(o[1])) for o in config["output_layers"]]
    for n in nodes.values():
        for i in n.inputs:
            if i not in nodes:
                raise ConversionError(f"node {n.id!r} reads unknown node {i!r}")
            nodes[i].consumers.append(n.id)
    for k, o in enumerate(outputs):
        nodes[o].is_output = True
        nodes[o].output_index = k
    # topological order (depth-first, keeping the config's order where it is free)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(nid: str):
        stack = [(nid, 0)]
        while stack:
            cur, i = stack.pop()
            if i == 0:
                if state.get(cur) == 2:
                    continue
                state[cur] = 1
            ins = nodes[cur].inputs
            if i < len(ins):
                stack.append((cur, i + 1))
                nxt = ins[i]
                if state.get(nxt) == 1:
                    raise ConversionError(f"the Keras graph has a cycle through {nxt!r}")
                if state.get(nxt) != 2:
                    stack.append((nxt, 0))
            else:
                state[cur] = 2
                order.append(cur)

    for nid in nodes:
        visit(nid)
    return [nodes[i] for i in order], outputs


def node_tensors(model, nodes: list[Node]):
    """The Keras tensor each node outputs (for one forward pass that returns every activation)."""
    out = []
    for n in nodes:
        t = n.layer._inbound_nodes[n.index].outputs
        if isinstance(t, (list, tuple)):
            if len(t) != 1:
                raise ConversionError(f"layer {n.name!r} has {len(t)} outputs; only single-output layers convert")
            t = t[0]
        out.append(t)
    return out
