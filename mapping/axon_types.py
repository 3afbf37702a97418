"""TrueNorth's axon types: one type per physical axon of a core, shared by all its neurons.

A TrueNorth core (Merolla et al. 2014, Fig. 1; Cassidy et al. 2013) delivers the spike of axon ``a``
to neuron ``j`` with the weight ``c[a, j] · s[j, t[a]]``: a binary crossbar bit ``c``, the axon's type
``t[a] ∈ {0 … T−1}`` (one per axon, the same for every neuron of the core) and neuron ``j``'s own signed
integer weight ``s[j, t]`` for that type. A neuron therefore sees at most ``T`` distinct non-zero
weights, and the types have to suit every neuron of the core at once.

Given one core's true weights ``X`` (axons × neurons, each column in units of that neuron's
threshold, so every neuron's error counts relative to its own θ), :func:`fit_types` chooses the
types and the per-neuron type values jointly by alternating minimization (k-means style) of

.. math:: E(t, v, c) = \\sum_{a, j} (X_{a j} - c_{a j} \\, v_{j, t_a})^2

1. types from k-means++ seeding on the axons' weight rows (seeded, deterministic);
2. values: for each type and neuron the exact optimum given the type's axons
   (:func:`hardware_models.device.best_type_weights`; the crossbar bit is 1 exactly where it lowers
   the error, so an entry costs ``min(X², (X − v)²)``: the zero weight is free);
3. types: each axon takes the type with the lowest cost given the values (ties keep its type);

until the types stop changing. Steps 2 and 3 are each optimal given the other variables, so the
error never increases (``history``). Lloyd's step 3 keeps the values fixed and stalls early on
crossbar blocks (on a 1024-axon core of the shipped model it keeps 44 % of the squared weight as
error), so Hartigan moves follow (an axon changes type when that lowers ``E`` with the values
re-fitted): scored by an upper bound on large cores, exactly and with pair swaps on small ones.
Restarts (``n_init``) keep the best. The integer grid of each neuron is applied afterwards by
:mod:`mapping.realize` (the neuron's own scale is free: its threshold α is chosen with it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hardware_models.device import best_type_weights

__all__ = ["TypeFit", "fit_types", "assignment_cost", "type_values", "crossbar_error"]


@dataclass(frozen=True)
class TypeFit:
    """Result of :func:`fit_types`.

    Attributes
    ----------
    types : ndarray of int64, shape (A,)
        Type of each axon.
    values : ndarray of float64, shape (M, T)
        ``v[j, t]``: neuron j's weight for type t, in the units of ``X``.
    connected : ndarray of bool, shape (A, M)
        Crossbar bits: 1 where ``(X − v)² < X²``.
    error : float
        ``E`` of the result (sum of squares in the units of ``X``).
    history : tuple of float
        ``E`` after each value step of the kept run (non-increasing).
    """

    types: np.ndarray
    values: np.ndarray
    connected: np.ndarray
    error: float
    history: tuple

    @property
    def weights(self) -> np.ndarray:
        """The realized block ``c[a, j] · v[j, t[a]]`` (A × M)."""
        return np.where(self.connected, self.values[:, self.types].T, 0.0)


def type_values(x: np.ndarray, types: np.ndarray, n_types: int) -> np.ndarray:
    """Optimal ``v`` (M × T) for fixed types (exact, :func:`~hardware_models.device.best_type_weights`)."""
    return np.stack([best_type_weights(x[types == t]) for t in range(n_types)], axis=1)


def assignment_cost(x: np.ndarray, values: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """Cost (A × T) of giving axon a type t: ``Σ_j w_j min(X_aj², (X_aj − v_jt)²)`` (w_j = 1 by default)."""
    x2 = x * x
    w = np.ones(x.shape[1]) if weight is None else weight
    return np.stack([np.minimum(x2, (x - v) ** 2) @ w for v in values.T], axis=1)


def reassign(cost: np.ndarray, types: np.ndarray) -> np.ndarray:
    """Each axon's cheapest type; an axon whose current type is among the cheapest keeps it."""
    rows = np.arange(cost.shape[0])
    best = np.argmin(cost, axis=1)
    return np.where(cost[rows, types] <= cost[rows, best], types, best)


