"""Pure core of the greedy tree attack: a batched local search over the cells of
an :class:`~skadv._core.trees.Ensemble`'s split keys, from adversarial starting
cells towards the clean row.

No scikit-learn here; :class:`skadv.attacks.GreedyTreeAttack` validates and calls
:func:`greedy_walk`.
"""

import numpy as np

from .trees import _distance, cells_of, realize

__all__ = ["greedy_walk"]


# --------------------------------------------------------------------------
# greedy attack: walk over cells
def _objective(cost, norm):
    """Lexicographic objective of cost vectors (..., d): smaller is better.

    L-inf: (largest cost, how many features attain it, total); L2/L1: (norm,).
    """
    if norm == "inf":
        top = cost.max(axis=-1)
        ties = (cost >= top[..., None] * (1 - 1e-12)).sum(axis=-1)
        return np.stack([top, ties.astype(float), cost.sum(axis=-1)], axis=-1)
    return _distance(cost, norm)[..., None]


def _less(a, b):
    """Row-wise lexicographic ``a < b`` for objectives of shape (..., k)."""
    out = np.zeros(a.shape[:-1], dtype=bool)
    equal = np.ones(a.shape[:-1], dtype=bool)
    for i in range(a.shape[-1]):
        tol = 1e-12 * np.maximum(np.abs(a[..., i]), np.abs(b[..., i]))
        out |= equal & (a[..., i] < b[..., i] - tol)
        equal &= np.abs(a[..., i] - b[..., i]) <= tol
    return out


def _shrink(cells, point, x0, own, scale, keys, integer, cmin, cmax, alpha, norm, precision):
    """Cells of the point pulled towards ``x0``: into the L-inf ball of ``alpha``
    times its radius (L-inf), or along the segment (L2/L1)."""
    delta = (point - x0) / scale
    if norm == "inf":
        r = np.abs(delta).max(axis=-1, keepdims=True) * alpha
        v = x0 + np.clip(delta, -r, r) * scale
    else:
        v = x0 + alpha * delta * scale
    c = cells_of(v, keys, integer, precision)
    # Never past the clean cell, never outside the reachable range.
    c = np.where((cells - own) * (c - own) < 0, own, c)
    return np.clip(c, cmin, cmax)


def greedy_walk(is_adv, x0, starts, valid, *, keys, integer, scale, norm, cmin, cmax,
                own, restarts=3, max_iter=200, precision=32):
    """Greedy local search over cells, from adversarial starting cells, rows batched.

    Each state is an adversarial cell; its moves bring it closer to ``x0``, in
    tiers tried in order: one feature halfway or all the way back to its clean
    cell, or the whole point shrunk towards ``x0``; else one feature one cell
    closer; else a binding feature one cell closer while another feature moves
    one cell either way within the current radius -- a step across a leaf
    boundary to a neighbouring leaf tuple (in the spirit of Zhang et al.'s
    LT-Attack). The best adversarial move of the first tier that has one is
    taken; the walk stops at a local optimum. Each tier is one oracle call for
    all states that reach it.

    Parameters
    ----------
    is_adv : callable
        ``is_adv(points (m, d), rows (m,)) -> (m,) bool``.
    x0 : ndarray of shape (n, d)
    starts : ndarray of int, shape (n, S, d)
        Candidate starting cells.
    valid : ndarray of bool, shape (n, S)
    keys, integer, scale, norm
        As in :func:`split_keys` / :func:`realize`; ``scale`` the per-feature
        unit of distance.
    cmin, cmax, own : ndarray of int, shape (n, d)
        Reachable cell range and clean cell of every row.
    restarts : int, default=3
        Adversarial starts walked per row (the nearest ones).
    max_iter : int, default=200
    precision : {32, 64}, default=32
        The ensemble's :attr:`Ensemble.precision`.

    Returns
    -------
    x_adv : ndarray of shape (n, d)
        Nearest adversarial point found (``x0`` where none).
    success : ndarray of bool, shape (n,)

    References
    ----------
    .. [1] C. Zhang, H. Zhang, C.-J. Hsieh. "An Efficient Adversarial Attack for
       Tree Ensembles", NeurIPS 2020.
    """
    n, d = x0.shape
    S = starts.shape[1]
    starts = np.clip(starts, cmin[:, None], cmax[:, None])
    ri, si = np.nonzero(valid)
    pts = realize(starts[ri, si], own[ri], x0[ri], keys, integer, precision)
    ok = np.asarray(is_adv(pts, ri), bool) if len(ri) else np.zeros(0, bool)
    dist = np.full((n, S), np.inf)
    dist[ri[ok], si[ok]] = _distance((pts[ok] - x0[ri[ok]]) / scale, norm)
    order = np.argsort(dist, axis=1, kind="stable")[:, :restarts]
    keep = np.isfinite(np.take_along_axis(dist, order, axis=1))
    row, slot = np.nonzero(keep)
    row = row.astype(np.intp)
    state = starts[row, order[row, slot]]                # (m, d) cells
    point = realize(state, own[row], x0[row], keys, integer, precision)

    def objective(cells, pts, rows):
        return _objective(np.abs(pts - x0[rows]) / scale, norm)

    obj = objective(state, point, row)
    live = np.ones(len(row), dtype=bool)
    tiers = (_big_moves, _pull_moves, _pair_moves)
    for _ in range(max_iter):
        todo = np.flatnonzero(live)
        if not todo.size:
            break
        # Cheapest promising moves first; a state tries the next tier only
        # when no move of the previous one stays adversarial and improves.
        for moves in tiers:
            cand, cand_valid = moves(state[todo], point[todo], todo, row, x0, own, scale,
                                     keys, integer, cmin, cmax, norm, precision)
            improved = _take_best(is_adv, cand, cand_valid, todo, row, state, point, obj,
                                  x0, own, keys, integer, objective, precision)
            todo = todo[~improved]
            if not todo.size:
                break
        live[todo] = False
    x_adv = x0.copy()
    success = np.zeros(n, dtype=bool)
    if len(row):
        final = _distance((point - x0[row]) / scale, norm)
        best = np.full(n, np.inf)
        np.minimum.at(best, row, final)
        pick = final <= best[row]
        x_adv[row[pick]] = point[pick]
        success[row] = True
    return x_adv, success


