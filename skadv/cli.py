"""Command line: ``skadv study`` (also ``python -m skadv study``).

The study trains models and defenses on a bundled data set or on the user's
own table (``--data``), or takes the user's fitted model (``--model``),
attacks each on held-out rows with every attack that applies at every
budget, and reports clean accuracy, accuracy under each attack, the per-row
worst case over the attacks and, where it can be proven, certified
accuracy. It prints the table and writes ``report.md``, ``results.json``,
``report.html``, ``adversarial_examples.csv`` and PNG plots. The work is
done by :class:`skadv.Study`; this module only parses arguments.
"""

import argparse
import math
import os
import sys

from . import __version__
from ._study import ATTACKS, DEFENSES, Study, StudyInputError, run_study
from ._study._problem import EPS_UNITS

__all__ = ["ATTACKS", "DEFENSES", "build_parser", "main", "run_study"]


class _Parser(argparse.ArgumentParser):
    """One line on stderr and exit code 2 for bad arguments, never a traceback."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


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


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"--test-size must be in (0, 1); got {text!r}")
    return value


def _rows(text):
    if text.lower() == "all":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--max-rows must be a positive integer or 'all'; "
                                         f"got {text!r}")
    return value


def build_parser():
    from .datasets import STUDIES

    parser = _Parser(prog="skadv", allow_abbrev=False,
                     description="Adversarial attacks and defenses for scikit-learn, "
                                 "built on JAX.")
    parser.add_argument("--version", action="version", version=f"skadv {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    study = sub.add_parser(
        "study", allow_abbrev=False,
        help="run a robustness study on a bundled data set or on your data and model",
        description="Train models and defenses (or take your fitted --model), attack them "
                    "on held-out rows at every budget, print the table and write "
                    "report.md, report.html, results.json, adversarial_examples.csv and "
                    "plots. Loading a joblib/pickle model runs code from that file: pass "
                    "only files you trust; nothing but the files you name is loaded.")
    data = study.add_argument_group("your data and model")
    data.add_argument("--data", metavar="FILE",
                      help="your table: CSV, or Parquet (.parquet, .pq); column kinds "
                           "(integer, float, binary, categorical, constant) are inferred")
    data.add_argument("--target", metavar="COLUMN", help="the column to predict")
    data.add_argument("--sep", default=",", help="CSV separator (default: %(default)r)")
    data.add_argument("--test", metavar="FILE",
                      help="held-out rows, same columns (default: --test-size of --data)")
    data.add_argument("--test-size", type=_fraction, default=0.3,
                      help="share of --data held out, stratified (default: %(default)s)")
    data.add_argument("--model", metavar="FILE",
                      help="your fitted classifier or Pipeline: joblib/pickle (LOADING IT "
                           "RUNS ITS CODE), or an XGBoost .json/.ubj, LightGBM .txt or "
                           "CatBoost .cbm model file; attacked as fitted")
    data.add_argument("--constraints", metavar="FILE.toml",
                      help="what only you know, by column name: immutable, increase_only, "
                           "decrease_only, integer, [bounds], relations")
    data.add_argument("--max-rows", type=_rows, default=500,
                      help="held-out rows attacked at most, or 'all' (default: "
                           "%(default)s)")
    study.add_argument("--dataset", default="breast_cancer", choices=sorted(STUDIES),
                       help="bundled study, without --data (default: %(default)s)")
    study.add_argument("--defenses", type=_csv("defense", list(DEFENSES)), default=None,
                       help="comma-separated models to fit, from: " + ", ".join(DEFENSES))
    study.add_argument("--attacks", type=_csv("attack", list(ATTACKS)), default=None,
                       help="comma-separated, from: " + ", ".join(ATTACKS)
                            + " (each model gets those that apply to it)")
    study.add_argument("--eps", type=_eps_list, default=None,
                       help="comma-separated L-inf budgets in --eps-unit (default: "
                            "0.05,0.1,0.2,0.3,0.5 or the study's grid)")
    study.add_argument("--eps-unit", choices=list(EPS_UNITS), default="std",
                       help="; ".join(f"{k}: {v}" for k, v in EPS_UNITS.items())
                            + " (default: %(default)s; a category change costs 1)")
    study.add_argument("--train-eps", type=float, default=None,
                       help="budget the defenses train at (default: middle of the grid)")
    study.add_argument("--out", default="skadv-study",
                       help="output folder (default: %(default)s)")
    study.add_argument("--seed", type=int, default=0)
    study.add_argument("--quick", action="store_true",
                       help="small models, attacks and grid: a smoke test")
    study.add_argument("--n-jobs", type=int, default=-1,
                       help="models studied at once, in worker processes (default: "
                            "-1, one per core; 1: in this process)")
    study.add_argument("--progress", action="store_true",
                       help="progress bars (default: when stderr is a terminal)")
    return parser


# XLA's CPU backend has two code generators for fused loops. The legacy one
# compiles a program in about half the time of the MLIR emitters that are
# its default, and on a bundled data set (a few hundred rows) runs the
# study's programs as fast: measured with benchmarks/bench_cold_start.py
# --study-only, the cold default study went from 46.8 to 41.7 s and the warm
# one stayed at 28.0 s, with the same report. On a user's table, whose
# training rows can be many, the default stays (the legacy emitters run a
# PGD-20 on 20000 rows or an adversarial-training epoch 10-30% slower).
_COMPILE_LIGHT = "--xla_cpu_use_fusion_emitters=false"


def _compile_light():
    """Use the legacy fusion emitters in this process and the workers it starts,
    unless XLA_FLAGS already chooses, or JAX's backend has already started
    (it reads XLA_FLAGS once)."""
    from jax._src import xla_bridge

    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_use_fusion_emitters" in flags or xla_bridge.backends_are_initialized():
        return
    os.environ["XLA_FLAGS"] = f"{flags} {_COMPILE_LIGHT}".strip()


def main(argv=None):
    """Entry point of the ``skadv`` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    progress = args.progress or sys.stderr.isatty()
    if args.data is None:
        for flag in ("target", "model", "test", "constraints"):
            if getattr(args, flag) is not None:
                parser.error(f"--{flag} needs --data FILE")
    elif args.target is None:
        parser.error("--data needs --target COLUMN, the column to predict")
    kwargs = dict(defenses=args.defenses, attacks=args.attacks, eps=args.eps,
                  eps_unit=args.eps_unit, train_eps=args.train_eps, out=args.out,
                  seed=args.seed, quick=args.quick, progress=progress, n_jobs=args.n_jobs,
                  test_size=args.test_size)
    if args.data is None:
        kwargs.update(dataset=args.dataset, max_rows=None)
        _compile_light()
    else:
        kwargs.update(target=args.target, test=args.test, sep=args.sep, model=args.model,
                      constraints=args.constraints, max_rows=args.max_rows)
    try:
        Study(args.data, **kwargs).run()
    except (StudyInputError, ValueError) as exc:
        parser.exit(2, f"skadv study: error: {str(exc).splitlines()[0]}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
