"""Tree ensembles: skadv's exact and greedy attacks and certified bound against ART and LT-Attack.

Everything in L-infinity unless said otherwise, in one run.

1. **Same models, same rows.** breast_cancer, standardised, then one common
   affine map onto [0, 1] (ART's clique verifier only takes inputs in
   [0, 1]; one map for all features keeps L-inf distances proportional: they
   are reported in the standardised units, i.e. standard deviations), split
   75/25 with a fixed seed. Victims: a ``DecisionTreeClassifier`` (full
   depth) and 20-tree depth-4 ensembles -- scikit-learn's RandomForest,
   GradientBoosting and HistGradientBoosting, XGBoost, LightGBM and CatBoost
   when installed -- attacked on the first ``--rows`` held-out rows, at the
   model's own predictions:

   * skadv ``ExactTreeAttack`` (MILP: each row's exact radius) and
     ``GreedyTreeAttack``: success (the model's own ``predict`` flips), mean
     distance, time per row;
   * ART's ``DecisionTreeAttack`` (Papernot et al.; single trees only);
   * certified radii: skadv's ``tree_certified_radius(method="bound")`` (at
     its defaults and at ART's clique settings) against ART's
     ``RobustnessVerificationTreeModelsCliqueMethod`` (Chen et al. 2019; it
     takes scikit-learn GB/RF, XGBoost and multiclass LightGBM models; its
     LightGBM wrapper refuses a binary model), called row by
     row to get per-row bounds (``eps_init=0.3`` as in the published run,
     ART's default 10 search steps, ``max_clique=2``, ``max_level=2``). A
     bound above the exact radius is unsound: those rows are counted;
   * LT-Attack (Zhang et al. 2020) on the XGBoost model when
     ``LT_ATTACK_BIN`` is set (its dump and the rows are written to a
     temporary directory; ``base_score=0.5`` because LT-Attack ignores it).

2. **LT-Attack's own models.** The XGBoost random forests of Zhang, Zhang
   and Hsieh (``random_forest/models/*``, see ``../shared/peer_trees/
   PROVENANCE.md``) on the first ``--peer-rows`` test rows XGBoost classifies
   correctly (LT-Attack skips the others), L-inf and L2: skadv greedy and
   exact against LT-Attack run with its published settings (20 starting
   points per row, early return) and ``--lt-threads`` threads. skadv's
   greedy attack takes its starting points from the 500 test rows (there is
   no training set). Skipped when the peer files are absent
   (``SKADV_PEER_TREES`` overrides their place).

LT-Attack reads the JSON dump (decimal splits), compares ``x < split`` in
double and places its points 1e-10 past a split; XGBoost compares
``float32(x) < float32(split)``, so a point 1e-10 below a split is on its
right. Three rows show it: "own check" (its distances, its own verdict),
"nearest point XGBoost confirms" (the nearest of its 20 points per row that
flips XGBoost's own ``predict``) and "points moved to float32 splits" (each
coordinate that falls on the other side in float32 moved to the nearest
float32 on the side LT-Attack meant -- a repair done here, at most one
float32 step, then checked with XGBoost's ``predict``). Mean distances are
over each method's successful rows; ratios over the rows both succeed on.

Times: "cold" is the first call in this process (fit + transform; skadv's
tree attacks compile nothing, so cold and warm differ by caches only),
"warm" the second. The exact attack, ART and LT-Attack run once; for
LT-Attack "cold" is its process's wall time (loading the dump included) and
"warm" its own per-point timer. Speed-ups are exact's time over the
method's, measured in this run.

Build LT-Attack (MIT licence; not part of skadv) and run::

    apt-get install g++ make libboost-thread-dev libboost-system-dev \\
        libboost-filesystem-dev
    # from a checkout of github.com/chong-z/tree-ensemble-attack
    make lt_attack
    LT_ATTACK_BIN=$PWD/lt_attack python benchmarks/bench_trees.py
    python benchmarks/bench_trees.py --quick   # fewer rows, a smoke test
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_breast_cancer, load_svmlight_file
from sklearn.ensemble import (GradientBoostingClassifier, HistGradientBoostingClassifier,
                              RandomForestClassifier)
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

import skadv.verify
from skadv.attacks import ExactTreeAttack, GreedyTreeAttack

NOT_YET = "not available yet"
TARGET_RATIO, TARGET_SPEEDUP = 1.10, 20.0
ORD = {"inf": np.inf, 2: 2}
PEERS = Path(os.environ.get("SKADV_PEER_TREES",
                            Path(__file__).resolve().parents[2] / "shared" / "peer_trees"))
# LT-Attack's random forests: dump, converted model, test set, features.
PEER_MODELS = {
    "breast_cancer_rf": ("breast_cancer_scale0.test", 10),
    "diabetes_rf": ("diabetes_scale0.test", 8),
    "ijcnn_rf": ("ijcnn1s0.t", 22),
}


# --------------------------------------------------------------------------
# helpers
def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def distances(model, X, X_adv, y_pred, norm):
    """Per-row distance of the points the model's own predict confirms (inf otherwise)."""
    success = np.asarray(model.predict(X_adv)).ravel() != np.asarray(y_pred).ravel()
    return np.where(success, np.linalg.norm(X_adv - X, ord=ORD[norm], axis=1), np.inf)


