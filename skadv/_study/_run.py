"""Run a study: fit (or take) the models, attack them, certify what can be, collect.

:class:`Study` is the Python entry point the ``skadv study`` command calls.
"""

import numbers
import os
import sys
import time
import warnings
from typing import NamedTuple

import numpy as np

from ..exceptions import NotDifferentiableError
from ..utils._parallel import safe_parallel
from . import _registry as reg
from ._data import StudyInputError
from ._problem import EPS_UNITS, bundled_problem, table_problem

__all__ = ["Study", "StudyResult", "study"]


class StudyResult(NamedTuple):
    """What :meth:`Study.run` returns."""

    report: object    # DataFrame: robustness_report's rows, certified included
    examples: object  # DataFrame: adversarial_examples.csv
    columns: object   # DataFrame: how often and how far each column moved
    paths: dict       # what was written: name -> path


def _certified_trees(name, model, X, y, grid, scale):
    """Certified-accuracy records of a tree ensemble (Chen et al.'s clique bound)."""
    from ..attacks._encoding import InputEncoder
    from ..attacks.trees import encoded_ensemble, tree_ensemble
    from ..evaluation import CERTIFIED, _record
    from ..verify import tree_certified_radius

    enc = InputEncoder.from_data(X, model)
    if enc.identity:
        ens, Z, s = tree_ensemble(model), np.asarray(X, dtype=np.float64), scale
    else:
        ens, Z, s = encoded_ensemble(model, enc), enc.encode(X), enc.expand(scale)
    start = time.perf_counter()
    # Capped just above the largest budget: radius > eps certifies eps.
    cap = float(grid.max()) * (1 + 1e-6) + 1e-9
    radius = tree_certified_radius(ens, Z, norm="inf", method="bound", eps=cap,
                                   feature_scale=s)
    pred = np.asarray(model.predict(X)).reshape(len(y))
    same = np.searchsorted(np.asarray(model.classes_), pred) == ens.predict(Z)
    ok = (pred == y) & same
    seconds = (time.perf_counter() - start) / len(grid)
    return [_record(name, e, CERTIFIED, ok & (radius > e), seconds=seconds) for e in grid]


def _unconstrained_check(name, model, problem, eps, seed, quick):
    """PGD without the constraints: how many of its adversarial rows could exist."""
    from ..attacks import PGDAttack

    X, y = problem.X_test, problem.y_test
    attack = PGDAttack(model, eps=eps, steps=20 if quick else 50,
                       feature_scale=problem.scale, random_state=seed).fit(X)
    X_adv = attack.transform(X, y)
    turned = attack.success_ & (np.asarray(model.predict(X)) == y)
    ok, why = problem.constraints.is_satisfied(X_adv, X, return_violations=True)
    n = int(turned.sum())
    return {"estimator": name, "attack": "pgd", "eps": float(eps), "n_adversarial": n,
            "valid": float(ok[turned].mean()) if n else None,
            "broken": {k: float(v[turned].mean()) for k, v in why.items()
                       if n and v[turned].any()}}


def _change(problem, col, clean, adv):
    """Per row, did user column ``col`` move, and by how much (NaN for a category)."""
    if not problem.numeric(col):
        moved = clean[col].astype(str).to_numpy() != adv[col].astype(str).to_numpy()
        return moved, np.full(len(moved), np.nan)
    size = np.abs(adv[col].to_numpy(np.float64) - clean[col].to_numpy(np.float64))
    return size > 0, size


def _perturbation(problem, clean, adv):
    """Per row, the L-inf distance in units of eps (a category change counts 1)."""
    d = np.zeros(len(clean))
    for j, col in enumerate(clean.columns):
        moved, size = _change(problem, col, clean, adv)
        d = np.maximum(d, size / problem.user_scale[j] if problem.numeric(col)
                       else moved.astype(float))
    return d


