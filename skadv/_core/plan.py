"""One description of a white-box attack that both ``transform`` and fused training run.

A white-box attack is fully described by a pure core of :mod:`.attacks`, its
static options (norm, loss, steps, ...), its traced scalars (``eps``,
``step_size``, ...), the resolved feature constraints and the per-feature
unit of its budget. :class:`AttackPlan` holds exactly that, as a pytree whose
static part (core and options) is hashable: passed into ``jax.jit`` it is
traced, and a new budget, new constraint values or new data reuse the
compiled code. :class:`~skadv.attacks.PGDAttack` and the other white-box
attacks build their plan at ``fit`` and run it on batches;
:class:`~skadv.defenses.AdversarialTrainingClassifier` builds the same plan
from the attack it is given and runs it inside its compiled training step, so
it trains against the attack the user passed, constraints included -- never
a reinterpretation of its parameters.
"""

import inspect
from functools import partial

import jax
import jax.numpy as jnp

from ..constraints._project import project_relaxed, recompute_derived

__all__ = ["AttackPlan"]


@jax.tree_util.register_pytree_node_class
class AttackPlan:
    """A white-box attack as data: core, static options, traced scalars, constraints.

    Parameters
    ----------
    core : callable
        A pure attack core of :mod:`skadv._core.attacks` (``pgd``, ``fgsm``,
        ``apgd``, ``cw_l2``, ``deepfool``).
    static : tuple of (str, hashable)
        Options that change the computation's structure (``norm``, ``loss``,
        ``steps``, ...), sorted by name.
    traced : dict of str to float
        Scalars that are traced, not compiled in (``eps``, ``step_size``, ...).
    constraints : ConstraintArrays
        The constraints in scaled units ``u = x / scale``, with the L-inf
        radius of in-step relation projections set.
    scale : array of shape (n_features,)
        Per-feature unit of the budget.
    """

    def __init__(self, core, static, traced, constraints, scale):
        self.core = core
        self.static = static
        self.traced = traced
        self.constraints = constraints
        self.scale = scale

    def tree_flatten(self):
        return (self.traced, self.constraints, self.scale), (self.core, self.static)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(aux[0], aux[1], *children)

    def __repr__(self):
        options = ", ".join(f"{k}={v!r}" for k, v in self.static)
        return f"AttackPlan({self.core.__name__}, {options})"

    def _accepts(self, name):
        return name in inspect.signature(self.core).parameters

    def with_options(self, **options):
        """The plan with these static options set, those the core accepts."""
        static = dict(self.static)
        static.update({k: v for k, v in options.items() if self._accepts(k)})
        return AttackPlan(self.core, tuple(sorted(static.items())), self.traced,
                          self.constraints, self.scale)

    def scaled(self, fraction):
        """The plan with its budget (``eps``, ``step_size`` and the radius of the
        relation projection) multiplied by ``fraction``: an eps warm-up."""
        traced = {k: (v * fraction if k in ("eps", "step_size") else v)
                  for k, v in self.traced.items()}
        c = self.constraints
        if c.relations is not None:
            c = c._replace(relations=c.relations._replace(
                radius=c.relations.radius * fraction))
        return AttackPlan(self.core, self.static, traced, c, self.scale)

    def run_scaled(self, logits_fn, u, y, key):
        """Run the attack on scaled rows ``u = x / scale``.

        Parameters
        ----------
        logits_fn : callable
            ``logits_fn(u) -> (n, n_classes)``, the victim seen from scaled rows.
        u : jax.Array of shape (n, n_features)
        y : jax.Array of shape (n,) int
        key : jax.Array
            One key, or one per row ``(n, 2)``.

        Returns
        -------
        u_adv : jax.Array of shape (n, n_features)
        success : jax.Array of shape (n,) bool
            By the float32 logits.
        """
        rel = self.constraints.relations
        if rel is not None and rel.spec.derived:
            # The loss sees a derived feature (debt_ratio) move with its inputs
            # (debt): gradients flow through the relation.
            fn = lambda v: logits_fn(recompute_derived(rel, v, xp=jnp))  # noqa: E731
        else:
            fn = logits_fn
        return self.core(fn, u, y, key=key, project=partial(project_relaxed, self.constraints),
                         **self.traced, **dict(self.static))

    def run(self, logits_fn, x, y, key):
        """Run the attack on rows ``x`` in the units of ``X``; returns ``x_adv``.

        ``logits_fn(x) -> (n, n_classes)``. Derived features of the returned
        rows are recomputed from their inputs (what the model will see).
        """
        scale = self.scale
        u_adv, _ = self.run_scaled(lambda v: logits_fn(v * scale), x / scale, y, key)
        rel = self.constraints.relations
        if rel is not None and rel.spec.derived:
            u_adv = recompute_derived(rel, u_adv, xp=jnp)
        return u_adv * scale
