"""Pure cores of the tree-ensemble attacks: exact MILP and greedy cell walk.

No scikit-learn here: :mod:`skadv._core.tree_readers` reads a fitted
ensemble of any supported library into an :class:`Ensemble` of plain arrays
and :mod:`skadv.attacks.trees` calls these functions.

Geometry. Every library compares a feature with a threshold in its own way
(scikit-learn: ``float32(x) <= t``; XGBoost: ``float32(x) < t``; LightGBM
and HistGradientBoosting: ``x <= t`` in double; CatBoost: right iff
``float32(x) > t``). The readers canonicalise them all: an Ensemble has a
``precision`` (32 or 64), the model sees ``v(x) = float32(x)`` or ``x``,
and every node stores a *key*: it sends ``x`` left exactly when
``v(x) <= key``, the key being representable in that precision. Equal keys
are one split. An integer feature splits at ``floor(key)`` instead. The keys
of a feature cut its axis into *cells* ``(key[c-1], key[c]]``; the prediction
is constant on every product of cells. The point of a cell nearest to a clean
value ``x0`` is ``x0`` in its own cell, else the cell's end nearest ``x0``:
``key[c]`` from above, the next representable value after ``key[c-1]``
(``key[c-1] + 1`` for integers) from below. Those are the points both attacks
return, so the distances they report are the distances of points the model
really classifies as claimed -- no margin to tune, and the model's own
``predict`` confirms every one. An infinite key is a node that sends every
finite value the same way (only missing values may go the other): it cuts no
cell.
"""

import warnings
from typing import NamedTuple

import numpy as np
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import coo_array, csr_array, vstack

__all__ = [
    "Ensemble",
    "TreeMILP",
    "cell_range",
    "cells_of",
    "realize",
    "split_keys",
]


class Ensemble(NamedTuple):
    """A fitted tree ensemble as arrays: class scores are sums of leaf values.

    ``scores(x) = offset + sum_t value[t][leaf_t(x)]``; the predicted class is
    the one that beats every other, class ``c`` beating ``y`` when
    ``scores[c] > scores[y]``, or when they tie and ``tie_wins[c, y]``. A node
    sends ``x`` left when ``v(x[feature]) <= threshold``, ``v`` the rounding
    of ``precision`` (see the module docstring); the thresholds are those
    canonical keys. A missing value (NaN) goes left where ``missing_left``.

    Examples
    --------
    One stump: class 1 wins where ``float32(x) > 0.5``.

    >>> import numpy as np
    >>> from skadv._core.trees import Ensemble
    >>> stump = Ensemble(feature=(np.array([0, -1, -1]),), threshold=(np.array([0.5, 0, 0]),),
    ...                  left=(np.array([1, -1, -1]),), right=(np.array([2, -1, -1]),),
    ...                  value=(np.array([[0, 0], [1, 0], [0, 1]], float),),
    ...                  offset=np.zeros(2), tie_wins=np.array([[False, True], [False, False]]))
    >>> stump.predict(np.array([[0.5], [0.50000006]])).tolist()
    [0, 1]
    """

    feature: tuple    # per tree (n_nodes,) int, < 0 at leaves
    threshold: tuple  # per tree (n_nodes,) float64: the keys
    left: tuple       # per tree (n_nodes,) int
    right: tuple      # per tree (n_nodes,) int
    value: tuple      # per tree (n_nodes, n_classes) float64, used at leaves
    offset: np.ndarray    # (n_classes,)
    tie_wins: np.ndarray  # (n_classes, n_classes) bool
    precision: int = 32   # 32: the model compares float32(x); 64: x itself
    missing_left: tuple = None  # per tree (n_nodes,) bool; None: NaN is an error
    n_features: int = None      # features the model was fitted on (None: unknown)

    def apply(self, X):
        """Leaf index of every row in every tree, shape ``(n_samples, n_trees)``."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features). Got shape {X.shape} "
                             "instead.")
        nan = np.isnan(X)
        if nan.any() and self.missing_left is None:
            raise ValueError(
                "X contains NaN, but this tree ensemble has no missing-value direction "
                "(its model rejects missing values): impute X first, e.g. with "
                "sklearn.impute.SimpleImputer.")
        V = _view(X, self.precision)
        rows = np.arange(len(X))
        out = np.empty((len(X), len(self.feature)), dtype=np.intp)
        missing = self.missing_left or (None,) * len(self.feature)
        for t, (feat, key, left, right, miss) in enumerate(
                zip(self.feature, self.threshold, self.left, self.right, missing)):
            node = np.zeros(len(X), dtype=np.intp)
            live = rows[feat[node] >= 0]
            while live.size:
                at = node[live]
                f = feat[at]
                go_left = V[live, f] <= key[at]
                if miss is not None:
                    go_left = np.where(nan[live, f], miss[at], go_left)
                node[live] = np.where(go_left, left[at], right[at])
                live = live[feat[node[live]] >= 0]
            out[:, t] = node
        return out

    def scores(self, X):
        """Class scores ``(n_samples, n_classes)``: offset plus the leaves reached."""
        leaves = self.apply(X)
        s = np.tile(np.asarray(self.offset, np.float64), (len(leaves), 1))
        for t, value in enumerate(self.value):
            s += np.asarray(value, np.float64)[leaves[:, t]]
        return s

    def predict(self, X):
        """Index of the class that beats every other (ties by ``tie_wins``)."""
        return winner(self.scores(X), self.tie_wins)


def winner(s, tie_wins):
    """Index of the class whose score beats every other's (ties by ``tie_wins``)."""
    ties = np.asarray(tie_wins, bool)
    a, b = s[:, :, None], s[:, None, :]
    beats = (a > b) | ((a == b) & ties[None])
    beats |= np.eye(s.shape[1], dtype=bool)[None]
    return np.argmax(beats.all(axis=2), axis=1)


