"""Robustness metrics."""

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score

__all__ = ["robust_accuracy"]


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
        A skadv attack; it is cloned and aimed at ``estimator``.
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
    atk = _attack_for(attack, estimator)
    X_adv = atk.fit_transform(X, y)
    acc = accuracy_score(np.asarray(y), estimator.predict(X_adv))
    return (acc, X_adv) if return_adversarial else acc
