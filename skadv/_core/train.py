"""The one training loop of skadv.

Plain fitting, adversarial training, TRADES, distillation, Gaussian-noise
training and interval-bound training differ only in their *objective*: a
hashable callable ``objective(fn, params, X, Y, key, hp) -> per-sample losses``.
The loop weights, masks and penalises those losses, and runs a whole epoch as
one compiled ``lax.scan`` over mini-batches. The data are padded once to a
multiple of the batch size, with a zero mask on the padding, so the compiled
epoch is reused for every epoch and every call with the same shapes.

``hp`` is a dict of scalars (eps, beta, temperature, ...) that are traced, not
static: an eps warm-up schedule or a grid search over ``beta`` re-uses the same
compiled code.
"""

from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import jax
import jax.numpy as jnp
import optax

from ..verify import as_layers, crown_bounds, interval_bounds, margin_matrix

__all__ = [
    "AdversarialObjective",
    "BoundObjective",
    "CrossEntropy",
    "DistillationObjective",
    "NoiseObjective",
    "OptimizerSpec",
    "TradesObjective",
    "TrainResult",
    "cross_entropy",
    "l2_penalty",
    "train",
]


@dataclass(frozen=True)
class OptimizerSpec:
    """Hashable description of an optax optimiser.

    Hashable so that the compiled epoch is cached on it; :meth:`build` makes
    the optax transform inside the trace.
    """

    solver: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    nesterov: bool = True
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8

    def build(self):
        if self.solver == "adam":
            return optax.adam(self.learning_rate, b1=self.beta_1, b2=self.beta_2,
                              eps=self.epsilon)
        if self.solver == "sgd":
            return optax.sgd(self.learning_rate, momentum=self.momentum or None,
                             nesterov=self.nesterov and self.momentum > 0)
        if self.solver == "lbfgs":
            # Backtracking compiles in half the time of the default zoom line
            # search and reaches the same optimum on these smooth losses.
            return optax.lbfgs(linesearch=optax.scale_by_backtracking_linesearch(
                max_backtracking_steps=20, store_grad=True))
        raise ValueError(f"Unknown solver {self.solver!r}.")


def cross_entropy(logits, Y):
    """Per-sample cross-entropy; ``Y`` holds integer labels or soft targets.

    Parameters
    ----------
    logits : jax.Array of shape (n, k)
    Y : jax.Array of shape (n,) int or (n, k) float
        Labels, or probability vectors (distillation's soft labels).

    Returns
    -------
    loss : jax.Array of shape (n,)
    """
    logp = jax.nn.log_softmax(logits, axis=-1)
    if Y.ndim == 1:
        return -jnp.take_along_axis(logp, Y[:, None].astype(jnp.int32), axis=1)[:, 0]
    return -jnp.sum(Y * logp, axis=-1)


@dataclass(frozen=True)
class CrossEntropy:
    """The plain objective: cross-entropy of the model's logits."""

    # No randomness: a full-batch L-BFGS fit may run it in SciPy's L-BFGS-B.
    deterministic = True

    def __call__(self, fn, params, X, Y, key, hp):
        return cross_entropy(fn(params, X), Y)


# --------------------------------------------------------------------------
# Objectives of the defenses. Each is a frozen dataclass (hashable, so the
# compiled epoch is cached on it) holding only what changes the computation's
# structure; budgets, weights and temperatures come in ``hp`` as traced scalars
# so that a warm-up schedule or a grid over them re-uses the compiled epoch.

@dataclass(frozen=True)
class DistillationObjective:
    """Cross-entropy of ``logits / T`` (``hp["temperature"]``): defensive distillation.

    ``Y`` holds labels (the teacher) or the teacher's soft labels at the same
    temperature (the student), as in Papernot et al. (2016).
    """

    deterministic = True

    def __call__(self, fn, params, X, Y, key, hp):
        return cross_entropy(fn(params, X) / hp["temperature"], Y)


@dataclass(frozen=True)
class NoiseObjective:
    """Cross-entropy under Gaussian input noise of scale ``hp["noise_scale"]``.

    A fresh draw per row, batch and epoch: the model learns to classify the
    noisy inputs it will see when noise is part of its inference.
    """

    def __call__(self, fn, params, X, Y, key, hp):
        noise = jax.random.normal(key, X.shape, X.dtype) * hp["noise_scale"]
        return cross_entropy(fn(params, X + noise), Y)


