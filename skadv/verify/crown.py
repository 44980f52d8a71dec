"""CROWN and CROWN-IBP: backward linear relaxation bounds for ReLU networks.

Every ReLU ``relu(z)`` with pre-activation bounds ``l < 0 < u`` is sandwiched
between two lines, ``a z <= relu(z) <= u (z - l) / (u - l)``; going backward
from a linear function of the output, each layer's coefficients pick the line
that bounds it in the right direction, until the function is linear in the
input and is minimised over the input set in closed form (a dual norm).
Intermediate pre-activation bounds come from the same backward pass
(``method="crown"``) or from interval propagation (``method="crown-ibp"``).

The conventions are those of auto_LiRPA's ``method="CROWN"`` without slope
optimisation, and the tests compare against its numbers: lower slope ``a = 1``
when ``u > -l`` and ``0`` otherwise (the "adaptive" choice, which minimises the
area between the two lines), upper line through ``(l, 0)`` and ``(u, u)``.
"""

from functools import partial

import jax
import jax.numpy as jnp

from ._network import fill_doc
from .interval import _affine_interval, _hidden_intervals, _output_interval

__all__ = ["crown_bounds"]

_METHODS = ("crown", "crown-ibp", "ibp")


def _norm_name(norm):
    if norm in ("inf", float("inf")):
        return "inf"
    if norm in (2, "2"):
        return "2"
    raise ValueError(f"`norm` must be 'inf' or 2. Got {norm!r} instead.")


def _relu_relaxation(lower, upper):
    """Slopes and intercept of the linear bounds on ``relu`` over ``[l, u]``.

    Returns ``(lower_slope, upper_slope, upper_intercept)``; the lower line goes
    through the origin. Stable neurons get their exact (identity or zero) line.
    """
    l = jnp.minimum(lower, 0.0)
    u = jnp.maximum(upper, 0.0)
    # As auto_LiRPA: keep the denominator positive when l == u == 0.
    u = jnp.maximum(u, l + 1e-8)
    upper_slope = u / (u - l)
    upper_intercept = -l * upper_slope
    # Slope 1 when u > -l, else 0: the lower line with the smaller area.
    lower_slope = (upper_slope > 0.5).astype(upper_slope.dtype)
    return lower_slope, upper_slope, upper_intercept


def _safe_l2(A):
    """``||A||_2`` over the last axis with a zero (not NaN) gradient at ``A = 0``."""
    sq = jnp.sum(A * A, axis=-1)
    positive = sq > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, sq, 1.0)), 0.0)


def _concretize(A, bias, domain):
    """Minimum of ``A @ x + bias`` over the input set, in closed form.

    ``A`` is ``(n or 1, n_spec, d)``; the set is ``("box", lo, hi)`` or
    ``("2", x, eps)``, whose support functions are ``|A| r`` and ``eps ||A||_2``.
    """
    kind, a, c = domain
    if kind == "box":
        mid, rad = (c + a) / 2, (c - a) / 2
        value = jnp.sum(A * mid[:, None, :] - jnp.abs(A) * rad[:, None, :], axis=-1)
    else:
        value = jnp.sum(A * a[:, None, :], axis=-1) - c[:, None] * _safe_l2(A)
    return value + bias


def _backward(layers, relax, k, A, domain):
    """Bounds of ``A @ z_k`` with ``z_k`` the output of layer ``k``.

    ``relax[j]`` holds the relaxation of the ReLU after layer ``j``. An upper
    bound of ``A z`` is minus a lower bound of ``-A z``, so both are lower
    bounds of one stacked ``[A; -A]``: one backward pass, half the matmuls.
    A positive coefficient takes the lower line, a negative one the upper line.
    """
    n_spec = A.shape[1]
    A = jnp.concatenate([A, -A], axis=1)
    bias = 0.0
    for j in range(k, -1, -1):
        W, b = layers[j]["W"], layers[j]["b"]
        bias = bias + A @ b
        A = A @ W.T
        if j == 0:
            break
        slope_lo, slope_up, icpt_up = (r[:, None, :] for r in relax[j - 1])
        pos, neg = jnp.maximum(A, 0), jnp.minimum(A, 0)
        bias = bias + jnp.sum(neg * icpt_up, axis=-1)
        A = pos * slope_lo + neg * slope_up
    lb = _concretize(A, bias, domain)
    return lb[:, :n_spec], -lb[:, n_spec:]


def _domain(x, eps, lower, upper, norm):
    """Normalise the input set to ``("box", lo, hi)`` or ``("2", x, eps)``."""
    if x is not None:
        x = jnp.asarray(x)
        eps = jnp.broadcast_to(jnp.asarray(eps, dtype=x.dtype), x.shape[:1])
        if norm == "2":
            if lower is not None or upper is not None:
                raise ValueError(
                    "An L2 ball cannot be intersected with a box (`lower`/`upper`); "
                    "use norm='inf' or drop the box.")
            return ("2", x, eps)
        # Clipping both ends keeps the set non-empty: it is the intersection
        # when ball and box meet, else the box point nearest to the ball.
        lo = jnp.clip(x - eps[:, None], lower, upper)
        hi = jnp.clip(x + eps[:, None], lower, upper)
        return ("box", lo, hi)
    if lower is None or upper is None:
        raise ValueError("Give either `x` and `eps`, or both `lower` and `upper`.")
    if norm == "2":
        raise ValueError("A box input set (`lower`, `upper`) is an L∞ set; use norm='inf'.")
    return ("box", jnp.asarray(lower), jnp.asarray(upper))


