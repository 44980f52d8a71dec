"""skadv: adversarial attacks and defenses for scikit-learn, built on JAX."""

__version__ = "0.1.0.dev0"

from .models._differentiable import Differentiable, as_differentiable

__all__ = ["Differentiable", "as_differentiable", "__version__"]
