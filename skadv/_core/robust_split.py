"""Pure core of robust tree training: perturbation boxes, bins, the worst-case split search.

No scikit-learn here: :mod:`skadv.defenses.robust_trees` validates, calls
these functions and stores the trees they grow.

Geometry. Every training row may move anywhere in a box ``[lo, hi]`` (its
L-inf ball of radius ``delta``, cut by the constraints). The model compares
``float32(x)`` with float32 keys, so the box is kept as the float32 values it
reaches. The keys a feature may split at are its *candidates* ``T`` (sorted,
each a float32 value halfway between two neighbouring breakpoints of the
clean values and the box ends), and a row is handled as the indices
``#(T < lo)`` and ``#(T < hi)``: at candidate ``b`` it goes left surely when
``hi_idx <= b`` (``hi <= T[b]``), right surely when ``lo_idx > b``, and
either way (the attacker chooses) otherwise. Sending a row left at ``b`` cuts
its box to ``hi_idx = min(hi_idx, b)``, right to ``lo_idx = max(lo_idx,
b + 1)``; so deeper splits on the same feature see only what the row can
still reach.

Criterion. The defender commits to leaf values, then the attacker moves each
row to the side that is worse for it. Rows that may go either way are
grouped by how they suffer -- by class for the Gini criterion (a class-``k``
row is hurt most where the Brier loss of class ``k`` is larger), by the sign
of the gradient for the boosting criterion (a row with ``g < 0`` loses where
the leaf value is smaller) -- so the attacker's reply is one side per group.
For each candidate assignment of the groups (all ``2^G`` for a few groups),
the leaves it implies are scored by their *true* worst-case loss (every
group at its worse side under those leaves), and the best split is the
candidate of lowest worst-case loss. That value is an upper bound of the
min-max loss of the split; for two groups it is the min-max loss itself (the
optimum lies inside a region of one assignment, or where both leaves are
equal, which is no split). Chen et al. (2019) and GROOT (Vos & Verwer, 2021)
score the attacker's best reply to the impurity instead (a max-min), and
Andriushchenko & Hein (2019) bound the robust loss of boosted trees the same
way as here.

Everything per node is a handful of ``np.bincount`` calls over
``(rows, features)`` and array arithmetic over ``(features, candidates,
assignments, groups)``: no loop over thresholds or rows.

References
----------
.. [1] H. Chen, H. Zhang, D. Boning, C.-J. Hsieh. "Robust Decision Trees
   Against Adversarial Examples", ICML 2019.
.. [2] D. Vos, S. Verwer. "Efficient Training of Robust Decision Trees
   Against Adversarial Examples", ICML 2021.
.. [3] M. Andriushchenko, M. Hein. "Provably Robust Boosted Decision Stumps
   and Trees against Adversarial Attacks", NeurIPS 2019.
"""

from itertools import product
from typing import NamedTuple

import numpy as np

from .trees import _key, _view

__all__ = [
    "Bins",
    "Gini",
    "GrownTree",
    "Newton",
    "bin_index",
    "grow_tree",
    "make_bins",
    "perturbation_box",
    "quantize",
    "reach_extremes",
]


# --------------------------------------------------------------------------
# boxes and candidate thresholds
def perturbation_box(X, delta, *, lower, upper, integer, direction):
    """Box every row may move in: ``x +- delta``, inside the bounds.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    delta : ndarray of shape (n_features,)
        Non-negative radius per feature (0: immutable).
    lower, upper : ndarray of shape (n_features,)
        Bounds (``-inf``/``inf``: none). A row outside them keeps its own value
        reachable.
    integer : ndarray of bool, shape (n_features,)
        Integer features reach only integers: ``ceil(x - delta)`` ..
        ``floor(x + delta)``.
    direction : ndarray of int, shape (n_features,)
        ``1``: the feature can only increase; ``-1``: only decrease.

    Returns
    -------
    lo, hi : ndarray of shape (n_samples, n_features)
        ``lo <= X <= hi``, float64.
    """
    X = np.asarray(X, np.float64)
    lo, hi = X - delta, X + delta
    lo = np.where(integer, np.ceil(lo), lo)
    hi = np.where(integer, np.floor(hi), hi)
    lo = np.where(direction > 0, X, np.maximum(lo, lower))
    hi = np.where(direction < 0, X, np.minimum(hi, upper))
    return np.minimum(lo, X), np.maximum(hi, X)


