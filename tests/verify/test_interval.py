"""Interval bound propagation: soundness, exactness where it must be exact, gradients.

The comparison with auto_LiRPA's IBP numbers lives with the other methods' in
``test_crown.py`` (one compiled program per network shape for all of them).
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

from skadv.verify import forward, interval_bounds, margin_matrix

SIZES = (4, 16, 16, 3)


def make_net(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [{"W": jnp.asarray(rng.normal(size=(a, b)) / np.sqrt(a), dtype),
             "b": jnp.asarray(rng.normal(size=b) * 0.1, dtype)}
            for a, b in zip(SIZES[:-1], SIZES[1:])]


@pytest.fixture(scope="module")
def net():
    rng = np.random.default_rng(0)
    return make_net(0), jnp.asarray(rng.normal(size=(8, SIZES[0])), jnp.float32)


def hidden_preactivations(layers, X):
    pre, h = [], X
    for layer in layers[:-1]:
        z = h @ np.float64(layer["W"]) + np.float64(layer["b"])
        pre.append(z)
        h = np.maximum(z, 0)
    return pre


@pytest.mark.parametrize("seed", [0, 1])
def test_sound_by_sampling(seed):
    """1e5 points of the box (a tenth on its corners) stay inside every bound."""
    layers = make_net(seed)
    rng = np.random.default_rng(10 + seed)
    x = rng.normal(size=(8, SIZES[0]))
    eps = 0.3
    lb, ub, pre = interval_bounds(layers, jnp.asarray(x - eps, jnp.float32),
                                  jnp.asarray(x + eps, jnp.float32), return_intermediate=True)
    u = rng.uniform(-1, 1, size=(8, 12_500, SIZES[0]))
    u[:, :1250] = np.sign(u[:, :1250])
    Z = (x[:, None, :] + eps * u).reshape(-1, SIZES[0])
    layers64 = [{"W": np.float64(layer["W"]), "b": np.float64(layer["b"])} for layer in layers]
    rows = np.repeat(np.arange(8), 12_500)
    out = forward(layers64, Z)
    assert np.all(out >= np.asarray(lb)[rows] - 1e-5)
    assert np.all(out <= np.asarray(ub)[rows] + 1e-5)
    for z, (l, h) in zip(hidden_preactivations(layers, Z), pre):
        assert np.all(z >= np.asarray(l)[rows] - 1e-5) and np.all(z <= np.asarray(h)[rows] + 1e-5)


def test_point_box_is_the_forward_pass(net):
    layers, x = net
    lb, ub = interval_bounds(layers, x, x)
    np.testing.assert_allclose(lb, forward(layers, x), atol=1e-5)
    np.testing.assert_allclose(ub, forward(layers, x), atol=1e-5)


def test_nested_boxes_give_nested_bounds(net):
    """IBP is monotone in the box (CROWN is not; see test_crown.py)."""
    layers, x = net
    small, large = (interval_bounds(layers, x - e, x + e) for e in (0.1, 0.3))
    assert jnp.all(small[0] >= large[0] - 1e-6) and jnp.all(small[1] <= large[1] + 1e-6)
    assert jnp.all(small[0] <= small[1])


def test_specification_matrix(net):
    layers, x = net
    eps = 0.2
    y = jnp.argmax(forward(layers, x), axis=1)
    C = margin_matrix(y, SIZES[-1])
    mlb, mub = interval_bounds(layers, x - eps, x + eps, C=C)
    assert mlb.shape == (8, SIZES[-1] - 1)
    # a shared matrix equals the per-sample copy of it
    shared = interval_bounds(layers, x - eps, x + eps, C=C[0])
    copied = interval_bounds(layers, x - eps, x + eps, C=jnp.broadcast_to(C[0], C.shape))
    np.testing.assert_allclose(shared[0], copied[0], atol=1e-6)
    np.testing.assert_allclose(shared[1], copied[1], atol=1e-6)
    # folding C into the last layer is exact for a point box
    logits = forward(layers, x)
    margins = jnp.einsum("nsk,nk->ns", C, logits)
    np.testing.assert_allclose(interval_bounds(layers, x, x, C=C)[0], margins, atol=1e-5)
    assert jnp.all(mlb <= margins + 1e-6) and jnp.all(mub >= margins - 1e-6)


def ibp_loss(params, x, y, eps):
    """The IBP training loss of Gowal et al.: cross-entropy of the worst-case logits."""
    C = margin_matrix(y, SIZES[-1])
    lb, _ = interval_bounds(params, x - eps, x + eps, C=C)
    # worst-case logits relative to the true class: 0 for y, -margin_lb for the others
    worst = jnp.concatenate([jnp.zeros((x.shape[0], 1), lb.dtype), -lb], axis=1)
    return jnp.mean(jax.nn.logsumexp(worst, axis=1))


def test_gradient_wrt_params_under_jit(net):
    layers, x = net
    y = jnp.argmax(forward(layers, x), axis=1)
    with jax.enable_x64(True):
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), layers)
        x64 = jnp.asarray(x, jnp.float64)
        grad = jax.jit(jax.grad(ibp_loss))(params, x64, y, 0.1)
        rng = np.random.default_rng(1)
        direction = jax.tree_util.tree_map(lambda a: jnp.asarray(rng.normal(size=a.shape)), params)
        analytic = sum(jnp.vdot(g, v) for g, v in zip(jax.tree_util.tree_leaves(grad),
                                                       jax.tree_util.tree_leaves(direction)))
        h = 1e-6
        plus, minus = (jax.tree_util.tree_map(lambda p, v: p + s * h * v, params, direction)
                       for s in (1, -1))
        loss = jax.jit(ibp_loss)
        numeric = (loss(plus, x64, y, 0.1) - loss(minus, x64, y, 0.1)) / (2 * h)
    assert float(analytic) != 0
    assert float(analytic) == pytest.approx(float(numeric), rel=1e-5)


def test_same_result_without_jit(net):
    layers, x = net
    jitted = interval_bounds(layers, x - 0.1, x + 0.1)
    with jax.disable_jit():
        eager = interval_bounds(layers, x - 0.1, x + 0.1)
    np.testing.assert_allclose(jitted[0], eager[0], atol=1e-6)
    np.testing.assert_allclose(jitted[1], eager[1], atol=1e-6)