def _inner_max(plan, logits_fn, X, y, key, hp):
    """Maximise the attack's loss of ``logits_fn`` within its budget around ``X``.

    ``plan`` is the attack's :class:`~skadv._core.plan.AttackPlan` (the very
    attack the user passed: core, options, budget and constraints), its
    budget scaled by ``hp["ramp"]`` (an eps warm-up). It returns the
    adversarial rows in the units of ``X``, without gradient: the outer
    minimisation treats them as constants (Danskin's theorem, as in Madry et
    al. 2018).
    """
    # Training wants the loss maximised, not merely a misclassification:
    # run every step even once all rows are misclassified.
    plan = plan.scaled(hp["ramp"]).with_options(early_stop=False)
    X_adv = plan.run(logits_fn, jax.lax.stop_gradient(X), y, key)
    return jax.lax.stop_gradient(X_adv)


@dataclass(frozen=True)
class AdversarialObjective:
    """Adversarial training: ``(1 - ratio) * CE(x) + ratio * CE(x_adv)``.

    ``x_adv`` is the attack of the plan ``hp["attack"]`` against the current
    parameters, computed inside the same compiled step; ``ratio`` is
    ``hp["ratio"]`` (1 is Madry et al.'s PGD-AT, and Wong et al.'s fast FGSM-AT
    with an FGSM plan from a random start). ``adversarial_only`` (static)
    drops the clean term, which carries weight 0 when ``ratio`` is 1, and its
    forward and backward pass with it.
    """

    adversarial_only: bool = False

    def __call__(self, fn, params, X, Y, key, hp):
        frozen = jax.lax.stop_gradient(params)
        X_adv = _inner_max(hp["attack"], lambda v: fn(frozen, v), X, Y, key, hp)
        if self.adversarial_only:
            return cross_entropy(fn(params, X_adv), Y)
        # One forward pass over clean and adversarial rows together.
        z = fn(params, jnp.concatenate([X, X_adv], axis=0))
        n = X.shape[0]
        clean, adv = cross_entropy(z[:n], Y), cross_entropy(z[n:], Y)
        return (1.0 - hp["ratio"]) * clean + hp["ratio"] * adv


def _kl_rows(logp, logq):
    """Row-wise KL(p || q) from log-probabilities."""
    return jnp.sum(jnp.exp(logp) * (logp - logq), axis=-1)


@dataclass(frozen=True)
class TradesObjective:
    """TRADES (Zhang et al. 2019): ``CE(x) + beta * KL(p(x) || p(x_adv))``.

    ``x_adv`` maximises the KL divergence from the clean prediction within the
    budget and constraints of the plan ``hp["attack"]``. That inner
    maximisation is the plan's core run on the two-logit model ``[0, KL(p(x)
    || p(x'))]`` with label 0 and the cross-entropy loss: its cross-entropy is
    ``softplus(KL)``, increasing in the KL, so the steps and the choice of the
    best iterate follow the KL. ``beta`` is ``hp["beta"]``.
    """

    def __call__(self, fn, params, X, Y, key, hp):
        frozen = jax.lax.stop_gradient(params)
        logp_clean = jax.lax.stop_gradient(jax.nn.log_softmax(fn(frozen, X), axis=-1))

        def kl_logits(v):
            kl = _kl_rows(logp_clean, jax.nn.log_softmax(fn(frozen, v), axis=-1))
            return jnp.stack([jnp.zeros_like(kl), kl], axis=1)

        zeros = jnp.zeros(X.shape[0], jnp.int32)
        # Always from a random start: at x itself the KL is at its minimum and
        # its gradient is zero, so the ascent would never leave x.
        plan = hp["attack"].with_options(loss="ce", random_start=True)
        X_adv = _inner_max(plan, kl_logits, X, zeros, key, hp)
        z = fn(params, jnp.concatenate([X, X_adv], axis=0))
        n = X.shape[0]
        logp = jax.nn.log_softmax(z, axis=-1)
        natural = cross_entropy(z[:n], Y)
        return natural + hp["beta"] * _kl_rows(logp[:n], logp[n:])


