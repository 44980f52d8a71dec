"""GradientMaskingClassifier: looks robust to naive attacks, is not (BPDA, EOT show it)."""

import pickle
from functools import partial

import numpy as np
import pytest
import jax
import jax.numpy as jnp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.linear_model import Ridge

from skadv import as_differentiable
from skadv.attacks import BPDA, EOT, AutoPGDAttack, PGDAttack
from skadv.defenses import GradientMaskingClassifier
from skadv.metrics import robust_accuracy

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

STEP, NOISE = 0.25, 3.0


@partial(jax.jit, static_argnums=0)
def _logit_grad(fn, params, X):
    return jax.grad(lambda v: jnp.sum(fn(params, v)[:, 1]))(X)


def grad(diff, X):
    return _logit_grad(diff.fn, diff.params, X)


def strongest():
    return AutoPGDAttack(eps=0.5, steps=50, restarts=3, random_state=0)


@pytest.fixture(scope="module")
def models(defense_mlp, breast_cancer_split):
    Xtr, _, ytr, _ = breast_cancer_split
    return {
        "plain": defense_mlp().fit(Xtr, ytr),
        "quantize": GradientMaskingClassifier(defense_mlp(), quantization_step=STEP).fit(
            Xtr, ytr),
        "noise": GradientMaskingClassifier(defense_mlp(), method="noise",
                                           noise_scale=NOISE, random_state=0).fit(Xtr, ytr),
    }


@pytest.mark.parametrize("method, adaptive", [
    ("quantize", lambda attack: BPDA(attack)),
    ("noise", lambda attack: EOT(attack, n_samples=16)),
], ids=["quantize-BPDA", "noise-EOT"])
def test_apparent_robustness_disappears_under_the_adaptive_attack(
        breast_cancer_split, models, method, adaptive):
    _, Xte, _, yte = breast_cancer_split
    base = robust_accuracy(models["plain"], Xte, yte, strongest())
    masked = models[method]
    assert robust_accuracy(masked, Xte, yte, strongest()) >= base + 0.1
    assert abs(robust_accuracy(masked, Xte, yte, adaptive(strongest())) - base) <= 0.05


def test_quantize_predicts_on_the_grid(breast_cancer_split, models):
    _, Xte, _, _ = breast_cancer_split
    clf = models["quantize"]
    grid = np.round(Xte / STEP) * STEP
    np.testing.assert_array_equal(clf.predict(Xte), clf.estimator_.predict(grid))
    # The view is the deployed function, and its gradient is zero.
    diff = as_differentiable(clf)
    assert diff.estimator is clf
    np.testing.assert_allclose(np.asarray(diff.logits(Xte))[:, 1],
                               clf.decision_function(Xte), rtol=1e-5, atol=1e-5)
    y = jnp.asarray(clf.predict(Xte).astype(np.int32))
    g = jax.grad(lambda v: jnp.sum(jax.nn.log_softmax(diff.fn(diff.params, v))[
        jnp.arange(len(Xte)), y]))(jnp.asarray(Xte))
    assert np.all(np.asarray(g) == 0)


def test_noise_masks_gradients_not_predictions(breast_cancer_split, models):
    _, Xte, _, _ = breast_cancer_split
    clf = models["noise"]
    inner = clf.estimator_
    np.testing.assert_array_equal(clf.predict(Xte), inner.predict(Xte))
    np.testing.assert_allclose(clf.predict_proba(Xte), inner.predict_proba(Xte))
    masked, true = as_differentiable(clf), as_differentiable(inner)
    np.testing.assert_allclose(np.asarray(masked.logits(Xte)),
                               np.asarray(true.logits(Xte)))

    X = jnp.asarray(Xte)
    g_true, g_masked = np.asarray(grad(true, X)), np.asarray(grad(masked, X))
    # Noise of NOISE times the gradient's RMS, per row: mostly noise ...
    cos = np.sum(g_true * g_masked, 1) / (np.linalg.norm(g_true, axis=1)
                                          * np.linalg.norm(g_masked, axis=1))
    assert np.median(cos) < 0.5
    # ... a pseudo-random function of the row: the same row, the same noise;
    # another row (a tiny move), another draw.
    np.testing.assert_array_equal(g_masked, np.asarray(grad(masked, X)))
    assert not np.allclose(g_masked, np.asarray(grad(masked, X + 1e-3)), atol=1e-3)
    # ... with mean zero: averaged over many points, the true gradient.
    shifted = X[None] + 1e-6 * jnp.arange(200.0)[:, None, None]
    avg = np.asarray(jax.vmap(lambda v: grad(masked, v))(shifted)).mean(axis=0)
    cos = np.sum(g_true * avg, 1) / (np.linalg.norm(g_true, axis=1)
                                     * np.linalg.norm(avg, axis=1))
    assert np.median(cos) > 0.95


def test_sklearn_estimator_and_pickle(breast_cancer_split):
    Xtr, Xte, ytr, yte = breast_cancer_split
    clf = GradientMaskingClassifier(SkLogisticRegression(), quantization_step=STEP).fit(
        Xtr, ytr)
    assert clf.score(Xte, yte) > 0.9
    diff = as_differentiable(clf)
    np.testing.assert_allclose(np.asarray(diff.logits(Xte))[:, 1],
                               clf.decision_function(Xte), rtol=1e-4, atol=1e-4)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict(Xte), clf.predict(Xte))
    # A naive attack is fooled by the sklearn model behind the rounding too.
    naive = PGDAttack(eps=0.5, random_state=0)
    assert (robust_accuracy(clf, Xte, yte, BPDA(naive))
            < robust_accuracy(clf, Xte, yte, naive))


@pytest.mark.parametrize("params, match", [
    ({"quantization_step": 0.0}, "quantization_step"),
    ({"noise_scale": -1.0, "method": "noise"}, "noise_scale"),
    ({"method": "dropout"}, "method"),
    ({"estimator": Ridge()}, "classifier"),
], ids=["step", "noise", "method", "regressor"])
def test_bad_input(defense_mlp, breast_cancer_split, params, match):
    Xtr, _, ytr, _ = breast_cancer_split
    with pytest.raises(ValueError, match=match):
        GradientMaskingClassifier(**{"estimator": defense_mlp(max_iter=2), **params}).fit(
            Xtr, ytr)
