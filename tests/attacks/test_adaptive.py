"""BPDA and EOT: the adapted views' gradients, wrapper behaviour, any white-box attack."""

import pickle
from functools import partial

import numpy as np
import pytest
import jax
import jax.numpy as jnp
from sklearn.base import clone

from skadv import as_differentiable
from skadv.attacks import BPDA, EOT, DeepFoolAttack, FGSMAttack, PGDAttack
from skadv.attacks.adaptive import AdaptiveView
from skadv.defenses import GradientMaskingClassifier
from skadv.metrics import robust_accuracy

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def victims(defense_mlp, breast_cancer_split):
    Xtr, _, ytr, _ = breast_cancer_split
    return {
        "plain": defense_mlp().fit(Xtr, ytr),
        "quantize": GradientMaskingClassifier(defense_mlp(), quantization_step=0.25).fit(
            Xtr, ytr),
        "noise": GradientMaskingClassifier(defense_mlp(), method="noise", noise_scale=3.0,
                                           random_state=0).fit(Xtr, ytr),
    }


@partial(jax.jit, static_argnums=0)
def _margin_grad_jit(fn, params, X):
    def margin(v):
        z = fn(params, v)
        return jnp.sum(z[:, 1] - z[:, 0])

    return jax.grad(margin)(X)


def _margin_grad(fn, params, X):
    """Gradient of the binary margin (it does not saturate like a cross-entropy)."""
    return np.asarray(_margin_grad_jit(fn, params, jnp.asarray(X)))


def test_bpda_gradient_is_the_straight_through_one(breast_cancer_split, victims):
    # Oracle: rounding replaced by the identity in the backward pass only, so
    # the gradient is the inner model's gradient at the rounded point, and the
    # forward values are the masked model's.
    _, Xte, _, _ = breast_cancer_split
    clf = victims["quantize"]
    diff, inner = as_differentiable(clf), as_differentiable(clf.estimator_)
    view = AdaptiveView(diff.fn, straight_through=True)
    grid = np.round(Xte / 0.25) * 0.25
    np.testing.assert_allclose(_margin_grad(view, diff.params, Xte),
                               _margin_grad(inner.fn, inner.params, grid), rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(view(diff.params, jnp.asarray(Xte))),
                               np.asarray(diff.logits(Xte)), rtol=1e-6)


def test_eot_gradient_averages_the_noise_away(breast_cancer_split, victims):
    _, Xte, _, _ = breast_cancer_split
    clf = victims["noise"]
    diff, inner = as_differentiable(clf), as_differentiable(clf.estimator_)
    truth = _margin_grad(inner.fn, inner.params, Xte)

    def cosine(g):
        return np.median(np.sum(g * truth, 1) / (np.linalg.norm(g, axis=1)
                                                  * np.linalg.norm(truth, axis=1)))

    one = _margin_grad(AdaptiveView(diff.fn), diff.params, Xte)
    many = _margin_grad(AdaptiveView(diff.fn, n_samples=64), diff.params, Xte)
    # Noise of 3 RMS per draw, 3 / sqrt(64) after EOT: cosine ~ 1 / sqrt(1 + 0.14).
    assert cosine(one) < 0.5 < 0.9 < cosine(many)
    # Forward: the mean of identical predictions is the prediction.
    np.testing.assert_allclose(
        np.asarray(AdaptiveView(diff.fn, n_samples=4)(diff.params, jnp.asarray(Xte))),
        np.asarray(jax.nn.log_softmax(diff.logits(Xte))), atol=1e-5)


def test_wrappers_change_nothing_on_an_unmasked_victim(breast_cancer_split, victims):
    # No layer has a BPDA hook: the wrapped attack sees the victim's own
    # view and gives the plain attack's rows exactly. EOT attacks
    # log-softmax(z), whose cross-entropy is z's.
    _, Xte, _, yte = breast_cancer_split
    plain = victims["plain"]
    attack = PGDAttack(plain, eps=0.3, random_state=0)
    X_plain = attack.fit_transform(Xte, yte)
    bpda = BPDA(attack)
    assert not bpda._adapts_to(plain) and bpda._adapts_to(victims["quantize"])
    np.testing.assert_array_equal(bpda.fit_transform(Xte, yte), X_plain)
    assert not BPDA(attack)._adapts_to(victims["noise"])
    eot = EOT(attack, n_samples=2)
    assert eot._adapts_to(plain)  # log-probabilities in place of the logits
    X_eot = eot.fit_transform(Xte, yte)
    np.testing.assert_array_equal(eot.success_, attack.success_)
    np.testing.assert_allclose(X_eot, X_plain, atol=1e-4)


@pytest.mark.parametrize("attack", [
    FGSMAttack(eps=0.5),
    DeepFoolAttack(eps=0.5, norm="inf"),
], ids=["FGSM", "DeepFool"])
def test_any_white_box_attack_can_use_bpda(breast_cancer_split, victims, attack):
    _, Xte, _, yte = breast_cancer_split
    clf = victims["quantize"]
    assert robust_accuracy(clf, Xte, yte, BPDA(attack)) < robust_accuracy(
        clf, Xte, yte, attack) - 0.2


def test_wrappers_compose_into_one_view(breast_cancer_split, victims):
    _, Xte, _, yte = breast_cancer_split
    clf = victims["quantize"]
    both = EOT(BPDA(PGDAttack(eps=0.5, random_state=0)), n_samples=3, estimator=clf)
    both.fit(Xte, yte)
    inner = both.attack_.attack_  # the PGD clone inside the BPDA clone
    view = as_differentiable(inner.estimator).fn
    assert view == AdaptiveView(as_differentiable(clf).fn, straight_through=True,
                                n_samples=3)
    # On a victim without rounding, BPDA leaves EOT's view as it is.
    both.set_params(estimator=victims["noise"]).fit(Xte, yte)
    assert as_differentiable(both.attack_.attack_.estimator).fn == AdaptiveView(
        as_differentiable(victims["noise"]).fn, n_samples=3)


def test_wrapper_api(breast_cancer_split, victims):
    _, Xte, _, yte = breast_cancer_split
    clf = victims["quantize"]
    wrapper = BPDA(PGDAttack(eps=0.5, random_state=0))
    with pytest.raises(ValueError, match="needs a fitted victim"):
        clone(wrapper).fit(Xte, yte)
    with pytest.raises(ValueError, match="n_samples"):
        EOT(PGDAttack(), estimator=clf, n_samples=0).fit(Xte, yte)
    # The victim comes from `estimator`, else from the wrapped attack.
    a = BPDA(PGDAttack(clf, eps=0.5, random_state=0)).fit_transform(Xte, yte)
    b = wrapper.set_params(estimator=clf).fit_transform(Xte, yte)
    np.testing.assert_array_equal(a, b)
    assert wrapper.success_.shape == (len(Xte),) and wrapper.n_features_in_ == Xte.shape[1]
    np.testing.assert_array_equal(wrapper.success_, clf.predict(b) != yte)
    # The template is never aimed at anything; fitted wrappers pickle.
    assert wrapper.attack.estimator is None
    again = pickle.loads(pickle.dumps(wrapper))
    np.testing.assert_array_equal(again.transform(Xte, yte), b)
