"""Readers of fitted tree ensembles, of every supported library, into one :class:`Ensemble`.

No scikit-learn here, and none of XGBoost, LightGBM or CatBoost either: a
model is recognised by the module and name of the classes in its MRO and read
through its own public methods (``save_raw``, ``dump_model``,
``save_model(format="json")``) or arrays (``tree_``, HistGradientBoosting's
predictor nodes), so skadv needs a library only when handed one of its models.

Each library compares differently; :func:`read_ensemble` canonicalises every
split into the key of :mod:`skadv._core.trees` (left iff ``v(x) <= key``):

============================  ========================  =========  =====================
library                       goes left iff             precision  key
============================  ========================  =========  =====================
scikit-learn trees, GB        ``float32(x) <= t``       32         largest float32 <= t
HistGradientBoosting          ``x <= t``                64         t
XGBoost                       ``float32(x) < t``        32         float32 before t
LightGBM                      ``x <= t``                64         t
CatBoost                      not ``float32(x) > t``    32         t (a float32)
============================  ========================  =========  =====================

LightGBM's predict also reads every ``|x| <= 1e-35`` as 0.0 (its sparse row
format drops such values): a threshold inside that band moves to its edge.
Missing values (NaN) follow each node's default direction (``missing_left``);
LightGBM's ``zero_as_missing`` bands and HistGradientBoosting's categorical
splits (a set of category values goes left, unknown ones the missing way) are
unions of intervals, which become small chains of key nodes with copies of
the subtrees below them. Class scores are the library's raw scores, and
``tie_wins`` is its rule at a tie (XGBoost's ``prob > 0.5``, LightGBM's and
HistGradientBoosting's ``argmax`` of probabilities, scikit-learn GB's
``raw >= 0`` ...).
"""

import json
import os
import tempfile
import warnings

import numpy as np

from ..exceptions import UnsupportedModelError
from .trees import Ensemble, _key, _view

__all__ = ["check_rows", "read_ensemble", "xgboost_dump"]

_EXTRA = 'pip install "skadv[trees]"'
_MAX_NODES = 1 << 20
# LightGBM's kZeroThreshold (a float): its predict reads |x| <= it as 0.0.
_LGB_ZERO = float(np.float32(1e-35))

_SUPPORTED = (
    "scikit-learn's DecisionTreeClassifier, ExtraTreeClassifier, RandomForestClassifier, "
    "ExtraTreesClassifier, GradientBoostingClassifier and HistGradientBoostingClassifier "
    "(also in a Pipeline after StandardScaler, MinMaxScaler, MaxAbsScaler or RobustScaler), "
    "xgboost's XGBClassifier and Booster (or a saved JSON model, or a JSON dump), "
    "lightgbm's LGBMClassifier and Booster, and catboost's CatBoostClassifier")


def _unsupported(model, why=""):
    return UnsupportedModelError(
        f"{type(model).__name__} is not a supported tree ensemble{why}. The tree readers "
        f"take a fitted classifier with one output: {_SUPPORTED} ({_EXTRA} installs the "
        "three boosting libraries). For any other model use skadv.attacks.HopSkipJumpAttack "
        "or SquareAttack.")


def _classes(model):
    """``{(root module, class name)}`` over the MRO: duck typing without imports."""
    return {(c.__module__.split(".")[0], c.__name__) for c in type(model).__mro__}


def _is(model, library, *names):
    found = _classes(model)
    return any((library, n) in found for n in names)


# --------------------------------------------------------------------------
# tie rules
def _first_wins(n_classes):
    """``argmax``: the lower class index wins a tie."""
    i = np.arange(n_classes)
    return np.less.outer(i, i)


def _binary(class1_wins_tie):
    ties = np.zeros((2, 2), dtype=bool)
    ties[1, 0] = class1_wins_tie
    ties[0, 1] = not class1_wins_tie
    return ties


