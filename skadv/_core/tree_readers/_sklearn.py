"""Readers of scikit-learn's trees and forests, gradient boosting and HistGradientBoosting
(categorical splits, missing-value directions).

The arrays (``tree_``, the predictor nodes) are read as they are; scikit-learn
itself is never imported."""

import numpy as np

from ...exceptions import UnsupportedModelError
from ..trees import _key
from ._common import (_Tree, _allows_nan, _binary, _class_column, _ensemble, _first_wins, _is)

def _sklearn_tree(est, value):
    t = est.tree_
    feat = np.asarray(t.feature, np.intp)
    miss = getattr(t, "missing_go_to_left", None)
    miss = np.zeros(len(feat), bool) if miss is None else np.asarray(miss, bool)
    return _Tree(feat, _key(np.asarray(t.threshold, np.float64), 32), t.children_left,
                 t.children_right, value, miss)


def _read_sklearn(model):
    n_classes = len(model.classes_)
    nan = _allows_nan(model)
    d = model.n_features_in_
    if _is(model, "sklearn", "DecisionTreeClassifier"):
        trees = [_sklearn_tree(model, model.tree_.value[:, 0, :n_classes])]
        return _ensemble(trees, np.zeros(n_classes), _first_wins(n_classes), precision=32,
                         nan=nan, n_features=d)
    if _is(model, "sklearn", "RandomForestClassifier", "ExtraTreesClassifier"):
        trees = [_sklearn_tree(t, t.tree_.value[:, 0, :n_classes]) for t in model.estimators_]
        return _ensemble(trees, np.zeros(n_classes), _first_wins(n_classes), precision=32,
                         nan=nan, n_features=d)
    # GradientBoostingClassifier
    init = model.init_
    if not (init == "zero" or _is(init, "sklearn", "DummyClassifier")):
        raise UnsupportedModelError(
            "GradientBoostingClassifier with a custom init estimator is not a pure tree "
            "ensemble; use skadv.attacks.HopSkipJumpAttack or SquareAttack.")
    lr = model.learning_rate
    stages = model.estimators_
    K = stages.shape[1]
    trees = [_sklearn_tree(reg, _class_column(lr * reg.tree_.value[:, 0, 0],
                                              k if K > 1 else 1, n_classes))
             for stage in stages for k, reg in enumerate(stage)]
    # The init estimator's raw score is a constant: read it off one row.
    zero = np.zeros((1, d))
    raw = np.atleast_1d(np.asarray(model.decision_function(zero), np.float64).ravel())
    partial = _ensemble(trees, np.zeros(n_classes), _first_wins(n_classes), precision=32,
                        nan=False, n_features=d)
    tree_sum = partial.scores(zero)[0]
    offset = np.zeros(n_classes)
    if K > 1:
        offset[:] = raw - tree_sum
        ties = _first_wins(n_classes)
    else:
        offset[1] = raw[0] - tree_sum[1]
        ties = _binary(True)  # predict is classes_[raw >= 0]
    return partial._replace(offset=offset, tie_wins=ties)


def _bitset(words, i):
    i = np.asarray(i, np.intp)
    return (np.asarray(words, np.uint32)[i // 32] >> (i % 32).astype(np.uint32)) & 1 == 1


def _category_piece(cats, left_bits, known_bits, missing_left):
    """HistGradientBoosting's categorical split on raw values: category ``cats[i]``
    (matched exactly, as its OrdinalEncoder does) goes left if bit ``i`` of the
    node's bitset is set, right if the category is known, else -- unknown
    values and NaN -- the missing way."""
    cats = np.asarray(cats)
    if cats.dtype.kind not in "biuf":
        raise UnsupportedModelError(
            "HistGradientBoostingClassifier has non-numeric categorical features; the tree "
            "readers represent a category by its numeric value. Encode the categories as "
            "numbers before fitting (e.g. OrdinalEncoder), or attack the model with "
            "skadv.attacks.HopSkipJumpAttack or SquareAttack.")
    cats = cats.astype(np.float64)
    codes = np.flatnonzero(~np.isnan(cats))
    vals = cats[codes]
    goes = np.where(_bitset(left_bits, codes), True,
                    np.where(_bitset(known_bits, codes), False, missing_left))
    breaks, dirs = [], [missing_left]
    for c, g in zip(vals, goes):  # (prev(c), c] holds c alone, in double
        breaks += [np.nextafter(c, -np.inf), c]
        dirs += [g, missing_left]
    return breaks, dirs, missing_left


def _read_hist_gradient_boosting(model):
    n_classes = len(model.classes_)
    d = model.n_features_in_
    is_cat = getattr(model, "is_categorical_", None)
    if is_cat is not None and np.any(is_cat):
        is_cat = np.asarray(is_cat, bool)
        # Its preprocessor moves the categorical columns first.
        order = np.r_[np.flatnonzero(is_cat), np.flatnonzero(~is_cat)]
        cats = model._preprocessor.named_transformers_["encoder"].categories_
        known, f_idx = model._bin_mapper.make_known_categories_bitsets()
    else:
        order = np.arange(d)
    K = 1 if n_classes == 2 else n_classes
    trees = []
    for predictors in model._predictors:
        for k, pred in enumerate(predictors):
            nodes = pred.nodes
            leaf = nodes["is_leaf"].astype(bool)
            feat = np.where(leaf, -1, order[nodes["feature_idx"]])
            miss = nodes["missing_go_to_left"].astype(bool)
            pieces = {}
            for n in np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf):
                f = nodes["feature_idx"][n]
                pieces[n] = _category_piece(cats[f], pred.raw_left_cat_bitsets[
                    nodes["bitset_idx"][n]], known[f_idx[f]], bool(miss[n]))
            trees.append(_Tree(
                feat, np.asarray(nodes["num_threshold"], np.float64),
                np.where(leaf, -1, nodes["left"].astype(np.intp)),
                np.where(leaf, -1, nodes["right"].astype(np.intp)),
                _class_column(nodes["value"], k if K > 1 else 1, n_classes), miss, pieces))
    offset = np.zeros(n_classes)
    base = np.asarray(model._baseline_prediction, np.float64).ravel()
    if K > 1:
        offset[:] = base
        ties = _first_wins(n_classes)
    else:
        offset[1] = base[0]
        ties = _binary(False)  # predict is classes_[raw > 0]
    return _ensemble(trees, offset, ties, precision=64, nan=True, n_features=d)
