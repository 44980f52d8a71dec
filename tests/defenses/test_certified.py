"""CertifiedClassifier: soundness against the strongest attacks, exactness against
closed forms and enumeration, smoothing against its exact sampling distribution.

A certified radius is a promise, so the first tests try to break it: PGD
(cross-entropy and CW losses, restarts) and AutoPGD (cross-entropy and DLR),
run per row at 0.99 times the row's radius, must never flip a certified
prediction of the deterministic methods; the same attacks just beyond the
exact radius do flip, so they are strong enough for the silence to mean
something. Exactness: linear radii equal the closed form and sit exactly on
the decision boundary; MILP radii equal an enumeration of activation patterns
(one LP each) built from scikit-learn's own weights. Smoothing: the rates at
which CERTIFY certifies (at each radius) and over-certifies equal their exact
values, computed from binomial laws for base classifiers whose probability
under noise is known in closed form.
"""

import itertools
import warnings
from functools import partial

import numpy as np
import jax
import jax.numpy as jnp
import pytest
from scipy import stats
from scipy.optimize import linprog
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import load_breast_cancer, make_blobs, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.tree import DecisionTreeClassifier

from skadv import as_differentiable
from skadv._core import attacks as _core
from skadv.attacks import AutoPGDAttack, PGDAttack
from skadv.defenses import CertifiedClassifier
from skadv.defenses._certified._smoothing import counts
from skadv.metrics import certified_accuracy
from skadv.models import LogisticRegression, MLPClassifier
from skadv.verify import crown_bounds, forward, margin_matrix, verify
from skadv.verify.smoothing import clopper_pearson_lower

EPS = 0.2  # training radius of the bound-trained nets, in standardised units

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# --------------------------------------------------------------------------
# data and models
@pytest.fixture(scope="module")
def hard3():
    """Three overlapping classes (300 x 6): bounds are not trivially tight here."""
    X, y = make_classification(n_samples=300, n_features=6, n_informative=4, n_redundant=0,
                               n_classes=3, n_clusters_per_class=2, class_sep=1.0,
                               random_state=0)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def mlp(hidden=(32, 32), max_iter=80):
    return MLPClassifier(hidden_layer_sizes=hidden, max_iter=max_iter, learning_rate_init=0.005,
                         random_state=0)


@pytest.fixture(scope="module")
def bound_nets(hard3):
    """A naturally trained net (eps=0) and IBP / CROWN-IBP trained ones, same architecture."""
    X, y = hard3
    return {
        "natural": CertifiedClassifier(mlp(), method="ibp", eps=0.0).fit(X, y),
        "ibp": CertifiedClassifier(mlp(), method="ibp", eps=EPS, ramp=40).fit(X, y),
        "crown-ibp": CertifiedClassifier(mlp(), method="crown-ibp", eps=EPS, ramp=40,
                                         kappa=0.0).fit(X, y),
        # trained on L∞ balls, certified in L2 (CROWN's L2 bounds)
        "ibp-l2": CertifiedClassifier(mlp(), method="ibp", eps=EPS, ramp=40, norm=2).fit(X, y),
    }


@pytest.fixture(scope="module")
def tiny_milp():
    """A scikit-learn ReLU MLP after a StandardScaler, small enough to enumerate."""
    X, y = make_blobs(n_samples=90, centers=3, n_features=2, cluster_std=2.0, random_state=1)
    X = X * [3.0, 0.5] + [10.0, -4.0]  # raw units far from standardised ones
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(StandardScaler(), SkMLPClassifier(
            hidden_layer_sizes=(5,), max_iter=2000, learning_rate_init=0.01, random_state=0))
        clf = CertifiedClassifier(pipe, method="milp").fit(X, y)
    return clf, X[::9], y[::9]


# --------------------------------------------------------------------------
# the strongest attacks, per row
@partial(jax.jit, static_argnames=("fn", "norm", "attack", "loss"))
def _attack(fn, params, scale, U, label, eps, key, *, norm, attack, loss):
    def logits(u):
        return fn(params, u * scale)

    if attack == "pgd":
        step = eps / 4 if norm == "inf" else eps / 3
        return _core.pgd(logits, U, label, key=key, eps=eps, step_size=step, steps=100,
                         norm=norm, loss=loss, restarts=5)[0]
    return _core.apgd(logits, U, label, key=key, eps=eps, steps=100, norm=norm, loss=loss,
                      restarts=2)[0]


