"""Exact verification of small ReLU networks by mixed-integer linear programming.

Each ReLU ``a = relu(z)`` with pre-activation bounds ``l < 0 < u`` is encoded
exactly with one binary ``delta`` (Tjeng et al. 2019)::

    a >= 0,  a >= z,  a <= z - l (1 - delta),  a <= u delta

and a neuron whose bounds do not straddle zero is fixed (``a = z`` or
``a = 0``, no binary). The tighter ``l`` and ``u``, the fewer binaries and the
faster the solve, so they are the intersection of interval and CROWN bounds.
Problems are solved by HiGHS through :func:`scipy.optimize.milp`, in float64.

One problem per (input, other class): these functions take one input row.
"""

import warnings

import numpy as np
import jax
from scipy.optimize import LinearConstraint, milp
from scipy.sparse import csr_array

from ._network import fill_doc, forward
from .crown import crown_bounds
from .interval import interval_bounds

__all__ = ["min_margin", "verify", "min_adversarial_linf"]

# HiGHS stops at an absolute gap of 1e-6 and accepts integrality violations of
# 1e-6 by default; an exact verifier wants both well below the margins it
# reports. scipy passes options it does not know on to HiGHS verbatim.
_HIGHS_OPTIONS = {
    "mip_rel_gap": 0.0,
    "mip_abs_gap": 1e-10,
    "mip_feasibility_tolerance": 1e-9,
    "primal_feasibility_tolerance": 1e-9,
}
# Big-M bounds are widened by this (relative) amount so that float rounding in
# the bound computation can never cut off a feasible point.
_BOUND_PAD = 1e-7


def _float64_layers(layers):
    return [{"W": np.asarray(layer["W"], np.float64), "b": np.asarray(layer["b"], np.float64)}
            for layer in layers]


def _input_box(x, eps, lower, upper):
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(
            f"`x` must be one input row of shape (n_features,). Got shape {x.shape} "
            f"instead; call once per row (each row is its own MILP).")
    if not np.isfinite(eps) or eps < 0:
        raise ValueError(f"`eps` must be a finite non-negative number. Got {eps!r} instead.")
    lo, hi = x - eps, x + eps
    if lower is not None:
        lo = np.maximum(lo, np.asarray(lower, np.float64))
    if upper is not None:
        hi = np.minimum(hi, np.asarray(upper, np.float64))
    if np.any(lo > hi):
        raise ValueError("The ball around `x` does not meet the box [`lower`, `upper`].")
    return x, lo, hi


def _preactivation_bounds(layers, lo, hi):
    """Sound float64 bounds on every hidden pre-activation over the box."""
    if len(layers) == 1:
        return []
    with jax.enable_x64(True):
        lo2, hi2 = lo[None], hi[None]
        _, _, ibp = interval_bounds(layers, lo2, hi2, return_intermediate=True)
        _, _, crown = crown_bounds(layers, lower=lo2, upper=hi2, return_intermediate=True)
        bounds = []
        for (l1, u1), (l2, u2) in zip(ibp, crown):
            l = np.maximum(np.asarray(l1)[0], np.asarray(l2)[0])
            u = np.minimum(np.asarray(u1)[0], np.asarray(u2)[0])
            pad = _BOUND_PAD * (1 + np.maximum(np.abs(l), np.abs(u)))
            bounds.append((l - pad, u + pad))
    return bounds


def _relu_rows(layer, l, u, prev, cur, delta, n_vars):
    """Constraint rows ``(M, lo, hi)`` encoding one layer's ReLUs exactly.

    Active neurons (``l >= 0``) get ``a = z``; unstable ones ``a >= z``,
    ``a <= z - l (1 - delta)`` and ``a <= u delta``; inactive ones need no
    row (their variable is fixed to 0 by its bounds).
    """
    W, b = layer["W"], layer["b"]
    active, unstable = l >= 0, (l < 0) & (u > 0)

    def a_minus_z(neurons):
        M = np.zeros((neurons.sum(), n_vars))
        M[:, prev] = -W[:, neurons].T
        M[np.arange(neurons.sum()), cur[neurons]] = 1
        return M

    k = np.arange(unstable.sum())
    big_m_low = a_minus_z(unstable)
    big_m_low[k, delta[unstable]] = -l[unstable]
    big_m_up = np.zeros((unstable.sum(), n_vars))
    big_m_up[k, cur[unstable]] = 1
    big_m_up[k, delta[unstable]] = -u[unstable]
    inf = np.full(unstable.sum(), np.inf)
    M = np.vstack([a_minus_z(active), a_minus_z(unstable), big_m_low, big_m_up])
    lo = np.concatenate([b[active], b[unstable], -inf, -inf])
    hi = np.concatenate([b[active], inf, b[unstable] - l[unstable], np.zeros(unstable.sum())])
    return M, lo, hi


