"""``as_differentiable``: what a white-box attack needs from a classifier.

The views themselves (:class:`Differentiable`, :class:`DenseNet`, ...) are in
:mod:`._views`; the readers of fitted scikit-learn models in :mod:`._adapters`.
"""

from ..exceptions import NotDifferentiableError
from ._adapters import sklearn_differentiable
from ._views import Affine, Chain, DenseNet, Differentiable

__all__ = [
    "Affine",
    "Chain",
    "DenseNet",
    "Differentiable",
    "NotDifferentiableError",
    "as_differentiable",
]


def as_differentiable(estimator):
    """Return the :class:`Differentiable` view of a fitted classifier.

    Parameters
    ----------
    estimator : fitted classifier
        A skadv model or defense; a fitted scikit-learn ``LogisticRegression``,
        ``LinearSVC``, ``SGDClassifier``, ``RidgeClassifier`` (any linear
        classifier), ``MLPClassifier``, ``SVC`` (linear, rbf, poly), a
        ``OneVsRestClassifier`` of linear classifiers; or a ``Pipeline`` of
        those after ``StandardScaler``, ``MinMaxScaler``, ``MaxAbsScaler``,
        ``RobustScaler`` or a ``ColumnTransformer`` of those scalers.

    Returns
    -------
    diff : Differentiable
        Its logits equal ``decision_function`` (or ``log(predict_proba)``) to
        float32 tolerance.

    Raises
    ------
    NotDifferentiableError
        A ``TypeError``: the estimator has no differentiable form; the message
        names the black-box attacks as the alternative.
    NotFittedError
        If the estimator is not fitted.
    """
    if isinstance(estimator, Differentiable):
        return estimator
    hook = getattr(estimator, "__skadv_differentiable__", None)
    if hook is not None:
        return hook()
    return sklearn_differentiable(estimator)
