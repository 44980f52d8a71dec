"""skadv: adversarial attacks and defenses for scikit-learn, built on JAX."""

__version__ = "0.1.0.dev0"

# First, before anything can start JAX: in a joblib/dask worker process, give
# XLA's CPU thread pool the worker's thread budget (skadv/utils/_parallel.py).
from .utils._parallel import limit_worker_threads as _limit_worker_threads

_limit_worker_threads()

from .exceptions import NotDifferentiableError, UnsupportedModelError
from .models._differentiable import Differentiable, as_differentiable

__all__ = ["Differentiable", "NotDifferentiableError", "UnsupportedModelError",
           "as_differentiable", "__version__"]
