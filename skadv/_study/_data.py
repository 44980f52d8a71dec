"""The user's table: read it, infer what a valid row is, add what the user knows.

A study on the user's own data needs, before anything is attacked, the rows
an attacker may produce. Most of that is in the data: a column of whole
numbers stays whole, a column of strings takes one of the strings it holds,
a column that never changes in the file is not the attacker's to change,
and every value stays within the range the file shows. :func:`infer_kinds`
reads this off the table; :func:`read_constraints` adds what only the user
knows (immutable and monotone columns, tighter bounds, relations between
columns) from a TOML file, by column name, in the vocabulary of
:class:`~skadv.constraints.FeatureConstraints`.
"""

import os

import numpy as np

from ..constraints import FeatureConstraints

__all__ = ["StudyInputError", "Table", "infer_kinds", "load_table", "read_constraints"]


class StudyInputError(ValueError):
    """Bad input to a study: one line naming the problem (the CLI exits with 2)."""


# Keys of a constraints file and what they hold.
CONSTRAINT_KEYS = {
    "immutable": "list of columns an attacker cannot change",
    "increase_only": "list of columns an attacker can only increase",
    "decrease_only": "list of columns an attacker can only decrease",
    "integer": "list of numeric columns that take whole values",
    "bounds": "table: column = [lower, upper] (either may be \"inf\"/\"-inf\")",
    "relations": "list of relations, or a table name = relation",
}

KINDS = ("constant", "binary", "integer", "float", "categorical")


def _check_file(path, what):
    if not isinstance(path, (str, os.PathLike)):
        raise StudyInputError(f"{what} must be a file path; got {type(path).__name__}.")
    if not os.path.isfile(path):
        raise StudyInputError(f"{what} file {os.fspath(path)!r} does not exist.")


def read_frame(path, sep=","):
    """Read a CSV (any other suffix) or Parquet (``.parquet``, ``.pq``) file.

    Raises
    ------
    StudyInputError
        When the file is missing, empty or cannot be parsed.
    """
    import pandas as pd

    _check_file(path, "data")
    name = os.fspath(path)
    if name.lower().endswith((".parquet", ".pq")):
        try:
            frame = pd.read_parquet(name)
        except ImportError as exc:
            raise StudyInputError(f"reading Parquet needs pyarrow or fastparquet: {exc}") \
                from None
        except Exception as exc:  # the engines raise their own error types
            raise StudyInputError(f"cannot read {name!r} as Parquet: "
                                  f"{str(exc).splitlines()[0]}") from None
    else:
        try:
            frame = pd.read_csv(name, sep=sep)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StudyInputError(f"cannot parse {name!r} as CSV (sep={sep!r}): {first}") \
                from None
    if frame.shape[1] < 2 or len(frame) < 2:
        raise StudyInputError(
            f"{name!r} has {len(frame)} rows and {frame.shape[1]} columns; a study needs "
            f"a header, a target and at least one feature column, and rows (is sep={sep!r} "
            f"right?).")
    return frame


def infer_kinds(frame):
    """Kind of each column of ``frame``: one of ``KINDS``.

    ``categorical``: strings, booleans kept as objects or a ``category``
    dtype; ``constant``: one value; ``binary``: two whole numbers (or a
    bool dtype); ``integer``: whole numbers; ``float``: anything else numeric.
    """
    kinds = {}
    for col in frame.columns:
        values = frame[col]
        dtype = values.dtype
        if values.nunique(dropna=True) <= 1:
            kinds[col] = "constant"
        elif getattr(dtype, "name", "") == "category" or dtype.kind not in "biuf":
            kinds[col] = "categorical"
        elif dtype.kind == "b":
            kinds[col] = "binary"
        else:
            v = np.asarray(values, dtype=np.float64)
            whole = bool(np.all(v == np.round(v)))
            if whole and values.nunique() == 2:
                kinds[col] = "binary"
            elif whole:
                kinds[col] = "integer"
            else:
                kinds[col] = "float"
    return kinds


def _names(value, key, known, where):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StudyInputError(f"{where}: {key} must be a list of column names; got {value!r}.")
    unknown = [v for v in value if v not in known]
    if unknown:
        raise StudyInputError(f"{where}: {key} names unknown column(s) {unknown}; columns: "
                              f"{', '.join(map(str, known))}.")
    return value


