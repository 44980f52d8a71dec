"""CertifiedClassifier on tree ensembles: radii are promises the exact attack never breaks."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from skadv.attacks import ExactTreeAttack, GreedyTreeAttack
from skadv.defenses import CertifiedClassifier
from skadv.evaluation import robustness_report
from skadv.exceptions import UnsupportedModelError
from skadv.metrics import certified_accuracy
from skadv.models import MLPClassifier


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    return X[::2], y[::2], X[1::2][:40], y[1::2][:40]


MODELS = {
    "hgb": lambda: HistGradientBoostingClassifier(max_iter=10, max_depth=3, random_state=0),
    "gb": lambda: GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0),
    "rf": lambda: RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0),
}


@pytest.mark.parametrize("norm", ["inf", 2])
@pytest.mark.parametrize("kind", list(MODELS))
def test_exact_attack_never_breaks_a_tree_certificate(data, kind, norm):
    X, y, Xt, yt = data
    bound = CertifiedClassifier(MODELS[kind](), method="tree-bound", norm=norm).fit(X, y)
    exact = CertifiedClassifier(MODELS[kind](), method="tree-exact", norm=norm).fit(X, y)
    pred_b, r_bound = bound.certify(Xt)
    pred_e, r_exact = exact.certify(Xt)
    np.testing.assert_array_equal(pred_b, bound.predict(Xt))
    np.testing.assert_array_equal(pred_b, pred_e)
    attack = ExactTreeAttack(bound.estimator_, norm=norm).fit(X)
    attack.transform(Xt)
    dist = attack.minimal_distance_
    # the nearest point of another class lies strictly outside every certificate
    assert np.all(r_bound < dist)
    assert np.all(r_exact < dist)
    # the exact certificate is the exact radius, up to float32 rounding (a
    # rival class within rounding of winning counts as winning); a forest's
    # averaged votes can also tie exactly, and the certificate stops at the
    # tie (tests/verify/test_tree_bounds.py checks those points are ties)
    if kind == "rf":
        assert np.mean(np.isclose(r_exact, dist, rtol=1e-6)) >= 0.8
    else:
        np.testing.assert_allclose(r_exact, dist, rtol=1e-6)
    assert np.all(r_bound <= r_exact)
    assert np.mean(r_bound / r_exact) >= 0.8
    # the greedy attack (any attack) is farther than the certificate too
    greedy = GreedyTreeAttack(bound.estimator_, norm=norm, random_state=0).fit(X)
    X_adv = greedy.transform(Xt)
    moved = greedy.success_
    assert np.all(greedy.perturbation_[moved] > r_exact[moved])
    assert np.all(bound.predict(X_adv[moved]) != pred_b[moved])


def test_certified_accuracy_below_the_exact_attacks_and_in_the_report(data):
    X, y, Xt, yt = data
    clf = CertifiedClassifier(method="tree-bound").fit(X, y)  # default: a small HGB
    assert isinstance(clf.estimator_, HistGradientBoostingClassifier)
    eps = 0.05
    report = robustness_report({"hgb": clf}, Xt, yt, eps=[eps],
                               attacks={"exact": ExactTreeAttack(eps=eps),
                                        "greedy": GreedyTreeAttack(random_state=0)})
    acc = dict(zip(report.attack, report.accuracy))
    assert acc["certified"] == pytest.approx(certified_accuracy(clf, Xt, yt, eps))
    # the exact attack finds every row the certificate does not hold for, so
    # the bound's certified accuracy sits at or below the exact robust accuracy
    assert acc["certified"] <= acc["exact"] + 1e-12
    assert acc["certified"] >= acc["exact"] - 0.1
    assert acc["exact"] <= acc["greedy"] + 1e-12


def test_tree_certificates_in_std_units_through_a_pipeline(data):
    X, y, Xt, _ = data
    pipe = make_pipeline(StandardScaler(), MODELS["hgb"]())
    clf = CertifiedClassifier(pipe, method="tree-exact", feature_scale="std").fit(X, y)
    _, radius = clf.certify(Xt)
    attack = ExactTreeAttack(clf.estimator_, feature_scale=clf.scale_).fit(X)
    attack.transform(Xt)
    assert np.all(radius < attack.minimal_distance_)
    np.testing.assert_allclose(radius, attack.minimal_distance_, rtol=1e-6)


def test_xgboost_tree_certificate(data):
    xgb = pytest.importorskip("xgboost")
    X, y, Xt, _ = data
    model = xgb.XGBClassifier(n_estimators=10, max_depth=3, n_jobs=1, random_state=0)
    clf = CertifiedClassifier(model, method="tree-bound", norm=1).fit(X, y)
    _, radius = clf.certify(Xt)
    attack = ExactTreeAttack(clf.estimator_, norm=1).fit(X)
    attack.transform(Xt)
    assert np.all(radius < attack.minimal_distance_)
    assert clf.norm_ == 1


def test_tree_methods_refuse_what_they_cannot_certify(data):
    X, y, _, _ = data
    with pytest.raises(UnsupportedModelError, match="not a supported tree ensemble"):
        CertifiedClassifier(MLPClassifier(max_iter=2), method="tree-bound").fit(X, y)
    with pytest.raises(ValueError, match="norm"):
        CertifiedClassifier(method="ibp", norm=1).fit(X, y)
