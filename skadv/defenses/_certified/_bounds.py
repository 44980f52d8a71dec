"""IBP / CROWN-IBP certified training of a skadv ReLU MLP and its bound radii."""

import warnings

import numpy as np
import jax
import jax.numpy as jnp

from ...utils._jax import map_batches
from ...exceptions import UnsupportedModelError
from ...verify import as_layers, certified_radius
from .._base import is_jax_model
from ..._core.train import BoundObjective
from ._common import Strategy

# Rows per compiled bound computation; the bisection holds a few arrays of
# (rows, n_spec, width) per layer.
_BOUND_ROWS = 256


def _bound_network_error(estimator, method):
    return TypeError(
        f"method={method!r} trains with bounds inside skadv's training engine and needs "
        f"skadv.models.MLPClassifier(activation='relu'). Got {estimator!r} instead. "
        "For a linear model use method='linear' (exact certificates); to certify an "
        "already trained scikit-learn ReLU MLPClassifier use method='milp'.")


def ramp_fraction(epoch, warmup, ramp):
    """Fraction of the final ``eps`` reached at ``epoch`` (0 during warm-up)."""
    if epoch < warmup:
        return 0.0
    if ramp == 0:
        return 1.0
    return min(1.0, (epoch - warmup + 1) / ramp)


class BoundStrategy(Strategy):
    """Train on the bounded worst case (IBP or CROWN-IBP); radii by bisection
    on the best of the IBP, CROWN-IBP and CROWN margins."""

    searches_radius = True

    def __init__(self, method):
        self.method = method

    def fit(self, clf, estimator, X, X_checked, y, sample_weight, rng):
        if not is_jax_model(estimator):
            raise _bound_network_error(estimator, self.method)
        Xv, yv = estimator._validate_Xy(X, y, reset=True)
        n_classes = len(np.unique(yv))
        try:
            as_layers(estimator._network(n_classes),
                      estimator._init_params(jax.random.PRNGKey(0), Xv.shape[1], n_classes))
        except UnsupportedModelError:
            raise _bound_network_error(estimator, self.method) from None
        max_iter = estimator.get_params().get("max_iter")
        if max_iter is not None and clf.eps > 0 and max_iter < clf.warmup + clf.ramp:
            warnings.warn(
                f"The inner model's max_iter={max_iter} ends before warmup + ramp = "
                f"{clf.warmup + clf.ramp} epochs: training stops before eps reaches "
                f"{clf.eps}. Raise max_iter or shorten the ramp.", UserWarning)
        eps, kappa, warmup, ramp = float(clf.eps), float(clf.kappa), clf.warmup, clf.ramp

        def schedule(epoch):
            t = ramp_fraction(epoch, warmup, ramp)
            return {"eps": eps * t, "kappa": 1.0 - t * (1.0 - kappa), "beta": 1.0 - t}

        hp = {"eps": eps, "kappa": kappa, "beta": 0.0, "scale": clf.scale_}
        estimator._fit_objective(Xv, yv, sample_weight, objective=BoundObjective(self.method),
                                 hp=hp, hp_schedule=schedule)
        return self.method

    def radius(self, clf, X, U, label):
        with jax.enable_x64(True):
            layers = [{k: jnp.asarray(v) for k, v in layer.items()} for layer in clf.layers_]

            def batch(ub, lb):
                return certified_radius(layers, jnp.asarray(ub), jnp.asarray(lb),
                                        clf.max_radius_, norm=clf.norm_)

            radius = map_batches(batch, [U, label.astype(np.int32)], _BOUND_ROWS)
        return np.asarray(radius, np.float64)