def crossbar_error(x: np.ndarray, types: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float]:
    """Optimal crossbar for fixed types and values, and its error ``E``."""
    v = values[:, types].T
    connected = (x - v) ** 2 < x ** 2
    return connected, float(np.sum((x - np.where(connected, v, 0.0)) ** 2))


def _seed_types(x: np.ndarray, k: int, rng: np.random.Generator, plus_plus: bool = True) -> np.ndarray:
    """k-means++ (Arthur & Vassilvitskii 2007) on the axon rows, each axon taking its nearest centre; or
    (``plus_plus=False``) uniformly random types, which explore other local optima."""
    n = x.shape[0]
    if not plus_plus:
        return rng.integers(0, k, n)
    centers = [x[rng.integers(n)]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centers)[None]) ** 2).sum(-1), axis=1)
        total = d2.sum()
        centers.append(x[rng.choice(n, p=d2 / total) if total > 0 else rng.integers(n)])
    c = np.asarray(centers)
    return np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)


def type_cost(members: np.ndarray) -> float:
    """Error of one type's axons (rows of ``members``) at their optimal values and crossbar."""
    v = best_type_weights(members)
    return float(np.minimum(members ** 2, (members - v) ** 2).sum())


def _configuration(x: np.ndarray, types: np.ndarray, n_types: int):
    """Sums S and counts k (T × M) of the connected entries of each type at the optimal values, and the
    connected entries themselves (A × M, 0 elsewhere)."""
    v = type_values(x, types, n_types)
    conn = (x - v[:, types].T) ** 2 < x ** 2
    onehot = (types[None, :] == np.arange(n_types)[:, None]).astype(np.float64)  # T × A
    xc = np.where(conn, x, 0.0)
    return onehot @ xc, onehot @ conn, xc, conn.astype(np.float64)


def _polish_bounded(x: np.ndarray, types: np.ndarray, n_types: int, max_sweeps: int, tol: float) -> np.ndarray:
    """Hartigan moves scored by an upper bound: fast for cores with thousands of axons.

    Lloyd's step (:func:`reassign`) keeps the values fixed, so it cannot see that an axon would pull
    another type's values towards itself; Hartigan's rule (Telgarsky & Vattani 2010) can. Here a move
    of axon a from type s to t is scored on a feasible configuration: s keeps its other connected
    entries at their new mean, t connects a wherever that raises the saving ``S²/k`` of a column.
    Exact re-optimization can only do better, so every accepted move lowers ``E``; each sweep starts
    from the optimal values. (``S = 0`` wherever ``k = 0``, so ``S²/max(k, 1)`` is the saving.)
    """
    types = types.copy()
    for _ in range(max_sweeps):
        s, k, xc, cf = _configuration(x, types, n_types)
        g = s * s / np.maximum(k, 1.0)
        g_sum = g.sum(axis=1)
        moved = False
        for a in range(x.shape[0]):
            t0 = types[a]
            s_rem, k_rem = s[t0] - xc[a], k[t0] - cf[a]
            g_rem = s_rem * s_rem / np.maximum(k_rem, 1.0)
            sx = s + x[a]
            g_ins = sx * sx / (k + 1.0)
            inc = np.maximum(g_ins - g, 0.0).sum(axis=1)
            inc[t0] = -np.inf
            t = int(np.argmax(inc))
            rem = g_rem.sum()
            if g_sum[t0] - rem - inc[t] < -tol:  # the cost change of the move (the ‖x_a‖² terms cancel)
                s[t0], k[t0], g[t0], g_sum[t0] = s_rem, k_rem, g_rem, rem
                on = g_ins[t] > g[t]
                s[t] += np.where(on, x[a], 0.0)
                k[t] += on
                g[t] = np.where(on, g_ins[t], g[t])
                g_sum[t] = g[t].sum()
                types[a], moved = t, True
        if not moved:
            break
    return types


def _moves_exact(x, types, cost, n_types, tol) -> bool:
    """One sweep of single-axon Hartigan moves, both types re-fitted exactly; True if any was made."""
    moved = False
    for a in range(x.shape[0]):
        t0 = types[a]
        types[a] = -1
        without = type_cost(x[types == t0])
        trials = [(type_cost(x[(types == t) | (types == -1)]) - cost[t], t) for t in range(n_types) if t != t0]
        delta, t = min(trials, default=(np.inf, t0))
        if delta + without - cost[t0] < -tol:
            cost[t0], cost[t] = without, cost[t] + delta
            types[a], moved = t, True
        else:
            types[a] = t0
    return moved


