"""Black-box attacks: they only query the victim, so they work on any classifier.

:class:`SquareAttack` needs scores (``predict_proba`` or ``decision_function``),
:class:`HopSkipJumpAttack` only ``predict``, :class:`TransferAttack` attacks a
differentiable surrogate trained to imitate the victim. All three accept a
``Pipeline`` with a ``ColumnTransformer``/``OneHotEncoder`` in front and a
DataFrame with categorical columns: they work in the pipeline's raw input space
(see :mod:`skadv.attacks._encoding`) and return a DataFrame with valid
categories.
"""

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.base import clone

from ..constraints import FeatureConstraints
from ..exceptions import UnsupportedModelError
from ..utils._jax import map_batches
from ..utils._parallel import N_JOBS_DOC
from ..utils._sklearn_compat import HasMethods, Interval, StrOptions
from .._core import query as _bb
from ._base import BaseAttack
from .white_box import PGDAttack

__all__ = ["HopSkipJumpAttack", "SquareAttack", "TransferAttack"]


class _QueryAttack(BaseAttack):
    """Shared plumbing of attacks that query the victim: oracles, batching, counts."""

    _work_dtype = np.float64

    def _class_index(self, labels):
        classes = np.asarray(self.estimator.classes_)
        return np.clip(np.searchsorted(classes, labels), 0, len(classes) - 1)

    def _project(self):
        """``project(U, U_clean, eps=None)`` in scaled units: the base class's
        repair, at each point's own budget (``eps`` of shape ``(m,)``) or none."""
        fc = self.constraints or FeatureConstraints()
        scale = self.scale_

        def repair(U, U_clean, e):
            return fc.repair(U * scale, U_clean * scale, eps=e, norm=self.norm_,
                             scale=scale, arrays=self.constraints_) / scale

        def project(U, U_clean, eps=None):
            if eps is None or eps.min() == eps.max():
                return repair(U, U_clean, None if eps is None else float(eps[0]))
            Z = np.empty_like(U, dtype=np.float64)
            for e in np.unique(eps):
                at = eps == e
                Z[at] = repair(U[at], U_clean[at], float(e))
            return Z
        return project

    def _is_adv(self, y_idx):
        def is_adv(U, rows):
            pred = self._class_index(self._victim_predict(U * self.scale_))
            return pred == y_idx[rows] if self.targeted else pred != y_idx[rows]
        return is_adv

    def _run(self, attack_batch, U, y_idx, key, rows, *per_row):
        """Run ``attack_batch(U, y_idx, keys, live, *per_row) -> (U_adv, n_queries)``
        over fixed-size row batches (``per_row``: more arrays batched with the
        rows); padded rows are marked not ``live`` (no queries).
        Returns ``(U_adv, {"n_queries_": ...})``."""
        keys = _bb.row_seeds(key, U.shape[0], rows)
        ids = np.arange(U.shape[0])

        def batch(Ub, yb, kb, ib, *more):
            live = np.r_[True, ib[1:] != ib[:-1]]
            return attack_batch(Ub, yb, kb, live, *more)

        U_adv, n_queries = map_batches(batch, [U, y_idx, keys, ids, *per_row],
                                       self.batch_size, verbose=self.verbose,
                                       desc=type(self).__name__)
        return U_adv, {"n_queries_": n_queries.astype(np.int64)}

    def _fit_extra(self, X):
        self.n_fit_queries_ = 0

    def _fit_references(self, X):
        """Keep a seeded subset of the fit rows and the victim's labels of them:
        the starting points of minimal-distance searches."""
        rng = np.random.RandomState(
            self.random_state if isinstance(self.random_state, Integral) else 0)
        keep = np.sort(rng.permutation(len(X))[: self.n_references])
        self.reference_ = np.asarray(X, dtype=np.float64)[keep]
        labels = (self._victim_predict(self.reference_) if len(keep)
                  else np.asarray(self.estimator.classes_)[:0])
        self.reference_labels_ = self._class_index(labels)
        self.n_fit_queries_ = len(keep)

    def _nearest_references(self, Ub, yb, k):
        """Indices ``(n, k)`` of the nearest reference rows (scaled L2 over the
        mutable features) in another class, or in the target class, and which
        of them exist."""
        ref = self.reference_ / self.scale_
        w = np.asarray(self.constraints_.mutable, bool)
        a, b = Ub[:, w], ref[:, w]
        d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * a @ b.T
        other = self.reference_labels_[None, :] != yb[:, None]
        d2 = np.where(other != self.targeted, d2, np.inf)
        near = np.argsort(d2, axis=1, kind="stable")[:, :k]
        return near, np.isfinite(np.take_along_axis(d2, near, axis=1))


