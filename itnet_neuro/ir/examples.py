"""Small hand-built IR networks for tests, examples and documentation (no conversion needed)."""

from __future__ import annotations

import numpy as np

from itnet_neuro.ir.graph import (Connection, InputSpec, IterativeBlock, Network, Population, Readout, ReadoutTerm,
                                  same_padding)


def tiny_iterative_network(height: int = 8, width: int = 8, channels: int = 4, classes: int = 3,
                           iterations: int = 3, seed: int = 0) -> Network:
    """An ItNet-shaped toy: input → conv (stride 2) → shared block iterated N times → one readout each.

    Block: ``hidden`` (3×3 conv of the state, ReLU) → ``state`` (1×1 conv of ``hidden``). Iteration 1
    takes the data population through an entry connection; iterations ≥ 2 take the previous state
    through a feedback connection. Per-iteration thresholds differ, as folded BatchNorm makes them.
    """
    rng = np.random.default_rng(seed)
    h2, w2 = -(-height // 2), -(-width // 2)
    inp = InputSpec("image", (3, height, width))
    pad = same_padding(height, 3, 2) + same_padding(width, 3, 2)

    def pop(name, c, h, w, rows=1, role="hidden"):
        thr = rng.uniform(0.8, 1.2, (rows, c))
        return Population(name, (c, h, w), threshold=thr, bias=rng.normal(0, 0.05, (rows, c)),
                          decode_scale=thr, role=role)

    data = pop("data", channels, h2, w2)
    hidden = pop("hidden", channels, h2, w2, iterations)
    state = pop("state", channels, h2, w2, iterations, role="state")
    p1 = same_padding(h2, 3, 1) + same_padding(w2, 3, 1)
    conns = [
        Connection("image_to_data", "image", "data", "conv2d", rng.normal(0, 0.4, (channels, 3, 3, 3)), stride=(2, 2),
                   padding=pad),
        Connection("data_to_hidden", "data", "hidden", "conv2d", rng.normal(0, 0.3, (channels, channels, 3, 3)),
                   padding=p1, iterations=(1,)),
        Connection("state_to_hidden", "state", "hidden", "conv2d", rng.normal(0, 0.3, (channels, channels, 3, 3)),
                   padding=p1, iterations=tuple(range(2, iterations + 1)), feedback=True),
        Connection("hidden_to_state", "hidden", "state", "conv2d", rng.normal(0, 0.5, (channels, channels, 1, 1))),
    ]
    readouts = [Readout(f"out{n}", n - 1, (ReadoutTerm("state", rng.normal(0, 1, (classes, channels))),),
                        bias=np.zeros(classes), iteration=n, out_size=(height, width))
                for n in range(1, iterations + 1)]
    block = IterativeBlock("block", iterations, ("hidden", "state"), state=("state",))
    return Network("tiny-iterative", inp, (data, hidden, state), tuple(conns), tuple(readouts), block,
                   metadata={"source": "itnet_neuro.ir.examples.tiny_iterative_network", "seed": seed})
