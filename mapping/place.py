"""Placement of cores on chips and on each chip's mesh, and the spike-traffic estimate.

Cores are laid out in the order of the network (nodes in topological order; within a node its tiles
in raster order, rows then columns, channels innermost), along a Hilbert curve of each chip's mesh
(a serpentine where the mesh is not a square power of two), filling chips one after another; chips
themselves sit on a square grid of chips. A layer's tiles thus occupy a compact patch and its
consumers the patches next to it, which keeps spikes × hops low: the estimate is reported beside
the same estimate for a random placement of the same cores.

Hops are Manhattan distances on the global mesh (chips tiled edge to edge, as TrueNorth and Loihi
boards route across chip boundaries); rates are spikes per neuron per tick, from a calibration
``rates`` mapping (population → mean rate) where given, else 1 for every population (then the
figure is relative: axon-weighted hops).
"""

from __future__ import annotations

import math

import numpy as np

from mapping.chip import INF


def _hilbert_d2xy(n: int, d: np.ndarray):
    """Positions of indices ``d`` along a Hilbert curve filling an ``n × n`` grid (n a power of 2)."""
    x = np.zeros_like(d)
    y = np.zeros_like(d)
    t = d.copy()
    s = 1
    while s < n:
        rx = 1 & (t // 2)
        ry = 1 & (t ^ rx)
        flip = ry == 0
        swap_x = np.where(flip & (rx == 1), s - 1 - x, x)
        swap_y = np.where(flip & (rx == 1), s - 1 - y, y)
        x, y = np.where(flip, swap_y, swap_x), np.where(flip, swap_x, swap_y)
        x = x + s * rx
        y = y + s * ry
        t = t // 4
        s *= 2
    return x, y


def mesh_positions(index: np.ndarray, rows: int, cols: int):
    """(x, y) of the ``index``-th core of a chip whose mesh is ``rows × cols``."""
    index = np.asarray(index, np.int64)
    if rows == cols and rows & (rows - 1) == 0 and rows > 1:
        return _hilbert_d2xy(rows, index)
    y = index // cols
    x = index % cols
    x = np.where(y % 2 == 1, cols - 1 - x, x)
    return x, y


def assign_chips(core_memory: np.ndarray, limits) -> np.ndarray:
    """Chip index of each core (cores in placement order), filling chips one after another.

    A chip takes at most ``cores_per_chip`` cores and, where the chip has shared memory, at most
    ``shared_memory_bytes`` of their memory.
    """
    n = core_memory.shape[0]
    cpc = limits.cores_per_chip
    if limits.shared_memory_bytes >= INF:
        if cpc >= INF:
            return np.zeros(n, np.int64)
        return np.arange(n, dtype=np.int64) // int(cpc)
    chip = np.empty(n, np.int64)
    cum = np.concatenate([[0], np.cumsum(core_memory)])
    start, c = 0, 0
    while start < n:
        end = int(np.searchsorted(cum, cum[start] + limits.shared_memory_bytes, side="right")) - 1
        end = max(end, start + 1)
        if cpc < INF:
            end = min(end, start + int(cpc))
        chip[start:end] = c
        start, c = end, c + 1
    return chip


def mesh_shape(limits, n_cores_on_chip: int) -> tuple[int, int]:
    if limits.mesh_rows < INF and limits.mesh_cols < INF:
        return int(limits.mesh_rows), int(limits.mesh_cols)
    side = max(1, math.ceil(math.sqrt(max(n_cores_on_chip, 1))))
    return side, side


def place(chip_of: np.ndarray, limits, slot: np.ndarray | None = None):
    """Mesh coordinates of cores already ordered and assigned to chips.

    Parameters
    ----------
    chip_of : np.ndarray
        ``(n,)`` chip per core, non-decreasing.
    slot : np.ndarray, optional
        Fixed core slot within its chip (conv-layer chips, whose cores differ); default: order.

    Returns
    -------
    x, y, gx, gy : np.ndarray
        Position on its chip's mesh and on the global mesh of all chips.
    """
    n = chip_of.shape[0]
    if n == 0:
        z = np.zeros(0, np.int64)
        return z, z, z, z
    first = np.searchsorted(chip_of, chip_of)  # index of the first core of the same chip
    idx = np.arange(n) - first if slot is None else np.asarray(slot, np.int64)
    per_chip = int(np.bincount(chip_of).max())
    rows, cols = mesh_shape(limits, per_chip)
    # Every chip follows the same curve: compute it once for one chip's slots and look it up.
    tx, ty = mesh_positions(np.arange(max(rows * cols, int(idx.max()) + 1)), rows, cols)
    x, y = tx[idx], ty[idx]
    n_chips = int(chip_of.max()) + 1
    gcols = max(1, math.ceil(math.sqrt(n_chips)))
    gx = (chip_of % gcols) * cols + x
    gy = (chip_of // gcols) * rows + y
    return x.astype(np.int64), y.astype(np.int64), gx.astype(np.int64), gy.astype(np.int64)