_SHARED_DOC = """
    constraints : FeatureConstraints, default=None
        Feature constraints; every point the attack queries already satisfies
        them, so no query is spent on a row it could not return.
    feature_scale : {"std"} or array-like of shape (n_features,), default=None
        Makes distances relative per feature (``"std"``: the standard deviation
        of the ``X`` given to :meth:`fit`). A categorical column's scale is 1
        unless an array gives it another value ``s``; changing its category
        costs ``1 / s`` in L-inf.
    targeted : bool, default=False
        If True, ``y`` holds target labels to reach.
    random_state : int, RandomState instance or None, default=None
        Seeds the search; the same seed gives the same output.
    batch_size : int, default=1024
        Rows attacked together (one model call per step for all of them);
        bounds memory.
    verbose : bool or int, default=False
        Progress bar over batches.
    """ + N_JOBS_DOC


class SquareAttack(_QueryAttack):
    """Score-based Square attack (Andriushchenko et al. 2020) on any classifier.

    Random search over the vertices of the L-inf ball (or over the L2 sphere):
    each step re-draws a random window of features and keeps the change when
    the victim's margin loss (best other score minus the true class's score, on
    ``log(predict_proba)`` or ``decision_function``) decreases. A window is a
    random subset of ``round(p * n_features)`` features, ``p`` halving along the
    schedule of the paper (starting at ``p_init``). One ``predict_proba`` call
    per step for all rows still running.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim: anything with ``predict_proba`` or ``decision_function``.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2}, default="inf"
    max_queries : int, default=1000
        Victim queries per row (its clean point included); a row stops once
        adversarial.
    p_init : float, default=0.3
        Initial fraction of the features a step changes.
    scores : {"auto", "predict_proba", "decision_function"}, default="auto"
        Which scores the loss uses; ``"auto"`` prefers ``predict_proba``.
    {shared}

    Attributes
    ----------
    success_ : ndarray of bool, shape (n_samples,)
        Rows the victim's own ``predict`` misclassifies (or puts in the target
        class), from the last :meth:`transform`.
    perturbation_ : ndarray of shape (n_samples,)
        Norm of each returned perturbation (zero for unsuccessful rows).
    valid_before_repair_ : ndarray of bool, shape (n_samples,)
        Rows whose proposal satisfied every constraint before the final
        repair (how often the search itself stays valid).
    n_queries_ : ndarray of int, shape (n_samples,)
        Victim queries spent on each row by the last :meth:`transform`
        (at most ``max_queries``).
    n_fit_queries_ : int
        Victim queries made by :meth:`fit` (none).
    scale_ : ndarray of shape (n_features_encoded,)
    norm_ : {"inf", 2}
    constraints_ : ConstraintArrays
    encoder_ : InputEncoder
        How categorical columns are encoded for the search.
    n_features_in_ : int
    feature_names_in_ : ndarray of str

    See Also
    --------
    HopSkipJumpAttack : Needs only ``predict``; minimises the distance.

    References
    ----------
    .. [1] M. Andriushchenko, F. Croce, N. Flammarion, M. Hein. "Square Attack: a
       query-efficient black-box adversarial attack via random search",
       ECCV 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skadv.attacks import SquareAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    >>> attack = SquareAttack(clf, eps=0.5, feature_scale="std", max_queries=200,
    ...                       random_state=0)
    >>> X_adv = attack.fit_transform(X[:50], y[:50])
    >>> bool(clf.score(X_adv, y[:50]) < clf.score(X[:50], y[:50]))
    True
    >>> int(attack.n_queries_.max()) <= 200
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "max_queries": [Interval(Integral, 1, None, closed="left")],
        "p_init": [Interval(Real, 0, 1, closed="right")],
        "scores": [StrOptions({"auto", "predict_proba", "decision_function"})],
    }
    _supported_norms = ("inf", 2)

    def __init__(self, estimator=None, *, eps=0.1, norm="inf", max_queries=1000,
                 p_init=0.3, scores="auto", constraints=None, feature_scale=None,
                 targeted=False, random_state=None, batch_size=1024, verbose=False,
                 n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.max_queries = max_queries
        self.p_init = p_init
        self.scores = scores
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _score_method(self):
        if self.scores != "auto":
            return self.scores
        if hasattr(self.estimator, "predict_proba"):
            return "predict_proba"
        return "decision_function"

    def _check_victim(self):
        super()._check_victim()
        method = self._score_method()
        if not hasattr(self.estimator, method):
            raise UnsupportedModelError(
                f"SquareAttack needs the victim's scores, but "
                f"{type(self.estimator).__name__} has no {method}"
                f"{'' if self.scores != 'auto' else ' and no predict_proba'}. Pass "
                f"scores=... naming a method it has, or use HopSkipJumpAttack, "
                f"which needs only predict.")

    def _victim_scores(self, X):
        method = self._score_method()
        S = np.asarray(getattr(self.estimator, method)(self._victim_input(X)),
                       dtype=np.float64)
        if method == "predict_proba":
            return np.log(np.maximum(S, 1e-300))
        if S.ndim == 1:  # binary decision_function: classes_[1] iff score > 0
            return np.stack([np.zeros_like(S), S], axis=1)
        return S

    def _generate(self, U, y_idx, key, rows):
        return self._search(U, y_idx, key, rows, np.full(len(U), float(self.eps)))

    def _attack_budgets(self, X, y, budgets):
        """One :class:`~skadv.attacks._base.AttackResult` per budget, from one search.

        Every row runs once per budget and all of them share each step's
        victim call: one call per step instead of one per step and budget (a
        budget grid costs about one run on victims whose calls cost more than
        their rows). Row ``i`` at budget ``e`` keeps its seed, so it gets the
        draws, the queries and the result it gets at ``eps=e`` alone (up to a
        victim whose scores change with the other rows of the batch).
        """
        X64, labels, y_idx, key, out_dtype, rows = self._prepare(X, y, None, None)
        budgets = np.asarray(budgets, dtype=np.float64).ravel()
        n, k = len(X64), len(budgets)
        U = np.tile((X64 / self.scale_).astype(self._work_dtype), (k, 1))
        U_adv, extras = self._search(U, np.tile(y_idx, k), key, np.tile(rows, k),
                                     np.repeat(budgets, n))
        X_adv = np.asarray(U_adv, dtype=np.float64) * self.scale_
        results = []
        for b, e in enumerate(budgets):
            part = slice(b * n, (b + 1) * n)
            at = copy.copy(self)  # the fitted attack at this budget
            at.eps = float(e)
            results.append(at._finalize(X64, X_adv[part], labels, out_dtype,
                                        {name: v[part] for name, v in extras.items()}))
        return results

    def _search(self, U, y_idx, key, rows, eps):
        project = self._project()
        mutable = np.asarray(self.constraints_.mutable, bool)

        def attack_batch(Ub, yb, kb, live, eb):
            def loss_fn(P, rows):
                S = self._victim_scores(P * self.scale_)
                yr = yb[rows]
                ar = np.arange(len(rows))
                own = S[ar, yr]
                S[ar, yr] = -np.inf
                other = S.max(axis=1)
                S[ar, yr] = own
                pred = np.argmax(S, axis=1)
                if self.targeted:
                    return other - own, pred == yr
                return own - other, pred != yr

            U_adv, _, nq = _bb.square(
                loss_fn, Ub, key=kb, eps=eb, norm=self.norm_,
                max_queries=self.max_queries, p_init=self.p_init, mutable=mutable,
                project=project, active=live)
            return U_adv, nq

        return self._run(attack_batch, U, y_idx, key, rows, eps)


SquareAttack.__doc__ = SquareAttack.__doc__.replace("{shared}", _SHARED_DOC.strip())


class HopSkipJumpAttack(_QueryAttack):
    """Decision-based HopSkipJump attack (Chen et al. 2020) on any classifier.

    Needs only ``predict``. From an adversarial starting point it walks along
    the decision boundary towards ``x``: a Monte-Carlo estimate of the
    boundary's normal from sign queries, a geometric step-size search, and a
    binary search back to the boundary, every step batched over all rows still
    running (one ``predict`` call per step, the Monte-Carlo probes of all rows
    in one call). It minimises the distance; with ``eps`` given a row stops as
    soon as it is within ``eps``, and only such rows count as successful.

    Starting points are the nearest rows of the data seen at :meth:`fit` that
    the victim puts in another class (or the target class), with the row's
    immutable features and constraints imposed, then uniform random points in
    the data's range: ``init_size`` queries each, part of ``max_queries``.

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim: anything with ``predict``.
    eps : float, default=None
        Budget in ``norm``; ``None`` minimises until ``max_queries``.
    norm : {2, "inf"}, default=2
    max_queries : int, default=1000
        Victim queries per row (starting points included).
    init_evals : int, default=20
        Monte-Carlo queries of the first gradient estimate; ``init_evals *
        sqrt(t)`` at iteration ``t``, capped by ``max_evals``. (The paper uses
        100 for images; tabular rows have far fewer features.)
    max_evals : int, default=1000
    gamma : float, default=1.0
        Binary-search tolerance and probe radius, as in the paper.
    init_size : int, default=10
        Candidate starting points per source (data rows, then random points).
    n_references : int, default=1000
        At most this many rows of the ``X`` given to :meth:`fit` are kept (a
        seeded random subset) and labelled by the victim as starting points.
    {shared}

    Attributes
    ----------
    success_ : ndarray of bool, shape (n_samples,)
    perturbation_ : ndarray of shape (n_samples,)
        Norm of each returned perturbation (zero for unsuccessful rows).
    valid_before_repair_ : ndarray of bool, shape (n_samples,)
        As in :class:`SquareAttack`.
    n_queries_ : ndarray of int, shape (n_samples,)
        Victim queries spent on each row by the last :meth:`transform`.
    n_fit_queries_ : int
        Victim queries made by :meth:`fit` to label ``reference_``.
    reference_ : ndarray of shape (n_references, n_features_encoded)
        Rows of the fit data used as starting points (encoded).
    reference_labels_ : ndarray of int
        The victim's class index of each reference row.
    scale_, norm_, constraints_, encoder_, n_features_in_, feature_names_in_
        As in :class:`SquareAttack`.

    See Also
    --------
    SquareAttack : Score-based, for a fixed budget ``eps``.

    References
    ----------
    .. [1] J. Chen, M. I. Jordan, M. J. Wainwright. "HopSkipJumpAttack: A
       Query-Efficient Decision-Based Attack", IEEE S&P 2020.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> from skadv.attacks import HopSkipJumpAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    >>> attack = HopSkipJumpAttack(clf, feature_scale="std", max_queries=300,
    ...                            random_state=0).fit(X)
    >>> X_adv = attack.transform(X[:50], y[:50])
    >>> bool(attack.success_.mean() > 0.9)
    True
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "eps": [Interval(Real, 0, None, closed="left"), None],
        "max_queries": [Interval(Integral, 1, None, closed="left")],
        "init_evals": [Interval(Integral, 1, None, closed="left")],
        "max_evals": [Interval(Integral, 1, None, closed="left")],
        "gamma": [Interval(Real, 0, None, closed="neither")],
        "init_size": [Interval(Integral, 0, None, closed="left")],
        "n_references": [Interval(Integral, 0, None, closed="left")],
    }
    _supported_norms = ("inf", 2)

    def __init__(self, estimator=None, *, eps=None, norm=2, max_queries=1000,
                 init_evals=20, max_evals=1000, gamma=1.0, init_size=10,
                 n_references=1000, constraints=None, feature_scale=None,
                 targeted=False, random_state=None, batch_size=1024, verbose=False,
                 n_jobs=None):
        self.estimator = estimator
        self.eps = eps
        self.norm = norm
        self.max_queries = max_queries
        self.init_evals = init_evals
        self.max_evals = max_evals
        self.gamma = gamma
        self.init_size = init_size
        self.n_references = n_references
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def _fit_extra(self, X):
        self._fit_references(X)

    def _starts(self, Ub, yb):
        """The ``init_size`` nearest reference rows of another (or the target) class."""
        k = min(self.init_size, len(self.reference_))
        if k == 0:
            return []
        near, valid = self._nearest_references(Ub, yb, k)
        return [(self.reference_[near] / self.scale_, valid)]

    def _box(self):
        ref = self.reference_ / self.scale_
        lo = self.constraints_.lower / self.scale_
        hi = self.constraints_.upper / self.scale_
        if len(ref):
            lo, hi = np.maximum(lo, ref.min(axis=0)), np.minimum(hi, ref.max(axis=0))
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            return None
        return lo, hi

    def _generate(self, U, y_idx, key, rows):
        project = self._project()
        mutable = np.asarray(self.constraints_.mutable, bool)
        box = self._box()

        def attack_batch(Ub, yb, kb, live):
            U_adv, _, nq = _bb.hop_skip_jump(
                self._is_adv(yb), Ub, key=kb, norm=self.norm_,
                max_queries=self.max_queries, mutable=mutable, project=project,
                starts=self._starts(Ub, yb), box=box, init_size=self.init_size,
                init_evals=self.init_evals, max_evals=self.max_evals, gamma=self.gamma,
                stop_dist=self.eps, active=live)
            return U_adv, nq

        return self._run(attack_batch, U, y_idx, key, rows)


