"""The user's fitted model: load only the file named, check it, find its attacks.

A joblib or pickle file runs code when loaded -- only the file the user
names is ever loaded. XGBoost (``.json``, ``.ubj``), LightGBM (``.txt``)
and CatBoost (``.cbm``) model files are read by their own library.
"""

import importlib
import os
import warnings

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from ._data import StudyInputError, _check_file

__all__ = ["BoosterClassifier", "applicable", "load_model", "model_columns"]


class BoosterClassifier(ClassifierMixin, BaseEstimator):
    """A LightGBM ``Booster`` read from a model file, as a fitted classifier.

    ``predict`` is the booster's own: the class of highest probability
    (probability above 0.5 for binary models), as LightGBM's classifier.
    """

    def __init__(self, booster=None):
        self.booster = booster

    def fit(self, X, y=None):
        raise TypeError("BoosterClassifier wraps an already trained LightGBM Booster.")

    def _fitted(self):
        n = self.booster.num_model_per_iteration()
        self.classes_ = np.arange(max(n, 2))
        self.n_features_in_ = self.booster.num_feature()
        names = self.booster.feature_name()
        if names and not all(n.startswith("Column_") for n in names):
            self.feature_names_in_ = np.asarray(names, dtype=object)
        return self

    def predict_proba(self, X):
        p = np.asarray(self.booster.predict(np.asarray(X, dtype=np.float64)))
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    def predict(self, X):
        p = np.asarray(self.booster.predict(np.asarray(X, dtype=np.float64)))
        return (p > 0.5).astype(int) if p.ndim == 1 else np.argmax(p, axis=1)

    def _tree_ensemble(self):
        from ..attacks.trees import tree_ensemble

        return tree_ensemble(self.booster)


def load_model(path):
    """The fitted classifier in ``path`` (see module doc)."""
    _check_file(path, "model")
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1].lower()
    library = {".json": "xgboost", ".ubj": "xgboost", ".txt": "lightgbm",
               ".cbm": "catboost"}.get(suffix, "joblib")
    try:
        lib = importlib.import_module(library)
    except ImportError:
        raise StudyInputError(f"reading {name!r} needs {library} installed.") from None
    try:
        if library == "xgboost":
            model = lib.XGBClassifier()
            model.load_model(name)
        elif library == "lightgbm":
            model = BoosterClassifier(lib.Booster(model_file=name))._fitted()
        elif library == "catboost":
            model = lib.CatBoostClassifier().load_model(name)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # version mismatch warnings: checked below
                model = lib.load(name)
    except Exception as exc:  # any loader's own error: the file is not a model
        why = str(exc).splitlines()[0] if str(exc) else ""
        raise StudyInputError(f"{name!r} is not a model file skadv can read "
                              f"({type(exc).__name__}: {why}).") from None
    if not (hasattr(model, "predict") and hasattr(model, "classes_")):
        raise StudyInputError(f"{name!r} holds a {type(model).__name__}, not a fitted "
                              "classifier (it needs predict and classes_).")
    return model


def model_columns(model):
    """The feature columns ``model`` was fitted on, or None (fitted on an array)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        try:
            names = model.get_booster().feature_names  # XGBoost keeps them here
        except AttributeError:
            names = None
    if names is None and type(model).__module__.startswith("catboost"):
        # CatBoost names the columns of an array "0", "1", ...: no names then.
        found = list(getattr(model, "feature_names_", None) or [])
        if found and found != [str(i) for i in range(len(found))]:
            names = found
    if names is not None:
        return [str(n) for n in names]
    return None


# The exact (MILP) tree attack solves one program per row, budget and rival
# class; up to this many leaves in all its trees, that takes seconds.
SMALL_ENSEMBLE_LEAVES = 1000


def applicable(model, X):
    """Which kinds of attack apply to ``model`` on rows ``X``.

    Returns
    -------
    kinds : set of str
        ``"white-box"`` when :func:`skadv.as_differentiable` accepts it,
        ``"trees"`` when the tree attacks read it (after a one-hot encoding
        pipeline too), ``"small-trees"`` when they hold at most
        ``SMALL_ENSEMBLE_LEAVES`` leaves (the exact attack is cheap), and
        always ``"black-box"``.
    """
    from ..attacks._encoding import InputEncoder
    from ..attacks.trees import encoded_ensemble, tree_ensemble
    from ..models._differentiable import as_differentiable

    kinds = {"black-box"}
    try:
        as_differentiable(model)
        kinds.add("white-box")
    except TypeError:  # NotDifferentiableError, UnsupportedModelError
        pass
    try:
        encoder = InputEncoder.from_data(X, model)
        ens = tree_ensemble(model) if encoder.identity else encoded_ensemble(model, encoder)
        kinds.add("trees")
        leaves = sum(int(np.sum(np.asarray(f) < 0)) for f in ens.feature)
        if leaves <= SMALL_ENSEMBLE_LEAVES:
            kinds.add("small-trees")
    except TypeError:
        pass
    return kinds
