"""Projection onto box ∩ {G x <= b, G_eq x == b_eq}: projected Newton on the dual.

:func:`project_polytope` is the exact solver of the final repair (NumPy,
float64, every row at once); :func:`_newton_fixed` is its fixed-length JAX
version, inside the iterative projection of every attack step.
"""

import numpy as np
import jax
import jax.numpy as jnp


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
    for an exact fallback (:func:`skadv.constraints._repair._nearest_valid_milp`).

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