def read_constraints(spec, columns, kinds):
    """What the user knows about the columns, checked against them.

    Parameters
    ----------
    spec : path of a TOML file, dict or None
        Keys of ``CONSTRAINT_KEYS``.
    columns : list of str
        Feature columns.
    kinds : dict
        :func:`infer_kinds` of those columns.

    Returns
    -------
    user : dict
        The same keys, validated (bounds as ``{column: (lower, upper)}``).
    """
    if spec is None:
        return {}
    where = "constraints"
    if not isinstance(spec, dict):
        import tomllib

        _check_file(spec, "constraints")
        where = os.fspath(spec)
        try:
            with open(spec, "rb") as fh:
                spec = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise StudyInputError(f"{where}: not valid TOML: {exc}") from None
    unknown = [k for k in spec if k not in CONSTRAINT_KEYS]
    if unknown:
        raise StudyInputError(f"{where}: unknown key(s) {unknown}; known keys: "
                              f"{', '.join(CONSTRAINT_KEYS)}.")
    user = {}
    for key in ("immutable", "increase_only", "decrease_only", "integer"):
        if key in spec:
            user[key] = _names(spec[key], key, columns, where)
    for key in ("increase_only", "decrease_only", "integer"):
        bad = [c for c in user.get(key, []) if kinds[c] == "categorical"]
        if bad:
            raise StudyInputError(f"{where}: {key} needs numeric columns; {bad} is "
                                  "categorical.")
    if "bounds" in spec:
        bounds = spec["bounds"]
        if not isinstance(bounds, dict):
            raise StudyInputError(f"{where}: bounds must be a table column = [lower, upper].")
        _names(list(bounds), "bounds", columns, where)
        user["bounds"] = {}
        for col, pair in bounds.items():
            try:
                lo, hi = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise StudyInputError(f"{where}: bounds.{col} must be [lower, upper] numbers; "
                                      f"got {pair!r}.") from None
            if kinds[col] == "categorical":
                raise StudyInputError(f"{where}: bounds need numeric columns; {col!r} is "
                                      "categorical.")
            if lo > hi:
                raise StudyInputError(f"{where}: bounds.{col}: lower {lo:g} > upper {hi:g}.")
            user["bounds"][col] = (lo, hi)
    if "relations" in spec:
        rel = spec["relations"]
        ok = (isinstance(rel, list) and all(isinstance(r, str) for r in rel)) or (
            isinstance(rel, dict) and all(isinstance(r, str) for r in rel.values()))
        if not ok:
            raise StudyInputError(f"{where}: relations must be a list of strings or a table "
                                  "name = \"relation\".")
        user["relations"] = rel
    user["where"] = where
    return user


class Table:
    """The user's rows, their column kinds and the constraints of a valid row.

    Attributes
    ----------
    frame : DataFrame
        Feature columns of every row (train and test), in the user's dtypes
        (whole-number columns as int64), complete.
    y : ndarray
        Target of every row.
    rows : ndarray of int
        Each row's index in its input file (0-based, header not counted).
    test : ndarray of bool
        Held-out rows.
    kinds : dict
        Column -> kind.
    constraints : FeatureConstraints
        By column name, on the raw columns (categorical columns are left to
        the attacks' one-hot encoding).
    notes : list of str
        What was dropped or decided, for the report.
    """

    def __init__(self, frame, y, rows, test, kinds, constraints, notes, target):
        self.frame, self.y, self.rows, self.test = frame, y, rows, test
        self.kinds, self.constraints, self.notes, self.target = kinds, constraints, notes, target

    @property
    def columns(self):
        return list(self.frame.columns)


def _complete(frame, name, notes):
    missing = frame.isna().any(axis=1).to_numpy()
    if missing.all():
        raise StudyInputError(f"every row of {name!r} has a missing value; impute them first.")
    if missing.any():
        notes.append(f"{int(missing.sum())} rows of {name} with missing values were left "
                     "out (the attacks perturb observed values only).")
    return frame.loc[~missing]


