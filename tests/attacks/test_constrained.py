"""Attacks under relational constraints, and the constrained adaptive attack.

Oracles: for a linear model with linear constraints the minimal L-inf
adversarial distance is a linear program (HiGHS): the constrained gradient
attacks reach within 2% of it and never below it. Every attack returns only
rows that satisfy every constraint, on random constraint systems
(hypothesis); the queries of black-box attacks already do. (That an
unconstrained attack's rows mostly break the lending study's constraints is
asserted by the study's test, tests/test_cli.py, and the README's example.)
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skadv import Differentiable
from registry import NAMES, make_attack
from skadv.attacks import (
    AutoPGDAttack,
    ConstrainedAdaptiveAttack,
    HopSkipJumpAttack,
    PGDAttack,
    SquareAttack,
)
from skadv.constraints import FeatureConstraints, budget_mask, perturbation_norm

RELATIONS = ["x0 <= x1", "x2 + x3 + x4 == 1", "x0 + x2 <= 1.6"]


@pytest.fixture(scope="module")
def shares():
    """x0 <= x1, shares x2..x4 summing to 1, x0 + x2 <= 1.6; a linear victim."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, size=(400, 5))
    X[:, 1] = X[:, 0] + rng.uniform(0, 1, 400)
    X[:, 2:5] /= X[:, 2:5].sum(axis=1, keepdims=True)
    fc = FeatureConstraints(lower=0, upper=2, relations=RELATIONS)
    X = X[fc.is_satisfied(X, X)]
    y = (X @ np.array([2, -1, 3, -2, 0.5]) + 0.2 * rng.normal(size=len(X)) > 0.4).astype(int)
    return X, y, fc, LogisticRegression(C=10).fit(X, y)


def lp_distance(clf, fc, x, label):
    """Minimal L-inf distance from x to the other class inside the constraints."""
    c = fc.resolve(len(x))
    G, b = c.relations.G, c.relations.b
    eq = np.asarray(c.relations.spec.row_equality)
    d = len(x)
    w, w0 = clf.coef_[0], clf.intercept_[0]
    sign = 1.0 if label == 1 else -1.0
    eye = np.eye(d)
    A_ub = np.vstack([np.r_[sign * w, 0.0], np.hstack([eye, -np.ones((d, 1))]),
                      np.hstack([-eye, -np.ones((d, 1))]),
                      np.hstack([G[~eq], np.zeros((int((~eq).sum()), 1))])])
    b_ub = np.r_[-sign * w0, x, -x, b[~eq]]
    res = linprog(np.r_[np.zeros(d), 1.0], A_ub=A_ub, b_ub=b_ub,
                  A_eq=np.hstack([G[eq], np.zeros((int(eq.sum()), 1))]), b_eq=b[eq],
                  bounds=[(0, 2)] * d + [(0, None)], method="highs")
    assert res.status == 0
    return res.fun


@pytest.fixture(scope="module")
def exact(shares):
    X, y, fc, clf = shares
    rows = X[:40]
    labels = clf.predict(rows)
    return rows, labels, np.array([lp_distance(clf, fc, x, l) for x, l in zip(rows, labels)])


@pytest.mark.parametrize("make", [
    lambda clf, fc, eps: PGDAttack(clf, eps=eps, steps=100, restarts=3, constraints=fc,
                                   random_state=0),
    lambda clf, fc, eps: AutoPGDAttack(clf, eps=eps, steps=50, constraints=fc,
                                       random_state=0),
], ids=["pgd", "apgd"])
def test_linear_relations_reach_the_lp_optimum_and_never_beat_it(shares, exact, make):
    X, _, fc, clf = shares
    rows, labels, dist = exact
    for factor, floor, ceiling in ((1.02, 0.99, 1.0), (0.99, 0.0, 0.0)):
        success = []
        for x, label, t in zip(rows, labels, dist):
            attack = make(clf, fc, factor * t).fit(X)
            x_adv = attack.transform(x[None], [label])
            assert fc.is_satisfied(x_adv, x[None]).all()
            assert perturbation_norm(x_adv - x, "inf")[0] <= factor * t * (1 + 1e-6)
            success.append(attack.success_[0])
        assert floor <= np.mean(success) <= ceiling, (factor, np.mean(success))


class _Sum(ClassifierMixin, BaseEstimator):
    """A fitted differentiable victim of any width: class 1 when sum(x) > 1."""

    classes_ = np.array([0, 1])

    def fit(self, X, y=None):
        return self

    def __sklearn_is_fitted__(self):
        return True

    def decision_function(self, X):
        return np.asarray(X, np.float64).sum(axis=1) - 1.0

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-4 * self.decision_function(X)))
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.decision_function(X) > 0).astype(int)

    def __skadv_differentiable__(self):
        return Differentiable(_sum_logits, {}, self.classes_, 0, estimator=self)


