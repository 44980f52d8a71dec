"""Evaluating robustness honestly.

:func:`robustness_report` measures accuracy under an ensemble of attacks and
their per-row worst case (AutoAttack's rule) next to certified accuracy;
:func:`check_gradient_masking` asks whether a gradient-based number is
believable at all.
"""

import time
import warnings
from functools import partial
from numbers import Integral

import numpy as np
import jax
import jax.numpy as jnp
from sklearn.base import clone
from sklearn.utils import check_random_state

from ._core.train import cross_entropy
from .attacks import AutoPGDAttack, FGSMAttack, SquareAttack
from .attacks._budget import attack_norm, canonical_norm, resolve_budget
from .attacks.adaptive import run_key
from .constraints import FeatureConstraints
from .exceptions import UnsupportedModelError
from .models._differentiable import as_differentiable
from .utils._jax import map_batches
from .utils._sklearn_compat import check_is_fitted
from .verify.radius import radius_in_norm

__all__ = [
    "EvaluationWarning",
    "RobustnessReport",
    "check_gradient_masking",
    "report_to_markdown",
    "robustness_report",
]


def _pandas():
    """pandas when installed (the ``pandas`` extra), else None."""
    try:
        import pandas
    except ImportError:
        return None
    return pandas


class EvaluationWarning(UserWarning):
    """An evaluation of robustness looks unreliable (AutoAttack-style warning)."""


# symptom -> what it means when it fires
SYMPTOMS = {
    "one_step_beats_iterative":
        "FGSM (one step) finds more adversarial rows than the iterative attack",
    "black_box_beats_white_box":
        "SquareAttack (scores only) finds more than the gradient attack",
    "unbounded_attack_fails":
        "the iterative attack with a huge budget does not reach (almost) 0% accuracy",
    "accuracy_does_not_fall_with_eps":
        "robust accuracy rises, or stays flat, as the budget grows",
    "random_search_beats_gradient":
        "random points in the ball find adversarial rows the gradient attack missed",
    "zero_gradients":
        "the loss gradient with respect to the input is exactly zero for many rows",
}

_EPS_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


@partial(jax.jit, static_argnums=0)
def _input_grad(fn, params, X, y):
    return jax.grad(lambda v: jnp.sum(cross_entropy(fn(params, v), y)))(X)


def _correct_under(estimator, X, y, attack):
    """Per row: still correctly classified after ``attack`` (aimed at ``estimator``)?"""
    atk = clone(attack).set_params(estimator=estimator)
    X_adv = atk.fit_transform(X, y)
    return np.asarray(estimator.predict(X_adv)) == y


def _random_search(estimator, X, y, todo, eps, norm, scale, constraints, arrays,
                   n_random, rng):
    """Rows of ``todo`` where one of ``n_random`` random points of the ball is adversarial.

    The points are vertices of the ball (L-inf: every feature at +-eps; L1:
    one feature at +-eps), where a locally linear model takes its extreme
    values, or uniform on the L2 sphere; all repaired to the constraints.
    """
    found = np.zeros(len(y), dtype=bool)
    idx = np.flatnonzero(todo)
    if len(idx) == 0:
        return found
    Xr = np.repeat(X[idx], n_random, axis=0)
    if norm == "inf":
        delta = rng.choice([-1.0, 1.0], size=Xr.shape)
    elif norm == 2:
        delta = rng.standard_normal(Xr.shape)
        delta /= np.maximum(np.linalg.norm(delta, axis=1, keepdims=True), 1e-12)
    else:
        delta = np.zeros(Xr.shape)
        delta[np.arange(len(Xr)), rng.randint(0, X.shape[1], len(Xr))] = rng.choice(
            [-1.0, 1.0], size=len(Xr))
    candidates = constraints.repair(Xr + eps * delta * scale, Xr, eps=eps, norm=norm,
                                    scale=scale, arrays=arrays)
    wrong = np.asarray(estimator.predict(candidates)) != np.repeat(y[idx], n_random)
    found[idx] = wrong.reshape(len(idx), n_random).any(axis=1)
    return found


