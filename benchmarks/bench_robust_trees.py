"""Robust tree training: skadv's robust boosting and forests against natural XGBoost (and GROOT).

In one run, for two tasks with features min-max scaled to [0, 1] on the
training rows (test rows clipped into [0, 1]):

* ``breast_cancer`` (569 x 30), split 75/25 stratified with seed 0;
* ``make_classification(n_samples=2000, n_features=12, n_informative=6,
  n_redundant=2, class_sep=2.0, random_state=0)``, same split;

it fits 20 trees of depth 4 each -- natural ``xgboost.XGBClassifier``,
skadv's ``RobustBoostingClassifier`` and ``RobustForestClassifier`` (depth 3
and no bootstrap: see Measured) trained at ``--eps`` (default 0.1), and
GROOT's ``GrootRandomForestClassifier`` when ``groot-trees`` is installed --
and prints per model, on the first ``--rows`` test rows:

* clean accuracy;
* exact robust accuracy at ``--eps``: rows classified correctly whose exact
  minimal adversarial distance (``ExactTreeAttack``, a MILP per row) exceeds
  ``eps``;
* certified accuracy: rows classified correctly whose
  ``tree_certified_radius(method="bound")`` exceeds ``eps`` (never above the
  exact robust accuracy: checked);
* fit time (seconds, wall clock, this machine);

and the same for a robust linear model, for reference (see Measured).

Then the fit time of the same models on 10000 x 20 rows
(``make_classification``) for each model, and the ratio to XGBoost.

Run: ``python benchmarks/bench_robust_trees.py [--rows 200] [--eps 0.1]``.

Measured (2 shared cores, eps 0.1; clean / exact robust accuracy):

=================  ===========  ==============  ============
task               XGBoost      RobustBoosting  RobustForest
=================  ===========  ==============  ============
breast_cancer      0.951 0.566  0.909 0.734     0.916 0.741
classification-12  0.965 0.570  0.960 0.740     0.955 0.780
=================  ===========  ==============  ============

Robust training gains 17-21 points of exact robust accuracy, not the 25 of
issue 18: the models sit about where one feature's robust split leaves them
(robust boosting on the single best feature alone: 0.713 and 0.740). Over
three split seeds the forest gains 3-4 points at depth 3 without bootstrap
(used here); beyond that, no change tried moved either model by more than the
3-5 points another split seed moves it: a tighter worst case in boosting (per
row, up to 16 reachable cells of the ensemble instead of the per-tree sum),
dropping the training rows no classifier can keep robust (adversarial
pruning), learning rate, L2 up to 1000, leaf size, bins, training eps from
0.08 to 0.3 (0.15 and up lose clean accuracy), fewer features, or larger
models (60 trees of depth 6-8: worse).

For scale, the last row of each task is not a tree: the robust logistic
regression at ``eps`` (its worst-case margin is exact in closed form, so its
robust training is convex and its robust accuracy exact). It reads 0.909 /
0.727 and 0.960 / 0.740 (clean / exact robust; same run, at 5c5c9d3): below
both robust tree models. A test-only upper bound on any classifier's robust
accuracy (pairs of opposite-label test rows within 2 eps of each other cannot
both be robust; maximum matching, computed once outside this benchmark) is
0.909 and 0.945.

The papers' own breast-cancer (LIBSVM's 10-feature Wisconsin set, the
authors' scaling; only LT-Attack's 500-row test file is at hand, so it is
split 75/25 here), at their budget eps 0.3, when ``../shared/peer_trees`` is
present: natural XGBoost 0.992 / 0.392, RobustBoosting 1.000 / 0.944,
RobustForest 1.000 / 0.920, robust linear 0.848 / 0.808. There the robust
models gain 53-55 points, twice the issue's 25, at equal or better clean
accuracy; at eps 0.1 on it every model is 0.97-0.99 robust. The +25 of issue 18 is asked on
scikit-learn's 30-feature breast_cancer at eps 0.1, where no model tried
here, trees or linear, comes near.
"""