def _first_layer_interval(domain, layer):
    kind, a, c = domain
    if kind == "box":
        return _affine_interval(a, c, layer["W"], layer["b"])
    centre = a @ layer["W"] + layer["b"]
    radius = c[:, None] * _safe_l2(layer["W"].T)[None, :]
    return centre - radius, centre + radius


def _spec(C, last):
    """The specification as coefficients ``(n or 1, n_spec, n_out)`` on the output."""
    if C is None:
        return jnp.eye(last["W"].shape[1], dtype=last["W"].dtype)[None]
    C = jnp.asarray(C, dtype=last["W"].dtype)
    return C[None] if C.ndim == 2 else C


@partial(jax.jit, static_argnames=("norm", "method", "return_intermediate"))
@fill_doc
def crown_bounds(layers, x=None, eps=None, norm="inf", *, lower=None, upper=None, C=None,
                 method="crown", return_intermediate=False):
    """Bounds on a ReLU network's outputs over norm balls, by CROWN.

    Parameters
    ----------
    %(layers)s
    x : array of shape (n_samples, n_features), default=None
        Centres of the balls. Give ``x`` and ``eps``, or a box ``lower``,
        ``upper`` alone.
    eps : float or array of shape (n_samples,), default=None
        Radii of the balls, in the units of ``x``.
    norm : {"inf", 2}, default="inf"
        The ball's norm; the input set's support function is the dual norm of
        the linear bound's coefficients.
    lower, upper : array of shape (n_samples, n_features) or (n_features,), default=None
        Input domain. With ``x`` and ``norm="inf"`` the input set is the ball
        intersected with this box (both ends of the ball clipped into it, so a
        ball that misses the box becomes its nearest point); without ``x`` it
        is the box itself.
    %(C)s
    method : {"crown", "crown-ibp", "ibp"}, default="crown"
        How the hidden pre-activation bounds (which fix each ReLU's
        relaxation) are obtained: by a CROWN backward pass from each hidden
        layer (``"crown"``, quadratic in depth, tightest), or by interval
        propagation (``"crown-ibp"``, Zhang et al. 2020, one backward pass in
        all). ``"ibp"`` returns interval bounds throughout (with the first
        layer exact over L2 balls).
    return_intermediate : bool, default=False
        Also return the hidden pre-activation bounds that were used.

    Returns
    -------
    lb, ub : arrays of shape (n_samples, n_outputs) or (n_samples, n_spec)
        Sound lower and upper bounds of each output (or row of ``C``) over the
        input set.
    pre_bounds : list of (lb, ub) pairs, only if ``return_intermediate``
        One pair of arrays ``(n_samples, d_k)`` per hidden layer.

    Notes
    -----
    The lower ReLU slope is the adaptive choice of CROWN (1 if ``u > -l``,
    else 0) and is not optimised (alpha-CROWN would optimise it); the numbers
    equal auto_LiRPA's ``compute_bounds(method="CROWN")`` and
    ``method="CROWN-IBP"``. Pure JAX: jitted, batched over rows and
    differentiable with respect to ``layers``, as CROWN-IBP training needs.

    References
    ----------
    .. [1] Zhang, H., Weng, T.-W., Chen, P.-Y., Hsieh, C.-J. and Daniel, L.
       "Efficient neural network robustness certification with general
       activation functions." NeurIPS 2018.
    .. [2] Zhang, H. et al. "Towards stable and efficient training of
       verifiably robust neural networks." ICLR 2020.
    .. [3] Xu, K. et al. "Automatic perturbation analysis for scalable
       certified robustness and beyond." NeurIPS 2020 (auto_LiRPA).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from skadv.verify import crown_bounds
    >>> layers = [{"W": jnp.array([[1.0, -1.0]]), "b": jnp.zeros(2)},
    ...           {"W": jnp.array([[1.0], [1.0]]), "b": jnp.zeros(1)}]
    >>> lb, ub = crown_bounds(layers, jnp.array([[0.0]]), 1.0)
    >>> float(lb[0, 0]), float(ub[0, 0])
    (0.0, 1.0)
    """
    norm = _norm_name(norm)
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}. Got {method!r} instead.")
    domain = _domain(x, eps, lower, upper, norm)
    n_hidden = len(layers) - 1

    if method == "crown":
        relax, pre = [], []
        for k in range(n_hidden):
            eye = jnp.eye(layers[k]["W"].shape[1], dtype=layers[k]["W"].dtype)[None]
            lb, ub = _backward(layers, relax, k, eye, domain)
            pre.append((lb, ub))
            relax.append(_relu_relaxation(lb, ub))
    else:
        pre = _hidden_intervals(layers, *_first_layer_interval(domain, layers[0])) if n_hidden else []
        relax = [_relu_relaxation(lb, ub) for lb, ub in pre]

    if method == "ibp" and n_hidden:
        out = _output_interval(jax.nn.relu(pre[-1][0]), jax.nn.relu(pre[-1][1]), layers[-1], C)
    else:
        out = _backward(layers, relax, n_hidden, _spec(C, layers[-1]), domain)
    if return_intermediate:
        return out[0], out[1], pre
    return out