# --------------------------------------------------------------------------
# building trees
class _Tree:
    """Arrays of one tree: ``feature`` (< 0 at leaves), keys, children, leaf
    values, where NaN goes. ``pieces`` maps a node to a piecewise split
    ``(breaks, goes_left, nan_left)``: regions ``(breaks[i-1], breaks[i]]`` of
    ``v(x)`` (open-ended at both ends) go left where ``goes_left[i]``."""

    def __init__(self, feature, key, left, right, value, missing, pieces=None):
        self.feature = np.asarray(feature, np.intp)
        self.key = np.asarray(key, np.float64)
        self.left = np.asarray(left, np.intp)
        self.right = np.asarray(right, np.intp)
        self.value = np.asarray(value, np.float64)
        self.missing = np.asarray(missing, bool)
        self.pieces = pieces or {}

    def expanded(self):
        """The tree with every piecewise split unrolled into key nodes."""
        if not self.pieces:
            return self
        feat, key, left, right, value, miss = [], [], [], [], [], []
        zero = np.zeros(self.value.shape[1])

        def add(f, k, m, v=zero):
            if len(feat) >= _MAX_NODES:
                raise ValueError(
                    f"A tree grows past {_MAX_NODES} nodes once its categorical / missing-"
                    "value splits are unrolled into threshold nodes; the tree readers "
                    "cannot represent it. Use fewer categories (or one-hot encode them).")
            feat.append(f)
            key.append(k)
            left.append(-1)
            right.append(-1)
            value.append(v)
            miss.append(m)
            return len(feat) - 1

        def emit(n):
            f = self.feature[n]
            if f < 0:
                return add(-1, 0.0, False, self.value[n])
            if n in self.pieces:
                breaks, goes, nan_left = self.pieces[n]
                return chain(f, list(breaks), list(goes), nan_left,
                             lambda: emit(self.left[n]), lambda: emit(self.right[n]))
            i = add(f, self.key[n], self.missing[n])
            left[i] = emit(self.left[n])
            right[i] = emit(self.right[n])
            return i

        def chain(f, breaks, goes, nan_left, make_left, make_right):
            # Merge neighbouring regions that go the same way.
            b, g = [], [goes[0]]
            for k, d in zip(breaks, goes[1:]):
                if d != g[-1]:
                    b.append(k)
                    g.append(d)
            if nan_left not in g:
                # Every finite value goes one way, NaN the other: an infinite key
                # (+inf: all finite values left; -inf: all right).
                i = add(f, -np.inf if nan_left else np.inf, nan_left)
                left[i] = make_left()
                right[i] = make_right()
                return i
            return part(f, b, g, nan_left, make_left, make_right)

        def part(f, b, g, nan_left, make_left, make_right):
            if not b:
                return make_left() if g[0] else make_right()
            mid = len(b) // 2
            # NaN walks towards a region that sends it the right way.
            i = add(f, b[mid], nan_left in g[: mid + 1])
            left[i] = part(f, b[:mid], g[: mid + 1], nan_left, make_left, make_right)
            right[i] = part(f, b[mid + 1:], g[mid + 1:], nan_left, make_left, make_right)
            return i

        emit(0)
        return _Tree(feat, key, left, right, value, miss)


def _reachable(tree):
    """The tree without nodes its root cannot reach (XGBoost keeps deleted ones),
    numbered breadth first."""
    order, seen = [0], np.zeros(len(tree.feature), bool)
    seen[0] = True
    i = 0
    while i < len(order):
        n = order[i]
        i += 1
        if tree.feature[n] >= 0:
            for c in (tree.left[n], tree.right[n]):
                if not seen[c]:
                    seen[c] = True
                    order.append(c)
    # Renumbered breadth first: parents precede their children.
    order = np.asarray(order)
    if np.array_equal(order, np.arange(len(tree.feature))):
        return tree
    new = np.full(len(tree.feature), -1, np.intp)
    new[order] = np.arange(len(order))
    inner = tree.feature[order] >= 0
    return _Tree(tree.feature[order], tree.key[order],
                 np.where(inner, new[tree.left[order]], -1),
                 np.where(inner, new[tree.right[order]], -1), tree.value[order],
                 tree.missing[order])


def _ensemble(trees, offset, tie_wins, *, precision, nan, n_features):
    trees = [_reachable(t.expanded()) for t in trees]
    return Ensemble(
        feature=tuple(t.feature for t in trees), threshold=tuple(t.key for t in trees),
        left=tuple(t.left for t in trees), right=tuple(t.right for t in trees),
        value=tuple(t.value for t in trees), offset=np.asarray(offset, np.float64),
        tie_wins=np.asarray(tie_wins, bool), precision=precision,
        missing_left=tuple(t.missing for t in trees) if nan else None,
        n_features=None if n_features is None else int(n_features))


