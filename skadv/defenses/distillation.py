"""Defensive distillation (Papernot et al. 2016)."""

from numbers import Real

import numpy as np
from scipy.special import softmax
from sklearn.base import clone

from ..utils._sklearn_compat import HasMethods, Interval, _fit_context
from ._base import BaseDefense, fresh_classifier, is_jax_model
from .._core.train import DistillationObjective

__all__ = ["DistilledClassifier"]


def soft_labels(teacher, X, temperature):
    """``softmax(log p(x) / T)``: the teacher's probabilities softened at ``T``.

    For a network, ``log p`` equals its logits up to a per-row constant, so
    this is the softmax of the logits divided by ``T``.
    """
    if hasattr(teacher, "predict_log_proba"):
        logp = teacher.predict_log_proba(X)
    else:
        logp = np.log(np.clip(teacher.predict_proba(X), 1e-300, None))
    return softmax(np.asarray(logp, np.float64) / temperature, axis=1)


class DistilledClassifier(BaseDefense):
    """Defensive distillation: a student trained on a hot teacher's soft labels.

    The teacher is trained at temperature ``T`` (its logits divided by ``T``
    inside the softmax); the student is trained at the same temperature on the
    teacher's probabilities at ``T``; the student is deployed at ``T = 1``
    (Papernot et al. 2016). A skadv teacher is trained at ``T`` by the
    training engine; any other classifier with ``predict_proba`` can be the
    teacher (fitted normally, its probabilities softened to
    ``softmax(log p / T)``). The student must be a skadv model.

    **This is not a robustness defense.** Deployed at ``T = 1``, the student's
    logits are about ``T`` times larger than a normally trained model's, so
    its softmax saturates and the gradient of the cross-entropy underflows to
    zero: attacks that follow that gradient fail, while the decision
    boundary, and hence the true robustness, is unchanged. Carlini and Wagner
    (2017) broke it by attacking the logits (the margin loss ``loss="cw"``
    of :class:`~skadv.attacks.PGDAttack`, or
    :class:`~skadv.attacks.CarliniWagnerL2Attack`); the tests check that
    this brings its robust accuracy back to the undefended model's.

    Parameters
    ----------
    teacher : classifier, default=None
        Cloned and fitted. ``None`` means ``skadv.models.MLPClassifier()``.
    student : skadv classifier, default=None
        Cloned and fitted on the soft labels. ``None`` means a clone of the
        teacher when it is a skadv model, else ``skadv.models.MLPClassifier()``.
    temperature : float > 0, default=20.0
        Distillation temperature ``T``.

    Attributes
    ----------
    teacher_ : classifier
        The fitted teacher.
    student_ : skadv classifier
        The fitted student; predictions are its (at ``T = 1``).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    References
    ----------
    .. [1] N. Papernot, P. McDaniel, X. Wu, S. Jha, A. Swami. "Distillation as
       a Defense to Adversarial Perturbations against Deep Neural Networks",
       IEEE S&P 2016.
    .. [2] N. Carlini, D. Wagner. "Towards Evaluating the Robustness of Neural
       Networks", IEEE S&P 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import PGDAttack
    >>> from skadv.defenses import DistilledClassifier
    >>> from skadv.metrics import robust_accuracy
    >>> from skadv.models import MLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=60,
    ...                     learning_rate_init=0.01, random_state=0)
    >>> clf = DistilledClassifier(mlp, temperature=20).fit(X, y)
    >>> plain = PGDAttack(eps=0.5, random_state=0)               # cross-entropy
    >>> logits = PGDAttack(eps=0.5, loss="cw", random_state=0)   # margin of the logits
    >>> bool(robust_accuracy(clf, X, y, logits) < robust_accuracy(clf, X, y, plain))
    True
    """

    _parameter_constraints = {
        "teacher": [HasMethods(["fit", "predict"]), None],
        "student": [HasMethods(["fit", "predict"]), None],
        "temperature": [Interval(Real, 0, None, closed="neither")],
    }

    _fitted_attr = "student_"
    _template_attr = "student"

    def __init__(self, teacher=None, student=None, *, temperature=20.0):
        self.teacher = teacher
        self.student = student
        self.temperature = temperature

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Train the teacher at ``temperature``, then the student on its soft labels.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the teacher's and the student's training.

        Returns
        -------
        self : object
        """
        teacher = fresh_classifier(self.teacher, "teacher")
        default_student = clone(teacher) if is_jax_model(teacher) else None
        student = fresh_classifier(
            default_student if self.student is None else self.student, "student")
        if not is_jax_model(student):
            raise ValueError(
                "`student` must be a skadv model (skadv.models.MLPClassifier or "
                f"LogisticRegression) so it can be trained on soft labels. Got "
                f"{type(student).__name__} instead.")
        _, y = self._validate_fit_data(X, y)
        hp = {"temperature": self.temperature}
        if is_jax_model(teacher):
            Xt, yt = teacher._validate_Xy(X, y, reset=True)
            teacher._fit_objective(Xt, yt, sample_weight,
                                   objective=DistillationObjective(), hp=hp)
        else:
            if not hasattr(teacher, "predict_proba"):
                raise ValueError(
                    f"`teacher` must have predict_proba to give soft labels; "
                    f"{type(teacher).__name__} has none.")
            fit_params = {} if sample_weight is None else {"sample_weight": sample_weight}
            teacher.fit(X, y, **fit_params)
        targets = soft_labels(teacher, X, self.temperature)
        Xs, ys = student._validate_Xy(X, y, reset=True)
        student._fit_objective(Xs, ys, sample_weight, objective=DistillationObjective(),
                               hp=hp, targets=targets, classes=teacher.classes_)
        self.teacher_ = teacher
        self.student_ = student
        self.classes_ = student.classes_
        return self
