"""What a study attacks: rows in the form the models take, their constraints and units.

Three sources, one :class:`Problem`:

* a bundled data set (:mod:`skadv.datasets`): numeric rows and the study's
  own constraints;
* the user's table with skadv's default models: categorical columns are
  one-hot encoded once (:class:`~skadv.attacks._encoding.InputEncoder`),
  their indicators become one-hot groups of the constraints, and every
  model, white-box attacks and defenses included, works on that matrix;
* the user's table with the user's fitted model: the rows stay the user's
  DataFrame, as the model takes them, and each attack encodes categories
  itself.

Either way :meth:`Problem.to_user` turns attacked rows back into the user's
columns (categories as the user's strings, integers as integers).
"""

import numpy as np

from ..constraints import FeatureConstraints
from ._data import StudyInputError, infer_kinds, load_table

__all__ = ["EPS_UNITS", "Problem", "bundled_problem", "table_problem"]

EPS_UNITS = {
    "std": "standard deviations of the training data",
    "range": "fractions of each column's range in the data",
    "raw": "the columns' own units",
}


def raw_scale(frame, kinds, train, unit):
    """Per raw column: the unit of ``eps`` (1 for categorical and constant columns)."""
    scale = np.ones(frame.shape[1])
    for j, col in enumerate(frame.columns):
        if kinds[col] in ("categorical", "constant") or unit == "raw":
            continue
        v = np.asarray(frame[col], dtype=np.float64)
        s = v[train].std() if unit == "std" else v.max() - v.min()
        scale[j] = s if s > 0 else 1.0
    return scale


class Problem:
    """Rows to train on and to attack, with constraints and budget units.

    Attributes
    ----------
    X_train, y_train, X_test, y_test
        In the form the models take (array or DataFrame).
    constraints : FeatureConstraints
        Over the columns of ``X_test``.
    scale : ndarray
        ``feature_scale`` of the attacks, over the columns of ``X_test``.
    user_test : DataFrame
        The attacked rows in the user's columns.
    rows : ndarray of int
        Their index in the input file (or the bundled data set).
    kinds : dict
        Kind of each user column.
    user_scale : ndarray
        Unit of ``eps`` per user column.
    """

    def __init__(self, **kw):
        self.encoder = None
        self.notes = []
        for k, v in kw.items():
            setattr(self, k, v)

    def numeric(self, col):
        """Is user column ``col`` a number (not a category)?"""
        return (self.kinds.get(col) != "categorical"
                and self.user_test[col].dtype.kind in "biuf")

    def to_user(self, X):
        """Attacked rows as a DataFrame in the user's columns and dtypes."""
        import pandas as pd

        if self.encoder is not None:
            X = self.encoder.decode(np.asarray(X, dtype=np.float64))
        if not isinstance(X, pd.DataFrame):
            X = pd.DataFrame(np.asarray(X), columns=self.user_test.columns)
        X = X.reset_index(drop=True).copy()
        for col in X.columns:
            dtype = self.user_test[col].dtype
            if dtype.kind in "biu" and X[col].dtype.kind == "f":
                X[col] = np.rint(X[col]).astype(dtype)
        return X

    def subsample(self, max_rows, seed):
        """Attack at most ``max_rows`` held-out rows (a seeded random subset)."""
        n = len(self.y_test)
        if max_rows is None or n <= max_rows:
            return
        keep = np.sort(np.random.RandomState(seed).choice(n, max_rows, replace=False))
        take = (lambda X: X.iloc[keep].reset_index(drop=True))
        self.X_test = take(self.X_test) if hasattr(self.X_test, "iloc") else self.X_test[keep]
        self.y_test, self.rows = self.y_test[keep], self.rows[keep]
        self.user_test = take(self.user_test)
        self.notes.append(f"{max_rows} of the {n} held-out rows are attacked (a random "
                          f"subset, seed {seed}; max_rows changes it).")


