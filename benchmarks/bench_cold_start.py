"""Cold start: the first call in a fresh process, with and without the compilation cache.

Users mostly make first calls. Each case below runs in a fresh Python
process (``--worker``), so that nothing is compiled, imported or warmed up
beforehand, three times for skadv:

* ``off``: the persistent compilation cache disabled (``SKADV_CACHE_DIR=off``):
  every program traced and compiled, as before skadv cached them;
* ``cold``: the cache on, in a new empty folder (the very first run on a machine);
* ``warm``: the same folder again (every later run);

and once for ART (which compiles nothing) in its own fresh process. The
cases are those of ``bench_attacks.py`` and ``bench_defenses.py``: PGD-20
L-inf against a scikit-learn ``LogisticRegression`` and an MLP 50-128-128-3 on
20000 x 50 (ART: ``ProjectedGradientDescent``, batch 4096), one epoch of PGD-AT
(PGD-10) on an MLP 50-128-128-3 (ART: ``AdversarialTrainerMadryPGD``), and
randomized smoothing's ``certify`` (n0=100, n=10000, 200 rows; skadv only).
"first" is the call's wall time once data and victim are ready (imports and
the victim's fit excluded), "warm" the best of two more calls in the same
process; the columns ``trace``, ``lower`` and ``compile`` split the first
call's JAX overhead (JAX's own monitoring events: tracing to a jaxpr,
lowering to StableHLO, XLA backend compile or cache load), ``progs`` is the
number of programs compiled (or, warm, loaded) during it.

``--study`` also times the default ``skadv study`` (``python -m skadv study``)
in a fresh process, cache off, cold and warm (``--study-only``: only that):
wall and CPU seconds of the process, and per model the seconds its fit, its
attacks and its certificate took (the study's own timers, from its
``report.md`` and ``results.json``); ``trace``, ``lower`` and ``compile``
are JAX's compilation overhead over the whole study, as above (``compile``
is a cache load when warm; with ``--study-jobs`` other than 1 they count
the main process only: the models' workers compile in their own, counted in
the CPU seconds). On a shared machine compare runs made
in the same time window; ``--repeat`` runs the warm case more times.

Measured (one run, ``--cases pgd-lr,pgd-mlp,at-epoch``, at ae37102, 2 cores
shared with other jobs at a load average of 13-16, so ART's own times were
inflated too: its AT epoch took 772 s): ART / skadv first call with a warm
cache 1.9x (pgd-lr), 10.1x (pgd-mlp); cache off 0.62x and 5.8x; the first
call's JAX overhead, warm, is trace 0.5-1.3 s, lower 0.4-0.8 s, cache load
0.1-0.4 s, one program for PGD and six for the AT epoch. Since 08843f6 the
AT epoch's first fit loads three programs (``_glorot``, ``_init_state``,
``_epoch``) and PGD's program no longer hashes the row indices; results
unchanged.

Quiet 2-core machine, same command, main at b380836: ART / skadv first call
with a warm cache 2.53x (pgd-lr: 0.38 s, of which trace 0.20, lower 0.07,
cache load 0.03 and the attack 0.06), 1.97x (pgd-mlp: 0.53 s, the attack
0.20), 8.4x (at-epoch); cache off 1.12x, 0.99x and 2.37x; warm calls 15.1x,
4.5x and 16.2x (AT epoch 0.194 s against ART's 3.146 s). Short of issue
20's 3x / 2.5x first calls and 20x AT epoch: a warm first call is mostly
tracing and lowering, which the persistent cache does not skip.

The default study (``--study-only --study-modes cold,warm --study-jobs=-1,1``,
on the study-parallel branch at f7b73f0, quiet 2-core machine): with one
worker per core (the command's default) 72.5 s cold and 49.4 s warm (132.9
and 82.9 CPU seconds); serial 87.6 s cold and 67.0 s warm, of which 27.4 s
cold and 1.5 s warm is XLA compiling or loading 119 programs. Per model,
serial and warm, smoothing's attacks take 26.5 s (Square 13.7 s of it: every
query is 100 noisy copies) and every other model 1.3-2.6 s of attacks, 0-3.5 s
of fit (robust boosting's 3.5) and 0-1.2 s of certificate; in parallel,
smoothing alone takes a worker 37 s (one thread instead of two) while the other
ten models take the other one 30 s. So the study's critical path is smoothing:
it is under 30 s only with fewer or cheaper noisy queries. Since 0a3cfbe
smoothing's Square runs in a worker of its own (``--study-only --study-modes
cold,warm --study-jobs=-1 --repeat 2``, main at 778dc1e, quiet 2-core
machine): 64.9 s cold, 44.5 and 46.9 s warm (115.7, 75.4 and 80.0 CPU
seconds). With 75-80 CPU seconds of work for two cores, 30 s warm needs less
work, not more parallelism: smoothing's attacks are 30.5 s of it.

Less work since 8e14160 (same command, 2-core machine): the smoothed
``predict`` picks its ``n0`` selection draws from a fixed bank of normal
vectors instead of drawing them (its 171-row call 12.7 -> 3.4 ms; certify's
estimation draws stay fresh), so smoothing's Square takes 4-5 s instead of
16 s; a BPDA with no layer to replace reuses APGD's run; robust boosting fits
2.6x faster; each figure renders once, as its model finishes. The study's
numbers are unchanged but smoothing's, which move by no more than the old
code's move with another noise stream (worst case within 2 rows of 171). At
5a03006: 45.7 s cold, 24.7 and 25.5 s warm (86.4, 43.7 and 45.4 CPU s). A
cold worker spends about 35 CPU s compiling (18 attack programs, 17 s; 9
training epochs, 11 s), two of the epochs twice: both workers fitted
smoothing, one for its Square. With that split undone (Square is no longer
half of smoothing's time), two runs of ``--study-only --study-modes cold,warm
--study-jobs=-1`` read 41.3 and 42.0 s cold (77.0, 78.3 CPU s), 24.0 and
25.8 s warm.

Since 2bad6be ART's worker imports neither JAX nor skadv: before, its
process held their ~200,000 objects too, which its garbage collections
rescanned (ART's first call on the MLP: 1.29 s with them and no freeze, 0.95 s
with them frozen, 1.18 s without them). And ``import skadv`` freezes its
import heap (8bebfaf): the first full collection, due while the first attack
is traced, cost skadv's first call about 0.1 s. Quiet 2-core machine (AMD
EPYC, 205 GFLOP/s matmul peak; slower than the one above: ART's AT epoch 4.1
s), ``--cases pgd-lr,pgd-mlp,at-epoch``, at 2bad6be: ART / skadv first call
with a warm cache 4.49x (pgd-lr: 0.24 s), 2.45x (pgd-mlp: 0.48 s, of which
trace 0.05, lower 0.07, cache load 0.03 and the attack 0.31), 6.05x
(at-epoch); cache off 1.30x, 1.08x and 1.97x; warm calls 20.1x, 3.1x and
14.2x (AT epoch 0.288 s against ART's 4.095 s; 3c05435 drops the clean
term's pass at ratio 1, 0.326 -> 0.287 s). Same machine at e4a4455 (ART's
worker with skadv imported): 2.58x, 2.24x, 8.15x; warm 20.4x, 4.2x, 12.9x.
The AT epoch is one compiled scan over batches of 128 rows, whose matmuls
XLA runs on one core: a minimal hand-written JAX PGD-AT epoch (no best
iterate, no padding) takes 0.25 s here, 16x ART, so 20x needs the second
core, not less overhead. The default study on that machine, ``--study-only
--study-modes cold,warm``: 46.8 s cold and 27.9 / 28.0 s warm at 2bad6be; since
the CLI compiles a bundled study with XLA's legacy fusion emitters (skadv/cli.py;
same report), 41.7 and 41.6 s cold, 28.0-29.6 s warm (78 and 51-54 CPU s).

Run::

    python benchmarks/bench_cold_start.py                 # all cases
    python benchmarks/bench_cold_start.py --study         # and the default study
    python benchmarks/bench_cold_start.py --study-only --study-modes cold,warm --repeat 2
    python benchmarks/bench_cold_start.py --cases pgd-lr,pgd-mlp --quick
"""

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = ("pgd-lr", "pgd-mlp", "at-epoch", "certify")
EVENTS = {"/jax/core/compile/jaxpr_trace_duration": "trace",
          "/jax/core/compile/jaxpr_to_mlir_module_duration": "lower",
          "/jax/core/compile/backend_compile_duration": "compile"}


