"""The one attack base class: validation, budgets, constraints, the final check.

Every attack is a scikit-learn transformer. This class validates parameters
and data, turns ``random_state`` into per-row keys (so a row's result does not
depend on batching), resolves the feature constraints and the per-feature
budget scale, and, after the subclass's ``_generate`` has proposed adversarial
rows, does what makes the result trustworthy:

1. repairs every row to satisfy the constraints and the budget exactly
   (:meth:`skadv.constraints.FeatureConstraints.repair`);
2. asks the victim's own ``predict`` (float64 in scikit-learn) whether the row
   really is adversarial, on the very values returned;
3. returns unsuccessful rows unchanged.
"""

import copy
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

from ..constraints import FeatureConstraints, _budget_norm, budget_mask
from ._encoding import InputEncoder
from ..utils._jax import as_key
from ..utils._parallel import map_row_chunks, row_chunks
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)

__all__ = ["BaseAttack", "canonical_norm", "resolve_budget"]

_NORM_NAMES = {"inf": "inf", "linf": "inf", np.inf: "inf", 2: 2, "2": 2, "l2": 2,
               1: 1, "1": 1, "l1": 1}


def canonical_norm(norm):
    """Map the accepted spellings of a norm to ``"inf"``, ``2`` or ``1``."""
    try:
        return _NORM_NAMES[norm.lower() if isinstance(norm, str) else norm]
    except (KeyError, TypeError):
        raise ValueError(
            f"norm must be 'inf', 2 or 1. Got {norm!r} instead.") from None


def resolve_budget(constraints, feature_scale, X, feature_names=None):
    """Per-feature unit of the budget and resolved constraints for data ``X``.

    Shared by attacks (at ``fit``) and adversarial training (which attacks
    inside its training step with the same budget and constraints).

    Parameters
    ----------
    constraints : FeatureConstraints or None
    feature_scale : {"std"}, array-like of shape (n_features,) or None
        ``"std"``: the standard deviation of each column of ``X``.
    X : ndarray of shape (n_samples, n_features)
    feature_names : ndarray of str, default=None

    Returns
    -------
    scale : ndarray of shape (n_features,)
        Positive; a feature with zero scale gets 1 and is made immutable.
    arrays : ConstraintArrays
    """
    arrays = (constraints or FeatureConstraints()).resolve(X.shape[1], feature_names)
    scale = np.ones(X.shape[1])
    if isinstance(feature_scale, str):
        scale = X.std(axis=0)
    elif feature_scale is not None:
        scale = np.asarray(feature_scale, dtype=np.float64)
        if scale.shape != (X.shape[1],) or np.any(scale < 0):
            raise ValueError(
                f"feature_scale must be 'std', None or {X.shape[1]} non-negative "
                f"numbers. Got shape {scale.shape} instead.")
    # A feature with zero scale has zero budget: it cannot move.
    frozen = scale == 0
    arrays = arrays._replace(mutable=arrays.mutable & ~frozen)
    return np.where(frozen, 1.0, scale), arrays


