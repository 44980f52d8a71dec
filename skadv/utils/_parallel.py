"""Scale-out: rows split across joblib workers, and workers that suit JAX.

skadv goes past one core or one machine through joblib, not through a
scheduler of its own: ``n_jobs`` splits the rows of an attack into contiguous
chunks that joblib's active backend runs -- loky processes by default, a
dask.distributed cluster inside ``joblib.parallel_config(backend="dask")``.
Three things make that exact, safe and fast with JAX:

- **Exact.** Chunks end on the batch boundaries of the serial run
  (:func:`row_chunks`), so every worker runs the same padded batch shapes, and
  each chunk carries its rows' global indices, from which the per-row random
  keys and counters are derived: the merged result equals the serial one.
- **No fork.** JAX's runtime is multithreaded; a process forked from one that
  has started it can deadlock. joblib's default backend (loky) and dask's
  nanny start fresh interpreters; joblib's ``"multiprocessing"`` backend
  forks, so :func:`map_row_chunks` runs on loky instead, with a warning, once
  JAX has started in the parent.
- **No oversubscription.** XLA's CPU runtime sizes its thread pool to all the
  cores of the machine unless ``PJRT_NPROC`` says otherwise; two workers on
  two cores would each run two threads. joblib gives loky workers
  ``OMP_NUM_THREADS = max(cpu_count // n_jobs, 1)`` (or
  ``inner_max_num_threads``) and dask's nanny gives its workers
  ``OMP_NUM_THREADS=1``, the budget BLAS and OpenMP obey;
  :func:`limit_worker_threads`, run when skadv is imported, makes XLA obey it
  too, in worker processes whose JAX has not started yet (a worker imports
  skadv while it unpickles its first task, before any JAX computation).
"""

import multiprocessing
import os
import warnings
from contextlib import ExitStack, contextmanager

import joblib
from joblib import Parallel, delayed, effective_n_jobs

from ._jax import batch_shape

__all__ = ["N_JOBS_DOC", "dask_cluster", "limit_worker_threads", "map_row_chunks",
           "row_chunks", "safe_parallel"]

# The n_jobs entry of the attacks' docstrings, written once (4-space indent).
N_JOBS_DOC = """n_jobs : int, default=None
        joblib workers the rows of :meth:`transform` are split across, in
        contiguous chunks (of whole batches where there is a ``batch_size``:
        ``X`` with at most ``batch_size`` rows runs as one task). The result
        and the per-row attributes (``success_``, ``perturbation_``, ...)
        equal the serial run's for the same ``random_state``. ``None`` means
        1 unless in a :func:`joblib.parallel_config` context
        (``backend="dask"`` runs the chunks on a dask.distributed cluster);
        ``-1`` means all processors."""

_DASK_HINT = 'pip install "skadv[dask]"'


def _jax_started():
    """Whether this process has started a JAX backend (its threads exist)."""
    try:
        # Private, but the only probe that does not itself start the backend.
        from jax._src import xla_bridge

        return bool(xla_bridge.backends_are_initialized())
    except (ImportError, AttributeError):  # a JAX without the probe: assume started
        return True


def limit_worker_threads():
    """Size XLA's CPU thread pool to the worker's thread budget, before JAX starts.

    In a child process (a loky or dask worker) whose JAX backend has not
    started, with ``PJRT_NPROC`` unset and ``OMP_NUM_THREADS`` set, sets
    ``PJRT_NPROC`` (read by XLA's CPU client when it starts) to
    ``OMP_NUM_THREADS``. A user's own ``PJRT_NPROC`` wins; the main process
    is left alone.

    Returns
    -------
    n_threads : int or None
        The thread count set, or None when nothing was changed.
    """
    # A spawned child imports the parent's main module (and so skadv) before
    # it knows its parent process, but after it has its name.
    child = (multiprocessing.parent_process() is not None
             or multiprocessing.current_process().name != "MainProcess")
    if not child or "PJRT_NPROC" in os.environ:
        return None
    budget = os.environ.get("OMP_NUM_THREADS", "")
    if not budget.isdigit() or int(budget) < 1 or _jax_started():
        return None
    os.environ["PJRT_NPROC"] = budget
    return int(budget)


