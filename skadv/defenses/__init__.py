"""Defenses: meta-estimators that train or wrap a classifier to resist attacks."""

from .adversarial import AdversarialTrainingClassifier
from .certified import CertifiedClassifier
from .distillation import DistilledClassifier
from .masking import GradientMaskingClassifier

__all__ = [
    "AdversarialTrainingClassifier",
    "CertifiedClassifier",
    "DistilledClassifier",
    "GradientMaskingClassifier",
]
