"""FeatureConstraints: property tests for the projection and the final repair."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from skadv.constraints import FeatureConstraints, perturbation_norm, project_relaxed

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
