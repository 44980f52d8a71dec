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
import warnings

import numpy as np

from ..trees import Ensemble, _view
from ._boosting import _read_catboost, _read_lightgbm, _read_xgboost, _read_xgboost_json, xgboost_dump
from ._common import _EXTRA, _is, _unsupported
from ._sklearn import _read_hist_gradient_boosting, _read_sklearn

__all__ = ["check_rows", "read_ensemble", "xgboost_dump"]


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
        An :class:`Ensemble` is returned as it is, and so is the one a model
        hands over through a ``_tree_ensemble()`` method (skadv's robust trees).

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
    # skadv's own tree models (the robust trees) hand over the trees they predict with.
    own = getattr(model, "_tree_ensemble", None)
    if own is not None and not isinstance(model, type):
        return own()
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

