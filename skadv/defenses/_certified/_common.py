"""The base certification strategy and the float64 network layers strategies share."""

import numpy as np
from sklearn.utils.validation import has_fit_parameter

from ...attacks._budget import canonical_norm
from ...exceptions import NotDifferentiableError, UnsupportedModelError
from ...models._differentiable import as_differentiable
from ...utils._sklearn_compat import check_is_fitted, validate_data
from ...verify import as_layers, forward
from .._base import default_model


def to_float64(layers):
    return [{"W": np.asarray(layer["W"], np.float64), "b": np.asarray(layer["b"], np.float64)}
            for layer in layers]


def scaled_layers(layers, scale):
    """The layers seen from ``u = x / scale``: the first weight rows times ``scale``."""
    layers = to_float64(layers)
    layers[0] = {"W": scale[:, None] * layers[0]["W"], "b": layers[0]["b"]}
    return layers


def margins(layers, U, label):
    """Float64 margins ``z_label - z_j`` (n, k) of the network, ``inf`` at ``j = label``."""
    z = forward(layers, U)
    out = z[np.arange(len(label)), label][:, None] - z
    out[np.arange(len(label)), label] = np.inf
    return out


def fit_plain(estimator, X, y, sample_weight):
    """Fit ``estimator`` as it is, passing ``sample_weight`` only where it is accepted."""
    fit_params = {}
    if sample_weight is not None:
        if not has_fit_parameter(estimator, "sample_weight"):
            raise ValueError(f"{type(estimator).__name__}.fit does not accept sample_weight.")
        fit_params["sample_weight"] = sample_weight
    estimator.fit(X, y, **fit_params)


def readable(clf, estimator):
    """``as_differentiable(estimator)``, or an error saying which method needs it."""
    try:
        return as_differentiable(estimator)
    except NotDifferentiableError as exc:
        raise NotDifferentiableError(
            f"method={clf.method!r} needs a model skadv can read: {exc}") from None


class Strategy:
    """A deterministic certificate of a plainly trained network (the defaults).

    Subclasses override what their method does differently; every hook gets
    the :class:`~skadv.defenses.CertifiedClassifier` whose fitted state it
    reads or sets.
    """

    method = None
    norms = ("inf", 2)
    default_norm = "inf"
    #: Sets ``max_radius_`` (the radius search limit) at fit.
    searches_radius = False

    def resolve_norm(self, clf):
        if clf.norm is None:
            return self.default_norm
        norm = canonical_norm(clf.norm)
        if norm not in self.norms:
            raise ValueError(self.norm_error(clf))
        return norm

    def norm_error(self, clf):
        names = {"inf": "'inf'", 2: "2", 1: "1"}
        return (f"method={self.method!r} certifies {' or '.join(names[n] for n in self.norms)} "
                f"radii; `norm` must be one of those or None. Got norm={clf.norm!r} instead.")

    def default_estimator(self):
        return default_model()

    def fit(self, clf, estimator, X, X_checked, y, sample_weight, rng):
        """Train ``estimator`` for this method; return how (``training_``)."""
        fit_plain(estimator, X, y, sample_weight)
        return "plain"

    def max_radius(self, clf, X):
        """The radius search limit (``max_radius_``): ``max_radius``, else the
        diameter of the training data in the radius' norm; ``None`` where the
        method does not search."""
        if not self.searches_radius:
            return None
        if clf.max_radius is not None:
            return float(clf.max_radius)
        span = (X.max(axis=0) - X.min(axis=0)) / clf.scale_
        size = np.max(span) if clf.norm_ == "inf" else np.linalg.norm(span)
        return float(size) if size > 0 else 1.0

    def layers(self, clf, estimator):
        """The fitted network as float64 layers on ``X / scale_`` (``layers_``)."""
        diff = readable(clf, estimator)
        try:
            layers = as_layers(diff)
        except UnsupportedModelError:
            raise NotDifferentiableError(
                f"method={clf.method!r} certifies ReLU multilayer perceptrons (skadv "
                f"or scikit-learn MLPClassifier(activation='relu'), possibly after a "
                f"scaler). Got {type(estimator).__name__} ({diff.fn!r}) instead.") from None
        return scaled_layers(layers, clf.scale_)

    def certify(self, clf, X, X_num):
        """``(prediction, radius)`` of validated rows ``X_num`` (float64)."""
        prediction = np.asarray(clf.estimator_.predict(X))
        label = np.searchsorted(clf.classes_, prediction)
        return prediction, self.radius(clf, X, X_num / clf.scale_, label)

    def radius(self, clf, X, U, label):
        raise NotImplementedError

    # -- prediction: the trained model's own -------------------------------
    def _checked(self, clf, X):
        check_is_fitted(clf, "estimator_")
        validate_data(clf, X, reset=False, dtype=[np.float64, np.float32])

    def predict(self, clf, X):
        self._checked(clf, X)
        return clf.estimator_.predict(X)

    def predict_proba(self, clf, X):
        self._checked(clf, X)
        return clf.estimator_.predict_proba(X)

    def decision_function(self, clf, X):
        self._checked(clf, X)
        return clf.estimator_.decision_function(X)

    def has_proba(self, inner):
        return hasattr(inner, "predict_proba")

    def has_decision(self, inner):
        return hasattr(inner, "decision_function")

    def view(self, clf):
        diff = as_differentiable(clf._inner)
        return diff.fn, diff.params

    def tree_ensemble(self, clf):
        raise UnsupportedModelError(
            f"CertifiedClassifier(method={clf.method!r}) is not a tree ensemble: the tree "
            "attacks read it only with method='tree-bound' or 'tree-exact'. Use the "
            "white-box or black-box attacks.")