def check_gradient_masking(estimator, X, y, eps, *, norm="inf", attack=None,
                           constraints=None, feature_scale=None, unbounded_eps=None,
                           n_random=100, max_queries=1000, tol=0.02, random_state=None):
    """Run the known symptoms of gradient masking and report which fire.

    A gradient-based robust accuracy is only as good as the gradients. When a
    model masks them (non-differentiable or randomised transforms, saturated
    softmax, noisy gradients), gradient attacks fail and the model looks
    robust when it is not (Athalye et al. 2018; Carlini et al. 2019). Each
    symptom below compares the white-box attack with something that should
    never beat it; when one fires, the white-box number is an overestimate
    and an adaptive evaluation (:class:`~skadv.attacks.BPDA`,
    :class:`~skadv.attacks.EOT`, the margin loss ``loss="cw"``, black-box
    attacks) is needed.

    - ``one_step_beats_iterative``: FGSM's robust accuracy is more than
      ``tol`` below the iterative attack's.
    - ``black_box_beats_white_box``: :class:`~skadv.attacks.SquareAttack`,
      which only reads scores, does more than ``tol`` better.
    - ``unbounded_attack_fails``: with budget ``unbounded_eps`` the iterative
      attack (with the margin loss ``"cw"``, which does not saturate far from
      the data) leaves more than ``tol`` accuracy; a working attack with an
      unbounded budget reaches 0%, unless ``constraints`` bound the features.
    - ``accuracy_does_not_fall_with_eps``: over budgets ``eps`` times 0.25,
      0.5, 1, 2 and 4, robust accuracy rises by more than ``tol``
      somewhere, or falls by less than ``tol`` overall while still above
      ``tol`` (a budget far too small for this model also gives a flat curve:
      then choose a larger ``eps``).
    - ``random_search_beats_gradient``: ``n_random`` random points of the
      ball (vertices for L-inf) find adversarial rows the iterative attack
      missed, for more than a fraction ``tol`` of the rows.
    - ``zero_gradients``: more than a fraction ``tol`` of the rows have an
      exactly zero cross-entropy gradient with respect to the input.

    Parameters
    ----------
    estimator : fitted classifier
        Anything :func:`skadv.as_differentiable` accepts (defenses included).
    X : array-like of shape (n_samples, n_features)
        Rows to evaluate on (a few hundred are enough).
    y : array-like of shape (n_samples,)
        True labels.
    eps : float
        The budget of the evaluation, in ``norm``.
    norm : {"inf", 2, 1}, default="inf"
    attack : white-box attack, default=None
        The iterative attack under scrutiny; cloned, with ``eps`` set per
        budget. ``None`` means ``AutoPGDAttack(steps=100)`` with the
        cross-entropy loss.
    constraints : FeatureConstraints, default=None
        Feature constraints for the attacks that ``check_gradient_masking``
        builds itself (and for the random search).
    feature_scale : {"std"} or array-like of shape (n_features,), default=None
        Makes ``eps`` relative per feature, as for the attacks.
    unbounded_eps : float, default=None
        Budget of the "unbounded" attack; ``100 * eps`` when None.
    n_random : int, default=100
        Random points per row for the random search.
    max_queries : int, default=1000
        Query budget of :class:`~skadv.attacks.SquareAttack`.
    tol : float, default=0.02
        Slack, as a fraction of the rows, before a symptom fires.
    random_state : int, RandomState instance or None, default=None
        Seeds every attack and the random search.

    Returns
    -------
    table : pandas.DataFrame or dict
        One row per symptom (index) with columns ``fired`` (bool, or None when
        it does not apply), ``value`` and ``reference`` (the two numbers
        compared, usually robust accuracies) and ``detail``. A dict of dicts
        with the same content when pandas is not installed.

    Warns
    -----
    EvaluationWarning
        When a symptom fires; when predictions change between two calls on
        the same rows (randomised model: use EOT); when the differentiable
        view returns probabilities instead of logits.

    See Also
    --------
    skadv.attacks.BPDA, skadv.attacks.EOT : adaptive attacks.

    References
    ----------
    .. [1] A. Athalye, N. Carlini, D. Wagner. "Obfuscated Gradients Give a
       False Sense of Security: Circumventing Defenses to Adversarial
       Examples", ICML 2018.
    .. [2] N. Carlini, A. Athalye, N. Papernot, W. Brendel, J. Rauber,
       D. Tsipras, I. Goodfellow, A. Madry, A. Kurakin. "On Evaluating
       Adversarial Robustness", arXiv:1902.06705, 2019.
    .. [3] F. Croce, M. Hein. "Reliable evaluation of adversarial robustness
       with an ensemble of diverse parameter-free attacks", ICML 2020.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.defenses import GradientMaskingClassifier
    >>> from skadv.evaluation import check_gradient_masking
    >>> from skadv.models import MLPClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = GradientMaskingClassifier(
    ...     MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0),
    ...     quantization_step=0.25).fit(X, y)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     table = check_gradient_masking(clf, X[:200], y[:200], eps=0.5, random_state=0)
    >>> bool(table.loc["zero_gradients", "fired"])
    True
    """
    check_is_fitted(estimator)
    diff = as_differentiable(estimator)  # TypeError naming the black-box attacks
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    norm = canonical_norm(norm)
    rng = check_random_state(random_state)
    seed = int(rng.randint(0, 2**31 - 1))
    common = dict(norm=norm, constraints=constraints, feature_scale=feature_scale,
                  random_state=seed)
    if attack is None:
        attack = AutoPGDAttack(eps=eps, steps=100, **common)
    unbounded_eps = 100.0 * eps if unbounded_eps is None else unbounded_eps

    def attacked(atk, budget):
        return _correct_under(estimator, X, y, clone(atk).set_params(eps=budget))

    rows = {}
    correct = {f: attacked(attack, f * eps) for f in _EPS_FACTORS}
    acc = {f: float(c.mean()) for f, c in correct.items()}
    white = acc[1.0]

    fgsm = float(attacked(FGSMAttack(eps=eps, **common), eps).mean())
    rows["one_step_beats_iterative"] = (fgsm < white - tol, fgsm, white,
                                        "FGSM accuracy vs iterative accuracy")

    if norm in SquareAttack._supported_norms:
        square = float(attacked(SquareAttack(eps=eps, max_queries=max_queries, **common),
                                eps).mean())
        rows["black_box_beats_white_box"] = (square < white - tol, square, white,
                                             "SquareAttack accuracy vs white-box accuracy")
    else:
        rows["black_box_beats_white_box"] = (None, np.nan, white,
                                             f"SquareAttack has no norm={norm!r}")

    # Far from the data a cross-entropy saturates (zero gradient in float32)
    # for rows still classified correctly: the unbounded run uses the margin
    # loss, which does not, so that only masking can make it fail.
    margin = attack
    if "loss" in attack.get_params(deep=False):
        margin = clone(attack).set_params(loss="cw")
    unbounded = float(attacked(margin, unbounded_eps).mean())
    rows["unbounded_attack_fails"] = (unbounded > tol, unbounded, 0.0,
                                      f"accuracy at eps={unbounded_eps:g} vs 0")

    curve = [acc[f] for f in _EPS_FACTORS]
    rises = max(b - a for a, b in zip(curve[:-1], curve[1:]))
    flat = curve[0] - curve[-1] < tol and curve[-1] > tol
    rows["accuracy_does_not_fall_with_eps"] = (
        bool(rises > tol or flat), rises, curve[0] - curve[-1],
        "largest rise vs total fall of accuracy over eps x "
        + ", ".join(f"{f:g}" for f in _EPS_FACTORS)
        + ": " + ", ".join(f"{a:.3f}" for a in curve))

    scale, arrays = resolve_budget(constraints, feature_scale, X)
    found = _random_search(estimator, X, y, correct[1.0], eps, norm, scale,
                           constraints or FeatureConstraints(), arrays, n_random, rng)
    missed = float(found.mean())
    rows["random_search_beats_gradient"] = (
        missed > tol, missed, 0.0,
        f"fraction of rows adversarial under {n_random} random points, not under the "
        "gradient attack")

    y_idx = np.searchsorted(diff.classes_, y).astype(np.int32)
    grads = map_batches(partial(_input_grad, diff.fn, diff.params),
                        [X.astype(np.float32), y_idx], 1024)
    zero = float(np.mean(np.all(grads == 0, axis=1)))
    rows["zero_gradients"] = (zero > tol, zero, 0.0,
                              "fraction of rows with an all-zero input gradient")

    _warn_unreliable(estimator, diff, X, rows)
    table = {name: {"fired": None if fired is None else bool(fired), "value": value,
                    "reference": ref, "detail": f"{SYMPTOMS[name]}; {detail}"}
             for name, (fired, value, ref, detail) in rows.items()}
    pd = _pandas()
    return table if pd is None else pd.DataFrame.from_dict(table, orient="index")


