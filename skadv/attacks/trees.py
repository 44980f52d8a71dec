"""Attacks on tree ensembles: exact (MILP) and greedy (fast).

Both read the fitted trees of scikit-learn's ``DecisionTreeClassifier``,
``ExtraTreeClassifier``, ``RandomForestClassifier``, ``ExtraTreesClassifier``,
``GradientBoostingClassifier`` and ``HistGradientBoostingClassifier``,
XGBoost's ``XGBClassifier``, LightGBM's ``LGBMClassifier`` and CatBoost's
``CatBoostClassifier`` (binary or multiclass, possibly after scalers in a
``Pipeline``) with :func:`skadv._core.tree_readers.read_ensemble`, and return
points the model's own ``predict`` confirms: every threshold is handled in the
precision and with the comparison that library uses (see
:mod:`skadv._core.trees`).

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
from ..utils._parallel import N_JOBS_DOC, row_chunks
from ..utils._sklearn_compat import Interval, column_transformer_indices
from .._core import trees as _tc
from .._core.tree_cells import CellForest
from .._core.tree_greedy import greedy_walk
from .._core.tree_readers import _SCALERS, _pull_back, read_ensemble
from ._base import BaseAttack
from .black_box import _QueryAttack

__all__ = ["ExactTreeAttack", "GreedyTreeAttack", "encoded_ensemble", "tree_ensemble"]


def tree_ensemble(estimator):
    """Read a fitted tree classifier into an :class:`~skadv._core.trees.Ensemble`.

    Parameters
    ----------
    estimator : fitted tree classifier
        Any model :func:`skadv._core.tree_readers.read_ensemble` reads:
        scikit-learn's tree, forest and (histogram) gradient-boosting
        classifiers, ``XGBClassifier``, ``LGBMClassifier``,
        ``CatBoostClassifier`` or their boosters, possibly in a
        :class:`~sklearn.frozen.FrozenEstimator` or after scalers in a
        :class:`~sklearn.pipeline.Pipeline`.

    Returns
    -------
    ensemble : Ensemble
        Class scores as sums of leaf values with the estimator's tie rule, so
        that ``predict`` is the class that beats all others.

    Raises
    ------
    UnsupportedModelError
        A ``TypeError``: for any other estimator (or several outputs).
    """
    # skadv's own tree models (CertifiedClassifier with a tree method, the
    # robust trees) hand over their trees through ``_tree_ensemble()``, which
    # read_ensemble honours.
    return read_ensemble(estimator)


def _not_encodable(why):
    return UnsupportedModelError(
        f"The tree attacks read a victim that encodes categories only as a Pipeline whose "
        f"first step is a OneHotEncoder (drop=None, no infrequent categories) or a "
        f"ColumnTransformer of OneHotEncoder, {', '.join(_SCALERS)} and 'passthrough', "
        f"followed by the trees (and scalers); {why}. Otherwise use "
        "skadv.attacks.HopSkipJumpAttack or SquareAttack.")


def _passthrough(trans):
    # A fitted ColumnTransformer holds 'passthrough' as an identity FunctionTransformer.
    return (isinstance(trans, str) and trans == "passthrough") or (
        type(trans).__name__ == "FunctionTransformer" and trans.func is None)


def encoded_ensemble(estimator, encoder):
    """The trees of a pipeline that one-hot encodes, over the attack's columns.

    An attack sees a categorical column as one indicator column per category
    (:class:`~skadv.attacks._encoding.InputEncoder`), which is what the
    pipeline's ``OneHotEncoder`` feeds the trees: a split on an indicator is a
    split on the attack's column, and the categories become one-hot groups of
    the constraints. Numeric columns go through their scalers, whose
    thresholds are mapped back to input units exactly (in double precision).

    Parameters
    ----------
    estimator : fitted Pipeline
        ``OneHotEncoder`` or ``ColumnTransformer`` first, then what
        :func:`~skadv._core.tree_readers.read_ensemble` reads.
    encoder : InputEncoder
        The attack's encoder of the pipeline's input.

    Returns
    -------
    Ensemble
        Over ``len(encoder.raw_index)`` columns.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.frozen import FrozenEstimator
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    if isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    if not isinstance(estimator, Pipeline) or len(estimator.steps) < 2:
        raise _not_encodable(f"got {type(estimator).__name__}")
    first = estimator.steps[0][1]
    ens = read_ensemble(estimator[1:])
    if isinstance(first, OneHotEncoder):
        parts = [(first, list(range(encoder.n_features)), slice(0, None))]
    elif isinstance(first, ColumnTransformer):
        cols = column_transformer_indices(first)
        parts = [(t, cols.get(name, []), first.output_indices_[name])
                 for name, t, _ in first.transformers_ if not (isinstance(t, str) and t == "drop")]
    else:
        raise _not_encodable(f"its first step is {type(first).__name__}")
    n_out = max((p[2].stop or 0) for p in parts)
    column = np.full(n_out, -1, np.intp)  # attack column of each tree input
    scaled = {}                           # tree input -> (scaler, its column, its width)
    for trans, raw, where in parts:
        outs = np.arange(n_out)[where]
        if isinstance(trans, OneHotEncoder):
            if trans.drop_idx_ is not None or getattr(trans, "_infrequent_enabled", False):
                raise _not_encodable("its OneHotEncoder drops or groups categories")
            pos = 0
            for i, j in enumerate(raw):
                cats = np.asarray(trans.categories_[i], dtype=object)
                mine = np.flatnonzero(encoder.raw_index == j)
                known = encoder.categories.get(j)
                if known is None or len(known) != len(cats) or not all(
                        a == b for a, b in zip(known, cats)):
                    raise _not_encodable(f"the categories of column {j} include a missing "
                                         "value or differ from the attack's")
                column[outs[pos:pos + len(cats)]] = mine
                pos += len(cats)
        elif _passthrough(trans) or type(trans).__name__ in _SCALERS:
            for i, j in enumerate(raw):
                column[outs[i]] = np.flatnonzero(encoder.raw_index == j)[0]
                if not _passthrough(trans):
                    scaled[outs[i]] = (trans, i, len(raw))
        else:
            raise _not_encodable(f"it holds a {type(trans).__name__}")
    if np.any(column < 0):
        raise _not_encodable("some of its outputs come from no input column")
    feat = np.concatenate(ens.feature)
    keys = np.concatenate(ens.threshold).copy()
    inner = feat >= 0
    precision = ens.precision
    if scaled:
        # Scaled columns compare in double in input units; the other numeric
        # ones are pulled back through the identity (indicators are 0 or 1).
        hot = inner & np.isin(column[np.maximum(feat, 0)], np.flatnonzero(encoder.one_hot))
        groups = {}
        for n in np.flatnonzero(inner & ~hot & np.isfinite(keys)):
            trans, i, m = scaled.get(feat[n], (None, 0, 1))
            groups.setdefault(id(trans), (trans, m, []))[2].append((n, i))
        for trans, m, members in groups.values():
            nodes, idx = map(np.asarray, zip(*members))
            keys[nodes] = _pull_back((lambda Z: Z) if trans is None else trans.transform, idx,
                                     keys[nodes], precision, m)
        precision = 64
    cut = np.cumsum([len(f) for f in ens.feature])[:-1]
    feat = np.where(inner, column[np.maximum(feat, 0)], feat)
    return ens._replace(feature=tuple(np.split(feat, cut)),
                        threshold=tuple(np.split(keys, cut)), precision=precision,
                        n_features=len(encoder.raw_index))