def flipped_within(clf, X, radius):
    """Rows whose prediction some attack flips with a perturbation of norm <= ``radius``.

    Radii are per row and in ``clf``'s units (``X / scale_``); a radius of 0
    leaves a row alone (callers attack all rows so that one compiled attack
    serves every call of a shape). Every attack point is checked to lie in its
    ball and judged by ``clf.predict``.
    """
    diff = as_differentiable(clf)
    scale = np.asarray(clf.scale_, np.float32)
    pred = clf.predict(X)
    label = jnp.asarray(np.searchsorted(clf.classes_, pred))
    U = jnp.asarray(X / scale, jnp.float32)
    eps = jnp.asarray(radius, jnp.float32)
    norm = clf.norm_
    # PGD on the CW margin (the loss that targets the nearest flip) with
    # restarts, and AutoPGD on DLR (cross-entropy for two classes)
    configs = [("pgd", "cw"), ("apgd", "dlr" if len(clf.classes_) >= 3 else "ce")]
    flipped = np.zeros(len(X), bool)
    for i, (attack, loss) in enumerate(configs):
        U_adv = _attack(diff.fn, diff.params, jnp.asarray(scale), U, label, eps,
                        jax.random.PRNGKey(i), norm=norm, attack=attack, loss=loss)
        delta = np.asarray(U_adv, np.float64) - np.asarray(U, np.float64)
        size = np.max(np.abs(delta), axis=1) if norm == "inf" else np.linalg.norm(delta, axis=1)
        assert np.all(size <= np.asarray(radius) * (1 + 1e-5) + 1e-6)
        flipped |= clf.predict(np.asarray(U_adv) * scale) != pred
    return flipped


# --------------------------------------------------------------------------
# soundness
@pytest.mark.parametrize("name", ["ibp", "crown-ibp", "natural", "ibp-l2"])
def test_bound_radii_survive_the_strongest_attacks(bound_nets, hard3, name):
    clf = bound_nets[name]
    X, _ = hard3
    _, radius = clf.certify(X)
    certified = radius > 0
    assert certified.mean() > 0.8
    assert not np.any(flipped_within(clf, X, np.where(certified, 0.99 * radius, 0.0)))
    # the attacks are not toothless: a little beyond the bounds they flip rows
    beyond = flipped_within(clf, X, np.where(certified, 1.5 * radius + 0.05, 0.0))
    assert beyond[certified].mean() > 0.5


def test_attack_classes_at_a_certified_budget(bound_nets, hard3):
    """The public attack classes (with their own final check) agree."""
    clf = bound_nets["ibp"]
    X, _ = hard3
    _, radius = clf.certify(X)
    eps = 0.1
    rows = radius >= eps / 0.99
    assert rows.sum() > 100
    for attack in (PGDAttack(eps=eps, steps=50, restarts=5, loss="cw"),
                   AutoPGDAttack(eps=eps, steps=50, restarts=2, loss="dlr")):
        attack.set_params(estimator=clf, feature_scale=clf.scale_, random_state=0)
        attack.fit_transform(X[rows])
        assert not attack.success_.any()


def test_best_bound_radius_beats_ibp_alone(bound_nets, hard3):
    from skadv.verify import certified_radius

    clf = bound_nets["natural"]
    X, _ = hard3
    pred, radius = clf.certify(X)
    label = np.searchsorted(clf.classes_, pred)
    with jax.enable_x64(True):
        layers = [{k: jnp.asarray(v) for k, v in layer.items()} for layer in clf.layers_]
        ibp = np.asarray(certified_radius(layers, jnp.asarray(X, jnp.float64), label,
                                          clf.max_radius_, methods=("ibp",)))
    # IBP is monotone in the radius, so bisecting the best-of bound (which
    # certifies wherever IBP does) cannot end below IBP's own radius
    assert np.all(radius >= ibp - clf.max_radius_ * 2.0**-29)
    assert np.mean(radius > ibp + 1e-3) > 0.5  # and CROWN helps on a natural net


