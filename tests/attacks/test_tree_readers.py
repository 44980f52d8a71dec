"""Tree readers of every library against that library's own predict.

Each library compares a feature with a threshold in its own way (XGBoost
``float32(x) < t``, LightGBM and HistGradientBoosting ``x <= t`` in double,
CatBoost right iff ``float32(x) > t``, scikit-learn ``float32(x) <= t``). The
tests put rows exactly on the library's raw thresholds -- read straight from
its own model, not through the readers -- and on their float32 and float64
neighbours, and demand the same prediction (and raw scores) as the library.
The brute-force oracle enumerates the same superset of boundary values per
feature, asks the library's ``predict`` about every point of the grid, and
keeps the nearest adversarial one: the exact attack must reproduce it.
"""

import ast
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_svmlight_file, make_classification
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from skadv._core.trees import _key
from skadv._core.tree_readers._boosting import _xgb_numbers
from skadv._core.tree_readers import check_rows, read_ensemble, xgboost_dump
from skadv.attacks import ExactTreeAttack, GreedyTreeAttack
from skadv.constraints import FeatureConstraints

ORD = {"inf": np.inf, 2: 2, 1: 1}
PEERS = Path("/work/shared/peer_trees")
LIBS = ["xgboost", "lightgbm", "catboost", "hist", "forest", "boosting"]


# --------------------------------------------------------------------------
# models, their raw thresholds and raw scores, straight from each library
def fit(lib, X, y, *, n=8, depth=3, bins=16, **kw):
    if lib == "xgboost":
        xgb = pytest.importorskip("xgboost")
        return xgb.XGBClassifier(n_estimators=n, max_depth=depth, max_bin=bins, n_jobs=1,
                                 random_state=0, **kw).fit(X, y)
    if lib == "lightgbm":
        lgb = pytest.importorskip("lightgbm")
        return lgb.LGBMClassifier(n_estimators=n, max_depth=depth, num_leaves=2 ** depth,
                                  max_bin=bins, min_child_samples=5, n_jobs=1, verbose=-1,
                                  random_state=0, **kw).fit(X, y)
    if lib == "catboost":
        cb = pytest.importorskip("catboost")
        return cb.CatBoostClassifier(iterations=n, depth=depth, border_count=bins,
                                     thread_count=1, verbose=0, random_seed=0,
                                     allow_writing_files=False, **kw).fit(X, y)
    if lib == "hist":
        return HistGradientBoostingClassifier(max_iter=n, max_depth=depth, max_bins=bins,
                                              random_state=0, **kw).fit(X, y)
    if lib == "forest":
        return RandomForestClassifier(n_estimators=n, max_depth=depth, random_state=0,
                                      **kw).fit(X, y)
    return GradientBoostingClassifier(n_estimators=n, max_depth=depth, random_state=0,
                                      **kw).fit(X, y)


def _lgb_splits(node, out):
    if "split_feature" in node:
        out.setdefault(node["split_feature"], []).append(node["threshold"])
        _lgb_splits(node["left_child"], out)
        _lgb_splits(node["right_child"], out)


def raw_thresholds(model):
    """``{feature: thresholds}`` as the library stores them."""
    out = {}
    name = type(model).__name__
    if name == "XGBClassifier":
        raw = json.loads(bytes(model.get_booster().save_raw(raw_format="json")))
        for t in raw["learner"]["gradient_booster"]["model"]["trees"]:
            inner = np.asarray(t["left_children"]) >= 0
            for f, c in zip(np.asarray(t["split_indices"])[inner],
                            np.asarray(t["split_conditions"])[inner]):
                out.setdefault(int(f), []).append(c)
    elif name == "LGBMClassifier":
        for info in model.booster_.dump_model()["tree_info"]:
            _lgb_splits(info["tree_structure"], out)
    elif name == "CatBoostClassifier":
        out = {int(f): b for f, b in model.get_borders().items() if len(b)}
    elif name == "HistGradientBoostingClassifier":
        cat = model.is_categorical_
        d = model.n_features_in_
        # Its predictors see the categorical columns first.
        order = np.arange(d) if cat is None else np.r_[np.flatnonzero(cat),
                                                        np.flatnonzero(~cat)]
        for it in model._predictors:
            for p in it:
                n = p.nodes
                n = n[~n["is_leaf"].astype(bool) & ~n["is_categorical"].astype(bool)]
                for f, t in zip(order[n["feature_idx"]], n["num_threshold"]):
                    out.setdefault(int(f), []).append(t)
    else:
        trees = np.ravel(model.estimators_) if hasattr(model, "estimators_") else [model]
        for est in trees:
            tr = est.tree_
            for f, t in zip(tr.feature[tr.feature >= 0], tr.threshold[tr.feature >= 0]):
                out.setdefault(int(f), []).append(t)
    return {f: np.asarray(t, np.float64) for f, t in out.items()}


