"""Pure cores of the query-based (black-box) attacks: Square and HopSkipJump.

No scikit-learn here. The victim is an *oracle*, a callable the
scikit-learn classes in :mod:`skadv.attacks.black_box` build around the
model's ``predict`` / ``predict_proba``:

* ``loss_fn(points, rows) -> (loss, success)`` (Square): margin loss of each
  point (smaller is more adversarial) and whether it already is adversarial;
* ``is_adv(points, rows) -> success`` (HopSkipJump): the model's decision only.

``rows`` holds the index of the attacked row each point belongs to. Every
oracle call carries the points of *all* rows still running: the Python loop is
over iterations (each one a model call), never over rows, and the bookkeeping
between calls is vectorised NumPy in float64, the precision of the model.
``project(points, clean)`` makes candidates valid (feature constraints and,
for Square, the budget: ``project(points, clean, eps)`` with each point's
budget) *before* they are queried, so no query is spent on a point the attack
could not return.

Randomness is counter-based NumPy (:func:`row_seeds`, :func:`_sample`): one
seed per row, derived from the attack's key and the row's global index, hashed
with the step number -- a row's result does not depend on the other rows
attacked with it, and no sampler needs compiling for each new shape.
Query budgets are per row and exact: ``n_queries[i] <= max_queries``.
"""

import numpy as np

__all__ = ["hop_skip_jump", "row_seeds", "square", "square_fraction"]


# --------------------------------------------------------------------------
# randomness: counter-based, per row, in NumPy
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z):
    """SplitMix64's finaliser: a bijective, well-mixing hash of uint64 arrays."""
    z = np.asarray(z, dtype=np.uint64)
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def row_seeds(key, n, rows=None):
    """One uint64 seed per row from a PRNG key (a JAX key or uint32 pair).

    Rows are numbered globally, so a row's random stream does not depend on
    how rows are batched (``rows``: the global numbers of the ``n`` rows, for
    a chunk of a larger call; default ``0..n-1``). Also accepts per-row keys
    ``(n, 2)`` or seeds ``(n,)``.
    """
    key = np.asarray(key)
    if key.dtype == np.uint64 and key.shape == (n,):
        return key
    key = key.astype(np.uint64)
    if key.ndim == 2:
        return _mix((key[:, 0] << np.uint64(32)) | key[:, 1])
    base = (key[0] << np.uint64(32)) | key[1]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    return _mix(base + _GOLDEN * (rows.astype(np.uint64) + np.uint64(1)))


