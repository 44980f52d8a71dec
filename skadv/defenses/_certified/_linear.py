"""Exact radii of linear models: the margin over the dual norm of the weight gap."""

from dataclasses import replace

import numpy as np

from ...models.linear import LogisticRegression
from ...models._views import Chain
from ...exceptions import UnsupportedModelError
from ...verify import as_layers
from ._common import Strategy, margins, readable, scaled_layers


def linear_layers(diff):
    """The single affine layer of a linear model (scaler folded in), or ``None``."""
    fn, params = diff.fn, diff.params
    parts = tuple(fn.fns) if isinstance(fn, Chain) else (fn,)
    dense = parts[-1]
    dense_params = tuple(params)[-1] if isinstance(fn, Chain) else params
    if type(dense).__name__ != "DenseNet" or len(dense_params) != 1:
        return None
    # One layer has no activation at all, so it is a ReLU network too.
    relu = replace(dense, activation="relu")
    fn = Chain(parts[:-1] + (relu,)) if isinstance(fn, Chain) else relu
    try:
        return as_layers(fn, params, n_features=diff.n_features_in_)
    except UnsupportedModelError:
        return None


class LinearStrategy(Strategy):
    """``min_j (z_y - z_j) / ||w_y - w_j||_*``: exact for a linear model."""

    method = "linear"

    def default_estimator(self):
        return LogisticRegression()

    def layers(self, clf, estimator):
        layers = linear_layers(readable(clf, estimator))
        if layers is None:
            raise TypeError(
                f"method='linear' needs a linear classifier (LogisticRegression, "
                f"LinearSVC, SGDClassifier, ..., possibly after a scaler). Got "
                f"{type(estimator).__name__}, whose decision function is not linear, "
                "instead. Use method='milp' for a small ReLU MLP.")
        return scaled_layers(layers, clf.scale_)

    def radius(self, clf, X, U, label):
        W = clf.layers_[0]["W"]
        if hasattr(clf.estimator_, "decision_function"):
            # The model's own float64 scores: the numerator is then exact for
            # the decision the model makes, not a float32 copy of it.
            scores = np.asarray(clf.estimator_.decision_function(X), np.float64)
            z = np.column_stack([np.zeros_like(scores), scores]) if scores.ndim == 1 else scores
            gaps = z[np.arange(len(label)), label][:, None] - z
            gaps[np.arange(len(label)), label] = np.inf
        else:
            gaps = margins(clf.layers_, U, label)
        # ||w_c - w_j||_* for every pair of classes, then one row per sample
        dual = 1 if clf.norm_ == "inf" else 2
        pairs = np.linalg.norm(W[:, :, None] - W[:, None, :], ord=dual, axis=0)
        denom = pairs[label]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(denom > 0, gaps / denom, np.where(gaps > 0, np.inf, -np.inf))
        radius = np.min(ratio, axis=1)
        return np.where(radius > 0, radius, -1.0)