def _warn_unreliable(estimator, diff, X, rows):
    """AutoAttack-style warnings about the evaluation itself."""
    first, second = np.asarray(estimator.predict(X)), np.asarray(estimator.predict(X))
    if not np.array_equal(first, second):
        warnings.warn(
            "The model's predictions change between two calls on the same rows: it is "
            "randomised. Gradient attacks without EOT (skadv.attacks.EOT) overestimate "
            "its robustness.", EvaluationWarning, stacklevel=3)
    z = np.asarray(diff.logits(X[: min(len(X), 256)]))
    if np.all((z >= 0) & (z <= 1)) and np.allclose(z.sum(axis=1), 1.0, atol=1e-4):
        warnings.warn(
            "The differentiable view returns probabilities, not logits: the "
            "cross-entropy of a softmax of probabilities has weak gradients. Expose "
            "the logits (or log-probabilities) of the model.", EvaluationWarning,
            stacklevel=3)
    fired = [name for name, row in rows.items() if row[0]]
    if fired:
        warnings.warn(
            "Symptoms of gradient masking: " + ", ".join(fired) + ". The white-box "
            "robust accuracy is likely an overestimate; evaluate with adaptive attacks "
            "(skadv.attacks.BPDA, EOT, loss='cw') and black-box attacks.",
            EvaluationWarning, stacklevel=3)


