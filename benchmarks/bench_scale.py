"""Scale-out: a GridSearchCV and a 100k-row attack, serial vs two workers (loky, dask).

Two jobs, each run serially (``n_jobs=1``, in this process, where XLA spreads
one computation over every core) and with ``n_jobs=2`` on joblib's loky
processes and on a local dask.distributed cluster of two single-threaded
workers (:func:`skadv.utils.dask_cluster` and
``joblib.parallel_config(backend="dask")``):

(a) ``GridSearchCV`` of 8 PGD adversarial-training candidates,
    ``AdversarialTrainingClassifier(MLPClassifier((64, 64)),
    attack=PGDAttack(steps=7))`` over ``attack__eps`` x ``ratio``, 3-fold:
    24 fits on 12000 x 50 rows, 3 classes; the candidates are spread over the
    workers by scikit-learn;
(b) ``PGDAttack`` (L-inf, eps=0.1, 20 steps, batches of 1024) on
    100000 x 50 standardised rows against a skadv MLP 50-128-128-3:
    ``n_jobs=2`` splits the rows into two chunks of whole batches.

For each run: the wall time of the first call on that backend ("first": the
workers are started and have imported skadv, but this job is not compiled
in them yet) and of the same call again ("again": compiled), the speed-up
over the serial run of the same kind, and whether the result equals the
serial one (the grid's per-split test scores; the attack's rows and
``success_``): it must, for the same ``random_state``.

Where the time goes is measured on its own:

* start: starting the two workers and, in each, importing skadv and
  starting JAX (the first task on fresh workers; for dask, also the cluster);
* round trip: a trivial task on started workers;
* compile: first minus again (XLA compiles each job once per process);
* pickle: the size of one task's arguments and the time to pickle and
  unpickle them here (loky memory-maps arrays above 1 MB instead; dask sends
  them over TCP);
* the threads each worker gives XLA (``PJRT_NPROC``, set from the
  ``OMP_NUM_THREADS`` budget joblib/dask give the worker);
* workers replaced during a job: loky replaces a worker whose memory grew by
  more than 300 MB since its first task (its guard against leaks; JAX's
  compiled programs and buffers count), and the new one imports and compiles
  again.

On a machine with 2 cores a speed-up of at most 2x is possible, and the
serial run already uses both cores inside XLA's matrix products: two
workers win where one computation cannot keep two cores busy (many small
fits), and hardly where it can (large batches). Other processes on the
machine slow every run; the load average is printed at the start and end.

Compiling in every worker is the overhead that does not shrink with the
job. ``--cache DIR`` measures the remedy: JAX's persistent compilation cache
in ``DIR``, shared by this process and the workers (they inherit the
``JAX_COMPILATION_CACHE_*`` variables), so the serial run compiles and fills
it and the workers load the programs instead of compiling them (a second
invocation finds it full: then "first" is close to "again" everywhere).

Run::

    python benchmarks/bench_scale.py            # full size, 4-5 minutes on 2 cores
    python benchmarks/bench_scale.py --quick    # small sizes, a smoke test
    python benchmarks/bench_scale.py --cache /tmp/jax-cache   # compile once

``--quick`` (1500 rows and a skadv ``LogisticRegression`` for the grid,
20000 rows and 5 steps for the attack) runs with a fresh compilation cache
in a temporary folder, unless ``--cache`` names one: without it, starting
workers and compiling in each would be nearly all of its time (about 90 s
instead of 40 s on 2 busy cores).
"""

import argparse
import logging
import os
import pickle
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager

import joblib
import numpy as np
from joblib import Parallel, delayed
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from skadv.attacks import PGDAttack
from skadv.defenses import AdversarialTrainingClassifier
from skadv.models import LogisticRegression, MLPClassifier
from skadv.utils import dask_cluster

N_JOBS = 2
GRID = {"attack__eps": [0.05, 0.1, 0.2, 0.3], "ratio": [0.5, 1.0]}
SIZES = {
    "full": dict(grid_rows=12000, grid_hidden=(64, 64), grid_epochs=6, grid_steps=7,
                 rows=100_000, victim_hidden=(128, 128), victim_rows=20000, steps=20),
    "quick": dict(grid_rows=1500, grid_hidden=None, grid_epochs=2, grid_steps=3,
                  rows=20000, victim_hidden=(64,), victim_rows=5000, steps=5),
}


def make_data(n, seed):
    X, y = make_classification(n_samples=n, n_features=50, n_informative=30,
                               n_redundant=10, n_classes=3, random_state=seed)
    return StandardScaler().fit_transform(X).astype(np.float32), y


def make_defense(size):
    training = dict(max_iter=size["grid_epochs"], batch_size=128, random_state=0)
    if size["grid_hidden"]:
        model = MLPClassifier(hidden_layer_sizes=size["grid_hidden"],
                              learning_rate_init=1e-3, **training)
    else:  # --quick: the smallest program to compile in each worker
        model = LogisticRegression(solver="adam", **training)
    return AdversarialTrainingClassifier(model, attack=PGDAttack(steps=size["grid_steps"]))


