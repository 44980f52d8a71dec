"""A constrained adaptive attack: a gradient attack first, a search on what it missed.

Tabular constraints make gradient attacks fail in a way that says nothing of
the model: a step that relations, integers or one-hot groups undo. In the
spirit of Simonetto et al.'s Constrained Adaptive Attack (CAA), this attack
runs a cheap constrained gradient attack on every row, then a search over
valid points only on the rows it failed, and records which attack turned
each row. Every stage sees the same constraints, budget and victim; every
returned row satisfies the constraints.
"""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.metaestimators import available_if

from ..constraints import FeatureConstraints
from ..models._differentiable import as_differentiable
from ..utils._parallel import N_JOBS_DOC
from ..exceptions import NotDifferentiableError
from ._base import BaseAttack
from .black_box import HopSkipJumpAttack, SquareAttack
from .white_box import AutoPGDAttack

__all__ = ["ConstrainedAdaptiveAttack"]


class _EncodedVictim(ClassifierMixin, BaseEstimator):
    """The victim seen from the attack's encoded rows (categories one-hot)."""

    def __init__(self, attack=None):
        self.attack = attack

    @property
    def classes_(self):
        return self.attack.estimator.classes_

    @property
    def n_features_in_(self):
        return len(self.attack.encoder_.raw_index)

    def fit(self, X=None, y=None):
        """A view of a fitted victim: nothing to fit."""
        return self

    def __sklearn_is_fitted__(self):
        return True

    def predict(self, X):
        return self.attack._victim_predict(np.asarray(X, dtype=np.float64))

    @available_if(lambda self: hasattr(self.attack.estimator, "predict_proba"))
    def predict_proba(self, X):
        return self.attack.estimator.predict_proba(self.attack._victim_input(X))

    @available_if(lambda self: hasattr(self.attack.estimator, "decision_function"))
    def decision_function(self, X):
        return self.attack.estimator.decision_function(self.attack._victim_input(X))


