"""Scale-out: n_jobs chunks equal the serial run; joblib/dask workers suit JAX.

Oracles: the serial run. Splitting rows across workers must not change a
single returned value or per-row attribute (the per-row keys and counters
carry the rows' global numbers, and chunks end on the serial batch
boundaries), on the thread backend (the merging logic, cheap), on loky
processes (pickling, a fresh compile and a one-thread XLA in each worker) and
on a dask.distributed LocalCluster started here, which also runs
GridSearchCV and cross_validate over skadv defenses.
"""

import os
import sys
import warnings

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, cross_validate

from registry import NAMES, make_attack
from skadv.attacks import (
    BPDA,
    EOT,
    ExactTreeAttack,
    FGSMAttack,
    PGDAttack,
    SquareAttack,
)
from skadv.attacks import _base
from skadv.attacks._base import BaseAttack
from skadv.defenses import AdversarialTrainingClassifier, DistilledClassifier
from skadv.evaluation import robustness_report
from skadv.models import LogisticRegression, MLPClassifier
from skadv.utils import _parallel, dask_cluster
from skadv.utils._jax import batch_shape, map_batches
from skadv.utils._parallel import limit_worker_threads, row_chunks

N = 200
BATCH = 64

PER_ROW = ("success_", "perturbation_", "n_queries_", "minimal_distance_", "exact_")


@pytest.fixture(scope="module")
def victims(blobs3):
    X, y = blobs3
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, learning_rate_init=0.01,
                        random_state=0).fit(X, y)
    forest = RandomForestClassifier(n_estimators=4, max_depth=3, random_state=0).fit(X, y)
    return mlp, forest


# The registry's attacks on the MLP (gradients) and the forest (queries, trees).
ATTACKS = {name: (lambda m, f, name=name: make_attack(name, m, f, eps=0.5, steps=5))
           for name in NAMES if name not in ("exact_tree", "caa")}


def _run(attack, X, y, **params):
    """fit + transform with ``params``; the output and the per-row attributes."""
    if isinstance(attack, (EOT, BPDA)):
        attack.set_params(attack__batch_size=BATCH, **params)
    elif "batch_size" in attack.get_params():
        attack.set_params(batch_size=BATCH, **params)
    else:
        attack.set_params(**params)
    X_adv = attack.fit(X, y).transform(X, y)
    return X_adv, {k: getattr(attack, k) for k in PER_ROW if hasattr(attack, k)}


def _assert_same(serial, split):
    np.testing.assert_array_equal(serial[0], split[0])
    assert serial[1].keys() == split[1].keys()
    for name in serial[1]:
        np.testing.assert_array_equal(serial[1][name], split[1][name], err_msg=name)


