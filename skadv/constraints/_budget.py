"""Perturbation budgets: which features a budget counts, and the norms."""

import numpy as np
import jax.numpy as jnp

from ._arrays import _derived_mask


def budget_mask(c):
    """Features a perturbation's norm counts: all but the derived ones.

    A derived feature (``debt_ratio == debt / income``) is recomputed from the
    features an attacker changes; the budget limits those changes, and the
    derived feature follows.

    Parameters
    ----------
    c : ConstraintArrays

    Returns
    -------
    mask : ndarray of bool, shape (n_features,)
    """
    d = len(c.lower)
    if c.relations is None or not c.relations.spec.derived:
        return np.ones(d, dtype=bool)
    return ~_derived_mask(c.relations.spec, d)


def _budget_norm(delta, norm, mask):
    return perturbation_norm(delta if mask.all() else delta[:, mask], norm)


def perturbation_norm(delta, norm):
    """Row-wise norm of a perturbation, ``norm`` in {"inf", 2, 1} (NumPy or JAX)."""
    xp = jnp if not isinstance(delta, np.ndarray) else np
    if norm == "inf":
        return xp.max(xp.abs(delta), axis=-1)
    if norm == 2:
        return xp.sqrt(xp.sum(delta * delta, axis=-1))
    if norm == 1:
        return xp.sum(xp.abs(delta), axis=-1)
    raise ValueError(f"norm must be 'inf', 2 or 1. Got {norm!r} instead.")


def _budget_ok(Z, X, c, eps, norm, s):
    if eps is None:
        return np.ones(len(Z), dtype=bool)
    return _budget_norm((Z - X) / s, norm, budget_mask(c)) <= eps * (1 + 1e-9) + 1e-12
