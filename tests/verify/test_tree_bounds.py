"""Certified radii of tree ensembles: the clique bound against the exact MILP.

The exact radius comes from :class:`~skadv.attacks.ExactTreeAttack` (itself
checked against brute force in ``tests/attacks/test_trees.py``); the bound
must never exceed it and must come close to it. Points sampled in the
certified balls must keep the model's own prediction. The published run of
Chen et al.'s ``treeVerification`` (``../shared/peer_trees``) is reproduced
when those files are present.
"""

import doctest
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_svmlight_file, make_classification
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.linear_model import LogisticRegression

import skadv._core.tree_bounds as tree_bounds
import skadv.verify.trees as verify_trees
from skadv._core.tree_readers import read_ensemble, xgboost_dump
from skadv._core.trees import Ensemble, split_keys
from skadv.attacks import ExactTreeAttack
from skadv.constraints import FeatureConstraints
from skadv.verify import tree_certified_radius

ORD = {"inf": np.inf, 2: 2, 1: 1}
PEER = Path(__file__).parents[3] / "shared" / "peer_trees" / "treeVerification"


def _model(kind, n_classes, seed=0, n_features=5):
    X, y = make_classification(n_samples=300, n_features=n_features, n_informative=4,
                               n_redundant=0, n_classes=n_classes, n_clusters_per_class=1,
                               random_state=seed)
    if kind == "gb":  # 20 trees in all: 20 stages binary, 7 stages x 3 classes
        clf = GradientBoostingClassifier(n_estimators=20 if n_classes == 2 else 7,
                                         max_depth=4, random_state=seed)
    else:
        clf = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=seed)
    return clf.fit(X, y), X


CASES = [("gb", 2), ("gb", 3), ("rf", 2), ("rf", 3)]


@pytest.fixture(scope="module")
def exact():
    """20-tree depth-4 models, 8 rows each, with their exact L-inf radii."""
    out = {}
    for kind, k in CASES:
        clf, X = _model(kind, k, seed=k)
        rows = X[:8]
        atk = ExactTreeAttack(clf).fit(X)
        X_adv = atk.transform(rows)
        out[kind, k] = clf, X, rows, atk.minimal_distance_, X_adv
    return out


def _sample_ball(rng, n, d, radius, norm):
    """Uniform points of the closed ball of ``radius`` (L-inf, L2 or L1)."""
    if norm == "inf":
        return rng.uniform(-1, 1, (n, d)) * radius
    u = rng.uniform(0, 1, n) ** (1 / d)
    if norm == 2:
        g = rng.standard_normal((n, d))
        return g / np.linalg.norm(g, axis=1, keepdims=True) * (u * radius)[:, None]
    e = rng.exponential(size=(n, d)) * rng.choice([-1, 1], (n, d))
    return e / np.abs(e).sum(axis=1, keepdims=True) * (u * radius)[:, None]


