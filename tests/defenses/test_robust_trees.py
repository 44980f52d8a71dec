"""Robust trees, forests and boosting: sklearn API, exact XGBoost export, robustness."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_classification, make_moons
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import minmax_scale
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from skadv._core.tree_export import float32_scores
from skadv.attacks import ExactTreeAttack, GreedyTreeAttack
from skadv.constraints import FeatureConstraints
from skadv.defenses import (
    RobustBoostingClassifier,
    RobustForestClassifier,
    RobustTreeClassifier,
)
from skadv.verify import tree_certified_radius

_BOOTSTRAP = {
    "check_sample_weight_equivalence_on_dense_data":
        "bootstrap draws per row: a repeated row gets two draws where a row of weight 2 "
        "gets one (scikit-learn's RandomForestClassifier fails it too)",
}


@parametrize_with_checks(
    [RobustTreeClassifier(max_depth=3),
     RobustForestClassifier(n_estimators=3, max_depth=3, random_state=0),
     RobustBoostingClassifier(n_estimators=3, max_depth=2)],
    expected_failed_checks=lambda est: _BOOTSTRAP if isinstance(est, RobustForestClassifier)
    else {})
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = minmax_scale(X)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def three_classes():
    X, y = make_classification(n_samples=240, n_features=5, n_informative=4, n_redundant=0,
                               n_classes=3, n_clusters_per_class=1, class_sep=1.5,
                               random_state=0)
    return minmax_scale(X), y


def _gini_of_stump(clf, X, y):
    """Weighted Gini impurity of the leaves a depth-1 model sends the rows to."""
    leaves = clf.apply(X) if hasattr(clf, "apply") else clf.ensemble_.apply(X)[:, 0]
    total = 0.0
    for leaf in np.unique(leaves):
        p = np.bincount(y[leaves == leaf], minlength=2) / np.sum(leaves == leaf)
        total += np.sum(leaves == leaf) * (1.0 - np.sum(p * p))
    return total


def test_eps_zero_stump_is_the_best_gini_split(cancer):
    # Oracle: scikit-learn's stump is the exhaustive best Gini split; at eps=0
    # with a bin per distinct value the robust search must find one as good.
    Xtr, _, ytr, _ = cancer
    ours = RobustTreeClassifier(eps=0.0, max_depth=1, max_bins=1000).fit(Xtr, ytr)
    theirs = DecisionTreeClassifier(max_depth=1).fit(Xtr, ytr)
    assert _gini_of_stump(ours, Xtr, ytr) == pytest.approx(_gini_of_stump(theirs, Xtr, ytr),
                                                           rel=1e-9)


@pytest.mark.parametrize("ours, theirs", [
    (RobustTreeClassifier(eps=0.0, max_depth=4),
     DecisionTreeClassifier(max_depth=4, random_state=0)),
    (RobustForestClassifier(20, eps=0.0, max_depth=4, random_state=0),
     RandomForestClassifier(20, max_depth=4, random_state=0)),
    (RobustBoostingClassifier(20, eps=0.0, max_depth=3, learning_rate=0.3),
     HistGradientBoostingClassifier(max_iter=20, max_depth=3, learning_rate=0.3)),
], ids=["tree", "forest", "boosting"])
def test_eps_zero_matches_sklearn_quality(cancer, ours, theirs):
    Xtr, Xte, ytr, yte = cancer
    assert ours.fit(Xtr, ytr).score(Xte, yte) >= theirs.fit(Xtr, ytr).score(Xte, yte) - 0.03


def test_eps_zero_multiclass_quality(three_classes):
    X, y = three_classes
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    ref = HistGradientBoostingClassifier(max_iter=20, max_depth=3).fit(Xtr, ytr).score(Xte, yte)
    for clf in (RobustBoostingClassifier(20, eps=0.0, max_depth=3, learning_rate=0.3),
                RobustForestClassifier(20, eps=0.0, max_depth=4, random_state=0)):
        assert clf.fit(Xtr, ytr).score(Xte, yte) >= ref - 0.05


def _rows_on_every_threshold(ens, X):
    """Rows of ``X`` with one feature set at, just below and just above every key."""
    rows = [X]
    for feat, key in zip(ens.feature, ens.threshold):
        for f, k in zip(feat[feat >= 0], key[feat >= 0]):
            k32 = np.float32(k)
            for v in (k32, np.nextafter(k32, np.float32(-np.inf)),
                      np.nextafter(k32, np.float32(np.inf)), float(k) + 1e-12):
                r = X[:3].copy()
                r[:, f] = v
                rows.append(r)
    return np.concatenate(rows)


@pytest.mark.parametrize("make", [
    lambda: RobustTreeClassifier(eps=0.05, max_depth=4),
    lambda: RobustForestClassifier(5, eps=0.05, max_depth=3, random_state=0),
    lambda: RobustBoostingClassifier(8, eps=0.05, max_depth=3, learning_rate=0.5),
], ids=["tree", "forest", "boosting"])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_to_xgboost_scores_every_row_the_same(make, task, cancer, three_classes):
    xgboost = pytest.importorskip("xgboost")
    if task == "binary":
        X, _, y, _ = cancer
    else:
        X, y = three_classes
    clf = make().fit(X, y)
    booster = clf.to_xgboost()
    rows = _rows_on_every_threshold(clf.ensemble_, X)
    margin = booster.predict(xgboost.DMatrix(rows), output_margin=True)
    ours = clf.decision_function(rows)
    assert margin.shape == ours.shape
    np.testing.assert_array_equal(margin.astype(np.float64), ours)
    # Leaves on the score grid: float32 sums tree by tree (XGBoost's order)
    # equal the float64 ones, so no order of addition changes a prediction.
    f32 = float32_scores(clf.ensemble_, rows, clf._columns)
    np.testing.assert_array_equal(f32[:, 1] if task == "binary" else f32, ours)
    labels = (margin > 0).astype(int) if task == "binary" else np.argmax(margin, axis=1)
    np.testing.assert_array_equal(clf.classes_[labels], clf.predict(rows))
    # The tree readers see the exported model as the same ensemble too.
    np.testing.assert_array_equal(tree_certified_radius(booster, rows[:20]),
                                  tree_certified_radius(clf, rows[:20]))


@pytest.mark.parametrize("make", [
    lambda: RobustForestClassifier(4, eps=0.08, max_depth=3, random_state=0),
    lambda: RobustBoostingClassifier(4, eps=0.08, max_depth=3, learning_rate=0.5),
], ids=["forest", "boosting"])
def test_tree_attacks_and_certified_radius_accept_the_models(make, cancer):
    Xtr, Xte, ytr, yte = cancer
    clf = make().fit(Xtr, ytr)
    X, y = Xte[:25], yte[:25]
    exact = ExactTreeAttack(clf).fit(Xtr)
    X_adv = exact.fit_transform(X, y)
    assert np.all(clf.predict(X_adv)[exact.success_] != y[exact.success_])
    moved = np.abs(X_adv - X).max(axis=1)
    np.testing.assert_allclose(moved[exact.success_], exact.minimal_distance_[exact.success_])
    # A certified radius is a promise: the exact attack never beats it, and
    # the greedy attack never beats the exact one.
    correct = clf.predict(X) == y
    bound = tree_certified_radius(clf, X, method="bound")
    assert np.all(bound[correct] <= exact.minimal_distance_[correct])
    greedy = GreedyTreeAttack(clf, random_state=0).fit(Xtr)
    greedy.fit_transform(X, y)
    ok = greedy.success_ & exact.success_
    assert np.all(greedy.perturbation_[ok] >= exact.minimal_distance_[ok] - 1e-12)


def _exact_robust_accuracy(clf, Xtr, X, y, eps):
    attack = ExactTreeAttack(clf, eps=eps).fit(Xtr)
    attack.fit_transform(X, y)
    return np.mean((clf.predict(X) == y) & (attack.minimal_distance_ > eps))


@pytest.mark.parametrize("robust, natural", [
    (RobustBoostingClassifier(10, eps=0.1, max_depth=3, learning_rate=0.5),
     RobustBoostingClassifier(10, eps=0.0, max_depth=3, learning_rate=0.5)),
    (RobustForestClassifier(10, eps=0.1, max_depth=3, random_state=0),
     RobustForestClassifier(10, eps=0.0, max_depth=3, random_state=0)),
], ids=["boosting", "forest"])
def test_robust_training_beats_natural_at_eps(robust, natural, cancer):
    # Exact robust accuracy (MILP radius > eps) on held-out rows; the benchmark
    # measures the same claim on more rows and two tasks.
    Xtr, Xte, ytr, yte = cancer
    Xte, yte = Xte[:60], yte[:60]
    robust.fit(Xtr, ytr)
    natural.fit(Xtr, ytr)
    gain = (_exact_robust_accuracy(robust, Xtr, Xte, yte, 0.1)
            - _exact_robust_accuracy(natural, Xtr, Xte, yte, 0.1))
    assert gain >= 0.2


def test_immutable_features_never_move():
    X, y = make_moons(n_samples=200, noise=0.2, random_state=0)
    X = minmax_scale(X)
    plain = RobustTreeClassifier(eps=0.0, max_depth=3).fit(X, y)
    frozen = RobustTreeClassifier(eps=0.2, max_depth=3,
                                  constraints=FeatureConstraints(immutable=[0, 1])).fit(X, y)
    free = RobustTreeClassifier(eps=0.2, max_depth=3).fit(X, y)
    np.testing.assert_array_equal(frozen.decision_function(X), plain.decision_function(X))
    assert not np.array_equal(free.decision_function(X), plain.decision_function(X))
    half = RobustTreeClassifier(eps=0.2, constraints=FeatureConstraints(immutable=[0]))
    np.testing.assert_array_equal(half.fit(X, y).delta_, [0.0, 0.2])


def test_integer_features_reach_only_integers():
    # An integer feature moved by less than 1 reaches no other integer: the
    # model is the eps=0 one; the same budget on real-valued features is not.
    X, y = make_classification(n_samples=150, n_features=3, n_informative=3, n_redundant=0,
                               random_state=0)
    X = np.round(X * 3)
    ints = FeatureConstraints(integer=[0, 1, 2])
    clf = RobustBoostingClassifier(5, eps=0.7, constraints=ints).fit(X, y)
    plain = RobustBoostingClassifier(5, eps=0.0).fit(X, y)
    np.testing.assert_array_equal(clf.decision_function(X), plain.decision_function(X))
    assert not np.array_equal(RobustBoostingClassifier(5, eps=0.7).fit(X, y)
                              .decision_function(X), plain.decision_function(X))


def test_one_hot_columns_stay_below_eps_one():
    X, y = make_moons(n_samples=120, noise=0.2, random_state=0)
    X = minmax_scale(X)
    cat = np.eye(3)[np.random.default_rng(0).integers(0, 3, len(y))]
    y = np.where(cat[:, 0] == 1, 1, y)  # category 0 decides the class
    Xc = np.hstack([X, cat])
    groups = FeatureConstraints(one_hot_groups=[[2, 3, 4]], immutable=[0, 1])
    clf = RobustTreeClassifier(eps=0.6, max_depth=3, constraints=groups).fit(Xc, y)
    plain = RobustTreeClassifier(eps=0.0, max_depth=3).fit(Xc, y)
    np.testing.assert_array_equal(clf.decision_function(Xc), plain.decision_function(Xc))


def test_feature_scale_std_counts_in_standard_deviations():
    X, y = make_moons(n_samples=100, noise=0.2, random_state=0)
    X = X * [1.0, 10.0]
    clf = RobustTreeClassifier(eps=0.1, feature_scale="std", max_depth=2).fit(X, y)
    np.testing.assert_allclose(clf.delta_, 0.1 * X.std(axis=0))


@pytest.mark.parametrize("kwargs, X_change, match", [
    ({"eps": -0.1}, None, "'eps' parameter"),
    ({"eps": 2.0}, None, "eps=2.0 is larger than the range of feature 0"),
    ({"eps": 0.1}, "nan", "NaN"),
    ({"feature_scale": [1.0]}, None, "feature_scale must be"),
    ({"learning_rate": 0.0}, None, "'learning_rate' parameter"),
])
def test_bad_input_errors(kwargs, X_change, match):
    X, y = make_moons(n_samples=60, random_state=0)
    X = minmax_scale(X)
    if X_change == "nan":
        X[3, 1] = np.nan
    with pytest.raises(ValueError, match=match):
        RobustBoostingClassifier(3, **kwargs).fit(X, y)


def test_unfitted_and_wrong_width_errors():
    from sklearn.exceptions import NotFittedError

    clf = RobustForestClassifier(3)
    with pytest.raises(NotFittedError):
        clf.predict(np.zeros((2, 2)))
    with pytest.raises(NotFittedError):
        clf.to_xgboost()
    X, y = make_moons(n_samples=60, random_state=0)
    clf.fit(minmax_scale(X), y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(np.zeros((2, 3)))


def test_pickle_and_grid_search_over_eps(three_classes):
    X, y = three_classes
    clf = RobustBoostingClassifier(5, max_depth=2).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.decision_function(X), clf.decision_function(X))
    search = GridSearchCV(RobustForestClassifier(5, max_depth=3, random_state=0),
                          {"eps": [0.0, 0.05, 0.2]}, cv=2).fit(X, y)
    assert search.best_params_["eps"] in (0.0, 0.05, 0.2)
    assert len(search.cv_results_["mean_test_score"]) == 3
    # More robustness costs clean accuracy here: the scores are not all equal.
    assert len(set(np.round(search.cv_results_["mean_test_score"], 6))) > 1


def test_n_jobs_gives_the_same_model(three_classes):
    X, y = three_classes
    one = RobustForestClassifier(6, max_depth=3, random_state=0, n_jobs=1).fit(X, y)
    two = RobustForestClassifier(6, max_depth=3, random_state=0, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(one.decision_function(X), two.decision_function(X))
    b1 = RobustBoostingClassifier(4, max_depth=2, n_jobs=1).fit(X, y)
    b2 = RobustBoostingClassifier(4, max_depth=2, n_jobs=2).fit(X, y)
    np.testing.assert_array_equal(b1.decision_function(X), b2.decision_function(X))


def test_reach_extremes_bound_every_point_of_the_box(cancer):
    # The boosting rounds rely on these bounds: every point of a row's box
    # scores within [low, high] in every tree.
    from skadv._core.robust_fit import prepare_boxes
    from skadv._core.robust_split import perturbation_box, reach_extremes

    Xtr, _, ytr, _ = cancer
    clf = RobustTreeClassifier(eps=0.05, max_depth=4).fit(Xtr, ytr)
    d = Xtr.shape[1]
    lo, hi = perturbation_box(Xtr, np.full(d, 0.05), lower=np.full(d, -np.inf),
                              upper=np.full(d, np.inf), integer=np.zeros(d, bool),
                              direction=np.zeros(d))
    boxes = prepare_boxes(lo, hi, Xtr, np.ones(len(ytr)), 255)
    # Rebuild the GrownTree view of the one tree from its Ensemble arrays.
    from skadv._core.robust_split import GrownTree

    ens = clf.ensemble_
    keys = ens.threshold[0]
    feat = ens.feature[0]
    b = np.array([np.searchsorted(boxes.bins.thresholds[f], k) if f >= 0 else 0
                  for f, k in zip(feat, keys)])
    tree = GrownTree(feat, b, ens.left[0], ens.right[0], ens.value[0])
    assert np.array_equal(boxes.bins.thresholds[np.maximum(feat, 0), b][feat >= 0],
                          keys[feat >= 0])
    low, high = reach_extremes(tree, ens.value[0][:, 1], boxes.lo_idx, boxes.hi_idx)
    rng = np.random.default_rng(0)
    for _ in range(20):
        corner = np.where(rng.random(lo.shape) < 0.5, lo, hi)
        inside = lo + rng.random(lo.shape) * (hi - lo)
        for P in (corner, inside):
            v = ens.value[0][ens.apply(P)[:, 0], 1]
            assert np.all((low <= v) & (v <= high))