# --------------------------------------------------------------------------
# geometry in the model's precision
def _view(X, precision):
    """``v(x)``: the value the model compares, as float64."""
    X = np.asarray(X, dtype=np.float64)
    if precision == 64:
        return X
    with np.errstate(over="ignore"):  # beyond float32's range: +-inf, as the model sees it
        return X.astype(np.float32).astype(np.float64)


def _key(t, precision=32):
    """Largest value of ``precision`` not above ``t``, as float64."""
    t = np.asarray(t, dtype=np.float64)
    if precision == 64:
        return t
    with np.errstate(over="ignore"):
        v = t.astype(np.float32)
    v = np.where(v.astype(np.float64) > t, np.nextafter(v, np.float32(-np.inf)), v)
    return v.astype(np.float64)


def _after(k, precision=32):
    """Smallest value of ``precision`` above the representable ``k``, as float64."""
    k = np.asarray(k, dtype=np.float64)
    if precision == 64:
        return np.nextafter(k, np.inf)
    with np.errstate(over="ignore"):
        k = k.astype(np.float32)
    return np.nextafter(k, np.float32(np.inf)).astype(np.float64)


def split_keys(ens, n_features, integer, extra_zero=None):
    """Sorted finite keys of every feature, padded with ``+inf``.

    Parameters
    ----------
    ens : Ensemble
    n_features : int
    integer : ndarray of bool, shape (n_features,)
        Integer features split at ``floor(threshold)``.
    extra_zero : ndarray of bool, shape (n_features,), default=None
        Features that always get the key 0 (binary one-hot columns, so a
        category can be switched even where no tree splits on it).

    Returns
    -------
    keys : ndarray of shape (n_features, max_keys)
    n_keys : ndarray of int, shape (n_features,)
    """
    feat = np.concatenate(ens.feature)
    thr = np.concatenate(ens.threshold)
    split = (feat >= 0) & np.isfinite(thr)  # infinite keys cut no cell
    feat, thr = feat[split], thr[split]
    out = []
    for j in range(n_features):
        t = thr[feat == j]
        t = np.floor(t) if integer[j] else _key(t, ens.precision)
        if extra_zero is not None and extra_zero[j]:
            t = np.append(t, 0.0)
        out.append(np.unique(t))
    n_keys = np.array([len(k) for k in out], dtype=np.intp)
    keys = np.full((n_features, max(1, n_keys.max(initial=0))), np.inf)
    for j, k in enumerate(out):
        keys[j, : len(k)] = k
    return keys, n_keys


