"""Violation checks: which constraint each row breaks, to a relative tolerance.

What tests assert (:func:`is_satisfied`), and the final repair's own gate
(with a stricter tolerance).
"""

import numpy as np

from . import _expressions as _ex


def _tolerance(tol, *terms):
    """Absolute tolerance ``tol * (1 + sum |terms|)`` (relative to the terms' size)."""
    return tol * (1.0 + sum(np.abs(t) for t in terms))


def violations(c, X_adv, X=None, *, tol=1e-6):
    """Which constraint of ``c`` each row breaks.

    The array form of :meth:`~skadv.constraints.FeatureConstraints.violations`,
    which documents the parameters and the keys.

    Parameters
    ----------
    c : ConstraintArrays
        Resolved constraints.
    X_adv, X, tol
        As in :meth:`~skadv.constraints.FeatureConstraints.violations`.

    Returns
    -------
    violations : dict of str to ndarray of bool, shape (n_samples,)
    """
    Z = np.asarray(X_adv, dtype=np.float64)
    t = tol * np.maximum(1.0, np.abs(Z))
    integer = np.asarray(c.integer, bool)
    out = {
        "bounds": np.any(~((Z >= c.lower - t) & (Z <= c.upper + t)), axis=1),
        "integer": np.any(~(np.abs(Z - np.round(Z)) <= t)[:, integer], axis=1),
    }
    if X is not None:
        X = np.asarray(X, dtype=np.float64)
        out["immutable"] = np.any(
            ~(np.abs(Z - X) <= t)[:, ~np.asarray(c.mutable, bool)], axis=1)
    else:
        out["immutable"] = np.zeros(len(Z), dtype=bool)
    bad = np.zeros(len(Z), dtype=bool)
    group = np.asarray(c.group)
    for g in np.unique(group[group >= 0]):
        block = Z[:, group == g]
        binary = np.all((np.abs(block) <= tol) | (np.abs(block - 1) <= tol), axis=1)
        bad |= ~binary | ~(np.abs(block.sum(axis=1) - 1) <= tol)
    out["one_hot"] = bad
    direction = c.direction
    if direction is not None and np.any(direction != 0):
        for key, sign in (("increase_only", 1), ("decrease_only", -1)):
            cols = np.asarray(direction) == sign
            if not cols.any():
                continue
            if X is None:
                out[key] = np.zeros(len(Z), dtype=bool)
            else:
                out[key] = np.any(~(sign * (Z - X) >= -t)[:, cols], axis=1)
    rel = c.relations
    if rel is not None:
        out.update(_relation_violations(rel, Z, tol))
    return out


def is_satisfied(c, X_adv, X=None, *, tol=1e-6, return_violations=False):
    """Boolean per row: does it satisfy every constraint of ``c``?

    Parameters
    ----------
    c : ConstraintArrays
        Resolved constraints.
    X_adv, X, tol, return_violations
        As in :meth:`~skadv.constraints.FeatureConstraints.is_satisfied`.

    Returns
    -------
    ok : ndarray of bool, shape (n_samples,)
    violations : dict of str to ndarray of bool
        Only when ``return_violations``.
    """
    v = violations(c, X_adv, X, tol=tol)
    ok = ~np.any(np.stack(list(v.values())), axis=0)
    return (ok, v) if return_violations else ok


def check_clean(c, X, *, what="X"):
    """Raise a ``ValueError`` naming the constraint of ``c`` the clean rows ``X`` break.

    Parameters
    ----------
    c : ConstraintArrays
        Resolved constraints.
    X, what
        As in :meth:`~skadv.constraints.FeatureConstraints.check_clean`.
    """
    v = violations(c, X, X)
    for key, rows in v.items():
        if rows.any():
            idx = np.flatnonzero(rows)
            shown = idx[:5].tolist()
            raise ValueError(
                f"The constraints are infeasible for the clean rows: {len(idx)} "
                f"row(s) of {what} break {key!r} (rows {shown}"
                f"{', ...' if len(idx) > 5 else ''}). An attack starts from and "
                f"falls back to the clean rows; fix the data or the constraint.")


def _relation_violations(rel, Z, tol):
    """Per relation name: rows that break it (linear rows and derived features)."""
    out = {}
    spec = rel.spec
    if len(rel.b):
        bad = _linear_breaks(Z, np.asarray(rel.G, np.float64), rel.b,
                             np.asarray(spec.row_equality, bool), tol)
        for i, name in enumerate(spec.row_names):
            out[name] = out.get(name, np.zeros(len(Z), bool)) | bad[:, i]
    for (target, expr), name in zip(spec.derived, spec.derived_names):
        with np.errstate(all="ignore"):
            value = _ex.evaluate(expr, Z, np)
        close = np.abs(Z[:, target] - value) <= tol * np.maximum(1.0, np.abs(value))
        out[name] = ~(close & np.isfinite(value))
    return out


def _linear_breaks(Z, G, b, eq, tol):
    """``(n, k)``: row ``i`` breaks linear relation ``j`` (beyond ``tol``, relative
    to the size of its terms; NaN breaks everything)."""
    g = Z @ G.T - b
    t = _tolerance(tol, b[None], np.abs(Z) @ np.abs(G).T)
    return np.where(eq, ~(np.abs(g) <= t), ~(g <= t))
