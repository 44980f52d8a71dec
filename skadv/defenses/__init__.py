"""Defenses: meta-estimators that train or wrap a classifier to resist attacks."""

from .adversarial import AdversarialTrainingClassifier
from .certified import CertifiedClassifier
from .distillation import DistilledClassifier
from .masking import GradientMaskingClassifier
from .robust_trees import RobustBoostingClassifier, RobustForestClassifier, RobustTreeClassifier

__all__ = [
    "AdversarialTrainingClassifier",
    "CertifiedClassifier",
    "DistilledClassifier",
    "GradientMaskingClassifier",
    "RobustBoostingClassifier",
    "RobustForestClassifier",
    "RobustTreeClassifier",
]