class Bins(NamedTuple):
    """Candidate keys per feature, sorted float32 values padded with ``+inf``."""

    thresholds: np.ndarray  # (n_features, max_bins) float64
    n_bins: np.ndarray      # (n_features,) int: candidates of each feature


def make_bins(V, LO, HI, max_bins):
    """Candidate keys: float32 values halfway between neighbouring breakpoints.

    The breakpoints of a feature are its clean values and its box ends (all
    as the model sees them, float32): between two neighbours, every key sends
    the same rows surely left, surely right or either way, so one key per gap
    -- the float32 value at or just below its middle, which stays inside the
    gap -- represents them all. Past ``max_bins`` gaps, the keys are those at
    ``max_bins`` evenly spaced quantiles of the breakpoints (with
    multiplicity).

    Parameters
    ----------
    V, LO, HI : ndarray of shape (n_samples, n_features)
        Clean values and box ends of the rows that count (positive weight),
        float32 values held as float64.
    max_bins : int

    Returns
    -------
    Bins
    """
    d = V.shape[1]
    found = []
    for j in range(d):  # features: np.unique sorts one axis at a time
        points = np.concatenate([V[:, j], LO[:, j], HI[:, j]])
        values = np.unique(points)
        mids = _key((values[:-1] + values[1:]) / 2.0, 32)
        if len(mids) > max_bins:
            cdf = np.searchsorted(np.sort(points), mids, side="right") / len(points)
            levels = np.arange(1, max_bins + 1) / (max_bins + 1)
            mids = mids[np.unique(np.searchsorted(cdf, levels).clip(0, len(mids) - 1))]
        found.append(mids)
    n_bins = np.array([len(m) for m in found], np.intp)
    thresholds = np.full((d, max(1, n_bins.max(initial=0))), np.inf)
    for j, m in enumerate(found):
        thresholds[j, : len(m)] = m
    return Bins(thresholds, n_bins)


def bin_index(bins, values):
    """``#(T < v)`` per feature: the first candidate a value does not exceed."""
    V = _view(values, 32)
    out = np.empty(V.shape, np.int32)
    for j in range(V.shape[1]):  # features, not rows: searchsorted is per axis
        out[:, j] = np.searchsorted(bins.thresholds[j, : bins.n_bins[j]], V[:, j], "left")
    return out


def quantize(values, grid):
    """``values`` rounded to multiples of ``grid`` (a power of two), as float32 values.

    Sums of such values below ``2**24 * grid`` in magnitude are exact in
    float32 and float64 alike, so a model's float32 scores, XGBoost's and the
    tree readers' float64 ones agree bit for bit, and a nonzero score is never
    smaller than ``grid``.
    """
    return (np.round(np.asarray(values, np.float64) / grid) * grid).astype(np.float32)


# --------------------------------------------------------------------------
# split criteria
def _assignments(n_groups):
    """Candidate sides of the groups that may move (True: left), shape (C, G)."""
    if n_groups <= 4:
        return np.array(list(product([True, False], repeat=n_groups)), bool)
    eye = np.eye(n_groups, dtype=bool)
    return np.concatenate([np.ones((1, n_groups), bool), np.zeros((1, n_groups), bool),
                           eye, ~eye])


def _sides_ok(count_l, count_r, weight_l, weight_r, min_samples_leaf):
    return ((count_l >= min_samples_leaf) & (count_r >= min_samples_leaf)
            & (weight_l > 0) & (weight_r > 0))


