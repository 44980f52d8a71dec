"""Readers of XGBoost, LightGBM and CatBoost models through their own public
serialisations (``save_raw``/JSON, ``dump_model``, ``save_model(format="json")``);
none of the three is imported."""

import json
import os
import tempfile

import numpy as np

from ...exceptions import UnsupportedModelError
from ..trees import _key
from ._common import (_EXTRA, _LGB_ZERO, _Tree, _binary, _class_column, _ensemble, _first_wins,
                      _from_nested, _is, _unsupported)

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
