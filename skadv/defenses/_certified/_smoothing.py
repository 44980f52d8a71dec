"""Randomized smoothing (Cohen et al. 2019): noise training and the CERTIFY sampler."""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import jax
import jax.numpy as jnp

from ...exceptions import NotDifferentiableError
from ...models._differentiable import as_differentiable
from ...utils._jax import map_batches, prng_key
from ...utils._sklearn_compat import _check_sample_weight, check_is_fitted, validate_data
from ...verify.smoothing import (certify_counts, noise, noise_bank, noise_counts,
                                 row_keys_from_rows)
from .._base import is_jax_model
from ..._core.train import NoiseObjective
from ._common import Strategy, fit_plain

# Independent PRNG streams of the smoothing sampler (Cohen et al.'s selection
# and estimation draws must be independent of each other).
SELECT, ESTIMATE, VIEW, BANK = 0, 1, 2, 3


@lru_cache(maxsize=8)
def _selection_bank(seed, n_samples, n_features):
    """The bank that the selection draws (``predict``) are picked from.

    Picked, not drawn: a black-box attack calls ``predict`` once per query,
    and drawing ``n0`` fresh vectors per row costs about 5x the base MLP's
    forward pass. Each row still gets independent standard normal draws
    (:func:`~skadv.verify.smoothing.noise_bank`); the estimation draws of
    :meth:`certify`, which the radius rests on, stay fresh and independent
    of them.
    """
    return noise_bank(jax.random.fold_in(prng_key(seed), BANK), n_samples, n_features)


@dataclass(frozen=True)
class SmoothedSoftmax:
    """Log of the mean softmax of ``fn`` over fixed noise: a differentiable smoothed model.

    ``params = (inner, noise)`` with ``noise`` of shape ``(m, n_features)``
    (already scaled by sigma). Its argmax approximates the smoothed
    classifier's (Salman et al. 2019's "soft" smoothed classifier with ``m``
    common noise draws), so gradient attacks aim at the smoothed decision and
    not at the base model's.
    """

    fn: object

    def __call__(self, params, X):
        inner, draws = params
        n, d = X.shape
        Z = (X[:, None, :] + draws[None]).reshape(-1, d)
        logp = jax.nn.log_softmax(self.fn(inner, Z), axis=-1).reshape(n, draws.shape[0], -1)
        return jax.scipy.special.logsumexp(logp, axis=1) - jnp.log(draws.shape[0])


def _inner_predict(clf, X):
    names = getattr(clf, "feature_names_in_", None)
    if names is not None:
        import pandas as pd

        X = pd.DataFrame(X, columns=names)
    return np.asarray(clf.estimator_.predict(X))


def counts(clf, X, stream, n_samples):
    """Class counts ``(n_rows, n_classes)`` of the base model over noisy copies of ``X``."""
    X = np.asarray(X, np.float32)
    n_classes, d = len(clf.classes_), X.shape[1]
    keys = np.asarray(row_keys_from_rows(prng_key(clf._seed_), X, stream))
    sigma = np.asarray(clf.sigma * clf.scale_, np.float32)
    draws = min(n_samples, clf.batch_size)
    rows = max(1, clf.batch_size // draws)
    bank = _selection_bank(clf._seed_, n_samples, d) if stream == SELECT else None
    try:
        diff = as_differentiable(clf.estimator_)
    except NotDifferentiableError:
        diff = None
    if diff is not None:
        def batch(xb, kb):
            return noise_counts(diff.fn, diff.params, xb, kb, sigma, n_samples=n_samples,
                                draws=draws, n_classes=n_classes, bank=bank)

        return map_batches(batch, [X, keys], rows, concurrent=True)
    # A black-box model: the same draws, handed to its predict in large batches.
    out = np.zeros((X.shape[0], n_classes), np.int64)
    for start in range(0, X.shape[0], rows):
        xb, kb = X[start:start + rows], jnp.asarray(keys[start:start + rows])
        for step in range(-(-n_samples // draws)):
            m = min(draws, n_samples - step * draws)
            Z = xb[:, None, :] + np.asarray(sigma * noise(kb, step, draws, d, bank))[:, :m]
            pred = _inner_predict(clf, Z.reshape(-1, d).astype(np.float64))
            idx = np.searchsorted(clf.classes_, pred).reshape(len(xb), m)
            flat = (np.arange(len(xb))[:, None] * n_classes + idx).ravel()
            out[start:start + len(xb)] += np.bincount(
                flat, minlength=len(xb) * n_classes).reshape(len(xb), n_classes)
    return out


class SmoothingStrategy(Strategy):
    """The smoothed classifier: votes of the base model under Gaussian noise."""

    method = "smoothing"
    norms = (2,)
    default_norm = 2

    def norm_error(self, clf):
        return (f"method='smoothing' certifies L2 radii (Gaussian noise); `norm` must be 2 "
                f"or None. Got norm={clf.norm!r} instead.")

    def fit(self, clf, estimator, X, X_checked, y, sample_weight, rng):
        noise_scale = clf.sigma * clf.scale_
        if is_jax_model(estimator):
            Xv, yv = estimator._validate_Xy(X, y, reset=True)
            estimator._fit_objective(Xv, yv, sample_weight, objective=NoiseObjective(),
                                     hp={"noise_scale": noise_scale})
            return "noise"
        n, d = X_checked.shape
        draws = rng.standard_normal((clf.n_augment, n, d)) * noise_scale
        X_aug = (X_checked[None] + draws).reshape(-1, d)
        if hasattr(X, "columns"):
            import pandas as pd

            X_aug = pd.DataFrame(X_aug, columns=X.columns)
        weight = None
        if sample_weight is not None:
            weight = np.tile(_check_sample_weight(sample_weight, X_checked), clf.n_augment)
        fit_plain(estimator, X_aug, np.tile(y, clf.n_augment), weight)
        return "noise augmentation"

    def layers(self, clf, estimator):
        return None

    def certify(self, clf, X, X_num):
        counts0 = counts(clf, X_num, SELECT, clf.n0)
        counts_n = counts(clf, X_num, ESTIMATE, clf.n)
        top, radius = certify_counts(counts0, counts_n, clf.sigma, clf.alpha)
        return clf.classes_[top], np.asarray(radius, np.float64)

    def _votes(self, clf, X):
        check_is_fitted(clf, "estimator_")
        X = validate_data(clf, X, reset=False, dtype=[np.float64, np.float32])
        return counts(clf, X, SELECT, clf.n0)

    def predict(self, clf, X):
        votes = self._votes(clf, X)  # checks fitted first
        return clf.classes_[np.argmax(votes, axis=1)]

    def predict_proba(self, clf, X):
        return self._votes(clf, X) / float(clf.n0)

    def has_proba(self, inner):
        return True

    def has_decision(self, inner):
        return False

    def view(self, clf):
        diff = as_differentiable(clf._inner)
        key = jax.random.fold_in(jax.random.PRNGKey(clf._seed_), VIEW)
        draws = jax.random.normal(key, (clf.n0, clf.n_features_in_), jnp.float32)
        return SmoothedSoftmax(diff.fn), (diff.params, draws * jnp.asarray(
            clf.sigma * clf.scale_, jnp.float32))
