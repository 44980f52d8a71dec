"""Pure core of the greedy tree attack: a batched local search over the cells of
an :class:`~skadv._core.trees.Ensemble`'s split keys, from adversarial starting
cells towards the clean row -- a search of balls of shrinking radius by margin
ascent on a :class:`~skadv._core.tree_cells.CellForest`, and a walk.

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
                own, restarts=3, max_iter=200, precision=32, forest=None, y=None,
                targeted=False, eps=None, refine_steps=20):
    """Nearest adversarial cells by local search, from adversarial starting cells,
    rows batched.

    Three searches. The *ball search* (with ``forest``) takes each row's
    nearest adversarial state and bisects a radius below its distance -- in
    L-inf over the distances of the cells themselves, one of which is the
    exact radius; in L2/L1 on the line. Each probe is a steepest ascent of the
    adversarial margin over one-feature moves inside the ball, from the state
    pulled into it and from the clean cells; in L2/L1 a knapsack-greedy path
    from the clean cells (best margin gain per unit of added distance) is
    tried as well. The *exchanges* (L2/L1, with ``forest``) move an
    adversarial state one feature back towards the clean cell while it stays
    adversarial, or trade one feature's distance for a cheaper move of
    another, scored on the trees. The *walk* moves a state closer to ``x0``
    while it stays adversarial, in tiers tried in order: one feature halfway or all the way
    back to its clean cell, or the whole point shrunk towards ``x0``; else one
    feature one cell closer; else a binding feature one cell closer while
    another moves one cell either way within the current radius -- a step
    across a leaf boundary to a neighbouring leaf tuple (in the spirit of
    Zhang et al.'s LT-Attack). The best adversarial move of the first tier
    that has one is taken; it stops at a local optimum; each tier is one
    oracle call for all states that reach it. L-inf runs the ball search
    alone; L2/L1 exchange from the nearest starts (two in L2, all in L1),
    search the ball from each row's best state, and exchange again; without
    ``forest`` only the walk runs.

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
        Steps of each walk.
    precision : {32, 64}, default=32
        The ensemble's :attr:`Ensemble.precision`.
    forest : CellForest, default=None
        The ensemble over these ``keys``: runs the ball search.
    y : ndarray of int, shape (n,), default=None
        Class index of each row (the class to leave, or with ``targeted`` to
        reach); needed with ``forest``.
    targeted : bool, default=False
    eps : float, default=None
        A row within ``eps`` is done; a row beyond is probed at ``eps`` only.
    refine_steps : int, default=20
        Steps of each margin ascent.

    Returns
    -------
    x_adv : ndarray of shape (n, d)
        Nearest adversarial point found (``x0`` where none).
    success : ndarray of bool, shape (n,)
    evals : ndarray of int, shape (n,)
        Cell vectors of each row the ball search scored.

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
    walk = (is_adv, x0, own, scale, keys, integer, cmin, cmax, norm, precision, objective,
            max_iter)
    evals = np.zeros(n, np.int64)
    if forest is None:
        _walk(state, point, obj, row, *walk)
    elif norm != "inf" and len(row):
        # L2/L1: each row's nearest starts first descend by exchanges on the trees.
        first = np.flatnonzero(slot < _EXCHANGE_STARTS.get(norm, restarts))
        size = _chunk(keys)
        for lo in range(0, len(first), size):
            fi = first[lo:lo + size]
            rs = row[fi]
            cost = _cell_costs(rs, x0, own, cmin, cmax, scale, keys, integer, precision)
            state[fi], e = _exchange(forest, state[fi], own[rs], cost, y[rs], targeted, norm,
                                     max_iter)
            np.add.at(evals, rs, e)
        point = realize(state, own[row], x0[row], keys, integer, precision)
        obj = objective(state, point, row)
    if forest is not None and len(row):
        # Each row's best state searches balls of shrinking radius.
        final = _distance((point - x0[row]) / scale, norm)
        best = np.full(n, np.inf)
        np.minimum.at(best, row, final)
        pick = np.flatnonzero(final <= best[row])
        pick = pick[np.r_[True, row[pick][1:] != row[pick][:-1]]]
        st, pt, rw = state[pick], point[pick], row[pick]
        size = _chunk(keys)
        for lo in range(0, len(pick), size):
            sl = slice(lo, lo + size)
            st[sl], pt[sl], e = _refine(forest, st[sl], rw[sl], y, targeted, x0, own, cmin,
                                        cmax, scale, keys, integer, precision, norm, eps,
                                        refine_steps)
            np.add.at(evals, rw[sl], e)
        ob = objective(st, pt, rw)
        better = _less(ob, obj[pick])
        state[pick[better]], point[pick[better]] = st[better], pt[better]
    x_adv = x0.copy()
    success = np.zeros(n, dtype=bool)
    if len(row):
        final = _distance((point - x0[row]) / scale, norm)
        best = np.full(n, np.inf)
        np.minimum.at(best, row, final)
        pick = final <= best[row]
        x_adv[row[pick]] = point[pick]
        success[row] = True
    return x_adv, success, evals


def _walk(state, point, obj, row, is_adv, x0, own, scale, keys, integer, cmin, cmax, norm,
          precision, objective, max_iter):
    """Walk the states (in place) until no move of any tier improves them."""
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
    # best per state: the first of each state by (objective...)
    pick = _first(ai, *cobj.T)
    s = act[ai[pick]]
    state[s] = cand[ai[pick], ci[pick]]
    point[s] = pts[pick]
    obj[s] = cobj[pick]
    improved[ai[pick]] = True
    return improved


# --------------------------------------------------------------------------
# refinement: margin ascent inside balls of shrinking radius
def _chunk(keys):
    """States refined together: bounds the (states, features, cells) cost table."""
    return max(1, int(2_000_000 // (keys.shape[0] * (keys.shape[1] + 1))))


def _cell_costs(rows, x0, own, cmin, cmax, scale, keys, integer, precision):
    """Cost ``(m, d, n_cells)`` of moving each feature alone into each cell.

    The per-feature distance (in units of ``scale``) of the cell's point
    nearest ``x0`` -- the coordinate :func:`realize` gives -- and ``inf`` for
    cells out of the row's reach.
    """
    d, K = keys.shape
    c = np.arange(K + 1)
    x = x0[rows][:, None, :]
    grid = np.broadcast_to(c[None, :, None], (1, K + 1, d))
    with np.errstate(invalid="ignore"):
        val = realize(grid, own[rows][:, None, :], x, keys, integer, precision)
        cost = np.abs(val - x) / np.asarray(scale, np.float64).reshape(d)
    cost = np.ascontiguousarray(cost.transpose(0, 2, 1))
    reach = (c >= cmin[rows][:, :, None]) & (c <= cmax[rows][:, :, None])
    return np.where(reach & np.isfinite(cost), cost, np.inf)


def _power(cost, norm):
    return cost * cost if norm == 2 else cost


def _clip_into(cells, own, cost, budget):
    """Each feature's cell pulled towards ``own`` until its cost is within ``budget``
    (per feature, shape (m, d)): the farthest such cell on the side it was."""
    allowed = cost <= budget[:, :, None] * (1 + 1e-12)
    c = np.arange(cost.shape[2])
    o = own[:, :, None]
    right = np.sum(allowed & (c > o), axis=2)
    left = np.sum(allowed & (c < o), axis=2)
    # Costs grow away from the clean cell on both sides: the allowed cells
    # of a side are contiguous from it.
    return np.where(cells > own, np.minimum(cells, own + right),
                    np.where(cells < own, np.maximum(cells, own - left), own))


_LP_PROBES = 4  # radii bisected in L2/L1 (the exchanges do the fine work)
# Starts per row that exchange before the ball search (the nearest ones). In
# L2 two of three: the exact L2 MILP is fast on small boosters (36-120 ms a
# row), and the third start's exchanges cost about a quarter of greedy's time
# for 1.000-1.036x -> 1.000-1.063x of the exact radius (bench_trees.py). In L1
# all of them: there two starts gave 1.096x on breast_cancer's random forest.
_EXCHANGE_STARTS = {2: 2}
_SPREAD = 6  # evenly spaced cells tried per feature and step, beyond the ends and neighbours


def _moves(allowed, cells):
    """One-feature moves ``(state, feature, cell)`` into the allowed cells.

    The allowed cells of a feature are an interval (costs grow away from the
    clean cell). A short interval is tried whole; a long one (a large forest)
    by its two ends, the cells one and two either side of the current one and
    ``_SPREAD`` evenly spaced cells, so a step costs O(features), not O(keys).
    """
    m, d, C = allowed.shape
    lo = np.argmax(allowed, axis=2)
    hi = C - 1 - np.argmax(allowed[:, :, ::-1], axis=2)
    empty = ~allowed.any(axis=2)
    width = hi - lo + 1
    n = 6 + _SPREAD
    whole = lo[:, :, None] + np.arange(n)
    frac = np.arange(1, _SPREAD + 1) / (_SPREAD + 1)
    sparse = np.concatenate([
        lo[:, :, None], hi[:, :, None], cells[:, :, None] + np.array([-2, -1, 1, 2]),
        lo[:, :, None] + np.rint(frac * (width[:, :, None] - 1)).astype(np.intp)], axis=2)
    cand = np.where((width <= n)[:, :, None], whole, sparse)
    ok = (cand >= lo[:, :, None]) & (cand <= hi[:, :, None]) & ~empty[:, :, None]
    ok &= cand != cells[:, :, None]
    # Each cell once.
    cand = np.sort(np.where(ok, cand, -1), axis=2)
    ok = (cand >= 0) & np.concatenate([np.ones((m, d, 1), bool),
                                       cand[:, :, 1:] != cand[:, :, :-1]], axis=2)
    ai, aj, k = np.nonzero(ok)
    return ai, aj, cand[ai, aj, k]


def _ascend(forest, cells, own, cost, r, y, targeted, norm, steps):
    """Steepest margin ascent over one-feature moves inside the ball of radius ``r``.

    Returns which states reached an adversarial cell and the cells (the
    nearest adversarial move found, else where the ascent stopped).
    """
    m, d, C = cost.shape
    cur = np.take_along_axis(cost, cells[:, :, None], 2)[:, :, 0]
    if norm == "inf":
        budget = np.broadcast_to(r[:, None], (m, d))
    else:
        total = _power(cur, norm).sum(axis=1)
        alpha = np.where(total > 0, r / np.maximum(_distance(cur, norm), 1e-300), 0.0)
        budget = alpha[:, None] * cur
    cells = _clip_into(cells, own, cost, budget)
    leaves = forest.leaves(cells)
    scores = forest.leaf_scores(leaves)
    margin, done = forest.verdict(scores, y, targeted)
    live = ~done
    evals = np.ones(m, np.int64)
    rp = _power(r, norm) if norm != "inf" else r
    for _ in range(steps):
        act = np.flatnonzero(live)
        if not act.size:
            break
        cc = cost[act]
        cur = np.take_along_axis(cc, cells[act][:, :, None], 2)[:, :, 0]
        if norm == "inf":
            allowed = cc <= rp[act][:, None, None] * (1 + 1e-12)
        else:
            pw = _power(cur, norm)
            slack = rp[act][:, None] - (pw.sum(axis=1)[:, None] - pw)
            allowed = _power(cc, norm) <= slack[:, :, None] * (1 + 1e-12)
        ai, aj, ac = _moves(allowed, cells[act])
        if not ai.size:
            live[act] = False
            break
        cand, sc = forest.moved(cells, leaves, scores, act[ai], aj, ac)
        mg, adv = forest.verdict(sc, y[act][ai], targeted)
        evals += np.bincount(act[ai], minlength=m)
        cc_new = cur[ai].copy()
        cc_new[np.arange(len(ai)), aj] = cc[ai, aj, ac]
        dist = _distance(cc_new, norm)
        # Best move per state: an adversarial one, the nearest; else the largest margin.
        now = margin[act[ai]]
        _move(forest, (cells, leaves, scores, margin, done, live), y, targeted, act, ai, cand,
              adv, np.where(adv, dist, -mg), mg > now + 1e-12 * np.maximum(1, np.abs(now)))
    return done, cells, evals


def _move(forest, states, y, targeted, act, ai, cand, adv, rank, improves):
    """Move each state of ``act`` to its best candidate: an adversarial one
    first, then the lowest ``rank``; a state whose best neither is adversarial
    nor ``improves`` stops (``live`` False), as does one that became adversarial.

    ``states`` = (cells, leaves, scores, margin, done, live), updated in place;
    candidate ``i`` (cells ``cand[i]``) belongs to state ``act[ai[i]]``.
    """
    cells, leaves, scores, margin, done, live = states
    first = _first(ai, ~adv, rank)
    s = act[ai[first]]
    take = adv[first] | improves[first]
    live[np.setdiff1d(act, s[take])] = False
    s, first = s[take], first[take]
    cells[s] = cand[first]
    # The moved states afresh, so no rounding accumulates over the steps.
    leaves[s] = forest.leaves(cells[s])
    scores[s] = forest.leaf_scores(leaves[s])
    margin[s], done[s] = forest.verdict(scores[s], y[s], targeted)
    live[s[done[s]]] = False


def _refine(forest, state, rows, y, targeted, x0, own, cmin, cmax, scale, keys,
            integer, precision, norm, eps, steps):
    """Search each state's ball for a nearer adversarial cell.

    The radius is bisected below the state's distance -- over the distances of
    the cells themselves in L-inf (the exact radius is one of them), on the
    line in L2/L1 (a few probes, then the knapsack path and the exchanges) --
    and each probe is a margin ascent from the state pulled into the ball
    and from the clean cells. With ``eps`` a state beyond it is probed at
    ``eps`` only.
    Returns improved ``(state, point)``; every cell returned is adversarial.
    """
    m = len(state)
    if not m:
        return state, np.empty(state.shape), np.zeros(0, np.int64)
    yy = np.asarray(y)[rows]
    o = own[rows]
    cost = _cell_costs(rows, x0, own, cmin, cmax, scale, keys, integer, precision)
    cur = np.take_along_axis(cost, state[:, :, None], 2)[:, :, 0]
    best = _distance(cur, norm)
    state = state.copy()
    evals = np.zeros(m, np.int64)

    def probe(act, r):
        # Two ascents per state: from the state pulled into the ball, and from
        # the clean cells (a region near x0 the state's side cannot reach).
        both = np.r_[act, act]
        found, cells, e = _ascend(forest, np.r_[state[act], o[act]], o[both], cost[both],
                                  np.r_[r, r], yy[both], targeted, norm, steps)
        k = act.size
        evals[act] += e[:k] + e[k:]
        got = np.take_along_axis(cost[both], cells[:, :, None], 2)[:, :, 0]
        dist = np.where(found, _distance(got, norm), np.inf)
        second = dist[k:] < dist[:k]
        found = found[:k] | found[k:]
        cells = np.where(second[:, None], cells[k:], cells[:k])
        dist = np.minimum(dist[:k], dist[k:])
        win = found & (dist < best[act])
        state[act[win]] = cells[win]
        best[act[win]] = dist[win]
        return found

    if eps is not None:
        act = np.flatnonzero(best > eps)
        if act.size:
            probe(act, np.full(act.size, float(eps)))
    elif norm == "inf":
        radii = np.sort(cost.reshape(m, -1), axis=1)
        lo = np.sum(radii <= 0, axis=1)
        hi = np.sum(radii < best[:, None] * (1 - 1e-12), axis=1)
        while True:
            act = np.flatnonzero(lo < hi)
            if not act.size:
                break
            mid = (lo[act] + hi[act]) // 2
            found = probe(act, radii[act, mid])
            lo[act[~found]] = mid[~found] + 1
            a = act[found]
            hi[a] = np.minimum(mid[found], np.sum(radii[a] < best[a, None] * (1 - 1e-12),
                                                  axis=1))
    else:
        lo = np.zeros(m)
        for _ in range(_LP_PROBES):
            act = np.flatnonzero(best - lo > 1e-3 * best)
            if not act.size:
                break
            r = 0.5 * (lo[act] + best[act])
            found = probe(act, r)
            lo[act[~found]] = r[~found]
    if norm != "inf" and eps is None:
        found, cells, e = _ratio_path(forest, o, cost, yy, targeted, norm, steps * 2)
        evals += e
        got = np.take_along_axis(cost, cells[:, :, None], 2)[:, :, 0]
        dist = _distance(got, norm)
        win = found & (dist < best)
        state[win] = cells[win]
        best[win] = dist[win]
        state, e = _exchange(forest, state, o, cost, yy, targeted, norm, steps)
        evals += e
    point = realize(state, o, x0[rows], keys, integer, precision)
    return state, point, evals


def _ratio_path(forest, own, cost, y, targeted, norm, steps):
    """From the clean cells, the one-feature move of best margin gain per unit of
    added ``cost ** p`` (L2: squared costs, L1: costs), until adversarial: the
    knapsack greedy, which favours the few features an Lp-nearest example moves.
    """
    m, d, C = cost.shape
    cells = own.copy()
    leaves = forest.leaves(cells)
    scores = forest.leaf_scores(leaves)
    margin, done = forest.verdict(scores, y, targeted)
    live = ~done
    evals = np.ones(m, np.int64)
    pc = _power(cost, norm)
    for _ in range(steps):
        act = np.flatnonzero(live)
        if not act.size:
            break
        cc = pc[act]
        cur = np.take_along_axis(cc, cells[act][:, :, None], 2)[:, :, 0]
        added = cc - cur[:, :, None]
        ai, aj, ac = _moves(np.isfinite(cc), cells[act])
        out = added[ai, aj, ac] > 0
        ai, aj, ac = ai[out], aj[out], ac[out]
        if not ai.size:
            live[act] = False
            break
        cand, sc = forest.moved(cells, leaves, scores, act[ai], aj, ac)
        mg, adv = forest.verdict(sc, y[act][ai], targeted)
        evals += np.bincount(act[ai], minlength=m)
        gain = (mg - margin[act[ai]]) / added[ai, aj, ac]
        # An adversarial move wins outright (the cheapest one); else the best ratio.
        _move(forest, (cells, leaves, scores, margin, done, live), y, targeted, act, ai, cand,
              adv, np.where(adv, added[ai, aj, ac], -gain), gain > 0)
    return done, cells, evals


def _exchange(forest, cells, own, cost, y, targeted, norm, rounds, width=6):
    """Local search over adversarial cells in L2/L1, in place; returns ``(cells, evals)``.

    Each round tries every one-feature move back towards the clean cell: the
    cheapest that stays adversarial is taken; else the ``width`` back moves of
    best saving per unit of margin lost are each followed by every one-feature
    move, and the cheapest pair that is adversarial and nearer than the state
    is taken (an exchange of one feature's distance for another's). A state
    stops when neither finds anything.
    """
    m, d, C = cost.shape
    piece = max(1, 2_000_000 // (d * C * width))  # bounds the (pairs, features, cells) tables
    if m > piece:
        evals = [_exchange(forest, cells[i:i + piece], own[i:i + piece], cost[i:i + piece],
                           y[i:i + piece], targeted, norm, rounds, width)[1]
                 for i in range(0, m, piece)]
        return cells, np.concatenate(evals)
    pc = _power(cost, norm)
    leaves = forest.leaves(cells)
    scores = forest.leaf_scores(leaves)
    margin, live = forest.verdict(scores, y, targeted)
    evals = np.ones(m, np.int64)
    grid = np.arange(C)
    for _ in range(rounds):
        act = np.flatnonzero(live)
        if not act.size:
            break
        cc = pc[act]
        cur = np.take_along_axis(cc, cells[act][:, :, None], 2)[:, :, 0]
        total = cur.sum(axis=1)
        o, c = own[act][:, :, None], cells[act][:, :, None]
        back = (grid >= np.minimum(o, c)) & (grid <= np.maximum(o, c)) & np.isfinite(cc)
        ai, aj, ac = _moves(back, cells[act])
        if not ai.size:
            live[act] = False
            break
        cand, sc = forest.moved(cells, leaves, scores, act[ai], aj, ac)
        mg, adv = forest.verdict(sc, y[act][ai], targeted)
        evals += np.bincount(act[ai], minlength=m)
        new = total[ai] - cur[ai, aj] + cc[ai, aj, ac]
        fine = _first(ai, ~adv, new)
        fine = fine[adv[fine]]
        s = act[ai[fine]]
        cells[s] = cand[fine]
        # The rest: the best back moves, each repaired by one more move.
        rest = np.setdiff1d(np.arange(len(act)), ai[fine])
        keep = np.isin(ai, rest) & ~adv
        bi, bcand, bnew = ai[keep], cand[keep], new[keep]
        rate = (total[bi] - bnew) / np.maximum(margin[act[bi]] - mg[keep], 1e-12)
        order = np.lexsort((-rate, bi))
        bi, bcand, bnew = bi[order], bcand[order], bnew[order]
        rank = np.arange(len(bi)) - np.searchsorted(bi, bi)
        top = rank < width
        bi, mid = bi[top], bcand[top]
        moved = np.zeros(len(act), bool)
        moved[ai[fine]] = True
        if bi.size:
            ml = forest.leaves(mid)
            ms = forest.leaf_scores(ml)
            mcur = np.take_along_axis(cc[bi], mid[:, :, None], 2)[:, :, 0]
            slack = total[bi][:, None] * (1 - 1e-9) - (mcur.sum(axis=1)[:, None] - mcur)
            fwd = cc[bi] < slack[:, :, None]
            fi, fj, fc = _moves(fwd, mid)
            if fi.size:
                fcand, fsc = forest.moved(mid, ml, ms, fi, fj, fc)
                fmg, fadv = forest.verdict(fsc, y[act][bi][fi], targeted)
                evals += np.bincount(act[bi[fi]], minlength=m)
                fnew = slack[fi, fj] - cc[bi[fi], fj, fc]   # saving against the state
                owner = bi[fi]
                pick = _first(owner, ~fadv, -fnew)
                pick = pick[fadv[pick]]
                cells[act[owner[pick]]] = fcand[pick]
                moved[owner[pick]] = True
        live[act[~moved]] = False
        s = act[moved]
        leaves[s] = forest.leaves(cells[s])
        scores[s] = forest.leaf_scores(leaves[s])
        margin[s], _ = forest.verdict(scores[s], y[s], targeted)
    return cells, evals


def _first(group, *keys):
    """Index of each group's first element by ``keys`` (lexicographic, the first key first)."""
    order = np.lexsort(tuple(reversed(keys)) + (group,))
    return order[np.r_[True, group[order][1:] != group[order][:-1]]]
