"""The one network form every verifier reads: a list of dense ReLU layers.

``layers`` is a list of ``{"W": (d_in, d_out), "b": (d_out,)}`` dicts applied as
``h <- relu(h @ W + b)``, with no activation after the last layer. It is exactly
the ``params`` of a ReLU :class:`~skadv.models.DenseNet`, so a skadv MLP's
parameters can be passed as they are; :func:`as_layers` also folds a leading
preprocessing ``Affine`` and the ``[0, f]`` logits of a binary network in.

This module reads the network objects by their attributes only, so that the
verifiers stay free of the estimator stack.
"""

import numpy as np
import jax.numpy as jnp

from ..exceptions import UnsupportedModelError

__all__ = ["as_layers", "forward", "margin_matrix"]

# Parameter and reference text shared by the verifiers' docstrings, written once;
# a docstring line ``    %(name)s`` is replaced by the entry (numpydoc indents).
_SHARED_DOC = {
    "layers": """\
    layers : list of dict
        ``[{"W": (d_in, d_out), "b": (d_out,)}, ...]`` applied as ``h @ W + b``
        with ReLU after every layer but the last (see
        :func:`skadv.verify.as_layers`).""",
    "C": """\
    C : array of shape (n_spec, n_out) or (n_samples, n_spec, n_out), default=None
        Specification: bound ``C @ logits`` instead of the logits. Bounding the
        margins ``logit_y - logit_j`` directly (:func:`skadv.verify.margin_matrix`)
        is tighter than differencing bounds on the logits.""",
    "milp_domain": """\
    lower, upper : array of shape (n_features,), default=None
        Input domain; the input set is the ball intersected with this box.
    time_limit : float, default=None
        Seconds per MILP; exceeding it raises ``RuntimeError`` (an exact answer
        or none).""",
    "tjeng": """\
    .. [1] Tjeng, V., Xiao, K. and Tedrake, R. "Evaluating robustness of
       neural networks with mixed integer programming." ICLR 2019.""",
}


def fill_doc(fn):
    """Put the shared docstring entries into ``fn.__doc__``."""
    for name, text in _SHARED_DOC.items():
        fn.__doc__ = fn.__doc__.replace(f"    %({name})s", text)
    return fn


def _dense_layers(params):
    out = []
    for layer in params:
        if isinstance(layer, dict):
            W, b = layer["W"], layer["b"]
        else:
            W, b = layer
        out.append({"W": W, "b": b})
    return out


