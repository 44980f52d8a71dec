"""Adversarial training: PGD-AT, fast FGSM-AT and TRADES as one meta-estimator."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import clone
from sklearn.utils.validation import has_fit_parameter

from ..attacks import FGSMAttack, PGDAttack
from ..attacks._white_box import WhiteBoxAttack
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    StrOptions,
    _check_sample_weight,
    _fit_context,
)
from ._base import BaseDefense, fresh_classifier, is_jax_model
from .._core.train import AdversarialObjective, TradesObjective

__all__ = ["AdversarialTrainingClassifier"]


def default_attack():
    """The attack used when none is given: ``PGDAttack()`` (L-inf, eps=0.1, 10 steps)."""
    return PGDAttack()


def check_budget(attack, name="attack"):
    """The attack's ``eps``, or a clear error if it has no bounded budget."""
    eps = attack.get_params(deep=False).get("eps")
    if eps is None:
        raise ValueError(
            f"`{name}` must be a bounded attack with a perturbation budget `eps`, "
            f"e.g. PGDAttack(eps=0.1). Got {type(attack).__name__}, which has no eps, "
            "instead. Minimal-distance attacks (DeepFool, Carlini-Wagner) are for "
            "evaluation, not for training.")
    return float(eps)


def _like(X, values):
    """``values`` as a DataFrame with ``X``'s columns when ``X`` is one."""
    if hasattr(X, "columns"):
        import pandas as pd

        return pd.DataFrame(values, columns=X.columns)
    return values


class AdversarialTrainingClassifier(BaseDefense):
    """Adversarial training: fit a classifier on its own worst-case inputs.

    Three methods, one estimator:

    - ``"pgd"``: PGD adversarial training (Madry et al. 2018), minimising
      ``(1 - ratio) * CE(x) + ratio * CE(x_adv)`` where ``x_adv`` is a PGD
      attack on the current model within the attack's budget;
    - ``"fgsm"``: fast adversarial training (Wong et al. 2020), the same loss
      with ``x_adv`` one FGSM step of ``1.25 * eps`` (or the attack's
      ``step_size``) from a uniformly random start, within the attack's
      ``eps``, ``norm``, ``loss``, ``constraints`` and ``feature_scale``
      (whatever the attack's class: this method asks for that step);
    - ``"trades"``: TRADES (Zhang et al. 2019), minimising
      ``CE(x) + beta * KL(p(x) || p(x_adv))`` where ``x_adv`` maximises the
      KL divergence; ``beta`` trades clean for robust accuracy.

    **With a skadv model inside** (:class:`~skadv.models.MLPClassifier`,
    :class:`~skadv.models.LogisticRegression`), the attack runs inside the
    model's compiled training step (the shared training engine): one compiled
    epoch per data shape, re-used across budgets and ``beta`` (they are traced,
    so ``GridSearchCV`` over ``attack__eps`` or ``beta`` does not recompile).
    The training step runs the compiled plan of the very attack given
    (``PGDAttack``, ``FGSMAttack`` or ``AutoPGDAttack``, with all its options
    and its ``constraints`` -- bounds, immutable, increase/decrease-only
    features, linear relations and derived features -- projected in every
    step as :meth:`transform` does); an attack without a plan (black-box,
    tree, wrappers) raises a ``ValueError`` rather than being replaced by
    another. Integer and one-hot features the budget can move are rounded by
    the attack's final float64 repair, which a compiled step cannot run: they
    raise unless ``relax_discrete=True``. The inner model's ``max_iter``,
    ``batch_size``, ``learning_rate_init``, ``random_state`` and stopping rule
    define the training (its ``early_stopping`` monitors clean validation
    accuracy).

    **With any other scikit-learn classifier** (e.g.
    ``HistGradientBoostingClassifier``) training falls back to
    ``n_rounds`` augmentation rounds: fit, attack the fitted model with
    ``attack`` itself (white-box when :func:`skadv.as_differentiable` accepts
    the model; otherwise ``attack`` must be a black-box or transfer attack),
    add the adversarial rows and refit on the clean rows (weight
    ``1 - ratio``) and all adversarial rows so far (total weight ``ratio``).
    This is much weaker than fused training: the model sees a few fixed sets
    of adversarial rows, each aimed at an earlier model, not a fresh attack at
    every step; with few rounds or a large ``eps`` it can even lower the
    robust accuracy, so measure it (:func:`skadv.metrics.robust_accuracy`).
    ``method="trades"`` is not available.

    Parameters
    ----------
    estimator : classifier, default=None
        The model to train; cloned. ``None`` means
        ``skadv.models.MLPClassifier()``.
    attack : attack transformer, default=None
        A budgeted attack (it must have ``eps``): ``PGDAttack``,
        ``FGSMAttack``, ``AutoPGDAttack``, or for augmentation rounds any
        skadv attack. ``None`` means ``PGDAttack()`` (L-inf, ``eps=0.1``,
        10 steps). Its ``estimator`` is ignored. ``eps=0`` trains without
        attack (the undefended baseline of a grid).
    method : {"pgd", "fgsm", "trades"}, default="pgd"
        Training objective, see above.
    ratio : float in [0, 1] or "auto", default="auto"
        Weight of the adversarial loss for ``"pgd"`` and ``"fgsm"`` (1:
        adversarial rows only). ``"auto"`` is 1 for fused training, as in
        Madry et al., and 0.5 for augmentation rounds, whose fixed sets of
        adversarial rows alone make a worse model than with the clean rows.
        Ignored by ``"trades"``.
    beta : float >= 0, default=6.0
        TRADES' weight of the robustness term (Zhang et al. use 1 to 6).
        Ignored by the other methods.
    warmup : int >= 0, default=0
        Epochs (or augmentation rounds) over which ``eps`` (and the attack's
        step length) grows linearly from 0 to its value; 0 starts at full
        strength.
    n_rounds : int >= 1, default=5
        Augmentation rounds, for estimators that are not skadv models.
    relax_discrete : bool, default=False
        Fused training only: let integer and one-hot features that the
        attack's budget can move take real values inside the training attack
        (the relaxation every attack step uses; the attack's final rounding is
        skipped). False raises a ``ValueError`` for such constraints.

    Attributes
    ----------
    estimator_ : classifier
        The fitted, adversarially trained model; predictions are its.
    training_ : {"fused", "augmentation"}
        How it was trained.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    See Also
    --------
    skadv.metrics.make_robust_scorer : score candidates of a grid search under attack.
    skadv.evaluation.check_gradient_masking : check that the robustness is real.

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu. "Towards Deep
       Learning Models Resistant to Adversarial Attacks", ICLR 2018.
    .. [2] E. Wong, L. Rice, J. Z. Kolter. "Fast is better than free: Revisiting
       adversarial training", ICLR 2020.
    .. [3] H. Zhang, Y. Yu, J. Jiao, E. Xing, L. El Ghaoui, M. Jordan.
       "Theoretically Principled Trade-off between Robustness and Accuracy",
       ICML 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import PGDAttack
    >>> from skadv.defenses import AdversarialTrainingClassifier
    >>> from skadv.metrics import robust_accuracy
    >>> from skadv.models import MLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=30,
    ...                     learning_rate_init=0.01, random_state=0)
    >>> plain = mlp.fit(X, y)
    >>> robust = AdversarialTrainingClassifier(mlp, attack=PGDAttack(eps=0.5)).fit(X, y)
    >>> attack = PGDAttack(eps=0.5, steps=20, random_state=0)
    >>> bool(robust_accuracy(robust, X, y, attack) > robust_accuracy(plain, X, y, attack))
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "predict"]), None],
        "attack": [HasMethods(["fit", "transform"]), None],
        "method": [StrOptions({"pgd", "fgsm", "trades"})],
        "ratio": [Interval(Real, 0, 1, closed="both"), StrOptions({"auto"})],
        "beta": [Interval(Real, 0, None, closed="left")],
        "warmup": [Interval(Integral, 0, None, closed="left")],
        "n_rounds": [Interval(Integral, 1, None, closed="left")],
        "relax_discrete": ["boolean"],
    }

    def __init__(self, estimator=None, *, attack=None, method="pgd", ratio="auto",
                 beta=6.0, warmup=0, n_rounds=5, relax_discrete=False):
        self.estimator = estimator
        self.attack = attack
        self.method = method
        self.ratio = ratio
        self.beta = beta
        self.warmup = warmup
        self.n_rounds = n_rounds
        self.relax_discrete = relax_discrete

    def _ramp(self, t):
        """Fraction of the budget at epoch (or round) ``t`` of the warm-up."""
        return 1.0 if self.warmup == 0 else min(1.0, t / self.warmup)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Train the estimator adversarially.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self : object
        """
        estimator = fresh_classifier(self.estimator, "estimator")
        attack = default_attack() if self.attack is None else clone(self.attack)
        eps = check_budget(attack)
        X_checked, y = self._validate_fit_data(X, y)
        if is_jax_model(estimator):
            self._fit_fused(estimator, attack, eps, X, y, sample_weight)
            self.training_ = "fused"
        else:
            if self.method == "trades":
                raise ValueError(
                    "method='trades' trains with a KL objective and needs a skadv model "
                    f"(skadv.models.MLPClassifier, LogisticRegression). Got "
                    f"{type(estimator).__name__} instead; use method='pgd' for "
                    "augmentation rounds.")
            estimator = self._fit_rounds(estimator, attack, eps, X, X_checked, y,
                                         sample_weight)
            self.training_ = "augmentation"
        self.estimator_ = estimator
        self.classes_ = estimator.classes_
        return self

    def _training_attack(self, attack, eps):
        """The attack fused training runs: ``attack`` itself, or for
        ``method="fgsm"`` the FGSM step of Wong et al. inside its budget."""
        if self.method != "fgsm":
            return attack
        params = attack.get_params(deep=False)
        step = params.get("step_size")
        if step is None:
            # eps=0 (a grid's undefended baseline): no step, FGSM's own default.
            step = 1.25 * eps if eps > 0 else None
        return FGSMAttack(eps=eps, norm=params.get("norm", "inf"),
                          loss=params.get("loss", "ce"), random_start=True,
                          step_size=step,
                          constraints=params.get("constraints"),
                          feature_scale=params.get("feature_scale"))

    def _fused_plan(self, attack, X, n_classes):
        """The compiled plan of the attack fused training runs on rows ``X``.

        Raises a ``ValueError`` for an attack without one (black-box and
        tree attacks, wrappers): fused training never reinterprets an attack
        as another. Discrete features the budget can move raise too, unless
        ``relax_discrete``.
        """
        if not isinstance(attack, WhiteBoxAttack) or not hasattr(attack, "_core_options"):
            raise ValueError(
                f"Fused adversarial training runs the attack inside the compiled "
                f"training step, which needs a white-box attack with a compiled plan: "
                f"PGDAttack, FGSMAttack or AutoPGDAttack. Got {type(attack).__name__} "
                f"instead. (Black-box and tree attacks train estimators that are not "
                f"skadv models, in augmentation rounds.)")
        plan = attack._training_plan(X, n_classes, getattr(self, "feature_names_in_", None))
        c = plan.constraints
        discrete = (np.asarray(c.integer, bool) | (np.asarray(c.group) >= 0)) \
            & np.asarray(c.mutable, bool)
        if discrete.any() and not self.relax_discrete:
            raise ValueError(
                f"The attack's constraints hold {int(discrete.sum())} integer or one-hot "
                f"feature(s) that its budget can move. The attack rounds them in its "
                f"final float64 repair, which cannot run inside a compiled training "
                f"step. Pass relax_discrete=True to train against the attack with "
                f"those features relaxed to real values (every other constraint "
                f"kept), or make them immutable.")
        return plan

    def _fit_fused(self, estimator, attack, eps, X, y, sample_weight):
        Xv, yv = estimator._validate_Xy(X, y, reset=True)
        plan = self._fused_plan(self._training_attack(attack, eps),
                                  Xv.astype(np.float64), len(np.unique(yv)))
        hp = {"attack": plan, "ramp": 1.0}
        if self.method == "trades":
            objective = TradesObjective()
            hp["beta"] = self.beta
        else:
            hp["ratio"] = 1.0 if self.ratio == "auto" else float(self.ratio)
            # ratio 1 (Madry et al.'s PGD-AT, the default): the clean term's
            # weight is 0, so its pass over the clean rows is not computed.
            objective = AdversarialObjective(adversarial_only=hp["ratio"] == 1.0)
        schedule = None
        if self.warmup:
            def schedule(epoch):
                return {"ramp": self._ramp(epoch)}
        estimator._fit_objective(Xv, yv, sample_weight, objective=objective, hp=hp,
                                 hp_schedule=schedule)

    def _fit_rounds(self, estimator, attack, eps, X, X_checked, y, sample_weight):
        sw = _check_sample_weight(sample_weight, X_checked)
        ratio = 0.5 if self.ratio == "auto" else self.ratio
        weighted = has_fit_parameter(estimator, "sample_weight")
        model = clone(estimator).fit(X, y, **({"sample_weight": sw} if weighted and
                                              sample_weight is not None else {}))
        adversarial = []
        for r in range(self.n_rounds):
            atk = clone(attack).set_params(estimator=model, eps=eps * self._ramp(r + 1))
            adversarial.append(atk.fit_transform(X, y))
            k = len(adversarial)
            parts = ([] if ratio == 1 else [X_checked]) + adversarial
            weights = ([] if ratio == 1 else [(1 - ratio) * sw]) + [ratio / k * sw] * k
            X_aug = np.concatenate(parts, axis=0)
            y_aug = np.concatenate([y] * len(parts))
            w_aug = np.concatenate(weights)
            fit_params = {}
            if not np.allclose(w_aug, w_aug[0]):
                if not weighted:
                    raise ValueError(
                        f"ratio={ratio} (or sample_weight) weights clean and "
                        f"adversarial rows differently, but "
                        f"{type(estimator).__name__}.fit does not accept sample_weight. "
                        "Use ratio=1.0 (adversarial rows only, equally weighted) or an "
                        "estimator that accepts sample_weight.")
                fit_params["sample_weight"] = w_aug
            model = clone(estimator).fit(_like(X, X_aug), y_aug, **fit_params)
        return model
