"""Certified radii of tree ensembles: clique bound vs exact MILP, and Chen et al.'s run.

    python benchmarks/bench_tree_bounds.py [--rows 40] [--quick]

1. 20-tree depth-4 models of six libraries (scikit-learn GradientBoosting,
   RandomForest, HistGradientBoosting; XGBoost, LightGBM, CatBoost when
   installed), binary and three-class, on a standardised scikit-learn data
   set: per model, the L-inf radius of ``tree_certified_radius`` by
   ``method="exact"`` (Kantchelian et al.'s MILP, HiGHS) and by
   ``method="bound"`` -- with the defaults (clique levels until one group is
   left, pruned, at most 16384 cliques a row a level) and with Chen et al.'s
   published settings (max_clique 2, max_level 1) -- as the mean and the
   smallest bound/exact ratio over rows, the number of rows where the bound
   exceeds the exact radius (must be 0), and the time per row of each.
2. The published ``treeVerification`` example (``../shared/peer_trees``,
   breast_cancer_robust.0008: an 8-tree robust XGBoost model, 100 rows, eps
   0.3): average bound and verified error against the paper's program output
   (0.39518 and 0.13), the exact radii by MILP, and times per row.
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import (load_breast_cancer, load_svmlight_file, load_wine,
                              make_classification)
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.preprocessing import StandardScaler

from skadv._core.tree_readers import xgboost_dump
from skadv.verify import tree_certified_radius

PEER = Path(__file__).resolve().parents[2] / "shared" / "peer_trees" / "treeVerification"
CHEN = dict(max_clique=2, max_level=1)


def datasets(quick):
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer (30 f, 2 cl)", StandardScaler().fit_transform(X), y
    X, y = load_wine(return_X_y=True)
    yield "wine (13 f, 3 cl)", StandardScaler().fit_transform(X), y
    if not quick:
        X, y = make_classification(n_samples=600, n_features=10, n_informative=6,
                                   n_redundant=0, n_classes=2, random_state=0)
        yield "make_classification (10 f, 2 cl)", X, y


def models(n_classes):
    """20 trees of depth 4 for every library (20 rounds binary, 7 x 3 multiclass)."""
    rounds = 20 if n_classes == 2 else 7
    yield "sklearn GradientBoosting", lambda: GradientBoostingClassifier(
        n_estimators=rounds, max_depth=4, random_state=0)
    yield "sklearn RandomForest", lambda: RandomForestClassifier(
        n_estimators=20, max_depth=4, random_state=0)
    yield "sklearn HistGradientBoosting", lambda: HistGradientBoostingClassifier(
        max_iter=rounds, max_depth=4, early_stopping=False, random_state=0)
    try:
        import xgboost
        yield "xgboost XGBClassifier", lambda: xgboost.XGBClassifier(
            n_estimators=rounds, max_depth=4, random_state=0)
    except ImportError:
        pass
    try:
        import lightgbm
        yield "lightgbm LGBMClassifier", lambda: lightgbm.LGBMClassifier(
            n_estimators=rounds, max_depth=4, num_leaves=16, verbose=-1, random_state=0)
    except ImportError:
        pass
    try:
        import catboost
        yield "catboost CatBoostClassifier", lambda: catboost.CatBoostClassifier(
            iterations=rounds, depth=4, verbose=False, allow_writing_files=False,
            random_seed=0)
    except ImportError:
        pass


def timed(fn, n):
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) / n


def tightness(rows, quick):
    print(f"\nL-inf radius on 20-tree depth-4 models, {rows} test rows each")
    header = (f"{'data / model':<64} {'exact ms/row':>12} {'bound ms/row':>12} "
              f"{'speed-up':>8} {'mean b/e':>8} {'min b/e':>8} {'>exact':>6} "
              f"{'Chen b/e':>8} {'Chen ms':>8}")
    print(header)
    print("-" * len(header))
    ratios, chen_ratios, t_exact, t_bound = [], [], [], []
    for data, X, y in datasets(quick):
        rng = np.random.default_rng(0)
        test = rng.choice(len(X), size=min(rows, len(X)), replace=False)
        for name, make in models(len(np.unique(y))):
            clf = make().fit(X, y)
            Xt = X[test]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e, te = timed(lambda: tree_certified_radius(clf, Xt, method="exact"), len(Xt))
            b, tb = timed(lambda: tree_certified_radius(clf, Xt), len(Xt))
            c, tc = timed(lambda: tree_certified_radius(clf, Xt, **CHEN), len(Xt))
            ok = e > 0
            ratio, chen = b[ok] / e[ok], c[ok] / e[ok]
            ratios.append(ratio.mean())
            chen_ratios.append(chen.mean())
            t_exact.append(te)
            t_bound.append(tb)
            print(f"{data + ' / ' + name:<64} {1e3 * te:>12.1f} {1e3 * tb:>12.2f} "
                  f"{te / tb:>7.0f}x {ratio.mean():>8.3f} {ratio.min():>8.3f} "
                  f"{int(np.sum(b > e)):>6d} {chen.mean():>8.3f} {1e3 * tc:>8.2f}", flush=True)
    print(f"over all models: mean bound/exact {np.mean(ratios):.3f} (Chen et al.'s settings "
          f"{np.mean(chen_ratios):.3f}); time per row exact {1e3 * np.mean(t_exact):.1f} ms, "
          f"bound {1e3 * np.mean(t_bound):.2f} ms")


def peer():
    model, data = PEER / "breast_cancer_robust.0008.json", PEER / "example_breast_cancer0.libsvm"
    print(f"\nChen et al. (NeurIPS 2019) treeVerification example, {model.name}")
    if not (model.exists() and data.exists()):
        print(f"  skipped: {PEER} not found")
        return
    ens = xgboost_dump(model)
    X, y = load_svmlight_file(str(data), n_features=11, zero_based=True)
    X = X.toarray()  # features 1..10 as in the file
    correct = ens.predict(X) == y
    header = f"{'method':<48} {'avg bound':>9} {'verified err @0.3':>17} {'ms/row':>8}"
    print(header)
    print("-" * len(header))
    print(f"{'published (treeVerify example.json)':<48} {0.39518:>9.5f} {0.13:>17.2f}")
    runs = [("bound, max_clique 2, max_level 1 (published)", CHEN),
            ("bound, level 0 only", dict(max_level=0)),
            ("bound, defaults", {}),
            ("exact (MILP)", dict(method="exact"))]
    for name, kw in runs:
        r, t = timed(lambda: tree_certified_radius(ens, X, **kw), len(X))
        # as the published program: 0 for a misclassified row, search stops at eps 1
        avg = np.where(correct, np.minimum(r, 1.0), 0.0).mean()
        err = 1 - np.mean(correct & (r >= 0.3))
        print(f"{name:<48} {avg:>9.5f} {err:>17.2f} {1e3 * t:>8.2f}")
    print("The published program bisects eps (10 steps from 0.3); skadv's search returns "
          "the exact breakpoint of the same bound, hence a slightly larger average.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="two data sets, 15 rows")
    args = parser.parse_args()
    tightness(15 if args.quick else args.rows, args.quick)
    peer()


if __name__ == "__main__":
    main()