def bundled_problem(name, *, test_size, seed, eps_unit):
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from ..datasets import STUDIES, load_study

    if name not in STUDIES:
        raise StudyInputError(f"unknown dataset {name!r}; choose from {sorted(STUDIES)}.")
    study = load_study(name)
    idx = np.arange(len(study.target))
    tr, te = train_test_split(idx, test_size=test_size, stratify=study.target,
                              random_state=seed)
    frame = pd.DataFrame(study.data, columns=list(study.feature_names))
    kinds = infer_kinds(frame)
    train = np.zeros(len(idx), bool)
    train[tr] = True
    scale = raw_scale(frame, {c: "float" for c in frame.columns}, train, eps_unit)
    return Problem(
        name=name, description=study.DESCR, X_train=study.data[tr], y_train=study.target[tr],
        X_test=study.data[te], y_test=study.target[te], constraints=study.constraints,
        scale=scale, user_test=frame.iloc[te].reset_index(drop=True), rows=te, kinds=kinds,
        user_scale=scale, target="target", user_model=False, n_classes=len(
            np.unique(study.target)), n_train=len(tr), n_test=len(te))


def table_problem(data, target, *, model=None, test=None, test_size, sep, constraints,
                  seed, eps_unit, name):
    """A :class:`Problem` of the user's table (for the user's ``model`` when given)."""
    from ..attacks._encoding import InputEncoder
    from ._models import model_columns

    columns = None
    if model is not None:
        columns = model_columns(model)
    table = load_table(data, target, test=test, test_size=test_size, sep=sep,
                       constraints=constraints, seed=seed, columns=columns)
    frame, test_rows = table.frame, table.test
    if model is not None:
        # A CatBoost model read from its file says 0 and keeps its columns' names.
        n_model = getattr(model, "n_features_in_", None) or len(
            getattr(model, "feature_names_", None) or []) or None
        if columns is None and n_model is not None and n_model != frame.shape[1]:
            raise StudyInputError(
                f"the model was fitted on {n_model} columns, but the data have "
                f"{frame.shape[1]} feature columns besides {target!r}.")
        known = np.asarray(model.classes_)
        unknown = sorted(set(map(str, table.y)) - set(map(str, known)))
        if unknown:
            raise StudyInputError(f"the target column {target!r} holds labels the model does "
                                  f"not know: {unknown[:5]}; its classes: {known.tolist()}.")
        # Same labels in the model's own type (CSV "1" vs an int class 1).
        lookup = {str(c): c for c in known}
        table.y = np.asarray([lookup[str(v)] for v in table.y], dtype=known.dtype)
    kinds = table.kinds
    user_scale = raw_scale(frame, kinds, ~test_rows, eps_unit)
    y_train, y_test = table.y[~test_rows], table.y[test_rows]
    user_test = frame.loc[test_rows].reset_index(drop=True)
    common = dict(name=name, description=None, y_train=y_train, y_test=y_test,
                  user_test=user_test, rows=table.rows[test_rows], kinds=kinds,
                  user_scale=user_scale, target=target, user_model=model is not None,
                  n_classes=len(np.unique(table.y)), n_train=int((~test_rows).sum()),
                  n_test=int(test_rows.sum()))
    if model is not None:
        problem = Problem(X_train=frame.loc[~test_rows].reset_index(drop=True),
                          X_test=user_test.copy(), constraints=table.constraints,
                          scale=user_scale, **common)
    else:
        encoder = InputEncoder.from_data(frame)
        if encoder.identity:
            encoder = None
            Z = frame.to_numpy(np.float64)
            fc = table.constraints
            scale = user_scale
        else:
            Z = encoder.encode(frame)
            arrays = encoder.expand_constraints(
                table.constraints.resolve(frame.shape[1], list(frame.columns)))
            # A categorical column with one category is a constant indicator
            # (immutable), not a one-hot group.
            group = np.asarray(arrays.group).copy()
            ids, counts = np.unique(group[group >= 0], return_counts=True)
            group[np.isin(group, ids[counts < 2])] = -1
            fc = FeatureConstraints.from_arrays(arrays._replace(group=group))
            scale = encoder.expand(user_scale)
        problem = Problem(X_train=Z[~test_rows], X_test=Z[test_rows], constraints=fc,
                          scale=scale, **common)
        problem.encoder = encoder
    problem.notes = list(table.notes)
    problem.table = table
    return problem