import argparse
import os
import time

import numpy as np
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from skadv.attacks import ExactTreeAttack
from skadv.defenses import RobustBoostingClassifier, RobustForestClassifier
from skadv.verify import tree_certified_radius


def tasks():
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", X, y
    X, y = make_classification(n_samples=2000, n_features=12, n_informative=6,
                               n_redundant=2, class_sep=2.0, random_state=0)
    yield "classification-12", X, y


def split(X, y):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = MinMaxScaler().fit(Xtr)
    return scaler.transform(Xtr), np.clip(scaler.transform(Xte), 0.0, 1.0), ytr, yte


def models(eps, n_jobs):
    import xgboost

    out = {
        "XGBoost (natural)": lambda d: xgboost.XGBClassifier(n_estimators=20, max_depth=4,
                                                           n_jobs=n_jobs),
        "RobustBoosting": lambda d: RobustBoostingClassifier(
            20, eps=eps, max_depth=4, learning_rate=0.5, n_jobs=n_jobs),
        # Depth 3 on every row: over three splits (seeds 0-2) 3-4 points more exact
        # robust accuracy than depth 4 with bootstrap, at the same clean accuracy.
        "RobustForest": lambda d: RobustForestClassifier(
            20, eps=eps, max_depth=3, bootstrap=False, random_state=0, n_jobs=n_jobs),
    }
    try:
        from groot.model import GrootRandomForestClassifier
    except ImportError:  # main() says so, once
        pass
    else:
        # GROOT's attack model: a radius per feature.
        out["GROOT forest"] = lambda d: GrootRandomForestClassifier(
            n_estimators=20, max_depth=4, attack_model=[eps] * d, random_state=0)
    return out


def evaluate(model, Xtr, Xte, yte, eps):
    correct = model.predict(Xte) == yte
    attack = ExactTreeAttack(model, eps=eps).fit(Xtr)
    attack.fit_transform(Xte, yte)
    robust = correct & (attack.minimal_distance_ > eps)
    radius = tree_certified_radius(model, Xte, method="bound")
    certified = correct & (radius > eps)
    assert not np.any(certified & ~robust), "a certified row was attacked within eps"
    return correct.mean(), robust.mean(), certified.mean()


def robust_linear(Xtr, ytr, Xte, yte, eps):
    """A reference, not a tree: the robust logistic regression at ``eps``.

    A linear score ``w.x + b`` has the exact L-inf worst-case margin
    ``s (w.x + b) - eps ||w||_1`` (s = +-1 the label), so its robust training
    is convex: the logistic loss of that margin, minimised by L-BFGS-B over
    ``w = p - q`` with ``p, q >= 0``. Returns clean and exact robust accuracy.
    """
    from scipy.optimize import minimize

    s, d = 2.0 * ytr - 1.0, Xtr.shape[1]

    def loss(theta):
        p, q, b = theta[:d], theta[d:2 * d], theta[-1]
        m = s * (Xtr @ (p - q) + b) - eps * np.sum(p + q)
        dm = -0.5 * (1.0 - np.tanh(0.5 * m)) / len(m)  # d mean(log(1 + e^-m)) / dm
        g = Xtr.T @ (dm * s)
        return (np.mean(np.logaddexp(0.0, -m)),
                np.concatenate([g - eps * dm.sum(), -g - eps * dm.sum(), [np.sum(dm * s)]]))

    theta = minimize(loss, np.zeros(2 * d + 1), jac=True, method="L-BFGS-B",
                     bounds=[(0.0, None)] * (2 * d) + [(None, None)]).x
    w, b = theta[:d] - theta[d:2 * d], theta[-1]
    margin = (2.0 * yte - 1.0) * (Xte @ w + b)
    return np.mean(margin > 0), np.mean(margin - eps * np.abs(w).sum() > 0)