# -- chunking ------------------------------------------------------------------
@pytest.mark.parametrize("n, batch_size, n_jobs", [
    (200, 64, 2), (200, 64, 3), (1000, 64, 7), (50, 64, 2), (64, 64, 2), (129, 64, 4),
    (127, 64, 4), (1, 64, 2), (5, None, 2), (7, None, 10),
])
def test_row_chunks_are_the_serial_batches(n, batch_size, n_jobs):
    chunks = row_chunks(n, batch_size, n_jobs)
    assert chunks[0][0] == 0 and chunks[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))
    size = 1 if batch_size is None else batch_shape(n, batch_size)
    assert len(chunks) == max(1, min(n_jobs, n // size))
    if batch_size is None:
        return

    def batches(rows):
        seen = []
        map_batches(lambda b: seen.append(b.copy()) or b, [rows], batch_size)
        return seen

    # Each chunk, batched on its own, gives exactly the serial run's padded
    # batches: the same shapes compiled, the same rows side by side.
    serial = batches(np.arange(n))
    split = [b for start, stop in chunks for b in batches(np.arange(start, stop))]
    assert len(split) == len(serial)
    for s, p in zip(serial, split):
        np.testing.assert_array_equal(s, p)


# -- batches in flight: concurrent == serial -------------------------------------
def test_concurrent_batches_equal_serial(monkeypatch):
    import jax
    import jax.numpy as jnp

    from skadv.utils import _jax

    W = np.random.RandomState(0).normal(size=(7, 5)).astype(np.float32)
    f = jax.jit(lambda x, k: (jnp.tanh(x @ W) * k[:, None], jnp.sum(x, axis=1)))
    X = np.random.RandomState(1).normal(size=(1000, 7)).astype(np.float32)
    k = np.arange(1000, dtype=np.float32)
    serial = map_batches(f, [X, k], 128)
    monkeypatch.setattr(_jax, "host_threads", lambda: 3)
    seen = []

    def spy(x, k):
        seen.append(len(x))
        return f(x, k)

    together = map_batches(spy, [X, k], 128, concurrent=True)
    assert seen == [128] * 8  # the serial batches, padded the same way
    for a, b in zip(serial, together):
        np.testing.assert_array_equal(a, b)  # in row order

    def boom(x, k):
        raise ValueError("from a batch")

    with pytest.raises(ValueError, match="from a batch"):
        map_batches(boom, [X, k], 128, concurrent=True)


def test_host_threads_follow_the_worker_budget(monkeypatch):
    from skadv.utils._jax import host_threads

    monkeypatch.setenv("PJRT_NPROC", "1")
    assert host_threads() == 1
    monkeypatch.delenv("PJRT_NPROC")
    assert host_threads() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("name", ["pgd", "fgsm", "apgd", "cw", "deepfool", "eot", "bpda"])
def test_white_box_batches_in_flight_equal_serial(name, victims, blobs3, monkeypatch):
    from skadv.utils import _jax

    X, y = blobs3
    X, y = X[:N], y[:N]
    monkeypatch.setattr(_jax, "host_threads", lambda: 1)
    serial = _run(ATTACKS[name](*victims), X, y)
    monkeypatch.setattr(_jax, "host_threads", lambda: 3)
    _assert_same(serial, _run(ATTACKS[name](*victims), X, y))


# -- attacks: split == serial --------------------------------------------------
@pytest.mark.parametrize("name", list(ATTACKS))
def test_split_attack_equals_serial_threads(name, victims, blobs3):
    X, y = blobs3
    X, y = X[:N], y[:N]
    serial = _run(ATTACKS[name](*victims), X, y)
    with joblib.parallel_config(backend="threading"):
        split = _run(ATTACKS[name](*victims), X, y, n_jobs=3)
    _assert_same(serial, split)
    assert serial[1]["success_"].any()  # the attacks do move rows here


def test_split_exact_tree_attack_equals_serial(blobs3):
    # No batches: one MILP per row, the rows split evenly.
    X, y = blobs3
    forest = RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X, y)
    serial = _run(ExactTreeAttack(forest), X[:20], y[:20])
    with joblib.parallel_config(backend="threading"):
        split = _run(ExactTreeAttack(forest), X[:20], y[:20], n_jobs=2)
    _assert_same(serial, split)
    assert np.isfinite(serial[1]["minimal_distance_"]).all()


def test_victim_labels_and_more_workers_than_batches(victims, blobs3):
    X, _ = blobs3
    attack = ATTACKS["pgd"](*victims)
    serial = attack.set_params(batch_size=BATCH).fit(X[:150]).transform(X[:150])
    with joblib.parallel_config(backend="threading"):
        split = attack.set_params(n_jobs=8).transform(X[:150])
    np.testing.assert_array_equal(serial, split)
    # Small X: one batch, one task.
    assert row_chunks(40, BATCH, 8) == [(0, 40)]


@pytest.mark.parametrize("name", ["pgd", "hsj"])
def test_split_attack_equals_serial_in_loky_processes(name, victims, blobs3):
    # JAX has started in this process (the victims were fitted with it): the
    # workers are fresh interpreters (loky), never forks of it.
    from jax._src import xla_bridge

    assert xla_bridge.backends_are_initialized()
    X, y = blobs3
    serial = _run(ATTACKS[name](*victims), X[:N], y[:N])
    with joblib.parallel_config(backend="loky"):
        split = _run(ATTACKS[name](*victims), X[:N], y[:N], n_jobs=2)
    _assert_same(serial, split)


def test_forking_backend_is_replaced_by_loky(victims, blobs3):
    X, y = blobs3
    serial = _run(ATTACKS["pgd"](*victims), X[:N], y[:N])
    with joblib.parallel_config(backend="multiprocessing"):
        if not _parallel._forks():
            pytest.skip("joblib's multiprocessing backend does not fork here")
        with pytest.warns(RuntimeWarning, match="forks this process"):
            split = _run(ATTACKS["pgd"](*victims), X[:N], y[:N], n_jobs=2)
    _assert_same(serial, split)


def _worker_threads():
    import skadv  # noqa: F401  (the import sets the worker's XLA threads)
    import jax.numpy as jnp

    float(jnp.ones(2).sum())  # JAX starts, with the pool size it was given
    return os.environ.get("OMP_NUM_THREADS"), os.environ.get("PJRT_NPROC")


def test_loky_workers_give_xla_their_thread_budget():
    with joblib.parallel_config(backend="loky"):
        out = joblib.Parallel(n_jobs=2)(joblib.delayed(_worker_threads)() for _ in range(2))
    for omp, nproc in out:
        assert omp is not None and nproc == omp


def test_limit_worker_threads(monkeypatch):
    # setenv first, so that monkeypatch restores the variable's absence: the
    # PJRT_NPROC written below must not leak into later tests' workers.
    monkeypatch.setenv("PJRT_NPROC", "1")
    monkeypatch.delenv("PJRT_NPROC")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    # The main process is left alone.
    assert limit_worker_threads() is None and "PJRT_NPROC" not in os.environ
    monkeypatch.setattr(_parallel.multiprocessing, "parent_process", lambda: object())
    # A child whose JAX has started cannot change its pool any more.
    monkeypatch.setattr(_parallel, "_jax_started", lambda: True)
    assert limit_worker_threads() is None and "PJRT_NPROC" not in os.environ
    monkeypatch.setattr(_parallel, "_jax_started", lambda: False)
    assert limit_worker_threads() == 3 and os.environ["PJRT_NPROC"] == "3"
    # The user's PJRT_NPROC wins.
    monkeypatch.setenv("PJRT_NPROC", "2")
    assert limit_worker_threads() is None and os.environ["PJRT_NPROC"] == "2"


def test_attack_result_is_all_transform_records(victims, blobs3):
    """``_attack`` sets no attribute (chunks on threads share the attack), and
    ``transform`` records exactly its result: what is merged when rows split."""
    from test_common import ESTIMATORS

    X = blobs3[0][:, :3]
    for est in ESTIMATORS:
        if not isinstance(est, BaseAttack):
            continue
        est.fit(X[:40])
        before = dict(vars(est))
        result = est._attack(X[:23])
        assert vars(est).keys() == before.keys(), type(est).__name__
        assert all(vars(est)[k] is v for k, v in before.items()), type(est).__name__
        est.transform(X[:23])
        recorded = set(vars(est)) - set(before)
        assert recorded == {"success_", "perturbation_", "valid_before_repair_",
                            *result.extras}, type(est).__name__
        for name, values in result.extras.items():
            assert np.shape(values)[:1] == (23,), (type(est).__name__, name)


def test_bad_n_jobs(victims, blobs3):
    with pytest.raises(ValueError, match="n_jobs"):
        PGDAttack(victims[0], n_jobs=1.5).fit(blobs3[0])


def test_robustness_report_split_equals_serial(victims, blobs3, monkeypatch):
    # Threads: the report only hands n_jobs on, and the attacks' splitting is
    # proven on processes above; fresh loky workers would compile every attack.
    X, y = blobs3[0][:N], blobs3[1][:N]
    mlp, forest = victims
    # Batches of BATCH rows, so that N rows make several chunks; a white-box
    # and a black-box attack, and a victim the white-box one cannot attack
    # (nothing is split, its record is NaN either way).
    attacks = {"pgd": PGDAttack(steps=5, restarts=2, batch_size=BATCH, random_state=0),
               "square": SquareAttack(max_queries=30, batch_size=BATCH, random_state=0)}

    def report(**kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the forest has no gradients
            return robustness_report({"mlp": mlp, "forest": forest}, X, y,
                                     attacks=attacks, eps=[0.2, 0.5],
                                     return_predictions=True, **kwargs)

    serial, serial_pred = report()
    splits = []

    def counted(fn, chunks, *args, **kwargs):
        splits.append(len(chunks))
        return _parallel.map_row_chunks(fn, chunks, *args, **kwargs)

    monkeypatch.setattr(_base, "map_row_chunks", counted)
    with joblib.parallel_config(backend="threading"):
        split, split_pred = report(n_jobs=2)
    # Every attack that ran split its rows in two: n_jobs reached each of them.
    assert splits == [2] * 6
    assert serial.drop(columns="time_s").equals(split.drop(columns="time_s"))
    assert serial_pred.keys() == split_pred.keys()
    for key in serial_pred:
        np.testing.assert_array_equal(serial_pred[key], split_pred[key], err_msg=str(key))
    # The attacks do turn rows here: the report is not comparing constants.
    assert (serial.accuracy[serial.attack == "worst case"] < 1).all()


def test_robustness_report_bad_n_jobs(victims, blobs3):
    with pytest.raises(ValueError, match="n_jobs must be an int or None. Got 1.5"):
        robustness_report(victims[0], *blobs3, attacks=FGSMAttack(), eps=0.1, n_jobs=1.5)


# -- dask.distributed ---------------------------------------------------------------
def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import raises ImportError
    with pytest.raises(ImportError, match=r'pip install "skadv\[dask\]"'):
        with dask_cluster():
            pass


@pytest.fixture(scope="module")
def dask_client():
    pytest.importorskip("distributed")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dask's notes about ports and memory
        with dask_cluster(n_workers=2, memory_limit="1GiB") as client:
            yield client


def test_dask_workers_are_single_threaded(dask_client):
    info = dask_client.scheduler_info()["workers"]
    assert len(info) == 2 and all(w["nthreads"] == 1 for w in info.values())
    out = dask_client.run(_worker_threads)
    assert all(v == ("1", "1") for v in out.values()), out


def test_attack_on_dask_equals_serial(dask_client, victims, blobs3):
    X, y = blobs3
    serial = _run(ATTACKS["pgd"](*victims), X[:N], y[:N])
    with joblib.parallel_backend("dask"):
        split = _run(ATTACKS["pgd"](*victims), X[:N], y[:N], n_jobs=2)
    _assert_same(serial, split)


def test_grid_search_on_dask_equals_serial(dask_client, breast_cancer):
    X, y = breast_cancer[0][:200], breast_cancer[1][:200]
    defense = AdversarialTrainingClassifier(
        LogisticRegression(solver="adam", max_iter=20, random_state=0),
        attack=FGSMAttack(eps=0.1), method="fgsm")
    grid = {"attack__eps": [0.05, 1.5], "ratio": [0.5, 1.0]}
    serial = GridSearchCV(defense, grid, cv=2).fit(X, y)
    with joblib.parallel_backend("dask"):
        split = GridSearchCV(defense, grid, cv=2, n_jobs=2).fit(X, y)
    for key in ("split0_test_score", "split1_test_score", "rank_test_score"):
        np.testing.assert_array_equal(serial.cv_results_[key], split.cv_results_[key])
    assert serial.best_params_ == split.best_params_
    np.testing.assert_array_equal(serial.predict_proba(X), split.predict_proba(X))
    # The candidates differ: the search is not comparing equal constants.
    assert len(np.unique(serial.cv_results_["mean_test_score"])) > 1


def test_cross_validate_on_dask_equals_serial(dask_client, breast_cancer):
    X, y = breast_cancer[0][:200], breast_cancer[1][:200]
    from sklearn.linear_model import LogisticRegression as SklearnLogisticRegression

    defense = DistilledClassifier(SklearnLogisticRegression(),
                                  LogisticRegression(solver="adam", max_iter=20,
                                                     random_state=0), temperature=2.0)
    serial = cross_validate(defense, X, y, cv=3, return_estimator=True)
    with joblib.parallel_backend("dask"):
        split = cross_validate(defense, X, y, cv=3, n_jobs=2, return_estimator=True)
    np.testing.assert_array_equal(serial["test_score"], split["test_score"])
    for a, b in zip(serial["estimator"], split["estimator"]):
        np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
