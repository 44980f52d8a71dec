"""GreedyTreeAttack against the exact radius: distance ratio and speed-up, in one run.

    PYTHONPATH=. python benchmarks/bench_tree_greedy.py [--rows 30] [--norms inf 2 1] [--quick]

20-tree depth-4 ensembles of six libraries (scikit-learn GradientBoosting,
RandomForest, HistGradientBoosting; XGBoost, LightGBM and CatBoost when
installed; multiclass boosting: 7 rounds x 3 classes), fitted on three
standardised data sets (breast_cancer, wine, a 10-feature
``make_classification``). On ``--rows`` held-out rows per model, attacked at
the model's own predictions:

* ``ExactTreeAttack(norm=...)``: each row's exact radius (``minimal_distance_``);
* ``GreedyTreeAttack(norm=..., random_state=0)`` at its defaults, fitted on
  the training rows (its starting points).

Per model and norm: mean and largest greedy/exact distance ratio over the
rows both attacks move (rows the model already misclassifies at radius 0 are
left out), greedy failures, and the speed-up: exact's fit + transform time
over greedy's, measured in this run (both cold; neither compiles anything).
Greedy's distance is never below the exact one (a row where it is would be
a bug: counted in "<exact").
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_wine, make_classification
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.preprocessing import StandardScaler

from skadv.attacks import ExactTreeAttack, GreedyTreeAttack


def datasets(quick):
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", StandardScaler().fit_transform(X), y
    X, y = load_wine(return_X_y=True)
    yield "wine", StandardScaler().fit_transform(X), y
    if not quick:
        X, y = make_classification(n_samples=600, n_features=10, n_informative=6,
                                   n_redundant=0, n_classes=2, random_state=0)
        yield "make_classification", X, y


def models(n_classes):
    """20 trees of depth 4 for every library (20 rounds binary, 7 x 3 multiclass)."""
    rounds = 20 if n_classes == 2 else 7
    yield "sklearn GB", lambda: GradientBoostingClassifier(
        n_estimators=rounds, max_depth=4, random_state=0)
    yield "sklearn RF", lambda: RandomForestClassifier(
        n_estimators=20, max_depth=4, random_state=0)
    yield "sklearn HGB", lambda: HistGradientBoostingClassifier(
        max_iter=rounds, max_depth=4, early_stopping=False, random_state=0)
    try:
        import xgboost
        yield "XGBoost", lambda: xgboost.XGBClassifier(
            n_estimators=rounds, max_depth=4, random_state=0)
    except ImportError:
        pass
    try:
        import lightgbm
        yield "LightGBM", lambda: lightgbm.LGBMClassifier(
            n_estimators=rounds, max_depth=4, num_leaves=16, verbose=-1, random_state=0)
    except ImportError:
        pass
    try:
        import catboost
        yield "CatBoost", lambda: catboost.CatBoostClassifier(
            iterations=rounds, depth=4, verbose=False, allow_writing_files=False,
            random_seed=0, thread_count=1)
    except ImportError:
        pass


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run(X, y, make, norm, n_rows):
    rng = np.random.default_rng(0)
    test = rng.choice(len(X), size=min(n_rows, len(X) // 3), replace=False)
    train = np.setdiff1d(np.arange(len(X)), test)
    clf = make().fit(X[train], y[train])
    rows = X[test]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exact, t_exact = timed(lambda: ExactTreeAttack(clf, norm=norm).fit(X[train]))
        _, t = timed(lambda: exact.transform(rows))
        t_exact += t
    greedy, t_greedy = timed(lambda: GreedyTreeAttack(clf, norm=norm, random_state=0)
                             .fit(X[train]))
    _, t = timed(lambda: greedy.transform(rows))
    t_greedy += t
    e, g = exact.minimal_distance_, greedy.perturbation_
    moved = exact.success_ & (e > 0)
    both = moved & greedy.success_
    ratio = g[both] / e[both]
    return dict(ratio=ratio, fail=int(np.sum(moved & ~greedy.success_)),
                below=int(np.sum(g[both] < e[both] - 1e-9)), t_exact=t_exact,
                t_greedy=t_greedy)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=30)
    p.add_argument("--norms", nargs="+", default=["inf", "2", "1"])
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    norms = [n if n == "inf" else int(n) for n in args.norms]
    header = (f"{'data / model':<34} {'norm':>4} {'mean g/e':>8} {'max g/e':>8} "
              f"{'fail':>4} {'<exact':>6} {'exact s':>8} {'greedy s':>8} {'speed-up':>8}")
    per_lib = {}
    for norm in norms:
        print(f"\nnorm {norm}, {args.rows} held-out rows per model")
        print(header)
        print("-" * len(header))
        for data, X, y in datasets(args.quick):
            for name, make in models(len(np.unique(y))):
                r = run(X, y, make, norm, args.rows)
                per_lib.setdefault((name, norm), []).append(r)
                print(f"{data + ' / ' + name:<34} {norm!s:>4} {r['ratio'].mean():>8.3f} "
                      f"{r['ratio'].max():>8.3f} {r['fail']:>4d} {r['below']:>6d} "
                      f"{r['t_exact']:>8.2f} {r['t_greedy']:>8.3f} "
                      f"{r['t_exact'] / r['t_greedy']:>7.0f}x", flush=True)
    print("\nper library and norm, over the data sets (rows pooled; speed-up of summed times)")
    print(f"{'model':<14} {'norm':>4} {'mean g/e':>8} {'max g/e':>8} {'fail':>4} {'speed-up':>8}")
    for (name, norm), rs in per_lib.items():
        ratio = np.concatenate([r["ratio"] for r in rs])
        speed = sum(r["t_exact"] for r in rs) / sum(r["t_greedy"] for r in rs)
        print(f"{name:<14} {norm!s:>4} {ratio.mean():>8.3f} {ratio.max():>8.3f} "
              f"{sum(r['fail'] for r in rs):>4d} {speed:>7.0f}x")


if __name__ == "__main__":
    main()
