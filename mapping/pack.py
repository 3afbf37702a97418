"""Bin packing of tiles into cores: first-fit decreasing over classes of identical tiles.

Tiles of one node mostly come in a few identical resource vectors (a uniform grid), so packing
works on *classes* (a resource vector and how many tiles have it) and on *bin groups* (many cores
with the same contents and residual capacity). Each class, largest first (by its dominant resource
fraction), fills the residual capacity of the earlier groups first-fit, then opens new cores holding
as many of its tiles as fit. The result is exact first-fit decreasing for this item order, in time
that depends on the number of distinct tile shapes, not on the number of tiles.

Two tiles on one core are costed as the sum of their resources (their input axons are not merged),
which can only overestimate what the core holds.
"""

from __future__ import annotations

import numpy as np

from mapping.chip import INF


def pack(resources: np.ndarray, limits: np.ndarray, allow_sharing: bool = True) -> np.ndarray:
    """Assign each tile to a core.

    Parameters
    ----------
    resources : np.ndarray
        ``(T, R)`` non-negative integer resources per tile.
    limits : np.ndarray
        ``(R,)`` per-core limits (``inf`` = unbounded).
    allow_sharing : bool
        False: one tile per core (conv-layer chips).

    Returns
    -------
    np.ndarray
        ``(T,)`` core index per tile, cores numbered 0.. in order of opening.
    """
    t = resources.shape[0]
    if t == 0:
        return np.zeros(0, np.int64)
    if not allow_sharing:
        return np.arange(t, dtype=np.int64)
    classes, inverse = np.unique(resources.astype(np.int64), axis=0, return_inverse=True)
    return pack_classes(classes, inverse.reshape(-1), limits)


def pack_classes(classes: np.ndarray, inverse: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """:func:`pack` for tiles given as distinct resource vectors ``classes`` (K, R) and the class of
    each tile ``inverse`` (T,)."""
    t = inverse.shape[0]
    lim = np.asarray(limits, np.float64)
    finite = np.isfinite(lim)
    if not finite.any():
        return np.zeros(t, np.int64)
    classes = classes[:, finite]
    lim = lim[finite]
    counts = np.bincount(inverse, minlength=classes.shape[0])
    frac = (classes / lim).max(axis=1)
    order = np.argsort(-frac, kind="stable")
    min_item = classes.min(axis=0)
    # A bin group: [residual (R,), multiplicity, composition {class: per-bin count}]
    groups: list[list] = []
    open_idx: list[int] = []
    for cls in order:
        r = classes[cls].astype(np.float64)
        n = int(counts[cls])
        pos = r > 0
        still_open = []
        for gi in open_idx:
            if n == 0:
                still_open.append(gi)
                continue
            res_g, m, comp = groups[gi]
            q = int(np.floor((res_g[pos] / r[pos]).min())) if pos.any() else n
            if q <= 0:
                if np.all(res_g >= min_item):
                    still_open.append(gi)
                continue
            q = min(q, n)
            use = min(n, q * m)
            full, rem = divmod(use, q)
            parts = []
            if full:
                comp_f = dict(comp)
                comp_f[cls] = comp_f.get(cls, 0) + q
                parts.append([res_g - q * r, full, comp_f])
            if rem:
                comp_r = dict(comp)
                comp_r[cls] = comp_r.get(cls, 0) + rem
                parts.append([res_g - rem * r, 1, comp_r])
            left = m - full - (1 if rem else 0)
            if left:
                parts.append([res_g, left, comp])
            groups[gi] = parts[0]
            still_open.append(gi)
            for p in parts[1:]:
                groups.append(p)
                still_open.append(len(groups) - 1)
            n -= use
        open_idx = [gi for gi in still_open if np.all(groups[gi][0] >= min_item)]
        if n:
            k = int(np.floor((lim[pos] / r[pos]).min())) if pos.any() else n
            k = max(1, min(k, n))  # a tile over a limit still gets a core of its own (reported elsewhere)
            full, rem = divmod(n, k)
            for cnt, mult in ((k, full), (rem, 1 if rem else 0)):
                if mult:
                    groups.append([lim - cnt * r, mult, {cls: cnt}])
                    if np.all(groups[-1][0] >= min_item):
                        open_idx.append(len(groups) - 1)
    # Materialize: hand out the tiles of each class to the cores of each group in order.
    by_class = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    members = [by_class[starts[c]:starts[c + 1]] for c in range(len(classes))]
    taken = np.zeros(len(classes), np.int64)
    core_of = np.empty(t, np.int64)
    base = 0
    for res_g, m, comp in groups:
        for cls, cnt in comp.items():
            idx = members[cls][taken[cls]:taken[cls] + cnt * m]
            taken[cls] += cnt * m
            core_of[idx] = base + np.repeat(np.arange(m), cnt)
        base += m
    return core_of


def core_totals(core_of: np.ndarray, values: np.ndarray, n_cores: int) -> np.ndarray:
    """Sum of per-tile ``values`` per core."""
    return np.bincount(core_of, weights=values, minlength=n_cores).astype(np.int64)


__all__ = ["pack", "pack_classes", "core_totals", "INF"]
