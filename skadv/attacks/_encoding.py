"""How an attack sees a user's rows: floats, with categorical columns one-hot.

Models deployed on tabular data often take a DataFrame with string or
``category`` columns and one-hot encode them inside a ``Pipeline``. An attack
that only queries such a model works in the *raw* feature space of the
pipeline's input, so it must be able to change a category — and return a
DataFrame whose categorical columns still hold valid categories.

:class:`InputEncoder` is the one place that bridges the two worlds. Each
categorical column becomes a block of indicator columns, which is exactly a
one-hot group of :class:`~skadv.constraints.FeatureConstraints`, so the
searches, the projection and the final repair need nothing new: a category
change moves two indicators by one, i.e. it costs ``1`` in L-inf (``sqrt(2)``
in L2, ``2`` in L1) in units of the column's scale. The scale of a categorical
column is 1 unless ``feature_scale`` gives it another value ``s`` (a change
then costs ``1 / s``); ``feature_scale="std"`` leaves it at 1. Decoding maps
each block back to its category.

Which columns are categorical: every non-numeric column of a DataFrame
(object, string, ``category``), and every column the victim itself encodes with a fitted
encoder that has ``categories_`` (``OneHotEncoder``, ``OrdinalEncoder``, ...)
as the first step of a ``Pipeline`` or inside its leading
``ColumnTransformer``. Categories come from that encoder when there is one
(the values the model knows), else from a ``category`` dtype, else from the
data seen at fit.
"""

import numpy as np

from ..constraints import _expressions as _ex
from ..constraints import ConstraintArrays
from ._budget import resolve_budget
from ..utils._sklearn_compat import column_transformer_indices

__all__ = ["InputEncoder"]


def _is_frame(X):
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _column(X, j):
    return X.iloc[:, j] if _is_frame(X) else np.asarray(X)[:, j]


def _is_numeric(values):
    values = np.asarray(values)
    return values.dtype.kind in "biuf"


