"""Pure core of robust tree training: trees, forests and boosting as :class:`Ensemble` s.

No scikit-learn here: :mod:`skadv.defenses.robust_trees` validates the
data and parameters, resolves the perturbation box of every row and calls
:func:`fit_trees` or :func:`fit_boosting`; the split search is
:func:`skadv._core.robust_split.grow_tree`.

Scores. Every leaf value (and the boosting offset) is rounded to a power of
two ``grid`` chosen so that the largest possible score stays below ``2**24 *
grid`` (:func:`~skadv._core.robust_split.quantize`): every partial sum is then
exact in float32 and float64 alike, so the estimators' scores, the tree
attacks' and the exported XGBoost model's are the same numbers, in any order
of addition. Binary models keep class 0's column at zero and put the margin
in class 1's column, as XGBoost does.

Boosting. Each round fits the second-order expansion of the log-loss at every
row's *worst-case* scores so far: the true class's lowest and every other
class's highest score over the leaves its box reaches in each earlier tree
(:func:`~skadv._core.robust_split.reach_extremes`). Summing the per-tree
extremes bounds the ensemble's worst case (Andriushchenko & Hein, 2019), so
the rounds concentrate on the rows an attacker can still flip.
"""

from typing import NamedTuple

import numpy as np

from .robust_split import (
    Gini,
    Newton,
    bin_index,
    grow_tree,
    make_bins,
    quantize,
    reach_extremes,
)
from .trees import Ensemble, _view

__all__ = ["Boxes", "first_wins", "fit_boosting", "fit_trees", "prepare_boxes", "score_grid"]

# Boosting leaves (and the offset) are clipped to this magnitude: a logit of
# 16 is a probability of 1 - 1e-7, and the bound fixes the score grid up front.
_MAX_LEAF = 16.0


class Boxes(NamedTuple):
    """The candidate keys and every training row's box as candidate indices."""

    bins: object          # Bins
    lo_idx: np.ndarray    # (n_samples, n_features) int32: #(T < lo)
    hi_idx: np.ndarray    # (n_samples, n_features) int32: #(T < hi)


def prepare_boxes(lo, hi, X, weight, max_bins):
    """Candidate keys from the rows of positive weight, and all rows' boxes as indices.

    Parameters
    ----------
    lo, hi : ndarray of shape (n_samples, n_features)
        Box ends (:func:`~skadv._core.robust_split.perturbation_box`).
    X : ndarray of shape (n_samples, n_features)
    weight : ndarray of shape (n_samples,)
    max_bins : int

    Returns
    -------
    Boxes
    """
    keep = weight > 0
    bins = make_bins(_view(X[keep], 32), _view(lo[keep], 32), _view(hi[keep], 32), max_bins)
    return Boxes(bins, bin_index(bins, lo), bin_index(bins, hi))


def score_grid(max_score):
    """The power of two below which no score of magnitude ``<= max_score`` loses bits."""
    return float(2.0 ** np.ceil(np.log2(max(max_score, 1.0) / 2.0 ** 24)))


def _as_nodes(tree, bins, values):
    """One GrownTree's arrays in Ensemble form (keys, a value row per node)."""
    inner = tree.feature >= 0
    f = np.where(inner, tree.feature, 0)
    key = np.where(inner, bins.thresholds[f, tree.bin], 0.0)
    return tree.feature, key, tree.left, tree.right, values


def _ensemble(parts, offset, tie_wins, n_features):
    feature, key, left, right, value = (tuple(p[i] for p in parts) for i in range(5))
    return Ensemble(feature, key, left, right, value, np.asarray(offset, np.float64),
                    tie_wins, precision=32, missing_left=None, n_features=int(n_features))


def first_wins(n_classes):
    """Tie rule of an argmax: at equal scores the lower class index wins."""
    return np.triu(np.ones((n_classes, n_classes), bool), 1)


def fit_trees(boxes, y, weight, *, n_classes, n_estimators, max_depth, min_samples_leaf,
              max_features, bootstrap, seeds, n_jobs=None):
    """Robust Gini trees, averaged: one tree or a random forest.

    Parameters
    ----------
    boxes : Boxes
    y : ndarray of int, shape (n_samples,)
        Class indices.
    weight : ndarray of shape (n_samples,)
    n_classes, n_estimators, max_depth, min_samples_leaf : int
    max_features : int or None
        Features drawn per split.
    bootstrap : bool
        Each tree learns from a bootstrap sample (as multiplicities of ``weight``).
    seeds : sequence of int
        One seed per tree (its bootstrap and feature draws).
    n_jobs : int, default=None
        Trees grown in parallel threads.

    Returns
    -------
    ensemble : Ensemble
        Class scores: the mean of the leaves' class proportions (binary: the
        mean of ``p1 - p0`` in class 1's column), on the score grid.
    columns : list of list of int
        The score columns each tree adds to.
    """
    from joblib import Parallel, delayed

    n = len(y)
    binary = n_classes == 2
    grid = score_grid(2.0)
    criterion = Gini(n_classes)

    def one(seed):
        rng = np.random.default_rng(seed)
        w = weight * (rng.multinomial(n, np.full(n, 1.0 / n)) if bootstrap else 1.0)
        rows = np.flatnonzero(w > 0)
        stats = np.stack([w, np.ones(n)], axis=1)
        tree = grow_tree(boxes.lo_idx.copy(), boxes.hi_idx.copy(), rows, y, stats, boxes.bins,
                         criterion, n_groups=n_classes, max_depth=max_depth,
                         min_samples_leaf=min_samples_leaf, max_features=max_features,
                         rng=rng)
        p = tree.value / n_estimators
        if binary:
            p = np.stack([np.zeros(len(p)), p[:, 1] - p[:, 0]], axis=1)
        return _as_nodes(tree, boxes.bins, quantize(p, grid).astype(np.float64))

    parts = Parallel(n_jobs=n_jobs, prefer="threads")(delayed(one)(s) for s in seeds)
    columns = [[1] if binary else list(range(n_classes))] * len(parts)
    ens = _ensemble(parts, np.zeros(n_classes), first_wins(n_classes), boxes.lo_idx.shape[1])
    return ens, columns


