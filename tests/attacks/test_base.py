"""BaseAttack: clear errors for bad input, and the shared boundary bisection."""

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from registry import WHITE_BOX
from skadv.attacks import (
    AutoPGDAttack,
    CarliniWagnerL2Attack,
    DeepFoolAttack,
    FGSMAttack,
    PGDAttack,
)
from skadv.constraints import FeatureConstraints

ATTACKS = list(WHITE_BOX.values())


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 5))
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    y3 = np.digitize(X[:, 0] + X[:, 1], [-0.5, 0.5])
    return X, y, LogisticRegression().fit(X, y), LogisticRegression().fit(X, y3)


@pytest.mark.parametrize("Attack", ATTACKS)
def test_negative_eps_is_rejected(data, Attack):
    X, y, clf, _ = data
    with pytest.raises(ValueError, match="'eps' parameter .* must be"):
        Attack(clf, eps=-0.1).fit(X)


@pytest.mark.parametrize("Attack", [FGSMAttack, PGDAttack, AutoPGDAttack, DeepFoolAttack])
def test_unknown_norm_is_rejected(data, Attack):
    X, y, clf, _ = data
    with pytest.raises(ValueError, match="'norm' parameter"):
        Attack(clf, norm="l3").fit(X)


def test_norm_the_attack_does_not_have_is_rejected(data):
    X, y, clf, _ = data
    with pytest.raises(ValueError, match=r"DeepFoolAttack supports norm in \[2, 'inf'\]"):
        DeepFoolAttack(clf, norm=1).fit(X)
    with pytest.raises(TypeError, match="norm"):
        CarliniWagnerL2Attack(clf, norm="inf")  # an L2 attack by name


@pytest.mark.parametrize("Attack", ATTACKS)
def test_non_differentiable_victim_points_to_black_box_attacks(data, Attack):
    X, y, _, _ = data
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="black-box attack"):
        Attack(forest).fit(X)


def test_unfitted_or_missing_victim(data):
    X, y, _, _ = data
    with pytest.raises(NotFittedError):
        PGDAttack(LogisticRegression()).fit(X)
    with pytest.raises(ValueError, match="needs a fitted victim"):
        PGDAttack().fit(X)


def test_feature_count_must_match_the_victim_and_fit(data):
    X, y, clf, _ = data
    with pytest.raises(ValueError, match="X has 4 features, but the victim"):
        PGDAttack(clf).fit(X[:, :4])
    attack = PGDAttack(clf).fit(X)
    with pytest.raises(ValueError, match="4 features"):
        attack.transform(X[:, :4])


def test_targeted_attack_needs_labels(data):
    X, y, clf, _ = data
    with pytest.raises(ValueError, match="targeted attack needs y"):
        PGDAttack(clf, targeted=True).fit(X).transform(X)


def test_labels_must_be_known_to_the_victim(data):
    X, y, clf, _ = data
    with pytest.raises(ValueError, match=r"labels the victim does not know: \[7\]"):
        PGDAttack(clf).fit(X).transform(X, np.where(y == 1, 7, y))


def test_dlr_needs_enough_classes(data):
    X, y, clf2, clf3 = data
    with pytest.raises(ValueError, match="needs at least 3 classes.*loss='ce'"):
        AutoPGDAttack(clf2, loss="dlr").fit(X)
    with pytest.raises(ValueError, match="at least 4 classes for a targeted attack"):
        AutoPGDAttack(clf3, loss="dlr", targeted=True).fit(X)
    AutoPGDAttack(clf3, loss="dlr").fit(X)  # three classes are enough untargeted


def test_nan_and_bad_feature_scale(data):
    X, y, clf, _ = data
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PGDAttack(clf).fit(bad)
    with pytest.raises(ValueError, match="feature_scale must be"):
        PGDAttack(clf, feature_scale=[1.0, 2.0]).fit(X)


# --------------------------------------------------------------------------
# the bisection minimal-distance attacks finish with
class _CountingVictim:
    """Forwards ``predict`` and counts the calls (and rows) it receives."""

    def __init__(self, clf):
        self.clf, self.classes_, self.calls = clf, clf.classes_, []

    def predict(self, X):
        self.calls.append(len(X))
        return self.clf.predict(X)


def test_bisection_lands_on_the_boundary_with_one_predict_per_step(data):
    X, y, clf, _ = data
    w, b = clf.coef_.ravel(), clf.intercept_[0]
    f = X @ w + b
    # Points well past the boundary along a random direction.
    rng = np.random.default_rng(1)
    d = rng.normal(size=X.shape)
    d *= -np.sign(f * (d @ w))[:, None]  # towards the other side
    t_cross = -f / (d @ w)
    Z = X + 3.0 * t_cross[:, None] * d
    labels = clf.predict(X)
    attack = DeepFoolAttack(clf).fit(X)
    counting = _CountingVictim(clf)
    attack.set_params(estimator=counting)
    out = attack._bisect_to_boundary(X, Z, labels, np.float64)
    assert len(counting.calls) == attack._bisection_steps + 1
    assert np.all(clf.predict(out) != labels)
    # Along the segment the crossing is at t_cross / (3 t_cross) = 1/3 of it.
    frac = np.linalg.norm(out - X, axis=1) / np.linalg.norm(Z - X, axis=1)
    np.testing.assert_allclose(frac, 1 / 3, atol=2.0 ** -attack._bisection_steps * 2)
    assert np.all(frac >= 1 / 3 - 1e-12)


def test_bisection_keeps_discrete_features_and_skips_failed_rows(data):
    X, y, clf, _ = data
    X = X.copy()
    X[:, 4] = np.round(X[:, 4])
    labels = clf.predict(X)
    w = clf.coef_.ravel()
    Z = X - 5.0 * np.sign(X @ w + clf.intercept_[0])[:, None] * np.sign(w)
    Z[:, 4] = X[:, 4] + 1.0
    Z[:3] = X[:3] + 1e-3  # not adversarial: must come back as given
    attack = DeepFoolAttack(clf, constraints=FeatureConstraints(integer=[4])).fit(X)
    out = attack._bisect_to_boundary(X, Z, labels, np.float64)
    np.testing.assert_array_equal(out[:, 4], Z[:, 4])
    np.testing.assert_array_equal(out[:3], Z[:3])
    moved = clf.predict(Z) != labels
    assert np.all(clf.predict(out[moved]) != labels[moved])
    assert np.all(np.abs(out - X)[moved][:, :4].sum(axis=1) < np.abs(Z - X)[moved][:, :4].sum(axis=1))