def grid_search(X, y, size, n_jobs):
    """Per-split test scores of the 8-candidate search (no refit: the search is the job)."""
    search = GridSearchCV(make_defense(size), GRID, cv=3, n_jobs=n_jobs, refit=False)
    with warnings.catch_warnings():
        # Few epochs on purpose; scikit-learn hands this filter to its workers.
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    return np.array([search.cv_results_[f"split{k}_test_score"] for k in range(3)])


def attack_rows(attack, X, y, n_jobs):
    X_adv = attack.set_params(n_jobs=n_jobs).transform(X, y)
    return X_adv, attack.success_.copy()


def same(a, b):
    if isinstance(a, tuple):
        return all(same(u, v) for u, v in zip(a, b))
    return bool(np.array_equal(a, b))


def first_and_again(fn):
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    fn()
    return out, first, time.perf_counter() - t0


def _worker_start():
    """In a fresh worker: import skadv, start JAX; seconds, and the threads given to XLA."""
    t0 = time.perf_counter()
    imported = "skadv" in sys.modules
    import skadv  # noqa: F401  (sets PJRT_NPROC before JAX starts)
    import jax.numpy as jnp

    float(jnp.ones(2).sum())
    return (os.getpid(), imported, time.perf_counter() - t0,
            os.environ.get("OMP_NUM_THREADS"), os.environ.get("PJRT_NPROC"))


def _noop(i):
    return i


def worker_pids():
    """The active backend's worker processes (tiny tasks, enough to reach each)."""
    return set(Parallel(n_jobs=N_JOBS)(delayed(os.getpid)() for _ in range(4 * N_JOBS)))


def worker_costs():
    """Start-up of the active backend's workers, then a trivial round trip."""
    t0 = time.perf_counter()
    info = Parallel(n_jobs=N_JOBS)(delayed(_worker_start)() for _ in range(N_JOBS))
    start = time.perf_counter() - t0
    Parallel(n_jobs=N_JOBS)(delayed(_noop)(i) for i in range(N_JOBS))
    t0 = time.perf_counter()
    Parallel(n_jobs=N_JOBS)(delayed(_noop)(i) for i in range(N_JOBS))
    return start, time.perf_counter() - t0, info


def pickle_cost(payload):
    t0 = time.perf_counter()
    blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.loads(blob)
    return len(blob) / 1e6, time.perf_counter() - t0


def use_compilation_cache(path):
    """JAX's persistent compilation cache in ``path``, here and in later workers."""
    import jax

    # Every program, however fast it compiled: the workers' copies count.
    settings = {"jax_compilation_cache_dir": os.path.abspath(path),
                "jax_persistent_cache_min_compile_time_secs": 0}
    for name, value in settings.items():
        jax.config.update(name, value)  # JAX is imported here already
        os.environ[name.upper()] = str(value)  # read by the workers' JAX


@contextmanager
def backend(name):
    """Where ``n_jobs`` goes; yields the seconds spent starting a cluster."""
    if name == "loky":
        with joblib.parallel_config(backend="loky"):
            yield 0.0
        return
    # dask's nanny logs a warning when it kills a worker at shutdown: expected.
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's notes about ports
        with dask_cluster(n_workers=N_JOBS) as client:
            client.wait_for_workers(N_JOBS)
            started = time.perf_counter() - t0
            with joblib.parallel_config(backend="dask"):
                yield started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="small sizes and a fresh compilation cache, a smoke test")
    parser.add_argument("--cache", metavar="DIR",
                        help="JAX's persistent compilation cache, shared with the workers")
    args = parser.parse_args()
    if args.cache or not args.quick:
        run("quick" if args.quick else "full", args.cache)
        return
    # Compiling in every worker is most of a small run: compile each program once.
    with tempfile.TemporaryDirectory(prefix="skadv-jax-cache-") as cache:
        run("quick", cache)


