"""JAX plumbing shared by models, attacks and defenses.

One way to turn a ``random_state`` into a key and one batching helper: every
compiled function in skadv sees a small, fixed set of batch shapes so that it is
traced a bounded number of times however many rows a user passes.
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import jax
import jax.numpy as jnp
from sklearn.utils import check_random_state

__all__ = ["as_key", "batch_shape", "fold_in_rows", "host_threads", "map_batches",
           "prng_key", "split_key", "to_numpy", "to_jax"]


def as_key(random_state):
    """Turn a sklearn ``random_state`` into a JAX PRNG key, once per call.

    Parameters
    ----------
    random_state : int, RandomState instance or None
        As everywhere in scikit-learn. ``None`` draws a fresh seed from
        NumPy's global generator, so results vary between calls.

    Returns
    -------
    key : jax.Array
        A typed-less ``uint32[2]`` key usable with every ``jax.random`` function.
    """
    rng = check_random_state(random_state)
    return prng_key(int(rng.randint(0, 2**31 - 1)))


def prng_key(seed):
    """``jax.random.PRNGKey(seed)`` for ``0 <= seed < 2**32``, built on the host.

    PRNGKey (and ``jnp.asarray``) run a program of their own: compiled in
    every fresh process (tens of ms of a first call) and dispatched on every
    call (a smoothed ``predict_proba`` makes one per query of a black-box
    attack). The default threefry key of such a seed is ``[0, seed]``.
    """
    if jax.config.jax_default_prng_impl == "threefry2x32" and not jax.config.jax_enable_custom_prng:
        return jax.device_put(np.array([0, seed], dtype=np.uint32))
    return jax.random.PRNGKey(seed)


def _host_threefry():
    """Whether keys are JAX's default threefry keys, which the host can derive."""
    return (jax.config.jax_default_prng_impl == "threefry2x32"
            and not jax.config.jax_enable_custom_prng)


def _threefry2x32(key, x0, x1):
    """The Threefry-2x32 hash of JAX's ``threefry2x32_p`` (20 rounds) in NumPy.

    Integer arithmetic modulo 2**32 only, so bit for bit what JAX computes
    (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3").
    """
    key = np.asarray(key, np.uint32)
    ks = (key[0], key[1], key[0] ^ key[1] ^ np.uint32(0x1BD11BDA))
    rotations = ((13, 15, 26, 6), (17, 29, 16, 24))
    with np.errstate(over="ignore"):
        x0 = np.asarray(x0, np.uint32) + ks[0]
        x1 = np.asarray(x1, np.uint32) + ks[1]
        for i in range(5):
            for r in rotations[i % 2]:
                x0 = x0 + x1
                x1 = ((x1 << np.uint32(r)) | (x1 >> np.uint32(32 - r))) ^ x0
            x0 = x0 + ks[(i + 1) % 3]
            x1 = x1 + ks[(i + 2) % 3] + np.uint32(i + 1)
    return x0, x1


def fold_in_rows(key, rows):
    """``jax.vmap(lambda i: jax.random.fold_in(key, i))(rows)``, on the host.

    The per-row keys of an attack (a row's draws derive from its global
    index). Derived in NumPy, they leave the attack's compiled program: the
    vmapped hash is a large part of tracing and lowering it, paid again in
    every fresh process even when the program itself comes from the cache.

    Parameters
    ----------
    key : array-like of shape (2,), uint32
    rows : array-like of int of shape (n,), each in ``[0, 2**32)``

    Returns
    -------
    keys : ndarray of shape (n, 2), uint32
    """
    rows = np.asarray(rows)
    if not _host_threefry():
        return np.asarray(jax.vmap(lambda i: jax.random.fold_in(key, i))(rows))
    # fold_in(key, i) hashes the 64-bit count (0, i).
    k0, k1 = _threefry2x32(key, np.zeros(rows.shape, np.uint32), rows.astype(np.uint32))
    return np.stack([k0, k1], axis=-1)


def split_key(key, num=2):
    """``jax.random.split(key, num)``, computed on the host.

    On the device a split is two small programs (the split and the
    unpacking of its result), traced, lowered and loaded in every fresh
    process before a model's first fit.

    Returns
    -------
    keys : tuple of ``num`` jax.Array of shape (2,)
    """
    if not _host_threefry():
        return tuple(jax.random.split(key, num))
    if jax.config.jax_threefry_partitionable:
        out = fold_in_rows(key, np.arange(num))
    else:
        # The original split: the hash of counts 0 .. 2 num - 1, halves paired.
        counts = np.arange(2 * num, dtype=np.uint32)
        out = np.concatenate(_threefry2x32(key, counts[:num], counts[num:])).reshape(num, 2)
    return tuple(jax.device_put(k) for k in out)


