"""White-box attacks: scikit-learn transformers over the pure cores in ``_core``."""

from dataclasses import dataclass
from functools import partial
from numbers import Integral, Real

import numpy as np
import jax
import jax.numpy as jnp

from ..constraints import project_relaxed
from ..models._differentiable import as_differentiable
from ..utils._jax import map_batches
from ..utils._sklearn_compat import Interval, StrOptions
from . import _core
from ._base import BaseAttack

__all__ = ["FGSMAttack", "PGDAttack", "WhiteBoxAttack"]


@dataclass(frozen=True)
class ScaledInput:
    """``fn`` seen from scaled inputs ``u = x / scale``; params ``(inner, scale)``."""

    fn: object

    def __call__(self, params, U):
        inner, scale = params
        return self.fn(inner, U * scale)


@partial(jax.jit, static_argnames=("core", "fn", "static"))
def _run(core, fn, params, x, y, keys, traced, carr, static):
    """One compiled call of an attack core on a batch.

    Cached by (core, network structure, static options, shapes): new victims of
    the same architecture, new budgets and new data reuse the compiled code.
    """
    return core(lambda z: fn(params, z), x, y, key=keys,
                project=partial(project_relaxed, carr), **traced, **dict(static))


class WhiteBoxAttack(BaseAttack):
    """Base of gradient attacks: the victim must have a differentiable view."""

    def _check_victim(self):
        super()._check_victim()
        as_differentiable(self.estimator)  # TypeError naming the black-box attacks

    def _check_loss(self, loss):
        n_classes = len(self.estimator.classes_)
        need = 4 if self.targeted else 3
        if loss == "dlr" and n_classes < need:
            raise ValueError(
                f"loss='dlr' needs at least {need} classes"
                f"{' for a targeted attack' if self.targeted else ''} (it divides by "
                f"the gap between the largest and the third largest logit); the victim "
                f"has {n_classes}. Use loss='ce' or loss='cw' instead.")

    def _run_core(self, core, U, y_idx, key, *, traced, static):
        """Run ``core`` over fixed-shape batches of ``U`` and return ``U_adv``."""
        diff = as_differentiable(self.estimator)
        fn = ScaledInput(diff.fn)
        params = (diff.params, jnp.asarray(self.scale_, jnp.float32))
        carr = jax.tree_util.tree_map(jnp.asarray, self.constraints_.rescale(self.scale_))
        carr = carr._replace(lower=carr.lower.astype(jnp.float32),
                             upper=carr.upper.astype(jnp.float32))
        keys = np.asarray(_core.row_keys(key, U.shape[0]))
        traced = {k: jnp.float32(v) for k, v in traced.items()}
        static = tuple(sorted(static.items(), key=lambda kv: kv[0]))

        def batch(xb, yb, kb):
            return _run(core, fn, params, xb, yb, kb, traced, carr, static)

        U_adv, _ = map_batches(batch, [U, y_idx, keys], self.batch_size,
                               verbose=self.verbose, desc=type(self).__name__)
        return U_adv