def run(mode, cache):
    if cache:
        use_compilation_cache(cache)
    size = SIZES[mode]
    t_total = time.perf_counter()
    import dask
    import jax

    print(f"bench_scale ({mode}): {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f} at start; jax {jax.__version__}, "
          f"joblib {joblib.__version__}, dask {dask.__version__}"
          + (f"; compilation cache {cache}" if cache else ""))

    Xg, yg = make_data(size["grid_rows"], 0)
    X, y = make_data(size["rows"], 1)
    victim = MLPClassifier(hidden_layer_sizes=size["victim_hidden"], max_iter=3,
                           batch_size=256, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        victim.fit(X[: size["victim_rows"]], y[: size["victim_rows"]])
    attack = PGDAttack(victim, eps=0.1, steps=size["steps"], random_state=0).fit(X)
    model = f"MLP {size['grid_hidden']}" if size["grid_hidden"] else "LogisticRegression"
    print(f"(a) GridSearchCV, {len(GRID['attack__eps']) * len(GRID['ratio'])} PGD-AT "
          f"candidates x 3 folds on {Xg.shape[0]} x {Xg.shape[1]}: {model}, "
          f"{size['grid_epochs']} epochs, PGD-{size['grid_steps']}")
    print(f"(b) PGDAttack, {size['steps']} steps, on {X.shape[0]} x {X.shape[1]}: "
          f"MLP {size['victim_hidden']} victim")

    jobs = {"grid": lambda n_jobs: grid_search(Xg, yg, size, n_jobs),
            "pgd": lambda n_jobs: attack_rows(attack, X, y, n_jobs)}
    rows, serial, costs = [], {}, {}
    for job, fn in jobs.items():
        serial[job], first, again = first_and_again(lambda: fn(1))
        rows.append((job, "serial n_jobs=1", first, again, first, again, "-"))
    print(f"    PGD success rate {serial['pgd'][1].mean():.3f}; grid mean test scores "
          + " ".join(f"{s:.3f}" for s in serial["grid"].mean(axis=0)))

    for name in ("loky", "dask"):
        with backend(name) as cluster:
            start, trip, info = worker_costs()
            costs[name] = dict(cluster=cluster, start=start, trip=trip, info=info,
                               replaced={})
            pids = {i[0] for i in info}
            for job, fn in jobs.items():
                out, first, again = first_and_again(lambda: fn(N_JOBS))
                ref = next(r for r in rows if r[0] == job)
                rows.append((job, f"{name} n_jobs={N_JOBS}", first, again,
                             ref[2], ref[3], "yes" if same(out, serial[job]) else "NO"))
                now = worker_pids()
                costs[name]["replaced"][job] = len(now - pids)
                pids |= now
                # A replaced worker starts, imports and compiles again: then
                # "first - again" is no longer the compile time.
                costs[name][job] = (f"{first - again:.2f}"
                                    if not costs[name]["replaced"][job] else "(replaced)")

    print()
    header = (f"{'job':<5} {'backend':<16} {'first s':>8} {'again s':>8} "
              f"{'speed-up first':>15} {'speed-up again':>15}  equal to serial")
    print(header)
    print("-" * len(header))
    for job, name, first, again, ref_first, ref_again, equal in rows:
        print(f"{job:<5} {name:<16} {first:>8.2f} {again:>8.2f} "
              f"{ref_first / first:>14.2f}x {ref_again / again:>14.2f}x  {equal}")

    print()
    line = "{:<50} {:>14} {:>14}"
    print(line.format("where the time goes", "loky", "dask"))

    def both(fmt, key):
        return [fmt(costs[b][key]) for b in ("loky", "dask")]

    # dask's nanny spawns its workers, which import this script, and so
    # skadv and JAX, before the cluster is up: their start is in this line.
    print(line.format("start local cluster + workers import skadv (s)", "-",
                      f"{costs['dask']['cluster']:.2f}"))
    print(line.format("start 2 workers + import skadv, JAX (s)",
                      *both("{:.2f}".format, "start")))
    for b in ("loky", "dask"):
        print(f"  {b} workers (pid, skadv already imported, s in worker, "
              "OMP_NUM_THREADS, PJRT_NPROC): "
              + "; ".join(f"{p} {imp} {s:.2f}s {omp} {nproc}"
                          for p, imp, s, omp, nproc in costs[b]["info"]))
    print(line.format("workers replaced during grid, pgd", *both(
        lambda n: ", ".join(f"{job} {k}" for job, k in n.items()), "replaced")))
    print(line.format("trivial task round trip (s)", *both("{:.3f}".format, "trip")))
    for job in jobs:
        print(line.format(f"compile {job} in each worker, first - again (s)",
                          *both(str, job)))
    for job in jobs:
        ref = next(r for r in rows if r[0] == job)
        print(f"compile {job} in this process, serial first - again: "
              f"{ref[2] - ref[3]:.2f} s")
    mb, sec = pickle_cost((make_defense(size), Xg, yg))
    print(f"pickle one grid task (estimator, X, y): {mb:.2f} MB, {sec * 1e3:.1f} ms "
          "to pickle + unpickle")
    half = X.shape[0] // 2
    X64 = X.astype(np.float64)
    mb, sec = pickle_cost((attack, X64[:half], y[:half], np.arange(half)))
    print(f"pickle one attack chunk (attack + victim, {half} rows in float64): "
          f"{mb:.1f} MB, {sec * 1e3:.0f} ms to pickle + unpickle (of it the attack: "
          f"{pickle_cost(attack)[0]:.2f} MB)")
    print(f"\ntotal {time.perf_counter() - t_total:.0f} s; load average "
          f"{os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
