"""Helpers shared by the tree benchmarks: timing, tables, ART's tree tools and LT-Attack.

LT-Attack (Zhang, Zhang and Hsieh, NeurIPS 2020; MIT licence,
github.com/chong-z/tree-ensemble-attack) is an external C++ program, not
part of skadv: ``run_lt_attack`` writes the rows and a config (the format of
its README) to a temporary directory, runs it and parses its log and its
adversarial points; ``lt_results`` checks those points with XGBoost's own
``predict``.
"""

import json
import re
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from skadv.attacks import ExactTreeAttack

ORD = {"inf": np.inf, 2: 2, 1: 1}


# --------------------------------------------------------------------------
# helpers
def timed(fn, repeat=1):
    """``fn()`` and its seconds, the median of up to ``repeat`` runs (a run past 2 s ends it)."""
    times = []
    while len(times) < repeat:
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
        if times[-1] > 2.0:
            break
    return out, float(np.median(times))


def predict(model, X):
    return np.asarray(model.predict(X)).ravel()


def distances(model, X, X_adv, norm, pred):
    """Per-row distance of the points the model's predict moves off ``pred`` (inf otherwise)."""
    flipped = predict(model, X_adv) != pred
    return np.where(flipped, np.linalg.norm(X_adv - X, ord=ORD[norm], axis=1), np.inf)


def ratio(a, b):
    """mean(a) / mean(b) over the rows where both are finite."""
    both = np.isfinite(a) & np.isfinite(b)
    return a[both].mean() / b[both].mean() if both.any() and b[both].mean() > 0 else np.nan


def below(d, ref, rtol=1e-6):
    """Rows where ``d`` is below ``ref`` (both finite): an attack beating the exact radius."""
    both = np.isfinite(d) & np.isfinite(ref)
    return int(np.sum(d[both] < ref[both] * (1 - rtol)))


def below_cell(d, ref):
    """``below`` as a table cell, with the largest relative shortfall where it is not 0."""
    n = below(d, ref)
    if not n:
        return "0"
    both = np.isfinite(d) & np.isfinite(ref) & (ref > 0)
    return f"{n} (by {np.max((ref[both] - d[both]) / ref[both]):.0e})"


def max_ratio(a, b):
    """Largest per-row a / b over the rows where both are finite and b > 0."""
    ok = np.isfinite(a) & np.isfinite(b) & (b > 0)
    return float(np.max(a[ok] / b[ok])) if ok.any() else np.nan


def mean_finite(d):
    d = np.asarray(d, float)
    return d[np.isfinite(d)].mean() if np.isfinite(d).any() else np.nan



def fmt(v, spec=".4f"):
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "-"
    return format(v, spec)


def table(head, rows, left=3):
    """Print rows under ``head``, the first ``left`` columns left-aligned."""
    rows = [tuple(map(str, r)) for r in rows]
    width = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
             for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) if i < left else h.rjust(w)
                     for i, (h, w) in enumerate(zip(head, width)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(c.ljust(w) if i < left else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, width))))
    print()


def run_attack(cls, model, X_fit, R, norm, pred, **kw):
    """Fit, warm up on two rows, time ``transform`` on ``R``: (attack, distances, seconds)."""
    attack = cls(model, norm=norm, **kw).fit(X_fit)
    # Two rows: with CatBoost a one-row transform fails (its predict leaves the row read-only).
    attack.transform(R[:2])
    X_adv, sec = timed(lambda: attack.transform(R), repeat=1 if cls is ExactTreeAttack else 5)
    return attack, distances(model, R, X_adv, norm, pred), sec


# --------------------------------------------------------------------------
# ART
def art_clique_classifier(name, model):
    """ART's wrapper for its clique verifier, and a note on what it verifies (None: no wrapper)."""
    from art.estimators.classification import LightGBMClassifier, XGBoostClassifier
    from art.estimators.classification.scikitlearn import (
        ScikitlearnGradientBoostingClassifier, ScikitlearnRandomForestClassifier)

    class BinaryLightGBM(LightGBMClassifier):
        # A binary booster has num_class 1, which ART's base class refuses;
        # its verifier's binary branch (sign of the sum of leaves) is right for it.
        def _get_nb_classes(self):
            return max(2, super()._get_nb_classes())

    if name == "sklearn GradientBoosting":
        return (ScikitlearnGradientBoostingClassifier(model),
                "ART sums the trees without init_ (the prior log-odds)")
    if name == "sklearn RandomForest":
        return (ScikitlearnRandomForestClassifier(model),
                "ART's binary rule tests the sign of summed class probabilities, which are "
                "never negative: every row gets 0 or its whole search range")
    if name == "XGBoost":
        return (XGBoostClassifier(model=model, nb_features=model.n_features_in_,
                                  nb_classes=len(model.classes_)),
                "ART ignores base_score (0.5 here, margin 0)")
    if name == "LightGBM":
        return (BinaryLightGBM(model=model.booster_),
                "ART's LightGBMClassifier refuses a binary booster (num_class 1); "
                "nb_classes patched to 2")
    return None, ("ART has no tree-reading wrapper for it (its clique verifier takes "
                  "scikit-learn DT/ET/RF/GB, XGBoost and LightGBM)")


def art_clique(classifier, X, labels, **settings):
    """Per-row ART clique bounds (its ``verify`` averages, so one row per call), seconds."""
    from art.metrics import RobustnessVerificationTreeModelsCliqueMethod

    def run():
        verifier = RobustnessVerificationTreeModelsCliqueMethod(classifier, verbose=False)
        return np.array([verifier.verify(X[i:i + 1], labels[i:i + 1], norm=np.inf,
                                         **settings)[0] for i in range(len(X))])

    return timed(run)