def near(t, precision=None):
    """Every value that can sit just on either side of ``t``: its float64 and float32
    neighbours (only those of ``precision`` if given)."""
    t = np.asarray(t, np.float64)
    f = t.astype(np.float32)
    up, down = np.float32(np.inf), np.float32(-np.inf)
    c64 = np.r_[t, np.nextafter(t, -np.inf), np.nextafter(t, np.inf)]
    c32 = np.r_[f, np.nextafter(f, down), np.nextafter(f, up)].astype(np.float64)
    return np.unique({32: c32, 64: c64}.get(precision, np.r_[c32, c64]))


@pytest.fixture(autouse=True)
def _one_thread():
    """HistGradientBoosting's OpenMP predict costs milliseconds per call when the
    cores are shared; the attacks call it hundreds of times."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield


def raw_scores(model, X):
    """The library's raw scores: one column (class 1) for binary models."""
    name = type(model).__name__
    if name == "XGBClassifier":
        s = model.predict(X, output_margin=True)
    elif name == "LGBMClassifier":
        s = model.predict(X, raw_score=True)
    elif name == "CatBoostClassifier":
        s = model.predict(X, prediction_type="RawFormulaVal")
    elif name == "RandomForestClassifier":
        return model.predict_proba(X) * len(model.estimators_)
    else:
        s = model.decision_function(X)
    s = np.asarray(s, np.float64)
    return s.reshape(len(X), -1)


def predict(model, X):
    return np.asarray(model.predict(X)).reshape(len(X))


def _data(n_classes, d=5, n=300, seed=0):
    return make_classification(n_samples=n, n_features=d, n_informative=min(d, 4),
                               n_redundant=0, n_classes=n_classes, n_clusters_per_class=1,
                               random_state=seed)


def touching(model, X, rng, n=3000, missing=False):
    """Rows with most features on a threshold or one ulp (float32 or 64) off it."""
    thr = raw_thresholds(model)
    T = X[rng.randint(len(X), size=n)].copy()
    for j, t in thr.items():
        c = np.r_[near(t), 0.0]
        pick = rng.rand(n) < 0.7
        T[pick, j] = c[rng.randint(len(c), size=pick.sum())]
    if missing:
        T[rng.rand(n) < 0.15, 1] = np.nan
    return T


# --------------------------------------------------------------------------
# semantics
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("lib", LIBS)
def test_predict_on_thresholds_equals_library(lib, n_classes):
    X, y = _data(n_classes, seed=n_classes)
    missing = lib != "boosting"  # scikit-learn's GB rejects NaN
    if missing:
        X[::7, 1] = np.nan
    model = fit(lib, X, y)
    ens = read_ensemble(model)
    assert ens.precision == (64 if lib in ("lightgbm", "hist") else 32)
    rng = np.random.RandomState(0)
    T = np.vstack([touching(model, np.nan_to_num(X), rng, missing=missing), X])
    classes = np.asarray(model.classes_)
    np.testing.assert_array_equal(classes[ens.predict(T)], predict(model, T))
    s = ens.scores(T)
    lib_s = raw_scores(model, T)
    mine = s[:, 1:] - s[:, :1] if lib_s.shape[1] == 1 else s
    np.testing.assert_allclose(mine, lib_s, rtol=0, atol=1e-5)


