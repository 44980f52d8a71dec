"""Certified radii of tree ensembles: Chen et al.'s clique bound or the exact MILP."""

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from ...attacks.trees import tree_ensemble
from ...verify import tree_certified_radius
from ._common import Strategy


class TreeStrategy(Strategy):
    """A tree ensemble trained as it is, certified by
    :func:`skadv.verify.tree_certified_radius` (``"bound"`` or ``"exact"``)."""

    norms = ("inf", 2, 1)
    searches_radius = True

    def __init__(self, method, kind):
        self.method = method
        self.kind = kind  # tree_certified_radius's method

    def default_estimator(self):
        # Small enough that the exact MILP stays fast; deployed models vary.
        return HistGradientBoostingClassifier(max_iter=20, max_depth=4)

    def layers(self, clf, estimator):
        # No network: check now that the trees can be read (a clear
        # UnsupportedModelError naming the models that can), not at certify.
        tree_ensemble(estimator)
        return None

    def tree_ensemble(self, clf):
        return tree_ensemble(clf.estimator_)

    def certify(self, clf, X, X_num):
        prediction = np.asarray(clf.estimator_.predict(X)).reshape(len(X_num))
        ens = tree_ensemble(clf.estimator_)
        radius = tree_certified_radius(
            ens, X_num, norm=clf.norm_, method=self.kind, eps=clf.max_radius_,
            feature_scale=clf.scale_)
        # Both radii are distances at which something happens: the MILP's is
        # that of an adversarial point (or a tie), the bound's one at which a
        # leaf comes into reach. Only the open ball is safe, so promise the
        # largest float below it (for both, so the bound stays <= the exact).
        radius = np.where(radius > 0, np.nextafter(radius, -np.inf), radius)
        # The certificate is about the ensemble as read; where the model's own
        # predict disagrees (it should not), nothing is promised.
        same = np.searchsorted(clf.classes_, prediction) == ens.predict(X_num)
        return prediction, np.where(same, radius, -1.0)