def _big_moves(cells, point, act, row, x0, own, scale, keys, integer, cmin, cmax, norm,
               precision):
    """One feature halfway or all the way back; the whole point shrunk towards x0."""
    m, d = cells.shape
    r = row[act]
    o = own[r]
    eye = np.eye(d, dtype=bool)[None]
    jump = np.where(eye, o[:, None, :], cells[:, None, :])
    half_c = cells_of(0.5 * (point + x0[r]), keys, integer, precision)
    half = np.where(eye, half_c[:, None, :], cells[:, None, :])
    shrinks = [_shrink(cells, point, x0[r], o, scale, keys, integer, cmin[r], cmax[r], a, norm,
                       precision) for a in (0.5, 0.8, 0.95)]
    cand = np.concatenate([jump, half, np.stack(shrinks, axis=1)], axis=1)
    return cand, np.any(cand != cells[:, None, :], axis=2)


def _pull_moves(cells, point, act, row, x0, own, scale, keys, integer, cmin, cmax, norm,
                precision):
    """One feature one cell closer to its clean cell."""
    d = cells.shape[1]
    toward = np.sign(own[row[act]] - cells)
    cand = cells[:, None, :] + np.eye(d, dtype=np.intp)[None] * toward[:, None, :]
    return cand, toward != 0


def _pair_moves(cells, point, act, row, x0, own, scale, keys, integer, cmin, cmax, norm,
                precision):
    """A binding feature one cell closer, another one cell either way."""
    m, d = cells.shape
    r = row[act]
    o = own[r]
    cost = np.abs(point - x0[r]) / scale
    top = np.argmax(cost, axis=1)
    toward = np.sign(o[np.arange(m), top] - cells[np.arange(m), top])
    base = cells.copy()
    base[np.arange(m), top] += toward
    eye = np.eye(d, dtype=np.intp)
    cand = np.concatenate([base[:, None, :] + eye[None], base[:, None, :] - eye[None]], axis=1)
    valid = np.ones(cand.shape[:2], dtype=bool)
    valid &= (toward != 0)[:, None]
    other = np.ones((m, d), dtype=bool)
    other[np.arange(m), top] = False
    valid &= np.concatenate([other, other], axis=1)
    valid &= np.all((cand >= cmin[r][:, None]) & (cand <= cmax[r][:, None]), axis=2)
    return cand, valid


def _take_best(is_adv, cand, valid, act, row, state, point, obj, x0, own, keys, integer,
               objective, precision):
    """Query all valid candidates; move each state to its best adversarial improvement."""
    m, C, d = cand.shape
    ai, ci = np.nonzero(valid)
    improved = np.zeros(m, dtype=bool)
    if not ai.size:
        return improved
    rows = row[act[ai]]
    pts = realize(cand[ai, ci], own[rows], x0[rows], keys, integer, precision)
    cobj = objective(cand[ai, ci], pts, rows)
    better = _less(cobj, obj[act[ai]])
    ai, ci, pts, cobj, rows = ai[better], ci[better], pts[better], cobj[better], rows[better]
    if not ai.size:
        return improved
    adv = np.asarray(is_adv(pts, rows), bool)
    ai, ci, pts, cobj = ai[adv], ci[adv], pts[adv], cobj[adv]
    if not ai.size:
        return improved
    # best per state: sort by (state, objective...) and take the first of each state
    keys_sort = [cobj[:, k] for k in range(cobj.shape[1] - 1, -1, -1)] + [ai]
    order = np.lexsort(keys_sort)
    first = np.r_[True, ai[order][1:] != ai[order][:-1]]
    pick = order[first]
    s = act[ai[pick]]
    state[s] = cand[ai[pick], ci[pick]]
    point[s] = pts[pick]
    obj[s] = cobj[pick]
    improved[ai[pick]] = True
    return improved