def row_chunks(n, batch_size, n_jobs):
    """Contiguous row ranges for ``n`` rows split across ``n_jobs`` workers.

    Boundaries fall on the batch boundaries of a serial
    :func:`~skadv.utils._jax.map_batches` run: every chunk but the last holds
    whole batches and the last one at least one whole batch, so each worker
    pads its batches to the serial run's shape. Hence at most ``n //
    batch_shape(n, batch_size)`` chunks: rows that fit in one batch stay in
    one chunk.

    Parameters
    ----------
    n : int
        Number of rows.
    batch_size : int or None
        Rows per compiled call; ``None`` for attacks without batches (each
        row on its own).
    n_jobs : int or None
        As in joblib; resolved against the active backend.

    Returns
    -------
    chunks : list of (start, stop)
        At most ``effective_n_jobs(n_jobs)`` of them, covering ``range(n)``.
    """
    size = 1 if batch_size is None else batch_shape(n, batch_size)
    whole = n // size
    k = max(1, min(effective_n_jobs(n_jobs), whole))
    cuts = [size * (whole * i // k) for i in range(k)] + [n]
    return list(zip(cuts[:-1], cuts[1:]))


def _forks():
    """Whether joblib's active backend would fork this process."""
    # joblib's "multiprocessing" backend uses the default start method unless
    # JOBLIB_START_METHOD names another.
    from joblib._parallel_backends import MultiprocessingBackend

    backend, _ = joblib.parallel.get_active_backend()
    if not isinstance(backend, MultiprocessingBackend):
        return False
    method = (os.environ.get("JOBLIB_START_METHOD")
              or multiprocessing.get_start_method(allow_none=True)
              or multiprocessing.get_all_start_methods()[0])
    return method == "fork"


def map_row_chunks(fn, chunks, arrays, *args, n_jobs=None):
    """``fn(start, stop, *row_slices, *args)`` per chunk, in joblib workers.

    Only each chunk's rows of ``arrays`` are sent to its worker. Runs on the
    active joblib backend, except that a forking backend is replaced by loky
    once JAX has started in this process (see the module docstring).

    Parameters
    ----------
    fn : callable
        Module-level (picklable) function.
    chunks : list of (start, stop)
        From :func:`row_chunks`.
    arrays : sequence of ndarray
        Sliced along their first axis per chunk.
    *args
        Passed whole to every call.
    n_jobs : int or None
        As in joblib.

    Returns
    -------
    results : list
        One per chunk, in chunk order.
    """
    tasks = (delayed(fn)(a, b, *[x[a:b] for x in arrays], *args) for a, b in chunks)
    return safe_parallel(n_jobs, stacklevel=4)(tasks)


def safe_parallel(n_jobs, stacklevel=3, **kwargs):
    """``joblib.Parallel(n_jobs, **kwargs)`` on the active backend, unless it forks.

    A forking backend is replaced by loky, with a warning, once JAX has
    started in this process (see the module docstring).
    """
    if _forks() and _jax_started():
        warnings.warn(
            "joblib's 'multiprocessing' backend forks this process, which already "
            "runs JAX (multithreaded): a forked worker can deadlock. Running on "
            "'loky' instead; use joblib.parallel_config(backend='loky') or "
            "backend='dask' to silence this.", RuntimeWarning, stacklevel=stacklevel)
        return Parallel(n_jobs=n_jobs, backend="loky", **kwargs)
    return Parallel(n_jobs=n_jobs, **kwargs)


def _distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(
            f"Running on a dask cluster needs dask.distributed, which is not "
            f"installed: {_DASK_HINT} (or pip install \"dask[distributed]\"). "
            f"Without it, n_jobs runs on joblib's local process pool.") from exc
    return distributed


@contextmanager
def dask_cluster(address=None, *, n_workers=None, memory_limit="auto",
                 **cluster_kwargs):
    """A dask.distributed client whose workers suit skadv's JAX code.

    Connects to the scheduler at ``address``, or starts a ``LocalCluster`` of
    single-threaded worker processes (``processes=True``,
    ``threads_per_worker=1``: JAX releases the GIL, so one worker process per
    core is the unit that scales; dask's nanny starts each in a fresh
    interpreter with ``OMP_NUM_THREADS=1``, and skadv gives XLA the same
    budget) and shuts it down on exit. Inside,
    ``joblib.parallel_config(backend="dask")`` sends ``n_jobs`` work --
    attacks, :class:`~sklearn.model_selection.GridSearchCV`,
    :func:`~sklearn.model_selection.cross_validate` -- to the cluster.

    Parameters
    ----------
    address : str, default=None
        Scheduler address (``"tcp://host:8786"``) of a running cluster;
        ``None`` starts a local one.
    n_workers : int, default=None
        Workers of the local cluster; ``None`` is one per core.
    memory_limit : str or float, default="auto"
        Per worker, as in ``dask.distributed.LocalCluster``.
    **cluster_kwargs
        Further ``LocalCluster`` arguments.

    Yields
    ------
    client : distributed.Client

    Raises
    ------
    ImportError
        If dask.distributed is not installed; the message names the extra,
        ``pip install "skadv[dask]"``.

    Examples
    --------
    >>> import joblib
    >>> from skadv.utils import dask_cluster
    >>> with dask_cluster(n_workers=2) as client:  # doctest: +SKIP
    ...     with joblib.parallel_config(backend="dask"):
    ...         X_adv = attack.set_params(n_jobs=-1).transform(X)
    """
    distributed = _distributed()
    environ = dict(os.environ)
    with ExitStack() as stack:
        # dask's nanny writes its workers' variables (OMP_NUM_THREADS=1, ...)
        # into this process's environment before spawning them; put ours back,
        # or joblib's later loky workers would inherit them.
        stack.callback(_restore_environ, environ)
        if address is None:
            options = dict(n_workers=n_workers, threads_per_worker=1, processes=True,
                           memory_limit=memory_limit, dashboard_address=None)
            options.update(cluster_kwargs)
            address = stack.enter_context(distributed.LocalCluster(**options))
            _restore_environ(environ)
        yield stack.enter_context(distributed.Client(address))


def _restore_environ(environ):
    for name in set(os.environ) - set(environ):
        del os.environ[name]
    os.environ.update(environ)