def test_wrong_semantics_are_caught():
    """The threshold test sees a comparison that is one ulp off."""
    X, y = _data(2, seed=1)
    rng = np.random.RandomState(0)
    for lib in ("xgboost", "lightgbm"):
        model = fit(lib, X, y)
        ens = read_ensemble(model)
        T = touching(model, X, rng)
        shifted = ens._replace(threshold=tuple(
            _key(np.nextafter(t, np.inf), ens.precision) if ens.precision == 64
            else np.nextafter(t.astype(np.float32), np.float32(np.inf)).astype(np.float64)
            for t in ens.threshold))
        assert np.any(shifted.predict(T) != ens.predict(T))
        if ens.precision == 64:
            assert np.any(ens._replace(precision=32).predict(T) != ens.predict(T))


def test_lightgbm_zero_as_missing():
    X, y = _data(2, seed=4)
    rng = np.random.RandomState(1)
    X[rng.rand(*X.shape) < 0.25] = 0.0
    model = fit("lightgbm", X, y, zero_as_missing=True)
    ens = read_ensemble(model)
    T = touching(model, X, rng, missing=True)
    z = np.float32(1e-35).astype(np.float64)
    band = np.array([0.0, -0.0, z, -z, np.nextafter(z, 1), np.nextafter(-z, -1), 1e-36])
    T[:400, 2] = rng.choice(band, 400)
    np.testing.assert_array_equal(ens.predict(T), predict(model, T))


def test_catboost_missing_and_depthwise():
    X, y = _data(3, seed=5)
    X[::5, 0] = np.nan
    rng = np.random.RandomState(2)
    for kw in ({"nan_mode": "Max"}, {"grow_policy": "Depthwise"}):
        model = fit("catboost", X, y, **kw)
        T = touching(model, np.nan_to_num(X), rng, missing=True)
        T[::9, 0] = np.nan
        np.testing.assert_array_equal(read_ensemble(model).predict(T), predict(model, T))


def test_hist_gradient_boosting_categorical_splits():
    rng = np.random.RandomState(0)
    n = 500
    cat = rng.choice([0.0, 2.0, 3.5, 7.0, 11.0], size=n)
    X = np.column_stack([rng.normal(size=n), cat, rng.normal(size=n)])
    X[::9, 1] = np.nan
    y = ((X[:, 0] > 0) ^ np.isin(cat, [2.0, 7.0])).astype(int) + (X[:, 2] > 1)
    model = HistGradientBoostingClassifier(max_iter=10, max_depth=3, categorical_features=[1],
                                           random_state=0).fit(X, y)
    assert model.is_categorical_[1]
    ens = read_ensemble(model)
    T = touching(model, np.nan_to_num(X), rng)
    # Known categories, unknown values (between, outside, one ulp off), NaN.
    values = np.r_[np.nan, -1.0, 0.0, -0.0, 1.0, 2.0, 3.5, 7.0, 11.0, 12.0, 1e9,
                   np.nextafter(2.0, 3.0), np.nextafter(2.0, 1.0), np.nextafter(7.0, 0.0)]
    T[:, 1] = rng.choice(values, size=len(T))
    np.testing.assert_array_equal(ens.predict(T), predict(model, T))
    np.testing.assert_allclose(ens.scores(T), raw_scores(model, T), rtol=0, atol=1e-9)


def _zero_lightgbm(model):
    for i, info in enumerate(model.booster_.dump_model()["tree_info"]):
        for leaf in range(info["num_leaves"]):
            model.booster_.set_leaf_output(i, leaf, 0.0)


def _zero_hist(model):
    for it in model._predictors:
        for p in it:
            p.nodes["value"] = 0.0
    model._baseline_prediction = np.zeros_like(model._baseline_prediction)


def _zero_boosting(model):
    for reg in np.ravel(model.estimators_):
        reg.tree_.value[:] = 0.0


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("lib", ["xgboost", "lightgbm", "catboost", "hist", "boosting"])
def test_tie_rules(lib, n_classes):
    """Exactly tied scores: each library's own rule, which the Ensemble copies."""
    X, y = _data(n_classes, seed=6)
    if lib == "xgboost":
        model = fit(lib, X, y, learning_rate=0.0, base_score=0.5)
    else:
        model = fit(lib, X, y, **({"init": "zero"} if lib == "boosting" else {}))
    expected = 0
    if lib == "lightgbm":
        _zero_lightgbm(model)
    elif lib == "catboost":
        # classes 1 and 2 tie above class 0 in the multiclass case
        model.set_scale_and_bias(0.0, [0.0] if n_classes == 2 else [0.0, 1.0, 1.0])
        expected = 0 if n_classes == 2 else 1
    elif lib == "hist":
        _zero_hist(model)
    elif lib == "boosting":
        _zero_boosting(model)
        expected = 1 if n_classes == 2 else 0  # binary GB predicts raw >= 0
    ens = read_ensemble(model)
    np.testing.assert_array_equal(predict(model, X[:20]), expected)
    np.testing.assert_array_equal(ens.predict(X[:20]), expected)