def _sample_box(rng, x, eps, n):
    u = rng.uniform(-1, 1, size=(x.shape[0], n, x.shape[1]))
    u[:, : n // 10] = np.sign(u[:, : n // 10])  # corners, where bounds are tight
    return x[:, None, :] + eps * u


@jax.jit
def _all_bounds(layers, X, C):
    return {(method, spec): crown_bounds(layers, X, EPS, C=None if spec == "logits" else C,
                                         method=method)
            for method in ("ibp", "crown-ibp", "crown") for spec in ("logits", "margins")}


def test_outputs_inside_bounds_on_a_trained_model(bound_nets, hard3):
    """1e5 points of the input boxes: every logit and margin inside IBP and CROWN bounds."""
    clf = bound_nets["ibp"]
    X, _ = hard3
    X = np.float64(X[:20])
    label = np.searchsorted(clf.classes_, clf.predict(X))
    rng = np.random.default_rng(0)
    Z = _sample_box(rng, X, EPS, 5000)
    out = forward(clf.layers_, Z.reshape(-1, X.shape[1])).reshape(20, 5000, -1)
    C = np.asarray(margin_matrix(label, 3), np.float64)
    margins = np.einsum("nsk,nmk->nms", C, out)
    with jax.enable_x64(True):
        bounds = _all_bounds([{k: jnp.asarray(v) for k, v in layer.items()}
                              for layer in clf.layers_], X, C)
    for (method, spec), (lb, ub) in bounds.items():
        values = out if spec == "logits" else margins
        assert np.all(values >= np.asarray(lb)[:, None] - 1e-9), method
        assert np.all(values <= np.asarray(ub)[:, None] + 1e-9), method


def test_crown_vs_ibp_wins(bound_nets, hard3):
    """How often each bound is the tighter one, per margin lower bound at eps=EPS.

    Zhang et al. (2020): CROWN is the tighter one on naturally trained nets but
    can be looser than IBP on IBP-trained ones; the certificate takes the best.
    """
    X, _ = hard3
    rates = {}
    for name in ("natural", "ibp", "crown-ibp"):
        clf = bound_nets[name]
        label = np.searchsorted(clf.classes_, clf.predict(X))
        with jax.enable_x64(True):
            layers = [{k: jnp.asarray(v) for k, v in layer.items()} for layer in clf.layers_]
            C = margin_matrix(label, 3).astype(jnp.float64)
            crown, ibp = (np.asarray(crown_bounds(layers, np.float64(X), EPS, C=C,
                                                  method=m)[0]) for m in ("crown", "ibp"))
        rates[name] = (np.mean(crown > ibp + 1e-6), np.mean(ibp > crown + 1e-6))
        print(f"{name:>9}: CROWN tighter on {rates[name][0]:.1%}, IBP tighter on "
              f"{rates[name][1]:.1%} of {crown.size} margin bounds (eps={EPS})")
    assert rates["natural"][0] > 0.95
    assert rates["ibp"][1] > 0.03


def test_certified_training_certifies_more(bound_nets, hard3):
    X, y = hard3
    acc = {name: certified_accuracy(clf, X, y, [0.0, EPS]) for name, clf in bound_nets.items()}
    assert acc["ibp"][1] > acc["natural"][1] + 0.1
    assert acc["crown-ibp"][1] > acc["natural"][1] + 0.1
    for name, a in acc.items():
        # at radius 0 every correct row counts (the deterministic methods
        # certify every row that is not an exact tie)
        assert a[0] == pytest.approx(np.mean(bound_nets[name].predict(X) == y))
        assert a[0] >= a[1]


# --------------------------------------------------------------------------
# linear: exact closed form
@pytest.mark.parametrize("norm", ["inf", 2])
@pytest.mark.parametrize("feature_scale", [None, "std"])
def test_linear_binary_pipeline_equals_closed_form(norm, feature_scale):
    X, y = load_breast_cancer(return_X_y=True)  # raw units, 30 features on many scales
    pipe = make_pipeline(StandardScaler(), SkLogisticRegression(max_iter=1000))
    clf = CertifiedClassifier(pipe, method="linear", norm=norm,
                              feature_scale=feature_scale).fit(X, y)
    pred, radius = clf.certify(X)
    scaler, lr = clf.estimator_[0], clf.estimator_[-1]
    unit = np.ones(X.shape[1]) if feature_scale is None else X.std(axis=0)
    w = lr.coef_[0] / scaler.scale_ * unit  # gradient of the score in units of X / unit
    f = clf.estimator_.decision_function(X)
    dual = np.abs(w).sum() if norm == "inf" else np.linalg.norm(w)
    np.testing.assert_allclose(radius, np.abs(f) / dual, rtol=1e-5)
    # exact: the radius reaches the decision boundary and not a hair before
    direction = -np.sign(f)[:, None] * (np.sign(w) if norm == "inf" else w / np.linalg.norm(w))
    for factor, flips in ((0.9999, False), (1.0001, True)):
        X_moved = X + factor * radius[:, None] * direction * unit
        assert np.all((clf.predict(X_moved) != pred) == flips)


def test_linear_multiclass_equals_closed_form(blobs3):
    X, y = blobs3
    X = np.float64(X)
    clf = CertifiedClassifier(LinearSVC(), method="linear", norm=2).fit(X, y)
    pred, radius = clf.certify(X)
    W, b = clf.estimator_.coef_, clf.estimator_.intercept_
    scores = X @ W.T + b
    c = np.searchsorted(clf.classes_, pred)
    expected, worst = np.full(len(X), np.inf), np.zeros(len(X), int)
    for j in range(3):
        with np.errstate(invalid="ignore"):  # 0 / 0 at j == c, replaced below
            gap = (scores[np.arange(len(X)), c] - scores[:, j]) / np.linalg.norm(
                W[c] - W[j], axis=1)
        gap[c == j] = np.inf
        worst = np.where(gap < expected, j, worst)
        expected = np.minimum(expected, gap)
    np.testing.assert_allclose(radius, expected, rtol=1e-5)
    normal = W[c] - W[worst]
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    for factor, flips in ((0.9999, False), (1.0001, True)):
        moved = X - factor * radius[:, None] * normal
        assert np.all((clf.predict(moved) != pred) == flips)


@pytest.mark.parametrize("norm", ["inf", 2])
def test_linear_radii_survive_attacks(blobs3, norm):
    X, y = blobs3
    clf = CertifiedClassifier(method="linear", norm=norm).fit(X, y)  # skadv LogisticRegression
    _, radius = clf.certify(X)
    assert isinstance(clf.estimator_, LogisticRegression)
    assert not np.any(flipped_within(clf, X, 0.99 * radius))
    assert flipped_within(clf, X, 1.01 * radius).mean() > 0.95


# --------------------------------------------------------------------------
# MILP: exact, against enumeration from scikit-learn's own weights
def enumerated_radius(pipe, x, label, cap):
    """Minimal L∞ distance (raw units) to a point where ``label`` does not win.

    One LP per activation pattern and other class, from the scaler's and the
    MLP's fitted arrays: ``min t`` s.t. ``|x' - x| <= t``, the pattern's sign
    conditions, and ``margin(x') <= 0`` on that pattern's affine piece.
    """
    scaler, net = pipe[0], pipe[-1]
    W0, W1 = net.coefs_
    b0, b1 = net.intercepts_
    if W1.shape[1] == 1:
        W1, b1 = np.hstack([np.zeros_like(W1), W1]), np.concatenate([[0.0], b1])
    A = W0.T / scaler.scale_  # pre-activation z = A x + c in raw units
    c = b0 - (scaler.mean_ / scaler.scale_) @ W0
    d, h = len(x), len(b0)
    best = np.inf
    for bits in itertools.product([0.0, 1.0], repeat=h):
        m = np.array(bits)
        sign = np.where(m > 0, -1.0, 1.0)  # active: z >= 0; inactive: z <= 0
        rows = [np.hstack([sign[:, None] * A, np.zeros((h, 1))]),
                np.hstack([np.eye(d), -np.ones((d, 1))]),
                np.hstack([-np.eye(d), -np.ones((d, 1))])]
        rhs = [-sign * c, x, -x]
        for j in range(W1.shape[1]):
            if j == label:
                continue
            v = W1[:, label] - W1[:, j]
            rows_j = rows + [np.hstack([(m * v) @ A, [0.0]])[None]]
            rhs_j = rhs + [[-((m * v) @ c + b1[label] - b1[j])]]
            res = linprog(np.r_[np.zeros(d), 1.0], A_ub=np.vstack(rows_j),
                          b_ub=np.concatenate(rhs_j), bounds=[(None, None)] * d + [(0, None)],
                          method="highs")
            if res.status == 0:
                best = min(best, res.fun)
    return min(best, cap)


def test_milp_radius_equals_enumeration(tiny_milp):
    clf, X, _ = tiny_milp
    pred, radius = clf.certify(X)
    label = np.searchsorted(clf.classes_, pred)
    expected = [enumerated_radius(clf.estimator_, x, k, clf.max_radius_)
                for x, k in zip(X, label)]
    np.testing.assert_allclose(radius, expected, rtol=1e-6, atol=1e-7)
    assert np.all(radius > 0)


def test_milp_radius_is_tight_with_a_counterexample(tiny_milp):
    clf, X, _ = tiny_milp
    pred, radius = clf.certify(X)
    label = np.searchsorted(clf.classes_, pred)
    U = X / clf.scale_
    for u, k, r, p in zip(U, label, radius, pred):
        certified, _ = verify(clf.layers_, u, 0.99 * r, int(k))
        assert certified
        certified, x_adv = verify(clf.layers_, u, 1.01 * r, int(k))
        assert not certified
        assert np.max(np.abs(x_adv - u)) <= 1.01 * r + 1e-9
        assert clf.predict((x_adv * clf.scale_)[None])[0] != p


def test_milp_radii_survive_attacks(tiny_milp):
    clf, X, _ = tiny_milp
    _, radius = clf.certify(X)
    assert not np.any(flipped_within(clf, X, 0.99 * radius))
    assert flipped_within(clf, X, 1.01 * radius).mean() > 0.8


# --------------------------------------------------------------------------
# smoothing
class Recorder(ClassifierMixin, BaseEstimator):
    """A black box (no differentiable view) that keeps the data it was fitted on."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def fit(self, X, y, sample_weight=None):
        self.X_fit_, self.y_fit_ = np.asarray(X), np.asarray(y)
        self.estimator_ = clone(self.estimator).fit(X, y)
        self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X):
        return self.estimator_.predict(X)


def _certify_law(p1, n0, n, alpha, sigma, r):
    """Exact probability that CERTIFY returns class c (0 or 1) with radius >= r.

    ``p1`` is the base classifier's probability of class 1 under noise; the
    selection (``n0`` draws, ties to class 0) and estimation (``n`` draws)
    counts are independent binomials.
    """
    k = np.arange(n + 1)
    bound = clopper_pearson_lower(k, n, alpha)
    k_min = k[np.argmax(bound >= max(0.5, stats.norm.cdf(r / sigma)))]
    select1 = stats.binom.sf(n0 // 2, n0, p1)
    return ((1 - select1) * stats.binom.sf(k_min - 1, n, 1 - p1),
            select1 * stats.binom.sf(k_min - 1, n, p1))


def _check_rates(clf, X, p1, true_radius):
    """Certification rates at several radii, and over-certification, equal the law."""
    pred, radius = clf.certify(X)
    c = np.searchsorted(clf.classes_, pred)
    for r in (0.0, 0.05, 0.1):
        law0, law1 = _certify_law(p1, clf.n0, clf.n, clf.alpha, clf.sigma, r)
        for cls, law in ((0, law0), (1, law1)):
            observed = np.sum((c == cls) & (radius >= r))
            sd = np.sqrt(np.sum(law * (1 - law)))
            assert abs(observed - law.sum()) <= 4.5 * sd + 1, (r, cls, observed, law.sum())
    # a certificate beyond the smoothed classifier's true radius is the
    # alpha-event; its rate is as the law says, and at most alpha
    g = (p1 > 0.5).astype(int)
    k = np.arange(clf.n + 1)
    bound = clopper_pearson_lower(k, clf.n, clf.alpha)
    pA = np.maximum(p1, 1 - p1)
    k_over = np.array([k[np.argmax(bound > p)] for p in pA])
    over_law = stats.binom.sf(k_over - 1, clf.n, pA) * np.where(
        g == 1, stats.binom.sf(clf.n0 // 2, clf.n0, p1), stats.binom.cdf(clf.n0 // 2, clf.n0, p1))
    over = (c == g) & (radius > true_radius)
    assert over_law.mean() <= clf.alpha
    assert abs(over.sum() - over_law.sum()) <= 4.5 * np.sqrt(np.sum(over_law)) + 1
    return radius


def test_smoothing_rates_match_theory_linear_base():
    """Compiled sampler; base f(x) = sign(w.x + b), so P(f = 1) = Phi(f(x) / (sigma |w|))."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)
    clf = CertifiedClassifier(SkLogisticRegression(), method="smoothing", sigma=0.5, n0=64,
                              n=1000, alpha=0.01, random_state=0).fit(X, y)
    w, b = clf.estimator_.coef_[0], clf.estimator_.intercept_[0]
    unit = w / np.linalg.norm(w)
    t = np.linspace(-0.25, 0.25, 2000) * clf.sigma  # p_A in [0.5, 0.6]: decisions uncertain
    X_test = (-b / np.linalg.norm(w)) * unit + t[:, None] * unit + rng.normal(size=(2000, 1)) * [
        -unit[1], unit[0]]
    p1 = stats.norm.cdf(t / clf.sigma)
    radius = _check_rates(clf, X_test, p1, np.abs(t))
    assert 0.2 < np.mean(radius >= 0) < 0.8  # the test is not decided by a trivial rate


def test_smoothing_rates_match_theory_black_box_stump():
    """Batched predict of a black box; a stump x_j <= s has P = Phi((s - x_j) / sigma)."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = (X[:, 1] > 0.2).astype(int)
    clf = CertifiedClassifier(DecisionTreeClassifier(max_depth=1), method="smoothing", sigma=0.5,
                              n0=64, n=1000, alpha=0.01, random_state=0).fit(X, y)
    tree = clf.estimator_.tree_
    j, s = tree.feature[0], tree.threshold[0]
    left = int(np.argmax(tree.value[tree.children_left[0]]))
    assert j == 1 and left == 0
    t = np.linspace(-0.25, 0.25, 600) * clf.sigma
    X_test = rng.normal(size=(600, 3))
    X_test[:, j] = s + t
    p1 = stats.norm.cdf(t / clf.sigma)
    _check_rates(clf, X_test, p1, np.abs(t))


def test_smoothing_api(blobs3):
    X, y = blobs3
    clf = CertifiedClassifier(mlp((16,), 30), method="smoothing", sigma=0.25, n0=50, n=500,
                              random_state=0).fit(X, y)
    assert clf.training_ == "noise" and clf.norm_ == 2 and clf.layers_ is None
    pred, radius = clf.certify(X)
    np.testing.assert_array_equal(clf.predict(X), pred)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], pred)
    assert not hasattr(clf, "decision_function")
    # a deterministic function of each row: order and repeats do not matter
    # (subsets: the common checks' check_methods_subset_invariance)
    perm = np.random.default_rng(0).permutation(len(X))
    p_sub, r_sub = clf.certify(X[perm])
    np.testing.assert_array_equal(p_sub, pred[perm])
    np.testing.assert_array_equal(r_sub, radius[perm])
    # radius cap of n draws: sigma * Phi^-1(alpha ** (1 / n))
    assert radius.max() <= clf.sigma * stats.norm.ppf(clf.alpha ** (1 / clf.n)) + 1e-9
    assert 0.5 < np.mean(radius > 0) and np.mean(pred == y) > 0.9
    other = clone(clf).set_params(random_state=1).fit(X, y)
    assert np.any(other.certify(X)[1] != radius)
    # abstentions count as wrong, at radius 0 too
    expected = np.mean((pred == y) & (radius >= 0))
    assert certified_accuracy(clf, X, y) == pytest.approx(expected)
    # the soft smoothed view for attacks follows the smoothed prediction
    diff = as_differentiable(clf)
    agree = np.mean(clf.classes_[np.argmax(np.asarray(diff.logits(X)), axis=1)] == pred)
    assert agree > 0.9


def test_black_box_sampler_draws_the_same_noise(blobs3):
    """The compiled and the batched-predict samplers see identical draws."""
    X, y = blobs3
    X = np.float64(X)
    params = dict(method="smoothing", sigma=0.5, n0=30, n=300, random_state=0, batch_size=2048)
    jax_path = CertifiedClassifier(SkLogisticRegression(), **params).fit(X, y)
    black_box = CertifiedClassifier(Recorder(SkLogisticRegression()), **params).fit(X, y)
    np.testing.assert_allclose(black_box.estimator_.estimator_.coef_,
                               jax_path.estimator_.coef_)
    counts_jax = counts(jax_path, X, 1, 300)
    counts_bb = counts(black_box, X, 1, 300)
    # float32 logits vs float64 predict may split an exact tie, nothing more
    assert np.abs(counts_jax - counts_bb).max() <= 2
    assert np.mean(np.all(counts_jax == counts_bb, axis=1)) > 0.9
    assert black_box.training_ == "noise augmentation"
    rec = black_box.estimator_
    assert rec.X_fit_.shape == (black_box.n_augment * len(X), X.shape[1])
    resid = rec.X_fit_.reshape(black_box.n_augment, len(X), -1) - X
    assert np.std(resid) == pytest.approx(0.5, rel=0.05)


def test_grid_search_over_sigma(blobs3):
    X, y = blobs3
    grid = GridSearchCV(CertifiedClassifier(SkLogisticRegression(), method="smoothing", n0=20,
                                            n=40, random_state=0),
                        {"sigma": [0.1, 3.0]}, cv=2).fit(X, y)
    assert grid.best_params_ == {"sigma": 0.1}
    assert grid.best_estimator_.sigma == 0.1 and grid.best_estimator_.training_ == (
        "noise augmentation")


# --------------------------------------------------------------------------
# bad input
@pytest.mark.parametrize("params, match", [
    ({"sigma": 0.0}, "sigma"),
    ({"sigma": -1.0}, "sigma"),
    ({"alpha": 0.0}, "alpha"),
    ({"alpha": 1.0}, "alpha"),
    ({"n0": 200, "n": 100}, "`n0`"),
    ({"norm": "inf"}, "L2"),
    ({"method": "milp", "norm": 2}, "L∞"),
    ({"method": "bogus"}, "method"),
])
def test_bad_parameters(blobs3, params, match):
    X, y = blobs3
    with pytest.raises(ValueError, match=match):
        CertifiedClassifier(SkLogisticRegression(), **params).fit(X, y)


@pytest.mark.parametrize("method, estimator, match", [
    ("ibp", SkMLPClassifier(), "needs skadv.models.MLPClassifier"),
    ("crown-ibp", MLPClassifier(activation="tanh"), "needs skadv.models.MLPClassifier"),
    ("ibp", LogisticRegression(), "method='linear'"),
    ("linear", SkMLPClassifier(hidden_layer_sizes=(3,), max_iter=5), "linear classifier"),
    ("milp", SkMLPClassifier(hidden_layer_sizes=(3,), activation="tanh", max_iter=5), "ReLU"),
    ("milp", DecisionTreeClassifier(), "differentiable"),
])
def test_wrong_model_for_the_method(blobs3, method, estimator, match):
    X, y = blobs3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with pytest.raises(TypeError, match=match):
            CertifiedClassifier(estimator, method=method).fit(X, y)


def test_certified_accuracy_errors(blobs3):
    X, y = blobs3
    clf = CertifiedClassifier(SkLogisticRegression(), method="linear").fit(X, y)
    with pytest.raises(ValueError, match="`radius`"):
        certified_accuracy(clf, X, y, -0.1)
    with pytest.raises(TypeError, match="certify"):
        certified_accuracy(clf.estimator_, X, y)
    curve = certified_accuracy(clf, X, y, np.array([[0.0, 0.1], [0.2, 0.3]]))
    assert curve.shape == (2, 2) and np.all(np.diff(curve.ravel()) <= 0)
