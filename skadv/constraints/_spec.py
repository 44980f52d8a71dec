"""The user-facing spec, :class:`FeatureConstraints`: names and defaults resolved.

:meth:`FeatureConstraints.resolve` turns it into :class:`ConstraintArrays`;
its methods that use the constraints are thin wrappers of the array modules.
"""

import re
from numbers import Integral

import numpy as np
import jax.numpy as jnp

from . import _checks, _repair
from . import _expressions as _ex
from ._arrays import ConstraintArrays, Relations, RelationSpec
from ._project import project_relaxed


def _as_index_list(spec, name):
    if spec is None:
        return []
    if isinstance(spec, (str, Integral)):
        return [spec]
    spec = list(spec) if not isinstance(spec, np.ndarray) else spec.tolist()
    if spec and all(isinstance(s, (bool, np.bool_)) for s in spec):
        return [i for i, s in enumerate(spec) if s]
    return spec


_DEFAULT_NAME = re.compile(r"x(\d+)")


def _relation_items(relations):
    """``relations`` as a list of ``(name, text or Relation)``."""
    if relations is None:
        return []
    if isinstance(relations, (str, _ex.Relation)):
        relations = [relations]
    if isinstance(relations, dict):
        return list(relations.items())
    out = []
    for item in relations:
        name = item.name if isinstance(item, _ex.Relation) else item
        out.append((name, item))
    return out