# --------------------------------------------------------------------------
# XGBoost models and dumps, the published peer models included
def test_xgboost_booster_json_file_and_dump(tmp_path):
    X, y = _data(3, seed=7)
    model = fit("xgboost", X, y)
    booster = model.get_booster()
    path = tmp_path / "model.json"
    booster.save_model(path)
    dump = booster.get_dump(dump_format="json")
    base = _xgb_numbers(json.loads(bytes(booster.save_raw(raw_format="json")))[
        "learner"]["learner_model_param"]["base_score"])
    rng = np.random.RandomState(0)
    T = np.vstack([touching(model, X, rng), X])
    expected = predict(model, T)
    for source in (model, booster, str(path), path):
        np.testing.assert_array_equal(read_ensemble(source).predict(T), expected)
    from_dump = xgboost_dump(dump, n_classes=3, base_margin=base, objective="multi:softprob",
                             n_features=X.shape[1])
    np.testing.assert_array_equal(from_dump.predict(T), expected)
    np.testing.assert_allclose(from_dump.scores(T), raw_scores(model, T), atol=1e-5)


def test_xgboost_early_stopping_uses_best_iteration():
    xgb = pytest.importorskip("xgboost")
    X, y = _data(2, seed=8, n=400)
    model = xgb.XGBClassifier(n_estimators=60, max_depth=3, learning_rate=0.8,
                              early_stopping_rounds=2, n_jobs=1, random_state=0)
    model.fit(X[:200], y[:200], eval_set=[(X[200:], y[200:])], verbose=False)
    assert model.best_iteration + 1 < 60
    ens = read_ensemble(model)
    assert len(ens.feature) == model.best_iteration + 1
    T = touching(model, X, np.random.RandomState(0))
    np.testing.assert_array_equal(ens.predict(T), predict(model, T))


def _libsvm(path, n_features):
    X, y = load_svmlight_file(str(path), n_features=n_features, zero_based=True)
    return X.toarray(), y.astype(int)


@pytest.mark.skipif(not PEERS.exists(), reason="peer models not available")
@pytest.mark.parametrize("name, data, d", [
    ("treeVerification/breast_cancer_robust.0008",
     "treeVerification/example_breast_cancer0.libsvm", 11),
    ("tree-ensemble-attack/random_forest/models/diabetes_rf",
     "tree-ensemble-attack/data/diabetes_scale0.test", 9),
])
def test_peer_dumps_equal_xgboost(name, data, d):
    xgb = pytest.importorskip("xgboost")
    from_dump = read_ensemble(str(PEERS / f"{name}.json"))
    from_model = read_ensemble(str(PEERS / f"{name}.converted_xgb305.json"))
    # The same trees (the saved model also keeps deleted nodes: they are dropped).
    for a, b in zip(from_dump[:2], from_model[:2]):
        for ta, tb in zip(a, b):
            np.testing.assert_array_equal(np.sort(ta), np.sort(tb))
    booster = xgb.Booster(model_file=str(PEERS / f"{name}.converted_xgb305.json"))
    X, _ = _libsvm(PEERS / data, d)
    rng = np.random.RandomState(0)
    feat = np.concatenate(from_model.feature)
    T = X[rng.randint(len(X), size=2000)].copy()
    for j in np.unique(feat[feat >= 0]):
        splits = np.concatenate([np.asarray(t)[f == j] for f, t in zip(
            from_model.feature, from_model.threshold)])
        c = near(np.nextafter(splits.astype(np.float32), np.float32(np.inf)))
        pick = rng.rand(len(T)) < 0.7
        T[pick, j] = c[rng.randint(len(c), size=pick.sum())]
    T = np.vstack([T, X])
    expected = (booster.inplace_predict(T) > 0.5).astype(int)
    np.testing.assert_array_equal(from_dump.predict(T), expected)
    np.testing.assert_allclose(from_dump.scores(T)[:, 1],
                               booster.inplace_predict(T, predict_type="margin"), atol=1e-5)


