"""The largest radius a set of sound bounds certifies, per row, by bisection.

Pure JAX (no scikit-learn): one compiled program bisects the radius of every
row of a batch at once. :func:`radius_in_norm` turns a radius of one norm
into a sound radius of another.
"""

from functools import partial

import numpy as np
import jax
import jax.numpy as jnp

from ._network import fill_doc, forward, margin_matrix
from .crown import crown_bounds

__all__ = ["certified_radius", "radius_in_norm"]

_BOUND_METHODS = ("ibp", "crown-ibp", "crown")


@partial(jax.jit, static_argnames=("norm", "methods", "steps"))
@fill_doc
def certified_radius(layers, x, label, max_radius, *, norm="inf",
                     methods=("ibp", "crown-ibp", "crown"), steps=30):
    """Largest radius (found by bisection) at which the bounds prove ``label`` wins.

    A radius ``r`` is certified for a row when, over the ball of radius ``r``
    around it, a lower bound of every margin ``logit[label] - logit[j]`` is
    positive; the lower bound of each margin is the best (largest) of the
    bounds of ``methods``, which are all sound, so their maximum is too.

    Parameters
    ----------
    %(layers)s
    x : array of shape (n_samples, n_features)
        Centres of the balls.
    label : int array of shape (n_samples,)
        Index of the logit that must win at each row.
    max_radius : float or array of shape (n_samples,)
        Where the search starts; a row certified at ``max_radius`` gets it
        (the true radius may be larger).
    norm : {"inf", 2}, default="inf"
    methods : tuple of {"ibp", "crown-ibp", "crown"}, default=all three
        Bounds of :func:`skadv.verify.crown_bounds` to take the best of, per
        margin. None dominates: CROWN is usually tighter on naturally trained
        networks and can be looser than IBP on IBP-trained ones (Zhang et al.
        2020).
    steps : int, default=30
        Bisection steps; the radius is found to ``max_radius / 2**steps``.

    Returns
    -------
    radius : array of shape (n_samples,)
        A radius at which the bounds certify ``label`` (so does every smaller
        one: its ball is a subset); ``0`` if only the centre is certain and
        ``-1`` when ``label`` does not win strictly at ``x`` itself.

    Notes
    -----
    CROWN's bound is not monotone in the radius (a smaller ball can flip an
    adaptive ReLU slope and loosen a bound), so "certified at ``r``" need not
    imply "certified at every ``r' < r``" *for the bound*. The bisection does
    not rely on it: its lower end only ever moves to a radius that was itself
    certified, and the reported radius is that one. It may miss a larger
    certifiable radius, never report an uncertified one.

    References
    ----------
    .. [1] Gowal, S. et al. "On the effectiveness of interval bound propagation
       for training verifiably robust models." arXiv:1810.12715, 2018.
    .. [2] Zhang, H. et al. "Towards stable and efficient training of
       verifiably robust neural networks." ICLR 2020.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from skadv.verify import certified_radius
    >>> layers = [{"W": jnp.array([[1.0, -1.0]]), "b": jnp.zeros(2)}]
    >>> r = certified_radius(layers, jnp.array([[0.5]]), jnp.array([0]), 4.0)
    >>> round(float(r[0]), 4)  # logits (x, -x): label 0 wins while x > 0
    0.5
    """
    unknown = set(methods) - set(_BOUND_METHODS)
    if unknown or not methods:
        raise ValueError(
            f"`methods` must be a non-empty tuple of {_BOUND_METHODS}. Got {methods!r} instead.")
    x = jnp.asarray(x)
    n = x.shape[0]
    C = margin_matrix(label, layers[-1]["W"].shape[1]).astype(x.dtype)
    max_radius = jnp.broadcast_to(jnp.asarray(max_radius, x.dtype), (n,))

    def worst_margin(r):
        best = None
        for method in methods:
            lb, _ = crown_bounds(layers, x, r, norm, C=C, method=method)
            best = lb if best is None else jnp.maximum(best, lb)
        return jnp.min(best, axis=1)

    centre = jnp.min(jnp.einsum("nsk,nk->ns", C, forward(layers, x)), axis=1) > 0

    def bisect(_, state):
        lo, hi = state
        mid = (lo + hi) / 2
        ok = worst_margin(mid) > 0
        return jnp.where(ok, mid, lo), jnp.where(ok, hi, mid)

    lo, _ = jax.lax.fori_loop(0, steps, bisect, (jnp.zeros_like(max_radius), max_radius))
    at_max = worst_margin(max_radius) > 0
    return jnp.where(centre, jnp.where(at_max, max_radius, lo), -1.0)


def radius_in_norm(radius, from_norm, to_norm, n_features):
    """A certified radius in ``from_norm`` as a (smaller) one in ``to_norm``.

    The L-inf ball of radius r lies in the L2 ball of radius r*sqrt(d) and in
    the L1 ball of radius r*d, and the L2 ball of radius r in the L-inf ball
    of radius r and the L1 ball of radius r*sqrt(d): a certificate for the
    larger ball holds for the smaller one.
    """
    if from_norm == to_norm or radius < 0:
        return radius
    if from_norm == 2 and to_norm == "inf":
        return radius / np.sqrt(n_features)
    if from_norm == "inf" and to_norm == 2:
        return radius
    if from_norm == 2 and to_norm == 1:
        return radius
    if from_norm == "inf" and to_norm == 1:
        return radius
    if from_norm == 1 and to_norm == 2:
        return radius / np.sqrt(n_features)
    if from_norm == 1 and to_norm == "inf":
        return radius / n_features
    return -1.0
