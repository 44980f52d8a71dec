"""Pure, jit-able minimal-distance attack cores: Carlini-Wagner L2 and DeepFool.

The conventions of :mod:`.attacks` hold (``logits_fn``, ``y``, ``key``,
``project``). These find the *smallest* perturbation that changes the
prediction rather than the worst one inside a budget; the scikit-learn
wrappers then bisect each row back to the victim's own boundary.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from .attacks import (NORMS, _col, _identity_project, _l2_project, _true, is_success,
                      margin_loss)

__all__ = ["cw_l2", "deepfool"]


class _CWState(NamedTuple):
    const: jax.Array      # (n,) current trade-off constant c
    lo: jax.Array         # (n,) largest c known to fail
    hi: jax.Array         # (n,) smallest c known to succeed (1e10: none yet)
    best_dist: jax.Array  # (n,) squared L2 of the best adversarial (inf: none)
    best_x: jax.Array     # (n, d)
    rate: jax.Array       # (n, 1) per-row Adam step


_CW_TRAVEL = 16.0


def cw_l2(logits_fn, x, y, *, key, eps=jnp.inf, confidence=0.0, learning_rate=0.1,
          initial_const=0.01, steps=100, binary_search_steps=9, targeted=False,
          abort_early=True, decay=True, project=_identity_project):
    """Carlini-Wagner L2 attack, projected variant, with a binary search over c.

    For each row it minimises ``||x' - x||_2^2 + c * max(kappa - m(x'), 0)``,
    ``m`` the margin of :func:`margin_loss` (best other logit minus the true
    one; target minus best other when ``targeted``), over ``x' = P(x + delta)``
    where ``P`` imposes the constraints (``project``) and the L2 budget
    (``eps``): this projected form replaces the tanh change of variables of the
    paper, which only knows the box ``[0, 1]``. Adam (optax) updates ``delta``,
    re-projected after each step. The constant ``c`` starts at
    ``initial_const`` and is bisected per row (multiplied by 10 until a first
    success) over ``binary_search_steps`` rounds; each round restarts Adam from
    ``x``. The smallest adversarial found across all rounds is returned.

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(x) -> (n, k)``.
    x : jax.Array of shape (n, d)
    y : jax.Array of shape (n,) int
        True classes, or target classes when ``targeted``.
    key : jax.Array
        Unused (the attack is deterministic); accepted for a uniform signature.
    eps : float or jax.Array of shape (n,), default=inf
        Optional L2 budget.
    confidence : float, default=0.0
        ``kappa``: the margin an adversarial point must reach.
    learning_rate : float, default=0.1
        Adam's step until a row has an adversarial; once one at distance ``D``
        is known, the row's step is ``min(learning_rate, 16 D / (steps sqrt(d)))``.
    initial_const : float, default=0.01
    steps : int, default=100
        Adam iterations per round.
    binary_search_steps : int, default=9
    targeted : bool, default=False
    abort_early : bool, default=True
        End a round, in its second half, when no row's objective has decreased
        by 0.01% over the last ``steps // 10`` iterations.
    decay : bool, default=True
        Cosine decay of the step to zero within each round.
    project : callable, default=identity

    Returns
    -------
    x_adv : jax.Array of shape (n, d)
        Smallest adversarial point found, ``x`` where none was.
    success : jax.Array of shape (n,) bool

    References
    ----------
    .. [1] N. Carlini, D. Wagner. "Towards Evaluating the Robustness of Neural
       Networks", IEEE S&P 2017.
    """
    del key
    n, d = x.shape
    eps_c = _col(eps, n)
    # Adam at unit rate, scaled per row: Adam's first steps move every
    # coordinate by about the rate whatever the gradient's size, so a fixed
    # rate overshoots a boundary closer than it along sign(gradient). Once a row
    # has an adversarial at distance D, its rate shrinks to
    # ``_CW_TRAVEL * D / (steps * sqrt(d))`` (enough to travel a few times D);
    # the cosine decay to zero then settles on the boundary to a precision
    # relative to D, not to ``learning_rate``.
    opt = optax.adam(optax.cosine_decay_schedule(1.0, steps) if decay else 1.0)
    check_every = max(1, steps // 10)

    def P(v):
        return project(x + _l2_project(v - x, eps_c), x)

    # ``delta`` is kept feasible (re-projected after every update), so the
    # objective needs no projection: differentiating through the L2 ball's
    # projection would give NaN at delta = 0.
    def objective(delta, const):
        xa = x + delta
        z = logits_fn(xa)
        m = margin_loss(z, y, targeted)  # > 0 exactly when adversarial
        dist = jnp.sum((xa - x) ** 2, axis=1)
        per_row = dist + const * jnp.maximum(confidence - m, 0.0)
        return jnp.sum(per_row), (xa, dist, m)

    grad_fn = jax.grad(objective, has_aux=True)

    def succeeded(m):
        return (m > 0) & (m >= confidence)

    def one_round(_, st):
        def cond(c):
            j, _, _, _, _, _, stop, _ = c
            return (j < steps) & ~stop

        def body(c):
            j, delta, opt_state, best_dist, best_x, prev, stop, late = c
            g, (xa, dist, m) = grad_fn(delta, st.const)
            late = late | (succeeded(m) & (j >= steps // 2))
            ok = succeeded(m) & (dist < best_dist)
            best_dist = jnp.where(ok, dist, best_dist)
            best_x = jnp.where(ok[:, None], xa, best_x)
            per_row = dist + st.const * jnp.maximum(confidence - m, 0.0)
            # Not in the first half: the large early steps overshoot and the
            # objective can rise there before it settles.
            check = (j % check_every == 0) & (j > steps // 2)
            stop = abort_early & check & jnp.all(per_row > 0.9999 * prev)
            prev = jnp.where(check, per_row, prev)
            upd, opt_state = opt.update(g, opt_state)
            delta = P(x + delta + st.rate * upd) - x
            return j + 1, delta, opt_state, best_dist, best_x, prev, stop, late

        delta0 = jnp.zeros_like(x)
        init = (0, delta0, opt.init(delta0), jnp.full(n, jnp.inf), x,
                jnp.full(n, jnp.inf), jnp.asarray(False), jnp.zeros(n, bool))
        _, delta, _, rd, rx, _, _, late = jax.lax.while_loop(cond, body, init)
        # The last iterate has not been checked inside the loop.
        xa = x + delta
        dist = jnp.sum((xa - x) ** 2, axis=1)
        last = succeeded(margin_loss(logits_fn(xa), y, targeted))
        ok = last & (dist < rd)
        rd = jnp.where(ok, dist, rd)
        rx = jnp.where(ok[:, None], xa, rx)

        # c is judged by where Adam settles, not by the first steps: those move
        # every coordinate by the full rate and can jump a near boundary even
        # when c is too small to hold the optimum there.
        found = late | last
        hi = jnp.where(found, jnp.minimum(st.hi, st.const), st.hi)
        lo = jnp.where(found, st.lo, jnp.maximum(st.lo, st.const))
        const = jnp.where(hi < 1e9, 0.5 * (lo + hi), st.const * 10.0)
        better = rd < st.best_dist
        best_dist = jnp.where(better, rd, st.best_dist)
        rate = jnp.minimum(
            learning_rate, _CW_TRAVEL * jnp.sqrt(best_dist) / (steps * math.sqrt(d)))
        return _CWState(const, lo, hi, best_dist,
                        jnp.where(better[:, None], rx, st.best_x), rate[:, None])

    init = _CWState(jnp.full(n, initial_const, jnp.float32), jnp.zeros(n),
                    jnp.full(n, 1e10), jnp.full(n, jnp.inf), x,
                    jnp.full((n, 1), learning_rate, jnp.float32))
    st = jax.lax.fori_loop(0, binary_search_steps, one_round, init)
    return st.best_x, jnp.isfinite(st.best_dist)


def deepfool(logits_fn, x, y, *, key, eps=jnp.inf, norm=2, overshoot=0.02, steps=50,
             targeted=False, project=_identity_project):
    """DeepFool (Moosavi-Dezfooli et al. 2016), multiclass, L2 or L-infinity.

    At each step the classifier is linearised at the current point and the
    point moves to the nearest linearised boundary: for the class ``l``
    minimising ``|f_l| / ||w_l||_q`` (``f_l = z_l - z_y``, ``w_l`` its gradient,
    ``q`` the dual norm), by ``(|f_l| + 1e-4) w_l / ||w_l||_2^2`` (L2) or
    ``(|f_l| + 1e-4) sign(w_l) / ||w_l||_1`` (L-infinity). The accumulated
    perturbation is scaled by ``1 + overshoot``. Coordinates the constraints
    stop from moving in the needed direction (immutable, at a bound) are
    removed from the linearisation, so the step goes around them instead of
    being clipped away. With ``targeted`` the only candidate is the target,
    against the best other class.

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(x) -> (n, k)``.
    x : jax.Array of shape (n, d)
    y : jax.Array of shape (n,) int
        True classes, or target classes when ``targeted``.
    key : jax.Array
        Unused (deterministic); accepted for a uniform signature.
    eps : float or jax.Array of shape (n,), default=inf
        Optional budget in ``norm``.
    norm : {2, "inf"}, default=2
    overshoot : float, default=0.02
    steps : int, default=50
    targeted : bool, default=False
    project : callable, default=identity

    Returns
    -------
    x_adv : jax.Array of shape (n, d)
        The last point (past the boundary by the overshoot for the rows that
        crossed it).
    success : jax.Array of shape (n,) bool

    References
    ----------
    .. [1] S.-M. Moosavi-Dezfooli, A. Fawzi, P. Frossard. "DeepFool: a simple and
       accurate method to fool deep neural networks", CVPR 2016.
    """
    del key
    ops = NORMS[norm]
    n = x.shape[0]
    eps_c = _col(eps, n)

    def P(v):
        return project(x + ops.project(v - x, eps_c), x)

    def jac(xa):
        z, vjp = jax.vjp(logits_fn, xa)
        k = z.shape[1]
        cots = jnp.broadcast_to(jnp.eye(k, dtype=z.dtype)[:, None, :], (k, n, k))
        return z, jax.vmap(lambda c: vjp(c)[0])(cots)  # (n, k), (k, n, d)

    # The L-infinity budget is a box too, so it joins the feasibility test.
    box = P if norm == "inf" else (lambda v: project(v, x))

    def step(xa):
        z, J = jac(xa)
        J = jnp.swapaxes(J, 0, 1)  # (n, k, d)
        k = z.shape[1]
        if targeted:
            src = jnp.argmax(jnp.where(jax.nn.one_hot(y, k, dtype=bool), -jnp.inf, z), axis=1)
            dst = y
        else:
            src = y
        zs = _true(z, src)
        Js = jnp.take_along_axis(J, src[:, None, None], axis=1)  # (n, 1, d)
        f = z - zs[:, None]  # (n, k): f_l < 0 until class l overtakes src
        w = J - Js
        up = box(xa + 1.0) > xa
        down = box(xa - 1.0) < xa
        w = jnp.where(((w > 0) & up[:, None]) | ((w < 0) & down[:, None]), w, 0.0)
        if norm == "inf":
            wn = jnp.sum(jnp.abs(w), axis=2)
        else:
            wn = jnp.linalg.norm(w, axis=2)
        ratio = jnp.abs(f) / jnp.maximum(wn, 1e-12)
        allowed = ~jax.nn.one_hot(src, k, dtype=bool) & (wn > 1e-12)
        if targeted:
            allowed = allowed & jax.nn.one_hot(dst, k, dtype=bool)
        ratio = jnp.where(allowed, ratio, jnp.inf)
        l = jnp.argmin(ratio, axis=1)
        wl = jnp.take_along_axis(w, l[:, None, None], axis=1)[:, 0]
        fl = jnp.abs(_true(f, l)) + 1e-4
        wnl = jnp.maximum(_true(wn, l), 1e-12)[:, None]
        if norm == "inf":
            r = fl[:, None] / wnl * jnp.sign(wl)
        else:
            r = fl[:, None] / wnl ** 2 * wl
        usable = jnp.isfinite(_true(ratio, l))[:, None]
        return z, jnp.where(usable, r, 0.0)

    def cond(s):
        i, _, _, done = s
        return (i < steps) & ~jnp.all(done)

    def body(s):
        i, r_tot, xa, done = s
        z, r = step(xa)
        done = done | is_success(z, y, targeted)
        r_tot = jnp.where(done[:, None], r_tot, r_tot + r)
        xa_new = P(x + (1.0 + overshoot) * r_tot)
        # Keep the accumulated step consistent with what the constraints allowed.
        r_tot = jnp.where(done[:, None], r_tot, (xa_new - x) / (1.0 + overshoot))
        xa = jnp.where(done[:, None], xa, xa_new)
        return i + 1, r_tot, xa, done

    init = (0, jnp.zeros_like(x), x, jnp.zeros(n, bool))
    _, _, xa, _ = jax.lax.while_loop(cond, body, init)
    return xa, is_success(logits_fn(xa), y, targeted)