# --------------------------------------------------------------------------
# attacks against brute force
def brute_force(model, X, norm, *, integer=(), lower=None, upper=None, immutable=(),
                values=None):
    """Exact minimal distance per row: the nearest adversarial point of the grid of
    threshold neighbours (by the library's own predict). The attacks return values
    of the precision the model compares in (float32 for a float32 model), so the
    grid holds those."""
    d = X.shape[1]
    thr = raw_thresholds(model)
    precision = 64 if type(model).__name__ in ("LGBMClassifier",
                                               "HistGradientBoostingClassifier") else 32
    lower = np.full(d, -np.inf) if lower is None else np.asarray(lower, float)
    upper = np.full(d, np.inf) if upper is None else np.asarray(upper, float)
    pred0 = predict(model, X)
    out = []
    for i, x in enumerate(X):
        axes = []
        for j in range(d):
            if j in immutable:
                c = [x[j]]
            elif values is not None and j in values:
                c = np.r_[values[j], x[j]]
            elif j in integer:
                t = np.floor(thr.get(j, []))
                c = np.r_[t, t + 1, x[j]]
            else:
                c = np.r_[near(thr.get(j, []), precision), x[j]]
            axes.append(np.unique(c))
        grid = np.array(list(itertools.product(*axes)))
        ok = np.all((grid >= lower) & (grid <= upper), axis=1)
        hit = ok & (predict(model, grid) != pred0[i])
        dist = np.linalg.norm(grid - x, ord=ORD[norm], axis=1)
        out.append(dist[hit].min() if hit.any() else np.inf)
    return np.array(out)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("lib", ["xgboost", "lightgbm", "catboost", "hist"])
def test_exact_equals_brute_force(lib, n_classes):
    X, y = _data(n_classes, d=3, seed=10 + n_classes)
    model = fit(lib, X, y, n=5, depth=3, bins=8)
    rows = X[:5]
    for norm in ("inf", 2, 1):
        atk = ExactTreeAttack(model, norm=norm).fit(X)
        X_adv = atk.transform(rows)
        expected = brute_force(model, rows, norm)
        assert np.all(np.isfinite(expected))
        np.testing.assert_allclose(atk.minimal_distance_, expected, rtol=0, atol=1e-9)
        assert atk.exact_.all() and atk.success_.all()
        assert np.all(predict(model, X_adv) != predict(model, rows))
        np.testing.assert_allclose(atk.perturbation_, atk.minimal_distance_, atol=1e-12)


@pytest.mark.parametrize("lib", LIBS)
def test_exact_with_constraints(lib):
    X, y = _data(2, d=3, seed=3)
    X[:, 2] = np.round(2 * X[:, 2])
    lower, upper = np.array([-2.0, -np.inf, -4.0]), np.array([2.0, np.inf, 4.0])
    X = np.clip(X, lower, upper)
    model = fit(lib, X, y, n=5, depth=3, bins=8)
    fc = FeatureConstraints(lower=lower, upper=upper, integer=[2], immutable=[1])
    rows = X[:6]
    for norm in ("inf", 2, 1):
        atk = ExactTreeAttack(model, norm=norm, constraints=fc).fit(X)
        X_adv = atk.transform(rows)
        expected = brute_force(model, rows, norm, integer=(2,), lower=lower, upper=upper,
                               immutable=(1,))
        np.testing.assert_allclose(atk.minimal_distance_, expected, rtol=0, atol=1e-9)
        assert fc.is_satisfied(X_adv, rows).all()
        found = np.isfinite(expected)
        assert np.array_equal(atk.success_, found)
        assert np.all(predict(model, X_adv[found]) != predict(model, rows[found]))