def _worst_gradients(y, low, high, weight, binary):
    """Log-loss gradient and Hessian at every row's worst-case scores (n, K)."""
    if binary:
        s = np.where(y == 1, 1.0, -1.0)
        margin = s * np.where(y == 1, low[:, 1], high[:, 1])
        p = 0.5 * (1.0 + np.tanh(-0.5 * margin))        # sigmoid(-margin), stable
        g = (-s * p)[:, None]
        h = (p * (1.0 - p))[:, None]
    else:
        onehot = np.eye(low.shape[1], dtype=bool)[y]
        worst = np.where(onehot, low, high)
        z = worst - worst.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = p - onehot
        h = p * (1.0 - p)
    return g * weight[:, None], np.maximum(h, 1e-16) * weight[:, None]


def fit_boosting(boxes, y, weight, *, n_classes, n_estimators, learning_rate, max_depth,
                 min_samples_leaf, l2_regularization, n_jobs=None):
    """Robust gradient boosting of the log-loss (one tree per class and round; binary: one).

    Parameters
    ----------
    boxes : Boxes
    y : ndarray of int, shape (n_samples,)
        Class indices.
    weight : ndarray of shape (n_samples,)
    n_classes, n_estimators, max_depth, min_samples_leaf : int
    learning_rate, l2_regularization : float
    n_jobs : int, default=None
        A round's class trees grown in parallel threads.

    Returns
    -------
    ensemble : Ensemble
        Class scores are the boosted margins (binary: class 1's column).
    columns : list of list of int
        The score column each tree adds to.
    """
    from joblib import Parallel, delayed

    binary = n_classes == 2
    outputs = [1] if binary else list(range(n_classes))
    n_trees = n_estimators * len(outputs)
    grid = score_grid(_MAX_LEAF * (n_trees + 1))
    total = weight.sum()
    prior = np.bincount(y, weights=weight, minlength=n_classes) / total
    prior = np.clip(prior, 1e-12, None)
    if binary:
        offset = np.array([0.0, np.log(prior[1] / prior[0])])
    else:
        offset = np.log(prior) - np.log(prior).mean()
    offset = quantize(np.clip(offset, -_MAX_LEAF, _MAX_LEAF), grid).astype(np.float64)
    n = len(y)
    low = np.tile(offset, (n, 1))
    high = low.copy()
    criterion = Newton(l2_regularization)
    rows = np.flatnonzero(weight > 0)
    parts, columns = [], []

    def one(g, h, c):
        group = (g >= 0).astype(np.intp)
        stats = np.stack([g, h, np.ones(n)], axis=1)
        tree = grow_tree(boxes.lo_idx.copy(), boxes.hi_idx.copy(), rows, group, stats,
                         boxes.bins, criterion, n_groups=2, max_depth=max_depth,
                         min_samples_leaf=min_samples_leaf)
        leaf = np.clip(learning_rate * tree.value[:, 0], -_MAX_LEAF, _MAX_LEAF)
        leaf = quantize(leaf, grid).astype(np.float64)
        lo_c, hi_c = reach_extremes(tree, leaf, boxes.lo_idx, boxes.hi_idx)
        values = np.zeros((len(leaf), n_classes))
        values[:, c] = leaf
        return _as_nodes(tree, boxes.bins, values), lo_c, hi_c

    with Parallel(n_jobs=n_jobs, prefer="threads") as parallel:
        for _ in range(n_estimators):
            g, h = _worst_gradients(y, low, high, weight, binary)
            grown = parallel(delayed(one)(g[:, k], h[:, k], c) for k, c in enumerate(outputs))
            for c, (nodes, lo_c, hi_c) in zip(outputs, grown):
                parts.append(nodes)
                columns.append([c])
                low[:, c] += lo_c
                high[:, c] += hi_c
    tie = first_wins(n_classes)
    return _ensemble(parts, offset, tie, boxes.lo_idx.shape[1]), columns