def _examples(problem, model_names, grid, preds, advs, clean_pred):
    """Per model and attacked row: the first budget at which an attack turned it.

    Of the attacks that turned it there, the one with the smallest
    perturbation gives the row of ``adversarial_examples.csv``.
    """
    import pandas as pd

    user = problem.user_test
    frames = []
    for name in model_names:
        done = clean_pred[name] != problem.y_test  # wrong already: nothing to turn
        for e in grid:
            keys = [k for k in advs if k[0] == name and k[1] == float(e)]
            best, best_d = {}, {}
            for key in keys:
                wrong = (preds[key] != problem.y_test) & ~done
                if not wrong.any():
                    continue
                adv = problem.to_user(advs[key])
                d = _perturbation(problem, user, adv)
                for i in np.flatnonzero(wrong):
                    if i not in best_d or d[i] < best_d[i]:
                        best_d[i], best[i] = d[i], (key[2], adv.iloc[i], preds[key][i])
            if not best:
                continue
            idx = sorted(best)
            rows = pd.DataFrame([best[i][1] for i in idx]).reset_index(drop=True)
            meta = pd.DataFrame({
                "row": problem.rows[idx], "model": name, "eps": float(e),
                "attack": [best[i][0] for i in idx], "perturbation": [best_d[i] for i in idx],
                problem.target: problem.y_test[idx],
                "prediction_before": clean_pred[name][idx],
                "prediction_after": [best[i][2] for i in idx]})
            clash = [c for c in meta.columns if c in rows.columns]
            meta = meta.rename(columns={c: f"skadv_{c}" for c in clash})
            frames.append(pd.concat([meta, rows], axis=1))
            done[idx] = True
    if not frames:
        return pd.DataFrame(columns=["row", "model", "eps", "attack", "perturbation",
                                     problem.target, "prediction_before", "prediction_after",
                                     *user.columns])
    return pd.concat(frames, ignore_index=True)


def _column_moves(problem, examples):
    """Per model and column: share of the turned rows it moved, and how far."""
    import pandas as pd

    user = problem.user_test
    records = []
    row_col = "skadv_row" if "skadv_row" in examples.columns else "row"
    model_col = "skadv_model" if "skadv_model" in examples.columns else "model"
    pos = {r: i for i, r in enumerate(problem.rows)}
    for name, group in examples.groupby(model_col, sort=False):
        clean = user.iloc[[pos[r] for r in group[row_col]]].reset_index(drop=True)
        adv = group[list(user.columns)].reset_index(drop=True)
        for j, col in enumerate(user.columns):
            moved, size = _change(problem, col, clean, adv)
            records.append({
                "model": name, "column": col, "kind": problem.kinds.get(col, "float"),
                "moved": float(moved.mean()) if len(moved) else 0.0,
                "median_change": float(np.median(size[moved])) if moved.any()
                and problem.numeric(col) else np.nan,
                "median_change_eps_units": float(np.median(size[moved]) / problem.user_scale[j])
                if moved.any() and problem.numeric(col) else np.nan,
                "n_rows": len(moved)})
    return pd.DataFrame.from_records(records, columns=[
        "model", "column", "kind", "moved", "median_change", "median_change_eps_units",
        "n_rows"])


