"""Exactness of the MILP verifier, against brute-force enumeration of ReLU patterns.

On a tiny network the input set splits into one polyhedron per activation
pattern, on which the network is affine: the exact minimum is the least of one
LP per feasible pattern. The MILP must reproduce it, and its answers must agree
with a plain float64 forward pass and with the sound CROWN/IBP bounds.
"""

import itertools

import numpy as np
import pytest
from scipy.optimize import linprog

from skadv.verify import (crown_bounds, forward, interval_bounds, margin_matrix,
                          min_adversarial_linf, min_margin, verify)

# (input dim, hidden sizes, classes, seed, eps)
NETS = [
    (2, (5,), 3, 0, 0.6),
    (3, (4,), 2, 1, 0.5),
    (2, (3, 3), 3, 9, 0.5),
    (3, (4, 3), 3, 3, 0.4),
]


def make_net(d, hidden, k, seed):
    rng = np.random.default_rng(seed)
    sizes = (d, *hidden, k)
    return [{"W": rng.normal(size=(a, b)) / np.sqrt(a), "b": rng.normal(size=b) * 0.3}
            for a, b in zip(sizes[:-1], sizes[1:])]


def predicted(layers, x):
    return int(np.argmax(forward(layers, x[None])[0]))


def _patterns(layers):
    """Yield, for each activation pattern, (A_ub, b_ub, P, q): the region
    ``A_ub x <= b_ub`` and the logits ``x @ P + q`` on it."""
    hidden = [layer["W"].shape[1] for layer in layers[:-1]]
    d = layers[0]["W"].shape[0]
    for bits in itertools.product([0.0, 1.0], repeat=sum(hidden)):
        masks = np.split(np.array(bits), np.cumsum(hidden)[:-1])
        P, q = np.eye(d), np.zeros(d)
        A_ub, b_ub = [], []
        for layer, m in zip(layers[:-1], masks):
            Pz, qz = P @ layer["W"], q @ layer["W"] + layer["b"]
            sign = np.where(m > 0, -1.0, 1.0)  # active: z >= 0; inactive: z <= 0
            A_ub.append(sign[:, None] * Pz.T)
            b_ub.append(-sign * qz)
            P, q = Pz * m, qz * m
        yield (np.vstack(A_ub), np.concatenate(b_ub),
               P @ layers[-1]["W"], q @ layers[-1]["W"] + layers[-1]["b"])


def enumerate_min_margin(layers, lo, hi, target, others):
    best = np.inf
    for A_ub, b_ub, P, q in _patterns(layers):
        for j in others:
            res = linprog(P[:, target] - P[:, j], A_ub=A_ub, b_ub=b_ub,
                          bounds=list(zip(lo, hi)), method="highs")
            if res.status == 0:
                best = min(best, res.fun + q[target] - q[j])
    return best


def enumerate_min_radius(layers, x, label, max_eps):
    d = x.size
    best = np.inf
    for A_ub, b_ub, P, q in _patterns(layers):
        # variables (x', t): region, |x' - x| <= t, margin_j(x') <= 0
        region = np.hstack([A_ub, np.zeros((len(A_ub), 1))])
        ball = np.block([[np.eye(d), -np.ones((d, 1))], [-np.eye(d), -np.ones((d, 1))]])
        c = np.zeros(d + 1)
        c[-1] = 1
        for j in range(P.shape[1]):
            if j == label:
                continue
            flip = np.append(P[:, label] - P[:, j], 0.0)[None]
            res = linprog(c, A_ub=np.vstack([region, ball, flip]),
                          b_ub=np.concatenate([b_ub, x, -x, [q[j] - q[label]]]),
                          bounds=[(xi - max_eps, xi + max_eps) for xi in x] + [(0, max_eps)],
                          method="highs")
            if res.status == 0:
                best = min(best, res.fun)
    return best


@pytest.mark.parametrize("d, hidden, k, seed, eps", NETS)
def test_min_margin_equals_enumeration(d, hidden, k, seed, eps):
    layers = make_net(d, hidden, k, seed)
    rng = np.random.default_rng(100 + seed)
    for x in rng.normal(size=(2, d)):
        target = predicted(layers, x)
        others = [j for j in range(k) if j != target]
        margin, x_min = min_margin(layers, x, eps, target)
        expected = enumerate_min_margin(layers, x - eps, x + eps, target, others)
        assert margin == pytest.approx(expected, abs=1e-6)
        assert np.max(np.abs(x_min - x)) <= eps + 1e-12
        logits = forward(layers, x_min[None])[0]
        assert logits[target] - np.max(logits[others]) == pytest.approx(margin, abs=1e-12)


def test_min_margin_one_other_class_and_box():
    layers = make_net(3, (4, 3), 3, 3)
    x = np.array([0.2, -0.1, 0.4])
    eps = 0.5
    lower, upper = np.array([0.0, -1.0, 0.0]), np.array([1.0, 0.0, 0.6])
    lo, hi = np.maximum(x - eps, lower), np.minimum(x + eps, upper)
    for target, other in [(0, 1), (2, 0)]:
        margin, x_min = min_margin(layers, x, eps, target, other, lower=lower, upper=upper)
        assert margin == pytest.approx(
            enumerate_min_margin(layers, lo, hi, target, [other]), abs=1e-6)
        assert np.all((lo - 1e-12 <= x_min) & (x_min <= hi + 1e-12))