# ---------------------------------------------------------------------------
# robustness_report: accuracy under an attack ensemble, worst case per row
REPORT_COLUMNS = ("estimator", "eps", "attack", "accuracy", "median_perturbation",
                  "mean_queries", "valid_before_repair", "time_s", "n_samples")
CLEAN, WORST, CERTIFIED = "clean", "worst case", "certified"


class RobustnessReport(dict):
    """:func:`robustness_report`'s result without pandas: column name -> array."""

    def to_markdown(self):
        """Render as a Markdown table (see :func:`report_to_markdown`)."""
        return report_to_markdown(self)


def _names(items, namer):
    """``[(name, item)]`` from a dict, a list or a single item; names made unique."""
    if isinstance(items, dict):
        return list(items.items())
    if not isinstance(items, (list, tuple)):
        items = [items]
    out, seen = [], {}
    for item in items:
        name = namer(item)
        seen[name] = seen.get(name, 0) + 1
        out.append((name if seen[name] == 1 else f"{name} ({seen[name]})", item))
    return out


def _attack_name(attack):
    name = type(attack).__name__
    inner = getattr(attack, "attack", None)
    if inner is not None and hasattr(inner, "fit"):
        return f"{name}({_attack_name(inner)})"
    return name[: -len("Attack")] if name.endswith("Attack") else name


def _estimator_name(estimator):
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return type(last).__name__


def _aim(template, estimator, eps, constraints, feature_scale, n_jobs=None):
    """Clone ``template`` at ``estimator`` with this budget (wrappers: their attack's).

    ``n_jobs`` goes to the outer attack only: it splits the rows, and the
    attack a wrapper or ``TransferAttack`` runs inside stays serial per chunk.
    """
    atk = clone(template).set_params(estimator=estimator)
    if n_jobs is not None and "n_jobs" in atk.get_params(deep=False):
        atk.set_params(n_jobs=n_jobs)
    params = atk.get_params(deep=True)
    updates = {}
    for key, value, only_if_unset in (("eps", eps, False),
                                      ("constraints", constraints, True),
                                      ("feature_scale", feature_scale, True)):
        if value is None:
            continue
        for name in (key, f"attack__{key}"):
            if name in params:
                if not (only_if_unset and params[name] is not None):
                    updates[name] = value
                break
    return atk.set_params(**updates)