@dataclass(frozen=True)
class BoundObjective:
    """Certified training: ``kappa * CE(x) + (1 - kappa) * CE(worst-case logits)``.

    The worst-case logits over the L-inf box ``x +/- eps * scale`` are
    ``[0, -lb_j]`` with ``lb_j`` a lower bound of the margin
    ``logit_y - logit_j`` (Gowal et al. 2018, bounding margins directly with
    the specification matrix as in Zhang et al. 2020); their cross-entropy
    upper-bounds the cross-entropy of every point of the box. ``method`` is
    ``"ibp"`` (interval bounds) or ``"crown-ibp"``, which mixes the CROWN-IBP
    and interval lower bounds as ``beta * crown_ibp + (1 - beta) * ibp``.
    ``hp["eps"]``, ``hp["kappa"]`` and ``hp["beta"]`` are traced (the ramp
    schedules them per epoch); ``hp["scale"]`` is the per-feature unit of
    ``eps``. ``fn`` must be a ReLU :class:`~skadv.models.DenseNet`.
    """

    method: str = "ibp"

    def __call__(self, fn, params, X, Y, key, hp):
        layers = as_layers(fn, params)
        C = margin_matrix(Y, layers[-1]["W"].shape[1]).astype(X.dtype)
        radius = hp["eps"] * hp["scale"]
        lower, upper = X - radius, X + radius
        lb, _ = interval_bounds(layers, lower, upper, C=C)
        if self.method == "crown-ibp":
            lb_crown, _ = crown_bounds(layers, lower=lower, upper=upper, C=C,
                                       method="crown-ibp")
            lb = hp["beta"] * lb_crown + (1.0 - hp["beta"]) * lb
        worst = jnp.concatenate([jnp.zeros_like(lb[:, :1]), -lb], axis=1)
        robust = cross_entropy(worst, jnp.zeros(X.shape[0], jnp.int32))
        clean = cross_entropy(fn(params, X), Y)
        return hp["kappa"] * clean + (1.0 - hp["kappa"]) * robust