class BaseAttack(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Base class of skadv's attacks (not for direct use).

    Subclasses set ``_supported_norms`` and implement
    ``_generate(X, y_idx, key) -> X_adv`` on float32 rows in *scaled* units
    (``X / scale_``), where ``y_idx`` are class indices into the victim's
    ``classes_`` (targets when ``targeted``).
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["predict"]), None],
        "eps": [Interval(Real, 0, None, closed="left")],
        "norm": [StrOptions({"inf", "linf", "l2", "l1", "2", "1"}),
                 Options(Real, {1, 2, np.inf})],
        "constraints": [FeatureConstraints, None],
        "feature_scale": [StrOptions({"std"}), "array-like", None],
        "targeted": ["boolean"],
        "random_state": ["random_state"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "verbose": ["verbose"],
        "n_jobs": [Integral, None],
    }

    _supported_norms = ("inf", 2)
    # Bisection steps to the victim's boundary after the repair
    # (:meth:`_bisect_to_boundary`); minimal-distance attacks set it.
    _bisection_steps = 0
    # Rows handed to ``_generate``: float32 for compiled gradient attacks;
    # attacks that query a scikit-learn model use float64, its own precision.
    _work_dtype = np.float32
    # What a transform call records per row: merged in row order when
    # ``n_jobs`` splits the rows (:meth:`_attack_rows`).
    _row_attributes = ("success_", "perturbation_", "valid_before_repair_")
    # Global indices of the rows handed to ``_generate`` (None: 0..n-1). A
    # chunk of a split transform carries its rows' indices, from which the
    # per-row keys and counters are derived, so the rows match the serial run.
    _row_index = None

    # -- victim -------------------------------------------------------------
    def _check_victim(self):
        """Fitted, a classifier, right number of features; subclasses add more."""
        if self.estimator is None:
            raise ValueError(
                f"{type(self).__name__} needs a fitted victim: pass estimator=... "
                "(defenses and scorers set it for you).")
        check_is_fitted(self.estimator)
        if not hasattr(self.estimator, "classes_"):
            raise TypeError(
                f"estimator must be a fitted classifier with classes_; got "
                f"{type(self.estimator).__name__}.")

    def _victim_input(self, X):
        """Float rows as the victim takes them (decoded categories, column names)."""
        encoder = getattr(self, "encoder_", None)
        names = getattr(self.estimator, "feature_names_in_", None)
        if encoder is not None and not encoder.identity:
            return encoder.decode(X)
        if names is not None:
            import pandas as pd

            return pd.DataFrame(X, columns=names)
        return X

    def _victim_predict(self, X):
        return np.asarray(self.estimator.predict(self._victim_input(X)))

    # -- fit ------------------------------------------------------------------
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Validate parameters and data; record scales and constraints.

        The victim is not refitted.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Data to attack (or representative data, for ``feature_scale``).
        y : ignored
            Accepted for pipeline compatibility.

        Returns
        -------
        self : object
        """
        X = self._validate_rows(X, reset=True)
        self.norm_ = canonical_norm(self.norm)
        if self.norm_ not in self._supported_norms:
            raise ValueError(
                f"{type(self).__name__} supports norm in "
                f"{list(self._supported_norms)}. Got norm={self.norm!r} instead.")
        self._check_victim()
        n_victim = getattr(self.estimator, "n_features_in_", None)
        if n_victim is not None and n_victim != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} features, but the victim "
                f"{type(self.estimator).__name__} expects {n_victim}.")
        self.scale_, self.constraints_ = self.encoder_.resolve_budget(
            self.constraints, self.feature_scale, X,
            getattr(self, "feature_names_in_", None))
        self._fit_extra(X)
        return self

    def _fit_extra(self, X):
        """Subclass hook run at the end of fit."""

    def _validate_rows(self, X, *, reset):
        """Float rows the attack works on: categorical columns become one-hot
        groups (:class:`~skadv.attacks._encoding.InputEncoder`, fitted when
        ``reset``); purely numeric input is validated as usual."""
        if reset:
            self.encoder_ = InputEncoder.from_data(X, self.estimator)
        if self.encoder_.identity:
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        validate_data(self, X, reset=reset, skip_check_array=True)
        return self.encoder_.encode(X)

    # -- transform --------------------------------------------------------------
    def _targets(self, X, y):
        classes = np.asarray(self.estimator.classes_)
        if y is None:
            if self.targeted:
                raise ValueError(
                    "A targeted attack needs y, the target labels; got y=None.")
            y = self._victim_predict(X)
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise ValueError(
                f"y must have shape ({X.shape[0]},) to match X. Got {y.shape} instead.")
        idx = np.searchsorted(classes, y)
        idx = np.clip(idx, 0, len(classes) - 1)
        unknown = classes[idx] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels the victim does not know: "
                f"{np.unique(y[unknown]).tolist()}; classes are {classes.tolist()}.")
        return y, idx.astype(np.int32)

    def _eps(self):
        return getattr(self, "eps", None)

    def transform(self, X, y=None):
        """Return adversarial rows for ``X``.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
            Clean rows.
        y : array-like of shape (n_samples,), default=None
            True labels (untargeted; ``None`` attacks the victim's own
            predictions) or target labels (``targeted=True``).

        Returns
        -------
        X_adv : ndarray of shape (n_samples, n_features)
            Same dtype as ``X``. Every row satisfies the constraints and the
            budget; rows the attack could not make adversarial are ``X``'s.
            ``success_`` and ``perturbation_`` describe the call. A DataFrame
            with categorical columns comes back as a DataFrame with the same
            columns, dtypes and index (attacks that support it).
        """
        check_is_fitted(self, "scale_")
        index = getattr(X, "index", None)
        X = self._validate_rows(X, reset=False)
        out_dtype = X.dtype
        X64 = np.asarray(X, dtype=np.float64)  # X itself when already float64
        if self.constraints is not None:
            self.constraints.check_clean(X64, arrays=self.constraints_)
        labels, y_idx = self._targets(X64, y)
        key = as_key(getattr(self, "random_state", None))
        X_adv = self._attack_rows(X64, labels, y_idx, key, out_dtype)
        return self.encoder_.decode(X_adv, index=index)

    def _row_ids(self, n):
        """Global indices of the ``n`` rows handed to ``_generate``."""
        return np.arange(n) if self._row_index is None else np.asarray(self._row_index)

    def _attack_rows(self, X, labels, y_idx, key, out_dtype):
        """Attack and finalise rows ``X`` (float64), split across ``n_jobs``
        joblib workers in chunks of whole batches (:mod:`skadv.utils._parallel`)
        and merged in row order, with the per-row attributes."""
        n_jobs = getattr(self, "n_jobs", None)
        chunks = row_chunks(len(X), getattr(self, "batch_size", None), n_jobs)
        if len(chunks) == 1:
            U = (X / self.scale_).astype(self._work_dtype)
            U_adv = np.asarray(self._generate(U, y_idx, key), dtype=np.float64)
            return self._finalize(X, U_adv * self.scale_, labels, out_dtype)
        parts = map_row_chunks(_attack_chunk, chunks,
                               [self._row_ids(len(X)), X, labels, y_idx],
                               self, key, out_dtype, n_jobs=n_jobs)
        for name in parts[0][1]:
            setattr(self, name, np.concatenate([p[1][name] for p in parts]))
        return np.concatenate([p[0] for p in parts])

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then attack ``X`` with the given labels ``y``.

        Unlike :class:`~sklearn.base.TransformerMixin`, ``y`` is passed on to
        :meth:`transform`: the attack targets those labels.
        """
        return self.fit(X, y, **fit_params).transform(X, y)

    def _finalize(self, X, X_adv, labels, out_dtype):
        eps = self._eps()
        norm = self.norm_
        constraints = self.constraints or FeatureConstraints()
        bad = ~np.all(np.isfinite(X_adv), axis=1)
        X_adv[bad] = X[bad]
        c = self.constraints_
        frozen = ~np.asarray(c.mutable, bool)
        if self.constraints is None:
            # Only features without spread are held (fixed by the repair): no
            # full check needed on the hot path of unconstrained attacks.
            self.valid_before_repair_ = ~bad & np.all(
                X_adv[:, frozen] == X[:, frozen], axis=1)
        else:
            self.valid_before_repair_ = (constraints.is_satisfied(X_adv, X, arrays=c)
                                         & ~bad)
        Z = constraints.repair(X_adv, X, eps=eps, norm=norm, scale=self.scale_, arrays=c)
        Z = self._postprocess(X, Z, labels)
        if self._bisection_steps:
            Z = self._bisect_to_boundary(X, Z, labels, out_dtype)
        Z_out = np.asarray(Z, dtype=out_dtype)  # Z is not used again
        if self.constraints is not None:
            # The guarantee, checked on the values returned: a row that breaks
            # a constraint (after the cast to the output dtype) is returned clean.
            invalid = ~constraints.is_satisfied(Z_out.astype(np.float64), X, arrays=c)
            Z_out[invalid] = X[invalid].astype(out_dtype)
        success = self._is_adversarial(Z_out, labels)
        failed = np.flatnonzero(~success)
        Z_out[failed] = X[failed].astype(out_dtype)
        if failed.size:
            # A returned clean row already misclassified (or in the target
            # class) is a success as returned: success_ describes those rows.
            success[failed] = self._is_adversarial(Z_out[failed], labels[failed])
        self.success_ = success
        delta = (np.asarray(Z_out, dtype=np.float64) - X) / self.scale_
        self.perturbation_ = _budget_norm(delta, norm, budget_mask(c))
        return Z_out

    def _postprocess(self, X, Z, labels):
        """Hook after the repair (minimal-distance attacks bisect to the boundary)."""
        return Z

    def _is_adversarial(self, Z, labels):
        """Per row, by the victim's own ``predict`` on exactly these values."""
        pred = self._victim_predict(Z)
        return (pred == labels) if self.targeted else (pred != labels)

    def _bisect_to_boundary(self, X, Z, labels, out_dtype):
        """Pull each adversarial row of ``Z`` back along ``X -> Z`` to the boundary.

        Minimal-distance attacks step past the decision boundary (DeepFool's
        overshoot, the last C&W iterate, a black-box walk); bisection on the
        segment removes that excess. Every step makes one ``predict`` call for
        all rows, on the points cast to ``out_dtype`` (the values the user
        gets), and keeps, per row, the point nearest ``X`` known to be
        adversarial. Only continuous features move: integer and one-hot columns
        keep ``Z``'s values, so every point on the way satisfies the constraints
        and, being closer to ``X``, the budget. Used by :meth:`_finalize` when
        ``_bisection_steps`` is positive.

        Parameters
        ----------
        X, Z : ndarray of shape (n_samples, n_features), float64
            Clean and repaired adversarial rows.
        labels : ndarray of shape (n_samples,)
        out_dtype : dtype

        Returns
        -------
        Z : ndarray of shape (n_samples, n_features), float64
        """
        c = self.constraints_
        discrete = np.asarray(c.integer, bool) | (np.asarray(c.group) >= 0)
        base = np.where(discrete, Z, X)
        D = np.where(discrete, 0.0, Z - X)
        rows = np.flatnonzero(np.any(D != 0, axis=1))
        if rows.size == 0:
            return Z
        rows = rows[self._is_adversarial(Z[rows].astype(out_dtype), labels[rows])]
        base, D, lab = base[rows], D[rows], labels[rows]
        lo, hi = np.zeros(len(rows)), np.ones(len(rows))

        def point(t):
            return (base + t[:, None] * D).astype(out_dtype)

        # Relations need not hold between the discrete base and Z: only valid
        # points count (Z itself is valid).
        fc = self.constraints if c.relations is not None else None

        for _ in range(self._bisection_steps):
            mid = 0.5 * (lo + hi)
            P = point(mid)
            adv = self._is_adversarial(P, lab)
            if fc is not None:
                adv &= fc.is_satisfied(P.astype(np.float64), X[rows], tol=1e-8, arrays=c)
            hi = np.where(adv, mid, hi)
            lo = np.where(adv, lo, mid)
        moved = hi < 1.0
        Z = Z.copy()
        Z[rows[moved]] = point(hi)[moved].astype(np.float64)
        return Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags


def _attack_chunk(start, stop, rows, X, labels, y_idx, attack, key, out_dtype):
    """One chunk of :meth:`BaseAttack._attack_rows`, in a joblib worker.

    Works on a shallow copy: with a thread backend the attack object is shared.
    Returns the adversarial rows and the chunk's per-row attributes.
    """
    attack = copy.copy(attack)
    attack.n_jobs = 1
    attack._row_index = rows
    if isinstance(getattr(attack, "random_state", None), np.random.RandomState):
        # Nested attacks (TransferAttack's) draw from it: every chunk starts
        # from the state the serial run would see.
        attack.random_state = copy.deepcopy(attack.random_state)
    X_adv = attack._attack_rows(X, labels, y_idx, key, out_dtype)
    return X_adv, {name: getattr(attack, name) for name in attack._row_attributes
                   if hasattr(attack, name)}
