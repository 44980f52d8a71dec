"""Column kinds and constraints inferred from the user's table."""

import numpy as np
import pytest

from skadv._study._data import StudyInputError, infer_kinds, load_table

from .conftest import make_loans

pd = pytest.importorskip("pandas")


def test_kinds_are_read_off_the_data():
    frame = make_loans().drop(columns="approved")
    frame["grade"] = pd.Categorical(np.where(frame.age > 40, "A", "B"))
    frame["flag"] = frame.has_car.astype(bool)
    frame["whole_float"] = frame.n_accounts.astype(float)
    kinds = infer_kinds(frame)
    assert kinds == {"age": "integer", "income": "float", "debt": "float",
                     "n_accounts": "integer", "has_car": "binary",
                     "purpose": "categorical", "region": "categorical",
                     "currency": "constant", "grade": "categorical", "flag": "binary",
                     "whole_float": "integer"}


def test_inferred_constraints_hold_the_data_and_catch_invalid_rows():
    frame = make_loans()
    table = load_table(frame, "approved", constraints={"immutable": ["age"],
                                                       "increase_only": ["income"]})
    X = table.frame
    numeric = [c for c in X.columns if X[c].dtype.kind in "biuf"]
    fc = table.constraints
    arrays = fc.resolve(X.shape[1], list(X.columns))
    j = {c: i for i, c in enumerate(X.columns)}
    assert arrays.integer[j["n_accounts"]] and not arrays.integer[j["income"]]
    assert not arrays.mutable[j["age"]] and not arrays.mutable[j["currency"]]
    assert arrays.direction[j["income"]] == 1
    assert arrays.lower[j["debt"]] == X.debt.min() and arrays.upper[j["debt"]] == X.debt.max()
    from skadv.constraints import FeatureConstraints

    sub = FeatureConstraints.from_arrays(arrays)
    Z = X.copy()
    Z[[c for c in X.columns if c not in numeric]] = 0.0
    Z = Z.to_numpy(float)
    assert sub.is_satisfied(Z, Z).all()
    bad = Z.copy()
    bad[:, j["n_accounts"]] += 0.5
    assert not sub.is_satisfied(bad, Z).any()
    # A whole-number float column comes back as integers.
    frame["n_accounts"] = frame.n_accounts.astype(float)
    assert load_table(frame, "approved").frame.n_accounts.dtype.kind == "i"


def test_bounds_that_exclude_the_data_are_refused():
    with pytest.raises(StudyInputError, match="excludes values of the data"):
        load_table(make_loans(), "approved", constraints={"bounds": {"income": [0, 1000]}})
