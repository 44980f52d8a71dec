"""Robust tree training: trees, forests and boosted trees whose splits resist an L-inf attacker.

The estimators validate and resolve every training row's perturbation box
(``eps`` per feature, cut by the constraints); the pure core grows the trees
(:mod:`skadv._core.robust_fit`, split search in :mod:`skadv._core.robust_split`).
A fitted model is an :class:`~skadv._core.trees.Ensemble`: the tree attacks
and :func:`~skadv.verify.tree_certified_radius` read it directly, and
``to_xgboost()`` writes it as an XGBoost model that scores every row the same.
"""

import json
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets

from .._core.robust_fit import fit_boosting, fit_trees, prepare_boxes
from .._core.robust_split import perturbation_box
from .._core.tree_export import xgboost_json
from ..attacks._budget import resolve_budget
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    RealNotInt,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)

__all__ = ["RobustBoostingClassifier", "RobustForestClassifier", "RobustTreeClassifier"]

_XGBOOST_MISSING = ('to_xgboost() needs xgboost, which is not installed: pip install '
                    '"skadv[trees]" (or pip install xgboost).')

_SHARED = {
    "eps": [Interval(Real, 0, None, closed="left")],
    "feature_scale": [StrOptions({"std"}), "array-like", None],
    "constraints": [HasMethods(["resolve"]), None],
    "min_samples_leaf": [Interval(Integral, 1, None, closed="left")],
    "max_bins": [Interval(Integral, 2, None, closed="left")],
}


