"""Attacks on scikit-learn tree ensembles: exact (MILP) and greedy (fast).

Both read the fitted trees of a ``DecisionTreeClassifier``,
``ExtraTreeClassifier``, ``RandomForestClassifier``, ``ExtraTreesClassifier``
or ``GradientBoostingClassifier`` (binary or multiclass) and return points
the model's own ``predict`` confirms: every threshold is handled in float32,
the precision scikit-learn's trees compare in (see :mod:`._tree_core`).

:class:`ExactTreeAttack` finds the nearest adversarial point by mixed-integer
programming: its distance is the row's exact robustness radius, a
certificate -- no adversarial example lies strictly closer. It is practical
for small ensembles. :class:`GreedyTreeAttack` walks from adversarial
starting points across leaf boundaries towards the clean row, all rows at
once; it scales to large forests and returns an upper bound of that radius.
"""

from numbers import Integral, Real

import numpy as np

from ..constraints._project import _row_bounds
from ..exceptions import UnsupportedModelError
from ..utils._parallel import N_JOBS_DOC
from ..utils._sklearn_compat import Interval
from .._core import trees as _tc
from ._base import BaseAttack
from .black_box import _QueryAttack

__all__ = ["ExactTreeAttack", "GreedyTreeAttack", "tree_ensemble"]


def _unsupported(est):
    return UnsupportedModelError(
        f"{type(est).__name__} is not a supported tree ensemble. The tree attacks "
        "take a fitted DecisionTreeClassifier, ExtraTreeClassifier, "
        "RandomForestClassifier, ExtraTreesClassifier or GradientBoostingClassifier "
        "with one output. For any other model use skadv.attacks.HopSkipJumpAttack "
        "or SquareAttack.")


def _arrays(tree, value):
    t = tree.tree_
    return (np.asarray(t.feature, np.intp), np.asarray(t.threshold, np.float64),
            np.asarray(t.children_left, np.intp), np.asarray(t.children_right, np.intp),
            np.asarray(value, np.float64))


def tree_ensemble(estimator):
    """Read a fitted scikit-learn tree classifier into an :class:`~skadv._core.trees.Ensemble`.

    Parameters
    ----------
    estimator : fitted DecisionTreeClassifier, ExtraTreeClassifier,
        RandomForestClassifier, ExtraTreesClassifier or GradientBoostingClassifier
        (or one of those in a :class:`~sklearn.frozen.FrozenEstimator`)

    Returns
    -------
    ensemble : Ensemble
        Class scores as sums of leaf values with the estimator's tie rule, so
        that ``predict`` is the class that beats all others.

    Raises
    ------
    TypeError
        For any other estimator (or several outputs).
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  RandomForestClassifier)
    from sklearn.frozen import FrozenEstimator
    from sklearn.tree import DecisionTreeClassifier

    if isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    if getattr(estimator, "n_outputs_", 1) != 1:
        raise _unsupported(estimator)
    n_classes = len(estimator.classes_)
    argmax_ties = np.less.outer(np.arange(n_classes), np.arange(n_classes))
    if isinstance(estimator, DecisionTreeClassifier):
        trees = [_arrays(estimator, estimator.tree_.value[:, 0, :n_classes])]
        offset = np.zeros(n_classes)
        ties = argmax_ties
    elif isinstance(estimator, (RandomForestClassifier, ExtraTreesClassifier)):
        trees = [_arrays(t, t.tree_.value[:, 0, :n_classes]) for t in estimator.estimators_]
        offset = np.zeros(n_classes)
        ties = argmax_ties
    elif isinstance(estimator, GradientBoostingClassifier):
        if not (isinstance(estimator.init_, DummyClassifier) or estimator.init_ == "zero"):
            raise UnsupportedModelError(
                "GradientBoostingClassifier with a custom init estimator is not a pure "
                "tree ensemble; use HopSkipJumpAttack or SquareAttack.")
        lr = estimator.learning_rate
        stages = estimator.estimators_
        K = stages.shape[1]
        trees = []
        for stage in stages:
            for k, reg in enumerate(stage):
                v = np.zeros((reg.tree_.node_count, n_classes))
                v[:, k if K > 1 else 1] = lr * reg.tree_.value[:, 0, 0]
                trees.append(_arrays(reg, v))
        # The init estimator's raw score is a constant: read it off one row.
        zero = np.zeros((1, estimator.n_features_in_))
        raw = np.atleast_1d(np.asarray(estimator.decision_function(zero), np.float64).ravel())
        tree_sum = np.zeros(raw.shape)
        for stage in stages:
            for k, reg in enumerate(stage):
                tree_sum[k] += lr * reg.predict(zero)[0]
        offset = np.zeros(n_classes)
        if K > 1:
            offset[:] = raw - tree_sum
            ties = argmax_ties
        else:
            offset[1] = raw[0] - tree_sum[0]
            # predict is classes_[raw >= 0]: class 1 wins a tie.
            ties = np.array([[False, False], [True, False]])
    else:
        raise _unsupported(estimator)
    return _tc.Ensemble(*map(tuple, zip(*trees)), offset=offset, tie_wins=ties)


class _TreeAttackMixin:
    """Reads the victim's trees at fit; both tree attacks share it."""

    def _check_victim(self):
        super()._check_victim()
        tree_ensemble(self.estimator)

    def _fit_trees(self):
        c = self.constraints_
        group = np.asarray(c.group)
        hot = group >= 0
        self.ensemble_ = tree_ensemble(self.estimator)
        self._integer = np.asarray(c.integer, bool) | hot
        self._keys, self._n_keys = _tc.split_keys(
            self.ensemble_, self.n_features_in_, self._integer, extra_zero=hot)
        self._groups = tuple(np.flatnonzero(group == g) for g in np.unique(group[hot]))

    def _bounds(self, X):
        """Per-row bounds (monotone features bounded by the clean row) and the mutable mask."""
        c = self.constraints_
        lower, upper = _row_bounds(c, X, np)
        shape = np.shape(X)
        return (np.broadcast_to(np.asarray(lower, np.float64), shape),
                np.broadcast_to(np.asarray(upper, np.float64), shape),
                np.asarray(c.mutable, bool))


