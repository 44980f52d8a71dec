"""Sound lower bounds of the robustness radius of tree ensembles, in polynomial time.

No scikit-learn here: :mod:`skadv.verify.trees` turns a model into an
:class:`~skadv._core.trees.Ensemble` and calls :class:`CliqueBound`.

Geometry. The keys of :func:`~skadv._core.trees.split_keys` cut every axis
into cells, and a leaf of a tree is a product of cell intervals ``[lo, hi]``
(exactly: a node sends a row left iff its cell is at most the node's key).
The model sees ``v(x)``, ``x`` rounded to its precision (float32, or float64
itself); cell ``c`` holds the rows with ``key[c-1] < v(x) <= key[c]``. The
rounding is monotone and fixes the keys, so every real ``x`` of cell ``c``
satisfies ``key[c-1] < x < above(key[c])``, ``above`` the next value of the
precision. So ``key[c-1] - x0`` and ``x0 - above(key[c])`` are *lower* bounds
of the distance from ``x0`` to cell ``c`` from below and from above, real
inputs included. Distances from boxes use those, so every radius here is at
most the exact one of :class:`~skadv._core.trees.TreeMILP` (which measures to
the representable points) and holds for real-valued perturbations too.

Method (Chen et al. 2019). Over a ball of radius ``r`` around ``x0``, a
tree can only land in the leaves whose box is within ``r``. The score margin
``s_c - s_y`` is a sum over trees, so the sum of each tree's largest
reachable leaf value bounds it; that is level 0. A level merges groups of
``max_clique`` consecutive groups of the level below: it enumerates every
tuple of their nodes whose boxes intersect (a *clique*; in L-inf, boxes that
pairwise meet the ball and each other meet the ball together) and whose
intersection is within ``r``, and the group's bound is its best clique.
Every level is an upper bound of the margin -- the tuple of leaves a real
point reaches is one of the cliques -- and a tighter one than the level
below; once one group is left it is the exact maximum over the ball (L-inf,
for a row that stayed within ``max_cliques``).
Beyond the paper, each level first prunes the nodes whose value plus the best
of every other group is below ``-tol``: no tuple that could break the
certificate goes through them, so dropping them keeps the check sound and
keeps deep levels small.
A row whose cliques at a level would exceed ``max_cliques`` has the nodes
of one side (the lower-valued ones, past the first few) lumped into one:
the hull of their boxes, the largest of their values. That node still bounds
every tuple through any of them, so the level stays an upper bound, only a
looser one, and the row goes on to the next levels in bounded memory.
A row is certified at ``r`` when the bound of every other class is below
``-tol`` (``tol`` covers the float32 rounding of the model's score sums).

Radius. The set of leaves within ``r`` only changes at the leaves' own
distances, so the largest certified radius is one of them: a binary search
over each row's sorted leaf distances (all rows at once, one check per step)
finds it exactly in L-inf, where the bound is a step function of ``r``; in L2
and L1 the clique filter also changes between those values, and a few
bisection steps refine the radius inside the last interval. Checks only ever
report radii they certified, so the result is sound whatever the search does.
The reported radius is smaller by the relative rounding error of the
distance arithmetic (about ``d`` units in the last place), so that even
``x0 + radius`` computed in float64 stays on the row's side of every key.
"""

from typing import NamedTuple

import numpy as np

from .trees import cells_of

__all__ = ["CliqueBound", "LeafBoxes", "leaf_boxes"]

_CHEN = """\
    .. [1] H. Chen, H. Zhang, S. Si, Y. Li, D. Boning, C.-J. Hsieh. "Robustness
       Verification of Tree-based Models", NeurIPS 2019."""


class LeafBoxes(NamedTuple):
    """The reachable leaves of an ensemble as boxes of cells."""

    tree: np.ndarray   # (L,) int, tree of each leaf, trees in ensemble order
    node: np.ndarray   # (L,) int, the leaf's node index in its tree
    lo: np.ndarray     # (L, d) int, first cell of the box on each feature
    hi: np.ndarray     # (L, d) int, last cell
    value: np.ndarray  # (L, n_classes) float64


