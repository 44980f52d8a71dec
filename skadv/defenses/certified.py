"""Certified defenses: randomized smoothing, IBP / CROWN-IBP training, exact certificates."""

import warnings
from dataclasses import dataclass, replace
from numbers import Integral, Real

import numpy as np
import jax
import jax.numpy as jnp
from sklearn.base import clone
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import has_fit_parameter

from ..attacks._base import canonical_norm, resolve_budget
from ..models._differentiable import Chain, as_differentiable
from ..utils._jax import map_batches
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ..verify import as_layers, certified_radius, forward, min_adversarial_linf
from ..verify.smoothing import certify_counts, noise, noise_counts, row_keys_from_rows
from ._base import BaseDefense, check_classifier, default_model, is_jax_model
from .._core.train import BoundObjective, NoiseObjective

__all__ = ["CertifiedClassifier"]

_METHODS = ("smoothing", "ibp", "crown-ibp", "linear", "milp")
# Independent PRNG streams of the smoothing sampler (Cohen et al.'s selection
# and estimation draws must be independent of each other).
_SELECT, _ESTIMATE, _VIEW = 0, 1, 2
# Rows per compiled bound computation; the bisection holds a few arrays of
# (rows, n_spec, width) per layer.
_BOUND_ROWS = 256


@dataclass(frozen=True)
class SmoothedSoftmax:
    """Log of the mean softmax of ``fn`` over fixed noise: a differentiable smoothed model.

    ``params = (inner, noise)`` with ``noise`` of shape ``(m, n_features)``
    (already scaled by sigma). Its argmax approximates the smoothed
    classifier's (Salman et al. 2019's "soft" smoothed classifier with ``m``
    common noise draws), so gradient attacks aim at the smoothed decision and
    not at the base model's.
    """

    fn: object

    def __call__(self, params, X):
        inner, draws = params
        n, d = X.shape
        Z = (X[:, None, :] + draws[None]).reshape(-1, d)
        logp = jax.nn.log_softmax(self.fn(inner, Z), axis=-1).reshape(n, draws.shape[0], -1)
        return jax.scipy.special.logsumexp(logp, axis=1) - jnp.log(draws.shape[0])


def _to_float64(layers):
    return [{"W": np.asarray(layer["W"], np.float64), "b": np.asarray(layer["b"], np.float64)}
            for layer in layers]


def _scaled_layers(layers, scale):
    """The layers seen from ``u = x / scale``: the first weight rows times ``scale``."""
    layers = _to_float64(layers)
    layers[0] = {"W": scale[:, None] * layers[0]["W"], "b": layers[0]["b"]}
    return layers


def _linear_layers(diff):
    """The single affine layer of a linear model (scaler folded in), or ``None``."""
    fn, params = diff.fn, diff.params
    parts = tuple(fn.fns) if isinstance(fn, Chain) else (fn,)
    dense = parts[-1]
    dense_params = tuple(params)[-1] if isinstance(fn, Chain) else params
    if type(dense).__name__ != "DenseNet" or len(dense_params) != 1:
        return None
    # One layer has no activation at all, so it is a ReLU network too.
    relu = replace(dense, activation="relu")
    fn = Chain(parts[:-1] + (relu,)) if isinstance(fn, Chain) else relu
    try:
        return as_layers(fn, params, n_features=diff.n_features_in_)
    except TypeError:
        return None


def _bound_network_error(estimator, method):
    return TypeError(
        f"method={method!r} trains with bounds inside skadv's training engine and needs "
        f"skadv.models.MLPClassifier(activation='relu'). Got {estimator!r} instead. "
        "For a linear model use method='linear' (exact certificates); to certify an "
        "already trained scikit-learn ReLU MLPClassifier use method='milp'.")


