"""The base of white-box attacks: the victim's JAX view and the attack's plan.

:class:`WhiteBoxAttack` turns a fitted attack into its
:class:`~skadv._core.plan.AttackPlan` (:func:`make_plan`) and runs it on
batches; :class:`~skadv.defenses.AdversarialTrainingClassifier` asks an
unfitted attack for the same plan (``_training_plan``) and runs it in its
training step. The public attacks are in :mod:`.white_box`.
"""

from dataclasses import dataclass
from functools import partial

import numpy as np
import jax

from .._core.plan import AttackPlan
from ..constraints import FeatureConstraints
from ..models._differentiable import as_differentiable
from ..utils._jax import fold_in_rows, map_batches
from ..utils._parallel import N_JOBS_DOC
from ._base import BaseAttack
from ._budget import canonical_norm, resolve_budget

__all__ = ["WhiteBoxAttack", "fill_doc", "make_plan", "step_norm"]


# Parameter text shared by the attacks' docstrings, written once.
_DOC = {
    "constraints": """constraints : FeatureConstraints, default=None
        Feature constraints every returned row satisfies; iterative attacks
        project onto them after every step.
    feature_scale : {"std"} or array-like of shape (n_features,), default=None
        Makes ``eps`` and the reported distances relative per feature:
        ``"std"`` uses the standard deviation of the ``X`` given to :meth:`fit`.
    targeted : bool, default=False
        If True, ``y`` holds target labels to reach.""",
    "batching": """batch_size : int, default=1024
        Rows per compiled call; bounds memory (one call per core runs at
        once, the results unchanged).
    verbose : bool or int, default=False
        Progress bar (tqdm) over the batches of long runs.
    """ + N_JOBS_DOC,
    "attributes": """success_ : ndarray of bool, shape (n_samples,)
        Rows the victim's own ``predict`` misclassifies (or puts in the target
        class), from the last :meth:`transform`.
    perturbation_ : ndarray of shape (n_samples,)
        Norm of each returned perturbation (zero for unsuccessful rows), in
        the units of ``eps``.
    valid_before_repair_ : ndarray of bool, shape (n_samples,)
        Rows whose proposal satisfied every constraint before the final
        repair (how often the search itself stays valid).
    scale_ : ndarray of shape (n_features,)
        Per-feature unit of ``eps``.
    norm_ : {"inf", 2, 1}
        The norm, spelled canonically.
    constraints_ : ConstraintArrays
        The constraints resolved for the columns seen in :meth:`fit`.
    n_features_in_ : int
        Number of features seen during :meth:`fit`.
    feature_names_in_ : ndarray of str
        Column names seen during :meth:`fit`, when ``X`` was a DataFrame.""",
}


def fill_doc(cls):
    """Put the shared parameter text into ``cls``'s docstring."""
    for key, text in _DOC.items():
        cls.__doc__ = cls.__doc__.replace("{" + key + "}", text)
    return cls


@dataclass(frozen=True)
class ScaledInput:
    """``fn`` seen from scaled inputs ``u = x / scale``; params ``(inner, scale)``."""

    fn: object

    def __call__(self, params, U):
        inner, scale = params
        return self.fn(inner, U * scale)


@partial(jax.jit, static_argnames=("fn",))
def _run(fn, params, plan, u, y, keys):
    """One compiled call of an attack plan on a batch.

    Cached by (network structure, the plan's core and static options,
    shapes): new victims of the same architecture, new budgets and new data
    reuse the compiled code. Row ``i``'s key is ``fold_in(key, i)`` for its
    global index ``i`` (:func:`~skadv.utils._jax.fold_in_rows`, derived on
    the host), so a row's result does not depend on the batching.
    """
    return plan.run_scaled(lambda z: fn(params, z), u, y, keys)


def step_norm(norm, arrays):
    """The norm of the iterative steps (``"inf-polytope"`` inside linear relations).

    With linear relations and an L-inf budget, the steps follow the gradient
    and the in-step projection imposes ball, box and relations at once
    (:data:`skadv._core.attacks.NORMS`).
    """
    rel = arrays.relations
    if norm == "inf" and rel is not None and len(rel.b):
        return "inf-polytope"
    return norm


def make_plan(core, *, norm, eps, scale, arrays, traced, static, freeze_discrete=False):
    """The :class:`~skadv._core.plan.AttackPlan` of a white-box attack.

    Parameters
    ----------
    core : callable
        Core of :mod:`skadv._core.attacks`.
    norm : {"inf", 2, 1}
    eps : float or None
        The budget (None: unbounded), in units of ``scale``.
    scale : ndarray of shape (n_features,)
    arrays : ConstraintArrays
        Resolved constraints, in the units of ``X``.
    traced, static : dict
        The core's traced scalars and static options.
    freeze_discrete : bool, default=False
        Hold integer and one-hot features fixed (they become immutable).

    Returns
    -------
    plan : AttackPlan
    """
    c = arrays.rescale(scale)
    mutable = np.asarray(c.mutable, bool)
    discrete = np.asarray(c.integer, bool) | (np.asarray(c.group) >= 0)
    if freeze_discrete:
        mutable = mutable & ~discrete
    if eps is not None:
        # A discrete feature the budget cannot move by one unit stays put:
        # relaxed, the steps would lean on a move the final rounding undoes.
        mutable = mutable & ~(discrete & (eps * scale < 1.0 - 1e-9))
    carr = c._replace(lower=np.asarray(c.lower, np.float32),
                      upper=np.asarray(c.upper, np.float32), mutable=mutable)
    if c.relations is not None:
        # Linear relations projected inside every step within the L-inf
        # budget (the final repair is exact); derived features enter the loss.
        rel = c.relations
        radius = eps if norm == "inf" and eps is not None else np.inf
        rel = rel._replace(G=np.asarray(rel.G, np.float32), b=np.asarray(rel.b, np.float32),
                           unit=np.asarray(rel.unit, np.float32)).with_radius(radius)
        carr = carr._replace(relations=rel)
    traced = {k: np.float32(v) for k, v in traced.items()}
    static = tuple(sorted(static.items(), key=lambda kv: kv[0]))
    return AttackPlan(core, static, traced, carr, np.asarray(scale, np.float32))


