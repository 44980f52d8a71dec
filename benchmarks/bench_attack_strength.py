"""Strength: skadv's PGD and AutoPGD against ART's ProjectedGradientDescent.

Robust accuracy (lower = stronger attack) on the same fitted victims, at equal
eps, number of steps, step size and one random start:

* breast_cancer (standardised; 569 x 30, 2 classes) and
  make_classification 20000 x 50 (3 classes, standardised);
* a scikit-learn ``LogisticRegression`` (ART: ``SklearnClassifier``) and a
  scikit-learn ``MLPClassifier`` 64-64 (ART: ``PyTorchClassifier`` on a PyTorch
  copy with the very same weights);
* L-infinity and L2 budgets, two of each per data set.

The victims are fitted on a 70% training split; the large set is attacked on
its test split, breast_cancer on all 569 rows (its test split alone has 171,
where 0.5 points is less than one row).
Checks printed per row: skadv PGD <= ART PGD + 0.5 points, AutoPGD <= PGD.

Run::

    python benchmarks/bench_attack_strength.py           # full
    python benchmarks/bench_attack_strength.py --quick   # 4000 rows for the large set
"""

import argparse
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from skadv.attacks import AutoPGDAttack, PGDAttack
from skadv.metrics import robust_accuracy

from bench_attacks import art_classifier

STEPS = 20


def datasets(quick):
    Xb, yb = load_breast_cancer(return_X_y=True)
    n = 4000 if quick else 20000
    Xc, yc = make_classification(n_samples=n, n_features=50, n_informative=30,
                                 n_redundant=10, n_classes=3, random_state=0)
    out = {}
    for name, (X, y), budgets in (
            ("breast_cancer", (Xb, yb), {"inf": (0.1, 0.25), 2: (0.5, 1.0)}),
            (f"classification {n}x50", (Xc, yc), {"inf": (0.05, 0.1), 2: (0.3, 0.6)})):
        X = StandardScaler().fit_transform(X).astype(np.float32)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0)
        if name == "breast_cancer":
            X_te, y_te = X, y
        out[name] = ((X_tr, X_te, y_tr, y_te), budgets)
    return out


def victims(X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return {
            "LogisticRegression": LogisticRegression(max_iter=2000).fit(X, y),
            "MLP 64-64": MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=300,
                                       random_state=0).fit(X, y),
        }


def art_robust_accuracy(clf, X, y, norm, eps, step):
    from art.attacks.evasion import ProjectedGradientDescent

    n_classes = len(clf.classes_)
    art = ProjectedGradientDescent(
        art_classifier(clf, X.shape[1], n_classes), norm=np.inf if norm == "inf" else 2,
        eps=eps, eps_step=step, max_iter=STEPS, num_random_init=1, batch_size=1024,
        verbose=False)
    X_adv = art.generate(X, y=np.eye(n_classes, dtype=np.float32)[y])
    return clf.score(X_adv, y)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = []
    for data, ((X_tr, X_te, y_tr, y_te), budgets) in datasets(args.quick).items():
        for vname, clf in victims(X_tr, y_tr).items():
            clean = clf.score(X_te, y_te)
            for norm, epss in budgets.items():
                for eps in epss:
                    step = 2.5 * eps / STEPS
                    kw = dict(eps=eps, norm=norm, steps=STEPS, random_state=0)
                    pgd = robust_accuracy(clf, X_te, y_te, PGDAttack(step_size=step, **kw))
                    apgd = robust_accuracy(clf, X_te, y_te, AutoPGDAttack(**kw))
                    art = art_robust_accuracy(clf, X_te, y_te, norm, eps, step)
                    rows.append((data, vname, norm, eps, clean, art, pgd, apgd))

    print(f"\nrobust accuracy (%), PGD-{STEPS} / AutoPGD-{STEPS}, one random start, "
          "equal eps and step size\n")
    head = (f"{'data':<26}{'victim':<20}{'norm':>5}{'eps':>6}{'clean':>7}{'ART':>7}"
            f"{'skadv':>7}{'APGD':>7}  {'PGD<=ART+0.5':>12}  {'APGD<=PGD':>9}")
    print(head)
    ok = True
    for data, vname, norm, eps, clean, art, pgd, apgd in rows:
        c1, c2 = pgd <= art + 0.005, apgd <= pgd
        ok &= c1 and c2
        print(f"{data:<26}{vname:<20}{norm!s:>5}{eps:>6g}{100 * clean:7.1f}"
              f"{100 * art:7.1f}{100 * pgd:7.1f}{100 * apgd:7.1f}  {str(c1):>12}  "
              f"{str(c2):>9}")
    print(f"\nall checks hold: {ok}")


if __name__ == "__main__":
    main()
