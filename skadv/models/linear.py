"""Logistic regression in JAX with scikit-learn's API."""

from numbers import Real

import numpy as np
import jax.numpy as jnp

from ..utils._sklearn_compat import Interval, StrOptions
from ._base import JaxClassifier
from ._views import DenseNet

__all__ = ["LogisticRegression"]


class LogisticRegression(JaxClassifier):
    """L2-regularised logistic regression (binary or multinomial) in JAX.

    Minimises the same objective as :class:`sklearn.linear_model.LogisticRegression`
    (``C`` times the summed weighted log-loss plus half the squared weights), by
    full-batch L-BFGS by default, so its coefficients match scikit-learn's;
    ``solver="adam"``/``"sgd"`` use mini-batches (what adversarial training
    needs).

    Parameters
    ----------
    penalty : {"l2", None}, default="l2"
        L2 penalty on the weights (not the intercept).
    C : float, default=1.0
        Inverse regularisation strength.
    solver : {"lbfgs", "adam", "sgd"}, default="lbfgs"
        ``"lbfgs"``: SciPy's L-BFGS-B on the compiled loss and gradient, as
        scikit-learn (optax's L-BFGS for ``partial_fit`` and for objectives
        with randomness or a schedule); ``"adam"``/``"sgd"``: optax.
    batch_size : int or "auto", default="auto"
        Mini-batch size for Adam/SGD (``min(200, n_samples)``); L-BFGS uses all rows.
    learning_rate_init : float, default=1e-2
        Step size of Adam / SGD.
    max_iter : int, default=100
        Maximum number of iterations (L-BFGS) or epochs.
    tol : float, default=1e-4
        Stop when the largest gradient entry (L-BFGS) or the loss improvement
        falls below ``tol``.
    n_iter_no_change : int, default=10
        Epochs without progress before stopping.
    early_stopping : bool, default=False
        Stop on a held-out validation score, as in :class:`MLPClassifier`.
    validation_fraction : float, default=0.1
        Fraction held out for early stopping.
    shuffle : bool, default=True
        Shuffle rows every epoch (Adam/SGD).
    random_state : int, RandomState instance or None, default=None
        Seeds shuffling and the validation split.
    verbose : bool or int, default=False
        Print the loss every iteration.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    params_ : list of one dict ``{"W": (n_features, n_outputs), "b": (n_outputs,)}``
    n_iter_ : int
    loss_, loss_curve_ : float, list of float
    validation_scores_, best_validation_score_ : list of float, float or None
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from skadv.models import LogisticRegression
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = LogisticRegression(max_iter=200).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    """

    _parameter_constraints = {
        **JaxClassifier._parameter_constraints,
        "penalty": [StrOptions({"l2"}), None],
        "C": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, penalty="l2", C=1.0, solver="lbfgs", batch_size="auto",
                 learning_rate_init=1e-2, max_iter=100, tol=1e-4, n_iter_no_change=10,
                 early_stopping=False, validation_fraction=0.1, shuffle=True,
                 random_state=None, verbose=False):
        self.penalty = penalty
        self.C = C
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.shuffle = shuffle
        self.random_state = random_state
        self.verbose = verbose

    def _network(self, n_classes):
        return DenseNet(activation="identity", binary=n_classes == 2)

    def _init_params(self, key, n_features, n_classes):
        n_out = 1 if n_classes == 2 else n_classes
        return [{"W": jnp.zeros((n_features, n_out), jnp.float32),
                 "b": jnp.zeros((n_out,), jnp.float32)}]

    def _l2(self, weight_sum, batch_size):
        # sklearn minimises C * sum(w_i * loss_i) + ||W||^2 / 2; the engine
        # averages the loss, so the penalty is divided by C * sum(w).
        if self.penalty is None:
            return 0.0
        return 1.0 / (self.C * weight_sum)

    @property
    def coef_(self):
        return np.asarray(self.params_[0]["W"]).T

    @property
    def intercept_(self):
        return np.asarray(self.params_[0]["b"])
