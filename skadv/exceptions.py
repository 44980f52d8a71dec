"""skadv's exceptions (scikit-learn's live in :mod:`sklearn.exceptions`)."""

__all__ = ["NotDifferentiableError", "UnsupportedModelError"]


class UnsupportedModelError(TypeError):
    """The victim is of a kind this attack or verifier cannot work with.

    A ``TypeError``, as for any argument of the wrong kind. Evaluations over
    many (model, attack) pairs (:func:`skadv.evaluation.robustness_report`)
    catch exactly this error to mark a pair "not applicable"; any other
    exception is a bug and propagates.
    """


class NotDifferentiableError(UnsupportedModelError):
    """The model has no JAX-differentiable form, so white-box attacks cannot run.

    Raised by :func:`skadv.as_differentiable`; the message names the black-box
    attacks (``SquareAttack``, ``HopSkipJumpAttack``) and ``TransferAttack``
    as the way to attack such a model.
    """