def _run_attack(run, atk_name, est_name):
    """``(run(), seconds)``, or ``(None, 0.0)`` with a warning when the attack
    does not apply (a white-box attack on a model without gradients, a tree
    attack on a network). Any other error is a bug and propagates."""
    start = time.perf_counter()
    try:
        result = run()
    except UnsupportedModelError as exc:
        warnings.warn(f"{atk_name} does not apply to {est_name}: {exc}",
                      EvaluationWarning, stacklevel=3)
        return None, 0.0
    return result, time.perf_counter() - start


def _certify(estimator, X):
    """``(prediction, radius, norm)`` of a certifying estimator, or None.

    A Pipeline whose last step certifies is certified on its transformed
    input: the radius is in the units that step sees (for a StandardScaler in
    front, standard deviations of the training data).
    """
    if hasattr(estimator, "certify"):
        pred, radius = estimator.certify(X)
        return np.asarray(pred), np.asarray(radius, float), estimator.norm_
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else None
    if last is not None and hasattr(last, "certify"):
        pred, radius = last.certify(estimator[:-1].transform(X))
        return np.asarray(pred), np.asarray(radius, float), last.norm_
    return None


def _record(estimator, eps, attack, correct, perturbation=None, queries=None, seconds=0.0,
            valid=None):
    n = 0 if correct is None else len(correct)
    pert = None if perturbation is None or len(perturbation) == 0 else perturbation
    valid = None if valid is None or len(valid) == 0 else valid
    return {
        "estimator": estimator, "eps": float(eps), "attack": attack,
        "accuracy": np.nan if correct is None else float(np.mean(correct)),
        "median_perturbation": np.nan if pert is None else float(np.median(pert)),
        "mean_queries": np.nan if queries is None else float(np.mean(queries)),
        "valid_before_repair": np.nan if valid is None else float(np.mean(valid)),
        "time_s": float(seconds), "n_samples": n,
    }


def _progress(total, enabled, desc):
    if enabled:
        try:
            from tqdm.auto import tqdm

            return tqdm(total=total, desc=desc)
        except ImportError:  # the progress extra is optional
            pass

    class _Silent:
        def update(self, n=1):
            pass

        def close(self):
            pass

    return _Silent()