def worker(case, library, quick, out=None, n_jobs=-1):
    """In a fresh process: set up ``case``, time its first and warm calls.

    ART's process imports neither JAX nor skadv, as for a user of ART alone:
    their objects would add to what its garbage collector scans.
    """
    spent = {v: 0.0 for v in EVENTS.values()}
    programs = [0]

    def on_duration(name, secs, **kw):
        if name in EVENTS:
            spent[EVENTS[name]] += secs
        if name == "/jax/core/compile/backend_compile_duration":
            programs[0] += 1

    sys.path.insert(0, HERE)
    import numpy as np

    n = 4000 if quick else 20000
    t_import = time.perf_counter()
    if library == "skadv":
        from jax import monitoring

        monitoring.register_event_duration_secs_listener(on_duration)
        import skadv  # noqa: F401  (the cache is configured at import)
    else:
        import art  # noqa: F401
        import torch  # noqa: F401
    t_import = time.perf_counter() - t_import

    if case == "study":  # the whole default study, as `skadv study --out <out>`
        import contextlib
        import io

        from skadv.cli import main as cli

        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            code = cli(["study", "--out", out, "--n-jobs", str(n_jobs)])
        if code:
            raise SystemExit(f"skadv study exited with {code}")
        print(json.dumps({"run": time.perf_counter() - t0, "import": t_import, **spent,
                          "programs": programs[0]}))
        return

    if case.startswith("pgd"):
        import bench_attacks as ba

        X, y = ba.make_data(n)
        if case == "pgd-lr":
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(max_iter=1000).fit(X, y)
        else:
            clf = ba.fit_victims(X, y)[1]
        eps, step = 0.1, 2.5 * 0.1 / ba.STEPS
        if library == "skadv":
            from skadv.attacks import PGDAttack

            def call():
                return PGDAttack(clf, eps=eps, steps=ba.STEPS, step_size=step,
                                 random_state=0).fit_transform(X, y)
        else:
            from art.attacks.evasion import ProjectedGradientDescent

            Y = np.eye(3, dtype=np.float32)[y]
            wrapped = []

            def call():  # the first call includes wrapping the victim
                if not wrapped:
                    wrapped.append(ba.art_classifier(clf, X.shape[1], 3))
                art_clf = wrapped[0]
                return ProjectedGradientDescent(
                    art_clf, norm=np.inf, eps=eps, eps_step=step, max_iter=ba.STEPS,
                    num_random_init=1, batch_size=4096, verbose=False).generate(X, y=Y)
        score = lambda out: float(clf.score(out, y))  # noqa: E731
    elif case == "at-epoch":
        import bench_defenses as bd

        X, y, X_test, y_test = bd.make_data(n)
        call = (lambda: bd.skadv_fit(X, y)) if library == "skadv" else (
            lambda: bd.art_fit(X, y))
        score = (lambda m: float(m.score(X_test, y_test))) if library == "skadv" else (
            lambda m: bd.art_scores(m, X_test, y_test)[0])
    elif case == "certify":
        from sklearn.datasets import make_classification

        from skadv.defenses import CertifiedClassifier
        from skadv.models import MLPClassifier

        X, y = make_classification(n_samples=1200, n_features=20, n_informative=10,
                                   random_state=0)
        X = X.astype(np.float32)
        clf = CertifiedClassifier(
            MLPClassifier(hidden_layer_sizes=(64, 64), max_iter=30, random_state=0),
            method="smoothing", sigma=0.25, n0=100, n=10_000, random_state=0).fit(X, y)
        call = lambda: clf.certify(X[:200])  # noqa: E731
        score = lambda out: float(np.mean(out[1]))  # noqa: E731
    else:
        raise SystemExit(f"unknown case {case!r}")

    if library != "skadv" and "jax" in sys.modules:
        raise SystemExit("ART's process imported JAX")
    before = dict(spent)
    programs[0] = 0
    t0 = time.perf_counter()
    out = call()
    first = time.perf_counter() - t0
    parts = {k: spent[k] - before[k] for k in spent}
    n_programs = programs[0]
    warm = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        call()
        warm = min(warm, time.perf_counter() - t0)
    print(json.dumps({"first": first, "warm": warm, "import": t_import, **parts,
                      "programs": n_programs, "score": score(out)}))