class ConstrainedAdaptiveAttack(BaseAttack):
    """Constrained gradient attack, then a search over valid points on the rows it missed.

    The stages run in order on the rows no earlier stage turned: by default
    :class:`AutoPGDAttack` (when the victim is differentiable, see
    :func:`skadv.as_differentiable`) and then :class:`SquareAttack` (a random
    search whose every candidate is repaired to satisfy the constraints; it
    needs ``predict_proba`` or ``decision_function``) or, for a victim with
    ``predict`` only, :class:`HopSkipJumpAttack`. Each stage gets this
    attack's victim, ``eps``, ``norm``, constraints, budget scale,
    ``targeted`` and ``random_state``. In the spirit of Simonetto et al.'s
    CAA (2024): gradient attacks are cheap and strong where constraints
    leave them room; a search finds what a step that the repair undoes
    cannot.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2}, default="inf"
    attacks : list of (str, attack) or list of attacks, default=None
        The stages, in order; their own ``estimator``, ``eps``, ``norm``,
        ``constraints``, ``feature_scale``, ``targeted`` and
        ``random_state`` are overridden. ``None``: the stages above.
    constraints : FeatureConstraints, default=None
        Constraints every returned row satisfies (relations included).
    feature_scale : {"std"}, array-like of shape (n_features,) or None, default=None
        Per-feature unit of ``eps``.
    targeted : bool, default=False
    random_state : int, RandomState instance or None, default=None
    batch_size : int, default=1024
        Rows per call of the stages that batch.
    verbose : bool or int, default=False
        Progress bars of the stages.
    {n_jobs}

    Attributes
    ----------
    attacks_ : list of (str, attack)
        The stages, fitted on the data given to :meth:`fit`.
    succeeded_by_ : ndarray of object, shape (n_samples,)
        Name of the stage whose row is returned, ``""`` where none succeeded.
    success_ : ndarray of bool, shape (n_samples,)
    perturbation_ : ndarray of shape (n_samples,)
    valid_before_repair_ : ndarray of bool, shape (n_samples,)
        Rows whose proposal satisfied every constraint before the final repair.
    n_queries_ : ndarray of int, shape (n_samples,)
        Victim queries of the search stages per row.
    scale_, norm_, constraints_, encoder_, n_features_in_, feature_names_in_
        As in :class:`SquareAttack`.

    References
    ----------
    .. [1] T. Simonetto, S. Ghamizi, M. Cordy. "Constrained Adaptive Attack:
       Effective Adversarial Attack Against Deep Neural Networks for Tabular
       Data", NeurIPS 2024.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skadv.attacks import ConstrainedAdaptiveAttack
    >>> from skadv.constraints import FeatureConstraints
    >>> rng = np.random.RandomState(0)
    >>> X = rng.uniform(0, 1, size=(200, 3))
    >>> X[:, 2] = X[:, 0] + X[:, 1]
    >>> y = (X[:, 0] - X[:, 1] > 0).astype(int)
    >>> clf = LogisticRegression().fit(X, y)
    >>> fc = FeatureConstraints(lower=0, relations=["x2 == x0 + x1"])
    >>> attack = ConstrainedAdaptiveAttack(clf, eps=0.2, constraints=fc, random_state=0)
    >>> X_adv = attack.fit(X).transform(X[:20], y[:20])
    >>> bool(fc.is_satisfied(X_adv, X[:20]).all()), bool(attack.success_.any())
    (True, True)
    >>> sorted(set(attack.succeeded_by_[attack.success_]))
    ['autopgd']
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "attacks": [list, None],
    }
    _work_dtype = np.float64

    def __init__(self, estimator=None, *, eps=0.1, norm="inf", attacks=None,
                 constraints=None, feature_scale=None, targeted=False, random_state=None,
                 batch_size=1024, verbose=False, n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.attacks = attacks
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _victim_for_stages(self):
        return self.estimator if self.encoder_.identity else _EncodedVictim(self)

    def _default_stages(self, victim):
        stages = []
        try:
            as_differentiable(victim)
        except NotDifferentiableError:
            pass
        else:
            stages.append(("autopgd", AutoPGDAttack(steps=100)))
        if hasattr(victim, "predict_proba") or hasattr(victim, "decision_function"):
            stages.append(("square", SquareAttack(max_queries=1000)))
        else:
            stages.append(("hopskipjump", HopSkipJumpAttack(norm=self.norm_,
                                                            max_queries=1000)))
        return stages

    def _named_stages(self, victim):
        if self.attacks is None:
            return self._default_stages(victim)
        out = []
        for item in self.attacks:
            name, attack = item if isinstance(item, tuple) else (
                type(item).__name__.removesuffix("Attack").lower(), item)
            if not (hasattr(attack, "fit") and hasattr(attack, "transform")):
                raise TypeError(
                    f"attacks must hold skadv attacks (or (name, attack) pairs); got "
                    f"{type(attack).__name__}.")
            out.append((name, attack))
        if not out:
            raise ValueError("attacks must hold at least one attack, or be None.")
        names = [n for n, _ in out]
        if len(set(names)) != len(names):
            raise ValueError(f"attacks must have distinct names; got {names}.")
        return out

    def _fit_extra(self, X):
        victim = self._victim_for_stages()
        constraints = FeatureConstraints.from_arrays(self.constraints_)
        seed = self.random_state
        self.attacks_ = []
        for name, attack in self._named_stages(victim):
            stage = clone(attack)
            params = dict(estimator=victim, eps=self.eps, norm=self.norm_,
                          constraints=constraints, feature_scale=self.scale_,
                          targeted=self.targeted, random_state=seed)
            known = stage.get_params(deep=False)
            for key in ("batch_size", "verbose"):
                if key in known:
                    params[key] = getattr(self, key)
            stage.set_params(**{k: v for k, v in params.items() if k in known})
            self.attacks_.append((name, stage.fit(X)))
        self.n_fit_queries_ = int(sum(getattr(s, "n_fit_queries_", 0)
                                      for _, s in self.attacks_))

    def _generate(self, U, y_idx, key, rows):
        X = U * self.scale_
        n = len(X)
        labels = np.asarray(self.estimator.classes_)[y_idx]
        X_adv = X.copy()
        found = np.zeros(n, dtype=bool)
        by = np.full(n, "", dtype=object)
        queries = np.zeros(n, dtype=np.int64)
        for name, stage in self.attacks_:
            todo = np.flatnonzero(~found)
            if not todo.size:
                break
            # Rows keep their global numbers, and the stages the run's key:
            # their random draws do not depend on which rows an earlier stage
            # turned, nor on n_jobs chunks.
            result = stage._attack(X[todo], labels[todo], rows[todo], key=key)
            X_adv[todo] = result.X_adv
            found[todo[result.success]] = True
            by[todo[result.success]] = name
            if "n_queries_" in result.extras:
                queries[todo] += result.extras["n_queries_"].astype(np.int64)
        return X_adv / self.scale_, {"succeeded_by_": by, "n_queries_": queries}

    def _finalize(self, X, X_adv, labels, out_dtype, extras):
        result = super()._finalize(X, X_adv, labels, out_dtype, extras)
        # The stages checked success themselves; the final check has the last word.
        by = np.where(result.success, result.extras["succeeded_by_"], "").astype(object)
        return result._replace(extras={**result.extras, "succeeded_by_": by})


ConstrainedAdaptiveAttack.__doc__ = ConstrainedAdaptiveAttack.__doc__.replace(
    "{n_jobs}", N_JOBS_DOC)