class Gini:
    """Worst-case weighted Gini impurity (Brier loss of class-proportion leaves).

    Groups are classes; statistics per row: ``(weight, 1)``. A class-``k``
    row costs ``1 - 2 p_k + |p|^2`` in a leaf of class proportions ``p``.
    """

    n_stats = 2

    def __init__(self, n_classes):
        self.sigma = _assignments(n_classes)

    @staticmethod
    def objective(tot):
        """Loss of one leaf holding ``tot`` (groups, stats): weight times Gini."""
        w = tot[..., 0]
        n = w.sum(-1)
        return n - (w * w).sum(-1) / np.where(n > 0, n, 1.0)

    @staticmethod
    def stop(tot):
        return np.count_nonzero(tot[:, 0] > 0) < 2

    @staticmethod
    def leaf(tot):
        """Class proportions of a leaf (weights per class)."""
        w = tot[:, 0]
        return w / w.sum()

    def split(self, SL, SR, A, min_samples_leaf):
        """Worst-case loss ``J`` (m, B, C) and the worst side of each group (m, B, C, G)."""
        s = self.sigma[None, None]                                   # (1, 1, C, G)
        wSL, wSR, wA = (a[..., None, :, 0] for a in (SL, SR, A))     # (m, B, 1, G)
        L = wSL + s * wA
        R = wSR + ~s * wA
        loss_l = _brier(L)
        loss_r = _brier(R)
        left = (loss_l > loss_r) | ((loss_l == loss_r) & s)
        J = (wSL * loss_l + wSR * loss_r + wA * np.maximum(loss_l, loss_r)).sum(-1)
        cSL, cSR, cA = (a[..., None, :, 1] for a in (SL, SR, A))
        ok = _sides_ok((cSL + cA * left).sum(-1), (cSR + cA * ~left).sum(-1),
                       (wSL + wA * left).sum(-1), (wSR + wA * ~left).sum(-1),
                       min_samples_leaf)
        return np.where(ok, J, np.inf), left


def _brier(counts):
    """``1 - 2 p_k + |p|^2`` per class for class proportions ``p`` of ``counts``."""
    n = counts.sum(-1, keepdims=True)
    p = counts / np.where(n > 0, n, 1.0)
    return 1.0 - 2.0 * p + (p * p).sum(-1, keepdims=True)