class Study:
    """A robustness study of a bundled data set or of the user's own data and model.

    Parameters
    ----------
    data : path or DataFrame, default=None
        The user's table (CSV, or Parquet for ``.parquet``/``.pq``); None
        studies the bundled ``dataset``.
    target : str, default=None
        The column to predict (required with ``data``).
    dataset : str, default="breast_cancer"
        A study of :mod:`skadv.datasets` (without ``data``).
    test : path or DataFrame, default=None
        Held-out rows (otherwise ``test_size`` of ``data``, stratified).
    test_size : float, default=0.3
    sep : str, default=","
        CSV separator.
    model : path or fitted classifier, default=None
        The user's model, attacked as fitted. A path is a joblib/pickle
        file (loading one runs its code: name only files you trust), an
        XGBoost ``.json``/``.ubj``, a LightGBM ``.txt`` or a CatBoost
        ``.cbm`` model file. None: fit skadv's default models and defenses.
    constraints : path or dict, default=None
        A TOML file (or its dict) with keys ``immutable``, ``increase_only``,
        ``decrease_only``, ``integer`` (lists of columns), ``bounds``
        (``column = [lower, upper]``) and ``relations`` (list or table of
        relations between columns, as in
        :class:`~skadv.constraints.FeatureConstraints`).
    defenses : list of str, default=None
        Models to fit (names of the registry); ignored with ``model``.
    attacks : list of str, default=None
        Attacks; each model gets the ones that apply to it.
    eps : list of float, default=None
        L-inf budgets in ``eps_unit``.
    eps_unit : {"std", "range", "raw"}, default="std"
        Training standard deviations, fractions of each column's range, or
        the columns' own units. A category change costs 1 in every unit.
    train_eps : float, default=None
        Budget the defenses train at (default: the middle of the grid).
    max_rows : int or None, default=500
        Held-out rows attacked at most (a seeded subset); None: all.
    out : str, default=None
        Output folder (nothing written when None).
    seed : int, default=0
    quick : bool, default=False
        Smaller models, attacks and grid.
    progress : bool, default=False
    stream : file, default=None
        Where the table is printed (``sys.stdout`` when None).
    n_jobs : int, default=None
        Models studied at once, each fitted, attacked and certified in a
        joblib worker (loky processes; a dask.distributed cluster inside
        ``joblib.parallel_config(backend="dask")``), the heaviest first.
        Every number but the timings equals the serial run's. ``None``
        means 1 unless in a :func:`joblib.parallel_config` context; ``-1``
        means all processors (``skadv study``'s default).
    """

    def __init__(self, data=None, *, target=None, dataset="breast_cancer", test=None,
                 test_size=0.3, sep=",", model=None, constraints=None, defenses=None,
                 attacks=None, eps=None, eps_unit="std", train_eps=None, max_rows=500,
                 out=None, seed=0, quick=False, progress=False, stream=None, n_jobs=None):
        self.data, self.target, self.dataset, self.test = data, target, dataset, test
        self.test_size, self.sep, self.model, self.constraints = test_size, sep, model, constraints
        self.defenses, self.attacks, self.eps, self.eps_unit = defenses, attacks, eps, eps_unit
        self.train_eps, self.max_rows, self.out, self.seed = train_eps, max_rows, out, seed
        self.quick, self.progress, self.stream, self.n_jobs = quick, progress, stream, n_jobs

    # -- setup ------------------------------------------------------------
    def _problem(self):
        if self.eps_unit not in EPS_UNITS:
            raise StudyInputError(f"eps_unit must be one of {list(EPS_UNITS)}; got "
                                  f"{self.eps_unit!r}.")
        if self.data is None:
            if self.model is not None or self.target is not None:
                raise StudyInputError("model and target need data (the user's table).")
            return bundled_problem(self.dataset, test_size=self.test_size, seed=self.seed,
                                   eps_unit=self.eps_unit), None
        if self.target is None:
            raise StudyInputError("data needs target, the column to predict (--target).")
        model = self.model
        if isinstance(model, (str, os.PathLike)):
            from ._models import load_model

            model = load_model(model)
        name = os.fspath(self.data) if not hasattr(self.data, "columns") else "data frame"
        problem = table_problem(self.data, self.target, model=model, test=self.test,
                                test_size=self.test_size, sep=self.sep,
                                constraints=self.constraints, seed=self.seed,
                                eps_unit=self.eps_unit, name=os.path.basename(name))
        return problem, model

    def _grid(self):
        base = [0.05, 0.1, 0.2, 0.3, 0.5] if self.eps_unit != "raw" else None
        if self.eps is None and base is None:
            raise StudyInputError("eps_unit='raw' needs eps: the budgets in the columns' "
                                  "own units.")
        grid = np.asarray(base if self.eps is None else self.eps, dtype=np.float64)
        if self.eps is None and self.quick:
            grid = grid[:3]
        if grid.ndim != 1 or grid.size == 0 or not np.all(np.isfinite(grid)) \
                or np.any(grid < 0):
            raise ValueError(f"eps must be non-negative numbers. Got {self.eps!r} instead.")
        return np.unique(grid)

    def _names(self, user_data, model):
        if model is not None:
            defenses = []
        else:
            defenses = list(self.defenses or (
                reg.QUICK_DEFENSES if self.quick and not user_data else
                reg.USER_DEFENSES if user_data else reg.default_defenses()))
        attacks = list(self.attacks or (reg.QUICK_ATTACKS if self.quick
                                        else reg.DEFAULT_ATTACKS))
        for kind, names, known in (("defense", defenses, reg.DEFENSES),
                                   ("attack", attacks, reg.ATTACKS)):
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(f"Unknown {kind}(s) {unknown}; choose from {list(known)}.")
        return defenses, attacks

    # -- run --------------------------------------------------------------
    def run(self):
        """Fit, attack, certify and write; returns a :class:`StudyResult`."""
        import pandas as pd
        from joblib import delayed, effective_n_jobs

        from ..evaluation import _progress
        from ._write import render_curves, write_outputs

        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(
                self.n_jobs, numbers.Integral) or self.n_jobs == 0):
            raise ValueError(f"n_jobs must be a non-zero integer or None (-1: all "
                             f"processors). Got n_jobs={self.n_jobs!r} instead.")
        stream = sys.stdout if self.stream is None else self.stream
        problem, model = self._problem()
        grid = self._grid()
        defenses, attacks = self._names(self.data is not None, model)
        problem.subsample(self.max_rows, self.seed)
        settings = {"seed": self.seed, "attacks": attacks, "eps_unit": self.eps_unit,
                    "train_eps": float(np.median(grid) if self.train_eps is None
                                       else self.train_eps), "unconstrained": None,
                    "scale": problem.scale}
        factories = reg.attack_factories()
        templates = {a: factories[a](self.quick, self.seed, problem.n_classes)
                     for a in attacks}
        # The model whose attack the constraints are checked against, unconstrained.
        first = None if problem.user_model else next(
            (n for n in defenses if reg.DEFENSES[n].kind == "network"), None)
        jobs = []  # (name, estimator, fit it?, attacks or None for all, certify?, weight)
        if model is not None:
            label = os.path.basename(os.fspath(self.model)) if isinstance(
                self.model, (str, os.PathLike)) else type(model).__name__
            jobs.append((label, model, False, None, True, 1.0))
        workers = effective_n_jobs(self.n_jobs)
        for name in defenses:
            entry = reg.DEFENSES[name]
            est = entry.factory(settings, self.quick)
            alone = [a for a in entry.split_off if a in attacks]
            if workers > 1 and alone and len(alone) < len(attacks):
                # A model whose attacks outweigh the rest of the study: in two
                # workers, each fitting it (the same model: fits are seeded).
                rest = [a for a in attacks if a not in alone]
                jobs += [(name, est, True, rest, True, entry.weight / 2),
                         (name, est, True, alone, False, entry.weight / 2)]
            else:
                jobs.append((name, est, True, None, True, entry.weight))
        names = list(dict.fromkeys(job[0] for job in jobs))
        # The heaviest first, so that workers finish together.
        order = sorted(range(len(jobs)), key=lambda i: -jobs[i][-1])
        workers = min(workers, len(jobs))
        bar = _progress(len(jobs), self.progress, "models")
        args = (problem, grid, attacks, templates, settings, self.seed, self.quick)
        if workers > 1:
            runs = safe_parallel(workers, return_as="generator_unordered")(
                delayed(_study_model)(*jobs[i][:5], *args, first, False) for i in order)
        else:
            runs = (_study_model(*jobs[i][:5], *args, first, self.progress) for i in order)
        n_parts = {name: sum(job[0] == name for job in jobs) for name in names}
        done, joined, curves = {}, {}, {}
        for out in runs:
            name = out["name"]
            done.setdefault(name, []).append(out)
            bar.update()
            if len(done[name]) == n_parts[name]:  # the model is done
                done[name].sort(key=lambda out: not out["certify"])  # its certifying part first
                joined[name] = _report_of(name, done[name], grid, attacks, problem.y_test)
                if self.out is not None and joined[name] is not None:
                    # Drawn now, while the workers attack the other models.
                    curves[name] = render_curves(joined[name], name)
        bar.close()
        models, timings, reports, preds, advs, clean_pred = {}, {}, [], {}, {}, {}
        for name in names:  # in the order of the table, whatever finished first
            parts = done[name]
            out = parts[0]
            models[name], timings[name], clean_pred[name] = (
                out["model"], out["timing"], out["clean_pred"])
            for part in parts:
                problem.notes.extend(part["notes"])
                preds.update(part["preds"])
                advs.update(part["advs"])
            if len(parts) > 1:
                timings[name][1] = sum(part["timing"][1] for part in parts)
            if joined[name] is not None:
                reports.append(joined[name])
            if name == first:
                settings["unconstrained"] = out["unconstrained"]
        report = pd.concat(reports, ignore_index=True)
        examples = _examples(problem, list(models), grid, preds, advs, clean_pred)
        columns = _column_moves(problem, examples)
        paths = write_outputs(self.out, problem, settings, report, examples, columns,
                              timings, grid, defenses, self.quick, stream, curves)
        return StudyResult(report, examples, columns, paths)


