"""Attacks: scikit-learn transformers that return adversarial rows."""

from ._base import BaseAttack
from .adaptive import BPDA, EOT
from .black_box import HopSkipJumpAttack, SquareAttack, TransferAttack
from .constrained import ConstrainedAdaptiveAttack
from .trees import ExactTreeAttack, GreedyTreeAttack
from .white_box import (
    AutoPGDAttack,
    CarliniWagnerL2Attack,
    DeepFoolAttack,
    FGSMAttack,
    PGDAttack,
)

__all__ = [
    "AutoPGDAttack",
    "BPDA",
    "BaseAttack",
    "CarliniWagnerL2Attack",
    "ConstrainedAdaptiveAttack",
    "DeepFoolAttack",
    "EOT",
    "ExactTreeAttack",
    "FGSMAttack",
    "GreedyTreeAttack",
    "HopSkipJumpAttack",
    "PGDAttack",
    "SquareAttack",
    "TransferAttack",
]