def _sum_logits(params, X):
    s = X.sum(axis=1) - 1.0
    return np.stack([-s, s], axis=1) if isinstance(X, np.ndarray) else __import__(
        "jax").numpy.stack([-s, s], axis=1)


@st.composite
def systems(draw):
    """Rows, random sparse linear relations they satisfy (some tight), a derived
    column, an integer column, a monotone column."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, d = 30, 6
    X = rng.uniform(0, 1, size=(n, d))
    X[:, 4] = np.round(4 * X[:, 4])
    X[:, 5] = X[:, 0] * X[:, 1]
    relations = {"derived": "x5 == x0 * x1"}
    # Two inequalities: one shape of the relations, compiled once for all examples.
    for i in range(2):
        cols = rng.choice(5, size=rng.integers(1, 4), replace=False)
        coef = rng.choice([-2.0, -1.0, 1.0, 2.0], size=len(cols))
        slack = 0.0 if rng.random() < 0.3 else rng.uniform(0, 0.5)
        terms = " + ".join(f"{float(c)!r} * x{j}" for c, j in zip(coef, cols))
        relations[f"r{i}"] = f"{terms} <= {float((X[:, cols] @ coef).max() + slack)!r}"
    return X, FeatureConstraints(lower=0, upper=[1, 1, 1, 1, 4, 1], integer=[4],
                                 increase_only=[draw(st.integers(0, 3))],
                                 relations=relations)


# Every attack of the registry but the wrappers of gradient attacks, whose
# victims must be randomised (tested in test_adaptive.py).
ATTACKS = {name: (lambda v, t, name=name: make_attack(name, v, t, eps=0.3, steps=10))
           for name in NAMES if name not in ("eot", "bpda")}


@settings(max_examples=5, deadline=None)
@given(systems())
def test_every_attack_returns_only_valid_rows(case):
    X, fc = case
    assert fc.is_satisfied(X, X).all()
    y = (X[:, :4].sum(axis=1) > 2).astype(int)
    if len(np.unique(y)) < 2:
        y[:2] = [0, 1]
    tree = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    for name, make in ATTACKS.items():
        attack = make(_Sum(), tree).set_params(constraints=fc)
        X_adv = attack.fit(X).transform(X)
        ok, why = fc.is_satisfied(X_adv, X, return_violations=True)
        assert ok.all(), (name, {k: int(v.sum()) for k, v in why.items() if v.any()})
        eps = getattr(attack, "eps", None)
        if eps is not None:
            counted = budget_mask(attack.constraints_)
            size = perturbation_norm((X_adv - X)[:, counted], attack.norm_)
            assert np.all(size <= eps * (1 + 1e-6)), name
        # unsuccessful rows come back unchanged
        np.testing.assert_array_equal(X_adv[~attack.success_], X[~attack.success_])


def test_queries_of_black_box_attacks_satisfy_the_relations(shares):
    X, y, fc, clf = shares
    seen = []

    class Spy(ClassifierMixin, BaseEstimator):
        classes_ = clf.classes_
        n_features_in_ = clf.n_features_in_

        def fit(self, Z, y=None):
            return self

        def __sklearn_is_fitted__(self):
            return True

        def predict(self, Z):
            seen.append(np.array(Z))
            return clf.predict(Z)

        def predict_proba(self, Z):
            seen.append(np.array(Z))
            return clf.predict_proba(Z)

    for attack in (SquareAttack(Spy(), eps=0.2, max_queries=50, constraints=fc,
                                random_state=0),
                   HopSkipJumpAttack(Spy(), max_queries=60, constraints=fc,
                                     random_state=0)):
        seen.clear()
        attack.fit(X).transform(X[:30])
        Q = np.vstack(seen)
        # every point asked about (the clean rows included) satisfies the relations
        assert fc.is_satisfied(Q).all(), type(attack).__name__


def test_gradients_flow_through_derived_features():
    # The victim reads only the derived column x2 = x0 * x1: moving x0 or x1
    # matters only through the formula.
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 1.0, size=(50, 3))
    X[:, 2] = X[:, 0] * X[:, 1]
    y = (X[:, 2] > np.median(X[:, 2])).astype(int)
    clf = LogisticRegression(C=100).fit(X[:, 2:] * [[1.0]], y)
    w = np.r_[0.0, 0.0, clf.coef_[0, 0]]
    linear = LogisticRegression().fit(X, y)
    linear.coef_, linear.intercept_ = w[None], clf.intercept_
    fc = FeatureConstraints(relations=["x2 == x0 * x1"])
    attack = PGDAttack(linear, eps=0.2, steps=30, constraints=fc, random_state=0)
    X_adv = attack.fit(X).transform(X)
    assert fc.is_satisfied(X_adv, X).all()
    assert attack.success_.mean() > 0.8
    # the derived column changed only through its inputs
    np.testing.assert_allclose(X_adv[:, 2], X_adv[:, 0] * X_adv[:, 1])


def test_caa_runs_the_search_only_on_what_the_gradient_missed(shares):
    X, y, fc, clf = shares
    attack = ConstrainedAdaptiveAttack(
        clf, eps=0.15, constraints=fc, random_state=0,
        # a deliberately weak gradient stage: one short step
        attacks=[("grad", PGDAttack(steps=1, step_size=0.03, random_start=False)),
                 ("search", SquareAttack(max_queries=200))])
    X_adv = attack.fit(X).transform(X[:120], y[:120])
    by = attack.succeeded_by_
    assert fc.is_satisfied(X_adv, X[:120]).all()
    assert set(by) <= {"", "grad", "search"} and (by == "search").any()
    assert ((by != "") == attack.success_).all()
    # The search never queried rows the gradient stage had turned.
    assert np.all(attack.n_queries_[by == "grad"] == 0)
    # The ensemble is at least as strong as each stage alone.
    for stage in (PGDAttack(steps=1, step_size=0.03, random_start=False),
                  SquareAttack(max_queries=200)):
        alone = stage.set_params(estimator=clf, eps=0.15, constraints=fc,
                                 random_state=0).fit(X)
        alone.transform(X[:120], y[:120])
        assert attack.success_.sum() >= alone.success_.sum()


def test_caa_defaults_and_bad_stages(shares):
    X, y, fc, clf = shares
    attack = ConstrainedAdaptiveAttack(clf, eps=0.1, constraints=fc).fit(X)
    assert [n for n, _ in attack.attacks_] == ["autopgd", "square"]
    forest = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    assert [n for n, _ in ConstrainedAdaptiveAttack(forest).fit(X).attacks_] == ["square"]
    with pytest.raises(TypeError, match="attacks must hold skadv attacks"):
        ConstrainedAdaptiveAttack(clf, attacks=[LogisticRegression()]).fit(X)
    with pytest.raises(ValueError, match="distinct names"):
        ConstrainedAdaptiveAttack(clf, attacks=[PGDAttack(), PGDAttack()]).fit(X)


def test_relations_on_a_dataframe_with_categories():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"used": rng.uniform(0, 5, 200), "colour": rng.choice(list("rgb"), 200)})
    df["limit"] = df["used"] + rng.uniform(0, 5, 200)
    y = (df["used"] - 0.5 * df["limit"] + (df["colour"] == "r") > 0.5).astype(int)
    model = make_pipeline(ColumnTransformer([("cat", OneHotEncoder(), ["colour"])],
                                            remainder="passthrough"),
                          RandomForestClassifier(n_estimators=10, random_state=0)).fit(df, y)
    fc = FeatureConstraints(lower=0, relations={"within limit": "used <= limit"})
    for attack in (SquareAttack(model, eps=1.0, max_queries=100, constraints=fc,
                                random_state=0),
                   ConstrainedAdaptiveAttack(model, eps=1.0, constraints=fc,
                                             attacks=[SquareAttack(max_queries=100)],
                                             random_state=0)):
        out = attack.fit(df).transform(df[:50], y[:50])
        assert isinstance(out, pd.DataFrame) and set(out["colour"]) <= set("rgb")
        assert (out["used"] <= out["limit"] + 1e-9).all() and attack.success_.any()
    with pytest.raises(ValueError, match="numeric columns; 'colour' is categorical"):
        SquareAttack(model, constraints=FeatureConstraints(
            relations=["colour <= limit"])).fit(df).transform(df[:5])


def test_infeasible_clean_rows_are_a_clear_error(shares):
    X, y, fc, clf = shares
    bad = X[:5].copy()
    bad[2, 0], bad[2, 1] = 0.5, 0.4
    attack = PGDAttack(clf, constraints=fc).fit(X)
    with pytest.raises(ValueError, match=r"1 row\(s\) of X break 'x0 <= x1' \(rows \[2\]\)"):
        attack.transform(bad)
