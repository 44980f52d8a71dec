"""skadv's JAX models vs scikit-learn's: 5-fold CV accuracy and fit time.

    python benchmarks/bench_models.py

Same data, same folds, same standardisation, comparable settings (sklearn's
defaults where both have them). Fit time is the mean over folds; "first fit"
includes JAX compilation (a new data shape compiles once).
"""

import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.neural_network import MLPClassifier as SkMLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skadv.models import LogisticRegression, MLPClassifier

DATASETS = {"breast_cancer": load_breast_cancer, "wine": load_wine, "digits": load_digits}
MODELS = {
    "LogisticRegression": (lambda: LogisticRegression(max_iter=500),
                           lambda: SkLogisticRegression(max_iter=500)),
    "MLPClassifier(100,)": (lambda: MLPClassifier(random_state=0),
                            lambda: SkMLPClassifier(random_state=0)),
}


def cv_run(make, X, y, cv):
    accs, times = [], []
    for train, test in cv.split(X, y):
        model = make_pipeline(StandardScaler(), make())
        t0 = time.perf_counter()
        model.fit(X[train], y[train])
        times.append(time.perf_counter() - t0)
        accs.append(model.score(X[test], y[test]))
    return np.mean(accs), times


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    header = (f"{'dataset':<14} {'model':<20} {'skadv acc':>9} {'sklearn acc':>11} "
              f"{'diff':>6} {'skadv fit s':>11} {'(first)':>8} {'sklearn fit s':>13} "
              f"{'ratio':>6}")
    print(header)
    print("-" * len(header))
    for dname, load in DATASETS.items():
        X, y = load(return_X_y=True)
        for mname, (ours, ref) in MODELS.items():
            a, ta = cv_run(ours, X, y, cv)
            b, tb = cv_run(ref, X, y, cv)
            warm = np.mean(ta[1:])
            print(f"{dname:<14} {mname:<20} {a:>9.4f} {b:>11.4f} {100 * (a - b):>+6.2f} "
                  f"{warm:>11.3f} {ta[0]:>8.2f} {np.mean(tb):>13.3f} "
                  f"{np.mean(tb) / warm:>5.1f}x")


if __name__ == "__main__":
    main()
