"""Command line: ``skadv study`` (also ``python -m skadv study``).

The study trains every requested defense on a bundled tabular data set,
attacks each one on held-out rows with white-box, black-box and adaptive
attacks at every budget, and reports clean accuracy, accuracy under each
attack, the per-row worst case over the attacks and, where a defense
certifies, its certified accuracy. It prints the table and writes
``report.md``, ``results.json`` and PNG plots.

Budgets are L-inf and in standard deviations of the training data
(``feature_scale`` = the training standard deviation, which is also what the
models' ``StandardScaler`` divides by), so ``eps`` means the same for every
feature, model and defense. Attacks respect the study's feature constraints
in raw units.
"""

import argparse
import json
import math
import os
import sys
import time
import warnings

import numpy as np

from . import __version__
from .exceptions import NotDifferentiableError

__all__ = ["ATTACKS", "DEFENSES", "main", "run_study"]

QUICK_DEFENSES = ("undefended", "pgd-at", "masking", "ibp")
QUICK_ATTACKS = ("pgd", "square", "bpda")


# --------------------------------------------------------------------------
# what can be studied: name -> factory (settings, quick) -> unfitted estimator
def _mlp(settings, quick):
    from .models import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(32,), max_iter=40 if quick else 100,
                         learning_rate_init=0.01, random_state=settings["seed"])


def _scaled(model):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), model)


def _undefended(s, quick):
    return _scaled(_mlp(s, quick))


def _adversarial(method, **kw):
    def make(s, quick):
        from .attacks import PGDAttack
        from .defenses import AdversarialTrainingClassifier

        attack = PGDAttack(eps=s["train_eps"], steps=5 if quick else 10,
                           random_state=s["seed"])
        return _scaled(AdversarialTrainingClassifier(_mlp(s, quick), attack=attack,
                                                     method=method, **kw))
    return make


def _distillation(s, quick):
    from .defenses import DistilledClassifier

    return _scaled(DistilledClassifier(_mlp(s, quick), temperature=20.0))


def _masking(s, quick):
    from .defenses import GradientMaskingClassifier

    return _scaled(GradientMaskingClassifier(_mlp(s, quick), method="quantize",
                                             quantization_step=0.25))


def _smoothing(s, quick):
    from .defenses import CertifiedClassifier

    return _scaled(CertifiedClassifier(
        _mlp(s, quick), method="smoothing", sigma=0.25, n0=100,
        n=1000 if quick else 10_000, alpha=0.001, random_state=s["seed"]))


def _ibp(s, quick):
    from .defenses import CertifiedClassifier

    return _scaled(CertifiedClassifier(
        _mlp(s, quick), method="ibp", eps=s["train_eps"], ramp=10 if quick else 30,
        random_state=s["seed"]))


DEFENSES = {
    "undefended": _undefended,
    "pgd-at": _adversarial("pgd"),
    "fgsm-at": _adversarial("fgsm"),
    "trades": _adversarial("trades", beta=6.0),
    "distillation": _distillation,
    "masking": _masking,
    "smoothing": _smoothing,
    "ibp": _ibp,
}
DEFAULT_DEFENSES = ("undefended", "pgd-at", "trades", "distillation", "masking",
                    "smoothing", "ibp")


def _apgd(loss, quick, seed, n_classes):
    from .attacks import AutoPGDAttack

    if loss == "margin":
        loss = "dlr" if n_classes >= 3 else "cw"
    return AutoPGDAttack(steps=25 if quick else 100, restarts=1 if quick else 2,
                         loss=loss, random_state=seed)


def _attack_factories():
    from .attacks import (
        BPDA,
        EOT,
        ConstrainedAdaptiveAttack,
        FGSMAttack,
        HopSkipJumpAttack,
        PGDAttack,
        SquareAttack,
    )

    return {
        "fgsm": lambda q, s, k: FGSMAttack(),
        "pgd": lambda q, s, k: PGDAttack(steps=20 if q else 50, restarts=1 if q else 3,
                                         random_state=s),
        "apgd": lambda q, s, k: _apgd("ce", q, s, k),
        "apgd-margin": lambda q, s, k: _apgd("margin", q, s, k),
        "square": lambda q, s, k: SquareAttack(max_queries=300 if q else 500,
                                               random_state=s),
        "hsj": lambda q, s, k: HopSkipJumpAttack(norm="inf", max_queries=300 if q else 1000,
                                                 random_state=s),
        "bpda": lambda q, s, k: BPDA(_apgd("ce", q, s, k)),
        "eot": lambda q, s, k: EOT(_apgd("ce", q, s, k), n_samples=8 if q else 16),
        "caa": lambda q, s, k: ConstrainedAdaptiveAttack(
            attacks=[("apgd", _apgd("ce", q, s, k)),
                     ("square", SquareAttack(max_queries=300 if q else 1000))],
            random_state=s),
    }