def _swaps_exact(x, types, cost, tol) -> bool:
    """One sweep of pair swaps (axons a, b exchange types), re-fitted exactly; True if any was made."""
    moved = False
    for a in range(x.shape[0]):
        for b in range(a + 1, x.shape[0]):
            s, t = types[a], types[b]
            if s == t:
                continue
            types[a], types[b] = t, s
            cs, ct = type_cost(x[types == s]), type_cost(x[types == t])
            if cs + ct < cost[s] + cost[t] - tol:
                cost[s], cost[t], moved = cs, ct, True
            else:
                types[a], types[b] = s, t
    return moved


def _polish_exact(x: np.ndarray, types: np.ndarray, n_types: int, max_sweeps: int, tol: float) -> np.ndarray:
    """Single moves and pair swaps with the values re-fitted exactly (costly: for small cores only).

    Pair swaps leave local optima of single moves where two axons have to exchange types at once
    (on random 6 × 3 blocks they bring the worst case from 16× to 1.5× the brute-force optimum)."""
    types = types.copy()
    cost = [type_cost(x[types == t]) for t in range(n_types)]
    for _ in range(max_sweeps):
        moved = _moves_exact(x, types, cost, n_types, tol)
        if not _swaps_exact(x, types, cost, tol) and not moved:
            break
    return types


#: Cores with ``A² · M`` up to this also run the exact moves and swaps after the bounded moves.
EXACT_BUDGET = 20_000


def _fit_once(x: np.ndarray, n_types: int, rng: np.random.Generator, n_iter: int, polish: int,
              plus_plus: bool) -> TypeFit:
    types = _seed_types(x, min(n_types, x.shape[0]), rng, plus_plus)
    history = []
    for _ in range(n_iter):
        values = type_values(x, types, n_types)
        cost = assignment_cost(x, values)
        history.append(float(cost[np.arange(x.shape[0]), types].sum()))
        new = reassign(cost, types)
        if np.array_equal(new, types):
            break
        types = new
    else:
        values = type_values(x, types, n_types)
        history.append(float(assignment_cost(x, values)[np.arange(x.shape[0]), types].sum()))
    if polish:
        tol = 1e-12 * max(float(np.sum(x ** 2)), 1e-300)
        types = _polish_bounded(x, types, n_types, polish, tol)
        if x.shape[0] ** 2 * x.shape[1] <= EXACT_BUDGET:
            types = _polish_exact(x, types, n_types, polish, tol)
        values = type_values(x, types, n_types)
        history.append(float(assignment_cost(x, values)[np.arange(x.shape[0]), types].sum()))
    connected, err = crossbar_error(x, types, values)
    return TypeFit(types.astype(np.int64), values, connected, err, tuple(history))


def fit_types(x, n_types: int, *, seed=0, n_init: int = 4, n_iter: int = 100, polish: int = 10) -> TypeFit:
    """Axon types and per-neuron type values of one core, minimizing ``E`` (module docstring).

    Parameters
    ----------
    x : array_like, shape (A, M)
        The core's true weights, axon-major, each column in units of its neuron's threshold.
        Entries without a synapse are 0 (free: their crossbar bit stays 0).
    n_types : int
        ``T`` (TrueNorth: ``weights.n_axon_types`` = 4).
    seed : int or sequence of int
        Seed of the k-means++ initializations (deterministic given the seed).
    n_init : int
        Restarts (k-means++ seeding, then uniformly random types, alternately); the lowest ``E`` is kept.
    n_iter : int
        Most alternations per restart.
    polish : int
        Most sweeps of Hartigan moves after the alternations (0: none).

    Returns
    -------
    TypeFit
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"fit_types needs one core's (axons × neurons) block, got shape {x.shape}")
    if n_types < 1 or n_init < 1:
        raise ValueError(f"fit_types: n_types ({n_types}) and n_init ({n_init}) must be >= 1")
    if x.shape[0] == 0:
        z = np.zeros((x.shape[1], n_types))
        return TypeFit(np.zeros(0, np.int64), z, np.zeros(x.shape, bool), 0.0, (0.0,))
    rng = np.random.default_rng(seed)
    fits = [_fit_once(x, n_types, rng, n_iter, polish, i % 2 == 0) for i in range(n_init)]
    return min(fits, key=lambda f: f.error)