def _report_of(name, parts, grid, attacks, y):
    """A model's report from the outputs of its parts, the certifying part first
    (None: no attack applied)."""
    if len(parts) == 1:
        return parts[0]["report"]
    preds = {k: v for part in parts for k, v in part["preds"].items()}
    return _join_parts(name, [part["report"] for part in parts], grid, attacks, preds, y,
                       parts[0]["clean_pred"])


def _join_parts(name, parts, grid, attacks, preds, y, clean_pred):
    """One model's report from its parts' (each some of its attacks), in serial order."""
    import pandas as pd

    from ..evaluation import CERTIFIED, CLEAN, WORST, _record

    full = pd.concat([p for p in parts if p is not None], ignore_index=True)
    pieces = []
    for e in map(float, grid):
        at = full[full.eps == e]
        pieces.append(at[at.attack == CLEAN].iloc[:1])
        worst = clean_pred == np.asarray(y)
        for a in attacks:
            pieces.append(at[at.attack == a])
            if (name, e, a) in preds:
                worst &= preds[(name, e, a)] == np.asarray(y)
        pieces.append(pd.DataFrame.from_records([_record(name, e, WORST, worst)]))
        pieces.append(at[at.attack == CERTIFIED])
    return pd.concat(pieces, ignore_index=True)[full.columns]


