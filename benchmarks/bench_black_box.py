"""Black-box and tree attacks: skadv against ART, in one run.

Data: breast_cancer, standardised (so L2 / L-inf distances are in standard
deviations), split 75/25 with a fixed seed. Victims: ``RandomForestClassifier(
n_estimators=100)`` and ``HistGradientBoostingClassifier()``, fitted on the
training part; attacked rows are the first ``--rows`` (60) held-out ones.

1. **HopSkipJump strength at equal query budgets.** ART's ``HopSkipJump``
   runs first; a counting wrapper around the model records every row it
   classifies. Its per-row budget is the mean number of rows it queried per
   attacked row, *excluding* only its two bookkeeping passes (the clean
   predictions before and the success check after), exactly as skadv's
   ``n_queries_`` excludes the base class's final check. skadv then gets
   ``max_queries`` = that mean minus its own fit-time queries (labelling the
   reference rows it starts from) spread over the attacked rows -- so skadv
   never spends more. ART is given per-feature ``clip_values`` (the training
   range) for its random starting points; "ART+starts" additionally hands ART
   skadv's starting points (``x_adv_init``) to compare the search alone.
   Reported: success (an adversarial example found), median perturbation over
   all rows (a failure counts as infinite) and the success rate within a few
   budgets.
2. **Single decision tree.** ART's ``DecisionTreeAttack`` (Papernot et al.) vs
   skadv's ``ExactTreeAttack`` (the provably smallest L-inf perturbation) and
   ``GreedyTreeAttack``: success and median L-inf / L2 perturbation. Both sides
   read the tree; no queries to compare.
3. **Speed.** HopSkipJump (L2) on the random forest, 500 rows drawn from the
   whole data set, equal query budget as in 1 (ART ``max_iter=5`` here): wall time of each library in this process (skadv needs no
   compilation for these attacks: cold and warm are both reported), and the
   ratio against the floor of 5x, required at an equal or better success rate.

Run::

    python benchmarks/bench_black_box.py           # full (ART takes minutes)
    python benchmarks/bench_black_box.py --quick   # fewer rows, a smoke test
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from skadv.attacks import ExactTreeAttack, GreedyTreeAttack, HopSkipJumpAttack

ORD = {2: 2, "inf": np.inf}
FLOOR = 5.0


class Counting:
    """A fitted model that counts the rows it classifies (for ART)."""

    def __init__(self, model):
        self.model = model
        self.rows = 0
        self.classes_ = model.classes_
        self.n_features_in_ = model.n_features_in_

    def fit(self, X, y):
        return self

    def predict_proba(self, X):
        self.rows += len(X)
        return self.model.predict_proba(X)

    def predict(self, X):
        self.rows += len(X)
        return self.model.predict(X)


def art_hsj(model, X, y_pred, norm, clip, *, max_iter, init_eval, x_init=None):
    from art.attacks.evasion import HopSkipJump
    from art.estimators.classification.scikitlearn import ScikitlearnClassifier

    counter = Counting(model)
    clf = ScikitlearnClassifier(model=counter, clip_values=clip)
    attack = HopSkipJump(clf, norm=2 if norm == 2 else np.inf, max_iter=max_iter,
                         max_eval=1000, init_eval=init_eval, init_size=100, verbose=False)
    np.random.seed(0)
    start = time.perf_counter()
    kw = {} if x_init is None else {"x_adv_init": x_init.copy()}
    X_adv = attack.generate(X.copy(), y=np.eye(len(model.classes_))[y_pred], **kw)
    elapsed = time.perf_counter() - start
    n = len(X)
    # generate() classifies X once before the search and X_adv once after it;
    # x_adv_init is classified once more when given.
    bookkeeping = 2 * n + (0 if x_init is None else n)
    return X_adv, (counter.rows - bookkeeping) / n, elapsed


def outcome(model, X, X_adv, y_pred, norm):
    success = model.predict(X_adv) != y_pred
    dist = np.linalg.norm(X_adv - X, ord=ORD[norm], axis=1)
    return success, np.where(success, dist, np.inf)


def row(table, victim, norm, lib, queries, success, dist, budgets, seconds=None):
    within = [np.mean(dist <= b) for b in budgets]
    table.append((victim, str(norm), lib, queries, success.mean(), np.median(dist),
                  within, seconds))


def print_strength(table, budgets):
    head = " ".join(f"{'<=' + format(b, 'g'):>7}" for b in budgets)
    print(f"{'victim':<8} {'norm':<4} {'library':<12} {'q/row':>6} {'success':>8} "
          f"{'median':>8} {head}   (success within budget)")
    for victim, norm, lib, q, succ, med, within, _ in table:
        w = " ".join(f"{v:7.2f}" for v in within)
        print(f"{victim:<8} {norm:<4} {lib:<12} {q:6.0f} {succ:8.2f} {med:8.3f} {w}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20 rows for strength, 40 for speed")
    parser.add_argument("--rows", type=int, default=60,
                        help="held-out rows attacked for strength (ART: ~1 s per row)")
    parser.add_argument("--max-iter", type=int, default=10,
                        help="ART HopSkipJump iterations for strength (sets the budget)")
    parser.add_argument("--speed-rows", type=int, default=500)
    parser.add_argument("--speed-max-iter", type=int, default=5,
                        help="ART HopSkipJump iterations for speed (sets the budget)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    clip = (Xtr.min(axis=0), Xtr.max(axis=0))
    n_strength = 20 if args.quick else min(args.rows, len(Xte))
    Xs = Xte[:n_strength]
    victims = {
        "forest": RandomForestClassifier(n_estimators=100, random_state=0).fit(Xtr, ytr),
        "hgb": HistGradientBoostingClassifier(random_state=0).fit(Xtr, ytr),
    }

    # 1. strength at equal budgets
    budgets = {2: (1.0, 2.0, 4.0), "inf": (0.25, 0.5, 1.0)}
    print(f"HopSkipJump, breast_cancer (standardised), {n_strength} held-out rows; "
          f"ART max_iter={args.max_iter}, init_eval=10")
    for norm in (2, "inf"):
        table = []
        for name, model in victims.items():
            y_pred = model.predict(Xs)
            X_art, q_art, _ = art_hsj(model, Xs, y_pred, norm, clip,
                                      max_iter=args.max_iter, init_eval=10)
            s, dist = outcome(model, Xs, X_art, y_pred, norm)
            row(table, name, norm, "ART", q_art, s, dist, budgets[norm])

            atk = HopSkipJumpAttack(model, norm=norm, random_state=0,
                                    max_queries=1).fit(Xtr)
            per_row_fit = atk.n_fit_queries_ / len(Xs)
            atk.set_params(max_queries=int(q_art - per_row_fit)).fit(Xtr)
            X_sk = atk.transform(Xs, y_pred)
            s, dist = outcome(model, Xs, X_sk, y_pred, norm)
            row(table, name, norm, "skadv", atk.n_queries_.mean() + per_row_fit, s, dist,
                budgets[norm])

            # ART from skadv's kind of start (the nearest training row the model
            # puts in another class): the two searches alone, side by side.
            ref_pred = model.predict(Xtr)
            d2 = ((Xs[:, None, :] - Xtr[None, :, :]) ** 2).sum(axis=2)
            d2[ref_pred[None, :] == y_pred[:, None]] = np.inf
            x_init = Xtr[np.argmin(d2, axis=1)]
            X_art2, q_art2, _ = art_hsj(model, Xs, y_pred, norm, clip,
                                        max_iter=args.max_iter, init_eval=10, x_init=x_init)
            s, dist = outcome(model, Xs, X_art2, y_pred, norm)
            row(table, name, norm, "ART+starts", q_art2, s, dist, budgets[norm])
        print()
        print_strength(table, budgets[norm])

    # 2. single decision tree
    from art.attacks.evasion import DecisionTreeAttack
    from art.estimators.classification.scikitlearn import ScikitlearnDecisionTreeClassifier

    tree = DecisionTreeClassifier(random_state=0).fit(Xtr, ytr)
    y_pred = tree.predict(Xs)
    print(f"\nSingle DecisionTreeClassifier (depth {tree.get_depth()}, "
          f"{tree.get_n_leaves()} leaves), {n_strength} held-out rows")
    print(f"{'library / attack':<28} {'success':>8} {'median Linf':>12} {'median L2':>10} "
          f"{'time s':>8}")
    results = []
    start = time.perf_counter()
    art_tree = DecisionTreeAttack(ScikitlearnDecisionTreeClassifier(tree), verbose=False)
    X_adv = art_tree.generate(Xs.copy())
    results.append(("ART DecisionTreeAttack", X_adv, time.perf_counter() - start))
    for attack in (ExactTreeAttack(tree), GreedyTreeAttack(tree, random_state=0)):
        start = time.perf_counter()
        X_adv = attack.fit(Xtr).transform(Xs, y_pred)
        results.append((f"skadv {type(attack).__name__}", X_adv, time.perf_counter() - start))
    for name, X_adv, sec in results:
        s = tree.predict(X_adv) != y_pred
        linf = np.where(s, np.abs(X_adv - Xs).max(axis=1), np.inf)
        l2 = np.where(s, np.linalg.norm(X_adv - Xs, axis=1), np.inf)
        print(f"{name:<28} {s.mean():8.2f} {np.median(linf):12.4f} {np.median(l2):10.4f} "
              f"{sec:8.2f}")

    # 3. speed: HopSkipJump L2 on the forest, many rows, equal budgets
    n_speed = 40 if args.quick else args.speed_rows
    model = victims["forest"]
    rng = np.random.RandomState(1)
    Xp = X[rng.choice(len(X), n_speed, replace=n_speed > len(X))]
    y_pred = model.predict(Xp)
    print(f"\nSpeed: HopSkipJump L2 on the random forest (100 trees), {n_speed} rows, "
          f"ART max_iter={args.speed_max_iter}")
    X_art, q_art, t_art = art_hsj(model, Xp, y_pred, 2, clip,
                                  max_iter=args.speed_max_iter, init_eval=10)
    s_art, d_art = outcome(model, Xp, X_art, y_pred, 2)
    atk = HopSkipJumpAttack(model, random_state=0, max_queries=1).fit(Xtr)
    per_row_fit = atk.n_fit_queries_ / n_speed
    atk.set_params(max_queries=int(q_art - per_row_fit))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        atk.fit(Xtr)
        X_sk = atk.transform(Xp, y_pred)
        times.append(time.perf_counter() - start)
    s_sk, d_sk = outcome(model, Xp, X_sk, y_pred, 2)
    print(f"{'library':<8} {'q/row':>6} {'success':>8} {'median L2':>10} {'cold s':>8} "
          f"{'warm s':>8}")
    print(f"{'ART':<8} {q_art:6.0f} {s_art.mean():8.3f} {np.median(d_art):10.3f} "
          f"{t_art:8.2f} {t_art:8.2f}")
    print(f"{'skadv':<8} {atk.n_queries_.mean() + per_row_fit:6.0f} {s_sk.mean():8.3f} "
          f"{np.median(d_sk):10.3f} {times[0]:8.2f} {times[1]:8.2f}")
    ratio = t_art / min(times)
    met = ratio >= FLOOR and s_sk.mean() >= s_art.mean()
    print(f"\nART / skadv wall time: {ratio:.1f}x (floor {FLOOR:.0f}x at equal or better "
          f"success: {'met' if met else 'NOT met'})")


if __name__ == "__main__":
    main()
