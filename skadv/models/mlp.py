"""Multi-layer perceptron classifier in JAX with scikit-learn's API."""

from functools import partial
from numbers import Integral, Real

import numpy as np
import jax
import jax.numpy as jnp

from .._core.train import OptimizerSpec
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import JaxClassifier
from ._views import DenseNet

__all__ = ["MLPClassifier"]


def glorot_layers(key, sizes, activation):
    """Glorot-uniform weights and zero biases, as scikit-learn's MLP initialises them."""
    return _glorot(key, tuple(int(s) for s in sizes), 2.0 if activation == "logistic" else 6.0)


@partial(jax.jit, static_argnames=("sizes", "factor"))
def _glorot(key, sizes, factor):
    # One compiled program: drawn eagerly, each layer's shapes compiled
    # programs of their own (five for an MLP, 2 s of a first fit on 2 cores).
    layers = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        key, kw, kb = jax.random.split(key, 3)
        bound = np.sqrt(factor / (fan_in + fan_out))
        layers.append({
            "W": jax.random.uniform(kw, (fan_in, fan_out), jnp.float32, -bound, bound),
            "b": jax.random.uniform(kb, (fan_out,), jnp.float32, -bound, bound),
        })
    return layers


class MLPClassifier(JaxClassifier):
    """Multi-layer perceptron classifier, differentiable end to end in JAX.

    Same parameters and behaviour as :class:`sklearn.neural_network.MLPClassifier`
    where they overlap, trained with optax. Because the network is a pure JAX
    function, attacks differentiate through it and defenses (adversarial,
    certified, distillation) train it with their own objective in one compiled
    training step.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(100,)
        Width of each hidden layer.
    activation : {"relu", "tanh", "logistic", "identity"}, default="relu"
        Hidden-layer activation.
    solver : {"adam", "sgd", "lbfgs"}, default="adam"
        optax optimiser; ``"lbfgs"`` uses the full batch (SciPy's L-BFGS-B,
        as :class:`LogisticRegression`).
    alpha : float, default=1e-4
        L2 penalty, scaled as in scikit-learn (``alpha / (2 * batch_size)``
        times the squared weights, added to each batch's mean loss).
    batch_size : int or "auto", default="auto"
        Mini-batch size; ``"auto"`` is ``min(200, n_samples)``.
    learning_rate_init : float, default=1e-3
        Step size of Adam / SGD.
    max_iter : int, default=200
        Maximum number of epochs.
    tol : float, default=1e-4
        Improvement of the loss (or validation score) that counts as progress.
    n_iter_no_change : int, default=10
        Epochs without progress before stopping.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified), stop on its
        accuracy and keep the best parameters.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    momentum : float, default=0.9
        Nesterov momentum of the SGD solver.
    shuffle : bool, default=True
        Shuffle rows every epoch.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, shuffling and the validation split.
    verbose : bool or int, default=False
        Print the loss every epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    params_ : list of dict
        ``[{"W": (d_in, d_out), "b": (d_out,)}, ...]`` as NumPy arrays. For two
        classes the last layer has a single unit.
    coefs_, intercepts_ : list of ndarray
        The same weights in scikit-learn's layout.
    n_iter_ : int
    loss_, loss_curve_ : float, list of float
    validation_scores_, best_validation_score_ : list of float, float or None
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    LogisticRegression : the linear model of the same family.
    skadv.as_differentiable : the view attacks use.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from skadv.models import MLPClassifier
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> clf = MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, learning_rate_init=0.01,
    ...                     random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _parameter_constraints = {
        **JaxClassifier._parameter_constraints,
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions({"relu", "tanh", "logistic", "identity"})],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "momentum": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, hidden_layer_sizes=(100,), *, activation="relu", solver="adam",
                 alpha=1e-4, batch_size="auto", learning_rate_init=1e-3, max_iter=200,
                 tol=1e-4, n_iter_no_change=10, early_stopping=False,
                 validation_fraction=0.1, momentum=0.9, shuffle=True, random_state=None,
                 verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose

    def _hidden(self):
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if np.isscalar(sizes) else list(sizes)
        if any(int(s) < 1 for s in sizes):
            raise ValueError(
                f"hidden_layer_sizes must contain positive integers. Got {sizes!r} instead.")
        return [int(s) for s in sizes]

    def _network(self, n_classes):
        return DenseNet(activation=self.activation, binary=n_classes == 2)

    def _init_params(self, key, n_features, n_classes):
        n_out = 1 if n_classes == 2 else n_classes
        return glorot_layers(key, [n_features, *self._hidden(), n_out], self.activation)

    def _l2(self, weight_sum, batch_size):
        return self.alpha / batch_size

    def _optimizer(self):
        return OptimizerSpec(solver=self.solver, learning_rate=self.learning_rate_init,
                             momentum=self.momentum)

    @property
    def coefs_(self):
        return [np.asarray(layer["W"]) for layer in self.params_]

    @property
    def intercepts_(self):
        return [np.asarray(layer["b"]) for layer in self.params_]
