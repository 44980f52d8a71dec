"""Defenses: meta-estimators that train or wrap a classifier to resist attacks.

The names are loaded on first use: the models import this package's training
engine (``skadv._core.train``), and the defenses import the models, so an
eager import here would be circular.
"""

from importlib import import_module

# public name -> submodule that defines it
_LAZY = {
    "AdversarialTrainingClassifier": ".adversarial",
    "CertifiedClassifier": ".certified",
    "DistilledClassifier": ".distillation",
    "GradientMaskingClassifier": ".masking",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