def test_exact_one_hot_group_xgboost():
    rng = np.random.RandomState(0)
    n = 300
    cat = rng.randint(0, 3, n)
    X = np.column_stack([rng.normal(size=n), np.eye(3)[cat]])
    y = ((X[:, 0] > 0.3 * cat - 0.3) ^ (cat == 1)).astype(int)
    model = fit("xgboost", X, y, n=6, depth=3)
    fc = FeatureConstraints(one_hot_groups=[[1, 2, 3]])
    rows = X[:8]
    atk = ExactTreeAttack(model, constraints=fc).fit(X)
    X_adv = atk.transform(rows)
    hot = np.eye(3)
    # The grid: the continuous feature's thresholds times the three categories.
    cont = np.r_[near(raw_thresholds(model).get(0, []), 32), 0.0]
    expected = []
    for x in rows:
        grid = np.array([np.r_[v, h] for v in np.r_[cont, x[0]] for h in hot])
        hit = predict(model, grid) != predict(model, x[None])[0]
        expected.append(np.abs(grid - x).max(axis=1)[hit].min())
    np.testing.assert_allclose(atk.minimal_distance_, expected, atol=1e-9)
    assert fc.is_satisfied(X_adv, rows).all()


def test_exact_hist_categorical_integer():
    rng = np.random.RandomState(3)
    n = 400
    cat = rng.randint(0, 6, n).astype(float)
    X = np.column_stack([rng.normal(size=n), cat])
    y = ((X[:, 0] > 0.4 * (cat - 2.5)) ^ np.isin(cat, [1, 4])).astype(int)
    model = HistGradientBoostingClassifier(max_iter=5, max_depth=3, categorical_features=[1],
                                           random_state=0).fit(X, y)
    fc = FeatureConstraints(lower=[-np.inf, 0], upper=[np.inf, 5], integer=[1])
    rows = X[:6]
    atk = ExactTreeAttack(model, constraints=fc).fit(X)
    X_adv = atk.transform(rows)
    expected = brute_force(model, rows, "inf", integer=(1,), lower=[-np.inf, 0],
                           upper=[np.inf, 5], values={1: np.arange(6.0)})
    np.testing.assert_allclose(atk.minimal_distance_, expected, atol=1e-9)
    assert np.all(predict(model, X_adv) != predict(model, rows))


@pytest.mark.parametrize("lib", ["xgboost", "lightgbm", "catboost", "hist"])
def test_greedy_never_beats_exact(lib):
    X, y = _data(3 if lib in ("xgboost", "hist") else 2, d=6, seed=21)
    model = fit(lib, X, y, n=10, depth=3)
    rows = X[:15]
    exact = ExactTreeAttack(model, feature_scale="std").fit(X)
    exact.transform(rows)
    greedy = GreedyTreeAttack(model, feature_scale="std", random_state=0).fit(X)
    X_adv = greedy.transform(rows)
    assert exact.success_.all() and greedy.success_.all()
    assert np.all(predict(model, X_adv) != predict(model, rows))
    assert np.all(greedy.perturbation_ >= exact.minimal_distance_ - 1e-12)
    assert np.mean(greedy.perturbation_ / exact.minimal_distance_) <= 1.5


@pytest.mark.parametrize("lib", LIBS)
def test_greedy_within_ten_percent_of_exact_linf(lib):
    # Issue 17's floor, on its kind of model (20 trees of depth 4): the mean
    # greedy L-inf distance within 1.10x of the exact radius, never below it.
    X, y = _data(2, d=8, seed=5)
    model = fit(lib, X, y, n=20, depth=4)
    rows = X[:12]
    exact = ExactTreeAttack(model, feature_scale="std").fit(X)
    exact.transform(rows)
    greedy = GreedyTreeAttack(model, feature_scale="std", random_state=0).fit(X)
    X_adv = greedy.transform(rows)
    assert exact.success_.all() and greedy.success_.all()
    assert np.all(predict(model, X_adv) != predict(model, rows))
    ratio = greedy.perturbation_ / exact.minimal_distance_
    assert np.all(ratio >= 1 - 1e-6)
    assert ratio.mean() <= 1.10


def test_float32_rows_on_a_double_model():
    X, y = _data(2, d=4, seed=9)
    X = X.astype(np.float32)
    model = fit("lightgbm", X, y, n=8, depth=3)
    rows = X[:8]
    atk = ExactTreeAttack(model).fit(X)
    X_adv = atk.transform(rows)
    assert X_adv.dtype == np.float32 and atk.success_.all()
    assert np.all(predict(model, X_adv) != predict(model, rows))
    np.testing.assert_allclose(atk.perturbation_, atk.minimal_distance_, atol=1e-12)