class CertifiedClassifier(BaseDefense):
    """A classifier with certified robustness: ``certify(X) -> (prediction, radius)``.

    Each row gets a radius within which no perturbation can change its
    prediction — proven, not estimated by attacking. Five methods:

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
        (``skadv.models.LogisticRegression()`` for ``method="linear"``).
    method : {"smoothing", "ibp", "crown-ibp", "linear", "milp"}, default="smoothing"
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
    norm : {"inf", 2} or None, default=None
        Norm of the radius. ``None``: 2 for ``"smoothing"`` (its only norm),
        ``"inf"`` otherwise. ``"linear"``, ``"ibp"`` and ``"crown-ibp"``
        certify either (the latter two always train on L∞ balls); ``"milp"``
        only L∞.
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
        Largest radius searched by ``"ibp"``, ``"crown-ibp"`` and ``"milp"``; a
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
        "method": [StrOptions(set(_METHODS))],
        "eps": [Interval(Real, 0, None, closed="left")],
        "sigma": [Interval(Real, 0, None, closed="neither")],
        "n0": [Interval(Integral, 1, None, closed="left")],
        "n": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, 1, closed="neither")],
        "norm": [StrOptions({"inf", "linf", "l2", "2"}), Options(Real, {2, np.inf}), None],
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
    def _resolve_norm(self):
        if self.norm is None:
            return 2 if self.method == "smoothing" else "inf"
        norm = canonical_norm(self.norm)
        if self.method == "smoothing" and norm != 2:
            raise ValueError(
                f"method='smoothing' certifies L2 radii (Gaussian noise); `norm` must be 2 "
                f"or None. Got norm={self.norm!r} instead.")
        if self.method == "milp" and norm != "inf":
            raise ValueError(
                f"method='milp' certifies L∞ radii; `norm` must be 'inf' or None. Got "
                f"norm={self.norm!r} instead. Use method='crown-ibp' or 'linear' for L2.")
        return norm

    def _template(self):
        if self.estimator is not None:
            return clone(self.estimator)
        if self.method == "linear":
            from ..models import LogisticRegression

            return LogisticRegression()
        return default_model()

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
        estimator = self._template()
        check_classifier(estimator, "estimator")
        X_checked, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        X_checked = X_checked.astype(np.float64)
        self.norm_ = self._resolve_norm()
        self.scale_, _ = resolve_budget(None, self.feature_scale, X_checked,
                                        getattr(self, "feature_names_in_", None))
        rng = check_random_state(self.random_state)
        self._seed_ = int(rng.randint(2**31 - 1))

        if self.method == "smoothing":
            self.training_ = self._fit_smoothing(estimator, X, X_checked, y, sample_weight, rng)
        elif self.method in ("ibp", "crown-ibp"):
            self._fit_bounds(estimator, X, y, sample_weight)
            self.training_ = self.method
        else:
            fit_params = {}
            if sample_weight is not None:
                if not has_fit_parameter(estimator, "sample_weight"):
                    raise ValueError(
                        f"{type(estimator).__name__}.fit does not accept sample_weight.")
                fit_params["sample_weight"] = sample_weight
            estimator.fit(X, y, **fit_params)
            self.training_ = "plain"
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        self.layers_ = None if self.method == "smoothing" else self._certified_layers(estimator)
        self.max_radius_ = None
        if self.method in ("ibp", "crown-ibp", "milp"):
            self.max_radius_ = (float(self.max_radius) if self.max_radius is not None
                                else self._diameter(X_checked))
        return self

    def _diameter(self, X):
        span = (X.max(axis=0) - X.min(axis=0)) / self.scale_
        size = np.max(span) if self.norm_ == "inf" else np.linalg.norm(span)
        return float(size) if size > 0 else 1.0

    def _fit_smoothing(self, estimator, X, X_checked, y, sample_weight, rng):
        noise_scale = self.sigma * self.scale_
        if is_jax_model(estimator):
            Xv, yv = estimator._validate_Xy(X, y, reset=True)
            estimator._fit_objective(Xv, yv, sample_weight, objective=NoiseObjective(),
                                     hp={"noise_scale": noise_scale})
            return "noise"
        n, d = X_checked.shape
        draws = rng.standard_normal((self.n_augment, n, d)) * noise_scale
        X_aug = (X_checked[None] + draws).reshape(-1, d)
        if hasattr(X, "columns"):
            import pandas as pd

            X_aug = pd.DataFrame(X_aug, columns=X.columns)
        fit_params = {}
        if sample_weight is not None:
            if not has_fit_parameter(estimator, "sample_weight"):
                raise ValueError(f"{type(estimator).__name__}.fit does not accept sample_weight.")
            sw = _check_sample_weight(sample_weight, X_checked)
            fit_params["sample_weight"] = np.tile(sw, self.n_augment)
        estimator.fit(X_aug, np.tile(y, self.n_augment), **fit_params)
        return "noise augmentation"

    def _ramp_fraction(self, epoch):
        if epoch < self.warmup:
            return 0.0
        if self.ramp == 0:
            return 1.0
        return min(1.0, (epoch - self.warmup + 1) / self.ramp)

    def _fit_bounds(self, estimator, X, y, sample_weight):
        if not is_jax_model(estimator):
            raise _bound_network_error(estimator, self.method)
        Xv, yv = estimator._validate_Xy(X, y, reset=True)
        n_classes = len(np.unique(yv))
        try:
            as_layers(estimator._network(n_classes),
                      estimator._init_params(jax.random.PRNGKey(0), Xv.shape[1], n_classes))
        except TypeError:
            raise _bound_network_error(estimator, self.method) from None
        max_iter = estimator.get_params().get("max_iter")
        if max_iter is not None and self.eps > 0 and max_iter < self.warmup + self.ramp:
            warnings.warn(
                f"The inner model's max_iter={max_iter} ends before warmup + ramp = "
                f"{self.warmup + self.ramp} epochs: training stops before eps reaches "
                f"{self.eps}. Raise max_iter or shorten the ramp.", UserWarning)
        eps, kappa = float(self.eps), float(self.kappa)

        def schedule(epoch):
            t = self._ramp_fraction(epoch)
            return {"eps": eps * t, "kappa": 1.0 - t * (1.0 - kappa), "beta": 1.0 - t}

        hp = {"eps": eps, "kappa": kappa, "beta": 0.0, "scale": self.scale_}
        estimator._fit_objective(Xv, yv, sample_weight, objective=BoundObjective(self.method),
                                 hp=hp, hp_schedule=schedule)

    def _certified_layers(self, estimator):
        """The fitted network as float64 layers on ``X / scale_``, or a clear error."""
        try:
            diff = as_differentiable(estimator)
        except TypeError as exc:
            raise TypeError(
                f"method={self.method!r} needs a model skadv can read: {exc}") from None
        if self.method == "linear":
            layers = _linear_layers(diff)
            if layers is None:
                raise TypeError(
                    f"method='linear' needs a linear classifier (LogisticRegression, "
                    f"LinearSVC, SGDClassifier, ..., possibly after a scaler). Got "
                    f"{type(estimator).__name__}, whose decision function is not linear, "
                    "instead. Use method='milp' for a small ReLU MLP.")
        else:
            try:
                layers = as_layers(diff)
            except TypeError:
                raise TypeError(
                    f"method={self.method!r} certifies ReLU multilayer perceptrons (skadv "
                    f"or scikit-learn MLPClassifier(activation='relu'), possibly after a "
                    f"scaler). Got {type(estimator).__name__} ({diff.fn!r}) instead.") from None
        return _scaled_layers(layers, self.scale_)

    # -- smoothing sampler ---------------------------------------------------
    def _draws_per_step(self, n_samples):
        return min(n_samples, self.batch_size)

    def _counts(self, X, stream, n_samples):
        """Class counts ``(n_rows, n_classes)`` of the base model over noisy copies of ``X``."""
        X = np.asarray(X, np.float32)
        n_classes, d = len(self.classes_), X.shape[1]
        keys = np.asarray(row_keys_from_rows(jax.random.PRNGKey(self._seed_), X, stream))
        sigma = jnp.asarray(self.sigma * self.scale_, jnp.float32)
        draws = self._draws_per_step(n_samples)
        rows = max(1, self.batch_size // draws)
        try:
            diff = as_differentiable(self.estimator_)
        except TypeError:
            diff = None
        if diff is not None:
            def batch(xb, kb):
                return noise_counts(diff.fn, diff.params, jnp.asarray(xb), jnp.asarray(kb),
                                    sigma, n_samples=n_samples, draws=draws,
                                    n_classes=n_classes)

            return map_batches(batch, [X, keys], rows, concurrent=True)
        # A black-box model: the same draws, handed to its predict in large batches.
        counts = np.zeros((X.shape[0], n_classes), np.int64)
        for start in range(0, X.shape[0], rows):
            xb, kb = X[start:start + rows], jnp.asarray(keys[start:start + rows])
            for step in range(-(-n_samples // draws)):
                m = min(draws, n_samples - step * draws)
                Z = xb[:, None, :] + np.asarray(sigma * noise(kb, step, draws, d))[:, :m]
                pred = self._inner_predict(Z.reshape(-1, d).astype(np.float64))
                idx = np.searchsorted(self.classes_, pred).reshape(len(xb), m)
                flat = (np.arange(len(xb))[:, None] * n_classes + idx).ravel()
                counts[start:start + len(xb)] += np.bincount(
                    flat, minlength=len(xb) * n_classes).reshape(len(xb), n_classes)
        return counts

    def _inner_predict(self, X):
        names = getattr(self, "feature_names_in_", None)
        if names is not None:
            import pandas as pd

            X = pd.DataFrame(X, columns=names)
        return np.asarray(self.estimator_.predict(X))

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
        X_num = X_num.astype(np.float64)
        if self.method == "smoothing":
            counts0 = self._counts(X_num, _SELECT, self.n0)
            counts = self._counts(X_num, _ESTIMATE, self.n)
            top, radius = certify_counts(counts0, counts, self.sigma, self.alpha)
            return self.classes_[top], np.asarray(radius, np.float64)
        prediction = np.asarray(self.estimator_.predict(X))
        label = np.searchsorted(self.classes_, prediction)
        U = X_num / self.scale_
        if self.method == "linear":
            radius = self._linear_radius(X, U, label)
        elif self.method == "milp":
            radius = self._milp_radius(U, label)
        else:
            radius = self._bound_radius(U, label)
        return prediction, radius

    def _margins(self, U, label):
        """Float64 margins ``z_label - z_j`` (n, k) of the network, ``inf`` at ``j = label``."""
        z = forward(self.layers_, U)
        margins = z[np.arange(len(label)), label][:, None] - z
        margins[np.arange(len(label)), label] = np.inf
        return margins

    def _linear_radius(self, X, U, label):
        W = self.layers_[0]["W"]
        if hasattr(self.estimator_, "decision_function"):
            # The model's own float64 scores: the numerator is then exact for
            # the decision the model makes, not a float32 copy of it.
            scores = np.asarray(self.estimator_.decision_function(X), np.float64)
            z = np.column_stack([np.zeros_like(scores), scores]) if scores.ndim == 1 else scores
            margins = z[np.arange(len(label)), label][:, None] - z
            margins[np.arange(len(label)), label] = np.inf
        else:
            margins = self._margins(U, label)
        # ||w_c - w_j||_* for every pair of classes, then one row per sample
        dual = 1 if self.norm_ == "inf" else 2
        pairs = np.linalg.norm(W[:, :, None] - W[:, None, :], ord=dual, axis=0)
        denom = pairs[label]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(denom > 0, margins / denom, np.where(margins > 0, np.inf, -np.inf))
        radius = np.min(ratio, axis=1)
        return np.where(radius > 0, radius, -1.0)

    def _milp_radius(self, U, label):
        centre = np.min(self._margins(U, label), axis=1) > 0
        radius = np.full(len(label), -1.0)
        for i in np.flatnonzero(centre):  # one MILP per row: there is no batched MILP
            r, _ = min_adversarial_linf(self.layers_, U[i], int(label[i]),
                                        max_eps=self.max_radius_)
            radius[i] = min(r, self.max_radius_)
        return radius

    def _bound_radius(self, U, label):
        with jax.enable_x64(True):
            layers = [{k: jnp.asarray(v) for k, v in layer.items()} for layer in self.layers_]

            def batch(ub, lb):
                return certified_radius(layers, jnp.asarray(ub), jnp.asarray(lb),
                                        self.max_radius_, norm=self.norm_)

            radius = map_batches(batch, [U, label.astype(np.int32)], _BOUND_ROWS)
        return np.asarray(radius, np.float64)

    # -- prediction ---------------------------------------------------------------
    def _votes(self, X):
        check_is_fitted(self, "estimator_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self._counts(X, _SELECT, self.n0)

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
        if self.method == "smoothing":
            votes = self._votes(X)
            return self.classes_[np.argmax(votes, axis=1)]
        check_is_fitted(self, "estimator_")
        validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.estimator_.predict(X)

    def _has_proba(self):
        if self.method == "smoothing":
            return True
        inner = getattr(self, "estimator_", None) or self._template()
        return hasattr(inner, "predict_proba")

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
        if self.method == "smoothing":
            return self._votes(X) / float(self.n0)
        check_is_fitted(self, "estimator_")
        validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.estimator_.predict_proba(X)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (``-inf`` for classes without a vote)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def _has_decision(self):
        if self.method == "smoothing":
            return False
        inner = getattr(self, "estimator_", None) or self._template()
        return hasattr(inner, "decision_function")

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
        check_is_fitted(self, "estimator_")
        validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.estimator_.decision_function(X)

    def _view(self):
        diff = as_differentiable(self._inner)
        if self.method != "smoothing":
            return diff.fn, diff.params
        key = jax.random.fold_in(jax.random.PRNGKey(self._seed_), _VIEW)
        draws = jax.random.normal(key, (self.n0, self.n_features_in_), jnp.float32)
        return SmoothedSoftmax(diff.fn), (diff.params, draws * jnp.asarray(
            self.sigma * self.scale_, jnp.float32))