def cells_of(X, keys, integer, precision=32):
    """Cell index of every value: the number of keys below ``v(x)``."""
    X = np.asarray(X, dtype=np.float64)
    V = np.where(integer, X, _view(X, precision))
    out = np.empty(X.shape, dtype=np.intp)
    for j in range(X.shape[-1]):  # features, not rows: searchsorted is per axis
        out[..., j] = np.searchsorted(keys[j], V[..., j], side="left")
    return out


def realize(cells, own, x0, keys, integer, precision=32):
    """Point of each cell nearest to ``x0`` (``x0`` itself in its own cell)."""
    d = keys.shape[0]
    j = np.arange(d)
    lo_key = keys[j, np.maximum(cells - 1, 0)]
    hi_key = keys[j, np.minimum(cells, keys.shape[1] - 1)]
    up = np.where(integer, lo_key + 1.0, _after(lo_key, precision))
    return np.where(cells == own, x0, np.where(cells > own, up, hi_key))


def cell_range(x0, keys, n_keys, integer, lower, upper, mutable, precision=32):
    """Cells each row may reach: those with a point inside ``[lower, upper]``
    (bounds of shape ``(d,)`` or per row, ``(n, d)``)."""
    own = cells_of(x0, keys, integer, precision)
    d = keys.shape[0]
    lower = np.broadcast_to(lower, own.shape)
    upper = np.broadcast_to(upper, own.shape)
    # Right of key k is reachable when its first point is <= upper; left of it
    # (cell k) when key k >= lower.
    first = np.where(integer[:, None], keys + 1.0,
                     _after(np.where(np.isfinite(keys), keys, 0), precision))
    hi = np.stack([np.sum(first[j, : n_keys[j]][None] <= upper[:, j, None], axis=1)
                   for j in range(d)], axis=1)
    lo = np.stack([np.sum(keys[j, : n_keys[j]][None] < lower[:, j, None], axis=1)
                   for j in range(d)], axis=1)
    cmin = np.minimum(lo, own)
    cmax = np.maximum(hi, own)
    cmin = np.where(mutable, cmin, own)
    cmax = np.where(mutable, cmax, own)
    return own, cmin, cmax


def _distance(delta, norm):
    a = np.abs(delta)
    if norm == "inf":
        return a.max(axis=-1)
    if norm == 2:
        return np.sqrt((a * a).sum(axis=-1))
    return a.sum(axis=-1)


# --------------------------------------------------------------------------
# exact attack: mixed-integer linear program
# Optimality gaps at zero: the distance is the answer. (A tighter integrality
# tolerance makes HiGHS fail on some problems; predicates are rounded and the
# point re-checked by the model anyway.) HiGHS's presolve occasionally ends in
# a "solve error" on these problems; they are then solved without it.
#
# HiGHS looks only for solutions better than its incumbent by more than
# mip_feasibility_tolerance, an absolute amount of the objective: an optimum
# of squared L2 distance 1e-4 hides every point up to 1e-2 of it closer. So
# the objective is scaled to make that allowance at most _OBJ_RTOL of the
# optimum's objective (the distance; its square in L2), no cost coefficient
# growing beyond _OBJ_MAX unless the optimum found asks for it.
_MIP_FEASTOL = 1e-6
_OBJ_RTOL = 1e-9
_OBJ_MAX = 1e9
_HIGHS = {"mip_rel_gap": 0.0, "mip_abs_gap": 1e-12, "primal_feasibility_tolerance": 1e-9,
          "mip_feasibility_tolerance": _MIP_FEASTOL}
_HIGHS_FALLBACK = {**_HIGHS, "presolve": False}