class WhiteBoxAttack(BaseAttack):
    """Base of gradient attacks: the victim must have a differentiable view.

    Subclasses implement ``_core_options(norm, arrays) -> (core, traced,
    static)``; :meth:`_plan` turns them into the attack's
    :class:`~skadv._core.plan.AttackPlan`, which ``transform`` runs on
    batches and adversarial training inside its training step.
    """

    def _check_victim(self):
        super()._check_victim()
        as_differentiable(self.estimator)  # NotDifferentiableError naming the black-box attacks

    def _check_loss(self, loss, n_classes):
        need = 4 if self.targeted else 3
        if loss == "dlr" and n_classes < need:
            raise ValueError(
                f"loss='dlr' needs at least {need} classes"
                f"{' for a targeted attack' if self.targeted else ''} (it divides by "
                f"the gap between the largest and the third largest logit); the victim "
                f"has {n_classes}. Use loss='ce' or loss='cw' instead.")

    def _fit_extra(self, X):
        loss = getattr(self, "loss", None)
        if loss is not None:
            self._check_loss(loss, len(self.estimator.classes_))

    def _plan(self, freeze_discrete=False):
        """This fitted attack's plan."""
        core, traced, static = self._core_options(self.norm_, self.constraints_)
        return make_plan(core, norm=self.norm_, eps=self._eps(), scale=self.scale_,
                         arrays=self.constraints_, traced=traced, static=static,
                         freeze_discrete=freeze_discrete)

    def _training_plan(self, X, n_classes, feature_names=None):
        """The plan of this (unfitted) attack for training on rows ``X``.

        What the attack would run at ``fit(X)`` on a victim with ``n_classes``
        classes: its parameters validated, its budget and constraints resolved
        on ``X``, its own core and options -- nothing reinterpreted.
        """
        self._validate_params()
        norm = canonical_norm(self.norm)
        if norm not in self._supported_norms:
            raise ValueError(
                f"{type(self).__name__} supports norm in {list(self._supported_norms)}. "
                f"Got norm={self.norm!r} instead.")
        if self.targeted:
            raise ValueError(
                "A targeted attack cannot train a defense (it moves rows towards "
                "given targets, not away from their labels). Use targeted=False.")
        loss = getattr(self, "loss", None)
        if loss is not None:
            self._check_loss(loss, n_classes)
        scale, arrays = resolve_budget(self.constraints, self.feature_scale, X, feature_names)
        core, traced, static = self._core_options(norm, arrays)
        return make_plan(core, norm=norm, eps=self._eps(), scale=scale, arrays=arrays,
                         traced=traced, static=static)

    def _run_core(self, U, y_idx, key, rows, *, freeze_discrete=False):
        """Run the attack's plan over fixed-shape batches of ``U``; return ``U_adv``."""
        diff = as_differentiable(self.estimator)
        if np.all(self.scale_ == 1.0):  # absolute budgets: no rescaling per forward
            fn, params = diff.fn, diff.params
        else:
            fn = ScaledInput(diff.fn)
            params = (diff.params, np.asarray(self.scale_, np.float32))
        plan = self._plan(freeze_discrete)

        def batch(xb, yb, kb):
            return _run(fn, params, plan, xb, yb, kb)

        U_adv, _ = map_batches(batch, [U, y_idx, fold_in_rows(key, rows)],
                               self.batch_size, verbose=self.verbose,
                               desc=type(self).__name__, concurrent=True)
        return U_adv

    def _generate(self, U, y_idx, key, rows):
        return self._run_core(U, y_idx, key, rows), {}

    def _run_minimal(self, U, y_idx, key, rows):
        """Run a minimal-distance plan; redo the rows rounding would undo.

        A minimal step lands just past the boundary, so rounding its integer
        features or snapping its one-hot groups (the final repair) often
        moves the row back. Those rows are attacked again with the discrete
        features held fixed. The second run uses the same compiled code.
        """
        U_adv = self._run_core(U, y_idx, key, rows)
        c = self.constraints_
        discrete = (np.asarray(c.integer, bool) | (np.asarray(c.group) >= 0)) & c.mutable
        if not discrete.any():
            return U_adv, {}
        X = U.astype(np.float64) * self.scale_
        Z = (self.constraints or FeatureConstraints()).repair(
            U_adv * self.scale_, X, eps=self._eps(), norm=self.norm_, scale=self.scale_,
            arrays=c)
        labels = np.asarray(self.estimator.classes_)[y_idx]
        undone = ~self._is_adversarial(Z.astype(U.dtype), labels)
        if undone.any():
            again = self._run_core(U, y_idx, key, rows, freeze_discrete=True)
            U_adv = np.where(undone[:, None], again, U_adv)
        return U_adv, {}