def load_table(data, target, *, test=None, test_size=0.3, sep=",", constraints=None,
               seed=0, columns=None):
    """Read, split and constrain the user's data (see :class:`Table`).

    Parameters
    ----------
    data : path or DataFrame
    target : str
        The column to predict.
    test : path or DataFrame, default=None
        Held-out rows; otherwise ``test_size`` of ``data`` (stratified).
    test_size : float, default=0.3
    sep : str, default=","
    constraints : path of a TOML file, dict or None
    seed : int, default=0
    columns : list of str, default=None
        Feature columns to keep (a given model's); default: all but the target.

    Returns
    -------
    table : Table
    """
    import pandas as pd
    from sklearn.model_selection import train_test_split

    def frame_of(source):
        if isinstance(source, pd.DataFrame):
            return source.reset_index(drop=True), "the data frame"
        return read_frame(source, sep), os.fspath(source)

    frame, name = frame_of(data)
    if not isinstance(target, str) or target not in frame.columns:
        raise StudyInputError(f"unknown target column {target!r}; columns of {name!r}: "
                              f"{', '.join(map(str, frame.columns))}.")
    parts = [(frame, name, False)]
    if test is not None:
        test_frame, test_name = frame_of(test)
        if list(test_frame.columns) != list(frame.columns):
            raise StudyInputError(f"the test file {test_name!r} must have the columns of "
                                  f"{name!r} in the same order.")
        parts.append((test_frame, test_name, True))
    features = [c for c in frame.columns if c != target] if columns is None else list(columns)
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise StudyInputError(f"the model was fitted on column(s) {missing} that {name!r} "
                              f"does not have; it has {', '.join(map(str, frame.columns))}.")
    notes, kept = [], []
    extra = [c for c in frame.columns if c not in features and c != target]
    if extra:
        notes.append(f"Column(s) {extra} of {name} are not the model's: left out.")
    for part, part_name, is_test in parts:
        part = _complete(part[features + [target]], part_name, notes)
        kept.append((part, is_test))
    whole = pd.concat([p for p, _ in kept], axis=0)
    rows = np.concatenate([p.index.to_numpy() for p, _ in kept])
    whole = whole.reset_index(drop=True)
    y = whole.pop(target).to_numpy()
    if len(np.unique(y)) < 2:
        raise StudyInputError(f"the target column {target!r} has one class "
                              f"({np.unique(y)[0]!r}); a classifier needs two or more.")
    if test is not None:
        is_test = np.concatenate([np.full(len(p), t) for p, t in kept])
    else:
        if not 0 < test_size < 1:
            raise StudyInputError(f"test_size must be in (0, 1); got {test_size!r}.")
        _, counts = np.unique(y, return_counts=True)
        stratify = y if counts.min() >= 2 else None
        try:
            _, test_idx = train_test_split(np.arange(len(y)), test_size=test_size,
                                           stratify=stratify, random_state=seed)
        except ValueError as exc:
            raise StudyInputError(f"cannot split {len(y)} rows with test_size={test_size}: "
                                  f"{exc}") from None
        is_test = np.zeros(len(y), bool)
        is_test[test_idx] = True
    kinds = infer_kinds(whole)
    for col, kind in kinds.items():
        if kind in ("integer", "binary") and whole[col].dtype.kind == "f":
            whole[col] = whole[col].astype(np.int64)
    user = read_constraints(constraints, features, kinds)
    table = Table(whole, y, rows, is_test, kinds, None, notes, target)
    table.constraints = build_constraints(table, user)
    return table


def build_constraints(table, user):
    """:class:`FeatureConstraints` of the table's kinds plus the user's (by name)."""
    frame, kinds = table.frame, table.kinds
    lower, upper = {}, {}
    for col, kind in kinds.items():
        if kind in ("binary", "integer", "float"):
            v = np.asarray(frame[col], dtype=np.float64)
            lower[col], upper[col] = float(v.min()), float(v.max())
    where = user.get("where", "constraints")
    for col, (lo, hi) in user.get("bounds", {}).items():
        v = np.asarray(frame[col], dtype=np.float64)
        if v.min() < lo or v.max() > hi:
            raise StudyInputError(
                f"{where}: bounds.{col} = [{lo:g}, {hi:g}] excludes values of the data "
                f"(from {v.min():g} to {v.max():g}); the clean rows must be valid.")
        lower[col], upper[col] = lo, hi
    immutable = [c for c, k in kinds.items() if k == "constant"]
    immutable += [c for c in user.get("immutable", []) if c not in immutable]
    integer = [c for c, k in kinds.items() if k in ("binary", "integer")]
    integer += [c for c in user.get("integer", []) if c not in integer]
    fc = FeatureConstraints(lower=lower, upper=upper, immutable=immutable or None,
                            integer=integer or None,
                            increase_only=user.get("increase_only") or None,
                            decrease_only=user.get("decrease_only") or None,
                            relations=user.get("relations") or None,
                            feature_names=list(frame.columns))
    try:
        arrays = fc.resolve(frame.shape[1])
        numeric = [c for c in frame.columns if frame[c].dtype.kind in "biuf"]
        if arrays.relations is not None:
            used = np.any(np.asarray(arrays.relations.G) != 0, axis=0)
            bad = [c for c, u in zip(frame.columns, used) if u and c not in numeric]
            if bad:
                raise ValueError(f"relations can only involve numeric columns; {bad} is "
                                 "categorical.")
            sub = frame[numeric].to_numpy(np.float64)
            sub_fc = FeatureConstraints(relations=fc.relations, feature_names=numeric)
            ok = sub_fc.is_satisfied(sub, sub)
            if not ok.all():
                raise ValueError(f"{int((~ok).sum())} rows of the data break the relations; "
                                 "the clean rows must be valid.")
    except ValueError as exc:
        raise StudyInputError(f"{where}: {str(exc).splitlines()[0]}") from None
    return fc