def _leaf_paths(feat, left, right):
    """(node, leaf, went_left) for every ancestor of every leaf of one tree."""
    n = len(feat)
    parent = np.full(n, -1)
    internal = np.flatnonzero(feat >= 0)
    parent[left[internal]] = internal
    parent[right[internal]] = internal
    # Only leaves the root reaches (an unreachable one would be unconstrained).
    reach = np.zeros(n, bool)
    front = np.array([0])
    while front.size:
        reach[front] = True
        front = front[feat[front] >= 0]
        front = np.concatenate([left[front], right[front]])
    leaves = np.flatnonzero((feat < 0) & reach)
    nodes, leaf_ids, went_left = [], [], []
    cur, ids = leaves.copy(), np.arange(len(leaves))
    while True:
        up = parent[cur]
        keep = up >= 0
        if not keep.any():
            break
        cur, ids, up = cur[keep], ids[keep], up[keep]
        nodes.append(up)
        leaf_ids.append(ids)
        went_left.append(left[up] == cur)
        cur = up
    if not nodes:
        return leaves, (np.empty(0, int),) * 2 + (np.empty(0, bool),)
    return leaves, (np.concatenate(nodes), np.concatenate(leaf_ids),
                    np.concatenate(went_left))


def _highs(obj, integrality, lb, ub, constraints, time_limit, **tighter):
    """One MILP by HiGHS, retried without presolve on a solve error."""
    for base in (_HIGHS, _HIGHS_FALLBACK):
        options = {**base, **tighter}
        if time_limit is not None:
            options["time_limit"] = float(time_limit)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unrecognized options",
                                    category=RuntimeWarning)
            res = milp(obj, integrality=integrality, bounds=(lb, ub),
                       constraints=constraints, options=options)
        if res.status != 4:  # 4: HiGHS solve error
            break
    return res