def _study_model(name, est, fit, only, certify, problem, grid, attacks, templates, settings,
                 seed, quick, first, verbose):
    """One model of a study, fitted (when ``fit``), attacked and certified.

    ``only``: the attacks to run (None: all that apply); ``certify``: whether
    this part certifies (and runs the unconstrained check). Runs in the
    study's process or in a joblib worker (the arguments and the returned
    dict pickle): every number equals the serial run's.
    """
    import pandas as pd
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    from ..evaluation import robustness_report
    from ._models import applicable

    out = {"name": name, "report": None, "preds": {}, "advs": {}, "notes": [],
           "unconstrained": None, "certify": certify}
    # One OpenMP thread: the attacks query the models in small batches
    # (Square: one call per step on the rows still running), where
    # OpenMP's start-up and barriers cost more than a second thread gains,
    # and on a shared machine its threads spin waiting for a core. On a
    # loaded 2-core machine scikit-learn's HistGradientBoosting fits the
    # bundled study's 398 rows in 0.23 s instead of 8.5 s and predicts 171
    # rows 4.5x faster, with the same numbers (its sums do not depend on
    # the thread count). The JAX models use no OpenMP; XGBoost and
    # LightGBM are already given one thread.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="openmp"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        # A model fitted without column names, given named rows.
        warnings.filterwarnings("ignore", message="X has feature names")
        warnings.filterwarnings("ignore", message="X does not have valid feature names")
        start = time.perf_counter()
        if fit:
            est = clone(est).fit(problem.X_train, problem.y_train)
        out["model"], out["timing"] = est, [time.perf_counter() - start if fit else 0.0, 0.0]
        kinds = applicable(est, problem.X_test)
        mine = {a: templates[a] for a in (attacks if only is None else only)
                if reg.ATTACK_APPLIES[a] in kinds}
        out["clean_pred"] = np.asarray(est.predict(problem.X_test)).reshape(-1)
        if not mine:
            if only is None:  # a part of a split model says nothing of the others
                out["notes"].append(f"None of the attacks {attacks} applies to {name}.")
        else:
            rep, out["preds"], out["advs"] = robustness_report(
                {name: est}, problem.X_test, problem.y_test, attacks=mine, eps=grid,
                constraints=problem.constraints, feature_scale=problem.scale,
                certify=certify, verbose=verbose, return_predictions=True,
                return_adversarial=True)
            if "trees" in kinds and certify:
                extra = _certified_trees(name, est, problem.X_test, problem.y_test,
                                         grid, problem.scale)
                rep = pd.concat([rep, pd.DataFrame.from_records(extra)], ignore_index=True)
            out["report"] = rep
            out["timing"][1] = float(rep.time_s.sum())
        if name == first and certify:
            try:
                out["unconstrained"] = _unconstrained_check(
                    name, est, problem, settings["train_eps"], seed, quick)
            except NotDifferentiableError:
                pass
    return out


def study(data=None, **kwargs):
    """Run :class:`Study` ``(data, **kwargs)``; returns its :class:`StudyResult`."""
    return Study(data, **kwargs).run()