def spawn(args, cache, cpu=None):
    """Run ``python *args`` in a fresh process; its stdout and wall seconds.

    ``cpu``, a list, gets the process's user + system CPU seconds appended.
    """
    env = dict(os.environ, SKADV_CACHE_DIR=cache)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"{args} failed")
    if cpu is not None:
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return out.stdout, wall


def study_breakdown(out):
    """Per model of a study written to ``out``: fit, attack and certify seconds."""
    rows = {}
    with open(os.path.join(out, "report.md")) as fh:
        lines = fh.read().split("## Time", 1)[1].splitlines()
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1].replace(".", "").isdigit():
            rows[cells[0]] = {"fit": float(cells[1]), "attack": 0.0, "certify": 0.0}
    with open(os.path.join(out, "results.json")) as fh:
        for rec in json.load(fh)["records"]:
            part = "certify" if rec["attack"] == "certified" else "attack"
            rows[rec["estimator"]][part] += rec.get("time_s") or 0.0
    return rows


def run_study(root, repeat, modes=("off", "cold", "warm"), keep=None, jobs=(-1,)):
    """Time the default study in fresh processes; ``keep``: folder for its outputs."""
    print("\nDefault `skadv study` in a fresh process, seconds")
    print(f"  {'jobs':>4} {'cache':<6} {'wall':>7} {'cpu':>7} {'import':>7} {'trace':>6} "
          f"{'lower':>6} {'compile':>8} {'progs':>6}")
    breakdown = None
    for n_jobs in jobs:
        cache = os.path.join(root, f"study{n_jobs}")
        runs = [(m, "off" if m == "off" else cache) for m in modes if m != "warm"]
        for i, (mode, c) in enumerate(runs + [("warm", cache)] * (repeat if "warm" in modes
                                                                   else 0)):
            out, cpu = os.path.join(keep or root, f"study-{n_jobs}-{i}-{mode}"), []
            stdout, wall = spawn([os.path.abspath(__file__), "--worker", "study", "--out", out,
                                  "--n-jobs", str(n_jobs)], c, cpu)
            r = json.loads(stdout.strip().splitlines()[-1])
            print(f"  {n_jobs:>4} {mode:<6} {wall:7.1f} {cpu[0]:7.1f} {r['import']:7.1f} "
                  f"{r['trace']:6.1f} {r['lower']:6.1f} {r['compile']:8.1f} "
                  f"{r['programs']:6d}", flush=True)
            breakdown = study_breakdown(out)
    print("\n  last run, per model (the study's timers)")
    print(f"  {'model':<16} {'fit':>6} {'attack':>7} {'certify':>8}")
    for name, r in breakdown.items():
        print(f"  {name:<16} {r['fit']:6.1f} {r['attack']:7.1f} {r['certify']:8.1f}")


