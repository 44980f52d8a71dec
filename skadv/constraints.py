"""Tabular feature constraints: what an adversarial row is allowed to be.

A :class:`FeatureConstraints` says, per feature, the range of valid values, which
features an attacker cannot change (age, a contract's start date), which take
integer values (number of open accounts) and which columns are the one-hot
encoding of one categorical feature. Attacks use it twice:

* inside every iterative step, through the pure, jit-able :func:`project_relaxed`
  on :class:`ConstraintArrays` (box, immutability; integers and one-hot groups
  are relaxed to their continuous hull there);
* once at the end, through :meth:`FeatureConstraints.repair`, which rounds
  integers, snaps one-hot groups, and re-imposes the box and the perturbation
  budget exactly, in float64.

Projecting towards the clean row never increases a perturbation's norm (each
coordinate moves towards its clean value), so box, immutability and budget can
be imposed one after the other without breaking each other.
"""

from numbers import Integral
from typing import NamedTuple

import numpy as np
import jax.numpy as jnp

__all__ = [
    "ConstraintArrays",
    "FeatureConstraints",
    "perturbation_norm",
    "project_relaxed",
]


class ConstraintArrays(NamedTuple):
    """Resolved constraints as arrays (a pytree, traced into compiled attacks)."""

    lower: np.ndarray    # (d,) float, -inf where unbounded
    upper: np.ndarray    # (d,) float, +inf where unbounded
    mutable: np.ndarray  # (d,) bool
    integer: np.ndarray  # (d,) bool
    group: np.ndarray    # (d,) int32, one-hot group id or -1

    def rescale(self, scale):
        """The same constraints for ``u = x / scale`` (per-feature relative budgets)."""
        return self._replace(lower=self.lower / scale, upper=self.upper / scale)


def project_relaxed(c, x_adv, x):
    """Project onto the continuous relaxation of the constraints (jit-able).

    Parameters
    ----------
    c : ConstraintArrays
        Resolved constraints (NumPy or JAX arrays).
    x_adv : jax.Array of shape (n, d)
        Candidate rows.
    x : jax.Array of shape (n, d)
        Clean rows (immutable features are reset to them).

    Returns
    -------
    x_proj : jax.Array of shape (n, d)
        Immutable features equal ``x``; every feature inside its bounds. The
        Euclidean projection onto that set, which is a box.
    """
    x_adv = jnp.where(c.mutable, x_adv, x)
    return jnp.clip(x_adv, c.lower, c.upper)


def perturbation_norm(delta, norm):
    """Row-wise norm of a perturbation, ``norm`` in {"inf", 2, 1} (NumPy or JAX)."""
    xp = jnp if not isinstance(delta, np.ndarray) else np
    if norm == "inf":
        return xp.max(xp.abs(delta), axis=-1)
    if norm == 2:
        return xp.sqrt(xp.sum(delta * delta, axis=-1))
    if norm == 1:
        return xp.sum(xp.abs(delta), axis=-1)
    raise ValueError(f"norm must be 'inf', 2 or 1. Got {norm!r} instead.")


def _as_index_list(spec, name):
    if spec is None:
        return []
    if isinstance(spec, (str, Integral)):
        return [spec]
    spec = list(spec) if not isinstance(spec, np.ndarray) else spec.tolist()
    if spec and all(isinstance(s, (bool, np.bool_)) for s in spec):
        return [i for i, s in enumerate(spec) if s]
    return spec