class _TreeAttackMixin:
    """Reads the victim's trees at fit; both tree attacks share it."""

    def _victim_ensemble(self):
        encoder = getattr(self, "encoder_", None)
        if encoder is None or encoder.identity:
            return tree_ensemble(self.estimator)
        return encoded_ensemble(self.estimator, encoder)

    def _check_victim(self):
        super()._check_victim()
        self._victim_ensemble()

    def _validate_rows(self, X, *, reset):
        try:
            nan = np.isnan(np.asarray(X, dtype=np.float64)).any()
        except (TypeError, ValueError):  # categorical columns: the encoder checks them
            nan = False
        if nan:
            try:
                routes = tree_ensemble(self.estimator).missing_left is not None
            except Exception:  # an unfitted or unsupported victim: fit says so
                routes = False
            name = type(self.estimator).__name__
            raise ValueError(
                f"X contains NaN. {name} sends missing values a default way, but the tree "
                "attacks perturb observed values only: impute X first (e.g. "
                "sklearn.impute.SimpleImputer) or attack the complete rows." if routes else
                f"X contains NaN, but {name} has no missing-value direction (it rejects "
                "missing values): impute X first, e.g. with sklearn.impute.SimpleImputer.")
        return super()._validate_rows(X, reset=reset)

    def _victim_predict(self, X):
        # CatBoost's multiclass predict returns a column: one label per row.
        pred = np.asarray(super()._victim_predict(X))
        return pred.reshape(len(pred)) if pred.ndim == 2 and pred.shape[1] == 1 else pred

    def _fit_trees(self, X):
        c = self.constraints_
        group = np.asarray(c.group)
        hot = group >= 0
        self.ensemble_ = self._victim_ensemble()
        d, width = self.ensemble_.n_features, X.shape[1]  # width: one-hot encoded
        if d is not None and d != width:
            raise ValueError(f"X has {width} features, but the victim "
                             f"{type(self.estimator).__name__} was fitted on {d}.")
        # float32 rows hold only float32 values: a double comparison sees them so.
        self._precision = 32 if X.dtype == np.float32 else self.ensemble_.precision
        self._geometry = self.ensemble_._replace(precision=self._precision)
        self._integer = np.asarray(c.integer, bool) | hot
        self._keys, self._n_keys = _tc.split_keys(
            self._geometry, width, self._integer, extra_zero=hot)
        self._groups = tuple(np.flatnonzero(group == g) for g in np.unique(group[hot]))

    def _bounds(self, X):
        """Per-row bounds (monotone features bounded by the clean row) and the mutable mask."""
        c = self.constraints_
        lower, upper = _row_bounds(c, X, np)
        shape = np.shape(X)
        return (np.broadcast_to(np.asarray(lower, np.float64), shape),
                np.broadcast_to(np.asarray(upper, np.float64), shape),
                np.asarray(c.mutable, bool))

    def _attack_rows(self, X, labels, y_idx, key, out_dtype, rows):
        # The geometry is exact in the units of X: a detour through X / scale_
        # could move a point across a double-precision threshold.
        chunks = row_chunks(len(X), getattr(self, "batch_size", None),
                            getattr(self, "n_jobs", None))
        if len(chunks) > 1:
            return super()._attack_rows(X, labels, y_idx, key, out_dtype, rows)
        X_adv, extras = self._generate_rows(X, y_idx, key, rows)
        return self._finalize(X, np.asarray(X_adv, dtype=np.float64), labels, out_dtype, extras)

    def _generate(self, U, y_idx, key, rows):
        X_adv, extras = self._generate_rows(U * self.scale_, y_idx, key, rows)
        return X_adv / self.scale_, extras