class _RobustTrees(ClassifierMixin, BaseEstimator):
    """Validation, boxes, prediction and export shared by the three estimators."""

    _parameter_constraints = dict(_SHARED)

    def _box(self, X):
        """Every row's box ``[lo, hi]`` and the per-feature radius."""
        scale, arrays = resolve_budget(self.constraints, self.feature_scale, X,
                                       getattr(self, "feature_names_in_", None))
        delta = np.where(arrays.mutable, self.eps * scale, 0.0)
        span = X.max(axis=0) - X.min(axis=0)
        too_big = (delta > span) & (span > 0)
        if np.any(too_big):
            j = int(np.flatnonzero(too_big)[0])
            unit = " standard deviations" if isinstance(self.feature_scale, str) else ""
            raise ValueError(
                f"eps={self.eps!r}{unit} is larger than the range of feature {j} "
                f"({span[j]:.6g} in the units of X): every row could move anywhere in it. "
                "Rescale X (e.g. MinMaxScaler), use feature_scale, or mark the feature "
                "immutable in constraints.")
        # One-hot columns are 0/1 integers: moving one to another category costs
        # 1 in L-inf, so below eps=1 they stay put (above, every column may flip).
        integer = arrays.integer | (arrays.group >= 0)
        direction = arrays.direction if arrays.direction is not None else np.zeros(X.shape[1])
        lo, hi = perturbation_box(X, delta, lower=arrays.lower, upper=arrays.upper,
                                  integer=integer, direction=direction)
        return lo, hi, delta

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Grow the robust trees.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite values (NaN is an error: impute first).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in y; got 1 "
                f"class ({self.classes_[0]!r}) instead.")
        weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        lo, hi, self.delta_ = self._box(X)
        boxes = prepare_boxes(lo, hi, X, weight, self.max_bins)
        self.ensemble_, self._columns = self._grow(boxes, y_idx.astype(np.intp), weight)
        return self

    def _scores(self, X):
        check_is_fitted(self, "ensemble_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.ensemble_.scores(X)

    def decision_function(self, X):
        """Class scores: the margin for binary problems (class 1's score).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        s = self._scores(X)
        return s[:, 1] if len(self.classes_) == 2 else s

    def predict(self, X):
        """The class whose score is highest (the lower class at a tie).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        check_is_fitted(self, "ensemble_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.classes_[self.ensemble_.predict(X)]

    def _tree_ensemble(self):
        """The fitted trees, for the tree attacks and ``tree_certified_radius``."""
        check_is_fitted(self, "ensemble_")
        return self.ensemble_

    def to_xgboost(self):
        """The fitted model as an ``xgboost.Booster`` with the same scores on every row.

        Binary models become ``binary:logistic`` (``predict(...,
        output_margin=True)`` is :meth:`decision_function`), multiclass ones
        ``multi:softprob`` (margins are the class scores). Leaf values lie on
        a grid where float32 sums are exact, and every split is XGBoost's
        ``x < split`` with ``split`` just above the key, so XGBoost sends
        every row where this model does.

        Returns
        -------
        booster : xgboost.Booster

        Raises
        ------
        ImportError
            When xgboost is not installed.
        """
        check_is_fitted(self, "ensemble_")
        try:
            import xgboost
        except ImportError as exc:
            raise ImportError(_XGBOOST_MISSING) from exc
        version = tuple(int(p) for p in xgboost.__version__.split(".")[:3] if p.isdigit())
        model = xgboost_json(self.ensemble_, self._columns, version)
        booster = xgboost.Booster()
        booster.load_model(bytearray(json.dumps(model).encode()))
        return booster


class _Averaged(_RobustTrees):
    """Trees that average class proportions: probabilities are the averages."""

    def predict_proba(self, X):
        """Mean class proportions of the leaves reached (on the score grid).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        s = self._scores(X)
        if len(self.classes_) == 2:
            p1 = np.clip(0.5 * (1.0 + s[:, 1]), 0.0, 1.0)
            return np.stack([1.0 - p1, p1], axis=1)
        s = np.clip(s, 0.0, None)
        return s / np.maximum(s.sum(axis=1, keepdims=True), 1e-300)


_BOX_DOC = """eps : float >= 0, default=0.1
        L-inf radius every training row may move by, in the units of ``X``
        (or, with ``feature_scale``, per feature in those units). ``0``: an
        ordinary tree model. Larger than a feature's range is an error.
    feature_scale : {"std"}, array-like of shape (n_features,) or None, default=None
        ``"std"``: ``eps`` in standard deviations of each column.
    constraints : FeatureConstraints, default=None
        Immutable features never move; bounds cut the boxes; integer features
        reach only integers; one-hot columns move only with ``eps >= 1``
        (linear relations are not used: the boxes ignore them, which only
        makes training more cautious)."""


class RobustTreeClassifier(_Averaged):
    __doc__ = f"""A decision tree whose every split minimises its worst-case Gini impurity.

    Each training row may move anywhere in its L-inf box of radius ``eps``.
    At a candidate split, rows whose box straddles the threshold may go either
    way; the attacker sends each class to the side where it hurts most, and
    the split of lowest worst-case weighted Gini wins (the min-max of Chen et
    al. 2019, exact for two classes; :mod:`skadv._core.robust_split`). Rows
    keep the part of their box they went down with, so deeper splits on the
    same feature see only what the row can still reach.

    Parameters
    ----------
    {_BOX_DOC}
    max_depth : int, default=None
        ``None``: grow until leaves are pure or cannot be split.
    min_samples_leaf : int, default=1
        Rows each child must receive (after the attacker's moves).
    max_features : {{"sqrt", "log2"}}, int, float or None, default=None
        Features drawn per split (``None``: all).
    max_bins : int, default=255
        Candidate thresholds per feature (midpoints of its values and box ends,
        thinned to quantiles beyond this).
    random_state : int, RandomState instance or None, default=None
        Draws the features of ``max_features``.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string column names.
    delta_ : ndarray of shape (n_features_in_,)
        The L-inf radius of each feature in the units of ``X`` (0: immutable).
    ensemble_ : Ensemble
        The tree, as the tree attacks read it.

    References
    ----------
    .. [1] H. Chen, H. Zhang, D. Boning, C.-J. Hsieh. "Robust Decision Trees
       Against Adversarial Examples", ICML 2019.
    .. [2] D. Vos, S. Verwer. "Efficient Training of Robust Decision Trees
       Against Adversarial Examples", ICML 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.defenses import RobustTreeClassifier
    >>> X = np.array([[0.0], [0.1], [0.45], [0.55], [0.9], [1.0]])
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> clf = RobustTreeClassifier(eps=0.2, max_depth=1).fit(X, y)
    >>> clf.predict([[0.2], [0.8]]).tolist()
    [0, 1]
    """

    _parameter_constraints = {
        **_SHARED,
        "max_depth": [Interval(Integral, 1, None, closed="left"), None],
        "max_features": [StrOptions({"sqrt", "log2"}), Interval(Integral, 1, None, closed="left"),
                         Interval(RealNotInt, 0, 1, closed="right"), None],
        "random_state": ["random_state"],
    }

    def __init__(self, *, eps=0.1, feature_scale=None, constraints=None, max_depth=None,
                 min_samples_leaf=1, max_features=None, max_bins=255, random_state=None):
        self.eps = eps
        self.feature_scale = feature_scale
        self.constraints = constraints
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.max_bins = max_bins
        self.random_state = random_state

    def _forest(self):
        """Trees, bootstrap and threads: one tree on all rows."""
        return 1, False, None

    def _grow(self, boxes, y, weight):
        n_trees, bootstrap, n_jobs = self._forest()
        seeds = check_random_state(self.random_state).randint(0, 2**31 - 1, n_trees)
        return fit_trees(boxes, y, weight, n_classes=len(self.classes_), n_estimators=n_trees,
                         max_depth=self.max_depth if self.max_depth is not None else 2**31 - 1,
                         min_samples_leaf=self.min_samples_leaf,
                         max_features=_max_features(self.max_features, boxes.lo_idx.shape[1]),
                         bootstrap=bootstrap, seeds=seeds, n_jobs=n_jobs)


def _max_features(spec, d):
    if spec is None:
        return None
    if spec == "sqrt":
        return max(1, int(np.sqrt(d)))
    if spec == "log2":
        return max(1, int(np.log2(d)))
    if isinstance(spec, Integral):
        return min(int(spec), d)
    return max(1, int(spec * d))


class RobustForestClassifier(RobustTreeClassifier):
    __doc__ = f"""A random forest of robust trees (:class:`RobustTreeClassifier`).

    Every tree learns from a bootstrap sample and draws ``max_features``
    features per split; the forest averages the trees' class proportions.
    Every tree is robust on its own, so the forest's prediction can move only
    where its trees' can.

    Parameters
    ----------
    n_estimators : int, default=100
        Trees.
    {_BOX_DOC}
    max_depth : int, default=None
        ``None``: grow until leaves are pure or cannot be split.
    min_samples_leaf : int, default=1
    max_features : {{"sqrt", "log2"}}, int, float or None, default="sqrt"
    bootstrap : bool, default=True
    max_bins : int, default=255
    random_state : int, RandomState instance or None, default=None
        Draws the bootstrap samples and features.
    n_jobs : int, default=None
        Trees grown in parallel threads (``-1``: all cores).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string column names.
    delta_ : ndarray of shape (n_features_in_,)
    ensemble_ : Ensemble

    References
    ----------
    .. [1] H. Chen, H. Zhang, D. Boning, C.-J. Hsieh. "Robust Decision Trees
       Against Adversarial Examples", ICML 2019.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.preprocessing import minmax_scale
    >>> from skadv.attacks import ExactTreeAttack
    >>> from skadv.defenses import RobustForestClassifier
    >>> X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    >>> X = minmax_scale(X)
    >>> forest = RobustForestClassifier(n_estimators=5, eps=0.05, max_depth=3,
    ...                                 random_state=0).fit(X, y)
    >>> attack = ExactTreeAttack(forest).fit(X)
    >>> X_adv = attack.fit_transform(X[:5], y[:5])
    >>> bool((attack.minimal_distance_ >= 0).all())
    True
    """

    _parameter_constraints = {
        **RobustTreeClassifier._parameter_constraints,
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "bootstrap": ["boolean"],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_estimators=100, *, eps=0.1, feature_scale=None, constraints=None,
                 max_depth=None, min_samples_leaf=1, max_features="sqrt", bootstrap=True,
                 max_bins=255, random_state=None, n_jobs=None):
        super().__init__(eps=eps, feature_scale=feature_scale, constraints=constraints,
                         max_depth=max_depth, min_samples_leaf=min_samples_leaf,
                         max_features=max_features, max_bins=max_bins,
                         random_state=random_state)
        self.n_estimators = n_estimators
        self.bootstrap = bootstrap
        self.n_jobs = n_jobs

    def _forest(self):
        return self.n_estimators, self.bootstrap, self.n_jobs


class RobustBoostingClassifier(_RobustTrees):
    __doc__ = f"""Gradient-boosted trees of the worst-case log-loss.

    Every round fits one tree per class (binary: one) to the Newton
    expansion of the log-loss at every row's worst-case scores so far -- the
    true class's lowest and the others' highest over the leaves the row's box
    reaches in each earlier tree, a bound on the ensemble's worst case
    (Andriushchenko & Hein 2019) -- and every split minimises the worst-case
    regularised Newton objective when rows near the threshold go to their
    worse side (:mod:`skadv._core.robust_split`). ``eps=0`` is ordinary
    second-order gradient boosting, as XGBoost's.

    Parameters
    ----------
    n_estimators : int, default=100
        Boosting rounds.
    {_BOX_DOC}
    learning_rate : float > 0, default=0.1
        Shrinks every leaf.
    max_depth : int, default=3
    min_samples_leaf : int, default=1
    l2_regularization : float >= 0, default=1.0
        L2 penalty on leaf values (XGBoost's ``reg_lambda``).
    max_bins : int, default=255
    n_jobs : int, default=None
        A round's class trees grown in parallel threads (multiclass).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when ``X`` has string column names.
    delta_ : ndarray of shape (n_features_in_,)
    ensemble_ : Ensemble
        Scores are the margins (binary: class 1's column).

    References
    ----------
    .. [1] M. Andriushchenko, M. Hein. "Provably Robust Boosted Decision
       Stumps and Trees against Adversarial Attacks", NeurIPS 2019.
    .. [2] H. Chen, H. Zhang, D. Boning, C.-J. Hsieh. "Robust Decision Trees
       Against Adversarial Examples", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.preprocessing import minmax_scale
    >>> from skadv.defenses import RobustBoostingClassifier
    >>> X, y = make_classification(n_samples=200, n_features=4, random_state=0)
    >>> X = minmax_scale(X)
    >>> clf = RobustBoostingClassifier(n_estimators=10, eps=0.05, max_depth=2).fit(X, y)
    >>> bool(clf.score(X, y) > 0.8)
    True
    >>> import xgboost
    >>> margin = clf.to_xgboost().predict(xgboost.DMatrix(X), output_margin=True)
    >>> bool(np.array_equal(margin, clf.decision_function(X)))
    True
    """

    _parameter_constraints = {
        **_SHARED,
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "max_depth": [Interval(Integral, 1, None, closed="left")],
        "l2_regularization": [Interval(Real, 0, None, closed="left")],
        "n_jobs": [Integral, None],
    }

    def __init__(self, n_estimators=100, *, eps=0.1, feature_scale=None, constraints=None,
                 learning_rate=0.1, max_depth=3, min_samples_leaf=1, l2_regularization=1.0,
                 max_bins=255, n_jobs=None):
        self.n_estimators = n_estimators
        self.eps = eps
        self.feature_scale = feature_scale
        self.constraints = constraints
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_bins = max_bins
        self.n_jobs = n_jobs

    def _grow(self, boxes, y, weight):
        return fit_boosting(boxes, y, weight, n_classes=len(self.classes_),
                            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
                            max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf,
                            l2_regularization=self.l2_regularization, n_jobs=self.n_jobs)

    def predict_proba(self, X):
        """Sigmoid (binary) or softmax of the scores.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        s = self._scores(X)
        if len(self.classes_) == 2:
            p1 = 0.5 * (1.0 + np.tanh(0.5 * s[:, 1]))
            return np.stack([1.0 - p1, p1], axis=1)
        z = np.exp(s - s.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
