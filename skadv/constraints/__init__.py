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

Relational constraints
----------------------
``relations`` are readable expressions over column names
(:mod:`skadv._expressions`, a small parser -- nothing is ``eval``-ed), of two
kinds, handled differently:

* **linear** relations, ``lo <= a @ x <= hi`` (``"open_credit <= total_credit"``,
  ``"share_a + share_b == 1"``), are *projected*: the repair returns the
  Euclidean projection (in units of the budget's scale) of the attack's point
  onto box, immutability, monotonicity, the L-inf budget and every linear
  relation, computed for all rows at once by a projected Newton method on the
  dual (:func:`project_polytope`; exactness is tested against HiGHS). Integer
  and one-hot features in a relation are then rounded in a direction that
  keeps the relations, and the continuous features re-projected; a row where
  that fails gets the exact nearest point (L1) of a per-row MILP (HiGHS).
  L2 and L1 budgets are imposed by shrinking towards the clean row.
* **derived** features, ``column == expression`` with a non-linear expression
  of other columns (``"debt_ratio == debt / income"``), are *recomputed* from
  their inputs; when the recomputed value leaves its bounds or the budget, the
  row is pulled back towards the clean row until it is valid.

``increase_only`` / ``decrease_only`` features are per-row bounds (``x' >= x`` /
``x' <= x``), part of the box. Inside the iterative attacks,
:func:`project_relaxed` applies the same projection approximately (a few
Newton iterations, jit-able) and recomputes derived features; every attack's
final repair is exact, and an attack returns a row it cannot make valid
unchanged.
"""

import re
from dataclasses import dataclass, field
from numbers import Integral
from typing import NamedTuple

import numpy as np
import jax
import jax.numpy as jnp

from . import _expressions as _ex

__all__ = [
    "ConstraintArrays",
    "FeatureConstraints",
    "Relations",
    "budget_mask",
    "perturbation_norm",
    "project_polytope",
    "project_relaxed",
]


@jax.tree_util.register_static
@dataclass(frozen=True)
class RelationSpec:
    """The static part of :class:`Relations` (hashable: a compiled attack's cache key).

    ``relations`` are the parsed relations (:class:`skadv._expressions.Relation`)
    with columns resolved to indices, in the order given; ``row_names[i]``
    names the relation of row ``i`` of ``G`` and ``row_equality[i]`` says
    whether that row is an equality; ``derived`` holds ``(column,
    expression)`` pairs, recomputed in order, named by ``derived_names``.
    """

    # Only what the computation depends on is compared (and hashed): systems
    # that differ in coefficients, names or texts share compiled code.
    relations: tuple = field(compare=False)
    row_names: tuple = field(compare=False)
    row_equality: tuple
    derived: tuple
    derived_names: tuple = field(default=(), compare=False)
    iterations: int = 6


class Relations(NamedTuple):
    """Resolved relational constraints (a pytree: arrays, plus a static spec).

    Linear relations ``G @ x <= b`` (rows marked in ``spec.row_equality``:
    ``==``) over the variables' units (``x = unit * v``: ``unit`` is 1 until
    :meth:`ConstraintArrays.rescale`). ``radius`` is the L-inf budget an
    attack imposes in the iterative projection (in the variables' units;
    ``inf``: none).
    """

    G: np.ndarray       # (k, d) float, in units of X
    b: np.ndarray       # (k,)
    unit: np.ndarray    # (d,) x = unit * v
    radius: np.ndarray  # () float
    spec: RelationSpec

    def with_radius(self, radius):
        """The same relations with the L-inf budget ``radius`` of the iterative projection."""
        return self._replace(radius=np.asarray(radius, dtype=np.asarray(self.G).dtype))

    def remap(self, index, n_features):
        """The same relations over ``n_features`` columns, column ``j`` moved to ``index[j]``."""
        index = np.asarray(index)
        G = np.zeros((len(self.b), n_features))
        G[:, index] = self.G
        unit = np.ones(n_features)
        unit[index] = self.unit

        def move(node):
            return _ex.resolve_columns(node, lambda j: int(index[j]))

        spec = self.spec
        relations = tuple(_ex.Relation(r.text, r.name, r.op, move(r.left), move(r.right))
                          for r in spec.relations)
        derived = tuple((int(index[t]), move(e)) for t, e in spec.derived)
        spec = RelationSpec(relations, spec.row_names, spec.row_equality, derived,
                            spec.derived_names, spec.iterations)
        return Relations(G, self.b, unit, self.radius, spec)


class ConstraintArrays(NamedTuple):
    """Resolved constraints as arrays (a pytree, traced into compiled attacks)."""

    lower: np.ndarray    # (d,) float, -inf where unbounded
    upper: np.ndarray    # (d,) float, +inf where unbounded
    mutable: np.ndarray  # (d,) bool
    integer: np.ndarray  # (d,) bool
    group: np.ndarray    # (d,) int32, one-hot group id or -1
    direction: np.ndarray = None  # (d,) int8: +1 increase only, -1 decrease only, 0 free
    relations: Relations = None   # linear relations and derived features

    def rescale(self, scale):
        """The same constraints for ``u = x / scale`` (per-feature relative budgets)."""
        out = self._replace(lower=self.lower / scale, upper=self.upper / scale)
        if self.relations is not None:
            rel = self.relations
            out = out._replace(relations=rel._replace(unit=rel.unit * scale))
        return out


def _row_bounds(c, x, xp):
    """Per-row box: bounds, with monotone features bounded by the clean row.

    Without monotone features (NumPy) the bounds stay per feature, shape
    ``(d,)``: no full-size arrays on the hot path of the final repair.
    """
    lower, upper = c.lower, c.upper
    if c.direction is None or (xp is np and not np.any(c.direction)):
        return lower, upper
    lower = xp.where(c.direction > 0, xp.maximum(lower, x), lower)
    upper = xp.where(c.direction < 0, xp.minimum(upper, x), upper)
    return lower, upper


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
        Immutable features equal ``x``; every feature inside its bounds (and,
        for ``increase_only``/``decrease_only`` features, on the allowed side
        of ``x``): the Euclidean projection onto that set, which is a box.
        With relations, a few projected Newton iterations
        (:func:`project_polytope`) then bring the row close to the projection
        onto the box intersected with the linear relations (and the L-inf
        ball of ``relations.radius``), and derived features are recomputed
        from their inputs. Integers and one-hot groups are relaxed.
    """
    x_adv = jnp.where(c.mutable, x_adv, x)
    lower, upper = _row_bounds(c, x, jnp)
    x_adv = jnp.clip(x_adv, lower, upper)
    rel = c.relations
    if rel is None:
        return x_adv
    derived = _derived_mask(rel.spec, x.shape[1])
    if rel.spec.row_names:
        lo = jnp.maximum(lower, x - rel.radius)
        hi = jnp.minimum(upper, x + rel.radius)
        # Derived features are outputs, held where they are for the projection.
        lo = jnp.where(derived | ~c.mutable, x_adv, lo)
        hi = jnp.where(derived | ~c.mutable, x_adv, hi)
        G = rel.G * rel.unit
        w = jnp.ones(x.shape[1], x_adv.dtype)
        eq = jnp.asarray(rel.spec.row_equality, bool)
        x_adv, _ = _newton_fixed(x_adv, lo, hi, G, rel.b, w, eq, rel.spec.iterations)
    return recompute_derived(rel, x_adv, xp=jnp)


# --------------------------------------------------------------------------
# projection onto box ∩ {G x <= b, G_eq x == b_eq}: projected Newton on the dual
def _dual_point(xp, mu, z, lo, hi, G, b, w):
    """Primal point, free coordinates, constraint values and dual value at ``mu``."""
    v = z - (mu @ G) / w
    x = xp.clip(v, lo, hi)
    free = (v > lo) & (v < hi)
    g = x @ G.T - b
    psi = 0.5 * xp.sum(w * (x - z) ** 2, axis=-1) + xp.sum(mu * g, axis=-1)
    return x, free, g, psi


def _dual_project(xp, mu, eq):
    """Multipliers of inequalities are >= 0; those of equalities have any sign."""
    return xp.where(eq, mu, xp.maximum(mu, 0.0))


def _newton_direction(xp, mu, free, movable, g, G, w, eq):
    """Projected Newton direction (Bertsekas 1982) for ``max psi(mu)``.

    The dual's Hessian is ``-G D W^-1 G^T`` (``D``: coordinates strictly inside
    the box), singular where a relation's coordinates all sit on the box or
    more relations meet than there are free coordinates; a small multiple of
    the curvature with every movable coordinate free (``Hm``) regularises it.
    Inequalities at ``mu = 0`` that are slack are held (scaled gradient step).
    A direction that does not ascend is caught by the caller's line search.
    """
    Gw = G / w
    fr = free.astype(G.dtype)
    H = xp.einsum("kd,nd,jd->nkj", Gw, fr, G)
    Hm = xp.einsum("kd,nd,jd->nkj", Gw, movable.astype(G.dtype), G)
    dm = xp.maximum(xp.einsum("nkk->nk", Hm), 1e-12)
    bind = ~eq & (mu <= 0) & (g < 0)
    k = G.shape[0]
    eye = xp.eye(k, dtype=G.dtype)[None]
    both = ~bind[:, :, None] & ~bind[:, None, :]
    scale = 1.0 + xp.max(dm, axis=1)[:, None, None]
    M = xp.where(both, H + 1e-3 * Hm, eye * dm[:, :, None]) + 1e-10 * scale * eye
    d = xp.linalg.solve(M, g[..., None])[..., 0]
    return xp.where(bind, g / dm, d)


_ARMIJO_STEPS = tuple(0.5 ** i for i in range(12))


def _lipschitz(xp, G, w):
    """Lipschitz constant of the dual gradient: the largest eigenvalue of G W^-1 G^T."""
    return xp.maximum(xp.linalg.eigvalsh((G / w) @ G.T)[-1], 1e-30)


def _newton_fixed(z, lo, hi, G, b, w, eq, iterations):
    """``iterations`` projected Newton steps in JAX (a fixed, jit-able loop).

    The line search tries a fixed ladder of step lengths at once and takes the
    longest that satisfies Armijo's condition; where none does, a projected
    gradient step of length ``1/L``, which always ascends. An approximation
    for the attacks' inner steps: their final repair is exact.
    """
    n, k = z.shape[0], G.shape[0]
    finite_b = jnp.where(jnp.isfinite(b), b, jnp.asarray(1e30, b.dtype))
    movable = hi > lo
    steps = jnp.asarray(_ARMIJO_STEPS, z.dtype)
    lip = _lipschitz(jnp, G, w)

    def body(_, mu):
        x, free, g, psi = _dual_point(jnp, mu, z, lo, hi, G, finite_b, w)
        d = _newton_direction(jnp, mu, free, movable, g, G, w, eq)
        trial = _dual_project(jnp, mu[None] + steps[:, None, None] * d[None], eq)
        _, _, _, pt = jax.vmap(lambda m: _dual_point(jnp, m, z, lo, hi, G, finite_b, w))(trial)
        gain = jnp.sum(g[None] * (trial - mu[None]), axis=-1)
        ok = pt >= psi[None] + 1e-4 * gain
        first = jnp.argmax(ok, axis=0)
        fallback = _dual_project(jnp, mu + g / lip, eq)
        return jnp.where(jnp.any(ok, axis=0)[:, None], trial[first, jnp.arange(n)], fallback)

    mu = jax.lax.fori_loop(0, iterations, body, jnp.zeros((n, k), z.dtype))
    x, _, g, _ = _dual_point(jnp, mu, z, lo, hi, G, finite_b, w)
    return x, g


def project_polytope(z, lower, upper, G, b, w=None, *, equality=None, max_iter=60):
    """Weighted Euclidean projection of rows onto a box intersected with a polytope.

    Solves ``min 1/2 sum_j w_j (x_j - z_j)^2`` subject to ``lower <= x <= upper``,
    ``G_i x <= b_i`` (inequality rows) and ``G_i x == b_i`` (rows marked in
    ``equality``) for every row at once, by a projected Newton method on the
    dual (one multiplier per row of ``G``; Bertsekas 1982), globalised by an
    Armijo line search with a projected gradient step as fallback, so the
    dual value rises at every iteration. The primal point
    ``clip(z - G^T mu / w, lower, upper)`` is always inside the box;
    inequalities are tightened by ``1e-9`` relative, so a converged row
    satisfies them exactly in float64. Rows that do not converge within
    ``max_iter`` iterations (degenerate vertices, an empty set) are reported,
    for an exact fallback (:func:`nearest_valid_lp`).

    Parameters
    ----------
    z : ndarray of shape (n, d)
        Points to project.
    lower, upper : ndarray of shape (n, d) or (d,)
        Per-row box (``lower == upper`` fixes a coordinate).
    G : ndarray of shape (k, d)
    b : ndarray of shape (k,)
        ``inf`` disables an inequality row.
    w : ndarray of shape (d,), default=None
        Positive weights of the squared distance (ones when None).
    equality : ndarray of bool, shape (k,), default=None
        Rows that are equalities.
    max_iter : int, default=60
        Newton iterations.

    Returns
    -------
    x : ndarray of shape (n, d)
        The projections (the last iterate for rows that did not converge).
    converged : ndarray of bool, shape (n,)
        Rows whose point is feasible (to ``1e-9`` relative) and optimal (dual
        gap below ``1e-7`` relative).

    References
    ----------
    .. [1] D. P. Bertsekas. "Projected Newton methods for optimization problems
       with simple constraints", SIAM J. Control and Optimization, 1982.
    """
    z = np.asarray(z, dtype=np.float64)
    n, d = z.shape
    lower = np.broadcast_to(np.asarray(lower, np.float64), (n, d))
    upper = np.broadcast_to(np.asarray(upper, np.float64), (n, d))
    w = np.ones(d) if w is None else np.asarray(w, np.float64)
    b = np.asarray(b, np.float64)
    eq = np.zeros(len(b), bool) if equality is None else np.asarray(equality, bool)
    keep = np.isfinite(b)
    G, b, eq = np.asarray(G, np.float64)[keep], b[keep], eq[keep]
    x0 = np.clip(z, lower, upper)
    if not len(b) or n == 0:
        return x0, np.ones(n, dtype=bool)
    # Tolerance of each row of each point: relative to the size of its terms.
    delta = 1e-9 * (1.0 + np.abs(b) + np.abs(x0) @ np.abs(G).T)
    bt = b - np.where(eq, 0.0, delta)
    lip = float(_lipschitz(np, G, w))
    out, done = x0.copy(), np.zeros(n, dtype=bool)
    rows = np.arange(n)
    mu = np.zeros((n, len(b)))
    zz, lo, hi, dl, bb = z, lower, upper, delta, bt
    x, free, g, psi = _dual_point(np, mu, zz, lo, hi, G, bb, w)
    for _ in range(max_iter + 1):
        feasible = np.all(np.where(eq, np.abs(g) <= dl, g <= dl), axis=1)
        gap = np.abs(np.sum(mu * g, axis=1))
        conv = feasible & (gap <= 1e-7 * (1.0 + 0.5 * np.sum(w * (x - zz) ** 2, axis=1)))
        out[rows] = x
        done[rows[conv]] = True
        keep = ~conv
        if not keep.any():
            break
        rows, mu, x, free, g, psi = rows[keep], mu[keep], x[keep], free[keep], g[keep], psi[keep]
        zz, lo, hi, dl, bb = z[rows], lower[rows], upper[rows], delta[rows], bt[rows]
        step_dir = _newton_direction(np, mu, free, hi > lo, g, G, w, eq)
        # Armijo backtracking along the projection arc, per row.
        step = np.ones(len(rows))
        new_mu = mu.copy()
        todo = np.ones(len(rows), dtype=bool)
        for _ in range(len(_ARMIJO_STEPS)):
            idx = np.flatnonzero(todo)
            trial = _dual_project(np, mu[idx] + step[idx, None] * step_dir[idx], eq)
            _, _, _, pt = _dual_point(np, trial, zz[idx], lo[idx], hi[idx], G, bb[idx], w)
            ok = pt >= psi[idx] + 1e-4 * np.sum(g[idx] * (trial - mu[idx]), axis=1)
            new_mu[idx[ok]] = trial[ok]
            todo[idx[ok]] = False
            if not todo.any():
                break
            step[todo] *= 0.5
        # No ascent along the Newton direction: a projected gradient step of
        # length 1/L, which always ascends.
        if todo.any():
            idx = np.flatnonzero(todo)
            new_mu[idx] = _dual_project(np, mu[idx] + g[idx] / lip, eq)
        mu = new_mu
        x, free, g, psi = _dual_point(np, mu, zz, lo, hi, G, bb, w)
    return out, done


# --------------------------------------------------------------------------
# derived features
def _derived_mask(spec, d):
    mask = np.zeros(d, dtype=bool)
    for target, _ in spec.derived:
        mask[target] = True
    return mask


def recompute_derived(rel, V, *, xp=np):
    """Rows ``V`` (in the variables' units) with every derived feature recomputed.

    Parameters
    ----------
    rel : Relations or None
    V : array of shape (n, d)
    xp : module, default=numpy

    Returns
    -------
    V : array of shape (n, d)
        A new array (NumPy) or traced value (JAX).
    """
    if rel is None or not rel.spec.derived:
        return V
    X = V * rel.unit
    out = V.copy() if xp is np else V
    for target, expr in rel.spec.derived:
        value = _ex.evaluate(expr, X, xp) / rel.unit[target]
        if xp is np:
            out[:, target] = value
        else:
            out = out.at[:, target].set(value)
    return out


def budget_mask(c):
    """Features a perturbation's norm counts: all but the derived ones.

    A derived feature (``debt_ratio == debt / income``) is recomputed from the
    features an attacker changes; the budget limits those changes, and the
    derived feature follows.

    Parameters
    ----------
    c : ConstraintArrays

    Returns
    -------
    mask : ndarray of bool, shape (n_features,)
    """
    d = len(c.lower)
    if c.relations is None or not c.relations.spec.derived:
        return np.ones(d, dtype=bool)
    return ~_derived_mask(c.relations.spec, d)


def _budget_norm(delta, norm, mask):
    return perturbation_norm(delta if mask.all() else delta[:, mask], norm)


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


def _tolerance(tol, *terms):
    """Absolute tolerance ``tol * (1 + sum |terms|)`` (relative to the terms' size)."""
    return tol * (1.0 + sum(np.abs(t) for t in terms))


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
    def _arrays_for(self, X):
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
            Z = _repair_relations(self, Z, X, c, eps, norm, s)
        return Z

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
        c = arrays if arrays is not None else self._arrays_for(X_adv)
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
        v = self.violations(X_adv, X, tol=tol, arrays=arrays)
        ok = ~np.any(np.stack(list(v.values())), axis=0)
        return (ok, v) if return_violations else ok

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
        v = self.violations(X, X, arrays=arrays)
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


# --------------------------------------------------------------------------
# the exact repair of relations
_VALID_TOL = 1e-8  # stricter than is_satisfied's 1e-6: room for a float32 cast


def _budget_ok(Z, X, c, eps, norm, s):
    if eps is None:
        return np.ones(len(Z), dtype=bool)
    return _budget_norm((Z - X) / s, norm, budget_mask(c)) <= eps * (1 + 1e-9) + 1e-12


def _valid(fc, Z, X, c, eps, norm, s):
    ok = fc.is_satisfied(Z, X, tol=_VALID_TOL, arrays=c)
    return ok & _budget_ok(Z, X, c, eps, norm, s) & np.all(np.isfinite(Z), axis=1)


def _repair_relations(fc, Z, X, c, eps, norm, s):
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
    ok = _valid(fc, Z, X, c, eps, norm, s)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        Z[bad] = _pull_back(fc, Z[bad], X[bad], c, eps, norm, s)
    return Z


def _linear_breaks(Z, G, b, eq, tol):
    """``(n, k)``: row ``i`` breaks linear relation ``j`` (beyond ``tol``, relative
    to the size of its terms; NaN breaks everything)."""
    g = Z @ G.T - b
    t = _tolerance(tol, b[None], np.abs(Z) @ np.abs(G).T)
    return np.where(eq, ~(np.abs(g) <= t), ~(g <= t))


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


def _pull_back(fc, Z, X, c, eps, norm, s):
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
            ok = _valid(fc, P, X[idx], c, eps, norm, s)
            out[idx[ok]] = P[ok]
            todo[idx[ok]] = False
    return out