class Newton:
    """Worst-case second-order boosting objective with L2-regularised leaves.

    Groups: rows with ``g < 0`` (hurt by the smaller leaf value) and ``g >= 0``
    (hurt by the larger); statistics per row: ``(g, h, 1)``. A leaf of value
    ``w`` costs ``G w + (H + l2) w^2 / 2``, at best ``-G^2 / (2 (H + l2))``
    with ``w = -G / (H + l2)``.
    """

    n_stats = 3

    def __init__(self, l2):
        self.l2 = float(l2)
        self.sigma = _assignments(2)

    def objective(self, tot):
        G, H = tot[..., 0].sum(-1), tot[..., 1].sum(-1)
        return -0.5 * G * G / (H + self.l2)

    @staticmethod
    def stop(tot):
        return False

    def leaf(self, tot):
        """Newton step ``-G / (H + l2)``."""
        return np.array([-tot[:, 0].sum() / (tot[:, 1].sum() + self.l2)])

    def split(self, SL, SR, A, min_samples_leaf):
        # Two groups: their terms are written out, not summed over an axis of
        # two (NumPy reduces such an axis several times slower); the sums are
        # in the same order, so the floats are the same.
        s0, s1 = self.sigma[:, 0], self.sigma[:, 1]                  # (C,)

        def groups(a, k):  # stat k of groups 0 and 1: (m, B, 1) each
            return a[..., None, 0, k], a[..., None, 1, k]

        (gL0, gL1), (gR0, gR1), (gA0, gA1) = (groups(a, 0) for a in (SL, SR, A))
        (hL0, hL1), (hR0, hR1), (hA0, hA1) = (groups(a, 1) for a in (SL, SR, A))
        l2 = self.l2

        def cost(g, h, w):
            return g * w + 0.5 * h * w * w

        # Without l2, an empty side divides by zero: its J is not finite, and
        # the split is rejected below.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            w_l = -((gL0 + s0 * gA0) + (gL1 + s1 * gA1)) / (
                (hL0 + s0 * hA0) + (hL1 + s1 * hA1) + l2)                  # (m, B, C)
            w_r = -((gR0 + ~s0 * gA0) + (gR1 + ~s1 * gA1)) / (
                (hR0 + ~s0 * hA0) + (hR1 + ~s1 * hA1) + l2)
            lo, hi = np.minimum(w_l, w_r), np.maximum(w_l, w_r)
            J = (cost(gL0 + gL1, hL0 + hL1, w_l) + cost(gR0 + gR1, hR0 + hR1, w_r)
                 + cost(gA0, hA0, lo) + cost(gA1, hA1, hi)
                 + 0.5 * l2 * (w_l * w_l + w_r * w_r))
        # Group 0 (g < 0) goes where the leaf is smaller, group 1 where it is larger.
        tie = w_l == w_r
        left0, left1 = (w_l < w_r) | (tie & s0), (w_l > w_r) | (tie & s1)
        (cL0, cL1), (cR0, cR1), (cA0, cA1) = (groups(a, 2) for a in (SL, SR, A))
        ok = _sides_ok((cL0 + cA0 * left0) + (cL1 + cA1 * left1),
                       (cR0 + cA0 * ~left0) + (cR1 + cA1 * ~left1),
                       (hL0 + hA0 * left0) + (hL1 + hA1 * left1) + l2,
                       (hR0 + hA0 * ~left0) + (hR1 + hA1 * ~left1) + l2,
                       min_samples_leaf) & np.isfinite(J)
        return np.where(ok, J, np.inf), np.stack([left0, left1], axis=-1)


# --------------------------------------------------------------------------
# growing one tree
class GrownTree(NamedTuple):
    """A fitted tree over candidate bins; siblings are consecutive nodes."""

    feature: np.ndarray  # (n_nodes,) int, -1 at leaves
    bin: np.ndarray      # (n_nodes,) int: the candidate split at
    left: np.ndarray     # (n_nodes,) int, -1 at leaves; right = left + 1
    right: np.ndarray    # (n_nodes,) int
    value: np.ndarray    # (n_nodes, n_values) float64: criterion.leaf at every node


def _cumulative(idx, rows, feats, n_bins, group, stats, n_groups):
    """``sum(stats)`` over the rows with ``idx <= b``, per (feature, candidate, group)."""
    m, bp = len(feats), n_bins + 1
    sub = idx[np.ix_(rows, feats)]                                   # (r, m)
    flat = ((np.arange(m) * bp + sub) * n_groups + group[rows, None]).ravel()
    size = m * bp * n_groups
    out = np.stack([np.bincount(flat, weights=np.repeat(stats[rows, s], m), minlength=size)
                    for s in range(stats.shape[1])], axis=-1)
    return np.cumsum(out.reshape(m, bp, n_groups, -1), axis=1)[:, :n_bins]