def l2_penalty(params):
    """Half the squared norm of every weight matrix (leaves named ``"W"``), not biases."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    total = 0.0
    for path, leaf in leaves:
        last = path[-1]
        if getattr(last, "key", None) == "W":
            total = total + 0.5 * jnp.sum(leaf**2)
    return total


def _batch_loss(params, fn, objective, X, Y, w, m, key, hp, l2):
    losses = objective(fn, params, X, Y, key, hp)
    data = jnp.sum(w * losses) / jnp.maximum(jnp.sum(m), 1.0)
    return data + l2 * l2_penalty(params)


@partial(jax.jit, static_argnames=("fn", "objective", "opt", "batch_size", "shuffle"))
def _epoch(fn, objective, opt, params, opt_state, key, X, Y, w, m, hp, l2, *,
           batch_size, shuffle):
    """One pass over the padded data as a single ``lax.scan`` over batches."""
    n = X.shape[0]
    key, kperm = jax.random.split(key)
    if shuffle:
        # Real rows in random order, padding last: the partial batch is the
        # last one, as in scikit-learn, and its loss is averaged over its real rows.
        order = jnp.argsort(jnp.where(m > 0, jax.random.uniform(kperm, (n,)), 2.0))
    else:
        order = jnp.arange(n)
    nb = n // batch_size

    def reshape(a):
        a = a[order]
        return a.reshape((nb, batch_size) + a.shape[1:])

    tx = opt.build()
    batches = (reshape(X), reshape(Y), reshape(w), reshape(m),
               jax.random.split(key, nb))

    def update(params, opt_state, xb, yb, wb, mb, kb):
        loss_fn = partial(_batch_loss, fn=fn, objective=objective, X=xb, Y=yb, w=wb,
                          m=mb, key=kb, hp=hp, l2=l2)
        value, grads = jax.value_and_grad(loss_fn)(params)
        if opt.solver == "lbfgs":
            updates, opt_state = tx.update(grads, opt_state, params, value=value,
                                           grad=grads, value_fn=loss_fn)
        else:
            updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        gmax = jnp.max(jnp.stack([jnp.max(jnp.abs(g))
                                  for g in jax.tree_util.tree_leaves(grads)]))
        return params, opt_state, value * jnp.sum(mb), gmax

    def skip(params, opt_state, *batch):
        return params, opt_state, jnp.float32(0.0), jnp.float32(0.0)

    def step(carry, batch):
        params, opt_state = carry
        # Batches made only of padding (the batch count is rounded up so that
        # nearby data sizes share one compiled epoch) leave the state untouched.
        params, opt_state, value, gmax = jax.lax.cond(
            jnp.sum(batch[3]) > 0, update, skip, params, opt_state, *batch)
        return (params, opt_state), (value, gmax)

    (params, opt_state), (values, gmax) = jax.lax.scan(step, (params, opt_state), batches)
    mean_loss = jnp.sum(values) / jnp.maximum(jnp.sum(m), 1.0)
    return params, opt_state, key, mean_loss, jnp.max(gmax)


class TrainResult(NamedTuple):
    """What :func:`train` returns."""

    params: Any              # pytree of arrays
    opt_state: Any           # optax state, to continue (partial_fit)
    n_iter: int              # epochs run
    loss_curve: list         # mean training loss per epoch
    validation_scores: list  # per epoch, when a validation set was given
    best_validation_score: Any
    key: Any
    converged: bool          # stopped by the rule, not by max_iter


def _bucket(k):
    """Round ``k`` up to one of four sizes per octave (at most 25% padding)."""
    if k <= 8:
        return k
    step = 1 << (int(np.floor(np.log2(k))) - 2)
    return int(-(-k // step) * step)


def _rows_bucket(n):
    """Padded rows of a single-batch epoch: a power of two (at least 32) up to
    256 rows, where padding costs nothing next to compiling one more shape;
    four sizes per octave above."""
    if n <= 256:
        return max(32, 1 << int(np.ceil(np.log2(n))))
    return _bucket(n)


def _traced(value):
    """A hyper-parameter as traced arrays: floats in float32, any pytree
    (an :class:`~skadv._core.plan.AttackPlan`) leaf by leaf."""
    def leaf(v):
        if isinstance(v, jax.Array):
            return v.astype(jnp.float32) if jnp.issubdtype(v.dtype, jnp.floating) or \
                v.ndim == 0 else v
        v = np.asarray(v)
        return _to_device(v.astype(np.float32) if np.issubdtype(v.dtype, np.floating) or
                          v.ndim == 0 else v)
    return jax.tree_util.tree_map(leaf, value)


def _to_device(tree):
    """Host arrays copied to the device as they are (float64 as float32, as
    jnp.asarray): jnp.asarray and astype on the device run a compiled
    program per shape and dtype, compiled again in every fresh process."""
    return jax.tree_util.tree_map(
        lambda a: a if isinstance(a, jax.Array) else jax.device_put(np.asarray(a)), tree)


@partial(jax.jit, static_argnums=0)
def _init_state(opt, params):
    # One program for the optimiser's whole state (eagerly, one per leaf and op).
    return opt.build().init(params)


def _pad(a, n_pad):
    if n_pad == 0:
        return a
    pad = np.zeros((n_pad,) + a.shape[1:], dtype=a.dtype)
    return np.concatenate([a, pad], axis=0)


@partial(jax.jit, static_argnames=("fn", "objective", "unravel"))
def _flat_loss_grad(flat, fn, objective, unravel, X, Y, w, m, key, hp, l2):
    """Loss and gradient at a flat float32 parameter vector (SciPy's L-BFGS-B)."""
    return jax.value_and_grad(lambda f: _batch_loss(unravel(f), fn, objective, X, Y, w, m,
                                                    key, hp, l2))(flat)


class _Unravel:
    """Flat vector -> params, hashable by the pytree's structure, shapes and dtypes
    (so that one compiled loss serves every fit of the same model shape)."""

    def __init__(self, params):
        leaves, self.treedef = jax.tree_util.tree_flatten(params)
        self.shapes = tuple((np.shape(a), np.dtype(np.asarray(a).dtype).str) for a in leaves)

    def __hash__(self):
        return hash((self.treedef, self.shapes))

    def __eq__(self, other):
        return (isinstance(other, _Unravel) and self.treedef == other.treedef
                and self.shapes == other.shapes)

    def __call__(self, flat):
        out, start = [], 0
        for shape, dtype in self.shapes:
            size = int(np.prod(shape))
            out.append(flat[start:start + size].reshape(shape).astype(dtype))
            start += size
        return jax.tree_util.tree_unflatten(self.treedef, out)


def _train_scipy_lbfgs(fn, objective, params, Xp, Yp, wp, mp, key, hp, l2, max_iter, tol,
                       verbose):
    """Full-batch L-BFGS by SciPy's L-BFGS-B on a compiled loss and gradient.

    As scikit-learn's ``LogisticRegression(solver="lbfgs")``: stop when the
    largest gradient entry is at most ``tol`` (or after ``max_iter``
    iterations). The one program to compile is the loss and its gradient,
    a fraction of optax's L-BFGS epoch with its line search, which is most
    of a small model's first fit.
    """
    import scipy.optimize

    unravel = _Unravel(params)
    x0 = np.concatenate([np.ravel(np.asarray(a, np.float64))
                         for a in jax.tree_util.tree_leaves(params)])
    loss_curve = []

    def fun(x):
        # NumPy in and out: no eager JAX op (each would compile a program).
        value, grad = _flat_loss_grad(np.asarray(x, np.float32), fn, objective, unravel,
                                      Xp, Yp, wp, mp, key, hp, l2)
        return float(value), np.asarray(grad, np.float64)

    def callback(intermediate_result):
        loss_curve.append(float(intermediate_result.fun))
        if verbose:
            print(f"Iteration {len(loss_curve)}, loss = {loss_curve[-1]:.8f}")

    res = scipy.optimize.minimize(
        fun, x0, method="L-BFGS-B", jac=True, callback=callback,
        options={"maxiter": max_iter, "maxls": 50, "gtol": tol,
                 "ftol": 64 * np.finfo(np.float64).eps})
    if not loss_curve:
        loss_curve.append(float(res.fun))
    # float32 losses can stall the line search near the optimum (status 2)
    # with the gradient already small: that is converged too.
    converged = res.status == 0 or (res.status == 2 and np.max(np.abs(res.jac)) <= 10 * tol)
    return TrainResult(unravel(np.asarray(res.x, np.float32)), None, int(res.nit), loss_curve,
                       [], None, key, bool(converged))


def train(fn, objective, params, X, Y, *, opt, max_iter, batch_size, key,
          sample_weight=None, hp=None, hp_schedule=None, l2=0.0, shuffle=True,
          tol=1e-4, n_iter_no_change=10, validation=None, opt_state=None,
          verbose=0, scipy_lbfgs=True):
    """Fit ``params`` by minimising the weighted mean of ``objective`` plus an L2 penalty.

    Parameters
    ----------
    fn : hashable callable
        The model, ``fn(params, X) -> logits``.
    objective : hashable callable
        ``objective(fn, params, X, Y, key, hp) -> (n,)`` per-sample losses.
    params : pytree
        Initial parameters.
    X : ndarray of shape (n_samples, n_features)
    Y : ndarray of shape (n_samples,) int or (n_samples, n_classes) float
        Encoded labels or soft targets.
    opt : OptimizerSpec
    max_iter : int
        Maximum number of epochs.
    batch_size : int
        Rows per optimiser step; the last partial batch is padded and masked.
    key : jax.Array
        PRNG key, split for shuffling and for stochastic objectives.
    sample_weight : ndarray of shape (n_samples,), default=None
        Normalised inside to mean one.
    hp : dict of float, default=None
        Traced hyper-parameters passed to ``objective``.
    hp_schedule : callable, default=None
        ``hp_schedule(epoch) -> dict`` overriding ``hp`` per epoch (warm-up).
        Each time it changes a value, the stopping rule starts over and the
        best validation epoch is chosen anew: epochs with different
        objectives are not compared.
    l2 : float, default=0.0
        Coefficient of :func:`l2_penalty` added to each batch loss.
    shuffle : bool, default=True
    tol, n_iter_no_change : float, int
        Stop when the training loss (or the validation score) has not improved
        by ``tol`` for ``n_iter_no_change`` consecutive epochs, as in
        scikit-learn's MLP. With L-BFGS, also stop when the largest gradient
        entry is below ``tol``.
    validation : callable, default=None
        ``validation(params) -> score`` (higher is better); enables early
        stopping on it and keeps the best parameters.
    opt_state : optax state, default=None
        Continue from this state (``partial_fit``); initialised when None.
    verbose : int, default=0
        Print the loss per epoch.
    scipy_lbfgs : bool, default=True
        With ``opt.solver == "lbfgs"``, a single batch, a deterministic
        objective, no ``opt_state``, ``hp_schedule`` or ``validation``: run
        SciPy's L-BFGS-B (``max_iter`` iterations) instead of optax's
        (``opt_state`` of the result is then None). False for a
        ``partial_fit``, which continues optax's state.

    Returns
    -------
    result : TrainResult
    """
    X = np.asarray(X, dtype=np.float32)
    n = X.shape[0]
    Y = np.asarray(Y)
    Y = Y.astype(np.int32) if Y.ndim == 1 else Y.astype(np.float32)
    w = np.ones(n, dtype=np.float32) if sample_weight is None else np.asarray(
        sample_weight, dtype=np.float32)
    total = float(w.sum())
    w = w * (n / total) if total > 0 else w
    if batch_size >= n:
        batch_size = _rows_bucket(n)
        n_pad = batch_size - n
    else:
        n_pad = _bucket(-(-n // batch_size)) * batch_size - n
    Xp, Yp, wp, mp = _to_device((_pad(X, n_pad), _pad(Y, n_pad), _pad(w, n_pad),
                                 _pad(np.ones(n, dtype=np.float32), n_pad)))
    params = _to_device(params)
    base_hp = {k: _traced(v) for k, v in (hp or {}).items()}
    l2 = _to_device(np.float32(l2))

    if (scipy_lbfgs and opt.solver == "lbfgs" and opt_state is None and hp_schedule is None
            and validation is None and batch_size >= n and max_iter > 0
            and getattr(objective, "deterministic", False)):
        return _train_scipy_lbfgs(fn, objective, params, Xp, Yp, wp, mp, key, base_hp, l2,
                                  max_iter, tol, verbose)
    opt_state = _init_state(opt, params) if opt_state is None else _to_device(opt_state)
    loss_curve, val_scores = [], []
    best_loss, best_score, best_params = np.inf, -np.inf, None
    no_improve = 0
    prev_scheduled = None
    converged = False
    epoch = 0
    for epoch in range(1, max_iter + 1):
        cur_hp = dict(base_hp)
        scheduled = {}
        if hp_schedule is not None:
            scheduled = {k: np.asarray(v, np.float32) for k, v in
                         hp_schedule(epoch - 1).items()}
            cur_hp.update(_to_device(scheduled))
        # While a schedule still changes the objective (an eps warm-up), losses
        # of different epochs measure different things: restart the comparison.
        moved = prev_scheduled is not None and any(
            not np.array_equal(v, prev_scheduled.get(k)) for k, v in scheduled.items())
        prev_scheduled = scheduled
        params, opt_state, key, loss, gmax = _epoch(
            fn, objective, opt, params, opt_state, key, Xp, Yp, wp, mp, cur_hp, l2,
            batch_size=batch_size, shuffle=shuffle)
        loss = float(loss)
        if not np.isfinite(loss):
            raise FloatingPointError(
                f"The training loss became {loss} at epoch {epoch}. Lower the learning "
                "rate or standardise the features (e.g. StandardScaler).")
        loss_curve.append(loss)
        if verbose:
            print(f"Iteration {epoch}, loss = {loss:.8f}")
        if validation is not None:
            score = float(validation(params))
            val_scores.append(score)
            if verbose:
                print(f"Validation score: {score:.6f}")
            if moved:
                # The best parameters are chosen among epochs of the final
                # objective, not of an easier one earlier in the warm-up.
                best_score, best_params, no_improve = score, params, 0
            elif score < best_score + tol:
                no_improve += 1
            else:
                no_improve = 0
            if score > best_score:
                best_score = score
                best_params = params
        else:
            if moved:
                best_loss, no_improve = loss, 0
            elif loss > best_loss - tol:
                no_improve += 1
            else:
                no_improve = 0
            best_loss = min(best_loss, loss)
        if opt.solver == "lbfgs" and float(gmax) <= tol:
            converged = True
            break
        if no_improve > n_iter_no_change:
            converged = True
            if verbose:
                print(f"Training stopped: no improvement of at least {tol} for "
                      f"{n_iter_no_change} consecutive epochs.")
            break
    if validation is not None and best_params is not None:
        params = best_params
    return TrainResult(params, opt_state, epoch, loss_curve, val_scores,
                       best_score if validation is not None else None, key,
                       converged or max_iter == 0)