def art_decision_tree_attack(model, X):
    from art.attacks.evasion import DecisionTreeAttack
    from art.estimators.classification.scikitlearn import ScikitlearnDecisionTreeClassifier

    attack = DecisionTreeAttack(ScikitlearnDecisionTreeClassifier(model), verbose=False)
    return timed(lambda: attack.generate(X.copy()))


# --------------------------------------------------------------------------
# LT-Attack (an external C++ program)
def write_libsvm(path, X, labels, feature_start):
    with open(path, "w") as fh:
        for x, label in zip(X, labels):
            cells = " ".join(f"{j}:{v:.17g}" for j, v in enumerate(x)
                             if j >= feature_start and v != 0)
            fh.write(f"{int(label)} {cells}\n")


def run_lt_attack(binary, dump, X, labels, *, n_features, feature_start, norm, threads):
    """LT-Attack on rows ``X`` (moving off ``labels``).

    Returns its own per-row distances (inf where it skipped or failed), its
    points per row (the best of each starting point) or None where they could
    not be matched to rows, and its own attack time (seconds, all rows).
    """
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_libsvm(tmp / "rows.libsvm", X, labels, feature_start)
        (tmp / "config.json").write_text(json.dumps({
            "num_threads": threads, "enable_early_return": True,
            "inputs": str(tmp / "rows.libsvm"), "model": str(dump), "num_classes": 2,
            "num_features": n_features, "feature_start": feature_start,
            "num_point": len(X), "num_attack_per_point": 20,
            "norm_type": -1 if norm == "inf" else norm, "search_mode": "lt-attack",
            "adv_training_path": str(tmp / "adv.txt")}))
        log = subprocess.run([binary, "config.json"], cwd=tmp, capture_output=True,
                             text=True, check=True).stdout
        adv = (tmp / "adv.txt").read_text().splitlines() if (tmp / "adv.txt").exists() else []
    per_point = re.search(r"Time per point: (\S+)", log)
    dist = np.full(len(X), np.inf)
    counts = np.zeros(len(X), int)
    parts = re.split(r"Running testing example at line (\d+)\n", log)[1:]
    for line, body in zip(parts[::2], parts[1::2]):
        found = re.search(r"===== Attack result for example \d+/\d+ Norm\(-?\d+\)=(\S+) =====",
                          body)
        if found:
            i = int(line) - 1
            dist[i] = float(found.group(1))
            counts[i] = body.count("Norms for random point")
    points = None
    if counts.sum() == len(adv):
        flat = np.zeros((len(adv), X.shape[1]))
        for r, text in enumerate(adv):
            for cell in text.split()[1:]:
                j, v = cell.split(":")
                flat[r, int(j)] = float(v)
        points = np.split(flat, np.cumsum(counts)[:-1])
    seconds = float(per_point.group(1)) * np.isfinite(dist).sum() if per_point else np.nan
    return dist, points, seconds


def dump_splits(dump, n_columns):
    """Split values per feature of an XGBoost JSON dump (as LT-Attack reads them: double)."""
    found = [set() for _ in range(n_columns)]
    stack = list(json.loads(Path(dump).read_text()))
    while stack:
        node = stack.pop()
        if "children" in node:
            found[int(str(node["split"]).lstrip("f"))].add(float(node["split_condition"]))
            stack.extend(node["children"])
    return [np.array(sorted(s)) for s in found]


def to_float32_side(P, splits):
    """Move LT-Attack's points onto the side of each split it meant, as XGBoost compares.

    LT-Attack goes left iff ``x < split`` (double, decimal split); XGBoost iff
    ``float32(x) < float32(split)``. Where they disagree, the coordinate
    becomes the largest float32 below the split (left) or the split (right).
    """
    P = P.copy()
    for j, s in enumerate(splits):
        if not len(s):
            continue
        t = s.astype(np.float32)
        v = P[:, j][:, None]
        left = v < s
        bad = left != (v.astype(np.float32) < t)
        rows, k = np.nonzero(bad)
        P[rows, j] = np.where(left[rows, k], np.nextafter(t[k], np.float32(-np.inf)), t[k])
    return P


def lt_results(binary, dump, model, X, pred, *, n_features, feature_start, norm, threads):
    """LT-Attack's two rows (its own check; what XGBoost confirms) and a note."""
    dist, points, sec = run_lt_attack(binary, dump, X, pred, n_features=n_features,
                                      feature_start=feature_start, norm=norm, threads=threads)
    confirmed = np.full(len(X), np.inf)
    raw_ok = 0
    if points is not None:
        splits = dump_splits(dump, X.shape[1])
        for i, P in enumerate(points):
            if not len(P):
                continue
            d = np.linalg.norm(P - X[i], ord=ORD[norm], axis=1)
            # Its log prints distances to 6 decimals, its points to 11: measure the points.
            dist[i] = d.min()
            raw_ok += bool(predict(model, P[[np.argmin(d)]])[0] != pred[i])
            Q = to_float32_side(P, splits)
            flips = predict(model, Q) != pred[i]
            if flips.any():
                confirmed[i] = np.linalg.norm(Q[flips] - X[i], ord=ORD[norm], axis=1).min()
    note = (f"LT-Attack attacked {np.isfinite(dist).sum()}/{len(X)} rows; XGBoost's predict "
            + (f"confirms its best point on {raw_ok}, {np.isfinite(confirmed).sum()} after "
               "moving its points to float32 splits" if points is not None else
               "was not checked (its logged points could not be matched to rows)"))
    return [("LT-Attack (own check)", dist, sec),
            ("LT-Attack (XGBoost confirms)", confirmed, sec)], note
