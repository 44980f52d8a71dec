"""Bounds and exact checks for ReLU networks: IBP, CROWN, CROWN-IBP and MILP.

Pure numerical code (NumPy, SciPy, JAX; no scikit-learn). Networks are lists of
dense layers ``[{"W": (d_in, d_out), "b": (d_out,)}, ...]`` with ReLU between
them; :func:`as_layers` produces one from a skadv network (folding a leading
scaler and binary ``[0, f]`` logits in).

- :func:`interval_bounds` — interval bound propagation (Gowal et al. 2018).
- :func:`crown_bounds` — CROWN and CROWN-IBP (Zhang et al. 2018, 2020), L∞
  and L2 balls, optional specification matrix (:func:`margin_matrix`).
- :func:`min_margin`, :func:`verify`, :func:`min_adversarial_linf` — exact
  answers by MILP (Tjeng et al. 2019) for small networks.
- :func:`certified_radius` — the largest radius the best of those bounds
  certifies, per row, by bisection.
- :mod:`skadv.verify.smoothing` — randomized smoothing (Cohen et al. 2019):
  Clopper–Pearson bounds, L2 radii and compiled Monte Carlo sampling.
"""

from ._network import as_layers, forward, margin_matrix
from .crown import crown_bounds
from .interval import interval_bounds
from .milp import min_adversarial_linf, min_margin, verify
from .radius import certified_radius
from .trees import tree_certified_radius

__all__ = [
    "as_layers",
    "certified_radius",
    "crown_bounds",
    "forward",
    "interval_bounds",
    "margin_matrix",
    "min_adversarial_linf",
    "min_margin",
    "tree_certified_radius",
    "verify",
]
