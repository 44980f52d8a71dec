"""The jit-able projection used inside every iterative attack step.

:func:`project_relaxed` imposes the continuous relaxation of the constraints
(box, immutability, monotone features, a few Newton steps towards the linear
relations) and recomputes derived features (:func:`recompute_derived`).
"""

import numpy as np
import jax.numpy as jnp

from . import _expressions as _ex
from ._arrays import _derived_mask
from ._polytope import _newton_fixed


def _row_bounds(c, x, xp):
    """Per-row box: bounds, with monotone features bounded by the clean row.

    Without monotone features (NumPy) the bounds stay per feature, shape
    ``(d,)``: no full-size arrays on the hot path of the final repair.
    """
    lower, upper = c.lower, c.upper
    if c.direction is None or (xp is np and not np.any(c.direction)):
        return lower, upper
    lower = xp.where(c.direction > 0, xp.maximum(lower, x), lower)
    upper = xp.where(c.direction < 0, xp.minimum(upper, x), upper)
    return lower, upper


def project_relaxed(c, x_adv, x):
    """Project onto the continuous relaxation of the constraints (jit-able).

    Parameters
    ----------
    c : ConstraintArrays
        Resolved constraints (NumPy or JAX arrays).
    x_adv : jax.Array of shape (n, d)
        Candidate rows.
    x : jax.Array of shape (n, d)
        Clean rows (immutable features are reset to them).

    Returns
    -------
    x_proj : jax.Array of shape (n, d)
        Immutable features equal ``x``; every feature inside its bounds (and,
        for ``increase_only``/``decrease_only`` features, on the allowed side
        of ``x``): the Euclidean projection onto that set, which is a box.
        With relations, a few projected Newton iterations
        (:func:`project_polytope`) then bring the row close to the projection
        onto the box intersected with the linear relations (and the L-inf
        ball of ``relations.radius``), and derived features are recomputed
        from their inputs. Integers and one-hot groups are relaxed.
    """
    x_adv = jnp.where(c.mutable, x_adv, x)
    lower, upper = _row_bounds(c, x, jnp)
    x_adv = jnp.clip(x_adv, lower, upper)
    rel = c.relations
    if rel is None:
        return x_adv
    derived = _derived_mask(rel.spec, x.shape[1])
    if rel.spec.row_names:
        lo = jnp.maximum(lower, x - rel.radius)
        hi = jnp.minimum(upper, x + rel.radius)
        # Derived features are outputs, held where they are for the projection.
        lo = jnp.where(derived | ~c.mutable, x_adv, lo)
        hi = jnp.where(derived | ~c.mutable, x_adv, hi)
        G = rel.G * rel.unit
        w = jnp.ones(x.shape[1], x_adv.dtype)
        eq = jnp.asarray(rel.spec.row_equality, bool)
        x_adv, _ = _newton_fixed(x_adv, lo, hi, G, rel.b, w, eq, rel.spec.iterations)
    return recompute_derived(rel, x_adv, xp=jnp)


def recompute_derived(rel, V, *, xp=np):
    """Rows ``V`` (in the variables' units) with every derived feature recomputed.

    Parameters
    ----------
    rel : Relations or None
    V : array of shape (n, d)
    xp : module, default=numpy

    Returns
    -------
    V : array of shape (n, d)
        A new array (NumPy) or traced value (JAX).
    """
    if rel is None or not rel.spec.derived:
        return V
    X = V * rel.unit
    out = V.copy() if xp is np else V
    for target, expr in rel.spec.derived:
        value = _ex.evaluate(expr, X, xp) / rel.unit[target]
        if xp is np:
            out[:, target] = value
        else:
            out = out.at[:, target].set(value)
    return out
