"""Robustness metrics."""

from functools import partial

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, get_scorer, make_scorer

from .utils._sklearn_compat import HasMethods, _cached_call, _Scorer, validate_params

__all__ = ["certified_accuracy", "make_robust_scorer", "robust_accuracy"]


def _attack_for(attack, estimator):
    """A fresh copy of ``attack`` aimed at ``estimator`` (never the template)."""
    return clone(attack).set_params(estimator=estimator)


def robust_accuracy(estimator, X, y, attack, *, return_adversarial=False):
    """Accuracy of ``estimator`` on ``attack``'s adversarial version of ``X``.

    A row counts as correct only if the attack failed on it (rows the
    estimator already misclassifies count as wrong).

    Parameters
    ----------
    estimator : fitted classifier
        The model under attack.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        True labels.
    attack : attack transformer
        An untargeted skadv attack; it is cloned and aimed at ``estimator``.
    return_adversarial : bool, default=False
        Also return the adversarial rows.

    Returns
    -------
    accuracy : float
    X_adv : ndarray of shape (n_samples, n_features)
        Only when ``return_adversarial``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import PGDAttack
    >>> from skadv.metrics import robust_accuracy
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> attack = PGDAttack(eps=0.2, feature_scale="std", random_state=0)
    >>> clean, robust = clf.score(X, y), robust_accuracy(clf, X, y, attack)
    >>> bool(robust < clean)
    True
    """
    if getattr(attack, "targeted", False):
        raise ValueError(
            "robust_accuracy needs an untargeted attack (its y are the true labels); "
            "got targeted=True. Use attack.set_params(targeted=False).")
    atk = _attack_for(attack, estimator)
    X_adv = atk.fit_transform(X, y)
    acc = accuracy_score(np.asarray(y), estimator.predict(X_adv))
    return (acc, X_adv) if return_adversarial else acc


def certified_accuracy(estimator, X, y, radius=0.0):
    """Fraction of rows predicted correctly *and* certified at ``radius`` or more.

    A row counts at radius ``r`` when the estimator's certified prediction is
    the true label and its certified radius ``R`` satisfies ``R >= r``; rows
    where the estimator abstains (``R = -1``) count as wrong at every
    radius, ``0`` included. This is a lower bound of the robust accuracy at
    ``r`` (for randomized smoothing, with probability ``1 - alpha`` per
    row); the accuracy under attack (:func:`robust_accuracy`) is an upper
    bound. Passing an array of radii gives the whole curve from one call to
    ``certify``.

    Parameters
    ----------
    estimator : fitted certified classifier
        Anything with ``certify(X) -> (prediction, radius)``, e.g.
        :class:`~skadv.defenses.CertifiedClassifier`.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        True labels.
    radius : float or array-like of float, default=0.0
        Radii (>= 0) in the estimator's norm and units (its ``norm_`` and
        ``scale_``).

    Returns
    -------
    accuracy : float or ndarray
        A float for a scalar ``radius``, else an array of ``radius``'s shape.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.defenses import CertifiedClassifier
    >>> from skadv.metrics import certified_accuracy
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = CertifiedClassifier(make_pipeline(StandardScaler(), LogisticRegression()),
    ...                           method="linear", feature_scale="std").fit(X, y)
    >>> curve = certified_accuracy(clf, X, y, [0.0, 0.05, 0.1])
    >>> bool(curve[0] >= curve[1] >= curve[2])
    True
    """
    if not hasattr(estimator, "certify"):
        raise TypeError(
            f"certified_accuracy needs an estimator with certify(X) -> (prediction, "
            f"radius), e.g. skadv.defenses.CertifiedClassifier. Got "
            f"{type(estimator).__name__} instead; use robust_accuracy for an attack's "
            "estimate.")
    r = np.asarray(radius, dtype=np.float64)
    if not np.all(np.isfinite(r) & (r >= 0)):
        raise ValueError(
            f"`radius` must be finite and non-negative. Got {radius!r} instead.")
    prediction, certified = estimator.certify(X)
    acc = certified_curve(y, prediction, certified, r.ravel())
    return float(acc[0]) if r.ndim == 0 else acc.reshape(r.shape)


