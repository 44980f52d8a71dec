"""Bundled studies: valid under their own constraints, learnable, offline."""

import numpy as np
import pytest

from skadv.datasets import STUDIES, load_study


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_study_is_consistent(name):
    study = load_study(name)
    X, y = study.data, study.target
    assert X.shape == (len(y), len(study.feature_names))
    assert np.all(np.isfinite(X))
    # The clean data satisfy the constraints the attacker must respect.
    assert study.constraints.is_satisfied(X, X).all()
    assert np.all(np.diff(study.eps) > 0) and study.eps[0] > 0
    assert len(np.unique(y)) == len(study.target_names)


def test_credit_study_has_every_kind_of_constraint():
    study = load_study("credit")
    c = study.constraints.resolve(study.data.shape[1], study.feature_names)
    assert (~c.mutable).sum() == 2 and c.integer.sum() == 7 and (c.group >= 0).sum() == 3
    # one-hot housing: exactly one category per row
    onehot = study.data[:, c.group >= 0]
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)


def test_as_frame_and_unknown_name():
    study = load_study("wine", as_frame=True)
    assert list(study.data.columns) == list(study.feature_names)
    with pytest.raises(ValueError, match="Unknown study 'adult'"):
        load_study("adult")


def test_lending_study_has_relations_of_both_kinds():
    study = load_study("lending")
    X = study.data
    c = study.constraints.resolve(X.shape[1], study.feature_names)
    spec = c.relations.spec
    assert len(spec.row_names) == 5 and spec.row_equality.count(True) == 1
    assert len(spec.derived) == 3 and c.direction.sum() == 1
    names = list(study.feature_names)
    # The derived columns follow their formulas exactly on the clean data.
    util = X[:, names.index("credit_used")] / X[:, names.index("credit_limit")]
    np.testing.assert_allclose(X[:, names.index("utilisation")], util)
    v = study.constraints.violations(X, X)
    assert not any(m.any() for m in v.values())
