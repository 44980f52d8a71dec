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

from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

from ..constraints import FeatureConstraints
from ..constraints._budget import _budget_norm, budget_mask
from ._budget import canonical_norm, resolve_budget
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

__all__ = ["AttackResult", "BaseAttack", "canonical_norm", "resolve_budget"]

class AttackResult(NamedTuple):
    """What one attack run produces, per row (the private seam between attacks).

    ``transform`` stores the fields as ``success_``, ``perturbation_``,
    ``valid_before_repair_`` and each ``extras`` entry under its own name
    (``n_queries_``, ``minimal_distance_``, ...).
    """

    X_adv: np.ndarray                # (n, d) adversarial rows, encoded space
    success: np.ndarray              # (n,) bool, by the victim's own predict
    perturbation: np.ndarray         # (n,) norm of X_adv - X in eps's units
    valid_before_repair: np.ndarray  # (n,) bool
    extras: dict                     # attribute name -> (n,) array

    @classmethod
    def concatenate(cls, parts):
        """The results of consecutive row chunks as one."""
        names = parts[0].extras.keys()
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in cls._fields[:-1]),
                   {k: np.concatenate([p.extras[k] for p in parts]) for k in names})

    def take(self, index):
        """The result of the rows ``index``."""
        return type(self)(*(getattr(self, f)[index] for f in self._fields[:-1]),
                          {k: v[index] for k, v in self.extras.items()})


class BaseAttack(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Base class of skadv's attacks (not for direct use).

    Subclasses set ``_supported_norms`` and implement
    ``_generate(U, y_idx, key, rows) -> (U_adv, extras)`` on rows in *scaled*
    units (``X / scale_``), where ``y_idx`` are class indices into the
    victim's ``classes_`` (targets when ``targeted``), ``rows`` the rows'
    global indices (their random draws derive from them) and ``extras`` a
    dict of per-row arrays to record (``{"n_queries_": ...}``). ``_generate``
    sets no attribute: a thread backend runs chunks of rows on one object.
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
        # A copy for the victim: CatBoost's predict marks a 1-row input array
        # read-only, and the attacks write into the rows they test.
        Xv = self._victim_input(X)
        if isinstance(Xv, np.ndarray):
            Xv = Xv.copy()
        return np.asarray(self.estimator.predict(Xv))

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
        # A CatBoost model loaded from its file says 0: unknown, not zero.
        n_victim = getattr(self.estimator, "n_features_in_", None)
        if n_victim and n_victim != self.n_features_in_:
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
        index = getattr(X, "index", None)
        result = self._attack(X, y)
        self._store(result)
        return self.encoder_.decode(result.X_adv, index=index)

    def _store(self, result):
        """Record a result as the public per-row attributes of the last call."""
        self.success_ = result.success
        self.perturbation_ = result.perturbation
        self.valid_before_repair_ = result.valid_before_repair
        for name, values in result.extras.items():
            setattr(self, name, values)

    def _attack(self, X, y=None, row_ids=None, *, key=None):
        """Attack ``X`` and return an :class:`AttackResult`; sets no attribute.

        What nested attacks (a stage of
        :class:`~skadv.attacks.ConstrainedAdaptiveAttack`, the attack
        :class:`~skadv.attacks.TransferAttack` runs on its surrogate), row
        chunks and :func:`~skadv.evaluation.robustness_report` consume.

        Parameters
        ----------
        X : array-like or DataFrame of shape (n_samples, n_features)
        y : array-like of shape (n_samples,), default=None
        row_ids : array-like of int, shape (n_samples,), default=None
            Global indices of the rows (default ``0..n-1``): a row's random
            draws are derived from its index, so a row attacked among others
            (a chunk, the rows an earlier stage missed) gets the draws it
            would get in the whole run.
        key : jax.Array, default=None
            The run's PRNG key; ``None`` derives it from ``random_state``.
            An outer attack passes its own to the attacks it runs.

        Returns
        -------
        result : AttackResult
            ``X_adv`` in the encoded (all-numeric) space of the attack.
        """
        X64, labels, y_idx, key, out_dtype, rows = self._prepare(X, y, row_ids, key)
        return self._attack_rows(X64, labels, y_idx, key, out_dtype, rows)

    def _prepare(self, X, y, row_ids, key):
        """Checked rows, labels, key and row numbers of :meth:`_attack`:
        ``(X float64, labels, y_idx, key, out_dtype, rows)``."""
        check_is_fitted(self, "scale_")
        X = self._validate_rows(X, reset=False)
        out_dtype = X.dtype
        X64 = np.asarray(X, dtype=np.float64)  # X itself when already float64
        if self.constraints is not None:
            self.constraints.check_clean(X64, arrays=self.constraints_)
        labels, y_idx = self._targets(X64, y)
        rows = np.arange(len(X64)) if row_ids is None else np.asarray(row_ids)
        if rows.shape != (len(X64),):
            raise ValueError(
                f"row_ids must have shape ({len(X64)},) to match X. Got {rows.shape} "
                "instead.")
        if key is None:
            key = as_key(getattr(self, "random_state", None))
        return X64, labels, y_idx, key, out_dtype, rows

    def _attack_rows(self, X, labels, y_idx, key, out_dtype, rows):
        """Attack and finalise rows ``X`` (float64), split across ``n_jobs``
        joblib workers in chunks of whole batches (:mod:`skadv.utils._parallel`)
        and merged in row order."""
        n_jobs = getattr(self, "n_jobs", None)
        chunks = row_chunks(len(X), getattr(self, "batch_size", None), n_jobs)
        if len(chunks) == 1:
            return self._attack_serial(X, labels, y_idx, key, out_dtype, rows)
        parts = map_row_chunks(_attack_chunk, chunks, [rows, X, labels, y_idx],
                               self, key, out_dtype, n_jobs=n_jobs)
        return AttackResult.concatenate(parts)

    def _attack_serial(self, X, labels, y_idx, key, out_dtype, rows):
        """One run of ``_generate`` over ``X`` and the final check."""
        U = (X / self.scale_).astype(self._work_dtype)
        U_adv, extras = self._generate(U, y_idx, key, rows)
        X_adv = np.asarray(U_adv, dtype=np.float64) * self.scale_
        return self._finalize(X, X_adv, labels, out_dtype, extras)

    def fit_transform(self, X, y=None, **fit_params):
        """Fit, then attack ``X`` with the given labels ``y``.

        Unlike :class:`~sklearn.base.TransformerMixin`, ``y`` is passed on to
        :meth:`transform`: the attack targets those labels.
        """
        return self.fit(X, y, **fit_params).transform(X, y)

    def _finalize(self, X, X_adv, labels, out_dtype, extras):
        """Repair, confirm with the victim's ``predict`` and measure: the result."""
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
            valid = ~bad & np.all(X_adv[:, frozen] == X[:, frozen], axis=1)
        else:
            valid = constraints.is_satisfied(X_adv, X, arrays=c) & ~bad
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
        delta = (np.asarray(Z_out, dtype=np.float64) - X) / self.scale_
        return AttackResult(Z_out, success, _budget_norm(delta, norm, budget_mask(c)),
                            valid, dict(extras))

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

    The attack is only read (a thread backend shares it between chunks); the
    chunk carries its rows' global indices, from which the per-row random
    draws derive, so the merged result equals the serial run's.
    """
    return attack._attack_serial(X, labels, y_idx, key, out_dtype, rows)