class _Encoding:
    """Variables ``[x, a_1, delta_1, ..., a_H, delta_H, extra]`` and the ReLU rows.

    ``last`` indexes the variables feeding the output layer (``x`` itself for
    a linear model); ``n_extra`` variables at the end are the caller's.
    """

    def __init__(self, layers, lo, hi, bounds, n_extra=0):
        n_in = lo.size
        unstable = [(l < 0) & (u > 0) for l, u in bounds]
        n_vars = (n_in + sum(layer["W"].shape[1] for layer in layers[:-1])
                  + sum(int(m.sum()) for m in unstable) + n_extra)
        self.var_lb, self.var_ub = np.zeros(n_vars), np.zeros(n_vars)
        self.integrality = np.zeros(n_vars)
        self.var_lb[:n_in], self.var_ub[:n_in] = lo, hi
        self.rows, self.row_lb, self.row_ub = [np.zeros((0, n_vars))], [np.zeros(0)], [np.zeros(0)]
        prev, start = np.arange(n_in), n_in
        for layer, (l, u), mask in zip(layers[:-1], bounds, unstable):
            d = layer["W"].shape[1]
            cur = np.arange(start, start + d)
            delta = np.full(d, -1)
            delta[mask] = np.arange(start + d, start + d + mask.sum())
            start += d + int(mask.sum())
            self.var_lb[cur] = np.maximum(l, 0)
            self.var_ub[cur] = np.maximum(u, 0)
            self.var_ub[delta[mask]] = 1
            self.integrality[delta[mask]] = 1
            M, row_lo, row_hi = _relu_rows(layer, l, u, prev, cur, delta, n_vars)
            self.rows.append(M)
            self.row_lb.append(row_lo)
            self.row_ub.append(row_hi)
            prev = cur
        self.n_in, self.n_vars, self.last, self.out = n_in, n_vars, prev, layers[-1]

    def margin_row(self, target, other):
        """Objective row and constant of ``logit[target] - logit[other]``."""
        W, b = self.out["W"], self.out["b"]
        c = np.zeros(self.n_vars)
        c[self.last] = W[:, target] - W[:, other]
        return c, b[target] - b[other]

    def solve(self, c, extra_rows=(), extra_lb=(), extra_ub=(), time_limit=None):
        A = csr_array(np.vstack(self.rows + list(extra_rows)))
        constraint = LinearConstraint(A, np.concatenate(self.row_lb + list(extra_lb)),
                                      np.concatenate(self.row_ub + list(extra_ub)))
        options = dict(_HIGHS_OPTIONS)
        if time_limit is not None:
            options["time_limit"] = float(time_limit)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unrecognized options", category=RuntimeWarning)
            res = milp(c, integrality=self.integrality,
                       bounds=(self.var_lb, self.var_ub), constraints=constraint, options=options)
        if res.status == 2:  # infeasible
            return None
        if res.status != 0:
            raise RuntimeError(f"The MILP solver stopped before proving optimality: {res.message}")
        return res


def _others(n_classes, target, other):
    if not 0 <= target < n_classes:
        raise ValueError(f"`target_class` must be in [0, {n_classes}). Got {target!r} instead.")
    if other is None:
        return [j for j in range(n_classes) if j != target]
    if not 0 <= other < n_classes or other == target:
        raise ValueError(
            f"`other_class` must be in [0, {n_classes}) and differ from `target_class`. "
            f"Got {other!r} instead.")
    return [int(other)]


def _margin(layers, x, target, others):
    logits = forward(layers, x[None])[0]
    return logits[target] - np.max(logits[others])


