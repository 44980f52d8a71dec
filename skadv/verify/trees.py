"""Certified radii of tree ensembles: exact by MILP, or a sound bound in polynomial time.

Pure numerical code (NumPy, SciPy; no scikit-learn): a model is read into an
:class:`~skadv._core.trees.Ensemble` by
:func:`~skadv._core.tree_readers.read_ensemble`, then
:class:`~skadv._core.trees.TreeMILP` (exact) or
:class:`~skadv._core.tree_bounds.CliqueBound` (bound) does the work.
"""

import warnings
from numbers import Integral, Real

import numpy as np

from .._core.tree_bounds import CliqueBound
from .._core.tree_readers import check_rows, read_ensemble
from .._core.trees import TreeMILP, split_keys

__all__ = ["tree_certified_radius"]

_NORMS = {"inf": "inf", "linf": "inf", np.inf: "inf", 2: 2, "2": 2, "l2": 2,
          1: 1, "1": 1, "l1": 1}
_METHODS = ("bound", "exact")


def _number(value, name, *, low, strict, allow_inf=False):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"`{name}` must be a number or None. Got {type(value).__name__} "
                        f"instead.")
    value = float(value)
    bad = np.isnan(value) or value < low or (strict and value == low) or (
        np.isinf(value) and not allow_inf)
    if bad:
        what = "positive" if strict else "non-negative"
        raise ValueError(f"`{name}` must be a {what} finite number or None. Got {value!r} "
                         f"instead.")
    return value


def _integer(value, name, low, allow_none=False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Integral) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}"
                         f"{' or None' if allow_none else ''}. Got {value!r} instead.")
    return int(value)


def _rows(X, ens):
    try:
        X = check_rows(ens, X)
    except (TypeError, ValueError) as e:
        if isinstance(e, ValueError) and str(e).startswith("X "):
            raise
        raise TypeError("X must be a numeric array of shape (n_samples, n_features).") from e
    if np.isnan(X).any():
        raise ValueError("X contains NaN: a certificate is about perturbing known values, "
                         "so rows with missing values are not certified; impute them first "
                         "or certify the complete rows.")
    return X


def _domain(lower, upper, X):
    n, d = X.shape
    out = []
    for name, v, fill in (("lower", lower, -np.inf), ("upper", upper, np.inf)):
        v = np.full(d, fill) if v is None else np.asarray(v, np.float64)
        if v.ndim == 0:
            v = np.full(d, float(v))
        if v.shape not in ((d,), (n, d)) or np.isnan(v).any():
            raise ValueError(f"`{name}` must be a number or an array of shape ({d},) or "
                             f"({n}, {d}) without NaN. Got shape {v.shape} instead.")
        out.append(v)
    lower, upper = out
    if np.any(X < lower) or np.any(X > upper):
        raise ValueError("Rows of `X` lie outside [`lower`, `upper`]; a certificate is "
                         "about the domain around each row, clip X first.")
    return lower, upper


def _scale(feature_scale, d):
    if feature_scale is None:
        return np.ones(d)
    scale = np.asarray(feature_scale, np.float64)
    if scale.shape != (d,) or not np.all(np.isfinite(scale)) or np.any(scale <= 0):
        raise ValueError(f"`feature_scale` must be None or {d} positive finite numbers "
                         f"(e.g. the training data's X.std(axis=0)). Got {feature_scale!r} "
                         f"instead.")
    return scale


