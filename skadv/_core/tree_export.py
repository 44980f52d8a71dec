"""An :class:`~skadv._core.trees.Ensemble` as XGBoost computes it: float32 scores, JSON model.

No scikit-learn and no XGBoost here: :func:`float32_scores` is the arithmetic
XGBoost's predictor does (the margin starts at the base score and each tree's
leaf is added in float32, tree after tree), and :func:`xgboost_json` writes
the model XGBoost loads with ``Booster.load_model``. XGBoost sends ``x`` left
when ``float32(x) < split``; an Ensemble key ``k`` (left iff ``float32(x) <=
k``, ``k`` a float32 value) becomes ``split = nextafter(k, +inf)`` in
float32, so both send every float32 value -- and hence every input -- the
same way.
"""

import numpy as np

__all__ = ["float32_scores", "xgboost_json"]


def float32_scores(ens, X, columns):
    """Class scores as XGBoost sums them: float32, offset first, then tree by tree.

    Parameters
    ----------
    ens : Ensemble
        Leaf values and offset hold float32 values.
    X : ndarray of shape (n_samples, n_features)
    columns : sequence of sequence of int
        The score columns each tree adds to (its other columns are 0).

    Returns
    -------
    scores : ndarray of shape (n_samples, n_classes), float32
    """
    leaves = ens.apply(X)
    scores = np.tile(np.asarray(ens.offset, np.float32), (len(leaves), 1))
    for t, cols in enumerate(columns):  # trees, in order: float32 addition is not associative
        value = np.asarray(ens.value[t], np.float32)[leaves[:, t]]
        for c in cols:
            scores[:, c] += value[:, c]
    return scores


def _bfs(feat, left, right):
    """Breadth-first order of one tree's nodes: XGBoost reads a right child at left + 1."""
    order, i = [0], 0
    while i < len(order):
        n = order[i]
        i += 1
        if feat[n] >= 0:
            order += [left[n], right[n]]
    return np.asarray(order)


def _xgb_tree(ens, t, column, tree_id):
    feat, key = np.asarray(ens.feature[t]), np.asarray(ens.threshold[t])
    left, right = np.asarray(ens.left[t]), np.asarray(ens.right[t])
    order = _bfs(feat, left, right)
    new = np.empty(len(feat), np.intp)
    new[order] = np.arange(len(order))
    f = feat[order]
    inner = f >= 0
    lc = np.where(inner, new[left[order]], -1)
    rc = np.where(inner, new[right[order]], -1)
    parents = np.full(len(order), 2147483647)
    parents[lc[inner]] = np.flatnonzero(inner)
    parents[rc[inner]] = np.flatnonzero(inner)
    split = np.nextafter(key[order].astype(np.float32), np.float32(np.inf))
    leaf = np.asarray(ens.value[t], np.float32)[order, column]
    cond = np.where(inner, split, leaf)
    # Cover: the leaves below each node, so children add up to their parent.
    cover = np.ones(len(order))
    for n in np.flatnonzero(inner)[::-1]:
        cover[n] = cover[lc[n]] + cover[rc[n]]
    n_nodes = len(order)
    return {
        "base_weights": [0.0] * n_nodes, "categories": [], "categories_nodes": [],
        "categories_segments": [], "categories_sizes": [],
        "default_left": [int(v) for v in inner], "id": tree_id,
        "left_children": [int(v) for v in lc], "loss_changes": [0.0] * n_nodes,
        "parents": [int(v) for v in parents], "right_children": [int(v) for v in rc],
        "split_conditions": [float(v) for v in cond],
        "split_indices": [int(v) for v in np.where(inner, f, 0)],
        "split_type": [0] * n_nodes, "sum_hessian": [float(v) for v in cover],
        "tree_param": {"num_deleted": "0", "num_feature": str(ens.n_features),
                       "num_nodes": str(n_nodes), "size_leaf_vector": "1"},
    }


def _stump(value, n_features, tree_id):
    return {
        "base_weights": [0.0], "categories": [], "categories_nodes": [],
        "categories_segments": [], "categories_sizes": [], "default_left": [0],
        "id": tree_id, "left_children": [-1], "loss_changes": [0.0],
        "parents": [2147483647], "right_children": [-1],
        "split_conditions": [float(np.float32(value))], "split_indices": [0],
        "split_type": [0], "sum_hessian": [1.0],
        "tree_param": {"num_deleted": "0", "num_feature": str(n_features), "num_nodes": "1",
                       "size_leaf_vector": "1"},
    }


def xgboost_json(ens, columns, version):
    """The XGBoost JSON model that predicts :func:`float32_scores` exactly.

    Binary models (scores in column 1, column 0 zero) become
    ``binary:logistic`` with base score 0.5 (a margin of exactly 0), so the
    margin is column 1 and ``predict`` gives ``sigmoid(margin)``; multiclass
    ones ``multi:softprob`` with base scores 0. The offset is a first round
    of one-leaf trees. Every round holds one tree per output (a tree of
    several columns becomes one XGBoost tree per column, in column order).

    Parameters
    ----------
    ens : Ensemble
    columns : sequence of sequence of int
        The score columns each tree adds to.
    version : tuple of int
        XGBoost's version: from 3.1 on, base scores are a vector.

    Returns
    -------
    model : dict
        For ``json.dumps`` and ``xgboost.Booster().load_model(bytearray(...))``.
    """
    n_classes = len(ens.offset)
    binary = n_classes == 2
    outputs = [1] if binary else list(range(n_classes))
    d = int(ens.n_features)
    trees, info = [], []
    for k, c in enumerate(outputs):
        trees.append(_stump(ens.offset[c], d, len(trees)))
        info.append(k)
    per = len(outputs)
    slot = {c: k for k, c in enumerate(outputs)}
    # (tree, column) pairs in order, packed into rounds of one tree per output
    # (each output's trees keep their order; a slot left empty is a zero tree).
    rounds = []
    for t, cols in enumerate(columns):
        for c in cols:
            if c not in slot:
                continue
            if not rounds or rounds[-1][slot[c]] is not None:
                rounds.append([None] * per)
            rounds[-1][slot[c]] = (t, c)
    for r in rounds:
        for k, pair in enumerate(r):
            trees.append(_stump(0.0, d, len(trees)) if pair is None
                         else _xgb_tree(ens, pair[0], pair[1], len(trees)))
            info.append(k)
    if tuple(version[:2]) >= (3, 1):
        base = "[" + ",".join(["5E-1"] if binary else ["0E0"] * n_classes) + "]"
    else:
        base = "5E-1" if binary else "0E0"
    objective = ({"name": "binary:logistic", "reg_loss_param": {"scale_pos_weight": "1"}}
                 if binary else {"name": "multi:softprob",
                                 "softmax_multiclass_param": {"num_class": str(n_classes)}})
    return {
        "learner": {
            "attributes": {}, "feature_names": [], "feature_types": [],
            "gradient_booster": {
                "model": {
                    "gbtree_model_param": {"num_parallel_tree": "1",
                                           "num_trees": str(len(trees))},
                    "iteration_indptr": list(range(0, len(trees) + 1, per)),
                    "tree_info": info, "trees": trees},
                "name": "gbtree"},
            "learner_model_param": {"base_score": base, "boost_from_average": "0",
                                    "num_class": "0" if binary else str(n_classes),
                                    "num_feature": str(d), "num_target": "1"},
            "objective": objective},
        "version": [int(v) for v in version[:3]],
    }
