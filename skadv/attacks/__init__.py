"""Attacks: scikit-learn transformers that return adversarial rows."""

from ._base import BaseAttack
from .white_box import FGSMAttack, PGDAttack

__all__ = ["BaseAttack", "FGSMAttack", "PGDAttack"]