def tree_certified_radius(estimator, X, *, norm="inf", method="bound", eps=None,
                          time_limit=None, feature_scale=None, lower=None, upper=None,
                          max_clique=2, max_level=None, max_cliques=16384):
    """Radius per row within which a tree ensemble's prediction provably cannot change.

    ``method="exact"`` solves Kantchelian et al.'s MILP for the nearest point
    the model classifies differently (HiGHS, one problem per row and rival
    class): the radius is the row's exact robustness radius, with one
    deliberate rounding towards safety: a rival class within float rounding
    (``tol``) of the predicted one counts as winning, because the model's own
    float sums could order such a near-tie either way. Where a rival can tie
    exactly (a random forest's averaged votes at 0.5/0.5) the exact radius
    is therefore the distance to that tie, which can be below
    :class:`~skadv.attacks.ExactTreeAttack`'s ``minimal_distance_`` (a point
    the model really classifies differently). ``method="bound"``
    is Chen et al.'s multi-level clique search: over the ball, each tree can
    only reach the leaves whose boxes the ball meets; grouping ``max_clique``
    trees at a time and keeping only the tuples of leaves whose boxes
    intersect (level by level, groups of groups) bounds every rival class's
    score margin from above in polynomial time. At each level, nodes that no
    tuple breaking the certificate can use are pruned (their value plus the
    other groups' best stays below zero), so by default the levels go on until
    one group is left, within ``max_cliques``. The largest radius that bound
    certifies is found exactly (a binary search over the distances at which
    leaves come into reach, not over a grid of radii). It is a lower bound of
    the exact radius, usually a tight one, and much faster.

    Parameters
    ----------
    estimator : fitted tree classifier, Booster, path, or Ensemble
        Anything :func:`~skadv._core.tree_readers.read_ensemble` reads --
        scikit-learn's tree, forest and (histogram) gradient-boosting
        classifiers (also after scalers in a ``Pipeline``), XGBoost, LightGBM
        and CatBoost classifiers and boosters, an XGBoost JSON model or dump
        -- or an :class:`~skadv._core.trees.Ensemble`. The radius is about the
        model's own prediction at each row, whatever the true label.
    X : array-like of shape (n_samples, n_features)
        Finite rows (no missing values), inside [``lower``, ``upper``].
    norm : {"inf", 2, 1}, default="inf"
    method : {"bound", "exact"}, default="bound"
    eps : float, default=None
        Largest radius of interest: radii are capped at ``eps``, so
        ``radius >= eps`` says the row is certified at ``eps`` (and the search
        stops sooner). None: no cap (``inf`` where no point of the domain gets
        another class).
    time_limit : float, default=None
        Seconds per MILP (``method="exact"``; the bound ignores it). A row whose
        MILP hits it gets the bound's radius instead, with a warning.
    feature_scale : array-like of shape (n_features,), default=None
        Positive per-feature units: distances are measured in
        ``(x' - x) / feature_scale``, as the attacks' ``feature_scale``.
    lower, upper : float or array-like of shape (n_features,) or (n_samples, n_features), default=None
        Bounds of the input domain; points outside never count.
    max_clique : int, default=2
        Bound only: groups merged at each level of the clique search.
    max_level : int, default=None
        Bound only: clique levels after the per-tree bound (None: until one
        group is left -- an exact search of the ball in L-inf, if it stays
        within ``max_cliques``). Chen et al.'s published run used 1.
    max_cliques : int, default=16384
        Bound only: cliques a row may hold in one level; past it, the row's
        lower-valued nodes are lumped into the hull of their boxes, worth the
        best of them (looser, still sound), and the search goes on. It bounds
        time and memory.

    Returns
    -------
    radius : ndarray of shape (n_samples,)
        No point at distance less than ``radius`` from a row (in ``norm``,
        scaled) is classified differently; for ``"bound"``, none at distance
        exactly ``radius`` either. ``0`` where the row's own scores tie within
        float32 rounding.

    Raises
    ------
    ValueError
        For an unknown ``norm`` or ``method``, a negative ``eps``, a
        non-positive ``time_limit``, ``X`` with NaN/inf or the wrong number of
        features, or rows outside [``lower``, ``upper``].
    TypeError
        For a model the tree readers do not take.

    Notes
    -----
    Both radii are promises about the model as it computes: thresholds are
    compared in the model's precision and a class counts as winning when its
    margin is within float32 rounding of winning (so a row never loses its
    certificate to summation order). The exact radius is the distance to the
    nearest input the model can be given exactly (a float32 value for a
    float32 model), as ``ExactTreeAttack.minimal_distance_``; the bound is
    also sound for real-valued inputs, so it never exceeds the exact radius.
    The bound is sound for every ``max_clique``/``max_level``; larger values
    are tighter and slower. Its radius is shrunk by the relative rounding
    error of the distance arithmetic (about ``n_features`` float64 units in the
    last place), so that even ``x + radius`` stays on the row's side of every
    threshold.

    References
    ----------
    .. [1] H. Chen, H. Zhang, S. Si, Y. Li, D. Boning, C.-J. Hsieh. "Robustness
       Verification of Tree-based Models", NeurIPS 2019.
    .. [2] A. Kantchelian, J. D. Tygar, A. D. Joseph. "Evasion and Hardening of
       Tree Ensemble Classifiers", ICML 2016.

    Examples
    --------
    Two stumps on one feature; the second one weighs twice as much, so class 1
    wins exactly where ``x > 0.75``.

    >>> import numpy as np
    >>> from skadv._core.trees import Ensemble
    >>> from skadv.verify import tree_certified_radius
    >>> def stump(t, left, right):
    ...     return (np.array([0, -1, -1]), np.array([t, 0, 0]), np.array([1, -1, -1]),
    ...             np.array([2, -1, -1]), np.array([[0, 0], left, right], float))
    >>> trees = [stump(0.5, [1, 0], [0, 1]), stump(0.75, [2, 0], [0, 2])]
    >>> ens = Ensemble(*map(tuple, zip(*trees)), offset=np.zeros(2),
    ...                tie_wins=np.array([[False, True], [False, False]]))
    >>> X = np.array([[0.0], [0.6], [1.0]])
    >>> for method in ("bound", "exact"):
    ...     print(method, np.round(tree_certified_radius(ens, X, method=method), 4))
    bound [0.75 0.15 0.25]
    exact [0.75 0.15 0.25]
    """
    norm_ = _NORMS.get(norm.lower() if isinstance(norm, str) else norm) if not isinstance(
        norm, bool) else None
    if norm_ is None:
        raise ValueError(f"`norm` must be 'inf', 2 or 1. Got {norm!r} instead.")
    if method not in _METHODS:
        raise ValueError(f"`method` must be 'bound' (fast, a lower bound) or 'exact' "
                         f"(MILP). Got {method!r} instead.")
    eps = _number(eps, "eps", low=0.0, strict=False)
    time_limit = _number(time_limit, "time_limit", low=0.0, strict=True)
    max_clique = _integer(max_clique, "max_clique", 2)
    max_level = _integer(max_level, "max_level", 0, allow_none=True)
    max_cliques = _integer(max_cliques, "max_cliques", 1)
    ens = read_ensemble(estimator)
    X = _rows(X, ens)
    n, d = X.shape
    lower, upper = _domain(lower, upper, X)
    scale = _scale(feature_scale, d)
    integer = np.zeros(d, bool)
    keys, n_keys = split_keys(ens, d, integer)
    bound = CliqueBound(ens, keys, n_keys)
    # The model's own prediction (the readers reproduce it); where its float
    # sums could order a near-tie differently, the margin is within tol and
    # the radius comes out 0 either way.
    pred = ens.predict(X)
    options = dict(norm=norm_, scale=scale, eps=eps, max_clique=max_clique,
                   max_level=max_level, max_cliques=max_cliques)
    if method == "bound":
        return bound.radius(X, pred, lower=lower, upper=upper, **options)
    radius = np.empty(n)
    solved = np.ones(n, bool)
    low = np.broadcast_to(lower, (n, d))
    high = np.broadcast_to(upper, (n, d))
    n_classes = len(ens.offset)
    for y in np.unique(pred):
        # Margins within rounding of winning count as wins: shift every rival
        # class up by tol and ask for a margin >= 0.
        shift = bound.tol * (np.arange(n_classes) != y)
        milp = TreeMILP(ens._replace(offset=np.asarray(ens.offset, np.float64) + shift),
                        keys, n_keys, integer)
        for i in np.flatnonzero(pred == y):  # one MILP per row and rival class
            _, dist, solved[i] = milp.solve(
                X[i], int(y), norm=norm_, scale=scale, lower=low[i], upper=high[i],
                mutable=np.ones(d, bool), eps=eps, time_limit=time_limit, strict=0.0)
            radius[i] = dist if eps is None else min(dist, eps)
    if not solved.all():
        late = np.flatnonzero(~solved)
        warnings.warn(
            f"{late.size} of {n} MILPs hit time_limit={time_limit}; those rows get the "
            "clique bound's radius (sound, possibly smaller). Raise time_limit for exact "
            "radii.", RuntimeWarning, stacklevel=2)
        radius[late] = bound.radius(X[late], pred[late], lower=low[late], upper=high[late],
                                    **options)
    return radius
