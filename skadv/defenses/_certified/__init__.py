"""The strategies behind :class:`~skadv.defenses.CertifiedClassifier`: one per method.

:class:`CertifiedClassifier` validates its parameters and data, then hands
every method-specific step to the strategy of its ``method`` -- looked up
once, in :func:`strategy` -- so that no ``if method == ...`` branch lives in
the estimator. A strategy is stateless: the fitted state (``estimator_``,
``layers_``, ``max_radius_``, ...) lives on the estimator, so pickling and
cloning see nothing new.

- :mod:`._smoothing`: randomized smoothing (Cohen et al.), noise training and
  the CERTIFY sampler;
- :mod:`._bounds`: IBP / CROWN-IBP certified training and bound radii;
- :mod:`._linear`: exact radii of linear models;
- :mod:`._milp`: exact L-inf radii of small ReLU networks by MILP;
- :mod:`._trees`: tree ensembles (scikit-learn, XGBoost, LightGBM, CatBoost),
  by the clique bound or the exact MILP of :func:`skadv.verify.tree_certified_radius`;
- :mod:`._common`: the base strategy (plain training, delegating prediction)
  and the float64 layers they share.
"""

from ._bounds import BoundStrategy
from ._linear import LinearStrategy
from ._milp import MILPStrategy
from ._smoothing import SmoothedSoftmax, SmoothingStrategy
from ._trees import TreeStrategy

__all__ = ["METHODS", "SmoothedSoftmax", "strategy"]

_STRATEGIES = {
    "smoothing": SmoothingStrategy(),
    "ibp": BoundStrategy("ibp"),
    "crown-ibp": BoundStrategy("crown-ibp"),
    "linear": LinearStrategy(),
    "milp": MILPStrategy(),
    "tree-bound": TreeStrategy("tree-bound", "bound"),
    "tree-exact": TreeStrategy("tree-exact", "exact"),
}
METHODS = tuple(_STRATEGIES)


def strategy(method):
    """The strategy of ``method`` (already validated against :data:`METHODS`)."""
    return _STRATEGIES[method]