def certified_curve(y_true, prediction, radius, radii):
    """Fraction of rows certified correct at each radius of ``radii``.

    Parameters
    ----------
    y_true, prediction : array-like of shape (n_samples,)
    radius : array-like of shape (n_samples,)
        Certified radius per row, negative where the classifier abstains.
    radii : array-like of shape (n_radii,)

    Returns
    -------
    accuracy : ndarray of shape (n_radii,)
    """
    radius = np.asarray(radius, dtype=np.float64)
    correct = (np.asarray(prediction) == np.asarray(y_true)) & (radius >= 0)
    radii = np.atleast_1d(np.asarray(radii, dtype=np.float64))
    return np.mean(correct[:, None] & (radius[:, None] >= radii[None, :]), axis=0)


class _RobustScorer(_Scorer):
    """A :func:`~sklearn.metrics.make_scorer` scorer evaluated on adversarial rows."""

    def __init__(self, score_func, sign, kwargs, response_method, attack):
        super().__init__(score_func, sign, kwargs, response_method)
        self._attack = attack

    @classmethod
    def from_scorer(cls, scorer, attack):
        """The same metric, response method and metadata requests, under ``attack``."""
        robust = cls(scorer._score_func, scorer._sign, scorer._kwargs,
                     scorer._response_method, attack)
        if hasattr(scorer, "_metadata_request"):  # set by set_score_request
            robust._metadata_request = scorer._metadata_request
        return robust

    def _score(self, method_caller, estimator, X, y_true, **kwargs):
        X_adv = _attack_for(self._attack, estimator).fit_transform(X, y_true)
        # The multimetric cache holds the responses on the clean rows: never
        # reuse it for the adversarial ones.
        return super()._score(partial(_cached_call, None), estimator, X_adv, y_true,
                              **kwargs)

    def __repr__(self):
        return f"make_robust_scorer({self._attack!r}, metric={super().__repr__()})"


@validate_params(
    {
        "attack": [HasMethods(["fit", "transform", "set_params"])],
        "metric": [callable, str],
        "response_method": [str, list, tuple, None],
        "greater_is_better": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def make_robust_scorer(attack, metric=accuracy_score, *, response_method=None,
                       greater_is_better=True, **kwargs):
    """A scorer that attacks each fitted candidate, then scores it on the adversarial rows.

    Built on scikit-learn's scorer machinery, so it goes wherever ``scoring=``
    does (``GridSearchCV``, ``cross_validate``, multi-metric dicts, metadata
    routing). On every call it clones ``attack``, aims the clone at the fitted
    estimator being scored (never at a template) and attacks the scoring rows
    with their true labels; ``metric`` is then computed on the adversarial
    rows. With ``metric=accuracy_score`` it is :func:`robust_accuracy`.

    Parameters
    ----------
    attack : attack transformer
        A skadv attack (or adaptive wrapper); its ``estimator`` is ignored.
        ``feature_scale="std"`` is computed on the rows being scored.
    metric : callable, str or scorer, default=accuracy_score
        A metric ``metric(y_true, y_pred, **kwargs)`` (not a scorer function
        ``f(estimator, X, y)``), the name of a scikit-learn scorer
        (``"f1_macro"``, ``"roc_auc"``), or a scorer made by
        :func:`~sklearn.metrics.make_scorer`.
    response_method : str or list of str, default=None
        For a callable ``metric``, the estimator's method that feeds it
        (``"predict"`` when None); see :func:`~sklearn.metrics.make_scorer`.
        Not accepted with a scorer or a scorer name, which carry their own.
    greater_is_better : bool, default=True
        For a callable ``metric``: whether it is a score (True) or a loss.
    **kwargs
        Passed to a callable ``metric``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)``, greater is better.

    See Also
    --------
    robust_accuracy : the same number for one fitted estimator.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.model_selection import GridSearchCV
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import PGDAttack
    >>> from skadv.metrics import make_robust_scorer
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> scoring = {"clean": "accuracy",
    ...            "robust": make_robust_scorer(PGDAttack(eps=0.2, random_state=0))}
    >>> search = GridSearchCV(LogisticRegression(), {"C": [0.01, 1.0]},
    ...                       scoring=scoring, refit="robust").fit(X, y)
    >>> search.best_params_
    {'C': 0.01}
    """
    if isinstance(metric, (str, _Scorer)):
        if response_method is not None or kwargs:
            raise ValueError(
                "response_method and metric keyword arguments apply to a callable "
                f"metric; the scorer {metric!r} already has its own. Pass "
                "make_scorer(func, response_method=..., ...) as metric instead.")
        scorer = get_scorer(metric) if isinstance(metric, str) else metric
    else:
        scorer = make_scorer(metric, response_method=response_method or "predict",
                             greater_is_better=greater_is_better, **kwargs)
    return _RobustScorer.from_scorer(scorer, attack)