@pytest.mark.parametrize("d, hidden, k, seed, eps", NETS[:3])
def test_min_adversarial_linf_equals_enumeration(d, hidden, k, seed, eps):
    layers = make_net(d, hidden, k, seed)
    x = np.random.default_rng(200 + seed).normal(size=d)
    label = predicted(layers, x)
    radius, x_b = min_adversarial_linf(layers, x, label, max_eps=3.0)
    expected = enumerate_min_radius(layers, x, label, 3.0)
    assert np.isfinite(expected)
    assert radius == pytest.approx(expected, abs=1e-6)
    # x_b is on the boundary, at that distance; just inside the radius is certified.
    assert np.max(np.abs(x_b - x)) == pytest.approx(radius, abs=1e-6)
    logits = forward(layers, x_b[None])[0]
    assert logits[label] - np.max(np.delete(logits, label)) == pytest.approx(0, abs=1e-6)
    assert verify(layers, x, radius * (1 - 1e-4), label)[0]
    assert not verify(layers, x, radius * (1 + 1e-4), label)[0]


def test_min_adversarial_linf_out_of_reach_and_misclassified():
    layers = make_net(2, (5,), 3, 0)
    x = np.array([0.3, -0.2])
    label = predicted(layers, x)
    radius, x_b = min_adversarial_linf(layers, x, label, max_eps=1e-3)
    assert radius == np.inf and x_b is None
    wrong = (label + 1) % 3
    radius, x_b = min_adversarial_linf(layers, x, wrong)
    assert radius == 0.0 and np.array_equal(x_b, x)


@pytest.mark.parametrize("d, hidden, k, seed, eps", NETS)
def test_verify_counterexamples_are_real(d, hidden, k, seed, eps):
    layers = make_net(d, hidden, k, seed)
    rng = np.random.default_rng(300 + seed)
    outcomes = set()
    for x in rng.normal(size=(4, d)):
        label = predicted(layers, x)
        for e in (0.05 * eps, eps, 3 * eps):
            certified, x_adv = verify(layers, x, e, label)
            margin, _ = min_margin(layers, x, e, label)
            assert certified == (margin > 0)
            outcomes.add(certified)
            if not certified:
                assert x_adv is not None and np.max(np.abs(x_adv - x)) <= e + 1e-12
                logits = forward(layers, x_adv[None])[0]
                assert logits[label] <= np.max(np.delete(logits, label))
    assert outcomes == {True, False}


@pytest.mark.parametrize("d, hidden, k, seed, eps", NETS)
def test_milp_within_sound_bounds(d, hidden, k, seed, eps):
    layers = make_net(d, hidden, k, seed)
    rng = np.random.default_rng(400 + seed)
    X = rng.normal(size=(3, d))
    y = np.argmax(forward(layers, X), axis=1)
    C = np.asarray(margin_matrix(y, k), np.float64)
    f32 = [{"W": np.float32(l["W"]), "b": np.float32(l["b"])} for l in layers]
    crown_lb, _ = crown_bounds(f32, np.float32(X), eps, C=np.float32(C))
    ibp_lb, _ = interval_bounds(f32, np.float32(X - eps), np.float32(X + eps), C=np.float32(C))
    for i, x in enumerate(X):
        others = [j for j in range(k) if j != y[i]]
        for s, j in enumerate(others):
            margin, _ = min_margin(layers, x, eps, y[i], j)
            assert margin >= crown_lb[i, s] - 1e-5
            assert margin >= ibp_lb[i, s] - 1e-5
            # and no sampled point does better than the exact minimum
            Z = x + rng.uniform(-eps, eps, size=(2000, d))
            logits = forward(layers, Z)
            assert np.min(logits[:, y[i]] - logits[:, j]) >= margin - 1e-9


def test_linear_model_and_float32_weights():
    rng = np.random.default_rng(5)
    layers = [{"W": rng.normal(size=(3, 2)).astype(np.float32),
               "b": rng.normal(size=2).astype(np.float32)}]
    x, eps = np.zeros(3), 0.3
    margin, x_min = min_margin(layers, x, eps, 0, 1)
    w = layers[0]["W"][:, 0].astype(float) - layers[0]["W"][:, 1]
    b = float(layers[0]["b"][0]) - float(layers[0]["b"][1])
    assert margin == pytest.approx(b - eps * np.abs(w).sum(), abs=1e-9)


def test_errors():
    layers = make_net(2, (3,), 3, 0)
    with pytest.raises(ValueError, match="one input row"):
        min_margin(layers, np.zeros((2, 2)), 0.1, 0)
    with pytest.raises(ValueError, match="`eps`"):
        verify(layers, np.zeros(2), -1.0, 0)
    with pytest.raises(ValueError, match="`other_class`"):
        min_margin(layers, np.zeros(2), 0.1, 1, other_class=1)
    with pytest.raises(ValueError, match="`target_class`"):
        min_margin(layers, np.zeros(2), 0.1, 3)
    with pytest.raises(ValueError, match="does not meet"):
        min_margin(layers, np.zeros(2), 0.1, 0, lower=np.ones(2))