@fill_doc
def min_margin(layers, x, eps, target_class, other_class=None, *, lower=None, upper=None,
               time_limit=None):
    """Exact minimum of a logit margin over an L∞ ball, by MILP.

    Parameters
    ----------
    %(layers)s
        Converted to float64.
    x : array of shape (n_features,)
        Centre of the ball (one row).
    eps : float
        L∞ radius.
    target_class : int
        Index of the logit whose lead is measured.
    other_class : int, default=None
        The competing logit; ``None`` takes the worst over all other classes,
        ``min_j (logit[target] - logit[j])``.
    %(milp_domain)s

    Returns
    -------
    margin : float
        The minimal margin over the input set: the float64 forward-pass
        margin at ``x_min``, which is optimal up to the solver's tolerances
        (gaps of ``1e-10``, feasibility ``1e-9``).
    x_min : ndarray of shape (n_features,)
        An input attaining it, inside the ball and box. When ``margin < 0``
        it is a counterexample.

    See Also
    --------
    verify : Certified or a counterexample.
    skadv.verify.crown_bounds : A fast lower bound on the same margin.

    References
    ----------
    %(tjeng)s
    .. [2] Huangfu, Q. and Hall, J. A. J. "Parallelizing the dual revised
       simplex method." Mathematical Programming Computation, 2018 (HiGHS).

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.verify import min_margin
    >>> layers = [{"W": np.array([[1.0, -1.0]]), "b": np.zeros(2)},
    ...           {"W": np.array([[1.0, 0.0], [0.0, 1.0]]), "b": np.zeros(2)}]
    >>> margin, x_min = min_margin(layers, np.array([1.0]), 0.5, target_class=0)
    >>> round(margin, 6), x_min.tolist()
    (0.5, [0.5])
    """
    layers = _float64_layers(layers)
    x, lo, hi = _input_box(x, eps, lower, upper)
    others = _others(layers[-1]["W"].shape[1], int(target_class), other_class)
    enc = _Encoding(layers, lo, hi, _preactivation_bounds(layers, lo, hi))
    best = (np.inf, None)
    for j in others:
        c, _ = enc.margin_row(target_class, j)
        res = enc.solve(c, time_limit=time_limit)
        x_j = np.clip(res.x[:enc.n_in], lo, hi)
        m = _margin(layers, x_j, target_class, [j])
        if m < best[0]:
            best = (m, x_j)
    margin, x_min = best
    # The worst class at x_min is at least as bad as the one it was found for.
    return float(min(margin, _margin(layers, x_min, target_class, others))), x_min


@fill_doc
def verify(layers, x, eps, label, *, lower=None, upper=None, time_limit=None):
    """Decide exactly whether a prediction is constant over an L∞ ball.

    Cheap checks first: a CROWN certificate ends the search, and so does a
    misclassified centre; otherwise one MILP per other class, stopping at the
    first counterexample.

    Parameters
    ----------
    %(layers)s
    x : array of shape (n_features,)
        Centre of the ball (one row).
    eps : float
        L∞ radius.
    label : int
        Index of the class that must win everywhere in the ball.
    %(milp_domain)s

    Returns
    -------
    certified : bool
        True when the solver proves ``logit[label] > logit[j]`` for every
        ``j != label`` everywhere in the set (its dual bound is positive).
    counterexample : ndarray of shape (n_features,) or None
        A point of the set where a float64 forward pass gives some
        ``logit[j] >= logit[label]`` (ties count as not robust), or None when
        certified. ``None`` with ``certified=False`` means the minimal margin
        is zero up to solver tolerance (``1e-9``): no certificate, and no point
        that flips strictly.

    References
    ----------
    %(tjeng)s

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.verify import verify
    >>> layers = [{"W": np.array([[1.0, -1.0]]), "b": np.zeros(2)},
    ...           {"W": np.array([[1.0, 0.0], [0.0, 1.0]]), "b": np.zeros(2)}]
    >>> verify(layers, np.array([1.0]), 0.5, 0)
    (True, None)
    >>> certified, x_adv = verify(layers, np.array([1.0]), 1.5, 0)
    >>> certified, bool(x_adv[0] <= 0)
    (False, True)
    """
    layers = _float64_layers(layers)
    x, lo, hi = _input_box(x, eps, lower, upper)
    n_classes = layers[-1]["W"].shape[1]
    others = _others(n_classes, int(label), None)
    centre = np.clip(x, lo, hi)
    if _margin(layers, centre, label, others) <= 0:
        return False, centre
    with jax.enable_x64(True):
        C = np.eye(n_classes)[[label] * len(others)] - np.eye(n_classes)[others]
        lb, _ = crown_bounds(layers, lower=lo[None], upper=hi[None], C=C)
    if np.all(np.asarray(lb) > 0):
        return True, None
    enc = _Encoding(layers, lo, hi, _preactivation_bounds(layers, lo, hi))
    proven = True
    for j in others:
        c, const = enc.margin_row(label, j)
        res = enc.solve(c, time_limit=time_limit)
        x_j = np.clip(res.x[:enc.n_in], lo, hi)
        if _margin(layers, x_j, label, others) <= 0:
            return False, x_j
        # Without binaries HiGHS solves an LP and reports no MIP dual bound.
        dual = res.fun if res.mip_dual_bound is None else res.mip_dual_bound
        proven &= dual + const > 0
    return bool(proven), None