# --------------------------------------------------------------------------
# pipelines of scalers
@pytest.mark.parametrize("scaler, lib", [(StandardScaler, "xgboost"), (MinMaxScaler, "hist"),
                                         (RobustScaler, "forest")])
def test_pipeline_of_scalers(scaler, lib):
    X, y = _data(2, d=3, seed=12)
    X = X * [3.0, 0.01, 70.0] + [1.0, -5.0, 1e3]
    pipe = make_pipeline(scaler(), fit(lib, scaler().fit_transform(X), y, n=5, depth=3,
                                       bins=8))
    pipe.fit(X, y)
    trees = pipe[-1]
    ens = read_ensemble(pipe)
    assert ens.precision == 64
    # Thresholds mapped back to input units, and 4 float64 ulps either side.
    rng = np.random.RandomState(0)
    T = X[rng.randint(len(X), size=3000)].copy()
    for j, t in raw_thresholds(trees).items():
        Z = np.zeros((len(t), 3))
        Z[:, j] = t
        back = pipe[0].inverse_transform(Z)[:, j]
        c = np.concatenate([back + k * np.spacing(back) for k in range(-4, 5)])
        pick = rng.rand(len(T)) < 0.7
        T[pick, j] = c[rng.randint(len(c), size=pick.sum())]
    np.testing.assert_array_equal(ens.predict(T), predict(pipe, T))
    rows = X[:4]
    atk = ExactTreeAttack(pipe, feature_scale="std").fit(X)
    X_adv = atk.transform(rows)
    assert atk.success_.all()
    assert np.all(predict(pipe, X_adv) != predict(pipe, rows))


# --------------------------------------------------------------------------
# bad input
def test_unsupported_models_and_errors():
    X, y = _data(2, d=4)
    with pytest.raises(TypeError, match="HopSkipJumpAttack"):
        read_ensemble(LogisticRegression().fit(X, y))
    with pytest.raises(TypeError, match="several outputs"):
        read_ensemble(RandomForestClassifier(n_estimators=2).fit(X, np.column_stack([y, y])))
    with pytest.raises(TypeError, match="MinMaxScaler"):
        from sklearn.preprocessing import PolynomialFeatures

        read_ensemble(make_pipeline(PolynomialFeatures(), RandomForestClassifier(
            n_estimators=2)).fit(X, y))
    ens = read_ensemble(fit("boosting", X, y, n=3))
    with pytest.raises(ValueError, match="fitted on 4"):
        check_rows(ens, X[:, :3])
    with pytest.raises(ValueError, match="no missing-value direction"):
        check_rows(ens, np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="no missing-value direction"):
        ens.predict(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="neither an XGBoost"):
        read_ensemble(__file__)


def test_attack_errors():
    X, y = _data(2, d=4)
    gb = fit("boosting", X, y, n=3)
    X_nan = np.where(X > 2, np.nan, X)
    for Attack in (ExactTreeAttack, GreedyTreeAttack):
        with pytest.raises(ValueError, match="no missing-value direction"):
            Attack(gb).fit(X_nan)
        with pytest.raises(ValueError, match="4"):
            Attack(gb).fit(X[:, :3])
    hist = fit("hist", X, y, n=3)
    with pytest.raises(ValueError, match="perturb observed values only"):
        ExactTreeAttack(hist).fit(X).transform(X_nan)


def test_library_errors():
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    X, y = _data(2, d=4)
    with pytest.raises(TypeError, match="regressor"):
        read_ensemble(xgb.XGBRegressor(n_estimators=2).fit(X, y))
    with pytest.raises(ValueError, match="missing=np.nan"):
        read_ensemble(xgb.XGBClassifier(n_estimators=2, missing=0.0).fit(X, y))
    Xc = X.copy()
    Xc[:, 0] = np.abs(np.round(Xc[:, 0] * 3))
    cat = lgb.LGBMClassifier(n_estimators=3, verbose=-1, min_data_per_group=5,
                             cat_smooth=1).fit(Xc, y, categorical_feature=[0])
    if any(n.get("decision_type") == "==" for n in _nodes(cat)):
        with pytest.raises(TypeError, match="categorical splits"):
            read_ensemble(cat)


