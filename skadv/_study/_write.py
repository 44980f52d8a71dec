"""A study's outputs: the printed table, report.md, results.json, plots,
report.html (when skadv's HTML writer is there) and adversarial_examples.csv."""

import json
import math
import os

import numpy as np

from .. import __version__
from . import _registry as reg
from ._problem import EPS_UNITS

__all__ = ["render_curves", "write_outputs"]


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating):
        return _json_safe(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def unconstrained_text(check):
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


def _about(problem, settings, defenses):
    unit = EPS_UNITS[settings["eps_unit"]]
    lines = []
    if problem.description:
        lines.append(problem.description)
    else:
        kinds = {}
        for col, kind in problem.kinds.items():
            kinds.setdefault(kind, []).append(str(col))
        lines.append(f"The user's table {problem.name}, target {problem.target!r}; column "
                     "kinds inferred from the data: " + "; ".join(
                         f"{k}: {', '.join(v)}" for k, v in kinds.items()) + ".")
    lines += [
        "",
        f"- {problem.n_train} training rows, {len(problem.y_test)} held-out rows attacked "
        f"(seed {settings['seed']}); skadv {__version__}.",
        f"- Budgets: L-inf, in {unit}; a category change costs 1. Every attack keeps "
        "the constraints (bounds, whole numbers, categories, immutable and monotone "
        "columns, relations).",
    ]
    if defenses:
        lines.append(f"- Defenses train at eps = {settings['train_eps']:g}.")
    if problem.user_model:
        lines.append("- The user's model is attacked as fitted, with every attack that "
                     "applies to it (white box only when skadv can differentiate it).")
    lines += [
        "- `worst case`: a row counts as robust only if every attack failed on it. "
        "`certified`: proven lower bound (trees: Chen et al.'s clique bound); the "
        "attacks give upper bounds.",
        "- Attacks: " + ", ".join(f"{a} ({reg.ATTACK_KIND[a]})" for a in settings["attacks"])
        + ".",
    ]
    lines += [f"- {n}" for n in problem.notes]
    return lines


def _markdown(problem, settings, report, timings, columns, defenses):
    from ..evaluation import report_to_markdown

    lines = [f"# skadv robustness study: {problem.name}", "", *_about(problem, settings,
                                                                        defenses), "",
             "## Accuracy", "", report_to_markdown(report),
             "## Median perturbation of the rows each attack turned", "",
             report_to_markdown(report, value="median_perturbation"),
             "## Share of the rows each attack turned that were valid before its final "
             "repair", "",
             "Attacks that keep the constraints inside their search stay near 1 (a "
             "white-box attack relaxes integers, which the repair rounds).", "",
             report_to_markdown(report, value="valid_before_repair"),
             "## Columns the worst case moved", "",
             "Per model, over the rows in adversarial_examples.csv (each row at the "
             "smallest budget an attack turned it): the share of them in which the "
             "column changed, and the median change where it did.", "",
             "| model | column | kind | moved | median change | in eps units |",
             "|---|---|---|---:|---:|---:|"]
    for rec in columns.to_dict(orient="records"):
        def f(v):
            return "–" if v is None or not np.isfinite(v) else f"{v:.3g}"
        lines.append(f"| {rec['model']} | {rec['column']} | {rec['kind']} | "
                     f"{rec['moved']:.2f} | {f(rec['median_change'])} | "
                     f"{f(rec['median_change_eps_units'])} |")
    lines += ["", "## Time", "", "| model | fit s | attacks s |", "|---|---:|---:|"]
    for name, (fit_s, attack_s) in timings.items():
        lines.append(f"| {name} | {fit_s:.1f} | {attack_s:.1f} |")
    if settings.get("unconstrained") is not None:
        lines += ["", "## Why the constraints matter", "",
                  unconstrained_text(settings["unconstrained"])]
    lines += ["", "![worst case](worst_case.png)", ""]
    return "\n".join(lines)


# One resolution for the PNG files and the page, so each figure renders once.
DPI = 120


def _png(report, title, figsize, **select):
    """PNG bytes of the report's curves (``select``: which, for ``from_report``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .._html_report import png_bytes
    from ..plotting import RobustnessCurveDisplay

    fig, ax = plt.subplots(figsize=figsize)
    RobustnessCurveDisplay.from_report(report, ax=ax, **select)
    ax.set_title(title)
    fig.tight_layout()
    return png_bytes(fig, DPI)


def render_curves(report, name):
    """PNG bytes of ``name``'s accuracy curves, one line per attack.

    The study renders each model's figure as soon as that model is done,
    while the workers attack the others.
    """
    return _png(report, name, (6.4, 4.4), estimator=name)


def _worst_case(report):
    from ..evaluation import CERTIFIED, WORST

    return _png(report, "Worst case over all attacks (solid) and certified accuracy "
                "(dashed)", (7, 4.8), attacks=[WORST, CERTIFIED])


def _html(path, problem, settings, report, examples, columns, figs, defenses):
    """report.html through skadv's self-contained HTML writer."""
    from .._html_report import PNGImage, write_html_report

    figs = {k: PNGImage(png, DPI) for k, png in figs.items()}
    table = report.pivot_table(index=["estimator", "eps"], columns="attack",
                               values="accuracy", sort=False).reset_index()
    table.columns.name = None
    sections = [
        ("About", ["\n".join(_about(problem, settings, defenses))]),
        ("Accuracy", [table.round(3), figs["worst_case"]]),
        ("Robustness curves", [f for k, f in figs.items() if k != "worst_case"]),
        ("Columns the worst case moved", [
            "Per model, over the adversarial examples: the share of them in which the "
            "column changed, and the median change where it did.", columns.round(4)]),
        ("Adversarial examples", [
            f"{len(examples)} rows (all in adversarial_examples.csv); the first 50:",
            examples.head(50)]),
    ]
    if settings.get("unconstrained") is not None:
        sections.append(("Why the constraints matter",
                         [unconstrained_text(settings["unconstrained"])]))
    write_html_report(path, title=f"skadv robustness study: {problem.name}",
                      sections=sections)
    return path


def write_outputs(out, problem, settings, report, examples, columns, timings, grid,
                  defenses, quick, stream, curves=None):
    """Print the table; write every file into ``out`` (none when None).

    ``curves``: model name -> its :func:`render_curves` PNG, where already
    rendered.
    """
    from ..evaluation import report_to_markdown

    unit = EPS_UNITS[settings["eps_unit"]]
    print(f"skadv study: {problem.name} ({problem.n_train} train / {len(problem.y_test)} "
          f"attacked rows), L-inf eps in {unit}"
          + (f", defenses trained at eps={settings['train_eps']:g}" if defenses else ""),
          file=stream)
    print(report_to_markdown(report), file=stream)
    if settings["unconstrained"] is not None:
        print(unconstrained_text(settings["unconstrained"]), file=stream)
    for note in problem.notes:
        print(note, file=stream)
    if out is None:
        return {}
    os.makedirs(out, exist_ok=True)
    paths = {name: os.path.join(out, name) for name in
             ("results.json", "report.md", "adversarial_examples.csv")}
    records = [{k: _json_safe(v) for k, v in rec.items()}
               for rec in report.to_dict(orient="records")]
    payload = {"dataset": problem.name, "seed": settings["seed"], "quick": quick,
               "eps": grid.tolist(), "eps_unit": settings["eps_unit"],
               "train_eps": settings["train_eps"], "defenses": defenses,
               "models": list(timings), "attacks": settings["attacks"],
               "n_train": int(problem.n_train), "n_test": int(len(problem.y_test)),
               "unconstrained": settings["unconstrained"], "notes": problem.notes,
               "skadv_version": __version__, "records": records,
               "columns": [{k: _json_safe(v) for k, v in rec.items()}
                           for rec in columns.to_dict(orient="records")]}
    with open(paths["results.json"], "w") as fh:
        json.dump(payload, fh, indent=1)
    with open(paths["report.md"], "w") as fh:
        fh.write(_markdown(problem, settings, report, timings, columns, defenses))
    examples.to_csv(paths["adversarial_examples.csv"], index=False)
    curves = curves or {}
    figs = {"worst_case": _worst_case(report), **{
        f"curves_{name}": curves[name] if name in curves else render_curves(report, name)
        for name in timings}}
    for name, png in figs.items():
        paths[f"{name}.png"] = os.path.join(out, f"{name}.png")
        with open(paths[f"{name}.png"], "wb") as fh:
            fh.write(png)
    paths["report.html"] = _html(os.path.join(out, "report.html"), problem, settings,
                                 report, examples, columns, figs, defenses)
    for path in paths.values():
        print(f"wrote {path}", file=stream)
    return paths
