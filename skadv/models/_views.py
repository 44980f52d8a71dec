"""The JAX views of classifiers: :class:`Differentiable` and the pure functions it holds.

A :class:`Differentiable` is a pure JAX function ``fn(params, X) -> logits`` of
shape ``(n_samples, n_classes)`` plus the arrays it closes over. ``fn`` is a
small frozen dataclass, hashable by value, so compiled attacks keyed on it are
reused across calls and across refits (new ``params``, same ``fn``).

Binary classifiers are represented with two logits ``[0, f(x)]``: the softmax of
that is the sigmoid of ``f`` and ``argmax`` is ``f(x) > 0``, as in scikit-learn.
"""

from dataclasses import dataclass

import numpy as np
import jax
import jax.numpy as jnp

from ..exceptions import NotDifferentiableError

__all__ = [
    "Affine",
    "BLACK_BOX_HINT",
    "Chain",
    "DenseNet",
    "Differentiable",
    "NotDifferentiableError",
]

_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "logistic": jax.nn.sigmoid,
    "identity": lambda h: h,
}

BLACK_BOX_HINT = (
    "Use a black-box attack instead (skadv.attacks.SquareAttack, "
    "HopSkipJumpAttack), or TransferAttack to attack a differentiable surrogate."
)


@dataclass(frozen=True)
class DenseNet:
    """Fully connected network ``h <- act(h @ W + b)``; no activation on the last layer.

    ``params`` is a list of ``{"W": (d_in, d_out), "b": (d_out,)}`` dicts. With
    ``binary=True`` the last layer has one unit ``f`` and the logits are
    ``[0, f]``. A single layer is a linear model.
    """

    activation: str = "relu"
    binary: bool = False

    def __call__(self, params, X):
        act = _ACTIVATIONS[self.activation]
        h = X
        for layer in params[:-1]:
            h = act(h @ layer["W"] + layer["b"])
        z = h @ params[-1]["W"] + params[-1]["b"]
        if self.binary:
            z = jnp.concatenate([jnp.zeros_like(z), z], axis=1)
        return z


@dataclass(frozen=True)
class Affine:
    """Column gather then per-column affine map: ``X[:, index] * scale + offset``.

    Every supported scaler (and a ColumnTransformer of scalers) is one of these;
    ``params = {"index": int array, "scale": array, "offset": array}``.
    """

    def __call__(self, params, X):
        return X[:, params["index"]] * params["scale"] + params["offset"]


@dataclass(frozen=True)
class Chain:
    """Composition of pure functions; ``params`` is a tuple, one entry per function."""

    fns: tuple

    def __call__(self, params, X):
        for fn, p in zip(self.fns, params):
            X = fn(p, X)
        return X


class Differentiable:
    """A classifier seen as a pure JAX function of its input.

    Parameters
    ----------
    fn : hashable callable
        ``fn(params, X) -> logits`` of shape ``(n_samples, n_classes)``.
    params : pytree of arrays
        What ``fn`` closes over.
    classes : ndarray of shape (n_classes,)
        Class labels, in the order of the logits' columns.
    n_features_in : int
        Number of input features.
    estimator : object, default=None
        The fitted estimator this came from; attacks use its own ``predict``
        for the final check that a row really is adversarial.
    feature_names_in : ndarray of str, default=None
        Column names seen at fit, when the estimator was fitted on a DataFrame.

    Attributes
    ----------
    classes_, n_features_in_, feature_names_in_ : as the parameters.
    """

    def __init__(self, fn, params, classes, n_features_in, *, estimator=None,
                 feature_names_in=None):
        self.fn = fn
        self.params = params
        self.classes_ = np.asarray(classes)
        self.n_features_in_ = int(n_features_in)
        self.estimator = estimator
        self.feature_names_in_ = feature_names_in

    def logits(self, X):
        """Logits ``(n_samples, n_classes)`` as a JAX array (float32)."""
        return self.fn(self.params, jnp.asarray(X, dtype=jnp.float32))

    def predict(self, X):
        """Labels from the victim's own ``predict`` when there is one."""
        if self.estimator is not None:
            return np.asarray(self.estimator.predict(X))
        return self.classes_[np.asarray(jnp.argmax(self.logits(X), axis=1))]

    def __repr__(self):
        return (f"Differentiable(fn={self.fn!r}, n_features_in={self.n_features_in_}, "
                f"n_classes={len(self.classes_)})")


def _dense(coefs, intercepts, activation, binary):
    # Converted on the host and copied: jnp.asarray(W, dtype=float32) of a
    # float64 array compiles a conversion program (a first call's wait).
    params = [
        {"W": jax.device_put(np.asarray(W, np.float32)),
         "b": jax.device_put(np.asarray(b, np.float32))}
        for W, b in zip(coefs, intercepts)
    ]
    return DenseNet(activation=activation, binary=binary), params