_TREE_ESTIMATOR = """
    estimator : fitted tree classifier, default=None
        Binary or multiclass: scikit-learn's ``DecisionTreeClassifier``,
        ``ExtraTreeClassifier``, ``RandomForestClassifier``,
        ``ExtraTreesClassifier``, ``GradientBoostingClassifier`` or
        ``HistGradientBoostingClassifier`` (numeric categorical features
        included), ``xgboost.XGBClassifier``, ``lightgbm.LGBMClassifier`` or
        ``catboost.CatBoostClassifier`` (``pip install "skadv[trees]"``),
        possibly in a :class:`~sklearn.frozen.FrozenEstimator`, or last in a
        ``Pipeline`` after ``StandardScaler``, ``MinMaxScaler``,
        ``MaxAbsScaler`` or ``RobustScaler`` steps, or after a
        ``OneHotEncoder`` / ``ColumnTransformer`` of those (its categories
        become one-hot groups of the constraints). Rows must be complete: the
        attacks do not perturb missing values."""

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
    prediction of a tree ensemble (scikit-learn, XGBoost, LightGBM or
    CatBoost), found by mixed-integer linear programming with HiGHS
    (:func:`scipy.optimize.milp`). The distance is exact, so the attack
    doubles as a verifier: ``minimal_distance_`` is each row's robustness
    radius -- no perturbation strictly smaller changes the prediction, as the
    model compares inputs (float32 for scikit-learn's trees, XGBoost and
    CatBoost, whose returned points are float32 values; double for LightGBM,
    HistGradientBoosting and pipelines of scalers). Practical for small ensembles
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
        model already gets wrong. Exact to a relative 1e-9 (5e-10 in L2): no
        adversarial point is closer than ``(1 - 1e-9) * minimal_distance_``.
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
        self._fit_trees(X)
        self._milp = _tc.TreeMILP(self._geometry, self._keys, self._n_keys, self._integer)

    def _generate_rows(self, X, y_idx, key, rows):
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
        return X_adv, {"minimal_distance_": dist, "exact_": exact}