def _from_nested(root, n_classes, split, leaf):
    """Flatten a tree of nested nodes: ``split(node)`` gives ``None`` for a leaf,
    else ``(feature, key, missing_left, left_node, right_node, piece)``;
    ``leaf(node)`` the leaf's value vector."""
    feat, key, left, right, value, miss, pieces = [], [], [], [], [], [], {}
    stack = [(root, -1, False)]
    while stack:
        node, parent, is_left = stack.pop()
        i = len(feat)
        if parent >= 0:
            (left if is_left else right)[parent] = i
        s = split(node)
        left.append(-1)
        right.append(-1)
        if s is None:
            feat.append(-1)
            key.append(0.0)
            miss.append(False)
            value.append(leaf(node))
            continue
        f, k, m, lo, hi, piece = s
        feat.append(f)
        key.append(k)
        miss.append(m)
        value.append(np.zeros(n_classes))
        if piece is not None:
            pieces[i] = piece
        stack.append((hi, i, False))
        stack.append((lo, i, True))
    return _Tree(feat, key, left, right, np.reshape(value, (-1, n_classes)), miss, pieces)


def _class_column(values, k, n_classes):
    """Leaf values of a one-output tree placed in class column ``k``."""
    v = np.zeros((len(values), n_classes))
    v[:, k] = values
    return v


# --------------------------------------------------------------------------
# scikit-learn
def _allows_nan(model):
    try:
        return bool(model.__sklearn_tags__().input_tags.allow_nan)
    except AttributeError:
        return False


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


# --------------------------------------------------------------------------
# XGBoost
_XGB_BINARY = ("binary:logistic", "binary:logitraw", "binary:hinge", "reg:logistic")
_XGB_MULTI = ("multi:softprob", "multi:softmax")


def _xgb_numbers(text):
    return np.array(json.loads(text) if str(text).lstrip().startswith("[") else [text],
                    np.float64).ravel()


def _xgb_tree(t, n_classes, column, weight):
    left = np.asarray(t["left_children"], np.intp)
    if any(int(s) != 0 for s in t.get("split_type", ())):
        raise UnsupportedModelError(
            "This XGBoost model has categorical splits (enable_categorical=True), which the "
            "tree readers do not represent; one-hot encode the categories (a Pipeline with "
            "OneHotEncoder), or use skadv.attacks.HopSkipJumpAttack or SquareAttack.")
    if int(t.get("tree_param", {}).get("size_leaf_vector", "1")) > 1:
        raise UnsupportedModelError("XGBoost models with vector leaves (multi_strategy="
                        "'multi_output_tree') are not supported by the tree readers.")
    cond = np.asarray(t["split_conditions"], np.float64).astype(np.float32)
    leaf = left < 0
    # float32(x) < split  <=>  float32(x) <= the float32 just below split.
    key = np.where(leaf, 0.0, np.nextafter(cond, np.float32(-np.inf)).astype(np.float64))
    value = _class_column(np.where(leaf, cond.astype(np.float64) * weight, 0.0), column,
                          n_classes)
    return _Tree(np.where(leaf, -1, np.asarray(t["split_indices"], np.intp)), key, left,
                 np.asarray(t["right_children"], np.intp), value,
                 np.asarray(t["default_left"], bool))


def _xgb_margin(objective, base_score):
    """XGBoost's base margin from its stored ``base_score`` (a probability for
    the logistic objectives, a margin otherwise)."""
    b = np.asarray(base_score, np.float64)
    if objective in ("binary:logistic", "reg:logistic"):
        p = b.astype(np.float32)
        b = (-np.log(np.float32(1.0) / p - np.float32(1.0))).astype(np.float64)
    return b


def _xgb_rules(objective, n_classes, margin):
    """Offset and tie rule of XGBClassifier.predict for ``objective``."""
    offset = np.zeros(n_classes)
    if objective in _XGB_MULTI:
        offset[:] = np.broadcast_to(margin, (n_classes,))
        return offset, _first_wins(n_classes)
    # predict: class 1 iff the output (probability, raw margin or 0/1) > 0.5.
    offset[1] = float(margin[0]) - (0.5 if objective == "binary:logitraw" else 0.0)
    return offset, _binary(False)