class FGSMAttack(WhiteBoxAttack):
    """Fast gradient sign method: one step of size ``eps`` along the gradient.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim; anything :func:`skadv.as_differentiable` accepts.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2, 1}, default="inf"
        ``"inf"`` moves every feature by ``eps`` along the gradient's sign (the
        original FGSM); ``2`` along the normalised gradient (FGM); ``1`` along
        the top 10% of coordinates.
    loss : {"ce", "cw", "dlr"}, default="ce"
        Loss whose gradient is followed.
    random_start : bool, default=False
        Start at a uniform point in the ball (Wong et al. 2020).
    step_size : float, default=None
        Step length; ``eps`` when None (``1.25 * eps`` is usual with a random
        start).
    constraints : FeatureConstraints, default=None
        Feature constraints every returned row satisfies.
    feature_scale : {"std"} or array-like of shape (n_features,), default=None
        Makes ``eps`` relative per feature: ``"std"`` uses the standard
        deviation of the ``X`` given to :meth:`fit`.
    targeted : bool, default=False
        If True, ``y`` holds target labels to reach.
    random_state : int, RandomState instance or None, default=None
        Seeds the random start.
    batch_size : int, default=1024
        Rows per compiled call; bounds memory.
    verbose : bool or int, default=False
        Progress bar over batches.

    Attributes
    ----------
    success_ : ndarray of bool, shape (n_samples,)
        Rows the victim's own ``predict`` misclassifies (or puts in the target
        class), from the last :meth:`transform`.
    perturbation_ : ndarray of shape (n_samples,)
        Norm of each returned perturbation (zero for unsuccessful rows).
    scale_ : ndarray of shape (n_features,)
        Per-feature unit of ``eps``.
    norm_ : {"inf", 2, 1}
    constraints_ : ConstraintArrays
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    References
    ----------
    .. [1] I. Goodfellow, J. Shlens, C. Szegedy. "Explaining and Harnessing
       Adversarial Examples", ICLR 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import FGSMAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> attack = FGSMAttack(clf, eps=0.5, feature_scale="std")
    >>> X_adv = attack.fit_transform(X, y)
    >>> bool(clf.score(X_adv, y) < clf.score(X, y))
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "loss": [StrOptions({"ce", "cw", "dlr"})],
        "random_start": ["boolean"],
        "step_size": [Interval(Real, 0, None, closed="neither"), None],
    }
    _supported_norms = ("inf", 2, 1)

    def __init__(self, estimator=None, *, eps=0.1, norm="inf", loss="ce",
                 random_start=False, step_size=None, constraints=None,
                 feature_scale=None, targeted=False, random_state=None, batch_size=1024,
                 verbose=False):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.loss = loss
        self.random_start = random_start
        self.step_size = step_size
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose

    def _fit_extra(self, X):
        self._check_loss(self.loss)

    def _generate(self, U, y_idx, key):
        step = self.eps if self.step_size is None else self.step_size
        return self._run_core(
            _core.fgsm, U, y_idx, key, traced={"eps": self.eps, "step_size": step},
            static={"norm": self.norm_, "loss": self.loss, "targeted": self.targeted,
                    "random_start": self.random_start})


class PGDAttack(WhiteBoxAttack):
    """Projected gradient descent with random restarts (Madry et al. 2018).

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim; anything :func:`skadv.as_differentiable` accepts.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2, 1}, default="inf"
    steps : int, default=10
        Iterations per restart.
    step_size : float, default=None
        Step length in ``norm``; ``2.5 * eps / steps`` when None.
    restarts : int, default=1
        Random restarts; per row the best result is kept (adversarial first,
        then the higher loss), checked after every step.
    random_start : bool, default=True
        Start the first restart at a uniform point of the ball (later restarts
        always start at random).
    loss : {"ce", "cw", "dlr"}, default="ce"
        Cross-entropy, the Carlini-Wagner margin or the difference of logits
        ratio (>= 3 classes).
    step_schedule : {"constant", "cosine"}, default="constant"
        Step length over the iterations.
    constraints : FeatureConstraints, default=None
        Feature constraints every returned row satisfies; projected onto after
        every step.
    feature_scale : {"std"} or array-like of shape (n_features,), default=None
        Makes ``eps`` relative per feature.
    targeted : bool, default=False
        If True, ``y`` holds target labels to reach.
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts; the same seed gives the same output.
    batch_size : int, default=1024
        Rows per compiled call; bounds memory.
    verbose : bool or int, default=False
        Progress bar over batches.

    Attributes
    ----------
    success_ : ndarray of bool, shape (n_samples,)
        Rows the victim's own ``predict`` misclassifies (or puts in the target
        class), from the last :meth:`transform`.
    perturbation_ : ndarray of shape (n_samples,)
        Norm of each returned perturbation (zero for unsuccessful rows).
    scale_ : ndarray of shape (n_features,)
    norm_ : {"inf", 2, 1}
    constraints_ : ConstraintArrays
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu. "Towards Deep
       Learning Models Resistant to Adversarial Attacks", ICLR 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import PGDAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), MLPClassifier(random_state=0)).fit(X, y)
    >>> attack = PGDAttack(clf, eps=0.3, feature_scale="std", steps=20, random_state=0)
    >>> X_adv = attack.fit_transform(X, y)
    >>> bool(attack.success_.mean() > 0.5)
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "steps": [Interval(Integral, 1, None, closed="left")],
        "step_size": [Interval(Real, 0, None, closed="neither"), None],
        "restarts": [Interval(Integral, 1, None, closed="left")],
        "random_start": ["boolean"],
        "loss": [StrOptions({"ce", "cw", "dlr"})],
        "step_schedule": [StrOptions({"constant", "cosine"})],
    }
    _supported_norms = ("inf", 2, 1)

    def __init__(self, estimator=None, *, eps=0.1, norm="inf", steps=10, step_size=None,
                 restarts=1, random_start=True, loss="ce", step_schedule="constant",
                 constraints=None, feature_scale=None, targeted=False, random_state=None,
                 batch_size=1024, verbose=False):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.steps = steps
        self.step_size = step_size
        self.restarts = restarts
        self.random_start = random_start
        self.loss = loss
        self.step_schedule = step_schedule
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose

    def _fit_extra(self, X):
        self._check_loss(self.loss)

    def _step_size(self):
        return 2.5 * self.eps / self.steps if self.step_size is None else self.step_size

    def _generate(self, U, y_idx, key):
        return self._run_core(
            _core.pgd, U, y_idx, key,
            traced={"eps": self.eps, "step_size": self._step_size()},
            static={"norm": self.norm_, "loss": self.loss, "targeted": self.targeted,
                    "steps": self.steps, "restarts": self.restarts,
                    "random_start": self.random_start,
                    "schedule": self.step_schedule})
