"""Pure, jit-able attack cores.

Every function here is a pure function of ``(logits_fn, x, y)`` and keyword
configuration, with an explicit PRNG ``key``; no scikit-learn, no NumPy state,
no Python loop over samples or steps (``jax.lax`` loops only). The scikit-learn
classes in :mod:`skadv.attacks.white_box` validate, convert and call these
inside one ``jax.jit``; defenses call them inside their compiled training step.

Conventions
-----------
``logits_fn(x) -> (n, k)`` logits; ``y`` integer class indices (the true class,
or the target class when ``targeted``); ``key`` a single PRNG key or one key per
row (shape ``(n, 2)``) — per-row keys make a row's result independent of how
rows are batched; ``eps`` a scalar or one budget per row; ``project(x_adv, x)``
imposes the feature constraints (:func:`skadv.constraints.project_relaxed`).
Losses are oriented so that *larger is more adversarial*.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

__all__ = [
    "NORMS",
    "LOSSES",
    "NormOps",
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


NORMS = {
    "inf": NormOps(_linf_start, jnp.sign, lambda d, e: jnp.clip(d, -e, e),
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
        first, then the larger loss), checked after every step.
    random_start : bool, default=True
        Start uniformly in the ball (the first restart always starts at ``x``
        when False).
    schedule : {"constant", "cosine"}, default="constant"
        Step-size schedule over the iterations.
    project : callable, default=identity
        ``project(x_adv, x)``, the feature constraints.
    early_stop : bool, default=True
        Stop iterating once every row is adversarial (rows are independent, so
        this changes no result, only time).

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

        def cond(state):
            i, _, b = state
            return (i < steps) & ~(early_stop & jnp.all(b.success))

        def body(state):
            i, xa, b = state
            g, (l, z) = grad_fn(xa)
            b = _keep_better(b, xa, is_success(z, y, targeted), l)
            lr = step_c * _schedule(schedule, i, steps)
            xa = xa + lr * ops.direction(g)
            xa = project(x + ops.project(xa - x, eps_c), x)
            return i + 1, xa, b

        _, xa, best = jax.lax.while_loop(cond, body, (0, xa, best))
        z = logits_fn(xa)
        return _keep_better(best, xa, is_success(z, y, targeted), loss_fn(z, y, targeted))

    def restart_cond(state):
        r, b = state
        return (r < restarts) & ~(early_stop & jnp.all(b.success))

    def restart_body(state):
        r, b = state
        return r + 1, one_restart(r, b)

    _, best = jax.lax.while_loop(restart_cond, restart_body, (0, best))
    return best.x, best.success


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