def as_layers(fn, params=None, *, n_features=None):
    """Return the dense ReLU layers of a network, preprocessing folded in.

    Parameters
    ----------
    fn : DenseNet, Chain, Differentiable or list of layers
        A ReLU ``DenseNet`` (``activation="relu"``), a ``Chain`` of an optional
        ``Affine`` followed by such a ``DenseNet``, a ``Differentiable`` holding
        one of those, or already a list of ``{"W", "b"}`` dicts (or ``(W, b)``
        pairs), returned as dicts.
    params : pytree, default=None
        The parameters of ``fn``; taken from ``fn.params`` for a
        ``Differentiable`` and unused for a list of layers.
    n_features : int, default=None
        Number of raw input features when an ``Affine`` comes first (it may
        use only some columns); taken from a ``Differentiable``'s
        ``n_features_in_``, else one more than the largest column index.

    Returns
    -------
    layers : list of dict
        ``[{"W": (d_in, d_out), "b": (d_out,)}, ...]``. The first layer acts on
        the raw features (an ``Affine`` ``X[:, index] * scale + offset`` is
        folded into it) and a binary network gets the constant logit ``0`` as a
        first output, so the layers compute exactly ``fn(params, X)``.

    Raises
    ------
    TypeError
        If the network is not a ReLU multilayer perceptron (possibly after an
        ``Affine``); bounds here are for ReLU networks only.

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.verify import as_layers
    >>> layers = as_layers([(np.eye(2), np.zeros(2))])
    >>> sorted(layers[0])
    ['W', 'b']
    """
    if isinstance(fn, (list, tuple)) and params is None:
        return _dense_layers(fn)
    if params is None and hasattr(fn, "fn") and hasattr(fn, "params"):
        n_features = getattr(fn, "n_features_in_", n_features)
        fn, params = fn.fn, fn.params
    affine = None
    if hasattr(fn, "fns"):
        fns, parts = tuple(fn.fns), tuple(params)
        if len(fns) == 2 and type(fns[0]).__name__ == "Affine":
            affine, fn, params = parts[0], fns[1], parts[1]
        elif len(fns) == 1:
            fn, params = fns[0], parts[0]
        else:
            raise UnsupportedModelError(
                f"Only a Chain of an optional Affine and a DenseNet can be bounded. "
                f"Got a Chain of {[type(f).__name__ for f in fns]} instead."
            )
    if type(fn).__name__ != "DenseNet" or getattr(fn, "activation", None) != "relu":
        raise UnsupportedModelError(
            f"Bounds are implemented for ReLU multilayer perceptrons "
            f"(DenseNet(activation='relu')). Got {fn!r} instead; fit an MLP with "
            f"activation='relu' to verify it."
        )
    layers = _dense_layers(params)
    if fn.binary:
        last = layers[-1]
        W, b = jnp.asarray(last["W"]), jnp.asarray(last["b"])
        layers[-1] = {
            "W": jnp.concatenate([jnp.zeros_like(W), W], axis=1),
            "b": jnp.concatenate([jnp.zeros_like(b), b]),
        }
    if affine is not None:
        first = layers[0]
        W = jnp.asarray(first["W"])
        index = np.asarray(affine["index"])
        scale, offset = jnp.asarray(affine["scale"]), jnp.asarray(affine["offset"])
        if n_features is None:
            n_features = int(index.max()) + 1 if index.size else 0
        # An index may repeat (one raw column feeding two transformed ones),
        # hence scatter-add rather than a plain assignment.
        W_raw = jnp.zeros((n_features, W.shape[1]), W.dtype).at[index].add(scale[:, None] * W)
        layers[0] = {"W": W_raw, "b": jnp.asarray(first["b"]) + offset @ W}
    return layers


def forward(layers, X):
    """Logits of the layers, ``relu`` between them; NumPy or JAX arrays alike.

    Parameters
    ----------
    layers : list of dict
        As returned by :func:`as_layers`.
    X : array of shape (n_samples, n_features)
        Inputs. NumPy float64 inputs and weights give a float64 NumPy forward
        pass, which is how exact verifiers check a counterexample.

    Returns
    -------
    logits : array of shape (n_samples, n_outputs)
    """
    xp = np if isinstance(X, np.ndarray) and all(
        isinstance(layer["W"], np.ndarray) for layer in layers) else jnp
    h = X
    for layer in layers[:-1]:
        h = xp.maximum(h @ layer["W"] + layer["b"], 0)
    return h @ layers[-1]["W"] + layers[-1]["b"]


def margin_matrix(y, n_classes):
    """Specification rows ``e_y - e_j`` for every class ``j != y``.

    Bounding ``C @ logits`` with these rows bounds the margins
    ``logit_y - logit_j`` directly, which is tighter than differencing bounds
    on the logits (Wong & Kolter 2018; Zhang et al. 2020).

    Parameters
    ----------
    y : int array of shape (n_samples,)
        Class indices (column positions of the logits, not labels).
    n_classes : int
        Number of logits.

    Returns
    -------
    C : array of shape (n_samples, n_classes - 1, n_classes)
        Row ``i, k`` is ``e_{y_i} - e_j`` with ``j`` the ``k``-th class other
        than ``y_i``, in increasing order. A sample is certified when every
        lower bound of ``C @ logits`` is positive.

    References
    ----------
    .. [1] Wong, E. and Kolter, J. Z. "Provable defenses against adversarial
       examples via the convex outer adversarial polytope." ICML 2018.
    .. [2] Zhang, H. et al. "Towards stable and efficient training of
       verifiably robust neural networks." ICLR 2020.

    Examples
    --------
    >>> from skadv.verify import margin_matrix
    >>> margin_matrix([1], 3).tolist()
    [[[-1.0, 1.0, 0.0], [0.0, 1.0, -1.0]]]
    """
    y = jnp.asarray(y)
    eye = jnp.eye(n_classes)
    k = jnp.arange(n_classes - 1)
    others = k[None, :] + (k[None, :] >= y[:, None])
    return eye[y][:, None, :] - eye[others]
