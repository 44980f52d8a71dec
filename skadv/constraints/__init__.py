"""Tabular feature constraints: what an adversarial row is allowed to be.

A :class:`FeatureConstraints` says, per feature, the range of valid values, which
features an attacker cannot change (age, a contract's start date), which take
integer values (number of open accounts) and which columns are the one-hot
encoding of one categorical feature. Attacks use it twice:

* inside every iterative step, through the pure, jit-able :func:`project_relaxed`
  on :class:`ConstraintArrays` (box, immutability; integers and one-hot groups
  are relaxed to their continuous hull there);
* once at the end, through :meth:`FeatureConstraints.repair`, which rounds
  integers, snaps one-hot groups, and re-imposes the box and the perturbation
  budget exactly, in float64.

Projecting towards the clean row never increases a perturbation's norm (each
coordinate moves towards its clean value), so box, immutability and budget can
be imposed one after the other without breaking each other.

Relational constraints
----------------------
``relations`` are readable expressions over column names
(:mod:`._expressions`, a small parser -- nothing is ``eval``-ed), of two
kinds, handled differently:

* **linear** relations, ``lo <= a @ x <= hi`` (``"open_credit <= total_credit"``,
  ``"share_a + share_b == 1"``), are *projected*: the repair returns the
  Euclidean projection (in units of the budget's scale) of the attack's point
  onto box, immutability, monotonicity, the L-inf budget and every linear
  relation, computed for all rows at once by a projected Newton method on the
  dual (:func:`project_polytope`; exactness is tested against HiGHS). Integer
  and one-hot features in a relation are then rounded in a direction that
  keeps the relations, and the continuous features re-projected; a row where
  that fails gets the exact nearest point (L1) of a per-row MILP (HiGHS).
  L2 and L1 budgets are imposed by shrinking towards the clean row.
* **derived** features, ``column == expression`` with a non-linear expression
  of other columns (``"debt_ratio == debt / income"``), are *recomputed* from
  their inputs; when the recomputed value leaves its bounds or the budget, the
  row is pulled back towards the clean row until it is valid.

``increase_only`` / ``decrease_only`` features are per-row bounds (``x' >= x`` /
``x' <= x``), part of the box. Inside the iterative attacks,
:func:`project_relaxed` applies the same projection approximately (a few
Newton iterations, jit-able) and recomputes derived features; every attack's
final repair is exact, and an attack returns a row it cannot make valid
unchanged.

Submodules, each importing only those above it in this list:
:mod:`._expressions` the relation grammar; :mod:`._arrays` the pytrees
(:class:`ConstraintArrays`); :mod:`._polytope` the polytope solver;
:mod:`._project` the jit-able projection; :mod:`._budget` norms and budgets;
:mod:`._checks` violations; :mod:`._repair` the exact repair; :mod:`._spec`
:class:`FeatureConstraints`.
"""

from ._arrays import ConstraintArrays, Relations, RelationSpec
from ._budget import budget_mask, perturbation_norm
from ._polytope import project_polytope
from ._project import project_relaxed, recompute_derived
from ._spec import FeatureConstraints

__all__ = [
    "ConstraintArrays",
    "FeatureConstraints",
    "Relations",
    "budget_mask",
    "perturbation_norm",
    "project_polytope",
    "project_relaxed",
    "recompute_derived",
]
