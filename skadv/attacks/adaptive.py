"""Adaptive attacks: BPDA and EOT wrappers that see through masked gradients.

A model can make gradient attacks fail without being robust: a
non-differentiable input transform (quantisation) gives zero gradients, a
randomised one gives gradients of a different function at every step
(Athalye et al. 2018). The wrappers here aim any white-box attack at a
modified differentiable view of the victim:

- :class:`BPDA` replaces, in the backward pass only, every layer that declares
  a differentiable approximation (``__skadv_bpda__(params, X)``, e.g. the
  identity for rounding) by that approximation; the forward pass is
  unchanged, so the attack still evaluates the real model.
- :class:`EOT` replaces the logits by the log of the softmax averaged over
  ``n_samples`` independent draws of every randomised layer
  (``__skadv_eot__(params, X, draw)``): the attack follows the gradient of
  the expected prediction.

The two compose (``EOT(BPDA(attack))`` for a random quantisation). The
victim's own ``predict`` still has the last word on every returned row.
Layers are found in the victim's view and inside ``Chain``
compositions; a layer without either hook is used as it is.
"""

from dataclasses import dataclass
from numbers import Integral

import jax
import jax.numpy as jnp
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import get_tags

from ..exceptions import UnsupportedModelError
from ..models._differentiable import Chain, Differentiable, as_differentiable
from ._base import BaseAttack
from ..utils._sklearn_compat import HasMethods, Interval, _fit_context, check_is_fitted

__all__ = ["BPDA", "EOT", "AdaptiveView"]


def _apply(fn, params, X, draw, straight_through):
    """Evaluate ``fn`` with randomised layers at ``draw`` and BPDA where asked."""
    if isinstance(fn, Chain):
        for f, p in zip(fn.fns, params):
            X = _apply(f, p, X, draw, straight_through)
        return X
    eot = getattr(fn, "__skadv_eot__", None)
    out = fn(params, X) if eot is None or draw is None else eot(params, X, draw)
    approx = getattr(fn, "__skadv_bpda__", None)
    if straight_through and approx is not None:
        g = approx(params, X)
        # Forward value of the real layer, gradient of the approximation.
        return g + jax.lax.stop_gradient(out - g)
    return out


def _has_hook(fn, hook):
    """Whether a layer of ``fn`` (inside Chains and adaptive views) has ``hook``."""
    if isinstance(fn, Chain):
        return any(_has_hook(f, hook) for f in fn.fns)
    if isinstance(fn, AdaptiveView):
        return _has_hook(fn.fn, hook)
    return getattr(fn, hook, None) is not None


@dataclass(frozen=True)
class AdaptiveView:
    """A victim's logits as the adaptive attack differentiates them.

    ``fn(params, X)`` is the victim's function; ``straight_through`` turns on
    BPDA; ``n_samples > 0`` averages the softmax over that many draws of the
    randomised layers (EOT) and returns its log.
    """

    fn: object
    straight_through: bool = False
    n_samples: int = 0

    def __call__(self, params, X):
        if not self.n_samples:
            return _apply(self.fn, params, X, None, self.straight_through)

        def one(draw):
            z = _apply(self.fn, params, X, draw, self.straight_through)
            return jax.nn.log_softmax(z, axis=-1)

        # Draw 0 is the one the victim predicts with; EOT averages fresh ones.
        logp = jax.vmap(one)(jnp.arange(1, self.n_samples + 1))
        return jax.scipy.special.logsumexp(logp, axis=0) - jnp.log(self.n_samples)


def _adapts(fn, straight_through=False, n_samples=0):
    """Whether BPDA (``straight_through``) or EOT (``n_samples``) changes the view ``fn``.

    EOT always does: even with no randomness to average, the attack then
    sees log-probabilities in place of the logits, which on a saturated
    model (defensive distillation) keeps gradients that the logits lose in
    float32. BPDA without a layer to replace is the identity.
    """
    return bool(n_samples or (straight_through and _has_hook(fn, "__skadv_bpda__")))


