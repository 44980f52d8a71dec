"""Norms and budgets of attacks: spellings, per-feature units, an attack's norm."""

import numpy as np

from ..constraints import FeatureConstraints

__all__ = ["attack_norm", "canonical_norm", "resolve_budget"]

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


def attack_norm(attack):
    """The norm an attack (or a wrapper around one) measures ``eps`` in.

    Read from the attack's ``norm`` -- a constructor parameter, or a class
    attribute for attacks of one norm (``CarliniWagnerL2Attack.norm == 2``) --
    or, for wrappers without one (BPDA, EOT), from the attack they wrap.

    Parameters
    ----------
    attack : attack or wrapper (fitted or not)

    Returns
    -------
    norm : {"inf", 2, 1}
    """
    norm = getattr(attack, "norm", None)
    if norm is not None:
        return canonical_norm(norm)
    inner = getattr(attack, "attack", None)
    if inner is not None:
        return attack_norm(inner)
    raise ValueError(f"{type(attack).__name__} has no norm: it is not an attack.")
