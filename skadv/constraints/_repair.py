"""The exact final repair, in float64, with a MILP fallback.

:func:`repair` rounds integers, snaps one-hot groups and re-imposes the box
and the budget; with relations, :func:`_repair_relations` projects onto them
(:func:`~skadv.constraints._polytope.project_polytope`), solves a per-row
MILP (HiGHS) where that fails, and pulls back towards the clean row what is
still invalid. Everything here works on :class:`ConstraintArrays`.
"""

import numpy as np

from ._arrays import _derived_mask
from ._budget import _budget_norm, _budget_ok, budget_mask
from ._checks import _linear_breaks, is_satisfied
from ._polytope import project_polytope
from ._project import _row_bounds, recompute_derived


def repair(c, X_adv, X, *, eps=None, norm="inf", scale=None):
    """Make every row satisfy the constraints ``c`` exactly, and the budget if given.

    The array form of :meth:`~skadv.constraints.FeatureConstraints.repair`,
    which documents the steps.

    Parameters
    ----------
    c : ConstraintArrays
        Resolved constraints.
    X_adv, X, eps, norm, scale
        As in :meth:`~skadv.constraints.FeatureConstraints.repair`.

    Returns
    -------
    X_rep : ndarray of shape (n_samples, n_features), float64
    """
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
    lower, upper = _row_bounds(c, X, np)
    if np.isfinite(lower).any() or np.isfinite(upper).any():
        Z = np.clip(Z, lower, upper)
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
            counted = budget_mask(c)
            over = _budget_norm((Z - X) / s, norm, counted) > eps * (1 + 1e-9)
            if np.any(over & np.any(Z[:, discrete] != X[:, discrete], axis=1)):
                Z[np.ix_(over, discrete)] = X[np.ix_(over, discrete)]
            nrm = _budget_norm((Z - X) / s, norm, counted)
            shrink = nrm > eps
            if np.any(shrink):
                factor = (eps / nrm[shrink])[:, None] * (1 - 1e-9)
                cont = ~discrete
                Z[np.ix_(shrink, cont)] = (X[np.ix_(shrink, cont)] + factor * (
                    Z[np.ix_(shrink, cont)] - X[np.ix_(shrink, cont)]))
    if c.relations is not None:
        Z = _repair_relations(Z, X, c, eps, norm, s)
    return Z


# --------------------------------------------------------------------------
# the exact repair of relations
_VALID_TOL = 1e-8  # stricter than is_satisfied's 1e-6: room for a float32 cast


def _valid(Z, X, c, eps, norm, s):
    ok = is_satisfied(c, Z, X, tol=_VALID_TOL)
    return ok & _budget_ok(Z, X, c, eps, norm, s) & np.all(np.isfinite(Z), axis=1)


def _repair_relations(Z, X, c, eps, norm, s):
    """:meth:`FeatureConstraints.repair`'s relational part (see the class notes)."""
    rel = c.relations
    n, d = Z.shape
    integer = np.asarray(c.integer, bool)
    hot = np.asarray(c.group) >= 0
    derived = _derived_mask(rel.spec, d)
    mutable = np.asarray(c.mutable, bool) & ~derived
    lower, upper = _row_bounds(c, X, np)
    lower = np.broadcast_to(lower, (n, d)).copy()
    upper = np.broadcast_to(upper, (n, d)).copy()
    if eps is not None and norm == "inf":
        r = eps * s
        lower = np.maximum(lower, X - r)
        upper = np.minimum(upper, X + r)
        lower[:, integer] = np.ceil(lower[:, integer] - 1e-9)
        upper[:, integer] = np.floor(upper[:, integer] + 1e-9)
    Z = recompute_derived(rel, Z)
    if len(rel.b):
        G, b = np.asarray(rel.G, np.float64), np.asarray(rel.b, np.float64)
        eq = np.asarray(rel.spec.row_equality, bool)
        # Rows valid by the repair's own standard are left alone (so the repair
        # is idempotent: a MILP or pulled-back point may sit within it, not at 0).
        viol = np.any(_linear_breaks(Z, G, b, eq, _VALID_TOL), axis=1)
        rows = np.flatnonzero(viol)
        if rows.size:
            w = 1.0 / s ** 2
            fixed = ~mutable | hot
            lo = np.where(fixed, Z[rows], lower[rows])
            hi = np.where(fixed, Z[rows], upper[rows])
            # Integers relaxed first, then rounded where the relations allow
            # and held for a second projection of the continuous features.
            P, conv = project_polytope(Z[rows], lo, hi, G, b, w, equality=eq)
            if integer.any():
                P = _round_integers(P, G, b, eq, integer & mutable, lo, hi)
                lo2 = np.where(integer, P, lo)
                hi2 = np.where(integer, P, hi)
                P, conv = project_polytope(P, lo2, hi2, G, b, w, equality=eq)
            Z[rows[conv]] = P[conv]
            rest = rows[~conv]
            if rest.size:
                Z[rest] = _nearest_valid_milp(Z[rest], X[rest], lower[rest], upper[rest],
                                              mutable, integer, np.asarray(c.group), G, b,
                                              eq, s)
        Z = recompute_derived(rel, Z)
    ok = _valid(Z, X, c, eps, norm, s)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        Z[bad] = _pull_back(Z[bad], X[bad], c, eps, norm, s)
    return Z


