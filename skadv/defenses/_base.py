"""What every defense meta-estimator shares: checks, delegation, the differentiable view.

A defense fits an inner classifier (``estimator_``, or ``student_`` for
distillation) and predicts with it. Attacks see the defense through
``__skadv_differentiable__``, which exposes exactly the function the defense
deploys, with the defense itself as the estimator whose ``predict`` has the
last word on whether a row is adversarial.
"""

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    clone,
    is_classifier,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets

from ..models import JaxClassifier, MLPClassifier
from ..models._differentiable import Differentiable, as_differentiable
from ..utils._sklearn_compat import check_is_fitted, validate_data

__all__ = [
    "BaseDefense",
    "check_classifier",
    "default_model",
    "fresh_classifier",
    "is_jax_model",
]


def default_model():
    """The inner model when none is given: a skadv MLP with scikit-learn's defaults."""
    return MLPClassifier()


def is_jax_model(estimator):
    """Can the training engine train ``estimator`` with another objective?"""
    return isinstance(estimator, JaxClassifier)


def check_classifier(estimator, name):
    """Raise a clear error unless ``estimator`` is a classifier."""
    if not is_classifier(estimator):
        raise ValueError(
            f"`{name}` must be a classifier. Got {type(estimator).__name__}, which "
            f"is not one, instead. Pass a classifier, e.g. "
            f"skadv.models.MLPClassifier().")


def fresh_classifier(template, name):
    """A clone of ``template`` (``default_model()`` if None), checked as a classifier."""
    estimator = default_model() if template is None else clone(template)
    check_classifier(estimator, name)
    return estimator


def _inner_has(attr):
    """``available_if`` check: the fitted (or template) inner model has ``attr``."""

    def check(self):
        inner = getattr(self, self._fitted_attr, None)
        if inner is None:
            inner = getattr(self, self._template_attr) or default_model()
        getattr(inner, attr)
        return True

    return check


class BaseDefense(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Base class of the defenses (not for direct use).

    Subclasses fit ``self.<_fitted_attr>`` and set ``classes_`` and
    ``n_features_in_``; :meth:`_inner_input` maps ``X`` to what the inner model
    sees (identity unless the defense transforms its input).
    """

    _fitted_attr = "estimator_"
    _template_attr = "estimator"

    @property
    def _inner(self):
        check_is_fitted(self, self._fitted_attr)
        return getattr(self, self._fitted_attr)

    def _inner_input(self, X):
        return X

    def _validate_fit_data(self, X, y):
        """Check ``X`` and ``y`` and record ``n_features_in_`` (and feature names)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        return X, y

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        inner = self._inner
        return inner.predict(self._inner_input(X))

    @available_if(_inner_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities of the deployed model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        inner = self._inner
        return inner.predict_proba(self._inner_input(X))

    @available_if(_inner_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        inner = self._inner
        return inner.predict_log_proba(self._inner_input(X))

    @available_if(_inner_has("decision_function"))
    def decision_function(self, X):
        """Decision scores of the deployed model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        inner = self._inner
        return inner.decision_function(self._inner_input(X))

    def _view(self):
        """``(fn, params)`` of the deployed function; subclasses may wrap it."""
        diff = as_differentiable(self._inner)
        return diff.fn, diff.params

    def __skadv_differentiable__(self):
        check_is_fitted(self, self._fitted_attr)
        fn, params = self._view()
        return Differentiable(fn, params, self.classes_, self.n_features_in_,
                              estimator=self,
                              feature_names_in=getattr(self, "feature_names_in_", None))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags

