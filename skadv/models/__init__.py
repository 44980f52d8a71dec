"""JAX-differentiable classifiers with scikit-learn's API."""

from ._base import JaxClassifier
from ._differentiable import Differentiable, as_differentiable
from .linear import LogisticRegression
from .mlp import MLPClassifier

__all__ = [
    "Differentiable",
    "JaxClassifier",
    "LogisticRegression",
    "MLPClassifier",
    "as_differentiable",
]
