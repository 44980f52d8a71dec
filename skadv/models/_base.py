"""``JaxClassifier``: the scikit-learn face of a pure JAX network.

A subclass says what its network is (a hashable ``fn(params, X) -> logits``),
how to initialise its parameters and how strong its L2 penalty is; this base
class does validation, label encoding, sample weights, early stopping and
prediction, and trains through the one engine in
:mod:`skadv.defenses._engine`. Defenses train the same model with another
objective through :meth:`JaxClassifier._fit_objective`.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import jax
import jax.numpy as jnp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets

from .._core.train import CrossEntropy, OptimizerSpec, train
from ..utils._jax import as_key, map_batches, split_key, to_jax, to_numpy
from ..utils._sklearn_compat import (
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._views import Differentiable

__all__ = ["JaxClassifier"]

_PREDICT_BATCH = 4096
# XLA's CPU matmul takes another kernel below 128 rows, whose last bits differ:
# predicting in shapes of at least 128 rows keeps a row's logits independent
# of how many rows came with it (a point on the boundary is classified the
# same in a chunk of an n_jobs split as in the whole call).
_PREDICT_MIN_ROWS = 128


# ``fn`` is hashable by value, so this compiles once per network structure and
# batch shape, whatever the parameters.
_jit_apply = jax.jit(lambda fn, params, X: fn(params, X), static_argnums=0)


def _logits_batched(fn, params, X):
    """Logits of ``fn`` on ``X`` in fixed-shape chunks, as float32 NumPy."""
    return map_batches(lambda xb: _jit_apply(fn, params, xb), [X], _PREDICT_BATCH,
                       min_rows=_PREDICT_MIN_ROWS, concurrent=True)


class JaxClassifier(ClassifierMixin, BaseEstimator):
    """Base class of skadv's JAX classifiers (not for direct use).

    Subclasses define ``_network(n_outputs)``, ``_init_params(key, n_features,
    n_outputs)``, ``_l2(n_samples_weighted, batch_size)`` and ``_optimizer()``.
    """

    _parameter_constraints: dict = {
        "solver": [StrOptions({"adam", "sgd", "lbfgs"})],
        "learning_rate_init": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    # -- subclass hooks -------------------------------------------------
    def _network(self, n_classes):
        raise NotImplementedError

    def _init_params(self, key, n_features, n_classes):
        raise NotImplementedError

    def _l2(self, weight_sum, batch_size):
        raise NotImplementedError

    def _optimizer(self):
        return OptimizerSpec(solver=self.solver, learning_rate=self.learning_rate_init)

    def _batch_size(self, n):
        if self.solver == "lbfgs":
            return n
        if self.batch_size == "auto":
            return min(200, n)
        return min(self.batch_size, n)

    # -- fitting ----------------------------------------------------------
    def _validate_Xy(self, X, y, reset):
        X, y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32],
                             y_numeric=False)
        check_classification_targets(y)
        return X.astype(np.float32, copy=False), y

    def _set_classes(self, y, classes=None):
        self.classes_ = np.unique(y) if classes is None else np.asarray(classes)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contain only one class: {self.classes_[0]!r}.")

    def _encode(self, y):
        idx = np.searchsorted(self.classes_, y)
        idx = np.clip(idx, 0, len(self.classes_) - 1)
        unknown = self.classes_[idx] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels not in classes_ {self.classes_.tolist()}: "
                f"{np.unique(np.asarray(y)[unknown]).tolist()}.")
        return idx.astype(np.int32)

    def _fit_objective(self, X, y, sample_weight=None, *, objective=None, hp=None,
                       hp_schedule=None, targets=None, classes=None, partial=False,
                       max_iter=None):
        """Fit with any objective of the training engine (used by defenses).

        ``X``/``y`` are already validated; ``y`` holds labels from ``classes``
        (or the data) and ``targets`` optionally replaces the encoded labels
        with soft targets of shape ``(n_samples, n_classes)``.
        """
        objective = CrossEntropy() if objective is None else objective
        first = not (partial and hasattr(self, "params_"))
        rng = check_random_state(self.random_state) if first else None
        if first:
            self._set_classes(y, classes)
            key = as_key(rng)
        else:
            key = jnp.asarray(self._key_)
        Y = self._encode(y) if targets is None else np.asarray(targets, np.float32)
        sw = _check_sample_weight(sample_weight, X, dtype=np.float32)
        n_classes = len(self.classes_)
        fn = self._network(n_classes)

        validation = None
        if self.early_stopping and not partial:
            stratify = Y if targets is None else None
            idx_tr, idx_val = train_test_split(
                np.arange(X.shape[0]), test_size=self.validation_fraction,
                random_state=rng, stratify=stratify)
            if len(idx_val) < 2 or len(idx_tr) < 2:
                raise ValueError(
                    f"validation_fraction={self.validation_fraction} leaves too few "
                    f"samples ({X.shape[0]} in total) for early stopping.")
            X_val, y_val = X[idx_val], self._encode(y[idx_val])
            X, Y, sw = X[idx_tr], Y[idx_tr], sw[idx_tr]

            def validation(params):
                z = _logits_batched(fn, params, X_val)
                return float(np.mean(np.argmax(z, axis=1) == y_val))

        if first:
            key, kinit = split_key(key)
            params = self._init_params(kinit, X.shape[1], n_classes)
            opt_state = None
        else:
            params, opt_state = to_jax(self.params_), self._opt_state_
        bs = self._batch_size(X.shape[0])
        result = train(
            fn, objective, params, X, Y, opt=self._optimizer(),
            max_iter=1 if partial else (max_iter or self.max_iter), batch_size=bs,
            key=key, sample_weight=sw, hp=hp, hp_schedule=hp_schedule,
            l2=self._l2(float(np.sum(sw)), bs), shuffle=self.shuffle, tol=self.tol,
            n_iter_no_change=self.n_iter_no_change, validation=validation,
            opt_state=opt_state, verbose=self.verbose, scipy_lbfgs=not partial)
        if not (partial or result.converged):
            warnings.warn(
                f"Training stopped at max_iter={result.n_iter} epochs before converging; "
                "increase max_iter for a better fit.", ConvergenceWarning)
        self.params_ = to_numpy(result.params)
        self._opt_state_ = to_numpy(result.opt_state)
        self._key_ = np.asarray(result.key)
        if first:
            self.n_iter_ = result.n_iter
            self.loss_curve_ = list(result.loss_curve)
        else:
            self.n_iter_ += result.n_iter
            self.loss_curve_ = self.loss_curve_ + list(result.loss_curve)
        self.loss_ = self.loss_curve_[-1]
        self.validation_scores_ = result.validation_scores if self.early_stopping else None
        self.best_validation_score_ = (
            result.best_validation_score if self.early_stopping else None)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model to data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target labels (any hashable type, e.g. strings).
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample weights.

        Returns
        -------
        self : object
            Fitted estimator.
        """
        for attr in ("params_", "_opt_state_", "_key_"):
            self.__dict__.pop(attr, None)
        X, y = self._validate_Xy(X, y, reset=True)
        return self._fit_objective(X, y, sample_weight)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Run one epoch over ``X``, continuing from the current state.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All classes that will ever appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        first = not hasattr(self, "params_")
        if first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if not first and classes is not None and not np.array_equal(
                np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from the classes of "
                f"the first call to partial_fit {self.classes_.tolist()}.")
        X, y = self._validate_Xy(X, y, reset=first)
        return self._fit_objective(X, y, sample_weight,
                                   classes=np.unique(classes) if first else None,
                                   partial=True)

    # -- prediction -------------------------------------------------------
    def _logits(self, X):
        check_is_fitted(self, "params_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        X = X.astype(np.float32, copy=False)
        # The NumPy params go straight into the compiled call: converting them
        # first (to_jax) dispatches one op per leaf, per call, and a query
        # attack makes thousands of calls.
        return _logits_batched(self._network(len(self.classes_)), self.params_, X)

    def decision_function(self, X):
        """Scores of each class (for two classes, the score of ``classes_[1]``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        z = self._logits(X)
        if len(self.classes_) == 2:
            return (z[:, 1] - z[:, 0]).astype(np.float64)
        return z.astype(np.float64)

    def predict_proba(self, X):
        """Class probabilities (softmax of the logits).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        z = self._logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        z = self._logits(X).astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        z = self._logits(X)
        return self.classes_[np.argmax(z, axis=1)]

    def __skadv_differentiable__(self):
        check_is_fitted(self, "params_")
        return Differentiable(
            self._network(len(self.classes_)), to_jax(self.params_), self.classes_,
            self.n_features_in_, estimator=self,
            feature_names_in=getattr(self, "feature_names_in_", None))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags
