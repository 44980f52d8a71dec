"""White-box attacks: scikit-learn transformers over the pure cores in ``_core``."""

from numbers import Integral, Real

import numpy as np

from .._core import attacks as _core
from .._core import minimal as _minimal
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import BaseAttack
from ._white_box import WhiteBoxAttack, step_norm, fill_doc

__all__ = [
    "AutoPGDAttack",
    "CarliniWagnerL2Attack",
    "DeepFoolAttack",
    "FGSMAttack",
    "PGDAttack",
    "WhiteBoxAttack",
]


@fill_doc
class FGSMAttack(WhiteBoxAttack):
    """Fast gradient sign method: one step of size ``eps`` along the gradient.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim; anything :func:`skadv.as_differentiable` accepts.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2, 1}, default="inf"
        ``"inf"`` moves every feature by ``eps`` along the gradient's sign (the
        original FGSM); ``2`` along the normalised gradient (FGM); ``1`` along
        the top 10% of coordinates.
    loss : {"ce", "cw", "dlr"}, default="ce"
        Loss whose gradient is followed.
    random_start : bool, default=False
        Start at a uniform point in the ball (Wong et al. 2020).
    step_size : float, default=None
        Step length; ``eps`` when None (``1.25 * eps`` is usual with a random
        start).
    {constraints}
    random_state : int, RandomState instance or None, default=None
        Seeds the random start.
    {batching}

    Attributes
    ----------
    {attributes}

    References
    ----------
    .. [1] I. Goodfellow, J. Shlens, C. Szegedy. "Explaining and Harnessing
       Adversarial Examples", ICLR 2015.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import FGSMAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> attack = FGSMAttack(clf, eps=0.5, feature_scale="std")
    >>> X_adv = attack.fit_transform(X, y)
    >>> bool(clf.score(X_adv, y) < clf.score(X, y))
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "loss": [StrOptions({"ce", "cw", "dlr"})],
        "random_start": ["boolean"],
        "step_size": [Interval(Real, 0, None, closed="neither"), None],
    }
    _supported_norms = ("inf", 2, 1)

    def __init__(self, estimator=None, *, eps=0.1, norm="inf", loss="ce",
                 random_start=False, step_size=None, constraints=None,
                 feature_scale=None, targeted=False, random_state=None, batch_size=1024,
                 verbose=False, n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.loss = loss
        self.random_start = random_start
        self.step_size = step_size
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _core_options(self, norm, arrays):
        step = self.eps if self.step_size is None else self.step_size
        return (_core.fgsm, {"eps": self.eps, "step_size": step},
                {"norm": norm, "loss": self.loss, "targeted": self.targeted,
                 "random_start": self.random_start})


@fill_doc
class PGDAttack(WhiteBoxAttack):
    """Projected gradient descent with random restarts (Madry et al. 2018).

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim; anything :func:`skadv.as_differentiable` accepts.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2, 1}, default="inf"
    steps : int, default=10
        Iterations per restart.
    step_size : float, default=None
        Step length in ``norm``; ``2.5 * eps / steps`` when None.
    restarts : int, default=1
        Random restarts; per row the best result is kept (adversarial first,
        then the higher loss), checked after every step.
    random_start : bool, default=True
        Start the first restart at a uniform point of the ball (later restarts
        always start at random).
    loss : {"ce", "cw", "dlr"}, default="ce"
        Cross-entropy, the Carlini-Wagner margin or the difference of logits
        ratio (>= 3 classes).
    step_schedule : {"constant", "cosine"}, default="constant"
        Step length over the iterations.
    {constraints}
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts; the same seed gives the same output.
    {batching}

    Attributes
    ----------
    {attributes}

    References
    ----------
    .. [1] A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu. "Towards Deep
       Learning Models Resistant to Adversarial Attacks", ICLR 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import PGDAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), MLPClassifier(random_state=0)).fit(X, y)
    >>> attack = PGDAttack(clf, eps=0.5, feature_scale="std", steps=20, random_state=0)
    >>> X_adv = attack.fit_transform(X, y)
    >>> bool(attack.success_.mean() > 0.5)
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "steps": [Interval(Integral, 1, None, closed="left")],
        "step_size": [Interval(Real, 0, None, closed="neither"), None],
        "restarts": [Interval(Integral, 1, None, closed="left")],
        "random_start": ["boolean"],
        "loss": [StrOptions({"ce", "cw", "dlr"})],
        "step_schedule": [StrOptions({"constant", "cosine"})],
    }
    _supported_norms = ("inf", 2, 1)

    def __init__(self, estimator=None, *, eps=0.1, norm="inf", steps=10, step_size=None,
                 restarts=1, random_start=True, loss="ce", step_schedule="constant",
                 constraints=None, feature_scale=None, targeted=False, random_state=None,
                 batch_size=1024, verbose=False, n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.steps = steps
        self.step_size = step_size
        self.restarts = restarts
        self.random_start = random_start
        self.loss = loss
        self.step_schedule = step_schedule
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _core_options(self, norm, arrays):
        step = 2.5 * self.eps / self.steps if self.step_size is None else self.step_size
        return (_core.pgd, {"eps": self.eps, "step_size": step},
                {"norm": step_norm(norm, arrays), "loss": self.loss,
                 "targeted": self.targeted, "steps": self.steps, "restarts": self.restarts,
                 "random_start": self.random_start, "schedule": self.step_schedule})


@fill_doc
class AutoPGDAttack(WhiteBoxAttack):
    """AutoPGD (Croce & Hein 2020): PGD with momentum and a step size it tunes itself.

    The step starts at ``2 * eps`` and is halved at fixed checkpoints for the
    rows whose loss stopped rising, which then restart from their best point;
    there is no step size to choose. With ``loss="dlr"`` (difference of logits
    ratio, >= 3 classes; targeted: >= 4) the attack is invariant to the scale
    of the logits, which defeats some gradient masking.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim; anything :func:`skadv.as_differentiable` accepts.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2, 1}, default="inf"
        L1 uses the sparse steepest-ascent direction of :class:`PGDAttack`.
    steps : int, default=100
        Iterations per restart (one gradient each).
    restarts : int, default=1
        Random restarts; per row the best result is kept.
    loss : {"ce", "dlr", "cw"}, default="ce"
        Cross-entropy, difference of logits ratio (targeted DLR when
        ``targeted``) or the Carlini-Wagner margin.
    {constraints}
    random_state : int, RandomState instance or None, default=None
        Seeds the random starts; the same seed gives the same output.
    {batching}

    Attributes
    ----------
    {attributes}

    See Also
    --------
    PGDAttack : fixed step size and schedule.

    References
    ----------
    .. [1] F. Croce, M. Hein. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks", ICML 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_wine
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import AutoPGDAttack
    >>> X, y = load_wine(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), MLPClassifier(random_state=0)).fit(X, y)
    >>> attack = AutoPGDAttack(clf, eps=1.0, loss="dlr", feature_scale="std",
    ...                        steps=20, random_state=0)
    >>> X_adv = attack.fit_transform(X, y)
    >>> clf.score(X, y), bool(clf.score(X_adv, y) < 0.2)
    (1.0, True)
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "steps": [Interval(Integral, 1, None, closed="left")],
        "restarts": [Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions({"ce", "cw", "dlr"})],
    }
    _supported_norms = ("inf", 2, 1)

    def __init__(self, estimator=None, *, eps=0.1, norm="inf", steps=100, restarts=1,
                 loss="ce", constraints=None, feature_scale=None, targeted=False,
                 random_state=None, batch_size=1024, verbose=False, n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.steps = steps
        self.restarts = restarts
        self.loss = loss
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _core_options(self, norm, arrays):
        return (_core.apgd, {"eps": self.eps},
                {"norm": step_norm(norm, arrays), "loss": self.loss,
                 "targeted": self.targeted, "steps": self.steps, "restarts": self.restarts})


@fill_doc
class CarliniWagnerL2Attack(WhiteBoxAttack):
    """Carlini-Wagner L2: the smallest L2 perturbation that changes the prediction.

    Minimises ``||x' - x||_2^2 + c * max(confidence - margin(x'), 0)`` with Adam,
    bisecting the trade-off ``c`` per row, then moves each adversarial row back
    along ``x -> x'`` to the victim's decision boundary (one ``predict`` per
    bisection step), so the returned distance is the attack's, not its last
    step's. Box and immutable constraints are imposed on every iterate
    (projected Adam), so the attack works on tabular data with arbitrary
    bounds rather than only on the ``[0, 1]`` box of the paper's change of
    variables.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim; anything :func:`skadv.as_differentiable` accepts.
    eps : float, default=None
        Optional L2 budget; ``None`` means unbounded (the attack minimises the
        distance anyway).
    confidence : float, default=0.0
        Margin ``kappa`` by which the adversarial class must win (in logits).
        With a positive value the rows are not pulled back to the boundary.
    learning_rate : float, default=0.1
        Adam's initial step, in the units of ``X`` (or relative, see
        ``feature_scale``); it shrinks per row with the distance found.
    steps : int, default=100
        Adam iterations per value of ``c``.
    binary_search_steps : int, default=9
        Values of ``c`` tried per row.
    initial_const : float, default=0.01
        First value of ``c`` (multiplied by 10 until a row succeeds, then
        bisected).
    abort_early : bool, default=True
        End the iterations for one ``c`` when the objective stops decreasing.
    {constraints}
    random_state : int, RandomState instance or None, default=None
        Ignored (the attack is deterministic); kept for a uniform interface.
    {batching}

    Attributes
    ----------
    {attributes}

    References
    ----------
    .. [1] N. Carlini, D. Wagner. "Towards Evaluating the Robustness of Neural
       Networks", IEEE S&P 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import CarliniWagnerL2Attack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LogisticRegression().fit(X, y)
    >>> attack = CarliniWagnerL2Attack(clf).fit(X)
    >>> X_adv = attack.transform(X[:50], y[:50])
    >>> exact = np.abs(clf.decision_function(X[:50])) / np.linalg.norm(clf.coef_)
    >>> ok = attack.success_ & (clf.predict(X[:50]) == y[:50])
    >>> bool(np.allclose(attack.perturbation_[ok], exact[ok], rtol=0.02))
    True
    """

    _parameter_constraints = {
        **{k: v for k, v in BaseAttack._parameter_constraints.items() if k != "norm"},
        "eps": [Interval(Real, 0, None, closed="left"), None],
        "confidence": [Interval(Real, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "binary_search_steps": [Interval(Integral, 1, None, closed="left")],
        "initial_const": [Interval(Real, 0, None, closed="neither")],
        "abort_early": ["boolean"],
    }
    _supported_norms = (2,)
    # An L2 attack by definition: not a constructor parameter, read by fit.
    norm = 2

    def __init__(self, estimator=None, *, eps=None, confidence=0.0, learning_rate=0.1,
                 steps=100, binary_search_steps=9, initial_const=0.01, abort_early=True,
                 constraints=None, feature_scale=None, targeted=False, random_state=None,
                 batch_size=1024, verbose=False, n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.confidence = confidence
        self.learning_rate = learning_rate
        self.steps = steps
        self.binary_search_steps = binary_search_steps
        self.initial_const = initial_const
        self.abort_early = abort_early
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    @property
    def _bisection_steps(self):
        # A positive confidence asks for a margin: do not walk back to zero.
        return 0 if self.confidence > 0 else 20

    def _core_options(self, norm, arrays):
        return (_minimal.cw_l2,
                {"eps": np.inf if self.eps is None else self.eps,
                 "confidence": self.confidence, "learning_rate": self.learning_rate,
                 "initial_const": self.initial_const},
                {"steps": self.steps, "binary_search_steps": self.binary_search_steps,
                 "targeted": self.targeted, "abort_early": self.abort_early})

    def _generate(self, U, y_idx, key, rows):
        return self._run_minimal(U, y_idx, key, rows)


@fill_doc
class DeepFoolAttack(WhiteBoxAttack):
    """DeepFool: walk to the nearest linearised decision boundary, repeatedly.

    Multiclass; L2 or L-infinity. Each step linearises the victim at the
    current point and jumps to the closest linearised boundary (features the
    constraints hold fixed are left out of the linearisation); the total step
    is enlarged by ``overshoot`` to cross. The overshoot is then removed: each
    adversarial row is bisected back along ``x -> x'`` to the victim's own
    decision boundary (one ``predict`` per bisection step). On a linear model
    the result is the exact minimal perturbation.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim; anything :func:`skadv.as_differentiable` accepts.
    eps : float, default=None
        Optional budget in ``norm``; ``None`` means unbounded.
    norm : {2, "inf"}, default=2
    steps : int, default=50
        Maximum number of linearisation steps.
    overshoot : float, default=0.02
        Relative enlargement of the step, to cross the boundary.
    {constraints}
    random_state : int, RandomState instance or None, default=None
        Ignored (the attack is deterministic); kept for a uniform interface.
    {batching}

    Attributes
    ----------
    {attributes}

    References
    ----------
    .. [1] S.-M. Moosavi-Dezfooli, A. Fawzi, P. Frossard. "DeepFool: a simple and
       accurate method to fool deep neural networks", CVPR 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import DeepFoolAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = LogisticRegression().fit(X, y)
    >>> X_adv = DeepFoolAttack(clf).fit_transform(X)
    >>> exact = np.abs(clf.decision_function(X)) / np.linalg.norm(clf.coef_)
    >>> dist = np.linalg.norm(X_adv - X, axis=1)
    >>> bool(np.allclose(dist, exact, rtol=1e-3))
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "eps": [Interval(Real, 0, None, closed="left"), None],
        "steps": [Interval(Integral, 1, None, closed="left")],
        "overshoot": [Interval(Real, 0, None, closed="left")],
    }
    _supported_norms = (2, "inf")
    _bisection_steps = 20

    def __init__(self, estimator=None, *, eps=None, norm=2, steps=50, overshoot=0.02,
                 constraints=None, feature_scale=None, targeted=False, random_state=None,
                 batch_size=1024, verbose=False, n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.steps = steps
        self.overshoot = overshoot
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _core_options(self, norm, arrays):
        return (_minimal.deepfool,
                {"eps": np.inf if self.eps is None else self.eps,
                 "overshoot": self.overshoot},
                {"norm": norm, "steps": self.steps, "targeted": self.targeted})

    def _generate(self, U, y_idx, key, rows):
        return self._run_minimal(U, y_idx, key, rows)