def _nodes(model):
    out = []

    def walk(node):
        out.append(node)
        for k in ("left_child", "right_child"):
            if k in node:
                walk(node[k])
    for info in model.booster_.dump_model()["tree_info"]:
        walk(info["tree_structure"])
    return out


# --------------------------------------------------------------------------
# imports
def test_readers_import_no_sklearn_nor_boosting_libraries():
    import skadv._core.tree_readers as readers
    import skadv._core.trees as trees

    # every file of the readers' package (split by library), and the core
    files = sorted(Path(readers.__file__).parent.glob("*.py")) + [Path(trees.__file__)]
    assert len(files) >= 5
    for path in files:
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        roots = {n.split(".")[0] for n in names}
        assert not roots & {"sklearn", "xgboost", "lightgbm", "catboost"}


def test_skadv_imports_no_boosting_library_unless_given_a_model():
    code = ("import sys; import skadv, skadv.attacks, skadv.verify; "
            "from sklearn.ensemble import RandomForestClassifier; "
            "from skadv._core.tree_readers import read_ensemble; import numpy as np; "
            "X = np.random.RandomState(0).normal(size=(40, 3)); "
            "read_ensemble(RandomForestClassifier(n_estimators=2).fit(X, X[:, 0] > 0)); "
            "print(sorted(m for m in ('xgboost', 'lightgbm', 'catboost') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------
# pipelines that one-hot encode
@pytest.mark.parametrize("lib", ["forest", "xgboost"])
def test_one_hot_column_transformer_pipeline(lib):
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.RandomState(0)
    n = 300
    cat = rng.randint(0, 3, n).astype(float)
    X = np.column_stack([rng.normal(size=n) * 5 + 2, cat, rng.normal(size=n)])
    y = ((X[:, 0] > 2 + 2 * (cat - 1)) ^ (cat == 1) ^ (X[:, 2] > 1)).astype(int)
    pre = ColumnTransformer([("cat", OneHotEncoder(), [1]), ("num", StandardScaler(), [0]),
                             ("rest", "passthrough", [2])])
    Z = pre.fit_transform(X)
    pipe = make_pipeline(pre, fit(lib, Z, y, n=4, depth=3, bins=8)).fit(X, y)
    rows = X[:5]
    atk = ExactTreeAttack(pipe).fit(X)
    X_adv = atk.transform(rows)
    # Attack columns: numeric 0, indicators of 0/1/2, numeric 2.
    assert atk.ensemble_.n_features == 5 and atk.constraints_.group.max() == 0
    assert np.all(np.isin(X_adv[:, 1], [0.0, 1.0, 2.0]))
    assert np.all(predict(pipe, X_adv[atk.success_]) != predict(pipe, rows[atk.success_]))
    # Brute force over raw rows: categories, and in input units (through the
    # scaler's inverse, 4 ulps either side) every value where a comparison in
    # float32 or float64 can flip: the thresholds' float32 neighbours and the
    # midpoints between them, where rounding to float32 changes.
    thr = raw_thresholds(pipe[-1])
    axes = {1: [0.0, 1.0, 2.0]}
    for out, j in ((3, 0), (4, 2)):
        t = thr.get(out, np.zeros(0))
        t32 = near(t, 32)
        t = np.unique(np.r_[near(t, 64), t32, 0.5 * (t32[1:] + t32[:-1])])
        if j == 0:
            t = pre.named_transformers_["num"].inverse_transform(t[:, None])[:, 0]
        axes[j] = np.unique(np.concatenate([t + k * np.spacing(t) for k in range(-3, 4)]))
    expected = []
    for x in rows:
        grid = np.array(list(itertools.product(*[np.r_[axes[j], x[j]] for j in range(3)])))
        hit = predict(pipe, grid) != predict(pipe, x[None])[0]
        cost = np.maximum(np.abs(grid[:, [0, 2]] - x[[0, 2]]).max(axis=1),
                          (grid[:, 1] != x[1]).astype(float))
        expected.append(cost[hit].min() if hit.any() else np.inf)
    np.testing.assert_allclose(atk.minimal_distance_, expected, rtol=0, atol=1e-9)
    greedy = GreedyTreeAttack(pipe, random_state=0).fit(X)
    greedy.transform(rows)
    assert np.all(greedy.perturbation_[greedy.success_]
                  >= atk.minimal_distance_[greedy.success_] - 1e-12)