def _victim_encoders(estimator, n_features):
    """``{raw column index: categories}`` for columns the victim encodes itself."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    found = {}
    first = estimator
    while isinstance(first, Pipeline) and len(first.steps):
        first = first.steps[0][1]
    cats = getattr(first, "categories_", None)
    if cats is not None and len(cats) == n_features:
        return dict(enumerate(cats))
    if not isinstance(first, ColumnTransformer) or not hasattr(first, "transformers_"):
        return found
    indices = column_transformer_indices(first)
    for name, trans, _ in first.transformers_:
        cols = indices.get(name, [])
        steps = trans.steps if isinstance(trans, Pipeline) else [(name, trans)]
        for _, step in steps:
            cats = getattr(step, "categories_", None)
            if cats is not None and len(cats) == len(cols):
                found.update(zip(cols, cats))
                break
    return found


def _clean_categories(cats):
    cats = np.asarray(cats, dtype=object)
    keep = np.array([not (c is None or (isinstance(c, float) and np.isnan(c)))
                     for c in cats], dtype=bool)
    return cats[keep]


class InputEncoder:
    """Map rows with categorical columns to floats and back (see module doc).

    Parameters
    ----------
    n_features : int
        Raw columns.
    categories : dict of int to ndarray
        Raw column index -> its categories, in indicator order.
    dtypes : list, default=None
        Raw column dtypes (DataFrame input), restored by :meth:`decode`.
    columns : array-like, default=None
        Raw column labels (DataFrame input).
    integer : ndarray of bool, default=None
        Raw numeric columns of an integer (or boolean) dtype: they must stay whole.

    Attributes
    ----------
    raw_index : ndarray of int, shape (n_encoded,)
        Raw column of each encoded column.
    one_hot : ndarray of bool, shape (n_encoded,)
        Encoded columns that are category indicators.
    identity : bool
        No categorical column: encoding is validation only.
    """

    def __init__(self, n_features, categories, *, dtypes=None, columns=None, integer=None):
        self.n_features = int(n_features)
        self.categories = {int(j): _clean_categories(c) for j, c in categories.items()}
        self.dtypes = dtypes
        self.columns = columns
        self.integer = (np.zeros(n_features, bool) if integer is None
                        else np.asarray(integer, bool))
        raw, hot = [], []
        for j in range(self.n_features):
            width = len(self.categories[j]) if j in self.categories else 1
            raw += [j] * width
            hot += [j in self.categories] * width
        self.raw_index = np.asarray(raw, dtype=np.intp)
        self.one_hot = np.asarray(hot, dtype=bool)
        self.identity = not self.categories

    @classmethod
    def from_data(cls, X, estimator=None):
        """Find the categorical columns of ``X`` (and of the victim) and their categories."""
        frame = _is_frame(X)
        if not frame and not hasattr(X, "shape"):
            X = np.asarray(X)
        if len(np.shape(X)) != 2:
            # Left to validate_data, which raises scikit-learn's own error.
            return cls(0, {})
        n = np.shape(X)[1]
        victim = _victim_encoders(estimator, n) if estimator is not None else {}
        if not frame and not victim:
            # Arrays are numeric unless the victim encodes some of their columns;
            # validate_data converts (or rejects: sparse, complex, strings) them.
            return cls(n, {})
        categories, dtypes, integer = {}, [], np.zeros(n, dtype=bool)
        for j in range(n):
            col = _column(X, j)
            dtype = getattr(col, "dtype", None)
            dtypes.append(dtype)
            numeric = _is_numeric(col) and getattr(dtype, "name", "") != "category"
            if j in victim:
                categories[j] = victim[j]
            elif getattr(dtype, "name", "") == "category":
                categories[j] = np.asarray(dtype.categories, dtype=object)
            elif not numeric and frame:
                categories[j] = _unique(col)
            elif np.asarray(col).dtype.kind in "biu":
                integer[j] = True
        if not categories:
            return cls(n, {})
        columns = np.asarray(X.columns, dtype=object) if frame else None
        return cls(n, categories, dtypes=dtypes if frame else None, columns=columns,
                   integer=integer)

    # -- rows -------------------------------------------------------------
    def encode(self, X):
        """Float rows ``(n_samples, n_encoded)``; categories become indicators.

        Raises
        ------
        ValueError
            For NaN/inf in a numeric column or a category unseen at fit.
        """
        n = np.shape(X)[0]
        Z = np.zeros((n, len(self.raw_index)))
        for j in range(self.n_features):
            col = _column(X, j)
            where = np.flatnonzero(self.raw_index == j)
            name = self._name(j)
            if j not in self.categories:
                try:
                    values = np.asarray(col, dtype=np.float64)
                except (TypeError, ValueError):
                    raise ValueError(
                        f"Column {name} must be numeric, as it was at fit. Got "
                        f"non-numeric values instead.") from None
                if not np.all(np.isfinite(values)):
                    raise ValueError(f"Input X contains NaN or infinity in column {name}.")
                Z[:, where[0]] = values
                continue
            values = np.asarray(col, dtype=object)
            cats = self.categories[j]
            hit = values[:, None] == cats[None, :]
            unknown = ~hit.any(axis=1)
            if np.any(unknown):
                raise ValueError(
                    f"Column {name} holds categories the attack does not know: "
                    f"{sorted(map(str, set(values[unknown])))}; known: "
                    f"{[str(c) for c in cats]}. Fit the attack on data (and a victim) "
                    f"that have them.")
            Z[:, where] = hit
        return Z

    def decode(self, Z, index=None):
        """Rows in the user's format: a DataFrame (with its dtypes) or an array."""
        Z = np.asarray(Z)
        if self.identity:
            return Z
        cols = []
        for j in range(self.n_features):
            where = np.flatnonzero(self.raw_index == j)
            if j in self.categories:
                cols.append(self.categories[j][np.argmax(Z[:, where], axis=1)])
            elif self.integer[j]:
                cols.append(np.rint(Z[:, where[0]]))
            else:
                cols.append(Z[:, where[0]])
        if self.dtypes is None:
            out = np.empty((len(Z), self.n_features), dtype=object)
            for j, c in enumerate(cols):
                out[:, j] = c
            if all(_is_numeric(c) or j in self.categories and _all_numbers(c)
                   for j, c in enumerate(cols)):
                return out.astype(np.float64)
            return out
        import pandas as pd

        data = {}
        for j, (c, dtype) in enumerate(zip(cols, self.dtypes)):
            data[j] = pd.Series(c, index=index).astype(dtype)
        out = pd.DataFrame(data, index=index)
        out.columns = self.columns
        return out

    # -- constraints and budgets ------------------------------------------
    def expand(self, values):
        """Per-raw-column values repeated over each column's encoded columns."""
        return np.asarray(values)[self.raw_index]

    def expand_constraints(self, arrays):
        """Raw-column :class:`ConstraintArrays` for the encoded columns.

        Each categorical column becomes one more one-hot group (bounds
        ``[0, 1]``, mutable unless the raw column is immutable); integer-typed
        numeric columns are integer.
        """
        if self.identity:
            return arrays
        lower, upper = self.expand(arrays.lower), self.expand(arrays.upper)
        mutable = self.expand(arrays.mutable).copy()
        integer = self.expand(arrays.integer | self.integer) & ~self.one_hot
        group = np.where(self.one_hot, -1, self.expand(arrays.group)).astype(np.int32)
        next_id = int(arrays.group.max(initial=-1)) + 1
        for j in sorted(self.categories):
            where = self.raw_index == j
            group[where] = next_id
            next_id += 1
            if where.sum() < 2:  # a single category cannot change
                mutable[where] = False
        lower = np.where(self.one_hot, 0.0, lower)
        upper = np.where(self.one_hot, 1.0, upper)
        direction = None
        if arrays.direction is not None:
            direction = np.where(self.one_hot, 0, self.expand(arrays.direction)).astype(np.int8)
        relations = arrays.relations
        if relations is not None:
            used = np.any(np.asarray(relations.G) != 0, axis=0)
            for t, e in relations.spec.derived:
                used[t] = True
                used[list(_ex.columns(e))] = True
            bad = [self._name(j) for j in sorted(self.categories) if used[j]]
            if bad:
                raise ValueError(
                    f"Relations can only involve numeric columns; {', '.join(bad)} "
                    f"is categorical (one-hot encoded for the attack).")
            # Numeric raw column j is the one encoded column with raw_index j.
            index = np.array([np.flatnonzero(self.raw_index == j)[0]
                              for j in range(self.n_features)])
            relations = relations.remap(index, len(self.raw_index))
        return ConstraintArrays(lower, upper, mutable, integer, group, direction, relations)

    def resolve_budget(self, constraints, feature_scale, X, feature_names=None):
        """:func:`skadv.attacks._base.resolve_budget` for encoded rows ``X``.

        ``constraints`` and an array ``feature_scale`` speak of raw columns;
        both are resolved there and repeated over the encoded columns.
        ``feature_scale="std"`` uses each numeric column's standard deviation
        and 1 for category indicators.
        """
        if self.identity:
            return resolve_budget(constraints, feature_scale, X, feature_names)
        raw_scale = None if isinstance(feature_scale, str) else feature_scale
        scale, arrays = resolve_budget(constraints, raw_scale,
                                       np.zeros((1, self.n_features)), feature_names)
        arrays = self.expand_constraints(arrays)
        scale = self.expand(scale)
        if isinstance(feature_scale, str):
            std = np.where(self.one_hot, 1.0, X.std(axis=0))
            frozen = std == 0
            arrays = arrays._replace(mutable=arrays.mutable & ~frozen)
            scale = np.where(frozen, 1.0, std)
        return scale, arrays

    def _name(self, j):
        return repr(self.columns[j]) if self.columns is not None else str(j)


def _unique(col):
    values = np.asarray(col, dtype=object)
    seen = list(dict.fromkeys(v for v in values))
    try:
        seen = sorted(seen)
    except TypeError:  # mixed types: keep first-seen order
        pass
    return np.asarray(seen, dtype=object)


def _all_numbers(values):
    try:
        np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return True