@fill_doc
def min_adversarial_linf(layers, x, label, *, max_eps=1.0, lower=None, upper=None,
                         time_limit=None):
    """Exact minimal L∞ perturbation that makes some other logit catch up.

    Solves ``min t`` subject to ``|x' - x|_inf <= t``, ``x'`` in the box and
    ``logit[label](x') <= logit[j](x')`` for some ``j != label`` (one MILP per
    ``j``), with big-M bounds valid over the ball of radius ``max_eps``.

    Parameters
    ----------
    %(layers)s
    x : array of shape (n_features,)
        The input row.
    label : int
        Index of the class predicted (or to be kept) at ``x``.
    max_eps : float, default=1.0
        Search radius; the answer is ``inf`` when no perturbation of at most
        this size reaches the decision boundary.
    %(milp_domain)s

    Returns
    -------
    radius : float
        The minimal L∞ distance from ``x`` to the region where ``label`` does
        not win strictly (0 if it does not win at ``x``), up to solver
        tolerance; ``np.inf`` if beyond ``max_eps``. Every ball of a smaller
        radius is certified for ``label``.
    x_boundary : ndarray of shape (n_features,) or None
        A point at that distance on the decision boundary (margin zero up to
        solver tolerance). Boundary points are ties: step slightly further
        (away from ``x``) for a strict flip.

    References
    ----------
    %(tjeng)s

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.verify import min_adversarial_linf
    >>> layers = [{"W": np.array([[1.0, -1.0]]), "b": np.zeros(2)},
    ...           {"W": np.array([[1.0, 0.0], [0.0, 1.0]]), "b": np.zeros(2)}]
    >>> radius, x_b = min_adversarial_linf(layers, np.array([1.0]), 0)
    >>> round(radius, 6), round(float(x_b[0]), 6)
    (1.0, 0.0)
    """
    layers = _float64_layers(layers)
    x, lo, hi = _input_box(x, max_eps, lower, upper)
    n_classes = layers[-1]["W"].shape[1]
    others = _others(n_classes, int(label), None)
    if np.all((lo <= x) & (x <= hi)) and _margin(layers, x, label, others) <= 0:
        return 0.0, x
    enc = _Encoding(layers, lo, hi, _preactivation_bounds(layers, lo, hi), n_extra=1)
    t = enc.n_vars - 1
    enc.var_lb[t], enc.var_ub[t] = 0.0, max_eps
    # x'_i - t <= x_i and x'_i + t >= x_i
    ball = np.zeros((2 * enc.n_in, enc.n_vars))
    ball[np.arange(enc.n_in), np.arange(enc.n_in)] = 1
    ball[enc.n_in + np.arange(enc.n_in), np.arange(enc.n_in)] = 1
    ball[:enc.n_in, t] = -1
    ball[enc.n_in:, t] = 1
    ball_lb = np.concatenate([np.full(enc.n_in, -np.inf), x])
    ball_ub = np.concatenate([x, np.full(enc.n_in, np.inf)])
    objective = np.zeros(enc.n_vars)
    objective[t] = 1
    best = (np.inf, None)
    for j in others:
        c, const = enc.margin_row(label, j)
        res = enc.solve(objective, [ball, c[None]], [ball_lb, [-np.inf]], [ball_ub, [-const]],
                        time_limit=time_limit)
        if res is not None and res.x[t] < best[0]:
            best = (float(res.x[t]), np.clip(res.x[:enc.n_in], lo, hi))
    return best
