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

import numpy as np
import jax
import jax.numpy as jnp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

from ..constraints import FeatureConstraints, perturbation_norm
from ..utils._jax import as_key
from ..utils._sklearn_compat import (
    HasMethods,
    Interval,
    Options,
    StrOptions,
    _fit_context,
    check_is_fitted,
    validate_data,
)

__all__ = ["BaseAttack", "canonical_norm"]

_NORM_NAMES = {"inf": "inf", "linf": "inf", np.inf: "inf", 2: 2, "2": 2, "l2": 2,
               1: 1, "1": 1, "l1": 1}


def canonical_norm(norm):
    """Map the accepted spellings of a norm to ``"inf"``, ``2`` or ``1``."""
    try:
        return _NORM_NAMES[norm.lower() if isinstance(norm, str) else norm]
    except (KeyError, TypeError):
        raise ValueError(
            f"norm must be 'inf', 2 or 1. Got {norm!r} instead.") from None


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
    }

    _supported_norms = ("inf", 2)

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

    def _victim_predict(self, X):
        names = getattr(self.estimator, "feature_names_in_", None)
        if names is not None:
            import pandas as pd

            X = pd.DataFrame(X, columns=names)
        return np.asarray(self.estimator.predict(X))

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
        X = validate_data(self, X, reset=True, dtype=[np.float64, np.float32])
        self.norm_ = canonical_norm(self.norm)
        if self.norm_ not in self._supported_norms:
            raise ValueError(
                f"{type(self).__name__} supports norm in "
                f"{list(self._supported_norms)}. Got norm={self.norm!r} instead.")
        self._check_victim()
        n_victim = getattr(self.estimator, "n_features_in_", None)
        if n_victim is not None and n_victim != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} features, but the victim "
                f"{type(self.estimator).__name__} expects {n_victim}.")
        names = getattr(self, "feature_names_in_", None)
        constraints = self.constraints or FeatureConstraints()
        arrays = constraints.resolve(X.shape[1], names)
        scale = np.ones(X.shape[1])
        if isinstance(self.feature_scale, str):
            scale = X.std(axis=0)
        elif self.feature_scale is not None:
            scale = np.asarray(self.feature_scale, dtype=np.float64)
            if scale.shape != (X.shape[1],) or np.any(scale < 0):
                raise ValueError(
                    f"feature_scale must be 'std', None or {X.shape[1]} non-negative "
                    f"numbers. Got shape {scale.shape} instead.")
        # A feature with zero scale has zero budget: it cannot move.
        frozen = scale == 0
        arrays = arrays._replace(mutable=arrays.mutable & ~frozen)
        self.scale_ = np.where(frozen, 1.0, scale)
        self.constraints_ = arrays
        self._fit_extra(X)
        return self

    def _fit_extra(self, X):
        """Subclass hook run at the end of fit."""

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
            ``success_`` and ``perturbation_`` describe the call.
        """
        check_is_fitted(self, "scale_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        out_dtype = X.dtype
        X64 = X.astype(np.float64)
        labels, y_idx = self._targets(X64, y)
        key = as_key(self.random_state)
        U = (X64 / self.scale_).astype(np.float32)
        U_adv = np.asarray(self._generate(U, y_idx, key), dtype=np.float64)
        return self._finalize(X64, U_adv * self.scale_, labels, out_dtype)

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
        Z = constraints.repair(X_adv, X, eps=eps, norm=norm, scale=self.scale_,
                               arrays=self.constraints_)
        Z = self._postprocess(X, Z, labels)
        Z_out = Z.astype(out_dtype)
        pred = self._victim_predict(Z_out)
        success = (pred == labels) if self.targeted else (pred != labels)
        Z_out[~success] = X[~success].astype(out_dtype)
        self.success_ = success
        self.perturbation_ = perturbation_norm(
            (Z_out.astype(np.float64) - X) / self.scale_, norm)
        return Z_out

    def _postprocess(self, X, Z, labels):
        """Hook after the repair (minimal-distance attacks bisect to the boundary)."""
        return Z

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.target_tags.required = False
        return tags