def skadv_supports(model, X):
    """Whether skadv's tree attacks read ``model`` (the readers may be in progress)."""
    try:
        ExactTreeAttack(model).fit(X[:5])
    except TypeError:
        return False
    return True


def ratio(a, b):
    """mean(a) / mean(b) over the rows where both are finite."""
    both = np.isfinite(a) & np.isfinite(b)
    return a[both].mean() / b[both].mean() if both.any() and b[both].mean() > 0 else np.nan


def fmt(v, spec=".3f"):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return format(v, spec)


def markdown(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    print("\n".join(lines))


# --------------------------------------------------------------------------
# skadv and ART
def skadv_attacks(model, Xfit, X, y_pred, norm, time_limit):
    """Exact (once) and greedy (cold, warm): per-row distances and seconds."""
    exact = ExactTreeAttack(model, norm=norm, time_limit=time_limit)
    X_e, t_e = timed(lambda: exact.fit(Xfit).transform(X, y_pred))
    out = {"exact": (distances(model, X, X_e, y_pred, norm), t_e, t_e),
           "n_inexact": int((~exact.exact_).sum()),
           "minimal": exact.minimal_distance_, "solved": exact.exact_}
    greedy = GreedyTreeAttack(model, norm=norm, random_state=0)
    X_g, t_cold = timed(lambda: greedy.fit(Xfit).transform(X, y_pred))
    _, t_warm = timed(lambda: greedy.fit(Xfit).transform(X, y_pred))
    out["greedy"] = (distances(model, X, X_g, y_pred, norm), t_cold, t_warm)
    return out


def skadv_bounds(model, X, settings):
    """tree_certified_radius(method="bound"): radii, cold and warm seconds per setting."""
    out = {}
    for name, kw in settings.items():
        r, cold = timed(lambda: skadv.verify.tree_certified_radius(model, X, norm="inf", **kw))
        _, warm = timed(lambda: skadv.verify.tree_certified_radius(model, X, norm="inf", **kw))
        out[name] = (r, cold, warm)
    return out


def art_tree_classifier(name, model):
    """ART's wrapper for its clique verifier, None where ART has none, or ART's error."""
    from art.estimators.classification import LightGBMClassifier, XGBoostClassifier
    from art.estimators.classification.scikitlearn import (
        ScikitlearnGradientBoostingClassifier, ScikitlearnRandomForestClassifier)

    if name == "RandomForest":
        return ScikitlearnRandomForestClassifier(model)
    if name == "GradientBoosting":
        return ScikitlearnGradientBoostingClassifier(model)
    if name == "XGBoost":
        return XGBoostClassifier(model=model, nb_features=model.n_features_in_,
                                 nb_classes=len(model.classes_))
    if name == "LightGBM":
        # ART reads the class count from the booster: 1 for a binary model,
        # which its classifier base refuses.
        try:
            return LightGBMClassifier(model=model.booster_)
        except ValueError as err:
            return err
    return None


def art_clique(classifier, X, y_pred):
    """Per-row clique bounds (verify() averages, so it is called row by row)."""
    from art.metrics import RobustnessVerificationTreeModelsCliqueMethod

    def run():
        verifier = RobustnessVerificationTreeModelsCliqueMethod(classifier, verbose=False)
        return np.array([verifier.verify(X[i:i + 1], y_pred[i:i + 1], eps_init=0.3,
                                         norm=np.inf, max_clique=2, max_level=2)[0]
                         for i in range(len(X))])

    return timed(run)


def art_decision_tree_attack(model, X, y_pred):
    from art.attacks.evasion import DecisionTreeAttack
    from art.estimators.classification.scikitlearn import ScikitlearnDecisionTreeClassifier

    attack = DecisionTreeAttack(ScikitlearnDecisionTreeClassifier(model), verbose=False)
    X_adv, sec = timed(lambda: attack.generate(X.copy()))
    return distances(model, X, X_adv, y_pred, "inf"), sec


# --------------------------------------------------------------------------
# LT-Attack (an external C++ program)
def write_libsvm(path, X, labels):
    with open(path, "w") as f:
        for x, label in zip(X, labels):
            cells = " ".join(f"{j}:{v:.17g}" for j, v in enumerate(x) if v != 0)
            f.write(f"{int(label)} {cells}\n")


def lt_attack(binary, dump, X, labels, *, n_features, feature_start, norm, threads, workdir):
    """Run LT-Attack on rows ``X`` (their labels: the ones to move away from).

    Returns its own per-row distances (inf where it skipped or failed), its
    points per row (the best point of each starting point, as it logs them),
    the process's wall time and its own attack timer (seconds, whole run).
    """
    workdir = Path(workdir)
    tag = "inf" if norm == "inf" else str(norm)
    rows, adv, cfg = (workdir / f"rows_{tag}.libsvm", workdir / f"adv_{tag}.txt",
                      workdir / f"config_{tag}.json")
    write_libsvm(rows, X, labels)
    cfg.write_text(json.dumps({
        "num_threads": threads, "enable_early_return": True, "inputs": str(rows),
        "model": str(dump), "num_classes": 2, "num_features": n_features,
        "feature_start": feature_start, "num_point": len(X), "num_attack_per_point": 20,
        "norm_type": -1 if norm == "inf" else norm, "search_mode": "lt-attack",
        "adv_training_path": str(adv)}))
    proc, wall = timed(lambda: subprocess.run([binary, str(cfg)], cwd=workdir,
                                              capture_output=True, text=True, check=True))
    log = proc.stdout
    per_point = float(re.search(r"Time per point: (\S+)", log).group(1))
    dist = np.full(len(X), np.inf)
    counts = np.zeros(len(X), dtype=int)
    parts = re.split(r"Running testing example at line (\d+)\n", log)[1:]
    for line, body in zip(parts[::2], parts[1::2]):
        i = int(line) - 1
        if "===== Attack result for example" in body:
            dist[i] = 0.0  # attacked: measured on its points below
            counts[i] = body.count("Norms for random point")
    points = []
    for text in adv.read_text().splitlines():
        p = np.zeros(X.shape[1])
        for cell in text.split()[1:]:
            j, v = cell.split(":")
            p[int(j)] = float(v)
        points.append(p)
    points = np.asarray(points).reshape(-1, X.shape[1])
    if counts.sum() != len(points):
        raise RuntimeError("Could not match LT-Attack's logged points to its rows.")
    split = np.split(points, np.cumsum(counts)[:-1])
    # Its log prints distances to 6 decimals, its points to 11: measure those.
    for i, P in enumerate(split):
        if len(P):
            dist[i] = np.linalg.norm(P - X[i], ord=ORD[norm], axis=1).min()
    return dist, split, wall, per_point * np.isfinite(dist).sum()


def dump_splits(dump, n_features):
    """Split values per feature of an XGBoost JSON dump, as LT-Attack reads them (double)."""
    found = [set() for _ in range(n_features)]
    stack = list(json.loads(Path(dump).read_text()))
    while stack:
        node = stack.pop()
        if "leaf" not in node:
            split = node["split"]
            feature = int(split[1:]) if isinstance(split, str) else int(split)
            found[feature].add(float(node["split_condition"]))
            stack.extend(node["children"])
    return [np.array(sorted(t), np.float64) for t in found]


def snap_to_float32(points, splits):
    """Put LT-Attack's points on the side of each split it meant, for XGBoost.

    LT-Attack compares ``x < split`` in double, with the dump's decimal
    split, and places a point 1e-10 from it; XGBoost compares
    ``float32(x) < float32(split)``. Where the two disagree, the coordinate
    moves to the nearest float32 on LT-Attack's side: the largest float32
    below the split (left) or the split itself (right).
    """
    out = []
    for P in points:
        P = P.copy()
        for j, s in enumerate(splits):
            if not len(s) or not len(P):
                continue
            t = s.astype(np.float32)
            v = P[:, j][:, None]
            left_lt, left_xgb = v < s, v.astype(np.float32) < t
            bad = left_lt != left_xgb
            if not bad.any():
                continue
            rows, k = np.nonzero(bad)
            new = np.where(left_lt[rows, k],
                           np.nextafter(t[k], np.float32(-np.inf)), t[k]).astype(np.float64)
            P[rows, j] = new
        out.append(P)
    return out


def lt_confirmed(model, X, y_pred, dist, points, norm):
    """Per row: does the model's own predict confirm LT-Attack's best point, and
    the distance of the nearest of its points that it confirms."""
    confirmed = np.zeros(len(X), bool)
    nearest = np.full(len(X), np.inf)
    for i, P in enumerate(points):
        if not len(P):
            continue
        d = np.linalg.norm(P - X[i], ord=ORD[norm], axis=1)
        flips = np.asarray(model.predict(P)).ravel() != y_pred[i]
        confirmed[i] = np.isfinite(dist[i]) and flips[np.argmin(d)]
        if flips.any():
            nearest[i] = d[flips].min()
    return confirmed, nearest


def lt_rows(binary, dump, model, X, y_pred, *, n_features, feature_start, norm, threads):
    """LT-Attack's rows of a table: (method, distances, cold s, warm s), and a note."""
    with tempfile.TemporaryDirectory() as tmp:
        dist, points, wall, own = lt_attack(binary, dump, X, y_pred, n_features=n_features,
                                            feature_start=feature_start, norm=norm,
                                            threads=threads, workdir=tmp)
    confirmed, nearest = lt_confirmed(model, X, y_pred, dist, points, norm)
    snapped = snap_to_float32(points, dump_splits(dump, X.shape[1]))
    _, nearest_snapped = lt_confirmed(model, X, y_pred, dist, snapped, norm)
    rows = [(f"LT-Attack, own check ({threads} threads)", dist, wall, own),
            ("LT-Attack, nearest point XGBoost confirms", nearest, wall, own),
            ("LT-Attack, points moved to float32 splits", nearest_snapped, wall, own)]
    note = (f"LT-Attack attacked {np.isfinite(dist).sum()}/{len(X)} rows (it skips rows "
            f"its double reading of the dump misclassifies); XGBoost's predict confirms "
            f"its best point on {confirmed.sum()}, {np.isfinite(nearest_snapped).sum()} "
            f"after moving its points to float32 splits")
    return rows, note


# --------------------------------------------------------------------------
# part 1: breast_cancer
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    lo, span = X.min(), X.max() - X.min()
    Z = (X - lo) / span
    Ztr, Zte, ytr, yte = train_test_split(Z, y, test_size=0.25, random_state=0)
    return Ztr, Zte, ytr, span


def victims(Ztr, ytr):
    """Fitted victims by name (None for a library that is not installed)."""
    out = {
        "DecisionTree": DecisionTreeClassifier(random_state=0),
        "RandomForest": RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0),
        "GradientBoosting": GradientBoostingClassifier(n_estimators=20, max_depth=4,
                                                       random_state=0),
        "HistGradientBoosting": HistGradientBoostingClassifier(max_iter=20, max_depth=4,
                                                               random_state=0),
    }
    try:
        from xgboost import XGBClassifier

        out["XGBoost"] = XGBClassifier(n_estimators=20, max_depth=4, base_score=0.5,
                                       random_state=0, n_jobs=1)
    except ImportError:
        out["XGBoost"] = None
    try:
        from lightgbm import LGBMClassifier

        out["LightGBM"] = LGBMClassifier(n_estimators=20, max_depth=4, num_leaves=16,
                                         random_state=0, n_jobs=1, verbose=-1)
    except ImportError:
        out["LightGBM"] = None
    try:
        from catboost import CatBoostClassifier

        out["CatBoost"] = CatBoostClassifier(iterations=20, depth=4, random_seed=0,
                                             thread_count=1, verbose=0,
                                             allow_writing_files=False)
    except ImportError:
        out["CatBoost"] = None
    return {k: None if m is None else m.fit(Ztr, ytr) for k, m in out.items()}