def robustness_report(estimators, X, y, *, attacks, eps, constraints=None,
                      feature_scale=None, certify=True, verbose=False,
                      return_predictions=False, return_adversarial=False, n_jobs=None):
    """Accuracy under each attack, and under their worst case, per budget.

    For every estimator and every budget ``eps``: the clean accuracy, the
    accuracy under each attack, and the accuracy under the *worst case over
    all attacks* -- a row counts as robust only if it is classified correctly
    and every attack failed on it (AutoAttack's rule: a weak attack cannot
    hide a strong one's success, so this column is never above any attack's).
    Estimators that certify (``certify(X) -> (prediction, radius)``, also as
    the last step of a Pipeline) add their certified accuracy at radius
    ``eps``: a lower bound, where the attacks give upper bounds.

    Parameters
    ----------
    estimators : fitted classifier, list or dict of name -> fitted classifier
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to attack (held-out data).
    y : array-like of shape (n_samples,)
        True labels.
    attacks : attack, list or dict of name -> attack
        Templates (skadv attacks or BPDA/EOT wrappers); each is cloned and
        aimed at each estimator with each budget. They must share one norm.
    eps : float or array-like of float
        Budgets, in the attacks' norm and units (see ``feature_scale``).
    constraints : FeatureConstraints, default=None
        Given to every attack that has none.
    feature_scale : {"std"} or array-like of shape (n_features,), default=None
        Given to every attack that has none; makes ``eps`` relative per feature.
    certify : bool, default=True
        Add certified accuracy for estimators that certify. A radius in
        another norm is converted to the attacks' norm soundly (an L2
        radius r certifies the L-inf ball of radius r / sqrt(n_features)).
    verbose : bool, default=False
        Progress bar over the attack runs.
    return_predictions : bool, default=False
        Also return ``{(estimator, eps, attack): predictions on its adversarial rows}``.
    return_adversarial : bool, default=False
        Also return ``{(estimator, eps, attack): adversarial rows}`` (as the
        attack's ``transform`` returns them), after the predictions if both.
    n_jobs : int, default=None
        Given to every attack run: each splits its rows across this many
        joblib workers (see the attacks' ``n_jobs``); every number but
        ``time_s`` equals the serial run's for the same ``random_state``.
        ``None`` keeps each attack's own ``n_jobs``. Inside
        ``joblib.parallel_config(backend="dask")`` the rows go to a
        dask.distributed cluster (:func:`skadv.utils.dask_cluster`).

    Returns
    -------
    report : pandas.DataFrame or RobustnessReport
        One row per (estimator, eps, attack), ``attack`` being an attack's name,
        ``"clean"``, ``"worst case"`` or ``"certified"``; columns
        ``estimator``, ``eps``, ``attack``, ``accuracy``,
        ``median_perturbation`` (of the rows the attack turned), ``mean_queries``
        (black-box attacks), ``valid_before_repair`` (the fraction of the rows
        the attack turned whose proposal already satisfied every constraint
        before the final repair), ``time_s``, ``n_samples``. A DataFrame when pandas
        is installed, else a dict of arrays. :func:`report_to_markdown`
        renders it. An attack that searches all budgets in one run
        (:class:`~skadv.attacks.SquareAttack`, when serial) gets the same
        results as one run per budget, and each budget's ``time_s`` is the
        joint run's time divided by the number of budgets. An attack that is
        the same computation as an earlier one on that estimator and budget
        -- equal type and parameters with an int ``random_state``, or a
        BPDA wrapper with no layer to replace around such an attack --
        reuses its run: the same rows, ``time_s`` 0.
    predictions : dict
        Only with ``return_predictions``.
    adversarial : dict
        Only with ``return_adversarial``.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skadv.attacks import FGSMAttack, PGDAttack
    >>> from skadv.evaluation import report_to_markdown, robustness_report
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    >>> report = robustness_report({"LR": clf}, X, y, eps=[0.1, 0.3],
    ...                            attacks=[FGSMAttack(), PGDAttack(random_state=0)],
    ...                            feature_scale="std")
    >>> table = report.pivot(index="eps", columns="attack", values="accuracy")
    >>> bool((table["worst case"] <= table[["FGSM", "PGD"]].min(axis=1)).all())
    True
    """
    ests = _names(estimators, _estimator_name)
    atks = _names(attacks, _attack_name)
    if not ests or not atks:
        raise ValueError("robustness_report needs at least one estimator and one attack.")
    try:
        eps_grid = np.atleast_1d(np.asarray(eps, dtype=np.float64))
    except (TypeError, ValueError):
        raise ValueError(f"eps must be numbers. Got {eps!r} instead.") from None
    if eps_grid.ndim != 1 or eps_grid.size == 0 or not np.all(np.isfinite(eps_grid)) \
            or np.any(eps_grid < 0):
        raise ValueError(
            f"eps must be one or more finite, non-negative numbers. Got {eps!r} instead.")
    # Checked here, not by validate_params: that decorator would rename the
    # attacks' own parameter errors raised inside as errors of this function.
    if n_jobs is not None and not isinstance(n_jobs, Integral):
        raise ValueError(f"n_jobs must be an int or None. Got {n_jobs!r} instead.")
    norms = {attack_norm(a) for _, a in atks}
    if len(norms) > 1:
        raise ValueError(
            f"The attacks of one report must share a norm (eps means one thing); got "
            f"norms {sorted(map(str, norms))}. Make one report per norm.")
    norm = norms.pop()
    y = np.asarray(y)
    n_features = np.shape(X)[1]
    records, predictions, adversarial = [], {}, {}
    bar = _progress(len(ests) * len(eps_grid) * len(atks), verbose, "robustness report")
    for est_name, est in ests:
        clean_ok = np.asarray(est.predict(X)) == y
        cert = _certify(est, X) if certify else None
        joint = {}  # attack name -> its results at every budget, from one run
        for atk_name, template in atks:
            if len(eps_grid) == 1 or not hasattr(template, "_attack_budgets"):
                continue
            atk = _aim(template, est, float(eps_grid[0]), constraints, feature_scale, n_jobs)
            if getattr(atk, "n_jobs", None) in (None, 1):
                joint[atk_name] = (atk, *_run_attack(
                    lambda: atk.fit(X, y)._attack_budgets(X, y, eps_grid), atk_name, est_name))
        for b, e in enumerate(eps_grid):
            records.append(_record(est_name, e, CLEAN, clean_ok))
            worst = clean_ok.copy()
            runs = {}  # run key -> (attack, result): the same computation is run once
            for atk_name, template in atks:
                if atk_name in joint:
                    atk, results, seconds = joint[atk_name]
                    result, seconds = (None if results is None else results[b],
                                       seconds / len(eps_grid))
                else:
                    atk = _aim(template, est, float(e), constraints, feature_scale, n_jobs)
                    key = run_key(atk, est)
                    if key in runs:
                        (atk, result), seconds = runs[key], 0.0
                    else:
                        result, seconds = _run_attack(lambda: atk.fit(X, y)._attack(X, y),
                                                      atk_name, est_name)
                        if key is not None and result is not None:
                            runs[key] = atk, result
                if result is None:
                    records.append(_record(est_name, e, atk_name, None))
                    bar.update()
                    continue
                X_adv = atk.encoder_.decode(result.X_adv, index=getattr(X, "index", None))
                pred = np.asarray(est.predict(X_adv))
                ok = pred == y
                worst &= ok
                turned = clean_ok & ~ok
                queries = result.extras.get("n_queries_")
                records.append(_record(
                    est_name, e, atk_name, ok, result.perturbation[turned], queries,
                    seconds, result.valid_before_repair[turned]))
                predictions[(est_name, float(e), atk_name)] = pred
                if return_adversarial:
                    adversarial[(est_name, float(e), atk_name)] = X_adv
                bar.update()
            records.append(_record(est_name, e, WORST, worst))
            if cert is not None:
                pred, radius, cert_norm = cert
                r = np.array([radius_in_norm(v, cert_norm, norm, n_features) for v in radius])
                records.append(_record(est_name, e, CERTIFIED,
                                       (pred == y) & (r >= 0) & (r >= e)))
    bar.close()
    pd = _pandas()
    if pd is None:
        report = RobustnessReport(
            {c: np.asarray([r[c] for r in records]) for c in REPORT_COLUMNS})
    else:
        report = pd.DataFrame.from_records(records, columns=list(REPORT_COLUMNS))
    extra = ([predictions] if return_predictions else []) + (
        [adversarial] if return_adversarial else [])
    return (report, *extra) if extra else report