ATTACKS = ("fgsm", "pgd", "apgd", "apgd-margin", "square", "hsj", "bpda", "eot", "caa")
DEFAULT_ATTACKS = ("pgd", "apgd", "apgd-margin", "square", "bpda", "eot")
ATTACK_KIND = {"fgsm": "white-box", "pgd": "white-box", "apgd": "white-box",
               "apgd-margin": "white-box", "square": "black-box", "hsj": "black-box",
               "bpda": "adaptive", "eot": "adaptive",
               "caa": "constrained adaptive: AutoPGD, then Square on the rows it missed"}


# --------------------------------------------------------------------------
def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating,)):
        return _json_safe(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def _write_plots(report, out, names):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .evaluation import CERTIFIED, WORST
    from .plotting import RobustnessCurveDisplay

    paths = []
    fig, ax = plt.subplots(figsize=(7, 4.8))
    RobustnessCurveDisplay.from_report(report, attacks=[WORST, CERTIFIED], ax=ax)
    ax.set_title("Worst case over all attacks (solid) and certified accuracy (dashed)")
    path = os.path.join(out, "worst_case.png")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths.append(path)
    for name in names:
        fig, ax = plt.subplots(figsize=(6.4, 4.4))
        RobustnessCurveDisplay.from_report(report, estimator=name, ax=ax)
        ax.set_title(name)
        path = os.path.join(out, f"curves_{name}.png")
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def _unconstrained_check(name, model, X, y, study, scale, eps, seed, quick):
    """PGD without the study's constraints: how many of its adversarial rows
    are inputs that could exist (the reason constraint-aware attacks matter)."""
    from .attacks import PGDAttack

    attack = PGDAttack(model, eps=eps, steps=20 if quick else 50, feature_scale=scale,
                       random_state=seed).fit(X)
    X_adv = attack.transform(X, y)
    turned = attack.success_ & (np.asarray(model.predict(X)) == y)
    ok, why = study.constraints.is_satisfied(X_adv, X, return_violations=True)
    n = int(turned.sum())
    return {"estimator": name, "attack": "pgd", "eps": float(eps), "n_adversarial": n,
            "valid": float(ok[turned].mean()) if n else None,
            "broken": {k: float(v[turned].mean()) for k, v in why.items()
                       if n and v[turned].any()}}


def _unconstrained_text(check):
    if not check["n_adversarial"]:
        return (f"Without the study's constraints, PGD (eps={check['eps']:g}) turned no "
                f"row of {check['estimator']}.")
    broken = ", ".join(f"{k} {v:.0%}" for k, v in
                       sorted(check["broken"].items(), key=lambda kv: -kv[1]))
    only = "only " if check["valid"] < 0.5 else ""
    return (f"Without the study's constraints, PGD (eps={check['eps']:g}) turned "
            f"{check['n_adversarial']} rows of {check['estimator']}; {only}"
            f"{check['valid']:.0%} of them satisfy the constraints (rows breaking each "
            f"constraint: {broken or 'none'}).")


def _markdown(study_name, study, settings, report, timings, n_train, n_test):
    from .evaluation import report_to_markdown

    lines = [
        f"# skadv robustness study: {study_name}",
        "",
        study.DESCR,
        "",
        f"- {n_train} training rows, {n_test} held-out rows attacked (stratified split, "
        f"seed {settings['seed']}); skadv {__version__}.",
        "- Budgets: L-inf, in standard deviations of the training data; every attack "
        "respects the study's feature constraints.",
        f"- Defenses train at eps = {settings['train_eps']:g}.",
        "- `worst case`: a row counts as robust only if every attack failed on it. "
        "`certified`: proven lower bound (smoothing's L2 radius r certifies the L-inf "
        "ball of radius r / sqrt(n_features)); the attacks give upper bounds.",
        "- Attacks: " + ", ".join(f"{a} ({ATTACK_KIND[a]})" for a in settings["attacks"])
        + ".",
        "",
        "## Accuracy",
        "",
        report_to_markdown(report),
        "## Median perturbation of the rows each attack turned",
        "",
        report_to_markdown(report, value="median_perturbation"),
        "## Share of the rows each attack turned that were valid before its final repair",
        "",
        "Attacks that keep the constraints inside their search stay near 1 (a "
        "white-box attack relaxes integers, which the repair rounds).",
        "",
        report_to_markdown(report, value="valid_before_repair"),
        "## Time",
        "",
        "| defense | fit s | attacks s |",
        "|---|---:|---:|",
    ]
    for name, (fit_s, attack_s) in timings.items():
        lines.append(f"| {name} | {fit_s:.1f} | {attack_s:.1f} |")
    if settings.get("unconstrained") is not None:
        lines += ["", "## Why the constraints matter", "",
                  _unconstrained_text(settings["unconstrained"])]
    lines += ["", "![worst case](worst_case.png)", ""]
    return "\n".join(lines)


def run_study(dataset="breast_cancer", *, defenses=None, attacks=None, eps=None, out=None,
              seed=0, quick=False, progress=False, train_eps=None, test_size=0.3,
              stream=None):
    """Run a robustness study and write its report.

    Parameters
    ----------
    dataset : str, default="breast_cancer"
        A study of :mod:`skadv.datasets`.
    defenses : list of str, default=None
        Names in ``DEFENSES`` (default: all but FGSM-AT; fewer with ``quick``).
    attacks : list of str, default=None
        Names in ``ATTACKS`` (default: PGD, AutoPGD (CE and margin), Square,
        BPDA and EOT; fewer with ``quick``).
    eps : list of float, default=None
        Budgets in training standard deviations (default: the study's grid;
        its first three values with ``quick``).
    out : str, default=None
        Folder for ``report.md``, ``results.json`` and PNG plots (not written
        when None).
    seed : int, default=0
        Seeds the split, the models and the attacks.
    quick : bool, default=False
        Smaller models, attacks and grids: a smoke test in seconds.
    progress : bool, default=False
        tqdm progress bars.
    train_eps : float, default=None
        Budget the defenses train at (default: the middle of the grid).
    test_size : float, default=0.3
    stream : file, default=None
        Where to print the table (``sys.stdout`` when None).

    Returns
    -------
    report : pandas.DataFrame
        As :func:`skadv.evaluation.robustness_report`.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split

    from .datasets import STUDIES, load_study
    from .evaluation import _progress, report_to_markdown, robustness_report

    stream = sys.stdout if stream is None else stream
    if dataset not in STUDIES:
        raise ValueError(f"Unknown dataset {dataset!r}; choose from {sorted(STUDIES)}.")
    defenses = list(defenses or (QUICK_DEFENSES if quick else DEFAULT_DEFENSES))
    attacks = list(attacks or (QUICK_ATTACKS if quick else DEFAULT_ATTACKS))
    for kind, names, known in (("defense", defenses, DEFENSES), ("attack", attacks, ATTACKS)):
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"Unknown {kind}(s) {unknown}; choose from {list(known)}.")
    study = load_study(dataset)
    grid = np.asarray(study.eps if eps is None else eps, dtype=np.float64)
    if eps is None and quick:
        grid = grid[:3]
    if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) or np.any(grid < 0):
        raise ValueError(f"eps must be non-negative numbers. Got {eps!r} instead.")
    grid = np.unique(grid)
    settings = {"seed": seed, "attacks": attacks,
                "train_eps": float(np.median(grid) if train_eps is None else train_eps)}

    X_train, X_test, y_train, y_test = train_test_split(
        study.data, study.target, test_size=test_size, stratify=study.target,
        random_state=seed)
    scale = X_train.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    n_classes = len(np.unique(study.target))
    factories = _attack_factories()
    attack_objs = {a: factories[a](quick, seed, n_classes) for a in attacks}

    fitted, timings = {}, {}
    bar = _progress(len(defenses), progress, "training defenses")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in defenses:
            model = clone(DEFENSES[name](settings, quick))
            start = time.perf_counter()
            fitted[name] = model.fit(X_train, y_train)
            timings[name] = [time.perf_counter() - start, 0.0]
            bar.update()
        bar.close()
        report = robustness_report(
            fitted, X_test, y_test, attacks=attack_objs, eps=grid,
            constraints=study.constraints, feature_scale=scale, verbose=progress)
        # PGD without the constraints on the first defense: how many of its
        # adversarial rows could exist at all.
        first = defenses[0]
        try:
            settings["unconstrained"] = _unconstrained_check(
                first, fitted[first], X_test, y_test, study, scale, settings["train_eps"],
                seed, quick)
        except NotDifferentiableError:  # no gradients to follow: nothing to compare
            settings["unconstrained"] = None
    for name in defenses:
        timings[name][1] = float(report[report.estimator == name].time_s.sum())

    print(f"skadv study: {dataset} ({len(y_train)} train / {len(y_test)} test rows), "
          f"L-inf eps in training standard deviations, defenses trained at "
          f"eps={settings['train_eps']:g}", file=stream)
    print(report_to_markdown(report), file=stream)
    if settings["unconstrained"] is not None:
        print(_unconstrained_text(settings["unconstrained"]), file=stream)
    if out is not None:
        os.makedirs(out, exist_ok=True)
        records = [{k: _json_safe(v) for k, v in rec.items()}
                   for rec in report.to_dict(orient="records")]
        payload = {"dataset": dataset, "seed": seed, "quick": quick,
                   "eps": grid.tolist(), "train_eps": settings["train_eps"],
                   "defenses": defenses, "attacks": attacks,
                   "n_train": int(len(y_train)), "n_test": int(len(y_test)),
                   "unconstrained": settings["unconstrained"],
                   "skadv_version": __version__, "records": records}
        with open(os.path.join(out, "results.json"), "w") as fh:
            json.dump(payload, fh, indent=1)
        with open(os.path.join(out, "report.md"), "w") as fh:
            fh.write(_markdown(dataset, study, settings, report, timings,
                               len(y_train), len(y_test)))
        for path in _write_plots(report, out, defenses):
            print(f"wrote {path}", file=stream)
        print(f"wrote {os.path.join(out, 'report.md')} and "
              f"{os.path.join(out, 'results.json')}", file=stream)
    return report


def _csv(kind, choices):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        unknown = [t for t in items if t not in choices]
        if not items or unknown:
            raise argparse.ArgumentTypeError(
                f"unknown {kind} {unknown or text!r}; choose from {', '.join(choices)}")
        return items
    return parse


def _eps_list(text):
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--eps must be comma-separated numbers, e.g. 0.05,0.1,0.2; got {text!r}"
        ) from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"--eps must be non-negative finite numbers; got {text!r}")
    return values


def build_parser():
    from .datasets import STUDIES

    parser = argparse.ArgumentParser(
        prog="skadv",
        description="Adversarial attacks and defenses for scikit-learn, built on JAX.")
    parser.add_argument("--version", action="version", version=f"skadv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    study = sub.add_parser(
        "study", help="run a robustness study on a bundled data set",
        description="Train defenses, attack them on held-out rows at every budget, "
                    "print the table and write report.md, results.json and plots.")
    study.add_argument("--dataset", default="breast_cancer", choices=sorted(STUDIES),
                       help="bundled study (default: %(default)s)")
    study.add_argument("--defenses", type=_csv("defense", list(DEFENSES)), default=None,
                       help="comma-separated, from: " + ", ".join(DEFENSES))
    study.add_argument("--attacks", type=_csv("attack", list(ATTACKS)), default=None,
                       help="comma-separated, from: " + ", ".join(ATTACKS))
    study.add_argument("--eps", type=_eps_list, default=None,
                       help="comma-separated L-inf budgets in training standard "
                            "deviations (default: the study's grid)")
    study.add_argument("--train-eps", type=float, default=None,
                       help="budget the defenses train at (default: middle of the grid)")
    study.add_argument("--out", default="skadv-study",
                       help="output folder (default: %(default)s)")
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--quick", action="store_true",
                       help="small models, attacks and grid: a smoke test")
    study.add_argument("--progress", action="store_true",
                       help="progress bars (default: when stderr is a terminal)")
    return parser


def main(argv=None):
    """Entry point of the ``skadv`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    progress = args.progress or sys.stderr.isatty()
    try:
        run_study(args.dataset, defenses=args.defenses, attacks=args.attacks, eps=args.eps,
                  out=args.out, seed=args.seed, quick=args.quick, progress=progress,
                  train_eps=args.train_eps)
    except ValueError as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