def report(name, Xtr, Xte, ytr, yte, eps, makers):
    """Fit every model on one task and print its row of the table."""
    print(f"\n{name}: {Xtr.shape[0]} training rows, {Xtr.shape[1]} features, "
          f"{len(yte)} test rows")
    print(f"{'model':<20} {'clean':>7} {'exact robust':>13} {'certified':>10} {'fit s':>7}")
    for label, make in makers.items():
        model = make(Xtr.shape[1])
        t0 = time.perf_counter()
        model.fit(Xtr, ytr)
        fit = time.perf_counter() - t0
        try:
            clean, robust, cert = evaluate(model, Xtr, Xte, yte, eps)
        except TypeError as exc:  # a model the tree readers do not read
            print(f"{label:<20} {model.score(Xte, yte):7.3f} {'n/a':>13} {'n/a':>10} "
                  f"{fit:7.2f}  ({exc})")
            continue
        print(f"{label:<20} {clean:7.3f} {robust:13.3f} {cert:10.3f} {fit:7.2f}", flush=True)
    t0 = time.perf_counter()
    clean, robust = robust_linear(Xtr, ytr, Xte, yte, eps)
    print(f"{'robust linear (ref.)':<20} {clean:7.3f} {robust:13.3f} {robust:10.3f} "
          f"{time.perf_counter() - t0:7.2f}", flush=True)


# The breast-cancer data of the robust-tree papers (LIBSVM's 10-feature
# Wisconsin set, scaled to [0, 1] by the authors), as LT-Attack ships its
# 500-row test file; read from ../shared, never copied (see its PROVENANCE.md).
PEER_TEST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                         "peer_trees", "tree-ensemble-attack", "data",
                         "breast_cancer_scale0.test")


def peer_breast_cancer():
    """``(X, y)`` of that file (feature 0 is padding, dropped), or None if absent."""
    if not os.path.exists(PEER_TEST):
        return None
    from sklearn.datasets import load_svmlight_file

    X, y = load_svmlight_file(PEER_TEST, n_features=11)
    return np.asarray(X.todense())[:, 1:], (y > 0).astype(int)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200)
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--n-jobs", type=int, default=1)
    args = parser.parse_args()
    makers = models(args.eps, args.n_jobs)
    if "GROOT forest" not in makers:
        print("groot-trees not installed: GROOT skipped (pip install groot-trees)")
    print(f"eps={args.eps} (L-inf, features in [0, 1]); 20 trees of depth 4 "
          "(RobustForest: 3); "
          f"first {args.rows} test rows")
    for name, X, y in tasks():
        Xtr, Xte, ytr, yte = split(X, y)
        report(name, Xtr, Xte[: args.rows], ytr, yte[: args.rows], args.eps, makers)
    peer = peer_breast_cancer()
    if peer is None:
        print(f"\n{PEER_TEST} not found: the papers' breast-cancer skipped")
    else:
        # Already in [0, 1] (the authors' scaling); the papers' budget for it.
        Xtr, Xte, ytr, yte = train_test_split(*peer, test_size=0.25, stratify=peer[1],
                                              random_state=0)
        report("breast-cancer (the papers', eps 0.3)", Xtr, Xte, ytr, yte, 0.3,
               models(0.3, args.n_jobs))
    X, y = make_classification(n_samples=10000, n_features=20, random_state=0)
    X = MinMaxScaler().fit_transform(X)
    print("\nfit time, 20 trees of depth 4 (RobustForest: 3) on 10000 x 20 rows:")
    times = {}
    for label, make in makers.items():
        model = make(X.shape[1])
        t0 = time.perf_counter()
        model.fit(X, y)
        times[label] = time.perf_counter() - t0
        ratio = times[label] / times["XGBoost (natural)"]
        print(f"{label:<20} {times[label]:7.2f} s  ({ratio:.1f} x XGBoost)", flush=True)


if __name__ == "__main__":
    main()
