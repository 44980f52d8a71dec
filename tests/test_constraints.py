"""FeatureConstraints: property tests for the projection and the final repair."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skadv.constraints import (
    FeatureConstraints,
    budget_mask,
    perturbation_norm,
    project_polytope,
    project_relaxed,
)

SETTINGS = settings(max_examples=60, deadline=None)
finite = st.floats(-10, 10, width=32, allow_subnormal=False)
unit = st.floats(0, 1, allow_subnormal=False)


@st.composite
def boxes(draw):
    """(constraints, arrays, clean rows inside them, candidate rows).

    Fixed shapes: the projection runs in JAX, which compiles per shape.
    """
    n, d = 4, 5
    lo = draw(arrays(np.float64, d, elements=finite))
    width = draw(arrays(np.float64, d, elements=st.floats(0, 5, width=32,
                                                           allow_subnormal=False)))
    unbounded = draw(arrays(bool, d))
    lower = np.where(unbounded, np.nan, lo)
    upper = np.where(unbounded, np.nan, lo + width)
    immutable = draw(arrays(bool, d))
    fc = FeatureConstraints(lower=lower, upper=upper, immutable=immutable)
    c = fc.resolve(d)
    u = draw(arrays(np.float64, (n, d), elements=unit))
    X = np.where(unbounded, 4 * u - 2, lo + u * width)
    V = draw(arrays(np.float64, (n, d), elements=finite))
    return fc, c, X, V


@SETTINGS
@given(boxes())
def test_projection_is_feasible_idempotent_and_nearest(case):
    fc, c, X, V = case
    P = np.asarray(project_relaxed(c, V, X), np.float64)
    tol = 1e-5 * (1 + np.abs(P))
    assert np.all((P >= c.lower - tol) & (P <= c.upper + tol))
    # (float32, which flushes subnormal values to zero)
    np.testing.assert_allclose(P[:, ~c.mutable], X[:, ~c.mutable].astype(np.float32),
                               rtol=0, atol=1e-37)
    again = np.asarray(project_relaxed(c, P, X), np.float64)
    np.testing.assert_allclose(again, P, rtol=1e-6, atol=1e-6)
    # Nearest point of a convex set: (v - p).(q - p) <= 0 for every feasible q;
    # the clean rows and the box corners are feasible points to test with.
    lo, hi = np.where(np.isfinite(c.lower), c.lower, X), np.where(np.isfinite(c.upper), c.upper, X)
    for Q in (X, np.where(c.mutable, lo, X), np.where(c.mutable, hi, X)):
        inner = np.sum((V - P) * (Q - P), axis=1)
        assert np.all(inner <= 1e-3 * (1 + np.abs(V).sum(axis=1)))
    np.testing.assert_allclose(fc.project(V, X), P, rtol=1e-6, atol=1e-6)


@st.composite
def mixed(draw):
    """Rows with a bounded column, a free column, an integer and a one-hot group."""
    n = draw(st.integers(1, 5))
    cont = draw(arrays(np.float64, (n, 1), elements=st.floats(-1, 1, allow_subnormal=False)))
    free = draw(arrays(np.float64, (n, 1), elements=finite))
    count = draw(arrays(np.int64, (n, 1), elements=st.integers(0, 4))).astype(float)
    colour = np.eye(3)[draw(arrays(np.int64, n, elements=st.integers(0, 2)))]
    X = np.hstack([cont, free, count, colour])
    noise = draw(arrays(np.float64, X.shape, elements=st.floats(-3, 3, allow_subnormal=False)))
    immutable = draw(st.lists(st.integers(0, 5), max_size=2, unique=True))
    fc = FeatureConstraints(lower=[-1, np.nan, 0, 0, 0, 0], upper=[1, np.nan, 4, 1, 1, 1],
                            integer=[2], one_hot_groups=[[3, 4, 5]],
                            immutable=[i for i in immutable if i < 3])
    norm = draw(st.sampled_from(["inf", 2, 1]))
    eps = draw(st.one_of(st.none(), st.floats(0, 3)))
    scale = draw(arrays(np.float64, 6, elements=st.floats(0.5, 2)))
    return fc, X, X + noise, norm, eps, scale


@SETTINGS
@given(mixed())
def test_repair_satisfies_everything_and_is_idempotent(case):
    fc, X, Z, norm, eps, scale = case
    R = fc.repair(Z, X, eps=eps, norm=norm, scale=scale)
    assert fc.is_satisfied(R, X).all()
    if eps is not None:
        size = perturbation_norm((R - X) / scale, norm)
        assert np.all(size <= eps * (1 + 1e-9) + 1e-12)
    np.testing.assert_allclose(fc.repair(R, X, eps=eps, norm=norm, scale=scale), R,
                               atol=1e-12)
    # Rows that were already valid come back unchanged.
    np.testing.assert_array_equal(fc.repair(X, X, eps=eps, norm=norm, scale=scale), X)


@SETTINGS
@given(boxes())
def test_repair_of_a_box_is_the_projection(case):
    fc, c, X, V = case
    np.testing.assert_allclose(fc.repair(V, X), np.asarray(project_relaxed(c, V, X)),
                               rtol=1e-6, atol=1e-5)


def test_from_data_infers_bounds_integers_and_names():
    df = pd.DataFrame({"age": [30.0, 40, 50], "income": [1.5, 2.5, 0.5],
                       "kids": [0.0, 2, 1], "is_a": [1.0, 0, 0], "is_b": [0.0, 1, 1]})
    fc = FeatureConstraints.from_data(df, immutable=["age"],
                                      one_hot_groups=[["is_a", "is_b"]])
    c = fc.resolve(5)
    np.testing.assert_array_equal(c.lower, [30, 0.5, 0, 0, 0])
    np.testing.assert_array_equal(c.upper, [50, 2.5, 2, 1, 1])
    np.testing.assert_array_equal(c.integer, [True, False, True, False, False])
    np.testing.assert_array_equal(c.mutable, [False, True, True, True, True])
    np.testing.assert_array_equal(c.group, [-1, -1, -1, 0, 0])
    assert fc.is_satisfied(df, df).all()
    bad = df.copy()
    bad.loc[0, "kids"] = 1.5
    bad.loc[1, "is_b"] = 0.0
    v = fc.violations(bad, df)
    assert v["integer"].tolist() == [True, False, False]
    assert v["one_hot"].tolist() == [False, True, False]


@pytest.mark.parametrize("kwargs, match", [
    ({"immutable": ["height"]}, "Unknown feature name 'height'"),
    ({"lower": [0, 1], "upper": [1, 0]}, r"lower > upper for features \[1\]"),
    ({"lower": [0, 1, 2]}, r"shape \(2,\)"),
    ({"one_hot_groups": [["a"]]}, "at least two columns"),
    ({"one_hot_groups": [["a", "b"], ["b", "a"]]}, "overlaps"),
    ({"integer": [5]}, "out of range"),
])
def test_bad_specifications_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureConstraints(feature_names=["a", "b"], **kwargs).resolve(2)


def test_names_need_column_names():
    with pytest.raises(ValueError, match="given by name"):
        FeatureConstraints(immutable=["age"]).resolve(3)


# -- relations between features -------------------------------------------------
@st.composite
def relational(draw):
    """A random relational system the clean rows satisfy, and candidate rows.

    Columns: x0..x2 continuous in [0, 10], x3 = x0 * x1 / 10 (derived), x4
    integer in [0, 10], x5 + x6 == total (an equality), x7 increase-only.
    Random sparse inequalities over x0, x1, x2, x4, x7 are made to hold on
    the clean rows (some tight).
    """
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n, d = draw(st.integers(1, 6)), 8
    X = rng.uniform(0, 10, size=(n, d))
    X[:, 4] = np.round(X[:, 4])
    X[:, 3] = X[:, 0] * X[:, 1] / 10
    total = draw(st.floats(8, 12))
    X[:, 5] = rng.uniform(0, total, size=n)
    X[:, 6] = total - X[:, 5]
    names = [f"x{j}" for j in range(d)]
    relations = {"derived": "x3 == x0 * x1 / 10", "equality": f"x5 + x6 == {total!r}"}
    for i in range(draw(st.integers(0, 4))):
        cols = rng.choice([0, 1, 2, 4, 7], size=rng.integers(1, 4), replace=False)
        coef = rng.choice([-3, -2, -1, 1, 2, 3], size=len(cols)).astype(float)
        lhs = X[:, cols] @ coef
        slack = 0.0 if rng.random() < 0.3 else rng.uniform(0, 5)
        terms = " + ".join(f"{float(c)!r} * {names[j]}" for c, j in zip(coef, cols))
        relations[f"r{i}"] = f"{terms} <= {float(lhs.max() + slack)!r}"
    fc = FeatureConstraints(lower=[0, 0, 0, 0, 0, 0, 0, 0],
                            upper=[10, 10, 10, np.nan, 10, 12, 12, np.nan], integer=[4],
                            increase_only=[7], relations=relations)
    noise = rng.normal(0, draw(st.sampled_from([0.1, 1.0, 5.0])), size=X.shape)
    norm = draw(st.sampled_from(["inf", 2]))
    eps = draw(st.one_of(st.none(), st.floats(0.05, 3)))
    scale = rng.uniform(0.5, 2, size=d)
    return fc, X, X + noise, norm, eps, scale


@settings(max_examples=80, deadline=None)
@given(relational())
def test_repair_satisfies_random_relations_and_the_budget(case):
    fc, X, Z, norm, eps, scale = case
    assert fc.is_satisfied(X, X).all()
    c = fc.resolve(X.shape[1])
    R = fc.repair(Z, X, eps=eps, norm=norm, scale=scale)
    ok, why = fc.is_satisfied(R, X, return_violations=True)
    assert ok.all(), {k: v.sum() for k, v in why.items() if v.any()}
    if eps is not None:
        counted = budget_mask(c)
        assert not counted[3]  # the derived column follows its inputs
        size = perturbation_norm(((R - X) / scale)[:, counted], norm)
        assert np.all(size <= eps * (1 + 1e-9) + 1e-12)
    np.testing.assert_allclose(fc.repair(R, X, eps=eps, norm=norm, scale=scale), R,
                               atol=1e-9)
    np.testing.assert_array_equal(fc.repair(X, X, eps=eps, norm=norm, scale=scale), X)


def test_projection_onto_a_polytope_is_the_nearest_point():
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    converged = 0
    for _ in range(150):
        d, k = int(rng.integers(2, 8)), int(rng.integers(1, 5))
        G = rng.normal(size=(k, d)) * (rng.random((k, d)) < 0.6)
        G[np.all(G == 0, axis=1), 0] = 1.0
        x0 = rng.normal(size=d)
        eq = rng.random(k) < 0.25
        b = G @ x0 + np.where(eq, 0.0, rng.uniform(0, 0.5, k))
        lo, hi = x0 - rng.uniform(0.1, 2, d), x0 + rng.uniform(0.1, 2, d)
        z, w = x0 + 2 * rng.normal(size=(1, d)), rng.uniform(0.5, 2, d)
        x, done = project_polytope(z, lo, hi, G, b, w, equality=eq)
        if not done[0]:
            continue
        converged += 1
        g = G @ x[0] - b
        assert np.all(g[~eq] <= 0) and np.allclose(g[eq], 0, atol=1e-8)
        assert np.all((x[0] >= lo) & (x[0] <= hi))
        cons = [{"type": "ineq", "fun": lambda v: (b - G @ v)[~eq]}]
        if eq.any():
            cons.append({"type": "eq", "fun": lambda v: (b - G @ v)[eq]})
        ref = minimize(lambda v: 0.5 * np.sum(w * (v - z[0]) ** 2), x0, method="SLSQP",
                       bounds=list(zip(lo, hi)), constraints=cons,
                       options={"ftol": 1e-14, "maxiter": 1000})
        value = 0.5 * np.sum(w * (x[0] - z[0]) ** 2)
        assert value <= ref.fun * (1 + 1e-6) + 1e-9
    # Degenerate vertices can defeat Newton: those rows go to the exact MILP.
    assert converged >= 0.9 * 150


def test_relations_resolve_to_rows_and_derived_features():
    fc = FeatureConstraints(relations={"order": "a <= 2 * b + 1", "at least": "c >= a",
                                       "sum": "a + b + c == 3", "ratio": "r == a / b"},
                            feature_names=["a", "b", "c", "r"])
    rel = fc.resolve(4).relations
    np.testing.assert_allclose(rel.G, [[1, -2, 0, 0], [1, 0, -1, 0], [1, 1, 1, 0]])
    np.testing.assert_allclose(rel.b, [1, 0, 3])
    assert rel.spec.row_names == ("order", "at least", "sum")
    assert rel.spec.row_equality == (False, False, True)
    assert [t for t, _ in rel.spec.derived] == [3] and rel.spec.derived_names == ("ratio",)
    X = np.array([[1.0, 1.0, 1.0, 1.0], [2.0, 0.2, 0.8, 10.0]])
    v = fc.violations(X, X)
    assert v["order"].tolist() == [False, True] and v["sum"].tolist() == [False, False]
    assert v["ratio"].tolist() == [False, False] and v["at least"].tolist() == [False, True]
    # A non-finite derived value breaks its relation.
    assert fc.violations(np.array([[1.0, 0.0, 2.0, 1.0]]))["ratio"].tolist() == [True]


def test_monotone_features_are_per_row_bounds():
    fc = FeatureConstraints(increase_only=[0], decrease_only=[1])
    X = np.array([[1.0, 1.0, 1.0]])
    R = fc.repair(np.array([[0.0, 2.0, 5.0]]), X)
    np.testing.assert_array_equal(R, [[1.0, 1.0, 5.0]])
    v = fc.violations(np.array([[0.5, 1.5, 0.0]]), X)
    assert v["increase_only"].tolist() == [True] and v["decrease_only"].tolist() == [True]


def test_from_arrays_keeps_relations_and_directions():
    fc = FeatureConstraints(lower=0, increase_only=["a"], relations=["a <= b", "c == a * b"],
                            feature_names=["a", "b", "c"])
    c = fc.resolve(3)
    again = FeatureConstraints.from_arrays(c).resolve(3)
    np.testing.assert_array_equal(again.direction, c.direction)
    np.testing.assert_array_equal(again.relations.G, c.relations.G)
    assert again.relations.spec == c.relations.spec
    assert again.relations.spec.relations == c.relations.spec.relations


@pytest.mark.parametrize("kwargs, match", [
    ({"relations": ["a * b <= 1"]}, r"Relation 'a \* b <= 1' .* is not linear"),
    ({"relations": ["a <= height"]}, "Relation 'a <= height'.*unknown column 'height'"),
    ({"relations": ["a <= b <= c"]}, "one comparison per relation"),
    ({"relations": ["a - a <= 1"]}, "involves no feature"),
    ({"relations": ["c == a / b"], "immutable": ["c"]}, "derived feature 'c'.*immutable"),
    ({"relations": ["c == a / b", "c == a * b"]}, "already derived"),
    ({"relations": ["c == b / a", "b == a * 2 + a * a"]}, "later relation"),
    ({"increase_only": ["a"], "decrease_only": ["a"]}, "both increase_only and decrease_only"),
])
def test_bad_relations_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeatureConstraints(feature_names=["a", "b", "c"], **kwargs).resolve(3)


def test_default_names_and_infeasible_clean_rows():
    fc = FeatureConstraints(relations={"order": "x0 <= x1"})
    assert fc.resolve(2).relations.G.tolist() == [[1.0, -1.0]]
    with pytest.raises(ValueError, match="given by name"):
        FeatureConstraints(relations=["age <= 3"]).resolve(2)
    X = np.array([[0.0, 1.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match=r"infeasible for the clean rows: 1 row\(s\) of X "
                                         r"break 'order' \(rows \[1\]\)"):
        fc.check_clean(X)


def test_discrete_features_in_relations_get_a_valid_point():
    # open <= total, both integer; the one-hot group pays for a relation too.
    fc = FeatureConstraints(lower=0, integer=[0, 1], one_hot_groups=[[2, 3]],
                            relations=["x0 <= x1", "x0 + 5 * x3 <= 6"])
    X = np.array([[2.0, 3.0, 1.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    Z = np.array([[4.4, 2.2, 0.2, 0.8], [3.0, 0.0, 0.0, 1.0]])
    R = fc.repair(Z, X)
    assert fc.is_satisfied(R, X).all()
    np.testing.assert_array_equal(R, np.round(R))
    assert R[0, 0] <= R[0, 1]
