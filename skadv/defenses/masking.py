"""Gradient masking: a baseline that looks robust to naive attacks and is not."""

from dataclasses import dataclass
from numbers import Real

import numpy as np
import jax
import jax.numpy as jnp

from ..models._base import _logits_batched
from ..models._differentiable import Chain
from ..utils._jax import as_key
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    validate_data,
)
from ._base import BaseDefense, fresh_classifier

__all__ = ["GradientMaskingClassifier", "GradientNoise", "Quantize", "row_normal"]


@dataclass(frozen=True)
class Quantize:
    """``x -> step * round(x / step)``: piecewise constant, zero gradient almost anywhere.

    ``params = {"step": scalar}``. Its backward-pass approximation (BPDA,
    Athalye et al. 2018) is the identity: the straight-through estimator.
    """

    def __call__(self, params, X):
        return jnp.round(X / params["step"]) * params["step"]

    def __skadv_bpda__(self, params, X):
        return X


# Odd multipliers give every column a different weight in the row hash.
_GOLDEN = np.uint32(0x9E3779B1)


def row_normal(key, X, draw):
    """Standard normal noise per row, a pseudo-random function of the row's bits.

    The same float32 row always gets the same noise (so results do not depend
    on batching or call order), any change to the row draws new noise, and
    ``draw`` selects independent draws for the same row (what EOT averages
    over). No gradient flows through the draw.
    """
    bits = jax.lax.bitcast_convert_type(
        jax.lax.stop_gradient(X).astype(jnp.float32), jnp.uint32)
    weights = (2 * jnp.arange(X.shape[1], dtype=jnp.uint32) + 1) * _GOLDEN
    row_hash = jnp.sum(bits * weights, axis=1, dtype=jnp.uint32)

    def one(h):
        k = jax.random.fold_in(jax.random.fold_in(key, h), draw)
        return jax.random.normal(k, (X.shape[1],), X.dtype)

    return jax.vmap(one)(row_hash)


@jax.custom_vjp
def _noisy_identity(X, noise):
    return X


def _noisy_identity_fwd(X, noise):
    return X, noise


def _noisy_identity_bwd(noise, ct):
    rms = jnp.sqrt(jnp.mean(ct * ct, axis=1, keepdims=True))
    return ct + rms * noise, jnp.zeros_like(noise)


_noisy_identity.defvjp(_noisy_identity_fwd, _noisy_identity_bwd)


@dataclass(frozen=True)
class GradientNoise:
    """Identity forward; in the backward pass, Gaussian noise added to the gradient.

    ``params = {"scale": scalar, "key": PRNG key}``. The gradient reaching the
    input, ``g``, becomes ``g + scale * rms(g) * n(x)`` row by row, ``n`` a
    standard normal draw from a hash of the row (:func:`row_normal`): every
    step of an attack gets new noise. Predictions are untouched.
    ``__skadv_eot__`` gives independent draws for expectation over
    transformation (Athalye et al. 2018), which averages the noise away.
    """

    def __call__(self, params, X):
        return self.__skadv_eot__(params, X, 0)

    def __skadv_eot__(self, params, X, draw):
        noise = params["scale"] * row_normal(params["key"], X, draw)
        return _noisy_identity(X, jax.lax.stop_gradient(noise))


class GradientMaskingClassifier(BaseDefense):
    """Gradient masking: a classifier whose gradients are useless to an attacker.

    **It gives a false sense of security.** It is shipped as the baseline an
    honest evaluation must break, not as a defense: it makes gradient-based
    attacks fail without making the model any more robust.

    - ``method="quantize"``: every feature is rounded to a multiple of
      ``quantization_step`` before the model (which is trained on rounded
      data). The rounding has zero gradient almost everywhere, so gradient
      attacks see nothing. :class:`~skadv.attacks.BPDA` (the identity as the
      rounding's backward pass, i.e. the straight-through estimator) breaks it.
    - ``method="noise"``: predictions are the model's own, but the gradient
      with respect to the input carries Gaussian noise ``noise_scale`` times
      its own root mean square, redrawn at every point (a pseudo-random
      function of the row). Each attack step follows mostly noise.
      :class:`~skadv.attacks.EOT` (the gradient averaged over draws) breaks it.

    ``__skadv_differentiable__`` exposes exactly the masked function, so naive
    white-box attacks are fooled as they would be against the deployed model,
    plus the hooks (``__skadv_bpda__``, ``__skadv_eot__``) the adaptive
    wrappers use. :func:`skadv.evaluation.check_gradient_masking` flags it.

    Parameters
    ----------
    estimator : classifier, default=None
        The model; cloned. ``None`` means ``skadv.models.MLPClassifier()``.
    method : {"quantize", "noise"}, default="quantize"
        How the gradients are masked.
    quantization_step : float > 0, default=0.1
        Grid step of ``"quantize"``, in the units of ``X``.
    noise_scale : float > 0, default=3.0
        Standard deviation of the gradient noise of ``"noise"``, relative to
        the root mean square of the gradient.
    random_state : int, RandomState instance or None, default=None
        Seeds the gradient noise of ``"noise"`` (fixed at fit).

    Attributes
    ----------
    estimator_ : classifier
        The fitted model.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

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
    >>> from skadv.metrics import robust_accuracy
    >>> from skadv.models import MLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0)
    >>> clf = GradientMaskingClassifier(mlp, quantization_step=0.25).fit(X, y)
    >>> naive = PGDAttack(eps=0.5, random_state=0)
    >>> adaptive = BPDA(naive)
    >>> bool(robust_accuracy(clf, X, y, adaptive) < robust_accuracy(clf, X, y, naive))
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "method": [StrOptions({"quantize", "noise"})],
        "quantization_step": [Interval(Real, 0, None, closed="neither")],
        "noise_scale": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, method="quantize", quantization_step=0.1,
                 noise_scale=3.0, random_state=None):
        self.estimator = estimator
        self.method = method
        self.quantization_step = quantization_step
        self.noise_scale = noise_scale
        self.random_state = random_state

    def _mask(self):
        """The masking layer in front of the model, as ``(fn, params)``."""
        if self.method == "quantize":
            return Quantize(), {"step": jnp.float32(self.quantization_step)}
        return GradientNoise(), {"scale": jnp.float32(self.noise_scale),
                                 "key": jnp.asarray(self.noise_key_)}

    def _quantize(self, X):
        fn, params = self._mask()
        return _logits_batched(fn, params, np.asarray(X, np.float32))

    def _inner_input(self, X):
        if self.method == "noise":
            return X
        return self._quantize(validate_data(self, X, reset=False,
                                            dtype=[np.float64, np.float32]))

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the model on the inputs it will see.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        estimator = fresh_classifier(self.estimator, "estimator")
        X_checked, y = self._validate_fit_data(X, y)
        fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        if self.method == "quantize":
            estimator.fit(self._quantize(X_checked), y, **fit_params)
        else:
            self.noise_key_ = np.asarray(as_key(self.random_state))
            estimator.fit(X, y, **fit_params)
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        return self

    def _view(self):
        inner_fn, inner_params = super()._view()
        fn, params = self._mask()
        return Chain((fn, inner_fn)), (params, inner_params)