def _check_balls(clf, rows, radius, norm, seed=0, n=400):
    """Points inside and on the border of each certified ball keep the prediction."""
    rng = np.random.default_rng(seed)
    pred = clf.predict(rows)
    for x, r, p in zip(rows, radius, pred):
        r = min(r, 1e3)
        if r <= 0:
            continue
        delta = _sample_ball(rng, n, len(x), r, norm)
        if norm == "inf":  # the corners and the faces' points are on the border
            delta[: n // 4] = np.sign(delta[: n // 4]) * r
        pts = x + delta
        assert np.all(np.linalg.norm(pts - x, ord=ORD[norm], axis=1) <= r * (1 + 1e-12))
        assert np.all(clf.predict(pts) == p)


# ----------------------------------------------------------------------------
# (a), (b), (c): below the exact radius, close to it, unbroken
@pytest.mark.parametrize("case", CASES, ids=[f"{k}-{c}" for k, c in CASES])
def test_bound_below_exact_and_close(exact, case):
    clf, X, rows, dist, X_adv = exact[case]
    bound = tree_certified_radius(clf, rows)
    assert np.all(bound <= dist)
    # The attack's own points are adversarial and no nearer than the bound.
    moved = np.linalg.norm(X_adv - rows, ord=np.inf, axis=1)
    assert np.all(clf.predict(X_adv) != clf.predict(rows))
    assert np.all(moved >= bound)
    ok = dist > 0
    assert np.mean(bound[ok] / dist[ok]) >= 0.8
    _check_balls(clf, rows, bound, "inf")


def test_tightness_grows_with_levels(exact):
    clf, _, rows, dist, _ = exact["rf", 3]
    r0 = tree_certified_radius(clf, rows, max_level=0)
    r1 = tree_certified_radius(clf, rows, max_level=1)
    r_small = tree_certified_radius(clf, rows, max_cliques=4)
    r = tree_certified_radius(clf, rows)
    assert np.all(r0 <= r1) and np.all(r1 <= r) and np.all(r <= dist)
    assert np.all(r0 <= r_small) and np.all(r_small <= dist) and np.sum(r_small) > np.sum(r0)
    _check_balls(clf, rows, r_small, "inf")
    assert np.all(tree_certified_radius(clf, rows, max_clique=3, max_level=1) <= dist)


def test_exact_method_is_the_exact_radius(exact):
    clf, _, rows, dist, _ = exact["gb", 3]
    radius = tree_certified_radius(clf, rows[:5], method="exact")
    np.testing.assert_allclose(radius, dist[:5], rtol=0, atol=1e-9)


@pytest.mark.parametrize("norm", [2, 1])
def test_l2_l1_bound_below_exact(norm):
    clf, X = _model("rf", 2, seed=3, n_features=4)
    rows = X[:6]
    atk = ExactTreeAttack(clf, norm=norm).fit(X)
    atk.transform(rows)
    bound = tree_certified_radius(clf, rows, norm=norm)
    assert np.all(bound <= atk.minimal_distance_)
    assert np.mean(bound / atk.minimal_distance_) >= 0.8
    _check_balls(clf, rows, bound, norm)
    # A row whose cliques exceed max_cliques gets hulls of its lower-valued
    # nodes: still below the exact radius, and tighter than the per-tree
    # bound (before, such a row kept the previous level's bound).
    r0 = tree_certified_radius(clf, rows, norm=norm, max_level=0)
    for budget in (1, 4):
        small = tree_certified_radius(clf, rows, norm=norm, max_cliques=budget)
        assert np.all(small <= atk.minimal_distance_) and np.all(small >= r0)
        assert np.sum(small) > np.sum(r0)
        _check_balls(clf, rows, small, norm)


def test_a_hull_across_the_row_is_at_distance_zero():
    # Two boxes on either side of the row's own cell: each is some way off,
    # their hull holds the row. Its gap is measured, not the boxes' smallest.
    keys = np.array([[0.0, 1.0, 2.0]])
    ens = Ensemble([np.array([0, -1, -1])], [np.array([1.0, 0, 0])], [np.array([1, -1, -1])],
                   [np.array([2, -1, -1])], [np.array([[0, 0], [1, 0], [0, 1]], float)],
                   offset=np.zeros(2), tie_wins=np.array([[False, True], [False, False]]))
    bound = tree_bounds.CliqueBound(ens, keys, np.array([3]))
    rows = tree_bounds._Rows(bound, np.array([[1.5]]), np.full((1, 1), -np.inf),
                             np.full((1, 1), np.inf), np.ones(1), 1)
    lo, hi = np.array([[0], [3]], np.int16), np.array([[0], [3]], np.int16)
    nodes = tree_bounds._Nodes(np.zeros(2, np.intp), lo, hi, np.array([1.0, 0.5]),
                               rows.gaps(lo, hi, np.zeros(2, np.intp)))
    assert np.all(nodes.gap > 0.4)
    one = tree_bounds._coarsen(nodes, 1, np.array([1]), rows, np.zeros(1, np.intp))
    assert one.row.tolist() == [0] and one.val.tolist() == [1.0]
    assert one.lo.tolist() == [[0]] and one.hi.tolist() == [[3]] and one.gap.tolist() == [[0.0]]


def test_domain_bounds_and_feature_scale():
    clf, X = _model("gb", 2, seed=4, n_features=4)
    rows = X[:8]
    lower, upper = X.min(axis=0), X.max(axis=0)
    scale = X.std(axis=0)
    fc = FeatureConstraints(lower=lower, upper=upper)
    atk = ExactTreeAttack(clf, constraints=fc, feature_scale=scale).fit(X)
    atk.transform(rows)
    bound = tree_certified_radius(clf, rows, lower=lower, upper=upper, feature_scale=scale)
    free = tree_certified_radius(clf, rows, feature_scale=scale)
    assert np.all(bound <= atk.minimal_distance_) and np.all(free <= bound)
    ok = np.isfinite(atk.minimal_distance_)
    assert np.mean(bound[ok] / atk.minimal_distance_[ok]) >= 0.8
    exact_r = tree_certified_radius(clf, rows[:4], method="exact", lower=lower, upper=upper,
                                    feature_scale=scale)
    np.testing.assert_allclose(exact_r, atk.minimal_distance_[:4], rtol=0, atol=1e-9)
    # In scaled units the ball is a box of half-widths radius * scale.
    rng = np.random.default_rng(1)
    for x, r in zip(rows, np.minimum(bound, 1e3)):
        pts = np.clip(x + rng.uniform(-1, 1, (300, 4)) * r * scale, lower, upper)
        assert np.all(clf.predict(pts) == clf.predict(x[None]))
    # A domain that is one point certifies everything.
    assert np.all(np.isinf(tree_certified_radius(clf, rows, lower=rows, upper=rows)))


def test_eps_caps_the_radius(exact):
    clf, _, rows, dist, _ = exact["gb", 2]
    free = tree_certified_radius(clf, rows)
    eps = float(np.median(free))
    np.testing.assert_array_equal(tree_certified_radius(clf, rows, eps=eps),
                                  np.minimum(free, eps))
    capped = tree_certified_radius(clf, rows[:4], method="exact", eps=eps)
    np.testing.assert_allclose(capped, np.minimum(dist[:4], eps), rtol=0, atol=1e-9)


def test_time_limit_falls_back_to_the_bound(exact):
    clf, _, rows, _, _ = exact["rf", 3]
    with pytest.warns(RuntimeWarning, match="time_limit"):
        radius = tree_certified_radius(clf, rows[:3], method="exact", time_limit=1e-9)
    np.testing.assert_array_equal(radius, tree_certified_radius(clf, rows[:3]))


def _threshold_rows(ens, d, n, rng):
    """Rows whose coordinates sit on split keys or one step either side of them."""
    keys, n_keys = split_keys(ens, d, np.zeros(d, bool))
    cols = []
    for j in range(d):
        k = keys[j, : n_keys[j]]
        k32 = k.astype(np.float32)
        vals = np.concatenate([k, np.nextafter(k32, np.inf), np.nextafter(k32, -np.inf),
                               np.nextafter(k, np.inf), [0.0]])
        cols.append(rng.choice(vals, n))
    return np.stack(cols, axis=1).astype(np.float64)


def _leaf_boxes_route_like_apply(ens, P):
    keys, n_keys = split_keys(ens, P.shape[1], np.zeros(P.shape[1], bool))
    bound = tree_bounds.CliqueBound(ens, keys, n_keys)
    b, own = bound.boxes, bound.cells(P)
    inside = np.all((b.lo[None] <= own[:, None]) & (own[:, None] <= b.hi[None]), axis=2)
    leaves = ens.apply(P)
    for t in range(len(ens.feature)):
        mine = inside[:, b.tree == t]
        assert np.all(mine.sum(axis=1) == 1)   # exactly one leaf per tree
        assert np.array_equal(b.node[b.tree == t][mine.argmax(axis=1)], leaves[:, t])


def test_leaf_boxes_route_like_the_model_on_thresholds(exact):
    clf, X, _, _, _ = exact["rf", 3]
    ens = read_ensemble(clf)
    P = _threshold_rows(ens, X.shape[1], 600, np.random.default_rng(0))
    _leaf_boxes_route_like_apply(ens, P)
    np.testing.assert_array_equal(tree_certified_radius(ens, X[:5]),
                                  tree_certified_radius(clf, X[:5]))


def _library_models():
    X, y = make_classification(n_samples=300, n_features=4, n_informative=3, n_redundant=0,
                               n_classes=3, n_clusters_per_class=1, random_state=7)
    X = np.round(X, 2)  # values shared by rows and thresholds
    yield "hist", lambda: HistGradientBoostingClassifier(max_iter=4, max_depth=3,
                                                         random_state=0), X, y
    yield "xgboost", lambda: pytest.importorskip("xgboost").XGBClassifier(
        n_estimators=4, max_depth=3), X, y
    yield "lightgbm", lambda: pytest.importorskip("lightgbm").LGBMClassifier(
        n_estimators=4, max_depth=3, num_leaves=8, verbose=-1), X, y
    yield "catboost", lambda: pytest.importorskip("catboost").CatBoostClassifier(
        iterations=4, depth=3, verbose=False, allow_writing_files=False), X, y


@pytest.mark.parametrize("name", ["hist", "xgboost", "lightgbm", "catboost"])
def test_other_libraries_bound_below_exact(name):
    make, X, y = next((m, X, y) for n, m, X, y in _library_models() if n == name)
    clf = make().fit(X, y)
    ens = read_ensemble(clf)
    _leaf_boxes_route_like_apply(ens, _threshold_rows(ens, 4, 300, np.random.default_rng(1)))
    rows = X[:6]
    bound = tree_certified_radius(clf, rows)
    exact_r = tree_certified_radius(clf, rows, method="exact")
    assert np.all(bound <= exact_r)
    assert np.mean(bound / exact_r) >= 0.8
    _check_balls(clf, rows, bound, "inf", n=200)


def test_tied_scores_get_radius_zero():
    stump = (np.array([0, -1, -1]), np.array([0.5, 0, 0]), np.array([1, -1, -1]),
             np.array([2, -1, -1]))
    trees = [stump + (np.array([[0, 0], [1, 0], [0, 1]], float),),
             (np.array([0, -1, -1]), np.array([0.75, 0, 0])) + stump[2:]
             + (np.array([[0, 0], [1, 0], [0, 1]], float),)]
    ens = Ensemble(*map(tuple, zip(*trees)), offset=np.zeros(2),
                   tie_wins=np.array([[False, True], [False, False]]))
    X = np.array([[0.0], [0.6], [1.0]])
    for method in ("bound", "exact"):
        np.testing.assert_allclose(tree_certified_radius(ens, X, method=method),
                                   [0.5, 0.0, 0.25], atol=1e-6)


# ----------------------------------------------------------------------------
# (d): Chen et al.'s published run on their robust breast-cancer GBDT
def test_reproduces_chen_et_al_breast_cancer():
    model, data = PEER / "breast_cancer_robust.0008.json", PEER / "example_breast_cancer0.libsvm"
    if not (model.exists() and data.exists()):
        pytest.skip(f"the peer model is not in {PEER}")
    ens = xgboost_dump(model)       # binary:logistic, margin 0, float32(x) < split
    X, y = load_svmlight_file(str(data), n_features=11, zero_based=True)
    X = X.toarray()                 # features 1..10 as in the file; column 0 is unused
    pred = ens.predict(X)
    converted = PEER / "breast_cancer_robust.0008.converted_xgb305.json"
    try:
        import xgboost
    except ImportError:
        xgboost = None
    if xgboost is not None and converted.exists():
        margin = xgboost.Booster(model_file=str(converted)).predict(
            xgboost.DMatrix(X), output_margin=True)
        assert np.array_equal(pred, (margin > 0).astype(int))
    # The published run: max_clique 2, max_level 1; the bound of a row it gets
    # wrong is 0; its binary search stops at eps = 1.
    radius = tree_certified_radius(ens, X, max_clique=2, max_level=1)
    correct = pred == y
    average = np.where(correct, np.minimum(radius, 1.0), 0.0).mean()
    verified_error = 1 - np.mean(correct & (radius >= 0.3))
    assert average >= 0.39518
    assert verified_error <= 0.13
    capped = tree_certified_radius(ens, X, max_clique=2, max_level=1, eps=0.3)
    assert 1 - np.mean(correct & (capped >= 0.3)) == verified_error
    # and the exact radii of a few rows bound it from above
    some = np.arange(0, 100, 10)
    assert np.all(radius[some] <= tree_certified_radius(ens, X[some], method="exact"))


# ----------------------------------------------------------------------------
# errors, docs, layering
def test_errors(exact):
    clf, X, rows, _, _ = exact["gb", 2]
    with pytest.raises(ValueError, match="`norm`"):
        tree_certified_radius(clf, rows, norm=3)
    with pytest.raises(ValueError, match="`method`"):
        tree_certified_radius(clf, rows, method="milp")
    for eps in (-0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="`eps`"):
            tree_certified_radius(clf, rows, eps=eps)
    with pytest.raises(TypeError, match="`eps`"):
        tree_certified_radius(clf, rows, eps="0.1")
    for limit in (0, -1.0):
        with pytest.raises(ValueError, match="`time_limit`"):
            tree_certified_radius(clf, rows, method="exact", time_limit=limit)
    bad = rows.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        tree_certified_radius(clf, bad)
    with pytest.raises(ValueError, match="X has 4 features"):
        tree_certified_radius(clf, rows[:, :4])
    with pytest.raises(ValueError, match="X must be 2-D"):
        tree_certified_radius(clf, rows[0])
    with pytest.raises(ValueError, match="`feature_scale`"):
        tree_certified_radius(clf, rows, feature_scale=np.zeros(5))
    with pytest.raises(ValueError, match="`lower`"):
        tree_certified_radius(clf, rows, lower=np.zeros(3))
    with pytest.raises(ValueError, match="outside"):
        tree_certified_radius(clf, rows, upper=rows.min())
    with pytest.raises(ValueError, match="`max_clique`"):
        tree_certified_radius(clf, rows, max_clique=1)
    with pytest.raises(TypeError, match="not a supported tree ensemble"):
        tree_certified_radius(LogisticRegression().fit(X, clf.predict(X)), rows)


def test_docstring_examples_run():
    for module in (tree_bounds, verify_trees):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted > 0


def test_core_imports_no_sklearn():
    assert "sklearn" not in Path(tree_bounds.__file__).read_text()


def test_exact_radius_stops_at_exact_ties_of_a_forest():
    # A forest's averaged votes can tie exactly (0.5/0.5). The certificate
    # counts a tie as a change (the model's float sums could break it either
    # way), so its "exact" radius is the distance to the nearest tie: never
    # above the exact attack's distance, equal to it where no tie is nearer,
    # and where it is smaller the point at that distance is a true tie.
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import MinMaxScaler

    from skadv._core.tree_bounds import CliqueBound
    from skadv._core.tree_readers import read_ensemble
    from skadv._core.trees import TreeMILP, split_keys

    X, y = load_breast_cancer(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    X, y, rows = X[::2], y[::2], X[1::2][:16]
    rf = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    atk = ExactTreeAttack(rf, norm=2).fit(X)
    X_adv = atk.transform(rows)
    assert np.all(rf.predict(X_adv) != rf.predict(rows))
    radius = tree_certified_radius(rf, rows, norm=2, method="exact")
    assert np.all(radius <= atk.minimal_distance_ * (1 + 1e-9))
    below = np.flatnonzero(radius < atk.minimal_distance_ * (1 - 1e-6))
    assert 0 < below.size < len(rows)  # this forest has such rows (11 and 14)
    ens = read_ensemble(rf)
    d = X.shape[1]
    keys, n_keys = split_keys(ens, d, np.zeros(d, bool))
    tol = CliqueBound(ens, keys, n_keys).tol
    for i in below:
        yi = int(ens.predict(rows[i:i + 1])[0])
        shift = tol * (np.arange(len(ens.offset)) != yi)
        milp = TreeMILP(ens._replace(offset=np.asarray(ens.offset, np.float64) + shift),
                        keys, n_keys, np.zeros(d, bool))
        x, dist, _ = milp.solve(rows[i], yi, norm=2, scale=np.ones(d), lower=np.full(d, -np.inf),
                                upper=np.full(d, np.inf), mutable=np.ones(d, bool), strict=0.0)
        assert dist == pytest.approx(radius[i], rel=1e-9)
        proba = rf.predict_proba(x[None])[0]
        assert abs(proba[0] - proba[1]) <= 2 * tol  # a tie, not a flip
        assert rf.predict(x[None])[0] == rf.predict(rows[i:i + 1])[0]