ExactTreeAttack.__doc__ = ExactTreeAttack.__doc__.replace("{trees}", _TREE_DOC.strip()).replace(
    "{estimator}", _TREE_ESTIMATOR.strip()).replace("{n_jobs}", N_JOBS_DOC)


class GreedyTreeAttack(_TreeAttackMixin, _QueryAttack):
    """Fast adversarial examples for tree ensembles: a search over leaf cells.

    From the nearest rows of the fit data that the model puts in another class
    (projected onto the row's constraints), each row searches balls of
    shrinking radius around its clean point for an adversarial cell of the
    ensemble's thresholds: the radius is bisected below the best distance
    found (in L-inf over the cells' own distances, one of which is the exact
    radius), and each probe is a steepest ascent of the adversarial margin
    over one-feature moves inside the ball, from the best point pulled into
    it and from the clean point. In L2 and L1 every start first descends by
    exchanges (one feature back towards the clean point while the point stays
    adversarial, or one feature's distance traded for a cheaper move of
    another), a knapsack-greedy path from the clean point (best margin gain
    per unit of added distance) is tried too, and the best point exchanges
    again. All rows and their candidate
    moves are scored together on the victim's trees as read from the model,
    re-descending only the trees whose leaf a move leaves; the victim's own
    ``predict`` confirms every row returned (a row it disagrees on is searched
    again with ``predict`` as the oracle). The result is an upper bound of the
    row's robustness radius (:class:`ExactTreeAttack` gives the exact value,
    slowly); ``benchmarks/bench_trees.py`` measures how close.

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
        Maximum steps of each walk and of each margin ascent.
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
        Points (cell vectors) of each row the trees classified.
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
        self._fit_trees(X)
        self._forest = CellForest(self._geometry, self._keys, self._integer)
        self._fit_references(X)

    def _generate_rows(self, X, y_idx, key, rows):
        keys, integer, scale, precision = self._keys, self._integer, self.scale_, self._precision
        k = min(self.init_size, len(self.reference_))
        ref_cells = _tc.cells_of(self.reference_, keys, integer, precision)

        def attack_batch(Xb, yb, kb, live):
            lower, upper, mutable = self._bounds(Xb)
            own, cmin, cmax = _tc.cell_range(Xb, keys, self._n_keys, integer, lower, upper,
                                             mutable, precision)
            near, valid = self._nearest_references(Xb / scale, yb, k)
            starts = np.where(mutable, ref_cells[near], own[:, None, :])
            valid &= live[:, None]
            count = np.zeros(len(Xb), dtype=np.int64)
            forest = self._forest

            def hit(pred, rows):
                np.add.at(count, rows, 1)
                return pred == yb[rows] if self.targeted else pred != yb[rows]

            def trees(points, rows):
                # The victim's own trees, read exactly, on exactly these values.
                return hit(forest.predict(_tc.cells_of(points, keys, integer, precision)), rows)

            def victim(points, rows):
                return hit(self._class_index(self._victim_predict(points)), rows)

            walk = dict(keys=keys, integer=integer, scale=scale, norm=self.norm_,
                        restarts=self.restarts, max_iter=self.steps, precision=precision)
            X_adv, success, evals = greedy_walk(
                trees, Xb, starts, valid, cmin=cmin, cmax=cmax, own=own, forest=forest,
                y=yb, targeted=self.targeted, eps=self._eps(), refine_steps=self.steps,
                **walk)
            count += evals
            # The victim's own predict has the last word: a row it does not
            # confirm (scores that tie to the last bit, say) walks again on
            # predict alone.
            redo = np.flatnonzero(success)
            if redo.size:
                redo = redo[~victim(X_adv[redo], redo)]
            redo = np.union1d(redo, np.flatnonzero(~success & live))
            if redo.size:
                X_adv[redo], _, _ = greedy_walk(
                    lambda p, r: victim(p, redo[r]), Xb[redo], starts[redo], valid[redo],
                    cmin=cmin[redo], cmax=cmax[redo], own=own[redo], **walk)
            return X_adv, count

        return self._run(attack_batch, X, y_idx, key, rows)


GreedyTreeAttack.__doc__ = GreedyTreeAttack.__doc__.replace("{trees}", _TREE_DOC.strip()).replace(
    "{estimator}", _TREE_ESTIMATOR.strip()).replace("{n_jobs}", N_JOBS_DOC)