class _AdaptiveVictim:
    """The victim as the wrapped attack sees it: same predictions, adapted gradients."""

    def __init__(self, estimator, *, straight_through=False, n_samples=0):
        self.estimator = estimator
        self.straight_through = straight_through
        self.n_samples = n_samples

    def __getattr__(self, name):
        # Everything else (classes_, n_features_in_, predict_proba, ...) is the
        # victim's; looked up through __dict__ so that unpickling, which
        # probes attributes before __dict__ is filled, gets AttributeError.
        victim = self.__dict__.get("estimator")
        if victim is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(victim, name)

    def __sklearn_is_fitted__(self):
        check_is_fitted(self.estimator)
        return True

    def __sklearn_tags__(self):
        return get_tags(self.estimator)

    def __skadv_differentiable__(self):
        diff = as_differentiable(self.estimator)
        if not _adapts(diff.fn, self.straight_through, self.n_samples):
            # BPDA with no layer to replace: the victim's own view, so the
            # wrapped attack runs exactly as it does on the victim.
            return diff
        fn, st, n = diff.fn, self.straight_through, self.n_samples
        if isinstance(fn, AdaptiveView):  # one view with both adaptations
            fn, st, n = fn.fn, st or fn.straight_through, n or fn.n_samples
        return Differentiable(AdaptiveView(fn, st, n), diff.params, diff.classes_,
                              diff.n_features_in_,
                              estimator=diff.estimator or self.estimator,
                              feature_names_in=diff.feature_names_in_)


