"""skadv: adversarial attacks and defenses for scikit-learn, built on JAX."""

__version__ = "0.1.0.dev0"

# First, before anything can start JAX: in a joblib/dask worker process, give
# XLA's CPU thread pool the worker's thread budget (skadv/utils/_parallel.py).
from .utils._parallel import limit_worker_threads as _limit_worker_threads

_limit_worker_threads()

# Also before any compilation: compiled programs persist across processes in
# a per-user cache folder, so a first call in a new process loads rather
# than compiles (skadv/_config.py; SKADV_CACHE_DIR moves or disables it).
from ._config import get_config, set_config, setup_cache as _setup_cache

_setup_cache()

from .exceptions import NotDifferentiableError, UnsupportedModelError
from .models._differentiable import Differentiable, as_differentiable
from ._study import Study, study

# Last: the objects the imports left live until the process exits; freeze
# them so that the first full garbage collection, due while the first attack
# is traced, does not rescan them (skadv/_config.py; SKADV_GC_FREEZE=0: not).
from ._config import freeze_import_heap as _freeze_import_heap

_freeze_import_heap()

__all__ = ["Differentiable", "NotDifferentiableError", "Study", "UnsupportedModelError",
           "as_differentiable", "get_config", "set_config", "study", "__version__"]