def _round_integers(P, G, b, eq, cols, lo, hi):
    """Round the integer features ``cols`` of ``P`` the way the inequalities prefer.

    A coordinate whose coefficients in the inequalities all have one sign is
    rounded so as to lower them (down for positive coefficients); otherwise,
    or in an equality, to the nearest integer.
    """
    P = P.copy()
    ineq = ~eq
    pos = np.all(G[ineq] >= 0, axis=0) & np.any(G[ineq] > 0, axis=0) & ~np.any(G[eq] != 0, axis=0)
    neg = np.all(G[ineq] <= 0, axis=0) & np.any(G[ineq] < 0, axis=0) & ~np.any(G[eq] != 0, axis=0)
    for j in np.flatnonzero(cols):
        v = P[:, j]
        r = np.floor(v + 1e-9) if pos[j] else np.ceil(v - 1e-9) if neg[j] else np.round(v)
        P[:, j] = np.clip(r, np.ceil(lo[:, j] - 1e-9), np.floor(hi[:, j] + 1e-9))
    return P


def _nearest_valid_milp(Z, X, lower, upper, mutable, integer, group, G, b, eq, s,
                        time_limit=2.0):
    """Per row, the point nearest ``Z`` (L1 in units of ``s``) satisfying box,
    integrality, one-hot groups and the linear relations: a MILP (HiGHS).
    A row whose program is not solved gets its clean row."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    n, d = Z.shape
    hot = group >= 0
    out = X.copy()
    cost = np.concatenate([np.zeros(d), 1.0 / s])
    eye = np.eye(d)
    blocks = [np.hstack([eye, -eye]), np.hstack([-eye, -eye])]
    A_rel = np.hstack([G, np.zeros_like(G)])
    groups = [np.flatnonzero(group == g) for g in np.unique(group[hot])]
    A_hot = np.zeros((len(groups), 2 * d))
    for i, cols in enumerate(groups):
        A_hot[i, cols] = 1.0
    A = np.vstack(blocks + [A_rel, A_hot])
    integrality = np.concatenate([(integer | hot).astype(int), np.zeros(d, int)])
    for i in range(n):
        z = Z[i]
        lo = np.where(mutable, lower[i], z)
        hi = np.where(mutable, upper[i], z)
        lo = np.where(~mutable & ~np.isfinite(lo), X[i], lo)
        hi = np.where(~mutable & ~np.isfinite(hi), X[i], hi)
        lo_b = np.concatenate([-np.inf * np.ones(2 * d), np.where(eq, b, -np.inf),
                               np.ones(len(groups))])
        hi_b = np.concatenate([z, -z, b, np.ones(len(groups))])
        bounds = Bounds(np.concatenate([lo, np.zeros(d)]),
                        np.concatenate([hi, np.full(d, np.inf)]))
        res = milp(cost, constraints=LinearConstraint(A, lo_b, hi_b),
                   integrality=integrality, bounds=bounds,
                   options={"time_limit": time_limit, "disp": False})
        if res.x is not None and res.status in (0, 1):
            x = res.x[:d].copy()
            x[integer | hot] = np.round(x[integer | hot])
            out[i] = x
    return out


def _pull_back(Z, X, c, eps, norm, s):
    """Per row, the point nearest ``Z`` on a ladder towards ``X`` that is valid.

    Continuous features move to ``X + t (Z - X)`` for ``t = 1/2, 1/4, ...``;
    discrete features keep ``Z``'s values, or else take ``X``'s; derived
    features are recomputed. The clean row ends the ladder: valid by
    assumption (:meth:`FeatureConstraints.check_clean`).
    """
    discrete = np.asarray(c.integer, bool) | (np.asarray(c.group) >= 0)
    out = X.copy()
    todo = np.ones(len(Z), dtype=bool)
    for t in 0.5 ** np.arange(1, 21):
        for keep_discrete in (True, False):
            if not todo.any():
                return out
            idx = np.flatnonzero(todo)
            P = X[idx] + t * (Z[idx] - X[idx])
            P[:, discrete] = (Z if keep_discrete else X)[idx][:, discrete]
            P = recompute_derived(c.relations, P)
            ok = _valid(P, X[idx], c, eps, norm, s)
            out[idx[ok]] = P[ok]
            todo[idx[ok]] = False
    return out