class FeatureConstraints:
    """Which rows an attacker may produce, feature by feature and between features.

    Parameters
    ----------
    lower, upper : float, array-like of shape (n_features,) or dict, default=None
        Bounds per feature (a scalar applies to all; a dict maps column names or
        indices to a bound; ``None``/``nan`` means unbounded).
    immutable : list of int or str, or bool mask, default=None
        Features an attacker cannot change.
    integer : list of int or str, or bool mask, default=None
        Features that take integer values.
    one_hot_groups : list of lists of int or str, default=None
        Each inner list holds the columns of one one-hot encoded feature:
        exactly one of them is 1, the others 0.
    increase_only, decrease_only : list of int or str, or bool mask, default=None
        Features an attacker can only increase (``x' >= x``: add income, open
        an account) or only decrease.
    relations : list of str, or dict of str to str, default=None
        Relations between features, as text over column names (a dict names
        them for reports; otherwise the text is the name). Two kinds:

        * **linear** relations ``"open_credit <= total_credit"``,
          ``"share_a + share_b + share_c == 1"``, ``"debt <= 1.5 * income"``
          (``<=``, ``>=`` or ``==`` between linear expressions: sums of
          numbers times columns) are imposed exactly;
        * **derived** features ``"debt_ratio == debt / income"`` (a column
          equal to a non-linear expression of others, with ``+ - * /`` and
          parentheses) are recomputed from their inputs whenever those move.

        Anything else (``"debt / income <= 0.5"``) is rejected with a
        ``ValueError``: write it linearly (``"debt <= 0.5 * income"``) or as
        a derived column with bounds. Columns that are not identifiers are
        written between backticks; without ``feature_names``, ``x0``, ``x1``,
        ... name the columns. The text is parsed, never ``eval``-ed.
    feature_names : array-like of str, default=None
        Column names, to resolve names before a DataFrame is seen; when ``X``
        is a DataFrame its columns are used.

    Notes
    -----
    :meth:`repair` makes rows valid: the box, immutability and the discrete
    features first; then, for rows that break a linear relation, the
    Euclidean projection (in units of the budget's scale) onto the box, the
    L-inf budget and the linear relations with the discrete features held
    (:func:`project_polytope`, exact to ``1e-9``); rows where that set is
    empty or the projection does not converge get the nearest valid point in
    L1 by a mixed-integer program (``scipy.optimize.milp``, HiGHS), integers
    and one-hot groups free. Derived features are then recomputed, and a row
    that still breaks a constraint or the budget (a derived feature out of
    its bounds, an L2 budget) is pulled back along the segment to the clean
    row until it is valid -- the clean row itself always is. A perturbation
    budget counts the features an attacker changes, not derived ones
    (:func:`budget_mask`).

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.constraints import FeatureConstraints
    >>> X = np.array([[0., 1., 0., 3.5], [1., 0., 1., 2.0]])
    >>> fc = FeatureConstraints(lower=0, upper=[1, 1, 1, 10], integer=[0],
    ...                         one_hot_groups=[[1, 2]], immutable=[3])
    >>> X_adv = X + np.array([[0.6, -0.6, 0.7, 1.0], [0.1, 0.4, 0.0, 0.0]])
    >>> fc.repair(X_adv, X)
    array([[1. , 0. , 1. , 3.5],
           [1. , 0. , 1. , 2. ]])
    >>> bool(fc.is_satisfied(fc.repair(X_adv, X), X).all())
    True

    Relations between named columns:

    >>> fc = FeatureConstraints(
    ...     lower=0, increase_only=["income"],
    ...     relations={"credit used": "open_credit <= total_credit",
    ...                "ratio": "debt_ratio == debt / income"},
    ...     feature_names=["income", "debt", "debt_ratio", "open_credit", "total_credit"])
    >>> X = np.array([[100., 20., 0.2, 5., 10.]])
    >>> X_adv = np.array([[90., 30., 0.2, 12., 10.]])
    >>> fc.repair(X_adv, X).round(6)
    array([[100. ,  30. ,   0.3,  11. ,  11. ]])
    >>> {k: bool(v[0]) for k, v in fc.violations(X_adv, X).items() if v[0]}
    {'increase_only': True, 'credit used': True, 'ratio': True}
    """

    def __init__(self, lower=None, upper=None, *, immutable=None, integer=None,
                 one_hot_groups=None, increase_only=None, decrease_only=None,
                 relations=None, feature_names=None):
        self.lower = lower
        self.upper = upper
        self.immutable = immutable
        self.integer = integer
        self.one_hot_groups = one_hot_groups
        self.increase_only = increase_only
        self.decrease_only = decrease_only
        self.relations = relations
        self.feature_names = feature_names

    def __repr__(self):
        parts = [f"{k}={v!r}" for k, v in vars(self).items() if v is not None]
        return f"FeatureConstraints({', '.join(parts)})"

    # -- construction -----------------------------------------------------
    @classmethod
    def from_data(cls, X, *, immutable=None, one_hot_groups=None, integer="auto",
                  bounds="data", margin=0.0, increase_only=None, decrease_only=None,
                  relations=None):
        """Infer bounds and integer features from data.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Representative data (usually the training set).
        immutable : list of int or str, default=None
            Features an attacker cannot change.
        one_hot_groups : list of lists, default=None
            Columns of each one-hot encoded feature.
        integer : "auto", list or None, default="auto"
            ``"auto"`` marks a column integer when all its values are whole
            numbers (binary columns included).
        bounds : {"data", None}, default="data"
            ``"data"``: each feature between its observed min and max
            (widened by ``margin`` times its range); ``None``: unbounded.
        margin : float, default=0.0
            Relative widening of the observed range.
        increase_only, decrease_only, relations : default=None
            As in :class:`FeatureConstraints`.

        Returns
        -------
        constraints : FeatureConstraints
        """
        names = None
        if hasattr(X, "columns"):
            names = np.asarray(X.columns, dtype=object)
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise ValueError(
                f"from_data needs a non-empty 2D array. Got shape {X.shape} instead.")
        if not np.all(np.isfinite(X)):
            raise ValueError("from_data: X contains NaN or infinity.")
        lower = upper = None
        if bounds == "data":
            lo, hi = X.min(axis=0), X.max(axis=0)
            widen = margin * (hi - lo)
            lower, upper = lo - widen, hi + widen
        elif bounds is not None:
            raise ValueError(f"bounds must be 'data' or None. Got {bounds!r} instead.")
        if isinstance(integer, str) and integer == "auto":
            integer = np.all(X == np.round(X), axis=0)
            if one_hot_groups:
                for group in one_hot_groups:
                    idx = [cls._index_of(g, names, X.shape[1]) for g in group]
                    integer[idx] = False
        return cls(lower=lower, upper=upper, immutable=immutable, integer=integer,
                   one_hot_groups=one_hot_groups, increase_only=increase_only,
                   decrease_only=decrease_only, relations=relations,
                   feature_names=None if names is None else list(names))

    @classmethod
    def from_arrays(cls, arrays):
        """The constraints that resolve to ``arrays`` (by column index).

        Parameters
        ----------
        arrays : ConstraintArrays
            Resolved constraints, e.g. an attack's ``constraints_``.

        Returns
        -------
        constraints : FeatureConstraints
            ``from_arrays(a).resolve(len(a.lower))`` equals ``a``.
        """
        group = np.asarray(arrays.group)
        groups = [np.flatnonzero(group == g).tolist() for g in np.unique(group[group >= 0])]
        direction = (np.zeros(len(group), np.int8) if arrays.direction is None
                     else np.asarray(arrays.direction))
        rel = arrays.relations
        return cls(lower=np.asarray(arrays.lower, np.float64),
                   upper=np.asarray(arrays.upper, np.float64),
                   immutable=np.flatnonzero(~np.asarray(arrays.mutable, bool)).tolist(),
                   integer=np.flatnonzero(np.asarray(arrays.integer, bool)).tolist(),
                   one_hot_groups=groups or None,
                   increase_only=np.flatnonzero(direction > 0).tolist() or None,
                   decrease_only=np.flatnonzero(direction < 0).tolist() or None,
                   relations=None if rel is None else list(rel.spec.relations))

    @staticmethod
    def _index_of(item, names, n_features):
        if isinstance(item, (Integral, np.integer)) and not isinstance(item, bool):
            if not -n_features <= int(item) < n_features:
                raise ValueError(
                    f"Feature index {item} is out of range for {n_features} features.")
            return int(item) % n_features
        if names is None:
            raise ValueError(
                f"Feature {item!r} is given by name, but X has no column names. "
                "Pass a DataFrame or feature_names=... to FeatureConstraints.")
        hits = np.flatnonzero(np.asarray(names) == item)
        if len(hits) != 1:
            raise ValueError(
                f"Unknown feature name {item!r}; known names: {list(names)}.")
        return int(hits[0])

    def _bound(self, spec, n_features, names, fill, which):
        if spec is None:
            return np.full(n_features, fill)
        if isinstance(spec, dict):
            out = np.full(n_features, fill)
            for k, v in spec.items():
                out[self._index_of(k, names, n_features)] = fill if v is None else v
            return out
        arr = np.asarray(spec, dtype=np.float64)
        if arr.ndim == 0:
            return np.full(n_features, float(arr))
        if arr.shape != (n_features,):
            raise ValueError(
                f"{which} must be a scalar, a dict or have shape ({n_features},). "
                f"Got shape {arr.shape} instead.")
        return np.where(np.isnan(arr), fill, arr)

    def resolve(self, n_features, feature_names=None):
        """Resolve names and defaults into :class:`ConstraintArrays`.

        Parameters
        ----------
        n_features : int
            Number of features of the data being attacked.
        feature_names : array-like of str, default=None
            Column names of that data (overrides ``self.feature_names``).

        Returns
        -------
        arrays : ConstraintArrays
            float64 bounds, bool masks, int32 group ids, int8 directions and
            the resolved relations (None without any).

        Raises
        ------
        ValueError
            For an unknown column, an unparsable or non-linear relation (the
            message names it), or contradictory settings.
        """
        names = feature_names if feature_names is not None else self.feature_names
        if names is not None and len(names) != n_features:
            raise ValueError(
                f"feature_names has {len(names)} entries but the data have "
                f"{n_features} features.")
        lower = self._bound(self.lower, n_features, names, -np.inf, "lower")
        upper = self._bound(self.upper, n_features, names, np.inf, "upper")
        if np.any(lower > upper):
            bad = np.flatnonzero(lower > upper).tolist()
            raise ValueError(f"lower > upper for features {bad}.")
        mutable = np.ones(n_features, dtype=bool)
        for item in _as_index_list(self.immutable, "immutable"):
            mutable[self._index_of(item, names, n_features)] = False
        integer = np.zeros(n_features, dtype=bool)
        for item in _as_index_list(self.integer, "integer"):
            integer[self._index_of(item, names, n_features)] = True
        group = np.full(n_features, -1, dtype=np.int32)
        for g, cols in enumerate(self.one_hot_groups or []):
            idx = [self._index_of(c, names, n_features) for c in cols]
            if len(idx) < 2:
                raise ValueError(f"one-hot group {cols!r} needs at least two columns.")
            if np.any(group[idx] >= 0):
                raise ValueError(f"one-hot group {cols!r} overlaps another group.")
            group[idx] = g
            lower[idx] = np.maximum(lower[idx], 0.0)
            upper[idx] = np.minimum(upper[idx], 1.0)
            integer[idx] = False
        direction = np.zeros(n_features, dtype=np.int8)
        for item in _as_index_list(self.increase_only, "increase_only"):
            direction[self._index_of(item, names, n_features)] = 1
        for item in _as_index_list(self.decrease_only, "decrease_only"):
            j = self._index_of(item, names, n_features)
            if direction[j] > 0:
                raise ValueError(
                    f"Feature {item!r} is both increase_only and decrease_only; make it "
                    "immutable instead.")
            direction[j] = -1
        relations = self._resolve_relations(n_features, names, mutable, integer, group,
                                            direction)
        return ConstraintArrays(lower, upper, mutable, integer, group, direction, relations)

    def _resolve_relations(self, n_features, names, mutable, integer, group, direction):
        items = _relation_items(self.relations)
        if not items:
            return None
        rows, rhs, row_names, row_eq = [], [], [], []
        parsed, derived, derived_names = [], [], []
        for name, text in items:
            rel = (text if isinstance(text, _ex.Relation)
                   else _ex.parse_relation(text, name=name))
            where = f"Relation {rel.name!r} ({rel.text!r})"

            def lookup(col, where=where):
                if isinstance(col, (Integral, np.integer)):
                    return self._index_of(int(col), None, n_features)
                if names is None:
                    m = _DEFAULT_NAME.fullmatch(col)
                    if m is None:
                        raise ValueError(
                            f"{where}: column {col!r} is given by name, but X has no "
                            f"column names. Pass a DataFrame or feature_names=..., or "
                            f"write x0, x1, ... for columns by position.")
                    return self._index_of(int(m.group(1)), None, n_features)
                try:
                    return self._index_of(col, names, n_features)
                except ValueError:
                    raise ValueError(
                        f"{where}: unknown column {col!r}; known names: "
                        f"{list(names)}.") from None

            left = _ex.resolve_columns(rel.left, lookup)
            right = _ex.resolve_columns(rel.right, lookup)
            rel = _ex.Relation(rel.text, rel.name, rel.op, left, right)
            parsed.append(rel)
            form = _ex.affine(_ex.BinOp("-", left, right))
            if form is not None:
                coef = form.as_dict()
                if not coef:
                    raise ValueError(
                        f"{where} involves no feature (its columns cancel out).")
                a = np.zeros(n_features)
                for j, v in coef.items():
                    a[j] = v
                sign = -1.0 if rel.op == ">=" else 1.0
                rows.append(sign * a)
                rhs.append(-sign * form.const)
                row_names.append(rel.name)
                row_eq.append(rel.op == "==")
                continue
            target = expr = None
            if rel.op == "==":
                for one, other in ((left, right), (right, left)):
                    if isinstance(one, _ex.Col) and one.name not in _ex.columns(other):
                        target, expr = one.name, other
                        break
            if target is None:
                raise ValueError(
                    f"{where} is not linear. skadv imposes linear relations "
                    f"(sums of numbers times columns, compared with <=, >= or ==) "
                    f"exactly, and derived features written 'column == expression' "
                    f"by recomputing them. Rewrite it linearly (e.g. 'debt <= 0.5 * "
                    f"income' for 'debt / income <= 0.5'), or as a derived column "
                    f"with bounds.")
            label = names[target] if names is not None else f"x{target}"
            if not mutable[target] or integer[target] or group[target] >= 0 \
                    or direction[target] != 0:
                raise ValueError(
                    f"{where}: the derived feature {label!r} is recomputed from its "
                    f"inputs, so it cannot also be immutable, integer, one-hot or "
                    f"monotone; constrain its inputs instead.")
            done = {t for t, _ in derived}
            if target in done:
                raise ValueError(f"{where}: {label!r} is already derived by another relation.")
            derived.append((target, expr))
            derived_names.append(rel.name)
        # A derived feature's inputs must not be derived later on.
        order = {t: i for i, (t, _) in enumerate(derived)}
        for i, (t, expr) in enumerate(derived):
            late = [j for j in _ex.columns(expr) if order.get(j, -1) > i]
            if late:
                raise ValueError(
                    f"Relation {derived_names[i]!r} uses a derived feature defined by a "
                    f"later relation; list derived features in the order they are computed.")
        G = np.asarray(rows, dtype=np.float64).reshape(len(rows), n_features)
        spec = RelationSpec(tuple(parsed), tuple(row_names), tuple(row_eq), tuple(derived),
                            tuple(derived_names))
        return Relations(G, np.asarray(rhs, np.float64), np.ones(n_features),
                         np.asarray(np.inf), spec)

    # -- use ----------------------------------------------------------------
    def _arrays_for(self, X, arrays=None):
        if arrays is not None:
            return arrays
        names = np.asarray(X.columns, dtype=object) if hasattr(X, "columns") else None
        return self.resolve(np.shape(X)[1], names)

    def project(self, X_adv, X):
        """Project onto the relaxed constraints (box, immutability, relations); jit-able.

        Parameters
        ----------
        X_adv, X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_proj : jax.Array
            See :func:`project_relaxed`; :meth:`repair` is the exact version.
        """
        c = self.resolve(np.shape(X)[1])
        return project_relaxed(c, jnp.asarray(X_adv), jnp.asarray(X))

    def repair(self, X_adv, X, *, eps=None, norm="inf", scale=None, arrays=None):
        """Make every row satisfy the constraints exactly, and the budget if given.

        Immutable features are reset; one-hot groups snap to their largest
        entry; integers round to the nearest whole number the budget allows;
        bounds (and ``increase_only``/``decrease_only``) are clipped. If the
        discrete changes break an L2 or L1 budget, they are undone (the clean
        row's discrete values are always valid). Relations are then imposed
        as described in the class notes.

        Parameters
        ----------
        X_adv, X : array-like of shape (n_samples, n_features)
            Candidate and clean rows. ``X`` must satisfy the constraints
            (:meth:`check_clean`).
        eps : float or None, default=None
            Perturbation budget, in units of ``scale``.
        norm : {"inf", 2, 1}, default="inf"
        scale : array-like of shape (n_features,), default=None
            Per-feature scale of the budget (ones when None).
        arrays : ConstraintArrays, default=None
            Already resolved constraints (skips resolution).

        Returns
        -------
        X_rep : ndarray of shape (n_samples, n_features), float64
        """
        c = self._arrays_for(X, arrays)
        return _repair.repair(c, X_adv, X, eps=eps, norm=norm, scale=scale)

    def violations(self, X_adv, X=None, *, tol=1e-6, arrays=None):
        """Which constraint each row breaks.

        Parameters
        ----------
        X_adv : array-like of shape (n_samples, n_features)
        X : array-like of shape (n_samples, n_features), default=None
            Clean rows (needed to check immutability and monotone features).
        tol : float, default=1e-6
            Tolerance, relative to the size of the terms compared
            (``max(1, |value|)`` for a feature).
        arrays : ConstraintArrays, default=None

        Returns
        -------
        violations : dict of str to ndarray of bool, shape (n_samples,)
            Keys ``"bounds"``, ``"immutable"``, ``"integer"``, ``"one_hot"``;
            with monotone features ``"increase_only"``/``"decrease_only"``;
            then one key per relation, its name. A non-finite value breaks
            every check it takes part in.
        """
        return _checks.violations(self._arrays_for(X_adv, arrays), X_adv, X, tol=tol)

    def is_satisfied(self, X_adv, X=None, *, tol=1e-6, arrays=None,
                     return_violations=False):
        """Boolean per row: does it satisfy every constraint?

        Parameters
        ----------
        X_adv : array-like of shape (n_samples, n_features)
        X : array-like of shape (n_samples, n_features), default=None
            Clean rows (needed for immutability and monotone features).
        tol : float, default=1e-6
        arrays : ConstraintArrays, default=None
        return_violations : bool, default=False
            Also return :meth:`violations`: which constraint each failing row
            breaks.

        Returns
        -------
        ok : ndarray of bool, shape (n_samples,)
        violations : dict of str to ndarray of bool
            Only when ``return_violations``.
        """
        return _checks.is_satisfied(self._arrays_for(X_adv, arrays), X_adv, X, tol=tol,
                                    return_violations=return_violations)

    def check_clean(self, X, *, arrays=None, what="X"):
        """Raise a ``ValueError`` naming the constraint the clean rows ``X`` break.

        An attack starts from, and falls back to, the clean rows: constraints
        they do not satisfy cannot be kept.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        arrays : ConstraintArrays, default=None
        what : str, default="X"
            How the message calls the rows.
        """
        _checks.check_clean(self._arrays_for(X, arrays), X, what=what)
