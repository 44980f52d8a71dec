"""Pure, jit-able attack cores.

Every function here is a pure function of ``(logits_fn, x, y)`` and keyword
configuration, with an explicit PRNG ``key``; no scikit-learn, no NumPy state,
no Python loop over samples or steps (``jax.lax`` loops only). The scikit-learn
classes in :mod:`skadv.attacks.white_box` validate, convert and call these
inside one ``jax.jit`` (through an :class:`~skadv._core.plan.AttackPlan`);
defenses run the same plans inside their compiled training step. The
minimal-distance cores (Carlini-Wagner, DeepFool) are in :mod:`.minimal`.

Conventions
-----------
``logits_fn(x) -> (n, k)`` logits; ``y`` integer class indices (the true class,
or the target class when ``targeted``); ``key`` a single PRNG key or one key per
row (shape ``(n, 2)``) — per-row keys make a row's result independent of how
rows are batched; ``eps`` a scalar or one budget per row; ``project(x_adv, x)``
imposes the feature constraints (:func:`skadv.constraints.project_relaxed`).
Losses are oriented so that *larger is more adversarial*.
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "NORMS",
    "LOSSES",
    "NormOps",
    "apgd",
    "apgd_checkpoints",
    "fgsm",
    "is_success",
    "pgd",
    "row_keys",
]


# --------------------------------------------------------------------------
# randomness
def row_keys(key, n):
    """Per-row keys ``(n, 2)``: a single key is split by row index."""
    key = jnp.asarray(key)
    if key.ndim == 2:
        return key
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(n))


def _per_row(sample, keys, shape):
    """Draw ``sample(key, shape[1:])`` independently for every row."""
    return jax.vmap(lambda k: sample(k, shape[1:]))(keys)


def _col(eps, n):
    """Budget as a column ``(n, 1)`` from a scalar or per-row array."""
    return jnp.broadcast_to(jnp.asarray(eps, jnp.float32), (n,))[:, None]


# --------------------------------------------------------------------------
# norms: one dict of pure functions, not one attack class per norm
class NormOps(NamedTuple):
    """What an iterative attack needs to know about a norm."""

    random_start: object  # (keys (n,2), shape, eps (n,1)) -> delta inside the ball
    direction: object     # grad (n,d) -> steepest-ascent direction of unit norm
    project: object       # (delta (n,d), eps (n,1)) -> projection onto the ball
    norm: object          # delta (n,d) -> (n,)


def _linf_start(keys, shape, eps):
    return _per_row(lambda k, s: jax.random.uniform(k, s, minval=-1.0, maxval=1.0),
                    keys, shape) * eps


def _l2_start(keys, shape, eps):
    def one(k, s):
        kd, kr = jax.random.split(k)
        v = jax.random.normal(kd, s)
        v = v / jnp.maximum(jnp.linalg.norm(v), 1e-12)
        return v * jax.random.uniform(kr) ** (1.0 / s[-1])
    return _per_row(one, keys, shape) * eps


def _l1_start(keys, shape, eps):
    def one(k, s):
        kd, kr = jax.random.split(k)
        v = jax.random.laplace(kd, s)
        v = v / jnp.maximum(jnp.sum(jnp.abs(v)), 1e-12)
        return v * jax.random.uniform(kr) ** (1.0 / s[-1])
    return _per_row(one, keys, shape) * eps


def _safe_div(a, b):
    return a / jnp.maximum(b, 1e-12)


def _l2_direction(g):
    return _safe_div(g, jnp.linalg.norm(g, axis=1, keepdims=True))


def _l1_direction(g):
    # Sparse steepest ascent (Tramer & Boneh 2019): move the top 10% of
    # coordinates by |gradient|, not just the single largest one.
    d = g.shape[1]
    k = max(1, int(round(0.1 * d)))
    thresh = jax.lax.top_k(jnp.abs(g), k)[0][:, -1:]
    e = jnp.where(jnp.abs(g) >= thresh, jnp.sign(g), 0.0)
    return _safe_div(e, jnp.sum(jnp.abs(e), axis=1, keepdims=True))


def _l2_project(delta, eps):
    n = jnp.linalg.norm(delta, axis=1, keepdims=True)
    return delta * jnp.minimum(1.0, _safe_div(eps, n))


def _l1_project(delta, eps):
    """Euclidean projection onto the L1 ball (Duchi et al. 2008), row-wise."""
    a = jnp.abs(delta)
    inside = jnp.sum(a, axis=1, keepdims=True) <= eps
    u = -jnp.sort(-a, axis=1)
    css = jnp.cumsum(u, axis=1)
    j = jnp.arange(1, a.shape[1] + 1, dtype=a.dtype)
    cond = u - (css - eps) / j > 0
    rho = jnp.sum(cond, axis=1, keepdims=True)
    theta = (jnp.take_along_axis(css, rho - 1, axis=1) - eps) / rho
    proj = jnp.sign(delta) * jnp.maximum(a - theta, 0.0)
    return jnp.where(inside, delta, proj)


def _linf_polytope_direction(g):
    # The gradient itself, as long (in L2) as a sign step.
    return _l2_direction(g) * jnp.sqrt(jnp.asarray(g.shape[1], g.dtype))


def _no_project(delta, eps):
    return delta


NORMS = {
    "inf": NormOps(_linf_start, jnp.sign, lambda d, e: jnp.clip(d, -e, e),
                   lambda d: jnp.max(jnp.abs(d), axis=1)),
    # L-inf inside linear relations between features: the constraint projection
    # imposes ball, box and relations in one Euclidean projection, and steps
    # follow the gradient. (A sign step followed by a projection onto a
    # polytope has fixed points short of the best vertex; a gradient step has
    # exactly the optimal points as fixed points.)
    "inf-polytope": NormOps(_linf_start, _linf_polytope_direction, _no_project,
                            lambda d: jnp.max(jnp.abs(d), axis=1)),
    2: NormOps(_l2_start, _l2_direction, _l2_project,
               lambda d: jnp.linalg.norm(d, axis=1)),
    1: NormOps(_l1_start, _l1_direction, _l1_project,
               lambda d: jnp.sum(jnp.abs(d), axis=1)),
}


# --------------------------------------------------------------------------
# losses (per sample; larger = more adversarial)
def _other_max(z, y):
    mask = jax.nn.one_hot(y, z.shape[1], dtype=bool)
    return jnp.max(jnp.where(mask, -jnp.inf, z), axis=1)


def _true(z, y):
    return jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]


def ce_loss(z, y, targeted):
    """Cross-entropy of the true class (untargeted) or minus that of the target."""
    ce = -_true(jax.nn.log_softmax(z, axis=1), y)
    return -ce if targeted else ce


def margin_loss(z, y, targeted):
    """Carlini-Wagner margin: best other logit minus the true one (> 0: adversarial)."""
    m = _other_max(z, y) - _true(z, y)
    return -m if targeted else m


def dlr_loss(z, y, targeted):
    """Difference of logits ratio (Croce & Hein 2020), scale invariant.

    Untargeted: ``-(z_y - max_{j!=y} z_j) / (z_pi1 - z_pi3)``; targeted
    (``y`` the target): ``-(z_orig_best - z_t) / (z_pi1 - (z_pi3 + z_pi4)/2)``,
    approximated here with the best non-target logit. Needs >= 3 classes
    (>= 4 targeted).
    """
    zs = -jnp.sort(-z, axis=1)
    if targeted:
        denom = zs[:, 0] - 0.5 * (zs[:, 2] + zs[:, 3]) + 1e-12
        return -(_other_max(z, y) - _true(z, y)) / denom
    denom = zs[:, 0] - zs[:, 2] + 1e-12
    return -(_true(z, y) - _other_max(z, y)) / denom


LOSSES = {"ce": ce_loss, "cw": margin_loss, "dlr": dlr_loss}


def is_success(z, y, targeted):
    """Per row: is ``argmax z`` the target (targeted) or not the true class?"""
    pred = jnp.argmax(z, axis=1)
    return pred == y if targeted else pred != y


def _identity_project(x_adv, x):
    return x_adv


# --------------------------------------------------------------------------
# PGD and FGSM
class _Best(NamedTuple):
    x: jax.Array        # (n, d) best adversarial so far
    success: jax.Array  # (n,) bool
    loss: jax.Array     # (n,)


def _keep_better(best, x, success, loss):
    """Prefer success, then the larger loss; per row."""
    better = (success & ~best.success) | ((success == best.success) & (loss > best.loss))
    return _Best(jnp.where(better[:, None], x, best.x), best.success | success,
                 jnp.where(better, loss, best.loss))


def _over_restarts(one_restart, best, restarts, early_stop):
    """Run ``one_restart(r, best) -> best`` for ``r < restarts``; early exit."""

    def cond(state):
        r, b = state
        return (r < restarts) & ~(early_stop & jnp.all(b.success))

    def body(state):
        r, b = state
        return r + 1, one_restart(r, b)

    _, best = jax.lax.while_loop(cond, body, (0, best))
    return best.x, best.success


def _schedule(name, i, steps):
    if name == "constant":
        return 1.0
    if name == "cosine":
        return 0.5 * (1.0 + jnp.cos(jnp.pi * i / steps))
    raise ValueError(f"Unknown step schedule {name!r}.")


def pgd(logits_fn, x, y, *, key, eps, step_size, steps, norm="inf", loss="ce",
        targeted=False, restarts=1, random_start=True, schedule="constant",
        project=_identity_project, early_stop=True):
    """Projected gradient descent (Madry et al. 2018) with restarts.

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(x) -> (n, k)``.
    x : jax.Array of shape (n, d)
        Clean rows.
    y : jax.Array of shape (n,) int
        True classes, or target classes when ``targeted``.
    key : jax.Array
        PRNG key, or one key per row ``(n, 2)``.
    eps : float or jax.Array of shape (n,)
        Budget in ``norm``.
    step_size : float or jax.Array of shape (n,)
        Step length in ``norm`` (scaled by the schedule).
    steps : int
        Iterations per restart.
    norm : {"inf", 2, 1}, default="inf"
    loss : {"ce", "cw", "dlr"}, default="ce"
    targeted : bool, default=False
    restarts : int, default=1
        Independent random starts; the best result per row is kept (success
        first, then the larger loss).
    random_start : bool, default=True
        Start uniformly in the ball (the first restart always starts at ``x``
        when False).
    schedule : {"constant", "cosine"}, default="constant"
        Step-size schedule over the iterations.
    project : callable, default=identity
        ``project(x_adv, x)``, the feature constraints.
    early_stop : bool, default=True
        A row stops at the first point found adversarial (and the loop once
        every row has): the question of an attack. False runs every step and
        keeps, per row, the adversarial point of largest loss, checked after
        every step: what adversarial training wants.

    Returns
    -------
    x_adv : jax.Array of shape (n, d)
        Best point found per row (``x`` itself where nothing beat it).
    success : jax.Array of shape (n,) bool
        By the float32 logits; the scikit-learn wrapper re-checks with the
        victim's own ``predict``.

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu. "Towards Deep
       Learning Models Resistant to Adversarial Attacks", ICLR 2018.
    """
    ops = NORMS[norm]
    loss_fn = LOSSES[loss]
    n = x.shape[0]
    eps_c = _col(eps, n)
    step_c = _col(step_size, n)
    keys = row_keys(key, n)

    def objective(xa):
        z = logits_fn(xa)
        l = loss_fn(z, y, targeted)
        return jnp.sum(l), (l, z)

    grad_fn = jax.grad(objective, has_aux=True)

    z0 = logits_fn(x)
    best = _Best(x, is_success(z0, y, targeted), loss_fn(z0, y, targeted))

    def one_restart(r, best):
        rk = jax.vmap(lambda k: jax.random.fold_in(k, r))(keys)
        start = ops.random_start(rk, x.shape, eps_c)
        use_random = jnp.logical_or(random_start, r > 0)
        xa = project(x + jnp.where(use_random, start, 0.0), x)

        def step(i, xa, g):
            lr = step_c * _schedule(schedule, i, steps)
            return project(x + ops.project(xa + lr * ops.direction(g) - x, eps_c), x)

        if not early_stop:
            def body(i, state):
                xa, b = state
                g, (l, z) = grad_fn(xa)
                return step(i, xa, g), _keep_better(b, xa, is_success(z, y, targeted), l)

            xa, best = jax.lax.fori_loop(0, steps, body, (xa, best))
            z = logits_fn(xa)
            return _keep_better(best, xa, is_success(z, y, targeted),
                                loss_fn(z, y, targeted))

        # Early stop, per row: a row stays at the first point found adversarial.
        # Every returned point is one the loop evaluated (steps + 1 of them),
        # so its loss and success are at hand and no best point is carried.
        def evaluate(z, l, done, loss):
            return jnp.where(done, loss, l), done | is_success(z, y, targeted)

        def cond(state):
            i, _, done, _ = state
            return (i < steps) & ~jnp.all(done)

        def body(state):
            i, xa, done, loss = state
            g, (l, z) = grad_fn(xa)
            loss, done = evaluate(z, l, done, loss)
            return i + 1, jnp.where(done[:, None], xa, step(i, xa, g)), done, loss

        init = (0, xa, best.success, best.loss)
        _, xa, done, loss = jax.lax.while_loop(cond, body, init)
        # The last point needs a forward pass only: its gradient would go unused.
        z = logits_fn(xa)
        loss, done = evaluate(z, loss_fn(z, y, targeted), done, loss)
        return _keep_better(best, xa, done & ~best.success, loss)

    return _over_restarts(one_restart, best, restarts, early_stop)


def fgsm(logits_fn, x, y, *, key, eps, norm="inf", loss="ce", targeted=False,
         random_start=False, step_size=None, project=_identity_project):
    """Fast gradient (sign) method (Goodfellow et al. 2015): one step of size ``eps``.

    With ``random_start`` it is the "FGSM with random start" of Wong et al.
    (2020), used for fast adversarial training, where ``step_size`` is usually
    ``1.25 * eps``. Parameters as :func:`pgd`.

    Returns
    -------
    x_adv : jax.Array of shape (n, d)
        The single-step point (not a best-of): what adversarial training uses.
    success : jax.Array of shape (n,) bool

    References
    ----------
    .. [1] I. Goodfellow, J. Shlens, C. Szegedy. "Explaining and Harnessing
       Adversarial Examples", ICLR 2015.
    .. [2] E. Wong, L. Rice, J. Z. Kolter. "Fast is better than free: Revisiting
       adversarial training", ICLR 2020.
    """
    ops = NORMS[norm]
    n = x.shape[0]
    eps_c = _col(eps, n)
    step_c = eps_c if step_size is None else _col(step_size, n)
    start = ops.random_start(row_keys(key, n), x.shape, eps_c)
    xa = project(x + jnp.where(random_start, start, 0.0), x)
    g = jax.grad(lambda v: jnp.sum(LOSSES[loss](logits_fn(v), y, targeted)))(xa)
    xa = xa + step_c * ops.direction(g)
    xa = project(x + ops.project(xa - x, eps_c), x)
    return xa, is_success(logits_fn(xa), y, targeted)


# --------------------------------------------------------------------------
# AutoPGD
def apgd_checkpoints(steps):
    """Iterations at which AutoPGD may halve its step (Croce & Hein 2020, Sec. 3.2).

    ``p_0 = 0``, ``p_1 = 0.22``, ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)``;
    the checkpoints are ``ceil(p_j * steps)``.

    Returns
    -------
    lengths : tuple of int, length ``steps + 1``
        ``lengths[i]`` is ``w_j - w_{j-1}`` when iteration ``i`` is the
        checkpoint ``w_j`` (``j >= 1``), else 0. Static, so it can be a constant
        of the compiled loop.
    """
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    # Rounding first forgives the float error of the recursion (0.22 + 0.06 ...).
    w = sorted({math.ceil(round(q * steps, 9)) for q in p})
    lengths = [0] * (steps + 1)
    for prev, cur in zip(w, w[1:]):
        if 0 < cur <= steps:
            lengths[cur] = cur - prev
    return tuple(lengths)


class _APGDState(NamedTuple):
    i: jax.Array          # () iteration
    x: jax.Array          # (n, d) current iterate
    x_prev: jax.Array     # (n, d) previous iterate (momentum)
    g: jax.Array          # (n, d) gradient at x
    loss: jax.Array       # (n,) loss at x
    eta: jax.Array        # (n, 1) step size
    x_max: jax.Array      # (n, d) highest-loss point of this run
    g_max: jax.Array      # (n, d) gradient there
    f_max: jax.Array      # (n,) its loss
    count: jax.Array      # (n,) loss increases since the last checkpoint
    f_max_check: jax.Array  # (n,) f_max at the last checkpoint
    reduced: jax.Array    # (n,) bool, step halved at the last checkpoint
    best: _Best           # best point to return (adversarial first)


def apgd(logits_fn, x, y, *, key, eps, steps, norm="inf", loss="ce", targeted=False,
         restarts=1, rho=0.75, momentum=0.75, project=_identity_project,
         early_stop=True):
    """AutoPGD (Croce & Hein 2020): PGD with momentum and an adaptive step size.

    The step starts at ``2 * eps`` and is halved at the checkpoints
    :func:`apgd_checkpoints` for the rows where, since the last checkpoint, the
    loss increased in fewer than ``rho`` of the steps, or where neither the
    step nor the best loss changed; those rows restart from their best point.
    The update is ``z = P(x_k + eta * dir(grad))``,
    ``x_{k+1} = P(x_k + a (z - x_k) + (1 - a)(x_k - x_{k-1}))`` with
    ``a = momentum`` (1 on the first step). One gradient per iteration.

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(x) -> (n, k)``.
    x : jax.Array of shape (n, d)
    y : jax.Array of shape (n,) int
        True classes, or target classes when ``targeted``.
    key : jax.Array
        PRNG key, or one key per row ``(n, 2)``.
    eps : float or jax.Array of shape (n,)
        Budget in ``norm``.
    steps : int
        Iterations per restart.
    norm : {"inf", 2, 1}, default="inf"
        L1 uses the sparse steepest-ascent direction of :data:`NORMS` (not the
        APGD-L1 variant of Croce & Hein 2021).
    loss : {"ce", "cw", "dlr"}, default="ce"
        ``"dlr"`` with ``targeted`` is the targeted DLR loss.
    targeted : bool, default=False
    restarts : int, default=1
        Independent random starts; the best per row is kept.
    rho : float, default=0.75
        Fraction of steps that must increase the loss for the step to stay.
    momentum : float, default=0.75
    project : callable, default=identity
        ``project(x_adv, x)``, the feature constraints.
    early_stop : bool, default=True
        Stop once every row is adversarial.

    Returns
    -------
    x_adv : jax.Array of shape (n, d)
    success : jax.Array of shape (n,) bool

    References
    ----------
    .. [1] F. Croce, M. Hein. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks", ICML 2020.
    """
    ops = NORMS[norm]
    loss_fn = LOSSES[loss]
    n = x.shape[0]
    eps_c = _col(eps, n)
    keys = row_keys(key, n)
    lengths = jnp.asarray(apgd_checkpoints(steps), jnp.float32)

    def P(v):
        return project(x + ops.project(v - x, eps_c), x)

    def objective(xa):
        z = logits_fn(xa)
        l = loss_fn(z, y, targeted)
        return jnp.sum(l), (l, z)

    grad_fn = jax.grad(objective, has_aux=True)

    def where_row(m, a, b):
        return jnp.where(m[:, None] if a.ndim == 2 else m, a, b)

    def one_restart(r, best):
        rk = jax.vmap(lambda k: jax.random.fold_in(k, r))(keys)
        x0 = P(x + ops.random_start(rk, x.shape, eps_c))
        g0, (l0, z0) = grad_fn(x0)
        best = _keep_better(best, x0, is_success(z0, y, targeted), l0)
        zeros = jnp.zeros(n, jnp.float32)
        state = _APGDState(
            jnp.asarray(0), x0, x0, g0, l0, 2.0 * eps_c, x0, g0, l0, zeros, l0,
            jnp.zeros(n, bool), best)

        def cond(s):
            return (s.i < steps) & ~(early_stop & jnp.all(s.best.success))

        def body(s):
            a = jnp.where(s.i == 0, 1.0, momentum)
            z_step = P(s.x + s.eta * ops.direction(s.g))
            x_new = P(s.x + a * (z_step - s.x) + (1.0 - a) * (s.x - s.x_prev))
            g, (l, z) = grad_fn(x_new)
            b = _keep_better(s.best, x_new, is_success(z, y, targeted), l)
            count = s.count + (l > s.loss)
            up = l > s.f_max
            x_max, g_max = where_row(up, x_new, s.x_max), where_row(up, g, s.g_max)
            f_max = jnp.where(up, l, s.f_max)
            # Checkpoint after iteration i + 1: halve and restart from the best.
            length = lengths[s.i + 1]
            at_check = length > 0
            oscillating = count < rho * length
            stalled = ~s.reduced & (s.f_max_check >= f_max)
            halve = at_check & (oscillating | stalled)
            x_prev = where_row(halve, x_max, s.x)
            x_new = where_row(halve, x_max, x_new)
            g = where_row(halve, g_max, g)
            l = jnp.where(halve, f_max, l)
            return _APGDState(
                s.i + 1, x_new, x_prev, g, l,
                jnp.where(halve[:, None], 0.5 * s.eta, s.eta), x_max, g_max, f_max,
                jnp.where(at_check, 0.0, count),
                jnp.where(at_check, f_max, s.f_max_check),
                jnp.where(at_check, halve, s.reduced), b)

        return jax.lax.while_loop(cond, body, state).best

    z0 = logits_fn(x)
    best = _Best(x, is_success(z0, y, targeted), loss_fn(z0, y, targeted))
    return _over_restarts(one_restart, best, restarts, early_stop)
