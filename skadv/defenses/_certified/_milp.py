"""Exact L-inf radii of a small ReLU network: one MILP per row (Tjeng et al.)."""

import numpy as np

from ...verify import min_adversarial_linf
from ._common import Strategy, margins


class MILPStrategy(Strategy):
    """Exact L-inf radii by mixed-integer programming, capped at ``max_radius_``."""

    method = "milp"
    norms = ("inf",)
    searches_radius = True

    def norm_error(self, clf):
        return (f"method='milp' certifies L∞ radii; `norm` must be 'inf' or None. Got "
                f"norm={clf.norm!r} instead. Use method='crown-ibp' or 'linear' for L2.")

    def radius(self, clf, X, U, label):
        centre = np.min(margins(clf.layers_, U, label), axis=1) > 0
        radius = np.full(len(label), -1.0)
        for i in np.flatnonzero(centre):  # one MILP per row: there is no batched MILP
            r, _ = min_adversarial_linf(clf.layers_, U[i], int(label[i]),
                                        max_eps=clf.max_radius_)
            radius[i] = min(r, clf.max_radius_)
        return radius