class _AdaptiveAttack(TransformerMixin, BaseEstimator):
    """The wrappers' fit/transform: a clone of ``attack`` aimed at the adapted victim."""

    _parameter_constraints: dict = {
        "attack": [HasMethods(["fit", "transform"])],
        "estimator": [HasMethods(["predict"]), None],
        "n_jobs": [Integral, None],
    }

    def _adaptation(self):
        raise NotImplementedError

    def _adapts_to(self, estimator):
        """Whether this wrapper changes what its attack sees of ``estimator``.

        When it does not (BPDA on a model without a layer to replace),
        :meth:`transform` equals the wrapped attack's on ``estimator``: same
        view, same program, same rows. :func:`~skadv.evaluation.robustness_report`
        then reuses the wrapped attack's run.
        """
        try:
            fn = as_differentiable(estimator).fn
        except UnsupportedModelError:  # not differentiable: let the attack say so
            return True
        return _adapts(fn, **self._adaptation())

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None):
        """Aim a clone of ``attack`` at the adapted victim and fit it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : ignored

        Returns
        -------
        self : object
        """
        victim = self.estimator
        if victim is None:
            victim = self.attack.get_params(deep=False).get("estimator")
        if victim is None:
            raise ValueError(
                f"{type(self).__name__} needs a fitted victim: pass estimator=... "
                "(or give the wrapped attack one).")
        proxy = _AdaptiveVictim(victim, **self._adaptation())
        attack = clone(self.attack).set_params(estimator=proxy)
        if self.n_jobs is not None:
            attack.set_params(n_jobs=self.n_jobs)
        self.attack_ = attack.fit(X, y)
        self.n_features_in_ = self.attack_.n_features_in_
        if hasattr(self.attack_, "feature_names_in_"):
            self.feature_names_in_ = self.attack_.feature_names_in_
        return self

    def transform(self, X, y=None):
        """Adversarial rows for ``X`` from the wrapped attack.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
            True labels (``None``: the victim's predictions), or targets.

        Returns
        -------
        X_adv : ndarray of shape (n_samples, n_features)
        """
        index = getattr(X, "index", None)
        result = self._attack(X, y)
        BaseAttack._store(self, result)
        return self.encoder_.decode(result.X_adv, index=index)

    @property
    def encoder_(self):
        """The wrapped attack's input encoder (categorical columns <-> one-hot)."""
        return self.attack_.encoder_

    def _attack(self, X, y=None, row_ids=None, *, key=None):
        """The wrapped attack's :class:`~skadv.attacks._base.AttackResult`."""
        check_is_fitted(self, "attack_")
        return self.attack_._attack(X, y, row_ids, key=key)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then attack ``X`` with the given labels ``y``."""
        return self.fit(X, y, **fit_params).transform(X, y)

    def get_feature_names_out(self, input_features=None):
        """Same feature names as the input."""
        return self.attack_.get_feature_names_out(input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags


class BPDA(_AdaptiveAttack):
    """Backward Pass Differentiable Approximation around any white-box attack.

    The wrapped attack differentiates the victim with every non-differentiable
    layer replaced, in the backward pass only, by its declared approximation
    (``__skadv_bpda__``; the identity for
    :class:`~skadv.defenses.GradientMaskingClassifier`'s rounding, i.e. the
    straight-through estimator). Forward values, and hence the attack's
    success checks, are the real model's.

    Parameters
    ----------
    attack : white-box attack
        Cloned and aimed at the victim (e.g. ``PGDAttack(eps=0.1)``).
    estimator : fitted classifier, default=None
        The victim; ``None`` uses ``attack.estimator``. :func:`robust_accuracy`
        and :func:`make_robust_scorer` set it.
    n_jobs : int, default=None
        Given to the wrapped attack, whose rows it splits across joblib
        workers (see the attack's ``n_jobs``); ``None`` keeps the attack's own.

    Attributes
    ----------
    attack_ : attack
        The fitted clone of ``attack`` aimed at the adapted victim.
    success_, perturbation_, valid_before_repair_ : ndarray of shape (n_samples,)
        From the last :meth:`transform`, as for the wrapped attack.
    n_features_in_ : int

    See Also
    --------
    EOT : for randomised transforms.

    References
    ----------
    .. [1] A. Athalye, N. Carlini, D. Wagner. "Obfuscated Gradients Give a
       False Sense of Security: Circumventing Defenses to Adversarial
       Examples", ICML 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import BPDA, PGDAttack
    >>> from skadv.defenses import GradientMaskingClassifier
    >>> from skadv.models import MLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = GradientMaskingClassifier(
    ...     MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0),
    ...     method="quantize", quantization_step=0.25).fit(X, y)
    >>> naive = PGDAttack(clf, eps=0.5, random_state=0).fit(X, y)
    >>> _ = naive.transform(X, y)
    >>> adaptive = BPDA(PGDAttack(eps=0.5, random_state=0), estimator=clf)
    >>> _ = adaptive.fit_transform(X, y)
    >>> bool(adaptive.success_.mean() > naive.success_.mean())
    True
    """

    def __init__(self, attack, *, estimator=None, n_jobs=None):
        self.attack = attack
        self.estimator = estimator
        self.n_jobs = n_jobs

    def _adaptation(self):
        return {"straight_through": True}


class EOT(_AdaptiveAttack):
    """Expectation over Transformation around any white-box attack.

    The wrapped attack differentiates ``log E[softmax(f(t(x)))]``, the
    victim's prediction averaged over ``n_samples`` independent draws of its
    randomised layers (those with ``__skadv_eot__``), instead of one draw per
    step. The returned rows are judged by the victim's own ``predict``.

    Parameters
    ----------
    attack : white-box attack
        Cloned and aimed at the victim.
    estimator : fitted classifier, default=None
        The victim; ``None`` uses ``attack.estimator``.
    n_samples : int >= 1, default=32
        Draws averaged per gradient; every attack step draws new ones.
    n_jobs : int, default=None
        Given to the wrapped attack, whose rows it splits across joblib
        workers (see the attack's ``n_jobs``); ``None`` keeps the attack's own.

    Attributes
    ----------
    attack_ : attack
        The fitted clone of ``attack`` aimed at the adapted victim.
    success_, perturbation_, valid_before_repair_ : ndarray of shape (n_samples,)
        From the last :meth:`transform`.
    n_features_in_ : int

    See Also
    --------
    BPDA : for non-differentiable transforms; ``EOT(BPDA(attack))`` for both.

    References
    ----------
    .. [1] A. Athalye, L. Engstrom, A. Ilyas, K. Kwok. "Synthesizing Robust
       Adversarial Examples", ICML 2018.
    .. [2] A. Athalye, N. Carlini, D. Wagner. "Obfuscated Gradients Give a
       False Sense of Security", ICML 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import EOT, PGDAttack
    >>> from skadv.defenses import GradientMaskingClassifier
    >>> from skadv.metrics import robust_accuracy
    >>> from skadv.models import MLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = GradientMaskingClassifier(
    ...     MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0),
    ...     method="noise", noise_scale=0.5, random_state=0).fit(X, y)
    >>> attack = EOT(PGDAttack(eps=0.5, random_state=0), n_samples=16)
    >>> bool(robust_accuracy(clf, X, y, attack) < clf.score(X, y))
    True
    """

    _parameter_constraints = {
        **_AdaptiveAttack._parameter_constraints,
        "n_samples": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, attack, *, estimator=None, n_samples=32, n_jobs=None):
        self.attack = attack
        self.estimator = estimator
        self.n_samples = n_samples
        self.n_jobs = n_jobs

    def _adaptation(self):
        return {"n_samples": int(self.n_samples)}


def run_key(attack, estimator):
    """Equal for two aimed attacks whose runs on ``estimator`` are one computation; or None.

    A BPDA wrapper that changes nothing of ``estimator`` (no layer with its
    hook) runs exactly its wrapped attack, so it is keyed as that attack.
    Keys compare the attack's type and parameters (objects by identity, so
    only a shared one matches); None when a ``random_state`` is not an int
    (two runs would draw differently).
    """
    while isinstance(attack, _AdaptiveAttack) and not attack._adapts_to(estimator):
        attack = attack.attack
    items = []
    for name, value in sorted(attack.get_params(deep=True).items()):
        path = name.split("__")
        if "estimator" in path or path[-1] == "n_jobs":  # the victim; no number changes
            continue
        last = path[-1]
        if last == "random_state" and not isinstance(value, Integral):
            return None
        plain = value is None or isinstance(value, (str, bool, Integral, float))
        items.append((name, value if plain else ("id", id(value))))
    return type(attack), tuple(items)