class TreeMILP:
    """Kantchelian et al.'s MILP for the nearest adversarial point of an ensemble.

    Binary *predicates* ``p_k = [v(x_f) <= key_k]`` for every (feature, key),
    monotone along each feature; continuous leaf indicators ``l`` per tree
    summing to one, with ``sum(l under the left child of a node) <= p`` and
    ``sum(l under its right child) <= 1 - p`` -- for binary ``p`` this pins
    ``l`` to the leaf ``x`` reaches, so ``l`` need not be integer. Class scores
    are linear in ``l``. The distance is linear in ``p`` too: along a feature
    the cost of leaving the clean cell grows key by key, so the cost of the
    chosen cell is a telescoping sum of predicate flips (squared costs for
    L2). One problem per row and per class that could win; HiGHS solves it,
    its objective scaled so that the optimum is exact to a relative 1e-9 of
    the objective (of the squared distance in L2) whatever the units of ``x``.

    Parameters
    ----------
    ens : Ensemble
    keys, n_keys : ndarray
        From :func:`split_keys`.
    integer : ndarray of bool, shape (n_features,)

    References
    ----------
    .. [1] A. Kantchelian, J. D. Tygar, A. D. Joseph. "Evasion and Hardening of
       Tree Ensemble Classifiers", ICML 2016.
    """

    def __init__(self, ens, keys, n_keys, integer):
        self.keys, self.n_keys = keys, n_keys
        self.precision = precision = ens.precision
        self.integer = np.asarray(integer, bool)
        d = keys.shape[0]
        self.pred_feature = np.repeat(np.arange(d), n_keys)
        self.pred_key = np.concatenate([keys[j, : n_keys[j]] for j in range(d)])
        self.pred_start = np.concatenate([[0], np.cumsum(n_keys)])
        P = len(self.pred_key)
        self.n_pred = P
        rows, cols, vals, lo, hi = [], [], [], [], []
        n_row = 0
        # Monotone predicates along each feature: p_k <= p_{k+1}.
        same = self.pred_feature[1:] == self.pred_feature[:-1]
        k = np.flatnonzero(same)
        r = n_row + np.arange(len(k))
        rows += [r, r]
        cols += [k, k + 1]
        vals += [np.ones(len(k)), -np.ones(len(k))]
        lo.append(np.full(len(k), -np.inf))
        hi.append(np.zeros(len(k)))
        n_row += len(k)
        leaf_values, leaf_start = [], P
        for feat, thr, left, right, value in zip(*ens[:5]):
            leaves, (node, leaf, went_left) = _leaf_paths(feat, left, right)
            n_leaf = len(leaves)
            leaf_values.append(value[leaves])
            # sum of l = 1
            rows.append(np.full(n_leaf, n_row))
            cols.append(leaf_start + np.arange(n_leaf))
            vals.append(np.ones(n_leaf))
            lo.append([1.0])
            hi.append([1.0])
            n_row += 1
            if len(node):
                f = feat[node]
                key = np.where(self.integer[f], np.floor(thr[node]), _key(thr[node], precision))
                # One row per (node, side): leaves of that side minus/plus p.
                uniq, row_of = np.unique(node * 2 + (~went_left), return_inverse=True)
                side_node, side_right = uniq // 2, (uniq % 2).astype(bool)
                node_key = np.empty(len(feat))
                node_key[node] = key
                side_key = node_key[side_node]
                finite = np.isfinite(side_key)
                node_pred = np.zeros(len(feat), dtype=np.intp)
                ok = np.isfinite(key)
                node_pred[node[ok]] = self._pred_index(f[ok], key[ok])
                rr = n_row + row_of
                rows += [rr, n_row + np.flatnonzero(finite)]
                cols += [leaf_start + leaf, node_pred[side_node[finite]]]
                vals += [np.ones(len(leaf)), np.where(side_right[finite], 1.0, -1.0)]
                lo.append(np.full(len(uniq), -np.inf))
                # A node with an infinite key sends every finite value one way:
                # the leaves of its other side are out of reach.
                never = ~finite & ((side_key > 0) == side_right)
                hi.append(np.where(finite, np.where(side_right, 1.0, 0.0),
                                   np.where(never, 0.0, 1.0)))
                n_row += len(uniq)
            leaf_start += n_leaf
        self.n_leaf = leaf_start - P
        self.leaf_values = np.concatenate(leaf_values, axis=0)
        self.offset = np.asarray(ens.offset, np.float64)
        self.tie_wins = np.asarray(ens.tie_wins, bool)
        n_var = P + self.n_leaf + 1  # + b, the L-inf distance
        self.A = csr_array(coo_array(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
            shape=(n_row, n_var)))
        self.lo = np.concatenate([np.asarray(v, float) for v in lo])
        self.hi = np.concatenate([np.asarray(v, float) for v in hi])
        span = np.abs(self.leaf_values).max(initial=0.0) * len(ens.feature)
        # Strict score inequalities get a margin well above HiGHS's feasibility
        # tolerance; the model's predict confirms the result either way.
        self.strict = 1e-7 * max(1.0, span)

    def _pred_index(self, f, key):
        out = np.empty(len(f), dtype=np.intp)
        for j in np.unique(f):
            sel = f == j
            seg = self.pred_key[self.pred_start[j]: self.pred_start[j + 1]]
            out[sel] = self.pred_start[j] + np.searchsorted(seg, key[sel])
        return out

    def _costs(self, x0, scale):
        """Own predicate values, per-predicate cost of flipping, and target values."""
        f, key = self.pred_feature, self.pred_key
        xf = x0[f]
        integer = self.integer[f]
        own = np.where(integer, xf, _view(xf, self.precision)) <= key
        right_target = np.where(integer, key + 1.0, _after(key, self.precision))
        target = np.where(own, right_target, key)
        cost = np.abs(target - xf) / scale[f]
        return own, cost, target

    def solve(self, x0, y, *, norm, scale, lower, upper, mutable, groups=(),
              targeted=False, eps=None, bound=np.inf, time_limit=None, strict=None):
        """Nearest adversarial point of one row.

        Parameters
        ----------
        x0 : ndarray of shape (d,)
        y : int
            Class index to leave (or to reach, if ``targeted``).
        norm : {"inf", 2, 1}
        scale, lower, upper : ndarray of shape (d,)
            Per-feature unit of distance and bounds.
        mutable : ndarray of bool, shape (d,)
        groups : sequence of index arrays
            One-hot groups: exactly one column is 1.
        targeted : bool, default=False
        eps : float, default=None
            Only points within ``eps`` count.
        bound : float, default=inf
            Only points strictly closer than this are of interest.
        time_limit : float, default=None
            Seconds per MILP; the best point found by then is returned.
        strict : float, default=None
            Margin of strict score inequalities (``self.strict`` when None).

        Returns
        -------
        x : ndarray of shape (d,) or None
            The nearest adversarial point (``None``: none within ``eps``/``bound``).
        distance : float
            Its distance in ``norm`` (``inf`` when ``x`` is None).
        optimal : bool
            Whether every problem solved to optimality.
        """
        P, L = self.n_pred, self.n_leaf
        own, cost, target = self._costs(x0, scale)
        f = self.pred_feature
        lb = np.zeros(P + L + 1)
        ub = np.ones(P + L + 1)
        ub[-1] = np.inf
        fix = ~mutable[f]
        fix |= (target > upper[f]) & own   # the next cell up is out of bounds
        fix |= (target < lower[f]) & ~own  # the next cell down is out of bounds
        limit = min(np.inf if eps is None else eps, bound)
        if norm == "inf" and np.isfinite(limit):
            fix |= cost > limit
        lb[:P] = np.where(fix, own, 0.0)
        ub[:P] = np.where(fix, own, 1.0)
        # Telescoping increments along each feature, outward from the clean cell:
        # upwards over keys the clean value is below, downwards over the others.
        power = 2 if norm == 2 else 1
        c = cost ** power
        same_prev = np.r_[False, f[1:] == f[:-1]] & np.r_[False, own[:-1] & own[1:]]
        same_next = np.r_[f[:-1] == f[1:], False] & np.r_[~own[:-1] & ~own[1:], False]
        prev = np.r_[0.0, c[:-1]]
        nxt = np.r_[c[1:], 0.0]
        inc = np.where(own, c - np.where(same_prev, prev, 0.0), c - np.where(same_next, nxt, 0.0))
        # cost of feature j = sum_up inc*(1-p) + sum_down inc*p = const_j + sum coef*p
        coef = np.where(own, -inc, inc)
        const = np.where(own, inc, 0.0)
        extra_rows, extra_lo, extra_hi = [], [], []
        obj = np.zeros(P + L + 1)
        if norm == "inf":
            obj[-1] = 1.0
            ub[-1] = limit
            # b - sum coef p >= const_j, one row per feature with free predicates.
            free = ~fix
            feats = np.unique(f[free])
            if len(feats):
                sel = np.isin(f, feats)
                row = np.searchsorted(feats, f[sel])
                m = coo_array((np.r_[-coef[sel], np.ones(len(feats))],
                               (np.r_[row, np.arange(len(feats))],
                                np.r_[np.flatnonzero(sel), np.full(len(feats), P + L)])),
                              shape=(len(feats), P + L + 1))
                extra_rows.append(m)
                k_const = np.bincount(row, weights=const[sel], minlength=len(feats))
                extra_lo.append(k_const)
                extra_hi.append(np.full(len(feats), np.inf))
        else:
            obj[:P] = coef
            if np.isfinite(limit):
                budget = limit ** power - const.sum()
                extra_rows.append(csr_array(obj[None, :]))
                extra_lo.append([-np.inf])
                extra_hi.append([budget])
        for g in groups:
            # exactly one column hot: sum (1 - p[key 0 of col]) = 1
            idx = np.array([self.pred_start[j] + np.searchsorted(
                self.pred_key[self.pred_start[j]: self.pred_start[j + 1]], 0.0) for j in g])
            m = np.zeros((1, P + L + 1))
            m[0, idx] = 1.0
            extra_rows.append(csr_array(m))
            extra_lo.append([len(g) - 1.0])
            extra_hi.append([len(g) - 1.0])
        # Any adversarial point crosses a free key, so the optimum's objective
        # is at least the cheapest free flip: scaled by 1 / (_OBJ_RTOL * that),
        # HiGHS's allowance is relatively below _OBJ_RTOL.
        free_c = c[~fix]
        if free_c.size:
            unit = min(_MIP_FEASTOL / (_OBJ_RTOL * free_c.min()), _OBJ_MAX / free_c.max())
        else:
            unit = 1.0
        V = self.leaf_values
        n_classes = V.shape[1]
        integrality = np.r_[np.ones(P), np.zeros(L + 1)]
        if targeted:
            problems = [[(y, c) for c in range(n_classes) if c != y]]
        else:
            problems = [[(c, y)] for c in range(n_classes) if c != y]
        best_x, best_d, optimal = None, np.inf, True
        for pairs in problems:
            score_rows, s_lo = [], []
            for win, lose in pairs:
                row = np.zeros(P + L + 1)
                row[P:P + L] = V[:, win] - V[:, lose]
                score_rows.append(row)
                margin = 0.0 if self.tie_wins[win, lose] else (
                    self.strict if strict is None else strict)
                s_lo.append(self.offset[lose] - self.offset[win] + margin)
            A = vstack([self.A, *extra_rows, csr_array(np.array(score_rows))]).tocsr()
            lo_all = np.concatenate([self.lo, *map(np.asarray, extra_lo), s_lo])
            hi_all = np.concatenate([self.hi, *map(np.asarray, extra_hi),
                                     np.full(len(s_lo), np.inf)])
            if norm == "inf":
                ub[-1] = min(limit, best_d)
            constraints = LinearConstraint(A, lo_all, hi_all)
            res = _highs(obj * unit, integrality, lb, ub, constraints, time_limit)
            if res.status == 2:  # infeasible: this class cannot win within the limits
                continue
            if res.status != 0:
                optimal = False
            if res.x is None:
                continue
            x = self._point(res.x[:P] > 0.5, own, target, x0)
            dist = _distance((x - x0) / scale, norm)
            # The cap on the scale left HiGHS's allowance above _OBJ_RTOL of this
            # optimum: solve again at the scale the optimum asks for.
            need = _MIP_FEASTOL / (_OBJ_RTOL * dist ** power) if dist > 0 else unit
            # HiGHS accepts a MIP solution that breaks a row by
            # mip_feasibility_tolerance, an absolute amount: L-inf's t then sits
            # below the distance of the cell it chose, which can tie with a
            # closer cell (5e-7 closer, on a row of a 4-tree XGBoost forest in
            # [0, 1]). Then solve again at a tolerance of _OBJ_RTOL of the
            # distance. (Scaling those rows instead leaves presolve, at the
            # loose tolerance, to cut the optimum off.)
            loose = norm == "inf" and dist - res.x[-1] > _OBJ_RTOL * dist
            if res.status == 0 and (need > unit or loose):
                tighter = {"mip_feasibility_tolerance": _OBJ_RTOL * dist} if loose else {}
                res = _highs(obj * max(need, unit), integrality, lb, ub, constraints,
                             time_limit, **tighter)
                optimal &= res.status == 0
                if res.x is not None:
                    x2 = self._point(res.x[:P] > 0.5, own, target, x0)
                    d2 = _distance((x2 - x0) / scale, norm)
                    if d2 <= dist:
                        x, dist = x2, d2
            if dist < best_d:
                best_x, best_d = x, dist
        return best_x, best_d, optimal

    def _point(self, p, own, target, x0):
        """The cell chosen by the predicates, realised nearest to ``x0``."""
        x = x0.copy()
        f = self.pred_feature
        up = own & ~p    # clean value below the key, point above it
        down = ~own & p  # clean value above the key, point below it
        if up.any():
            # the farthest flipped key upwards is the last one of its feature
            k = np.flatnonzero(up)
            last = np.r_[f[k][1:] != f[k][:-1], True]
            x[f[k[last]]] = target[k[last]]
        if down.any():
            k = np.flatnonzero(down)
            first = np.r_[True, f[k][1:] != f[k][:-1]]
            x[f[k[first]]] = target[k[first]]
        return x