HopSkipJumpAttack.__doc__ = HopSkipJumpAttack.__doc__.replace(
    "{shared}", _SHARED_DOC.strip())


class TransferAttack(BaseAttack):
    """Attack a differentiable surrogate white-box, then check on the victim.

    At :meth:`fit`, a clone of ``surrogate`` is trained to imitate the victim
    on the ``X`` given to fit: with ``labels="victim"`` on the victim's own
    predictions (``len(X)`` queries, counted in ``n_fit_queries_``), with
    ``labels="given"`` on the ``y`` given to fit. :meth:`transform` runs
    ``attack`` (a white-box attack) against the surrogate with this attack's
    budget, norm and constraints, and keeps the rows that transfer: the
    victim's own ``predict`` decides (``success_``).

    Parameters
    ----------
    estimator : fitted classifier, default=None
        The victim: anything with ``predict``.
    surrogate : classifier, default=None
        Unfitted model that :func:`skadv.as_differentiable` accepts once
        fitted; ``None`` is ``StandardScaler`` + scikit-learn's
        ``MLPClassifier(hidden_layer_sizes=(64,), max_iter=500)``.
    attack : white-box attack, default=None
        Template run against the surrogate; its ``eps``, ``norm``,
        ``constraints``, ``feature_scale``, ``targeted`` and ``random_state``
        are set from this attack's. ``None`` is ``PGDAttack(steps=20)``.
    eps : float, default=0.1
        Budget in ``norm``, in the units of ``X`` (or relative, see
        ``feature_scale``).
    norm : {"inf", 2, 1}, default="inf"
    labels : {"victim", "given"}, default="victim"
        What the surrogate learns from.
    {shared}

    Attributes
    ----------
    surrogate_ : fitted classifier
    success_ : ndarray of bool, shape (n_samples,)
        Rows whose transferred perturbation fools the victim.
    perturbation_ : ndarray of shape (n_samples,)
    valid_before_repair_ : ndarray of bool, shape (n_samples,)
        As in :class:`SquareAttack`.
    n_queries_ : ndarray of int, shape (n_samples,)
        Victim queries per row made by the search: zero, the surrogate is
        attacked instead (the base class's final check is one query per row).
    n_fit_queries_ : int
        Victim queries spent labelling the surrogate's training data.
    scale_, norm_, constraints_, encoder_, n_features_in_, feature_names_in_
        As in :class:`SquareAttack`.

    References
    ----------
    .. [1] N. Papernot, P. McDaniel, I. Goodfellow, S. Jha, Z. B. Celik,
       A. Swami. "Practical Black-Box Attacks against Machine Learning",
       AsiaCCS 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.ensemble import GradientBoostingClassifier
    >>> from skadv.attacks import TransferAttack
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = GradientBoostingClassifier(random_state=0).fit(X, y)
    >>> attack = TransferAttack(clf, eps=1.0, feature_scale="std", random_state=0)
    >>> X_adv = attack.fit(X).transform(X[:100], y[:100])
    >>> bool(attack.success_.mean() > 0.2), attack.n_fit_queries_
    (True, 569)
    """

    _parameter_constraints = {
        **BaseAttack._parameter_constraints,
        "surrogate": [HasMethods(["fit", "predict"]), None],
        "attack": [BaseAttack, None],
        "labels": [StrOptions({"victim", "given"})],
    }
    _supported_norms = ("inf", 2, 1)
    _work_dtype = np.float64

    def __init__(self, estimator=None, *, surrogate=None, attack=None, eps=0.1,
                 norm="inf", labels="victim", constraints=None, feature_scale=None,
                 targeted=False, random_state=None, batch_size=1024, verbose=False,
                 n_jobs=None):
        self.estimator = estimator
        self.surrogate = surrogate
        self.attack = attack
        self.eps = eps
        self.norm = norm
        self.labels = labels
        self.constraints = constraints
        self.feature_scale = feature_scale
        self.targeted = targeted
        self.random_state = random_state
        self.batch_size = batch_size
        self.verbose = verbose
        self.n_jobs = n_jobs

    def fit(self, X, y=None):
        """Validate, then train the surrogate on the victim's labels of ``X``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            The surrogate's training rows (usually the attacker's data).
        y : array-like of shape (n_samples,), default=None
            Labels for ``labels="given"``; ignored otherwise.

        Returns
        -------
        self : object
        """
        super().fit(X, y)
        if self.labels == "given" and y is None:
            raise ValueError(
                "labels='given' trains the surrogate on the y passed to fit, but "
                "y is None. Pass y, or use labels='victim' to query the victim.")
        Xe = self._validate_rows(X, reset=False).astype(np.float64)
        if self.labels == "victim":
            target = self._victim_predict(Xe)
            self.n_fit_queries_ = len(Xe)
        else:
            target = np.asarray(y)
            self.n_fit_queries_ = 0
        if len(np.unique(target)) < 2:
            raise ValueError(
                f"The surrogate's labels ({self.labels!r}) on X hold only one class, "
                f"{np.unique(target).tolist()}; a surrogate cannot learn a decision "
                f"boundary from them. Fit on data that spans at least two classes.")
        self.surrogate_ = clone(self._default_surrogate() if self.surrogate is None
                                else self.surrogate).fit(Xe, target)
        return self

    def _default_surrogate(self):
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        seed = self.random_state if isinstance(self.random_state, Integral) else 0
        return make_pipeline(StandardScaler(), MLPClassifier(
            hidden_layer_sizes=(64,), max_iter=500, random_state=seed))

    def _inner_attack(self):
        inner = PGDAttack(steps=20) if self.attack is None else self.attack
        return clone(inner).set_params(
            estimator=self.surrogate_, eps=self.eps, norm=self.norm_,
            constraints=FeatureConstraints.from_arrays(self.constraints_),
            feature_scale=self.scale_, targeted=self.targeted,
            random_state=self.random_state)

    def _generate(self, U, y_idx, key, rows):
        X = U * self.scale_
        labels = np.asarray(self.estimator.classes_)[y_idx]
        # A class the surrogate never saw cannot be attacked (or reached) on it.
        known = np.isin(labels, self.surrogate_.classes_)
        X_adv = X.copy()
        if known.any():
            inner = self._inner_attack().fit(X[known])
            # Rows keep their global numbers (their random starts) and the
            # run's key: a row's result depends neither on the other rows nor
            # on n_jobs chunks.
            X_adv[known] = inner._attack(X[known], labels[known], rows[known],
                                         key=key).X_adv
        return X_adv / self.scale_, {"n_queries_": np.zeros(len(U), dtype=np.int64)}


TransferAttack.__doc__ = TransferAttack.__doc__.replace("{shared}", _SHARED_DOC.strip())
