"""Interval bound propagation (IBP) through ReLU networks.

Pure JAX: jit-able, batched over rows and differentiable with respect to the
layer parameters, so the same function gives certificates and the IBP training
loss of Gowal et al. (2018).
"""

from functools import partial

import jax
import jax.numpy as jnp

from ._network import fill_doc

__all__ = ["interval_bounds"]


def _affine_interval(lower, upper, W, b):
    """Exact interval image of a box under ``h @ W + b`` (centre/radius form)."""
    mid = (upper + lower) / 2
    rad = (upper - lower) / 2
    centre = mid @ W + b
    radius = rad @ jnp.abs(W)
    return centre - radius, centre + radius


def _spec_interval(lower, upper, W, b, C):
    """Interval image of a box under ``C @ (h @ W + b)``, ``C`` folded into ``W``.

    ``C`` is ``(n_spec, n_out)`` shared by all rows or ``(n, n_spec, n_out)``.
    """
    if C.ndim == 2:
        return _affine_interval(lower, upper, W @ C.T, C @ b)
    W_spec = jnp.einsum("dk,nsk->nds", W, C)
    b_spec = jnp.einsum("k,nsk->ns", b, C)
    mid = (upper + lower) / 2
    rad = (upper - lower) / 2
    centre = jnp.einsum("nd,nds->ns", mid, W_spec) + b_spec
    radius = jnp.einsum("nd,nds->ns", rad, jnp.abs(W_spec))
    return centre - radius, centre + radius


def _output_interval(lower, upper, last, C=None):
    """Interval of the last layer (or of ``C`` applied to it) from post-ReLU bounds."""
    if C is None:
        return _affine_interval(lower, upper, last["W"], last["b"])
    return _spec_interval(lower, upper, last["W"], last["b"], jnp.asarray(C))


def _hidden_intervals(layers, lower, upper):
    """Pre-activation bounds of every hidden layer from those of the first one."""
    pre = [(lower, upper)]
    for layer in layers[1:-1]:
        lower, upper = _affine_interval(jax.nn.relu(lower), jax.nn.relu(upper),
                                        layer["W"], layer["b"])
        pre.append((lower, upper))
    return pre


def _propagate(layers, lower, upper, C=None):
    """IBP from bounds on the network input; also returns pre-activation bounds."""
    if len(layers) == 1:
        return _output_interval(lower, upper, layers[0], C), []
    pre = _hidden_intervals(layers, *_affine_interval(lower, upper, layers[0]["W"], layers[0]["b"]))
    lower, upper = jax.nn.relu(pre[-1][0]), jax.nn.relu(pre[-1][1])
    return _output_interval(lower, upper, layers[-1], C), pre


@partial(jax.jit, static_argnames=("return_intermediate",))
@fill_doc
def interval_bounds(layers, lower, upper, *, C=None, return_intermediate=False):
    """Bounds on a ReLU network's outputs over boxes of inputs, by IBP.

    Each affine layer maps the box ``[l, u]`` to its exact interval image
    ``W^T m + b -/+ |W|^T r`` (centre ``m``, radius ``r``) and ReLU maps it
    monotonically. The bounds are sound but loose; they are cheap (two forward
    passes) and differentiable, which makes them the bounds of IBP training.

    Parameters
    ----------
    %(layers)s
    lower, upper : array of shape (n_samples, n_features)
        Corners of the input boxes, ``lower <= upper``. For an L∞ ball use
        ``x - eps, x + eps`` (clipped to the input domain if there is one).
    %(C)s
    return_intermediate : bool, default=False
        Also return the bounds on every hidden pre-activation.

    Returns
    -------
    lb, ub : arrays of shape (n_samples, n_outputs) or (n_samples, n_spec)
        Lower and upper bounds of each output (or specification row).
    pre_bounds : list of (lb, ub) pairs, only if ``return_intermediate``
        One pair of arrays ``(n_samples, d_k)`` per hidden layer, before ReLU.

    See Also
    --------
    skadv.verify.crown_bounds : Tighter linear-relaxation bounds.

    References
    ----------
    .. [1] Gowal, S. et al. "On the effectiveness of interval bound propagation
       for training verifiably robust models." arXiv:1810.12715, 2018.
    .. [2] Mirman, M., Gehr, T. and Vechev, M. "Differentiable abstract
       interpretation for provably robust neural networks." ICML 2018.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from skadv.verify import interval_bounds
    >>> layers = [{"W": jnp.array([[1.0, -1.0]]), "b": jnp.zeros(2)},
    ...           {"W": jnp.array([[1.0], [1.0]]), "b": jnp.zeros(1)}]
    >>> lb, ub = interval_bounds(layers, jnp.array([[-1.0]]), jnp.array([[1.0]]))
    >>> float(lb[0, 0]), float(ub[0, 0])
    (0.0, 2.0)
    """
    (lb, ub), pre = _propagate(layers, jnp.asarray(lower), jnp.asarray(upper), C)
    if return_intermediate:
        return lb, ub, pre
    return lb, ub