def part_same_models(args, lt_bin):
    Ztr, Zte, ytr, span = breast_cancer()
    n = min(args.rows, len(Zte))
    R = Zte[:n]
    has_bound = hasattr(skadv.verify, "tree_certified_radius")
    print(f"## 1. breast_cancer (standardised), {n} held-out rows, L-inf, distances in "
          f"standard deviations\n")
    attacks, bounds, status = [], [], []
    for name, model in victims(Ztr, ytr).items():
        if model is None:
            status.append(f"- {name}: library not installed")
            continue
        y_pred = np.asarray(model.predict(R)).ravel()
        res = None
        if skadv_supports(model, Ztr):
            res = skadv_attacks(model, Ztr, R, y_pred, "inf", args.time_limit)
        else:
            status.append(f"- {name}: skadv tree attacks (and bound): {NOT_YET}")
        d_e, t_e = (res["exact"][0], res["exact"][1]) if res else (None, None)

        def attack_row(method, d, cold, warm, target=False):
            r = ratio(d, d_e) if res else np.nan
            met = ""
            if target and res:
                speedup = t_e / max(cold, warm)
                met = ("met" if r <= TARGET_RATIO and speedup >= TARGET_SPEEDUP
                       else "NOT met")
            ok = np.isfinite(d)
            attacks.append((name, method, f"{ok.mean():.2f}",
                            fmt(d[ok].mean() * span if ok.any() else None),
                            fmt(r), fmt(1e3 * cold / n, ".2f"), fmt(1e3 * warm / n, ".2f"),
                            f"{t_e / cold:.1f} / {t_e / warm:.1f}" if res else "-", met))

        if res:
            note = f" ({res['n_inexact']} rows hit time_limit)" if res["n_inexact"] else ""
            attack_row("skadv ExactTreeAttack" + note, d_e, t_e, t_e)
            attack_row("skadv GreedyTreeAttack", *res["greedy"],
                       target=name != "DecisionTree")
        if name == "DecisionTree":
            d, sec = art_decision_tree_attack(model, R, y_pred)
            attack_row("ART DecisionTreeAttack", d, sec, sec)
        if lt_bin and name == "XGBoost":
            with tempfile.TemporaryDirectory() as tmp:
                dump = Path(tmp) / "xgb_dump.json"
                model.get_booster().dump_model(str(dump), dump_format="json")
                rows, note = lt_rows(lt_bin, dump, model, R, y_pred, n_features=R.shape[1],
                                     feature_start=0, norm="inf", threads=args.lt_threads)
            for row in rows:
                attack_row(*row)
            status.append(f"- {name}: {note}")
            if res:
                _, d_lt, lt_cold, lt_warm = rows[0]
                d_g, g_cold, g_warm = res["greedy"]
                status.append(f"- {name}: GreedyTreeAttack / LT-Attack: distance "
                              f"{ratio(d_g, d_lt):.3f}x, LT-Attack time / greedy's "
                              f"{lt_cold / g_cold:.1f}x cold, {lt_warm / g_warm:.1f}x warm")

        # Certified bounds against the exact radius (rows the MILP solved).
        timings = {}
        if has_bound and res:
            settings = {"skadv bound (defaults)": {},
                        "skadv bound (max_clique=2, max_level=2)": {"max_clique": 2,
                                                                    "max_level": 2}}
            timings.update(skadv_bounds(model, R, settings))
        classifier = art_tree_classifier(name, model)
        art = "ART clique (eps_init=0.3, 10 steps)"
        if isinstance(classifier, Exception):
            status.append(f"- {name}: ART's wrapper refuses it ({classifier})")
        elif classifier is not None:
            r, sec = art_clique(classifier, R, y_pred)
            timings[art] = (r, sec, sec)
        art_sec = timings[art][2] if art in timings else None
        for method, (r, cold, warm) in timings.items():
            r = np.asarray(r, float)
            if res:
                exact_r = np.where(res["solved"], res["minimal"], np.nan)
                over = f"{int(np.sum(r > exact_r * (1 + 1e-6) + 1e-9))}/{n}"
                tight = ratio(r, np.where(res["solved"], res["minimal"], np.inf))
            else:
                over, tight = "-", np.nan
            bounds.append((name, method, fmt(np.mean(r) * span), fmt(tight), over,
                           fmt(1e3 * cold / n, ".2f"), fmt(1e3 * warm / n, ".2f"),
                           "-" if art_sec is None else f"{art_sec / cold:.1f} / "
                                                       f"{art_sec / warm:.1f}"))
    markdown(("model", "attack", "success", "mean L-inf", "/ exact", "ms/row cold",
              "ms/row warm", "exact time / this (cold / warm)",
              f"<= {TARGET_RATIO}x, >= {TARGET_SPEEDUP:.0f}x"), attacks)
    print()
    if not has_bound:
        status.append(f"- skadv.verify.tree_certified_radius: {NOT_YET}")
    if bounds:
        print("Certified radii (a lower bound of the exact radius; rows above it are "
              "unsound)\n")
        markdown(("model", "bound", "mean radius", "/ exact", "rows above exact",
                  "ms/row cold", "ms/row warm", "ART time / this (cold / warm)"), bounds)
        print()
    if not lt_bin:
        status.append("- LT-Attack: LT_ATTACK_BIN not set, not run")
    print("\n".join(status) + "\n")