class FeatureConstraints:
    """Which rows an attacker may produce, feature by feature.

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
    feature_names : array-like of str, default=None
        Column names, to resolve names before a DataFrame is seen; when ``X``
        is a DataFrame its columns are used.

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
    """

    def __init__(self, lower=None, upper=None, *, immutable=None, integer=None,
                 one_hot_groups=None, feature_names=None):
        self.lower = lower
        self.upper = upper
        self.immutable = immutable
        self.integer = integer
        self.one_hot_groups = one_hot_groups
        self.feature_names = feature_names

    def __repr__(self):
        parts = [f"{k}={v!r}" for k, v in vars(self).items() if v is not None]
        return f"FeatureConstraints({', '.join(parts)})"

    # -- construction -----------------------------------------------------
    @classmethod
    def from_data(cls, X, *, immutable=None, one_hot_groups=None, integer="auto",
                  bounds="data", margin=0.0):
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
                   one_hot_groups=one_hot_groups,
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
        return cls(lower=np.asarray(arrays.lower, np.float64),
                   upper=np.asarray(arrays.upper, np.float64),
                   immutable=np.flatnonzero(~np.asarray(arrays.mutable, bool)).tolist(),
                   integer=np.flatnonzero(np.asarray(arrays.integer, bool)).tolist(),
                   one_hot_groups=groups or None)

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
            float64 bounds, bool masks, int32 group ids.
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
        return ConstraintArrays(lower, upper, mutable, integer, group)

    # -- use ----------------------------------------------------------------
    def _arrays_for(self, X):
        names = np.asarray(X.columns, dtype=object) if hasattr(X, "columns") else None
        return self.resolve(np.shape(X)[1], names)

    def project(self, X_adv, X):
        """Project onto the relaxed constraints (box, immutability); jit-able.

        Parameters
        ----------
        X_adv, X : array-like of shape (n_samples, n_features)

        Returns
        -------
        X_proj : jax.Array
        """
        c = self.resolve(np.shape(X)[1])
        return project_relaxed(c, jnp.asarray(X_adv), jnp.asarray(X))

    def repair(self, X_adv, X, *, eps=None, norm="inf", scale=None, arrays=None):
        """Make every row satisfy the constraints exactly, and the budget if given.

        Immutable features are reset; one-hot groups snap to their largest
        entry; integers round to the nearest whole number the budget allows;
        bounds are clipped. If the discrete changes break an L2 or L1 budget,
        they are undone (the clean row's discrete values are always valid).

        Parameters
        ----------
        X_adv, X : array-like of shape (n_samples, n_features)
            Candidate and clean rows. ``X`` must satisfy the constraints.
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
        c = arrays if arrays is not None else self._arrays_for(X)
        X = np.asarray(X, dtype=np.float64)
        Z = np.array(X_adv, dtype=np.float64)
        s = np.ones(X.shape[1]) if scale is None else np.asarray(scale, np.float64)
        r = None if eps is None else eps * s
        mutable = np.asarray(c.mutable, bool)
        # The fast paths skip whole-array passes that would change nothing.
        if not mutable.all():
            Z = np.where(mutable, Z, X)
        group = np.asarray(c.group)
        for g in np.unique(group[group >= 0]):
            cols = np.flatnonzero(group == g)
            pick = np.argmax(Z[:, cols], axis=1)
            snapped = np.zeros((len(Z), len(cols)))
            snapped[np.arange(len(Z)), pick] = 1.0
            Z[:, cols] = snapped
        integer = np.asarray(c.integer, bool)
        if integer.any():
            Zi = np.round(Z[:, integer])
            if r is not None and norm == "inf":
                xi, ri = X[:, integer], r[integer]
                Zi = np.clip(Zi, np.ceil(xi - ri - 1e-9), np.floor(xi + ri + 1e-9))
            Z[:, integer] = Zi
        if np.isfinite(c.lower).any() or np.isfinite(c.upper).any():
            Z = np.clip(Z, c.lower, c.upper)
        if r is not None:
            if norm == "inf":
                cont = ~integer & (group < 0)
                if cont.all():
                    np.clip(Z, X - r, X + r, out=Z)
                else:
                    Z[:, cont] = np.clip(Z[:, cont], X[:, cont] - r[cont],
                                         X[:, cont] + r[cont])
                # One-hot columns move by 1: a flip the budget does not allow is undone.
                for g in np.unique(group[group >= 0]):
                    cols = np.flatnonzero(group == g)
                    over = np.any(np.abs(Z[:, cols] - X[:, cols]) > r[cols] + 1e-12, axis=1)
                    Z[np.ix_(over, cols)] = X[np.ix_(over, cols)]
            else:
                discrete = integer | (group >= 0)
                over = perturbation_norm((Z - X) / s, norm) > eps * (1 + 1e-9)
                if np.any(over & np.any(Z[:, discrete] != X[:, discrete], axis=1)):
                    Z[np.ix_(over, discrete)] = X[np.ix_(over, discrete)]
                nrm = perturbation_norm((Z - X) / s, norm)
                shrink = nrm > eps
                if np.any(shrink):
                    factor = (eps / nrm[shrink])[:, None] * (1 - 1e-9)
                    cont = ~discrete
                    Z[np.ix_(shrink, cont)] = (X[np.ix_(shrink, cont)] + factor * (
                        Z[np.ix_(shrink, cont)] - X[np.ix_(shrink, cont)]))
        return Z

    def violations(self, X_adv, X=None, *, tol=1e-6, arrays=None):
        """Which constraint each row breaks.

        Parameters
        ----------
        X_adv : array-like of shape (n_samples, n_features)
        X : array-like of shape (n_samples, n_features), default=None
            Clean rows (needed to check immutability).
        tol : float, default=1e-6
            Absolute tolerance, relative to ``max(1, |value|)``.
        arrays : ConstraintArrays, default=None

        Returns
        -------
        violations : dict of str to ndarray of bool, shape (n_samples,)
            Keys ``"bounds"``, ``"immutable"``, ``"integer"``, ``"one_hot"``.
        """
        c = arrays if arrays is not None else self._arrays_for(X_adv)
        Z = np.asarray(X_adv, dtype=np.float64)
        t = tol * np.maximum(1.0, np.abs(Z))
        out = {
            "bounds": np.any((Z < c.lower - t) | (Z > c.upper + t), axis=1),
            "integer": np.any(np.abs(Z - np.round(Z))[:, c.integer] > t[:, c.integer],
                              axis=1),
        }
        if X is not None:
            X = np.asarray(X, dtype=np.float64)
            out["immutable"] = np.any(
                (np.abs(Z - X) > t)[:, ~np.asarray(c.mutable, bool)], axis=1)
        else:
            out["immutable"] = np.zeros(len(Z), dtype=bool)
        bad = np.zeros(len(Z), dtype=bool)
        group = np.asarray(c.group)
        for g in np.unique(group[group >= 0]):
            block = Z[:, group == g]
            binary = np.all((np.abs(block) <= tol) | (np.abs(block - 1) <= tol), axis=1)
            bad |= ~binary | (np.abs(block.sum(axis=1) - 1) > tol)
        out["one_hot"] = bad
        return out

    def is_satisfied(self, X_adv, X=None, *, tol=1e-6, arrays=None):
        """Boolean per row: does it satisfy every constraint?

        Parameters
        ----------
        X_adv : array-like of shape (n_samples, n_features)
        X : array-like of shape (n_samples, n_features), default=None
            Clean rows (needed for immutability).
        tol : float, default=1e-6
        arrays : ConstraintArrays, default=None

        Returns
        -------
        ok : ndarray of bool, shape (n_samples,)
        """
        v = self.violations(X_adv, X, tol=tol, arrays=arrays)
        return ~np.any(np.stack(list(v.values())), axis=0)