def _columns(report):
    if hasattr(report, "to_dict") and hasattr(report, "columns"):
        return {c: np.asarray(report[c]) for c in report.columns}
    return {c: np.asarray(v) for c, v in report.items()}


def report_to_markdown(report, *, value="accuracy", digits=3):
    """Render a :func:`robustness_report` as a Markdown table.

    One line per (estimator, eps); one column per attack, in the order
    clean, the attacks, worst case, certified.

    Parameters
    ----------
    report : pandas.DataFrame or RobustnessReport
    value : str, default="accuracy"
        Which column to show (e.g. ``"median_perturbation"``).
    digits : int, default=3

    Returns
    -------
    markdown : str
    """
    cols = _columns(report)
    attacks = list(dict.fromkeys(cols["attack"].tolist()))
    order = [a for a in (CLEAN,) if a in attacks] + [
        a for a in attacks if a not in (CLEAN, WORST, CERTIFIED)] + [
        a for a in (WORST, CERTIFIED) if a in attacks]
    keys = list(dict.fromkeys(zip(cols["estimator"].tolist(), cols["eps"].tolist())))
    cell = {(e, p, a): v for e, p, a, v in zip(cols["estimator"], cols["eps"],
                                              cols["attack"], cols[value])}
    lines = ["| estimator | eps | " + " | ".join(order) + " |",
             "|---|---:|" + "---:|" * len(order)]
    for est, e in keys:
        vals = []
        for a in order:
            v = cell.get((est, e, a))
            vals.append("–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}")
        lines.append(f"| {est} | {e:g} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"