def grow_tree(lo_idx, hi_idx, rows, group, stats, bins, criterion, *, n_groups, max_depth,
              min_samples_leaf, max_features=None, rng=None):
    """Grow one tree greedily, each split of lowest worst-case loss.

    Parameters
    ----------
    lo_idx, hi_idx : ndarray of int, shape (n_samples, n_features)
        The rows' boxes as candidate indices (:func:`bin_index`); cut in place
        as rows go down (pass copies).
    rows : ndarray of int
        The rows the tree learns from.
    group : ndarray of int, shape (n_samples,)
        Each row's group (class, or gradient sign).
    stats : ndarray of shape (n_samples, criterion.n_stats)
        Per-row statistics, the last one the row count (1).
    bins : Bins
    criterion : Gini or Newton
    n_groups, max_depth, min_samples_leaf : int
    max_features : int, default=None
        Features drawn (without replacement) per node; None: all.
    rng : numpy.random.Generator, default=None
        Draws the features when ``max_features`` is given.

    Returns
    -------
    GrownTree
    """
    usable = np.flatnonzero(bins.n_bins > 0)
    width = bins.thresholds.shape[1]
    n_bins = np.asarray(bins.n_bins)
    feature, split_bin, left, right, value = [-1], [0], [-1], [-1], [None]
    stack = [(0, np.asarray(rows), 0)]
    while stack:
        node, r, depth = stack.pop()
        tot = np.zeros((n_groups, stats.shape[1]))
        np.add.at(tot, group[r], stats[r])
        value[node] = criterion.leaf(tot)
        if (depth >= max_depth or len(r) < 2 * min_samples_leaf or not usable.size
                or criterion.stop(tot)):
            continue
        feats = usable
        if max_features is not None and max_features < len(usable):
            feats = np.sort(rng.choice(usable, max_features, replace=False))
        SL = _cumulative(hi_idx, r, feats, width, group, stats, n_groups)
        NR = _cumulative(lo_idx, r, feats, width, group, stats, n_groups)
        SR, A = tot - NR, NR - SL
        J, goes_left = criterion.split(SL, SR, A, min_samples_leaf)
        J[np.arange(width)[None, :] >= n_bins[feats][:, None]] = np.inf
        best = np.unravel_index(np.argmin(J), J.shape)
        parent = criterion.objective(tot)
        if not parent - J[best] > 1e-9 * max(abs(parent), 1e-12):
            continue
        i, b, c = best
        f = feats[i]
        sure_l = hi_idx[r, f] <= b
        amb = ~sure_l & (lo_idx[r, f] <= b)
        to_left = sure_l | (amb & goes_left[i, b, c][group[r]])
        r_left, r_right = r[to_left], r[~to_left]
        hi_idx[r_left, f] = np.minimum(hi_idx[r_left, f], b)
        lo_idx[r_right, f] = np.maximum(lo_idx[r_right, f], b + 1)
        kid = len(feature)
        feature[node], split_bin[node], left[node], right[node] = f, b, kid, kid + 1
        feature += [-1, -1]
        split_bin += [0, 0]
        left += [-1, -1]
        right += [-1, -1]
        value += [None, None]
        stack.append((kid + 1, r_right, depth + 1))
        stack.append((kid, r_left, depth + 1))
    return GrownTree(np.asarray(feature, np.intp), np.asarray(split_bin, np.intp),
                     np.asarray(left, np.intp), np.asarray(right, np.intp),
                     np.stack(value).astype(np.float64))


def reach_extremes(tree, values, lo_idx, hi_idx):
    """Smallest and largest of ``values`` over the leaves each row's box reaches.

    Parameters
    ----------
    tree : GrownTree
    values : ndarray of shape (n_nodes,)
        A value per node (read at leaves).
    lo_idx, hi_idx : ndarray of int, shape (n_samples, n_features)
        The rows' full boxes (:func:`bin_index`).

    Returns
    -------
    low, high : ndarray of shape (n_samples,)
    """
    n = len(lo_idx)
    low, high = np.full(n, np.inf), np.full(n, -np.inf)
    stack = [(0, np.arange(n))]
    while stack:  # nodes, each with all the rows that can reach it
        node, r = stack.pop()
        if not r.size:
            continue
        f = tree.feature[node]
        if f < 0:
            low[r] = np.minimum(low[r], values[node])
            high[r] = np.maximum(high[r], values[node])
            continue
        b = tree.bin[node]
        stack.append((tree.left[node], r[lo_idx[r, f] <= b]))
        stack.append((tree.right[node], r[hi_idx[r, f] > b]))
    return low, high