def batch_shape(n, batch_size, min_rows=8):
    """Rows per compiled call for ``n`` rows and a cap of ``batch_size``.

    Small inputs are padded to the next power of two (at least ``min_rows``),
    larger ones to ``batch_size``: a handful of shapes, so a handful of
    compilations.
    """
    if n >= batch_size:
        return int(batch_size)
    return int(min(batch_size, max(min_rows, 1 << int(np.ceil(np.log2(max(n, 1)))))))


def host_threads():
    """Cores this process may run on: ``PJRT_NPROC`` when set (the thread
    budget :func:`skadv.utils._parallel.limit_worker_threads` gives a joblib
    worker), else the CPU affinity mask."""
    budget = os.environ.get("PJRT_NPROC", "")
    if budget.isdigit() and int(budget) >= 1:
        return int(budget)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def map_batches(fn, arrays, batch_size, *, verbose=False, desc=None, min_rows=8,
                concurrent=False):
    """Apply ``fn`` to row-chunks of ``arrays`` padded to a fixed shape.

    Parameters
    ----------
    fn : callable
        ``fn(*chunks) -> array or tuple of arrays``, each output with the
        chunk's rows first. Usually a jitted function.
    arrays : sequence of array-like
        Arrays sharing their first dimension ``n``.
    batch_size : int
        Upper bound on rows per call; memory is bounded by it (times the
        calls in flight, see ``concurrent``).
    verbose : bool or int, default=False
        Show a progress bar over batches (tqdm, when installed) if more than
        one batch.
    desc : str, default=None
        Label of the progress bar.
    min_rows : int, default=8
        Smallest padded shape (see :func:`batch_shape`).
    concurrent : bool, default=False
        Run up to :func:`host_threads` batches at once, from a thread pool.
        Only for a pure compiled ``fn`` (no Python state, no thread-local JAX
        configuration such as ``jax.enable_x64``): XLA's CPU runtime runs one
        call's small matmuls on all cores but the rest of its work on one,
        so two calls in flight keep two cores busy (25-35% faster PGD on an
        MLP here). The batches, their shapes and so the results are those
        of the serial loop.

    Padding repeats the last row, so padded rows are valid inputs.

    Returns
    -------
    out : ndarray or tuple of ndarray
        The concatenated outputs for the ``n`` real rows, as NumPy arrays.
    """
    arrays = [np.asarray(a) for a in arrays]
    n = arrays[0].shape[0]
    if n == 0:
        raise ValueError("map_batches needs at least one row.")
    size = batch_shape(n, batch_size, min_rows)
    starts = range(0, n, size)

    def run(start):
        stop = min(start + size, n)
        chunk = []
        for a in arrays:
            part = a[start:stop]
            if stop - start < size:
                pad = np.repeat(part[-1:], size - (stop - start), axis=0)
                part = np.concatenate([part, pad], axis=0)
            chunk.append(part)
        res = fn(*chunk)
        single = not isinstance(res, tuple)
        res = (res,) if single else res
        return single, [np.asarray(r)[: stop - start] for r in res]

    bar = None
    if verbose and len(starts) > 1:
        try:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(starts), desc=desc, unit="batch")
        except ImportError:  # the progress extra is optional
            pass
    workers = min(host_threads(), len(starts)) if concurrent else 1
    try:
        if workers > 1:
            with ThreadPoolExecutor(workers, thread_name_prefix="skadv-batch") as pool:
                futures = [pool.submit(run, start) for start in starts]
                outs = []
                for future in futures:
                    outs.append(future.result())
                    if bar is not None:
                        bar.update()
        else:
            outs = []
            for start in starts:
                outs.append(run(start))
                if bar is not None:
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
    single = outs[0][0]
    merged = tuple(np.concatenate([o[1][i] for o in outs], axis=0)
                   for i in range(len(outs[0][1])))
    return merged[0] if single else merged


def to_numpy(tree):
    """Convert a pytree of JAX arrays into NumPy arrays (for pickling)."""
    return jax.tree_util.tree_map(np.asarray, tree)


def to_jax(tree):
    """Convert a pytree of arrays into JAX arrays."""
    return jax.tree_util.tree_map(jnp.asarray, tree)
