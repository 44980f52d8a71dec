"""Certified defenses: randomized smoothing, IBP / CROWN-IBP training, exact certificates.

:class:`CertifiedClassifier` validates and dispatches; what each method does
lives in its strategy (:mod:`skadv.defenses._certified`).
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets

from ..attacks._budget import resolve_budget
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._base import BaseDefense, check_classifier
from ._certified import METHODS, strategy

__all__ = ["CertifiedClassifier"]


class CertifiedClassifier(BaseDefense):
    """A classifier with certified robustness: ``certify(X) -> (prediction, radius)``.

    Each row gets a radius within which no perturbation can change its
    prediction — proven, not estimated by attacking. Seven methods:

    - ``"smoothing"`` (Cohen et al. 2019): the classifier is the *smoothed*
      ``g(x) = argmax_c P(f(x + delta) = c)``, ``delta ~ N(0, sigma^2)``, of a
      base model ``f`` trained under that noise. :meth:`certify` runs
      CERTIFY: the class is chosen by ``n0`` noisy draws and its probability
      bounded below (Clopper–Pearson at ``alpha``) with ``n`` further draws;
      the L2 radius is ``sigma * Phi^-1(p_lower)``, and the row abstains
      (radius -1) when ``p_lower < 1/2``. Each radius holds with probability
      at least ``1 - alpha`` over the draws. Works with any classifier: a
      skadv model is trained with fresh noise at every step (the training
      engine); any other scikit-learn classifier is fitted once on
      ``n_augment`` noisy copies of each row, a weaker approximation.
    - ``"ibp"`` (Gowal et al. 2018) and ``"crown-ibp"`` (Zhang et al. 2020):
      certified training of a skadv ReLU MLP on
      ``kappa * CE(x) + (1 - kappa) * CE(worst-case logits)`` over the L∞
      ball of radius ``eps``, the worst case bounded by interval propagation
      (``"ibp"``) or by ``beta * CROWN-IBP + (1 - beta) * IBP``
      (``"crown-ibp"``). After ``warmup`` clean epochs, ``eps`` ramps from 0
      and ``kappa`` from 1 to their values over ``ramp`` epochs, while
      ``beta`` goes from 1 to 0 (the papers' schedules). Radii are
      deterministic: the largest radius (bisection, 30 steps) at which the
      best of the IBP, CROWN-IBP and CROWN lower bounds of every margin is
      positive.
    - ``"linear"``: exact radii of a linear model (skadv or scikit-learn
      ``LogisticRegression``, ``LinearSVC``, ``SGDClassifier``, ...,
      possibly after a scaler in a ``Pipeline``), trained normally:
      ``min_j (z_y - z_j) / ||w_y - w_j||_*`` with ``||.||_*`` the dual norm
      (L1 for an L∞ radius, L2 for L2) — for two classes ``|f(x)| / ||w||_*``.
    - ``"milp"``: exact L∞ radii of a small ReLU MLP (skadv or scikit-learn,
      possibly after a scaler), trained normally, by mixed-integer
      programming (:func:`skadv.verify.min_adversarial_linf`, one MILP per
      row and class: exponential in the worst case, for small networks).
    - ``"tree-bound"`` and ``"tree-exact"``: a tree ensemble -- scikit-learn's
      trees, forests, ``GradientBoostingClassifier`` and
      ``HistGradientBoostingClassifier``, ``XGBClassifier``,
      ``LGBMClassifier``, ``CatBoostClassifier`` (possibly after scalers in a
      ``Pipeline``) -- trained normally and certified by
      :func:`skadv.verify.tree_certified_radius`: ``"tree-bound"`` is Chen et
      al.'s multi-level clique bound (polynomial time, a lower bound of the
      exact radius), ``"tree-exact"`` Kantchelian et al.'s MILP (the exact
      radius, just below the distance of the nearest adversarial point). L∞,
      L2 or L1; radii are capped at ``max_radius``.

    **Units.** Radii are measured in ``X / scale_``: with
    ``feature_scale=None`` in the units of ``X`` as passed to :meth:`certify`
    (a scaler inside a ``Pipeline`` is folded into the network, so the radius
    is in raw input units, never in the scaled space); with
    ``feature_scale="std"`` an L∞ radius ``r`` lets feature ``j`` move by
    ``r * std_j``. An attack with the same ``feature_scale`` (pass the array
    ``scale_``) measures ``eps`` in the same units. ``eps`` and ``sigma`` use
    these units too.

    **Promise and precision.** Deterministic radii are exact (``linear``,
    ``milp``) or sound (``ibp``, ``crown-ibp``) for the network in exact
    arithmetic; they are computed in float64 from the model's float32
    weights, and a float32 forward pass can differ within about ``1e-6``
    (relative) of a tie. A radius ``R`` means no perturbation of norm below
    ``R`` changes the prediction.

    Parameters
    ----------
    estimator : classifier, default=None
        The model; cloned. ``None`` means ``skadv.models.MLPClassifier()``
        (``skadv.models.LogisticRegression()`` for ``method="linear"``,
        ``HistGradientBoostingClassifier(max_iter=20, max_depth=4)`` for the
        tree methods).
    method : {"smoothing", "ibp", "crown-ibp", "linear", "milp", "tree-bound", \
            "tree-exact"}, default="smoothing"
    eps : float >= 0, default=0.1
        Training radius (L∞) of ``"ibp"`` and ``"crown-ibp"``; 0 trains
        without bounds (the naturally trained baseline of a grid).
    sigma : float > 0, default=0.25
        Noise standard deviation of ``"smoothing"`` (training and
        certification).
    n0 : int >= 1, default=100
        Draws that select the class (CERTIFY) and that :meth:`predict` votes
        with.
    n : int >= n0, default=10_000
        Draws that bound the class probability (CERTIFY). Cohen et al. use
        100,000; ``n`` caps the radius at ``sigma * Phi^-1(alpha ** (1 / n))``.
    alpha : float in (0, 1), default=0.001
        Failure probability of each smoothing certificate.
    norm : {"inf", 2, 1} or None, default=None
        Norm of the radius. ``None``: 2 for ``"smoothing"`` (its only norm),
        ``"inf"`` otherwise. ``"linear"``, ``"ibp"`` and ``"crown-ibp"``
        certify either (the latter two always train on L∞ balls); ``"milp"``
        only L∞; the tree methods any of L∞, L2 and L1.
    kappa : float in [0, 1], default=0.5
        Final weight of the clean loss in IBP / CROWN-IBP training.
    warmup : int >= 0, default=0
        Epochs of clean training before the ramp.
    ramp : int >= 0, default=10
        Epochs over which ``eps`` (and ``kappa``, ``beta``) reach their final
        values; 0 starts at full strength. The inner model's ``max_iter``
        should exceed ``warmup + ramp`` (a warning says when it does not).
    n_augment : int >= 1, default=10
        Noisy copies per training row for ``"smoothing"`` with a model that is
        not a skadv model.
    feature_scale : {"std"}, array-like of shape (n_features,) or None, default=None
        Per-feature unit of radii, ``eps`` and ``sigma`` (see Units above);
        ``"std"`` uses the standard deviation of the training ``X``.
    max_radius : float > 0, default=None
        Largest radius searched by ``"ibp"``, ``"crown-ibp"``, ``"milp"`` and
        the tree methods; a
        row certified there gets ``max_radius`` (a lower bound of its radius).
        ``None`` uses the diameter of the training data in the radius' norm.
    batch_size : int, default=16384
        Noisy inputs per forward pass of the smoothing sampler (rows times
        draws per row); bounds memory.
    random_state : int, RandomState instance or None, default=None
        Seeds the training noise and the smoothing draws. The draws of a row
        are a function of the row's values and of this seed, fixed at
        :meth:`fit`: predicting on a subset gives the same answers, and
        repeated calls give the same certificate (no re-drawing until a row
        certifies).

    Attributes
    ----------
    estimator_ : classifier
        The fitted (base) model.
    training_ : {"noise", "noise augmentation", "ibp", "crown-ibp", "plain"}
        How it was trained.
    norm_ : {"inf", 2}
        Norm of the radii.
    scale_ : ndarray of shape (n_features,)
        Per-feature unit of radii, ``eps`` and ``sigma``.
    layers_ : list of dict or None
        For the deterministic methods, the network as float64 dense layers
        acting on ``X / scale_`` (:func:`skadv.verify.as_layers` form), ready
        for :mod:`skadv.verify` (e.g. :func:`skadv.verify.verify` for a
        counterexample); ``None`` for ``"smoothing"``.
    max_radius_ : float or None
        The search limit in use (deterministic methods except ``"linear"``).
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    skadv.metrics.certified_accuracy : accuracy certified at a radius.
    skadv.metrics.robust_accuracy : the empirical (attack) counterpart, an
        upper bound where this is a lower bound.
    skadv.verify : the bounds and solvers used here.

    Notes
    -----
    :meth:`predict` of ``"smoothing"`` is the majority vote of the ``n0``
    selection draws, so it always equals the class :meth:`certify` returns;
    it never abstains (scikit-learn needs a label), and :meth:`certify`'s
    radius of -1 is where Cohen et al.'s procedures would abstain.
    :meth:`predict_proba` is the vote frequencies. The base classifier ``f``
    is the argmax of the model's logits as skadv computes them for models
    with a differentiable view (all draws in one compiled loop; this equals
    ``predict`` except at float32 ties) and the model's own ``predict``
    otherwise (batched over many noisy copies per call).

    For attacks (``skadv.as_differentiable``), the deterministic methods
    expose the trained model; ``"smoothing"`` exposes the soft smoothed
    classifier over ``n0`` fixed noise draws (log of the mean softmax), whose
    gradient is the SmoothAdv attack's (Salman et al. 2019).

    References
    ----------
    .. [1] Cohen, J., Rosenfeld, E. and Kolter, J. Z. "Certified adversarial
       robustness via randomized smoothing." ICML 2019.
    .. [2] Gowal, S. et al. "On the effectiveness of interval bound propagation
       for training verifiably robust models." arXiv:1810.12715, 2018.
    .. [3] Zhang, H. et al. "Towards stable and efficient training of
       verifiably robust neural networks." ICLR 2020.
    .. [4] Tjeng, V., Xiao, K. and Tedrake, R. "Evaluating robustness of
       neural networks with mixed integer programming." ICLR 2019.
    .. [5] Salman, H. et al. "Provably robust deep learning via adversarially
       trained smoothed classifiers." NeurIPS 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.defenses import CertifiedClassifier
    >>> from skadv.metrics import certified_accuracy
    >>> from skadv.models import MLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=40,
    ...                     learning_rate_init=0.01, random_state=0)
    >>> clf = CertifiedClassifier(mlp, method="ibp", eps=0.05).fit(X, y)
    >>> prediction, radius = clf.certify(X[:5])
    >>> bool((radius >= 0).all())
    True
    >>> acc = certified_accuracy(clf, X, y, [0.0, 0.05])
    >>> bool(acc[0] >= acc[1] > 0.5)
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "method": [StrOptions(set(METHODS))],
        "eps": [Interval(Real, 0, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "n0": [Interval(Integral, 1, None, closed="left")],
        "n": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "norm": [StrOptions({"inf", "linf", "l2", "2", "l1", "1"}), Options(Real, {1, 2, np.inf}),
                 None],
        "kappa": [Interval(Real, 0, 1, closed="both")],
        "warmup": [Interval(Integral, 0, None, closed="left")],
        "ramp": [Interval(Integral, 0, None, closed="left")],
        "n_augment": [Interval(Integral, 1, None, closed="left")],
        "feature_scale": [StrOptions({"std"}), "array-like", None],
        "max_radius": [Interval(Real, 0, None, closed="neither"), None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimator=None, *, method="smoothing", eps=0.1, sigma=0.25, n0=100,
                 n=10_000, alpha=0.001, norm=None, kappa=0.5, warmup=0, ramp=10,
                 n_augment=10, feature_scale=None, max_radius=None, batch_size=16384,
                 random_state=None):
        self.estimator = estimator
        self.method = method
        self.eps = eps
        self.sigma = sigma
        self.n0 = n0
        self.n = n
        self.alpha = alpha
        self.norm = norm
        self.kappa = kappa
        self.warmup = warmup
        self.ramp = ramp
        self.n_augment = n_augment
        self.feature_scale = feature_scale
        self.max_radius = max_radius
        self.batch_size = batch_size
        self.random_state = random_state

    # -- fit ------------------------------------------------------------------
    def _strategy(self):
        """The one place the method is looked at: everything else asks its strategy."""
        return strategy(self.method)

    def _template(self):
        if self.estimator is not None:
            return clone(self.estimator)
        return self._strategy().default_estimator()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Train the model for certification.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        if self.n0 > self.n:
            raise ValueError(
                f"`n0` (selection draws) must not exceed `n` (estimation draws). Got "
                f"n0={self.n0} and n={self.n} instead; Cohen et al. use n0=100, n=100000.")
        how = self._strategy()
        estimator = self._template()
        check_classifier(estimator, "estimator")
        X_checked, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        X_checked = X_checked.astype(np.float64)
        self.norm_ = how.resolve_norm(self)
        self.scale_, _ = resolve_budget(None, self.feature_scale, X_checked,
                                        getattr(self, "feature_names_in_", None))
        rng = check_random_state(self.random_state)
        self._seed_ = int(rng.randint(2**31 - 1))
        self.training_ = how.fit(self, estimator, X, X_checked, y, sample_weight, rng)
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        self.layers_ = how.layers(self, estimator)
        self.max_radius_ = how.max_radius(self, X_checked)
        return self

    # -- certify ----------------------------------------------------------------
    def certify(self, X):
        """Prediction and certified radius of every row.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)

        Returns
        -------
        prediction : ndarray of shape (n_samples,)
            Labels from ``classes_``: what :meth:`predict` returns (for
            ``"smoothing"``, the class CERTIFY selected, also where it
            abstains).
        radius : ndarray of float64, shape (n_samples,)
            In ``norm_``, in units of ``X / scale_``: no perturbation of
            smaller norm changes the prediction (for ``"smoothing"``, with
            probability at least ``1 - alpha`` over the draws). ``-1`` where
            nothing is certified: smoothing abstains, or the prediction is a
            tie at ``X`` itself. ``np.inf`` for a linear model whose classes'
            weights coincide.
        """
        check_is_fitted(self, "estimator_")
        X_num = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._strategy().certify(self, X, X_num.astype(np.float64))

    # -- prediction ---------------------------------------------------------------
    def predict(self, X):
        """Predicted labels.

        For ``"smoothing"``, the majority vote of the base model over ``n0``
        noisy copies of each row (the class :meth:`certify` selects);
        otherwise the trained model's prediction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        return self._strategy().predict(self, X)

    def _has_proba(self):
        inner = getattr(self, "estimator_", None) or self._template()
        return self._strategy().has_proba(inner)

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities.

        For ``"smoothing"``, the vote frequencies over the ``n0`` draws of
        :meth:`predict`; otherwise the trained model's probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        return self._strategy().predict_proba(self, X)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (``-inf`` for classes without a vote)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _has_decision(self):
        inner = getattr(self, "estimator_", None) or self._template()
        return self._strategy().has_decision(inner)

    @available_if(_has_decision)
    def decision_function(self, X):
        """The trained model's decision scores (not for ``"smoothing"``).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        return self._strategy().decision_function(self, X)

    def _view(self):
        return self._strategy().view(self)

    def _tree_ensemble(self):
        """The fitted trees (the tree attacks read them); only for the tree methods."""
        check_is_fitted(self, "estimator_")
        return self._strategy().tree_ensemble(self)