# --------------------------------------------------------------------------
# part 2: LT-Attack's random forests
def peer_victim(path):
    """The converted XGBoost model, as a Booster if skadv reads one, else an XGBClassifier."""
    import xgboost

    clf = xgboost.XGBClassifier()
    clf.load_model(str(path))
    booster = xgboost.Booster(model_file=str(path))
    return clf, booster


def part_peers(args, lt_bin):
    base = PEERS / "tree-ensemble-attack"
    if not base.is_dir():
        print(f"## 2. LT-Attack's models: {base} absent, skipped\n")
        return
    try:
        import xgboost  # noqa: F401
    except ImportError:
        print("## 2. LT-Attack's models: xgboost not installed, skipped\n")
        return
    names = list(PEER_MODELS) if args.peer_models is None else args.peer_models
    print(f"## 2. LT-Attack's XGBoost random forests, first {args.peer_rows} correctly "
          f"classified test rows, features in [0, 1]\n")
    table, status = [], []
    for name in names:
        data_file, n_features = PEER_MODELS[name]
        X, y = load_svmlight_file(str(base / "data" / data_file), n_features=n_features + 1,
                                  zero_based=True)
        X = X.toarray()
        dump = base / "random_forest" / "models" / f"{name}.json"
        clf, booster = peer_victim(base / "random_forest" / "models"
                                   / f"{name}.converted_xgb305.json")
        pred = clf.predict(X)
        rows = np.flatnonzero(pred == y)[:args.peer_rows]
        R, y_pred = X[rows], pred[rows]
        trees = json.loads(dump.read_text())
        label = f"{name} ({len(trees)} trees)"
        # The skadv readers take a Booster or an XGBClassifier; try the Booster first.
        model = next((m for m in (booster, clf) if skadv_supports(m, X)), None)
        for norm in args.peer_norms:
            res = None
            if model is None:
                status.append(f"- {name}: skadv tree attacks on XGBoost: {NOT_YET}")
            else:
                res = skadv_attacks(model, X, R, y_pred, norm, args.time_limit)
            lt, methods = [], []
            if lt_bin:
                lt, note = lt_rows(lt_bin, dump, clf, R, y_pred, n_features=n_features,
                                   feature_start=1, norm=norm, threads=args.lt_threads)
                status.append(f"- {name}, L{norm}: {note}")
            d_e = res["exact"][0] if res else None
            d_lt = lt[0][1] if lt else None
            if res:
                note = f" ({res['n_inexact']} hit time_limit)" if res["n_inexact"] else ""
                methods += [("skadv ExactTreeAttack" + note, *res["exact"]),
                            ("skadv GreedyTreeAttack", *res["greedy"])]
            methods += lt
            for method, d, cold, warm in methods:
                ok = np.isfinite(d)
                speed = "-"
                if lt and method.startswith("skadv"):
                    speed = f"{lt[0][2] / cold:.1f} / {lt[0][3] / warm:.1f}"
                table.append((label, f"L{norm}", len(R), method, f"{ok.mean():.2f}",
                              fmt(d[ok].mean() if ok.any() else None, ".4f"),
                              fmt(ratio(d, d_e)) if d_e is not None else "-",
                              fmt(ratio(d, d_lt)) if d_lt is not None else "-",
                              fmt(1e3 * cold / len(R), ".2f"),
                              fmt(1e3 * warm / len(R), ".2f"), speed))
    markdown(("model", "norm", "rows", "method", "success", "mean dist", "/ exact",
              "/ LT-Attack", "ms/row cold", "ms/row warm",
              "LT-Attack time / this (cold / warm)"), table)
    if not lt_bin:
        status.append("- LT-Attack: LT_ATTACK_BIN not set, not run")
    print("\n" + "\n".join(dict.fromkeys(status)) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="20 rows on breast_cancer, 10 per LT-Attack model, L-inf only")
    parser.add_argument("--rows", type=int, default=100,
                        help="held-out breast_cancer rows (of 143)")
    parser.add_argument("--peer-rows", type=int, default=100,
                        help="test rows per LT-Attack model (its own configs use 100)")
    parser.add_argument("--peer-models", nargs="+", choices=list(PEER_MODELS), default=None)
    parser.add_argument("--peer-norms", nargs="+", default=["inf", "2"])
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="seconds per MILP of the exact attack")
    parser.add_argument("--lt-threads", type=int, default=2,
                        help="LT-Attack's threads (num_threads; 20 in its configs)")
    parser.add_argument("--skip", choices=["same", "peers"], default=None)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.peer_rows, args.peer_norms = 20, 10, ["inf"]
    args.peer_norms = ["inf" if v == "inf" else int(v) for v in args.peer_norms]
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("art").setLevel(logging.ERROR)
    lt_bin = os.environ.get("LT_ATTACK_BIN")
    if lt_bin and not os.access(lt_bin, os.X_OK):
        raise SystemExit(f"LT_ATTACK_BIN={lt_bin} is not an executable file.")
    if args.skip != "same":
        part_same_models(args, lt_bin)
    if args.skip != "peers":
        part_peers(args, lt_bin)


if __name__ == "__main__":
    main()