def run_case(case, library, cache, quick):
    args = [os.path.abspath(__file__), "--worker", case, "--library", library]
    stdout, _ = spawn(args + (["--quick"] if quick else []), cache)
    return json.loads(stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--quick", action="store_true", help="4000 rows")
    parser.add_argument("--study", action="store_true", help="also the default skadv study")
    parser.add_argument("--study-only", action="store_true", help="only the default study")
    parser.add_argument("--repeat", type=int, default=1, help="warm study runs")
    parser.add_argument("--study-modes", default="off,cold,warm",
                        help="cache modes of the study runs, in order")
    parser.add_argument("--keep", help="folder to keep the study's outputs in")
    parser.add_argument("--study-jobs", default="-1",
                        help="comma-separated --n-jobs of the study runs (-1: the "
                             "command's default, one worker per core; 1: serial)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--library", default="skadv", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--n-jobs", type=int, default=-1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.library, args.quick, args.out, args.n_jobs)
        return

    root = tempfile.mkdtemp(prefix="skadv-bench-cache-")
    if args.study_only:
        try:
            run_study(root, args.repeat, args.study_modes.split(","), args.keep,
                      [int(j) for j in args.study_jobs.split(",")])
        finally:
            shutil.rmtree(root, ignore_errors=True)
        return
    try:
        rows, ratios = [], {}
        for case in args.cases.split(","):
            cache = os.path.join(root, case)
            res = {mode: run_case(case, "skadv", c, args.quick)
                   for mode, c in (("off", "off"), ("cold", cache), ("warm", cache))}
            if case != "certify":
                res["ART"] = run_case(case, "art", "off", args.quick)
            for mode, r in res.items():
                rows.append((case, "ART" if mode == "ART" else f"skadv {mode}", r))
            if "ART" in res:
                ratios[case] = {m: res["ART"]["first"] / res[m]["first"]
                                for m in ("off", "cold", "warm")}
                ratios[case]["warm call"] = res["ART"]["warm"] / res["warm"]["warm"]
        print(f"\nFirst call in a fresh process ({'4000' if args.quick else '20000'} rows "
              f"for PGD and AT), seconds\n")
        head = (f"{'case':<9} {'run':<11} {'first':>7} {'trace':>6} {'lower':>6} "
                f"{'compile':>8} {'progs':>6} {'warm':>7} {'import':>7} {'score':>7}")
        print(head)
        print("-" * len(head))
        for case, run, r in rows:
            print(f"{case:<9} {run:<11} {r['first']:7.2f} {r['trace']:6.2f} "
                  f"{r['lower']:6.2f} {r['compile']:8.2f} {r['programs']:6d} "
                  f"{r['warm']:7.3f} {r['import']:7.2f} {r['score']:7.4f}")
        print(f"\n{'ART / skadv':<11} {'first, off':>11} {'first, cold':>12} "
              f"{'first, warm':>12} {'warm call':>10}")
        for case, r in ratios.items():
            print(f"{case:<11} {r['off']:11.2f} {r['cold']:12.2f} {r['warm']:12.2f} "
                  f"{r['warm call']:10.1f}")
        if args.study:
            run_study(root, args.repeat, args.study_modes.split(","), args.keep,
                      [int(j) for j in args.study_jobs.split(",")])
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