_TREE_ESTIMATOR = """
    estimator : fitted tree classifier, default=None
        ``DecisionTreeClassifier``, ``ExtraTreeClassifier``,
        ``RandomForestClassifier``, ``ExtraTreesClassifier`` or
        ``GradientBoostingClassifier`` (binary or multiclass), possibly in a
        :class:`~sklearn.frozen.FrozenEstimator`."""

_TREE_DOC = """
    constraints : FeatureConstraints, default=None
        Bounds, immutable and integer features and one-hot groups; every
        returned row satisfies them (one-hot columns switch category at a cost
        of 1 per column).
    feature_scale : {"std"} or array-like of shape (n_features,), default=None
        Makes distances relative per feature (``"std"``: the standard deviation
        of the ``X`` given to :meth:`fit`).
    targeted : bool, default=False
        If True, ``y`` holds target labels to reach."""


class ExactTreeAttack(_TreeAttackMixin, BaseAttack):
    """Nearest adversarial example of a tree ensemble by MILP (Kantchelian et al. 2016).

    For every row, the smallest perturbation (in ``norm``) that changes the
    prediction of a scikit-learn decision tree, random forest, extra-trees or
    gradient-boosting classifier, found by mixed-integer linear programming
    with HiGHS (:func:`scipy.optimize.milp`). The distance is exact, so the
    attack doubles as a verifier: ``minimal_distance_`` is each row's
    robustness radius -- no perturbation strictly smaller (as the model sees
    inputs, in float32) changes the prediction. Practical for small ensembles
    (tens of trees of moderate depth); use :class:`GreedyTreeAttack` beyond.

    Parameters
    ----------
    {estimator}
    eps : float, default=None
        If given, only perturbations within ``eps`` are sought (faster); rows
        with none are returned unchanged.
    norm : {"inf", 2, 1}, default="inf"
    time_limit : float, default=None
        Seconds per MILP; a row whose problem hits it gets the best point found
        and ``exact_`` False.
    {trees}
    verbose : bool or int, default=False
        Progress bar over rows (one MILP each, per class that could win).
    {n_jobs}

    Attributes
    ----------
    minimal_distance_ : ndarray of shape (n_samples,)
        Exact distance to the nearest adversarial point per row (``inf`` if
        none exists under the constraints, or within ``eps``); 0 for rows the
        model already gets wrong.
    exact_ : ndarray of bool, shape (n_samples,)
        Rows whose problems were solved to optimality. The program knows
        bounds, immutable, monotone, integer and one-hot features, not
        relations between features: with ``relations``, a row whose optimal
        point breaks one is not exact (it is repaired), and its
        ``minimal_distance_`` is a lower bound -- still a certified radius.
    success_ : ndarray of bool, shape (n_samples,)
    perturbation_ : ndarray of shape (n_samples,)
        Equals ``minimal_distance_`` on successful rows.
    valid_before_repair_ : ndarray of bool, shape (n_samples,)
        Rows whose proposal satisfied every constraint before the final repair.
    ensemble_ : Ensemble
        The victim's trees as arrays.
    scale_, norm_, constraints_, n_features_in_, feature_names_in_

    See Also
    --------
    GreedyTreeAttack : Fast upper bounds for large ensembles.

    References
    ----------
    .. [1] A. Kantchelian, J. D. Tygar, A. D. Joseph. "Evasion and Hardening of
       Tree Ensemble Classifiers", ICML 2016.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skadv.attacks import ExactTreeAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0).fit(X, y)
    >>> attack = ExactTreeAttack(clf, feature_scale="std").fit(X)
    >>> X_adv = attack.transform(X[:5])
    >>> bool(attack.success_.all()), bool((clf.predict(X_adv) != clf.predict(X[:5])).all())
    (True, True)
    >>> bool(abs(attack.perturbation_ - attack.minimal_distance_).max() < 1e-9)
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in BaseAttack._parameter_constraints.items()
           if k not in ("random_state", "batch_size")},
        "eps": [Interval(Real, 0, None, closed="left"), None],
        "time_limit": [Interval(Real, 0, None, closed="neither"), None],
    }
    _supported_norms = ("inf", 2, 1)
    _work_dtype = np.float64

    def __init__(self, estimator=None, *, eps=None, norm="inf", time_limit=None,
                 constraints=None, feature_scale=None, targeted=False, verbose=False,
                 n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.time_limit = time_limit
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _fit_extra(self, X):
        self._fit_trees()
        self._milp = _tc.TreeMILP(self.ensemble_, self._keys, self._n_keys, self._integer)

    def _generate(self, U, y_idx, key, rows):
        X = U * self.scale_
        lower, upper, mutable = self._bounds(X)
        n = len(X)
        X_adv, dist = X.copy(), np.full(n, np.inf)
        exact = np.ones(n, dtype=bool)
        order = range(n)
        if self.verbose:
            try:
                from tqdm.auto import tqdm

                order = tqdm(order, desc=type(self).__name__, unit="row")
            except ImportError:  # the progress extra is optional
                pass
        for i in order:  # one MILP (per class) per row: solver calls, not NumPy work
            x, dist[i], exact[i] = self._milp.solve(
                X[i], int(y_idx[i]), norm=self.norm_, scale=self.scale_, lower=lower[i],
                upper=upper[i], mutable=mutable, groups=self._groups, targeted=self.targeted,
                eps=self.eps, time_limit=self.time_limit)
            if x is not None:
                X_adv[i] = x
        # Scores that tie within the strict margin may still be ordered the
        # other way by the model's float sums: re-solve with a wider margin.
        for widen in (1e3, None):
            found = np.flatnonzero(np.isfinite(dist))
            pred = self._victim_predict(X_adv[found]) if found.size else np.array([])
            labels = np.asarray(self.estimator.classes_)[y_idx[found]]
            bad = found[(pred != labels) if self.targeted else (pred == labels)]
            for i in bad:
                x, dist[i], exact[i] = (None, np.inf, False) if widen is None else (
                    self._milp.solve(
                        X[i], int(y_idx[i]), norm=self.norm_, scale=self.scale_,
                        lower=lower[i], upper=upper[i], mutable=mutable, groups=self._groups,
                        targeted=self.targeted, eps=self.eps, time_limit=self.time_limit,
                        strict=self._milp.strict * widen))
                X_adv[i] = X[i] if x is None else x
        if self.constraints_.relations is not None:
            exact &= self.constraints.is_satisfied(X_adv, X, arrays=self.constraints_)
        return X_adv / self.scale_, {"minimal_distance_": dist, "exact_": exact}


ExactTreeAttack.__doc__ = ExactTreeAttack.__doc__.replace("{trees}", _TREE_DOC.strip()).replace(
    "{estimator}", _TREE_ESTIMATOR.strip()).replace("{n_jobs}", N_JOBS_DOC)


class GreedyTreeAttack(_TreeAttackMixin, _QueryAttack):
    """Fast adversarial examples for large tree ensembles: a greedy walk over leaves.

    From the nearest rows of the fit data that the model puts in another class
    (projected onto the row's constraints), each row walks towards its clean
    point across the thresholds of the ensemble -- one feature one cell closer,
    halfway or all the way back, the whole point shrunk towards ``x``, or a
    step into a neighbouring leaf tuple that trades one feature for another --
    keeping only moves the model's own ``predict`` confirms adversarial, until
    no move improves. All rows and all their candidate moves go to the model in
    one ``predict`` call per step. The result is an upper bound of the row's
    robustness radius (:class:`ExactTreeAttack` gives the exact value, slowly).

    Parameters
    ----------
    {estimator}
    eps : float, default=None
        Budget in ``norm``; rows whose point is farther are returned unchanged.
    norm : {"inf", 2, 1}, default="inf"
    init_size : int, default=20
        Starting points tried per row (nearest reference rows).
    restarts : int, default=3
        Walks per row, from its nearest adversarial starts; the best is kept.
    steps : int, default=50
        Maximum steps per walk (each step is one to three model calls).
    n_references : int, default=1000
        At most this many rows of the ``X`` given to :meth:`fit` are kept (a
        seeded random subset) and labelled by the victim as starting points.
    {trees}
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of reference rows.
    batch_size : int, default=1024
        Rows walked together; bounds memory.
    verbose : bool or int, default=False
        Progress bar over batches.
    {n_jobs}

    Attributes
    ----------
    success_ : ndarray of bool, shape (n_samples,)
    perturbation_ : ndarray of shape (n_samples,)
    valid_before_repair_ : ndarray of bool, shape (n_samples,)
        Rows whose proposal satisfied every constraint before the final repair.
    n_queries_ : ndarray of int, shape (n_samples,)
        Points of each row the model classified during the walk.
    n_fit_queries_ : int
        Model queries made by :meth:`fit` to label ``reference_``.
    reference_, reference_labels_
        Starting points (as in :class:`HopSkipJumpAttack`).
    ensemble_ : Ensemble
    scale_, norm_, constraints_, n_features_in_, feature_names_in_

    References
    ----------
    .. [1] C. Zhang, H. Zhang, C.-J. Hsieh. "An Efficient Adversarial Attack for
       Tree Ensembles", NeurIPS 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skadv.attacks import GreedyTreeAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = RandomForestClassifier(n_estimators=30, random_state=0).fit(X, y)
    >>> attack = GreedyTreeAttack(clf, feature_scale="std", random_state=0).fit(X)
    >>> X_adv = attack.transform(X[:50])
    >>> bool(attack.success_.mean() > 0.95)
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "eps": [Interval(Real, 0, None, closed="left"), None],
        "init_size": [Interval(Integral, 1, None, closed="left")],
        "restarts": [Interval(Integral, 1, None, closed="left")],
        "steps": [Interval(Integral, 0, None, closed="left")],
        "n_references": [Interval(Integral, 1, None, closed="left")],
    }
    _supported_norms = ("inf", 2, 1)

    def __init__(self, estimator=None, *, eps=None, norm="inf", init_size=20, restarts=3,
                 steps=50, n_references=1000, constraints=None, feature_scale=None,
                 targeted=False, random_state=None, batch_size=1024, verbose=False,
                 n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.init_size = init_size
        self.restarts = restarts
        self.steps = steps
        self.n_references = n_references
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _fit_extra(self, X):
        self._fit_trees()
        self._fit_references(X)

    def _generate(self, U, y_idx, key, rows):
        keys, integer, scale = self._keys, self._integer, self.scale_
        k = min(self.init_size, len(self.reference_))
        ref_cells = _tc.cells_of(self.reference_, keys, integer)

        def attack_batch(Ub, yb, kb, live):
            X = Ub * scale
            lower, upper, mutable = self._bounds(X)
            own, cmin, cmax = _tc.cell_range(X, keys, self._n_keys, integer, lower, upper,
                                             mutable)
            near, valid = self._nearest_references(Ub, yb, k)
            starts = np.where(mutable, ref_cells[near], own[:, None, :])
            valid &= live[:, None]
            count = np.zeros(len(X), dtype=np.int64)
            is_adv = self._is_adv(yb)

            def oracle(points, rows):
                np.add.at(count, rows, 1)
                return is_adv(points / scale, rows)

            X_adv, _ = _tc.greedy_walk(
                oracle, X, starts, valid, keys=keys, integer=integer, scale=scale,
                norm=self.norm_, cmin=cmin, cmax=cmax, own=own, restarts=self.restarts,
                max_iter=self.steps)
            return X_adv / scale, count

        return self._run(attack_batch, U, y_idx, key, rows)


GreedyTreeAttack.__doc__ = GreedyTreeAttack.__doc__.replace("{trees}", _TREE_DOC.strip()).replace(
    "{estimator}", _TREE_ESTIMATOR.strip()).replace("{n_jobs}", N_JOBS_DOC)
