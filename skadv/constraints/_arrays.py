"""The resolved constraints as arrays: pytrees traced into compiled attacks.

:meth:`FeatureConstraints.resolve <skadv.constraints.FeatureConstraints.resolve>`
builds a :class:`ConstraintArrays`; the projection, the repair, the checks and
the budget work on it, never on the user-facing spec.
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import jax

from . import _expressions as _ex


@jax.tree_util.register_static
@dataclass(frozen=True)
class RelationSpec:
    """The static part of :class:`Relations` (hashable: a compiled attack's cache key).

    ``relations`` are the parsed relations
    (:class:`skadv.constraints._expressions.Relation`) with columns resolved
    to indices, in the order given; ``row_names[i]`` names the relation of
    row ``i`` of ``G`` and ``row_equality[i]`` says whether that row is an
    equality; ``derived`` holds ``(column, expression)`` pairs, recomputed in
    order, named by ``derived_names``.
    """

    # Only what the computation depends on is compared (and hashed): systems
    # that differ in coefficients, names or texts share compiled code.
    relations: tuple = field(compare=False)
    row_names: tuple = field(compare=False)
    row_equality: tuple
    derived: tuple
    derived_names: tuple = field(default=(), compare=False)
    iterations: int = 6


class Relations(NamedTuple):
    """Resolved relational constraints (a pytree: arrays, plus a static spec).

    Linear relations ``G @ x <= b`` (rows marked in ``spec.row_equality``:
    ``==``) over the variables' units (``x = unit * v``: ``unit`` is 1 until
    :meth:`ConstraintArrays.rescale`). ``radius`` is the L-inf budget an
    attack imposes in the iterative projection (in the variables' units;
    ``inf``: none).
    """

    G: np.ndarray       # (k, d) float, in units of X
    b: np.ndarray       # (k,)
    unit: np.ndarray    # (d,) x = unit * v
    radius: np.ndarray  # () float
    spec: RelationSpec

    def with_radius(self, radius):
        """The same relations with the L-inf budget ``radius`` of the iterative projection."""
        return self._replace(radius=np.asarray(radius, dtype=np.asarray(self.G).dtype))

    def remap(self, index, n_features):
        """The same relations over ``n_features`` columns, column ``j`` moved to ``index[j]``."""
        index = np.asarray(index)
        G = np.zeros((len(self.b), n_features))
        G[:, index] = self.G
        unit = np.ones(n_features)
        unit[index] = self.unit

        def move(node):
            return _ex.resolve_columns(node, lambda j: int(index[j]))

        spec = self.spec
        relations = tuple(_ex.Relation(r.text, r.name, r.op, move(r.left), move(r.right))
                          for r in spec.relations)
        derived = tuple((int(index[t]), move(e)) for t, e in spec.derived)
        spec = RelationSpec(relations, spec.row_names, spec.row_equality, derived,
                            spec.derived_names, spec.iterations)
        return Relations(G, self.b, unit, self.radius, spec)


class ConstraintArrays(NamedTuple):
    """Resolved constraints as arrays (a pytree, traced into compiled attacks)."""

    lower: np.ndarray    # (d,) float, -inf where unbounded
    upper: np.ndarray    # (d,) float, +inf where unbounded
    mutable: np.ndarray  # (d,) bool
    integer: np.ndarray  # (d,) bool
    group: np.ndarray    # (d,) int32, one-hot group id or -1
    direction: np.ndarray = None  # (d,) int8: +1 increase only, -1 decrease only, 0 free
    relations: Relations = None   # linear relations and derived features

    def rescale(self, scale):
        """The same constraints for ``u = x / scale`` (per-feature relative budgets)."""
        out = self._replace(lower=self.lower / scale, upper=self.upper / scale)
        if self.relations is not None:
            rel = self.relations
            out = out._replace(relations=rel._replace(unit=rel.unit * scale))
        return out


def _derived_mask(spec, d):
    """``(d,)`` bool: the features ``spec`` derives (recomputes from others)."""
    mask = np.zeros(d, dtype=bool)
    for target, _ in spec.derived:
        mask[target] = True
    return mask