def _sample(seeds, step, shape, kind="uniform"):
    """Per-row draws ``(n, *shape)``: uniform on [0, 1) or standard normal.

    Counter-based (the hash of seed, step and position), so nothing is
    compiled or carried between calls, and ``step`` names an independent stream.
    """
    seeds = np.asarray(seeds, dtype=np.uint64)
    m = int(np.prod(shape))
    width = 2 * m if kind == "normal" else m
    counter = (np.uint64(step) << np.uint64(32)) + np.arange(1, width + 1, dtype=np.uint64)
    z = _mix(seeds[:, None] + counter[None, :] * _GOLDEN)
    u = (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -53
    if kind == "normal":  # Box-Muller
        u = np.sqrt(-2.0 * np.log1p(-u[:, :m])) * np.cos(2.0 * np.pi * u[:, m:])
    return u.reshape((len(seeds),) + tuple(shape))


def _norm(delta, norm):
    if norm == "inf":
        return np.max(np.abs(delta), axis=-1)
    return np.sqrt(np.sum(delta * delta, axis=-1))


def _ranks(u):
    """Rank of every entry within its row (0 = smallest)."""
    return np.argsort(np.argsort(u, axis=1), axis=1)


# --------------------------------------------------------------------------
# Square attack
def square_fraction(i, n_iter, p_init):
    """Fraction of features a Square step changes at iteration ``i`` of ``n_iter``.

    The piecewise-constant schedule of Andriushchenko et al. (2020), written for
    10,000 iterations and rescaled to ``n_iter``: ``p_init`` halved at 10, 50,
    200, 500, 1000, 2000, 4000, 6000 and 8000.
    """
    it = int(i / max(n_iter, 1) * 10000)
    marks = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
    return p_init / 2 ** sum(it > m for m in marks)


def square(loss_fn, x, *, key, eps, norm, max_queries, p_init, mutable, project,
           active=None):
    """Score-based Square attack (Andriushchenko et al. 2020), rows batched.

    Random search over the vertices of the budget ball: every iteration
    re-draws a random window of ``round(p * n_mutable)`` features (``p`` from
    :func:`square_fraction`) and keeps the candidate when the margin loss
    decreases. For tabular data a "square" is a random subset of features.
    L-inf: the window is set to a random vertex ``+-eps``. L2: the mass of the
    window and of a second, disjoint window (plus any unused budget) is moved
    into the first one along its current direction plus a random sign vector,
    and the second window is zeroed, so the perturbation stays on the sphere.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(points (m, d), rows (m,)) -> (loss (m,), success (m,) bool)``.
    x : ndarray of shape (n, d)
        Clean rows.
    key : array-like
        PRNG key (JAX key or uint32 pair), or per-row seeds (:func:`row_seeds`).
    eps : float or ndarray of shape (n,)
        Budget in ``norm``, in the units of ``x``; one per row runs several
        budgets in one loop (a row repeated once per budget, with its seed,
        gets what a run at that budget alone gives it).
    norm : {"inf", 2}
    max_queries : int
        Oracle queries per row, the clean point included.
    p_init : float
        Initial fraction of features per window, in (0, 1].
    mutable : ndarray of bool, shape (d,)
        Features the attack may change.
    project : callable
        ``project(points, clean, eps) -> valid points`` (constraints and
        budget; ``eps`` of shape ``(m,)``, each point's budget).
    active : ndarray of bool, shape (n,), default=None
        Rows to attack (others are neither queried nor changed).

    Returns
    -------
    x_adv : ndarray of shape (n, d)
        Best point per row (lowest loss; ``x`` where nothing beat it).
    success : ndarray of bool, shape (n,)
        By the oracle.
    n_queries : ndarray of int, shape (n,)

    References
    ----------
    .. [1] M. Andriushchenko, F. Croce, N. Flammarion, M. Hein. "Square Attack: a
       query-efficient black-box adversarial attack via random search",
       ECCV 2020.
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    keys = row_seeds(key, n)
    eps = np.broadcast_to(np.asarray(eps, dtype=np.float64), (n,))
    q = np.zeros(n, dtype=np.int64)
    success = np.zeros(n, dtype=bool)
    x_best = x.copy()
    loss = np.full(n, np.inf)
    run = np.ones(n, dtype=bool) if active is None else np.asarray(active, bool).copy()
    free = np.asarray(mutable, bool)
    m = int(free.sum())
    if max_queries < 1 or not run.any():
        return x_best, success, q

    def evaluate(points, rows):
        lo, ok = loss_fn(points, rows)
        q[rows] += 1
        better = ok | (lo < loss[rows])
        take = rows[better]
        x_best[take] = points[better]
        loss[take] = lo[better]
        success[rows] |= ok

    rows = np.flatnonzero(run)
    evaluate(x[rows], rows)
    if m == 0:
        return x_best, success, q

    def running():
        return np.flatnonzero(run & ~success & (q < max_queries))

    # Start at a random vertex (L-inf) or a random point of the sphere (L2).
    r = _sample(keys, 0, (d,))
    sign = np.where(r < 0.5, -1.0, 1.0) * free
    delta0 = eps[:, None] * sign if norm == "inf" else eps[:, None] * sign / np.sqrt(m)
    rows = running()
    if rows.size:
        evaluate(project(x[rows] + delta0[rows], x[rows], eps[rows]), rows)

    for i in range(1, max_queries):
        rows = running()
        if not rows.size:
            break
        p = square_fraction(i, max_queries, p_init)
        k = int(min(m, max(1, round(p * m))))
        r = _sample(keys[rows], i, (2, d))
        # Non-mutable features rank last, so windows only hold mutable ones.
        rank = _ranks(np.where(free, r[:, 0], 2.0))
        delta = x_best[rows] - x[rows]
        flip = np.where(r[:, 1] < 0.5, -1.0, 1.0)
        e = eps[rows][:, None]
        if norm == "inf":
            window = rank < k
            new = np.where(window, e * flip, delta)
            # Spend no query on a candidate equal to the current point.
            same = ~np.any(window & (new != delta), axis=1)
            new[same] = np.where(window[same], -e[same] * np.sign(delta[same] + 1e-300),
                                 new[same])
        else:
            k = max(1, min(k, m // 2)) if m >= 2 else 1
            w1 = rank < k
            w2 = (rank >= k) & (rank < 2 * k)
            n1 = np.sqrt(np.sum(np.where(w1, delta, 0.0) ** 2, axis=1))
            n2 = np.sqrt(np.sum(np.where(w2, delta, 0.0) ** 2, axis=1))
            spare = np.maximum(e[:, 0] ** 2 - np.sum(delta ** 2, axis=1), 0.0)
            mass = np.sqrt(n1 ** 2 + n2 ** 2 + spare)
            v = np.where(w1, delta / np.maximum(n1, 1e-12)[:, None] + flip / np.sqrt(k), 0.0)
            v = v / np.maximum(np.sqrt(np.sum(v * v, axis=1)), 1e-12)[:, None]
            new = np.where(w1, v * mass[:, None], np.where(w2, 0.0, delta))
        evaluate(project(x[rows] + new, x[rows], eps[rows]), rows)
    return x_best, success, q


# --------------------------------------------------------------------------
# HopSkipJump
def _interpolate(x, x_adv, alpha, norm):
    """Point between ``x`` (alpha=0) and ``x_adv``: the segment (L2) or the
    L-inf ball of radius ``alpha`` around ``x`` (HopSkipJump's projection)."""
    a = alpha[:, None]
    if norm == "inf":
        return np.clip(x_adv, x - a, x + a)
    return (1.0 - a) * x + a * x_adv


class _Queries:
    """Per-row query accounting around the oracle."""

    def __init__(self, is_adv, n, max_queries):
        self.is_adv = is_adv
        self.count = np.zeros(n, dtype=np.int64)
        self.max = max_queries

    def left(self, rows):
        return self.max - self.count[rows]

    def __call__(self, points, rows):
        dec = np.asarray(self.is_adv(points, rows), dtype=bool)
        np.add.at(self.count, rows, 1)
        return dec


def _bisect(oracle, x, x_adv, rows, norm, theta, project):
    """Binary search from adversarial ``x_adv[rows]`` towards ``x[rows]``.

    Returns the closest point queried adversarial per row (``x_adv[rows]``
    when the budget allows no query).
    """
    xr, ar = x[rows], x_adv[rows]
    best = ar.copy()
    lo = np.zeros(len(rows))
    if norm == "inf":
        hi = np.max(np.abs(ar - xr), axis=1)
        thr = np.minimum(hi * theta, theta)
    else:
        hi = np.ones(len(rows))
        thr = np.full(len(rows), theta)
    while True:
        g = np.flatnonzero((hi - lo > thr) & (oracle.left(rows) > 0))
        if not g.size:
            return best
        mid = 0.5 * (lo[g] + hi[g])
        pts = project(_interpolate(xr[g], ar[g], mid, norm), xr[g])
        dec = oracle(pts, rows[g])
        hi[g] = np.where(dec, mid, hi[g])
        lo[g] = np.where(dec, lo[g], mid)
        best[g[dec]] = pts[dec]


def _pick_start(oracle, x, candidates, valid, rows, norm, project):
    """Query candidate starts of ``rows``; return (row, point) of the nearest adversarial."""
    k = candidates.shape[1]
    valid = valid[rows] & (np.arange(k)[None, :] < oracle.left(rows)[:, None])
    ri, ki = np.nonzero(valid)
    if not ri.size:
        return rows[:0], x[:0]
    pts = project(candidates[rows[ri], ki], x[rows[ri]])
    dec = oracle(pts, rows[ri])
    dist = np.full(valid.shape, np.inf)
    dist[ri[dec], ki[dec]] = _norm(pts[dec] - x[rows[ri[dec]]], norm)
    flat = np.full(valid.shape + (x.shape[1],), np.nan)
    flat[ri, ki] = pts
    best = np.argmin(dist, axis=1)
    ok = np.isfinite(dist[np.arange(len(rows)), best])
    return rows[ok], flat[np.flatnonzero(ok), best[ok]]


def hop_skip_jump(is_adv, x, *, key, norm, max_queries, mutable, project, starts=(),
                  box=None, init_size=20, init_evals=20, max_evals=10000, gamma=1.0,
                  stop_dist=None, max_halvings=30, active=None):
    """Decision-based HopSkipJump attack (Chen et al. 2020), rows batched.

    From an adversarial starting point, repeat: estimate the gradient direction
    of the decision boundary by Monte-Carlo sign queries around the current
    boundary point (baseline-corrected, as in the authors' code), step along it
    with a geometrically shrinking step size until the step stays adversarial,
    then binary-search back to the boundary towards ``x``. The distance to
    ``x`` shrinks; the closest adversarial point found is returned.

    Parameters
    ----------
    is_adv : callable
        ``is_adv(points (m, d), rows (m,)) -> (m,) bool``: the model's decision.
    x : ndarray of shape (n, d)
        Clean rows.
    key : array-like
        PRNG key (JAX key or uint32 pair), or per-row seeds (:func:`row_seeds`).
    norm : {"inf", 2}
        Distance minimised (L2: segment search and normalised gradient;
        L-inf: projection search and sign of the gradient).
    max_queries : int
        Oracle queries per row, starting points included.
    mutable : ndarray of bool, shape (d,)
        Features the attack may change (random directions live on these).
    project : callable
        ``project(points, clean) -> valid points`` (the feature constraints).
    starts : sequence of (ndarray (n, K, d), ndarray of bool (n, K)), default=()
        Candidate starting points per row with a validity mask, tried in order
        for rows still without an adversarial start (one batched query each);
        the nearest adversarial candidate is kept.
    box : tuple of two ndarrays of shape (d,), default=None
        Finite range for ``init_size`` uniform random starts, tried last.
    init_size : int, default=20
        Random starts per row.
    init_evals, max_evals : int, default=20, 10000
        Monte-Carlo queries at iteration ``t``: ``min(init_evals * sqrt(t), max_evals)``.
    gamma : float, default=1.0
        Sets the binary-search tolerance ``theta = gamma / d^(3/2)`` (L2) or
        ``gamma / d^2`` (L-inf) and the probe radius ``d * theta * dist``
        (``sqrt(d) * theta * dist`` for L2), ``d`` the number of mutable features.
    stop_dist : float, default=None
        A row stops once its distance is at most this (a budget ``eps``).
    max_halvings : int, default=30
        Cap on step-size halvings per iteration.
    active : ndarray of bool, shape (n,), default=None
        Rows to attack.

    Returns
    -------
    x_adv : ndarray of shape (n, d)
        Closest adversarial point found (``x`` where none was found).
    success : ndarray of bool, shape (n,)
    n_queries : ndarray of int, shape (n,)

    References
    ----------
    .. [1] J. Chen, M. I. Jordan, M. J. Wainwright. "HopSkipJumpAttack: A
       Query-Efficient Decision-Based Attack", IEEE S&P 2020.
    """
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    keys = row_seeds(key, n)
    oracle = _Queries(is_adv, n, max_queries)
    free = np.asarray(mutable, bool)
    m = int(free.sum())
    run = np.ones(n, dtype=bool) if active is None else np.asarray(active, bool).copy()
    found = np.zeros(n, dtype=bool)
    x_adv = x.copy()
    if m == 0 or max_queries < 1:
        return x_adv, found, oracle.count

    starts = list(starts)
    if box is not None and init_size > 0:
        lo, hi = (np.asarray(b, dtype=np.float64) for b in box)
        u = _sample(keys, 0, (init_size, d))
        pts = np.where(free, lo + (hi - lo) * u, x[:, None, :])
        starts.append((pts, np.ones((n, init_size), dtype=bool)))
    for candidates, valid in starts:
        rows = np.flatnonzero(run & ~found & (oracle.left(np.arange(n)) > 0))
        if not rows.size:
            break
        got, pts = _pick_start(oracle, x, np.asarray(candidates, np.float64),
                               np.asarray(valid, bool), rows, norm, project)
        x_adv[got] = pts
        found[got] = True

    if norm == "inf":
        theta = gamma / m ** 2
    else:
        theta = gamma / m ** 1.5
    rows = np.flatnonzero(found)
    x_adv[rows] = _bisect(oracle, x, x_adv, rows, norm, theta, project)
    dist = np.where(found, _norm(x_adv - x, norm), np.inf)
    best, best_dist = x_adv.copy(), dist.copy()

    t = 0
    while True:
        t += 1
        # A row needs one probe and one step query to make progress.
        go = found & (oracle.left(np.arange(n)) >= 2)
        if stop_dist is not None:
            go &= best_dist > stop_dist
        rows = np.flatnonzero(go)
        if not rows.size:
            break
        # Monte-Carlo estimate of the boundary's normal at x_adv.
        n_eval = int(min(init_evals * np.sqrt(t), max_evals))
        n_row = np.minimum(n_eval, oracle.left(rows) - 1)
        scale = m * theta * dist[rows] if norm == "inf" else np.sqrt(m) * theta * dist[rows]
        scale = np.maximum(scale, 1e-12)
        kind = "uniform" if norm == "inf" else "normal"
        u = _sample(keys[rows], t, (n_eval, d), kind)
        if norm == "inf":
            u = 2.0 * u - 1.0
        u = u * free
        u /= np.maximum(np.sqrt(np.sum(u * u, axis=2, keepdims=True)), 1e-12)
        valid = np.arange(n_eval)[None, :] < n_row[:, None]
        ri, ki = np.nonzero(valid)
        probes = project(x_adv[rows[ri]] + scale[ri, None] * u[ri, ki], x[rows[ri]])
        dec = oracle(probes, rows[ri])
        # Directions actually probed after projection (as the authors do after clipping).
        eff = np.zeros_like(u)
        eff[ri, ki] = (probes - x_adv[rows[ri]]) / scale[ri, None]
        f = np.zeros(valid.shape)
        f[ri, ki] = np.where(dec, 1.0, -1.0)
        mean_f = f.sum(axis=1) / n_row
        centred = np.where(valid, f - mean_f[:, None], 0.0)
        all_same = np.abs(mean_f) == 1.0
        weight = np.where(all_same[:, None], np.where(valid, mean_f[:, None], 0.0), centred)
        grad = np.einsum("rk,rkd->rd", weight, eff) / n_row[:, None]
        if norm == "inf":
            update = np.sign(grad)
        else:
            update = grad / np.maximum(np.sqrt(np.sum(grad * grad, axis=1)), 1e-12)[:, None]

        # Geometric step-size search: the largest dist / sqrt(t) / 2^j staying adversarial.
        step = dist[rows] / np.sqrt(t)
        moved = np.zeros(len(rows), dtype=bool)
        for _ in range(max_halvings):
            g = np.flatnonzero(~moved & (oracle.left(rows) > 0))
            if not g.size:
                break
            cand = project(x_adv[rows[g]] + step[g, None] * update[g], x[rows[g]])
            dec = oracle(cand, rows[g])
            x_adv[rows[g[dec]]] = cand[dec]
            moved[g[dec]] = True
            step[g[~dec]] /= 2.0
        moved_rows = rows[moved]
        x_adv[moved_rows] = _bisect(oracle, x, x_adv, moved_rows, norm, theta, project)
        dist[moved_rows] = _norm(x_adv[moved_rows] - x[moved_rows], norm)
        # A row whose step search failed keeps its point and tries fresh probes
        # next round; every round costs each row at least one query.
        closer = dist < best_dist
        best[closer], best_dist[closer] = x_adv[closer], dist[closer]
    success = np.isfinite(best_dist)
    return np.where(success[:, None], best, x), success, oracle.count