def _read_xgboost_json(model, iteration_end=None):
    learner = model["learner"]
    objective = learner["objective"]["name"]
    param = learner["learner_model_param"]
    if int(param.get("num_target", "1")) > 1:
        raise UnsupportedModelError("This XGBoost model has several targets (multi-output); the tree "
                        "readers take one output.")
    if objective not in _XGB_BINARY + _XGB_MULTI:
        raise UnsupportedModelError(
            f"This XGBoost model's objective {objective!r} is not a classification "
            f"objective; the tree readers take {list(_XGB_BINARY + _XGB_MULTI)}.")
    n_classes = max(int(param.get("num_class", "0")), 2)
    booster = learner["gradient_booster"]
    weights = None
    if booster["name"] == "dart":
        weights = np.asarray(booster.get("weight_drop", []), np.float64)
        booster = booster["gbtree"]
    elif booster["name"] != "gbtree":
        raise UnsupportedModelError(f"XGBoost's {booster['name']!r} booster is not a tree ensemble.")
    m = booster["model"]
    trees, info = m["trees"], np.asarray(m["tree_info"], np.intp)
    if iteration_end is not None:
        indptr = m.get("iteration_indptr")
        if indptr is None:
            per = int(m["gbtree_model_param"].get("num_parallel_tree", "1")) * (
                n_classes if n_classes > 2 else 1)
            indptr = np.arange(len(trees) // per + 1) * per
        trees = trees[: int(indptr[iteration_end])]
    if weights is None or len(weights) < len(trees):
        weights = np.ones(len(trees))
    binary = n_classes == 2
    out = [_xgb_tree(t, n_classes, 1 if binary else info[i], weights[i])
           for i, t in enumerate(trees)]
    offset, ties = _xgb_rules(objective, n_classes,
                              _xgb_margin(objective, _xgb_numbers(param["base_score"])))
    return _ensemble(out, offset, ties, precision=32, nan=True,
                     n_features=int(param.get("num_feature", 0)) or None)


def _read_xgboost(model):
    classifier = _is(model, "xgboost", "XGBModel")
    if classifier:
        if not hasattr(model, "classes_"):
            raise _unsupported(model, " (an XGBoost regressor or ranker)")
        missing = model.get_params().get("missing", np.nan)
        if missing is not None and not np.isnan(missing):
            raise ValueError(
                f"XGBClassifier(missing={missing!r}) treats that value as missing, which "
                "the tree readers do not represent; refit with missing=np.nan.")
        booster = model.get_booster()
    else:
        booster = model
    if not hasattr(booster, "save_raw"):
        raise UnsupportedModelError(f"This XGBoost object has no save_raw; the tree readers need "
                        f"xgboost >= 2.0 ({_EXTRA}).")
    end = None
    if classifier:
        try:  # predict uses the best iteration after early stopping
            end = int(model.best_iteration) + 1
        except (AttributeError, TypeError, ValueError):
            end = None
    return _read_xgboost_json(json.loads(bytes(booster.save_raw(raw_format="json"))), end)


def xgboost_dump(dump, *, n_classes=2, base_margin=0.0, objective="binary:logistic",
                 n_features=None):
    """Read an XGBoost ``dump_model(..., dump_format="json")`` dump.

    A dump holds only the trees: the base margin, the number of classes and the
    objective must be given (the published peer models are binary:logistic with
    base_score 0.5, i.e. margin 0). Node values are float32, as XGBoost printed them.

    Parameters
    ----------
    dump : str, path-like, or list of dict or of str
        A path of the JSON file, its parsed list, or ``Booster.get_dump(
        dump_format="json")``'s list of strings.
    n_classes : int, default=2
        With more than 2, tree ``i`` belongs to class ``i % n_classes``.
    base_margin : float or array-like of shape (n_classes,), default=0.0
        Margins added to the trees' sums (XGBoost's base_score in margin units).
    objective : str, default="binary:logistic"
        Sets the tie rule (see :func:`read_ensemble`).
    n_features : int, default=None
        Features the model takes (None: one past the largest index used).

    Returns
    -------
    Ensemble

    Examples
    --------
    >>> from skadv._core.tree_readers import xgboost_dump
    >>> dump = [{"nodeid": 0, "split": "f0", "split_condition": 0.5, "yes": 1, "no": 2,
    ...          "missing": 1, "children": [{"nodeid": 1, "leaf": -1.0},
    ...                                     {"nodeid": 2, "leaf": 1.0}]}]
    >>> ens = xgboost_dump(dump)
    >>> ens.predict([[0.49999997], [0.5]]).tolist()  # float32(x) < 0.5 goes left
    [0, 1]
    """
    if isinstance(dump, (str, os.PathLike)):
        with open(dump) as fh:
            dump = json.load(fh)
    dump = [json.loads(t) if isinstance(t, str) else t for t in dump]
    if objective not in _XGB_BINARY + _XGB_MULTI:
        raise ValueError(f"objective must be one of {list(_XGB_BINARY + _XGB_MULTI)}. Got "
                         f"{objective!r} instead.")
    binary = n_classes == 2

    def feature(node):
        s = node["split"]
        if isinstance(s, str):
            if not (s[:1] == "f" and s[1:].isdigit()):
                raise ValueError(
                    f"The dump names feature {s!r}; the reader needs indices ('f3' or 3). "
                    "Dump without a feature map.")
            s = s[1:]
        return int(s)

    def make_split(column):
        def split(node):
            if "leaf" in node:
                return None
            kids = {c["nodeid"]: c for c in node["children"]}
            cond = np.float32(node["split_condition"])
            key = float(np.nextafter(cond, np.float32(-np.inf)))
            return (feature(node), key, node.get("missing", node["yes"]) == node["yes"],
                    kids[node["yes"]], kids[node["no"]], None)
        return split

    trees = []
    for i, root in enumerate(dump):
        column = 1 if binary else i % n_classes
        trees.append(_from_nested(
            root, n_classes, make_split(column),
            lambda node, c=column: _class_column([float(np.float32(node["leaf"]))], c,
                                                 n_classes)[0]))
    offset, ties = _xgb_rules(objective, n_classes,
                              np.atleast_1d(np.asarray(base_margin, np.float64)))
    used = max((int(t.feature.max(initial=-1)) for t in trees), default=-1) + 1
    return _ensemble(trees, offset, ties, precision=32, nan=True,
                     n_features=used if n_features is None else n_features)


# --------------------------------------------------------------------------
# LightGBM
def _lgb_key(t):
    """Key of ``v(x) <= t`` where ``v`` reads the band ``|x| <= 1e-35f`` as 0."""
    if -_LGB_ZERO <= t < _LGB_ZERO:
        return _LGB_ZERO if t >= 0 else float(np.nextafter(-_LGB_ZERO, -np.inf))
    return t


def _lgb_piece(threshold, default_left):
    """``zero_as_missing``: |x| <= 1e-35f and NaN go the default way, the rest by
    ``x <= threshold``."""
    pts = sorted({threshold, np.nextafter(-_LGB_ZERO, -np.inf), _LGB_ZERO})
    probe = pts + [np.nextafter(pts[-1], np.inf)]  # the top of each region
    goes = [default_left if abs(v) <= _LGB_ZERO else v <= threshold for v in probe]
    return pts, goes, default_left


def _read_lightgbm(model):
    classifier = _is(model, "lightgbm", "LGBMModel")
    if classifier and not hasattr(model, "classes_"):
        raise _unsupported(model, " (a LightGBM regressor or ranker)")
    booster = model.booster_ if classifier else model
    d = booster.dump_model()  # the iterations predict uses (the best one, if any)
    objective = str(d.get("objective", "")).split(" ")[0]
    if objective not in ("binary", "multiclass", "multiclassova"):
        raise UnsupportedModelError(f"This LightGBM model's objective {objective!r} is not binary or "
                        "multiclass classification; the tree readers take those.")
    K = int(d["num_tree_per_iteration"])
    n_classes = max(int(d["num_class"]), 2)
    infos = d["tree_info"]
    scale = 1.0
    if d.get("average_output"):
        scale = 1.0 / max(1, len(infos) // K)

    def split(node):
        if "leaf_value" in node:
            if "leaf_coeff" in node:
                raise UnsupportedModelError("LightGBM models with linear trees (linear_tree=True) are "
                                "not pure tree ensembles; the tree readers cannot read them.")
            return None
        if node["decision_type"] != "<=":
            raise UnsupportedModelError(
                "This LightGBM model has categorical splits, which the tree readers do not "
                "represent; one-hot encode the categories (or pass them as numbers without "
                "categorical_feature), or use skadv.attacks.HopSkipJumpAttack or SquareAttack.")
        t = _lgb_key(float(node["threshold"]))
        kind = node.get("missing_type", "None")
        default = bool(node.get("default_left", True))
        piece = None
        if kind == "NaN":
            miss = default
        elif kind == "Zero":
            miss, piece = default, _lgb_piece(t, default)
        else:  # NaN is read as 0.0
            miss = 0.0 <= t
        return (int(node["split_feature"]), t, miss, node["left_child"], node["right_child"],
                piece)

    trees = []
    for i, info in enumerate(infos):
        column = 1 if n_classes == 2 else i % K
        trees.append(_from_nested(
            info["tree_structure"], n_classes, split,
            lambda node, c=column: _class_column([scale * float(node["leaf_value"])], c,
                                                 n_classes)[0]))
    ties = _binary(False) if n_classes == 2 else _first_wins(n_classes)
    return _ensemble(trees, np.zeros(n_classes), ties, precision=64, nan=True,
                     n_features=int(d["max_feature_idx"]) + 1)


# --------------------------------------------------------------------------
# CatBoost
def _catboost_json(model):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.json")
        model.save_model(path, format="json")
        with open(path) as fh:
            return json.load(fh)


def _read_catboost(model):
    if not hasattr(model, "classes_") or not _is(model, "catboost", "CatBoostClassifier"):
        raise _unsupported(model, " (a CatBoost model that is not a CatBoostClassifier)")
    j = _catboost_json(model)
    loss = j["model_info"]["params"]["loss_function"]["type"]
    if loss not in ("Logloss", "CrossEntropy", "MultiClass", "MultiClassOneVsAll"):
        raise UnsupportedModelError(f"This CatBoost model's loss {loss!r} is not binary or multiclass "
                        "classification with one output; the tree readers take those.")
    floats = j["features_info"].get("float_features", [])
    if any(j["features_info"].get(k) for k in ("categorical_features", "text_features",
                                               "embedding_features")):
        raise UnsupportedModelError(
            "This CatBoost model has categorical, text or embedding features, which the tree "
            "readers do not represent; use skadv.attacks.HopSkipJumpAttack or SquareAttack.")
    flat = [f["flat_feature_index"] for f in floats]
    nan_right = [f.get("nan_value_treatment") == "AsTrue" for f in floats]
    n_classes = len(model.classes_)
    scale, bias = j["scale_and_bias"]
    bias = np.asarray(bias, np.float64)
    dim = len(bias)

    def split_of(s):
        if s.get("split_type", "FloatFeature") != "FloatFeature":
            raise UnsupportedModelError(f"CatBoost split type {s['split_type']!r} is not supported.")
        i = s["float_feature_index"]
        # right iff float32(x) > border: the border is a float32 already.
        return flat[i], float(_key(s["border"], 32)), not nan_right[i]

    def leaf_vector(v):
        v = np.atleast_1d(np.asarray(v, np.float64)) * scale
        return v if dim > 1 else np.r_[0.0, v]

    trees = []
    if "oblivious_trees" in j:
        for t in j["oblivious_trees"]:
            splits = [split_of(s) for s in t["splits"]]
            D = len(splits)
            leaves = np.asarray(t["leaf_values"], np.float64).reshape(1 << D, dim)
            n_inner = (1 << D) - 1
            h = np.arange(2 * n_inner + 1)
            level = np.floor(np.log2(h + 1)).astype(np.intp)
            inner = h < n_inner
            # Heap order tests split l at level l; CatBoost's leaf index has
            # split l's outcome in bit l.
            r = h[~inner] - n_inner
            index = sum(((r >> (D - 1 - b)) & 1) << b for b in range(D)) if D else r
            value = np.zeros((len(h), n_classes))
            value[~inner] = np.stack([leaf_vector(v) for v in leaves[index]])
            feat = np.full(len(h), -1, np.intp)
            key = np.zeros(len(h))
            miss = np.zeros(len(h), bool)
            for lev, (f, k, m) in enumerate(splits):
                at = inner & (level == lev)
                feat[at], key[at], miss[at] = f, k, m
            trees.append(_Tree(feat, key, np.where(inner, 2 * h + 1, -1),
                               np.where(inner, 2 * h + 2, -1), value, miss))
    else:
        def split(node):
            if "split" not in node:
                return None
            f, k, m = split_of(node["split"])
            return f, k, m, node["left"], node["right"], None
        trees = [_from_nested(t, n_classes, split, lambda node: leaf_vector(node["value"]))
                 for t in j["trees"]]
    offset = bias if dim > 1 else np.r_[0.0, bias]
    ties = _binary(False) if n_classes == 2 else _first_wins(n_classes)
    d = getattr(model, "n_features_in_", None) or (max(flat, default=-1) + 1)
    return _ensemble(trees, offset, ties, precision=32, nan=True, n_features=d)


# --------------------------------------------------------------------------
# pipelines of scalers
_SCALERS = ("StandardScaler", "MinMaxScaler", "MaxAbsScaler", "RobustScaler")


def _ordered(x):
    """float64 -> int64, monotone (the IEEE order of non-NaN values)."""
    i = np.asarray(x, np.float64).view(np.int64)
    return np.where(i < 0, i ^ np.int64(0x7FFFFFFFFFFFFFFF), i)


def _unordered(o):
    o = np.asarray(o, np.int64)
    return np.where(o < 0, o ^ np.int64(0x7FFFFFFFFFFFFFFF), o).view(np.float64)


def _pull_back(transform, feature, key, precision, n_features):
    """Largest float64 input ``x`` per node with ``v(transform(x)[feature]) <= key``.

    ``transform`` is monotone non-decreasing per column (the scalers are), so
    a bisection over the ordered float64 values finds it exactly, one call of
    the scalers' own ``transform`` per step for all nodes: keys in input units
    for a model that compares the scaled value, whatever the rounding of the
    scaling. ``-inf``/``inf``: no / every finite input goes left.
    """
    m = len(feature)
    rows = np.arange(m)
    top = np.finfo(np.float64).max

    def left(x):
        Z = np.zeros((m, n_features))
        Z[rows, feature] = x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # feature names, overflow at the extremes
            out = np.asarray(transform(Z), np.float64)[rows, feature]
        return _view(out, precision) <= key

    every = left(np.full(m, top))
    some = left(np.full(m, -top))
    lo = np.full(m, _ordered(-top))  # invariant: lo goes left, hi does not
    hi = np.full(m, _ordered(top))
    for _ in range(70):
        if np.all(lo + 1 >= hi):
            break
        mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1)  # no int64 overflow
        go = left(_unordered(mid))
        lo = np.where(go, mid, lo)
        hi = np.where(go, hi, mid)
    return np.where(every, np.inf, np.where(some, _unordered(lo), -np.inf))


def _read_pipeline(model):
    steps = [s for _, s in model.steps]
    head, last = steps[:-1], steps[-1]
    for s in head:
        if not (s is None or s == "passthrough" or _is(s, "sklearn", *_SCALERS)):
            raise _unsupported(model, f" (its step {type(s).__name__} is not one of "
                                      f"{', '.join(_SCALERS)})")
    ens = read_ensemble(last)
    head = [s for s in head if not (s is None or s == "passthrough")]
    if not head:
        return ens
    d = getattr(model, "n_features_in_", None) or ens.n_features

    def transform(Z):
        for s in head:
            Z = s.transform(Z)
        return Z

    feat = np.concatenate(ens.feature)
    keys = np.concatenate(ens.threshold)
    inner = np.flatnonzero((feat >= 0) & np.isfinite(keys))
    new = keys.copy()
    if inner.size:
        new[inner] = _pull_back(transform, feat[inner], keys[inner], ens.precision, d)
    cut = np.cumsum([len(f) for f in ens.feature])[:-1]
    # A NaN stays NaN through the scalers: missing_left holds.
    return ens._replace(threshold=tuple(np.split(new, cut)), precision=64, n_features=d)


# --------------------------------------------------------------------------
def read_ensemble(model):
    """Read a fitted tree classifier of any supported library into an :class:`Ensemble`.

    Parameters
    ----------
    model : fitted tree classifier, Booster, Pipeline, path or dump
        scikit-learn's ``DecisionTreeClassifier``, ``ExtraTreeClassifier``,
        ``RandomForestClassifier``, ``ExtraTreesClassifier``,
        ``GradientBoostingClassifier``, ``HistGradientBoostingClassifier``
        (numeric and numeric-categorical features, missing values), possibly in
        a ``FrozenEstimator`` or a ``Pipeline`` after scalers; xgboost's
        ``XGBClassifier`` or ``Booster``, the path of a JSON model saved with
        ``save_model`` or of a ``dump_model(..., dump_format="json")`` dump
        (read with :func:`xgboost_dump`'s defaults); lightgbm's
        ``LGBMClassifier`` or ``Booster``; catboost's ``CatBoostClassifier``.
        An :class:`Ensemble` is returned as it is.

    Returns
    -------
    ensemble : Ensemble
        Class scores are the library's raw scores (margins; class 1's column
        for binary models, class 0's being 0) and ``tie_wins`` its rule at a
        tie, so that :meth:`Ensemble.predict` is the model's ``predict`` (as
        class indices into ``classes_``).

    Raises
    ------
    TypeError
        For a model of another kind, with several outputs, or with a feature
        kind the readers do not represent (the message says which and what to
        use instead).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.ensemble import HistGradientBoostingClassifier
    >>> from skadv._core.tree_readers import read_ensemble
    >>> X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    >>> clf = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, y)
    >>> ens = read_ensemble(clf)
    >>> ens.precision, bool(np.array_equal(ens.predict(X), clf.predict(X)))
    (64, True)
    """
    if isinstance(model, Ensemble):
        return model
    if isinstance(model, (str, os.PathLike)):
        return _read_path(model)
    if isinstance(model, list):
        return xgboost_dump(model)
    if _is(model, "sklearn", "FrozenEstimator"):
        model = model.estimator
    if getattr(model, "n_outputs_", 1) != 1:
        raise _unsupported(model, " (it has several outputs)")
    if _is(model, "sklearn", "Pipeline"):
        return _read_pipeline(model)
    if _is(model, "sklearn", "HistGradientBoostingClassifier"):
        return _read_hist_gradient_boosting(model)
    if _is(model, "sklearn", "DecisionTreeClassifier", "RandomForestClassifier",
           "ExtraTreesClassifier", "GradientBoostingClassifier"):
        return _read_sklearn(model)
    if _is(model, "xgboost", "XGBModel", "Booster"):
        return _read_xgboost(model)
    if _is(model, "lightgbm", "LGBMModel", "Booster"):
        return _read_lightgbm(model)
    if _is(model, "catboost", "CatBoost"):
        return _read_catboost(model)
    raise _unsupported(model)


def _read_path(path):
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if isinstance(data, list):
        return xgboost_dump(data)
    if isinstance(data, dict) and "learner" in data:
        return _read_xgboost_json(data)
    raise ValueError(
        f"{os.fspath(path)!r} is neither an XGBoost JSON model (save_model('*.json')) nor "
        "an XGBoost JSON dump. Load other model files with their library (e.g. "
        "lightgbm.Booster(model_file=...), CatBoostClassifier().load_model(...)) and pass "
        f"the model ({_EXTRA} installs them).")


def check_rows(ensemble, X):
    """Validate rows for an ensemble: 2-D, finite or NaN where the model routes NaN,
    and as many features as the model was fitted on.

    Parameters
    ----------
    ensemble : Ensemble
    X : array-like of shape (n_samples, n_features)

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64

    Raises
    ------
    ValueError
        For the wrong number of features, infinite values, or NaN where the model
        has no missing-value direction.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features). Got shape {X.shape} "
                         "instead; reshape a single row with X.reshape(1, -1).")
    d = ensemble.n_features
    used = max((int(f.max(initial=-1)) for f in ensemble.feature), default=-1) + 1
    if d is not None and X.shape[1] != d:
        raise ValueError(f"X has {X.shape[1]} features, but the model was fitted on {d}.")
    if X.shape[1] < used:
        raise ValueError(f"X has {X.shape[1]} features, but the trees split on feature "
                         f"{used - 1}.")
    if np.isinf(X).any():
        raise ValueError("X contains infinity; the tree readers take finite values "
                         "(or NaN where the model has missing-value directions).")
    if np.isnan(X).any() and ensemble.missing_left is None:
        raise ValueError(
            "X contains NaN, but the model has no missing-value direction (it rejects "
            "missing values): impute X first, e.g. with sklearn.impute.SimpleImputer.")
    return X