def leaf_boxes(ens, keys, n_keys):
    """Box of cells of every leaf a row can reach.

    Parameters
    ----------
    ens : Ensemble
    keys, n_keys : ndarray
        From :func:`~skadv._core.trees.split_keys`.

    Returns
    -------
    LeafBoxes
        Leaves behind contradictory splits or infinite keys that send every
        finite value the other way (empty boxes) are left out.
    """
    d = keys.shape[0]
    trees, nodes, los, his, values = [], [], [], [], []
    for t, (feat, thr, left, right, value) in enumerate(zip(*ens[:5])):
        feat = np.asarray(feat, np.intp)
        n = len(feat)
        inner = np.flatnonzero(feat >= 0)
        # The thresholds are canonical keys: a node splits after its key's
        # index. A key of +inf sends every finite value left (cell n_keys
        # included), -inf every one right.
        thr = np.asarray(thr, np.float64)
        key = np.empty(n, np.intp)
        f, k = feat[inner], thr[inner]
        below = np.sum(keys[f] <= np.where(np.isfinite(k), k, 0)[:, None], axis=1) - 1
        key[inner] = np.where(k == np.inf, n_keys[f], np.where(k == -np.inf, -1, below))
        lo = np.zeros((n, d), np.intp)
        hi = np.broadcast_to(n_keys, (n, d)).copy()
        seen = np.zeros(n, bool)
        front = np.array([0])  # the root; nodes it cannot reach are no leaves
        while front.size:
            seen[front] = True
            front = front[feat[front] >= 0]
            f, k = feat[front], key[front]
            lc, rc = np.asarray(left)[front], np.asarray(right)[front]
            lo[lc], hi[lc] = lo[front], hi[front]
            lo[rc], hi[rc] = lo[front], hi[front]
            hi[lc, f] = np.minimum(hi[lc, f], k)
            lo[rc, f] = np.maximum(lo[rc, f], k + 1)
            front = np.concatenate([lc, rc])
        leaves = np.flatnonzero((feat < 0) & seen)
        leaves = leaves[np.all(lo[leaves] <= hi[leaves], axis=1)]
        trees.append(np.full(len(leaves), t, np.intp))
        nodes.append(leaves)
        los.append(lo[leaves])
        his.append(hi[leaves])
        values.append(np.asarray(value, np.float64)[leaves])
    return LeafBoxes(np.concatenate(trees), np.concatenate(nodes), np.concatenate(los),
                     np.concatenate(his), np.concatenate(values))


def _above(k, precision):
    """Smallest value of ``precision`` strictly above ``k`` (``inf`` stays), as float64."""
    k = np.asarray(k, np.float64)
    if precision == 64:
        return np.nextafter(k, np.inf)
    f = k.astype(np.float32)
    f = np.where(f.astype(np.float64) > k, f, np.nextafter(f, np.float32(np.inf)))
    return f.astype(np.float64)


class _Nodes(NamedTuple):
    """Nodes of one group, rows ascending: leaves (level 0) or cliques."""

    row: np.ndarray  # (m,) int, local row index
    lo: np.ndarray   # (m, d) int
    hi: np.ndarray   # (m, d) int
    val: np.ndarray  # (m,) margin contribution
    gap: np.ndarray  # (m, d) per-feature lower bound of the distance to the box; (m, 0) in L-inf


class CliqueBound:
    """Multi-level clique bound of a tree ensemble's robustness radius (Chen et al. 2019).

    Precomputes the leaf boxes once; :meth:`radius` then bounds, for a batch
    of rows, the distance to the nearest point the ensemble classifies
    differently, from below. See the module docstring for the method and the
    soundness argument.

    Parameters
    ----------
    ens : Ensemble
    keys, n_keys : ndarray
        From :func:`~skadv._core.trees.split_keys` (no integer features).

    Attributes
    ----------
    boxes : LeafBoxes
    tol : float
        A class counts as winning when its margin is above ``-tol``: it
        covers the float32 rounding error of summing the trees' values.

    References
    ----------
    %(chen)s

    Examples
    --------
    >>> import numpy as np
    >>> from skadv._core.trees import Ensemble, split_keys
    >>> from skadv._core.tree_bounds import CliqueBound
    >>> stump = (np.array([0, -1, -1]), np.array([0.5, 0, 0]), np.array([1, -1, -1]),
    ...          np.array([2, -1, -1]), np.array([[0, 0], [1, 0], [0, 1]], float))
    >>> ens = Ensemble(*([a] for a in stump), offset=np.zeros(2),
    ...                tie_wins=np.array([[False, True], [False, False]]))
    >>> keys, n_keys = split_keys(ens, 1, np.zeros(1, bool))
    >>> bound = CliqueBound(ens, keys, n_keys)
    >>> X = np.array([[0.25], [1.0]])
    >>> r = bound.radius(X, ens.predict(X), norm="inf", scale=np.ones(1))
    >>> np.round(r, 6).tolist()  # the split at 0.5 is 0.25 and 0.5 away
    [0.25, 0.5]
    """

    def __init__(self, ens, keys, n_keys):
        self.keys, self.n_keys = keys, np.asarray(n_keys, np.intp)
        d = keys.shape[0]
        # Key tables padded on the right, so that index n_keys (no key) is valid.
        self._below = np.concatenate([keys, np.full((d, 1), np.inf)], axis=1)
        self.precision = ens.precision
        self._above = _above(self._below, ens.precision)
        self.boxes = leaf_boxes(ens, keys, n_keys)
        self.offset = np.asarray(ens.offset, np.float64)
        self.n_trees = len(ens.feature)
        self._tree_start = np.searchsorted(self.boxes.tree, np.arange(self.n_trees + 1))
        v = self.boxes.value
        span = np.abs(self.offset).max(initial=0.0) + sum(
            np.abs(v[a:b]).max(initial=0.0)
            for a, b in zip(self._tree_start[:-1], self._tree_start[1:]))
        self.tol = float(np.finfo(np.float32).eps) * (self.n_trees + 2) * max(span, 1e-30)

    def cells(self, X):
        """Cell of every value of ``X`` in the model's precision."""
        return cells_of(X, self.keys, np.zeros(self.keys.shape[0], bool), self.precision)

    # ----------------------------------------------------------------------
    def _pairs(self, n_classes):
        """Per (winner c, predicted y): trees whose margin varies, and the constant rest."""
        b = self.boxes
        out = {}
        for y in range(n_classes):
            for c in range(n_classes):
                if c == y:
                    continue
                w = b.value[:, c] - b.value[:, y]
                const = self.offset[c] - self.offset[y]
                trees = []
                for s, e in zip(self._tree_start[:-1], self._tree_start[1:]):
                    if e == s:
                        continue
                    if np.ptp(w[s:e]) > 0:
                        trees.append(np.arange(s, e))
                    else:  # one value whatever the leaf: no choice to search
                        const += w[s]
                out[c, y] = (w, trees, const)
        return out

    def radius(self, X, pred, *, norm, scale, lower=None, upper=None, eps=None,
               max_clique=2, max_level=None, max_cliques=16384, refine=10):
        """Certified radius of every row, from below.

        Parameters
        ----------
        X : ndarray of shape (n, d)
            Rows, inside ``[lower, upper]``.
        pred : ndarray of int, shape (n,)
            The class index each row must keep (its
            :meth:`~skadv._core.trees.Ensemble.predict`).
        norm : {"inf", 2, 1}
        scale : ndarray of shape (d,)
            Positive per-feature unit of distance.
        lower, upper : ndarray of shape (d,) or (n, d), default=None
            Bounds of the input domain (none by default).
        eps : float, default=None
            Largest radius of interest: radii are capped at it.
        max_clique : int, default=2
            Groups merged into one at each level.
        max_level : int, default=None
            Levels of cliques after level 0 (None: until one group is left).
        max_cliques : int, default=16384
            Cliques one row may hold in one level (all groups together); a row
            that would exceed it has the lower-valued nodes of a merge lumped
            into their hull first (looser, never unsound). Bounds time and
            memory: rows are batched so that a batch holds at most about
            2**24 clique coordinates.
        refine : int, default=10
            Bisection steps inside the last interval (L2 and L1 only).

        Returns
        -------
        radius : ndarray of shape (n,)
            No point (real or float32) at distance at most ``radius`` from a
            row gets another class; ``inf`` if no point in the domain does,
            ``0`` if only the row itself is certain (its margin within ``tol``).
        """
        X = np.asarray(X, np.float64)
        n, d = X.shape
        lower = np.broadcast_to(-np.inf if lower is None else lower, (n, d))
        upper = np.broadcast_to(np.inf if upper is None else upper, (n, d))
        L = len(self.boxes.tree)
        out = np.empty(n)
        pairs = self._pairs(len(self.offset))
        # Rows in chunks: a chunk holds (rows, leaves, features) boxes.
        chunk = max(1, min(2_000_000 // max(1, L * d), 2 ** 24 // (max_cliques * d)))
        for s in range(0, n, chunk):
            rows = _Rows(self, X[s:s + chunk], lower[s:s + chunk], upper[s:s + chunk],
                         scale, norm)
            out[s:s + chunk] = self._search(rows, np.asarray(pred[s:s + chunk]), pairs, eps,
                                            max_clique, max_level, max_cliques, refine)
        return out

    def _search(self, rows, pred, pairs, eps, max_clique, max_level, max_cliques, refine):
        n, d = rows.x.shape
        # Distances are computed in floats: a true distance is at least the
        # computed one times (1 - slack). Radii are reported that much smaller
        # (so that x0 + radius itself stays on the clean side of a key) and
        # eps is checked that much larger.
        slack = (d + 4) * 2.0 ** -52
        top = np.inf if eps is None else float(eps) * (1 + 2 * slack)
        dist = np.sort(np.where(rows.dist < top, rows.dist, np.inf), axis=1)
        m = np.sum(np.isfinite(dist), axis=1) + 1   # candidates per row, top included
        cand = np.concatenate([dist, np.full((n, 1), np.inf)], axis=1)
        cand[np.arange(n), m - 1] = top

        def check(idx, r):
            ok = np.ones(len(idx), bool)
            for (c, y), pair in pairs.items():
                sel = np.flatnonzero(pred[idx] == y)
                if sel.size:
                    ok[sel] &= self._check(rows, idx[sel], r[sel], pair, max_clique,
                                           max_level, max_cliques)
            return ok

        lo, hi = np.full(n, -1), m.copy()
        while True:
            act = np.flatnonzero(hi - lo > 1)
            if not act.size:
                break
            mid = (lo[act] + hi[act]) // 2
            ok = check(act, cand[act, mid])
            lo[act[ok]] = mid[ok]
            hi[act[~ok]] = mid[~ok]
        radius = np.where(lo >= 0, cand[np.arange(n), np.maximum(lo, 0)], 0.0)
        if rows.norm != "inf" and refine:
            # The check changes inside (radius, next candidate) too: bisect there.
            # Past rows.far every clique passes the filter: the check is the one at inf.
            act = np.flatnonzero((lo >= 0) & (hi < m))
            a, b = radius[act], np.minimum(cand[act, hi[act]], rows.far[act])
            for _ in range(refine):
                if not act.size:
                    break
                mid = 0.5 * (a + b)
                ok = check(act, mid)
                a, b = np.where(ok, mid, a), np.where(ok, b, mid)
            radius[act] = a
        radius = radius * (1 - slack)
        return radius if eps is None else np.minimum(radius, eps)

    def _check(self, rows, idx, r, pair, max_clique, max_level, max_cliques):
        """Whether the bound of one class's margin is below ``-tol`` for rows ``idx``."""
        w, trees, const = pair
        n = len(idx)
        done = np.zeros(n, bool)    # decided: certified, or out of budget
        certified = np.zeros(n, bool)
        dist = rows.dist[idx]
        groups = []
        for leaves in trees:
            dl = dist[:, leaves]
            ri, li = np.nonzero((dl < r[:, None]) | (dl <= 0))
            groups.append(_Nodes(ri, rows.lo[idx[ri], leaves[li]], rows.hi[idx[ri], leaves[li]],
                                 w[leaves[li]], rows.g[idx[ri], leaves[li]]))
        level = 0
        while True:
            groups, bound = _prune(groups, const, n, -self.tol)
            live = ~done
            certified[live] = bound[live] < -self.tol
            done |= certified
            if len(groups) <= 1 or done.all() or (max_level is not None and level >= max_level):
                break
            level += 1
            merged = []
            budget = np.full(n, max_cliques)  # cliques each row may still hold this level
            for s in range(0, len(groups), max_clique):
                node = groups[s]
                for other in groups[s + 1:s + max_clique]:
                    node = _merge(node, other, n, budget, rows, idx, r)
                budget -= np.bincount(node.row, minlength=n)
                merged.append(node)
            groups = [_drop(g, done) for g in merged]
        return certified


class _Rows:
    """Per-row geometry of a chunk: clean cells, domain-clipped leaf boxes, distances."""

    def __init__(self, bound, X, lower, upper, scale, norm):
        keys = bound.keys
        d = keys.shape[0]
        self.x, self.scale, self.norm = X, np.asarray(scale, np.float64), norm
        self.own = bound.cells(X)
        self._below, self._above = bound._below, bound._above
        # Reachable cells: c > own needs key[c-1] < upper; c < own needs
        # above(key[c]) > lower (both conservative, see the module docstring).
        cmax = np.maximum(self.own, np.sum(keys[None] < upper[:, :, None], axis=2))
        cmin = np.minimum(self.own, np.sum(bound._above[None, :, :-1] <= lower[:, :, None],
                                           axis=2))
        b = bound.boxes
        # Cell indices in the narrowest integer type: the clique levels copy them.
        cell = np.int16 if bound.n_keys.max(initial=0) < 2 ** 15 - 1 else np.int32
        self.lo = np.maximum(b.lo[None], cmin[:, None]).astype(cell)   # (n, L, d)
        self.hi = np.minimum(b.hi[None], cmax[:, None]).astype(cell)
        empty = np.any(self.lo > self.hi, axis=2)
        n, L = empty.shape
        rr = np.repeat(np.arange(n), L)
        g = self.gaps(self.lo.reshape(n * L, d), self.hi.reshape(n * L, d), rr)
        g = g.reshape(n, L, d)
        self.dist = np.where(empty, np.inf, self.reduce(g))
        # Per-feature gaps carried by the clique nodes (L2 and L1): on a
        # feature, the gap to an intersection of boxes is the largest of the
        # boxes' gaps (the one below depends on lo only, the one above on hi).
        self.g = g if norm != "inf" else g[:, :, :0]
        # No box of the chunk, nor any intersection of them, is farther than this.
        self.far = self.reduce(np.where(empty[:, :, None], 0.0, g).max(axis=1, initial=0.0))

    def gaps(self, lo, hi, row):
        """Per-feature lower bounds ``(m, d)`` of the distance from rows to boxes."""
        own, x = self.own[row], self.x[row]
        j = np.arange(lo.shape[1])
        up = self._below[j, np.maximum(lo - 1, 0)] - x
        down = x - self._above[j, hi]
        g = np.where(lo > own, up, np.where(hi < own, down, 0.0))
        return np.maximum(g, 0.0) / self.scale

    def reduce(self, g):
        return np.linalg.norm(g, ord=np.inf if self.norm == "inf" else self.norm, axis=-1)


def _best(nodes, n):
    """Largest node value per row (``-inf`` for rows without nodes)."""
    out = np.full(n, -np.inf)
    if nodes.row.size:
        start = np.flatnonzero(np.r_[True, nodes.row[1:] != nodes.row[:-1]])
        out[nodes.row[start]] = np.maximum.reduceat(nodes.val, start)
    return out


def _subset(nodes, keep):
    return _Nodes(*(a[keep] for a in nodes))


def _drop(nodes, done):
    return _subset(nodes, ~done[nodes.row])


def _prune(groups, const, n, target, rounds=3):
    """Drop the nodes no tuple reaching ``target`` can use; the bound per row.

    A tuple through a node of value ``v`` scores at most ``v`` plus the best
    of every other group, so a node for which that is below ``target`` is in
    no tuple that breaks the certificate. Pruning lowers the groups' bests,
    which prunes more: a few rounds.
    """
    base = np.full(n, float(const))
    for _ in range(rounds):
        best = [_best(g, n) for g in groups]
        total = base + sum(best)
        with np.errstate(invalid="ignore"):  # -inf - -inf: a row with an empty group
            keep = [g.val + (total - b)[g.row] >= target for g, b in zip(groups, best)]
        if all(k.all() for k in keep):
            return groups, total
        groups = [_subset(g, k) for g, k in zip(groups, keep)]
    return groups, base + sum(_best(g, n) for g in groups)


def _coarsen(nodes, n, q, rows, idx):
    """At most ``q[row]`` nodes per row: the best ``q - 1`` kept, the rest as one.

    The lumped node has the hull of their boxes and the largest of their
    values, so it still bounds every tuple through any of them (a looser
    node, never a wrong one). Rows stay ascending.
    """
    count = np.bincount(nodes.row, minlength=n)
    if np.all(count <= q):
        return nodes
    order = np.lexsort((-nodes.val, nodes.row))
    row = nodes.row[order]
    rank = np.arange(len(row)) - (np.cumsum(count) - count)[row]
    lump = (count[row] > q[row]) & (rank >= q[row] - 1)
    first = lump & (rank == q[row] - 1)
    # Lumped nodes of a row are contiguous in this order: reduce over each run.
    start = np.flatnonzero(first)
    sel = order[lump]
    cut = np.searchsorted(np.flatnonzero(lump), start)
    lo = np.minimum.reduceat(nodes.lo[sel], cut, axis=0)
    hi = np.maximum.reduceat(nodes.hi[sel], cut, axis=0)
    val = np.maximum.reduceat(nodes.val[sel], cut)
    # A hull can straddle the row's own cell where none of its boxes does:
    # its gaps are measured afresh, not taken from the boxes'.
    gap = (rows.gaps(lo, hi, idx[row[start]]) if nodes.gap.shape[1]
           else np.zeros((len(start), 0)))
    keep = order[~lump]
    at = np.concatenate([nodes.row[keep], row[start]])
    o = np.argsort(at, kind="stable")
    return _Nodes(at[o], *(np.concatenate([f[keep], h])[o] for f, h in
                           zip(nodes[1:], (lo, hi, val, gap))))


def _merge(a, b, n, budget, rows, idx, r):
    """Cliques of two groups, row by row: every pair whose boxes meet (within ``r``).

    A row whose pairs would exceed its ``budget`` first has the nodes of its
    larger side (of both, if one side alone is over it) coarsened by
    :func:`_coarsen` until its pairs fit: a looser bound for that row, never
    a wrong one, in bounded memory.
    """
    ca = np.bincount(a.row, minlength=n)
    cb = np.bincount(b.row, minlength=n)
    over = ca * cb > budget
    if over.any():
        room = np.maximum(budget, 1)
        side = np.maximum(np.floor(np.sqrt(room)).astype(np.intp), 1)
        small = np.minimum(ca, cb)
        # Keep the smaller side whole when the larger one can still get a share.
        qs = np.where(small * 2 <= room, small, side)
        ql = np.maximum(room // np.maximum(qs, 1), 1)
        qa = np.where(over, np.where(ca >= cb, ql, qs), ca)
        qb = np.where(over, np.where(ca >= cb, qs, ql), cb)
        a, b = _coarsen(a, n, qa, rows, idx), _coarsen(b, n, qb, rows, idx)
        ca = np.bincount(a.row, minlength=n)
        cb = np.bincount(b.row, minlength=n)
    # Row by row, the pairs whose boxes meet, by broadcasting (no index array
    # per candidate pair: most pairs do not meet).
    sa, sb = np.cumsum(ca) - ca, np.cumsum(cb) - cb
    ia, ib = [], []
    for i in np.flatnonzero(ca * cb):
        ja, jb = slice(sa[i], sa[i] + ca[i]), slice(sb[i], sb[i] + cb[i])
        meet = np.all((a.lo[ja, None] <= b.hi[None, jb]) & (b.lo[None, jb] <= a.hi[ja, None]),
                      axis=2)
        pa, pb = np.nonzero(meet)
        ia.append(pa + sa[i])
        ib.append(pb + sb[i])
    ia = np.concatenate(ia) if ia else np.zeros(0, np.intp)
    ib = np.concatenate(ib) if ib else np.zeros(0, np.intp)
    gap = np.maximum(a.gap[ia], b.gap[ib])
    if rows.norm != "inf":  # in L-inf boxes that meet each other meet the ball together
        dd = rows.reduce(gap)
        near = (dd < r[a.row[ia]]) | (dd <= 0)
        ia, ib, gap = ia[near], ib[near], gap[near]
    return _Nodes(a.row[ia], np.maximum(a.lo[ia], b.lo[ib]), np.minimum(a.hi[ia], b.hi[ib]),
                  a.val[ia] + b.val[ib], gap)


CliqueBound.__doc__ = CliqueBound.__doc__.replace("    %(chen)s", _CHEN)
