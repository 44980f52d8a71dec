"""Randomized smoothing (Cohen, Rosenfeld and Kolter 2019): sampling and certificates.

The smoothed classifier ``g(x) = argmax_c P(f(x + delta) = c)``, ``delta ~
N(0, sigma^2 I)``, is robust in L2: if the top class has probability at least
``p_A > 1/2`` then ``g`` is constant on the ball of radius
``sigma * Phi^-1(p_A)``. CERTIFY estimates a lower confidence bound on ``p_A``
from Monte Carlo counts, so its radius holds with probability ``1 - alpha``
over the sampling.

Pure numerical code (NumPy, SciPy, JAX; no scikit-learn):

- :func:`clopper_pearson_lower`, :func:`smoothing_radius`,
  :func:`certify_counts` — the statistics of CERTIFY;
- :func:`row_keys_from_rows`, :func:`noise`, :func:`noise_counts` — the
  sampling: one PRNG stream per row, derived from the row's values, and all
  draws and forward passes of a batch of rows inside one compiled scan;
  :func:`noise_bank`: draws picked from a fixed bank of normal vectors,
  cheaper for the selection draws that a smoothed ``predict`` makes.
"""

from functools import partial

import numpy as np
import jax
import jax.numpy as jnp
from scipy.special import betaincinv, ndtri

__all__ = [
    "bank_size",
    "certify_counts",
    "clopper_pearson_lower",
    "noise",
    "noise_bank",
    "noise_counts",
    "row_keys_from_rows",
    "smoothing_radius",
]

_COHEN = """\
    .. [1] Cohen, J., Rosenfeld, E. and Kolter, J. Z. "Certified adversarial
       robustness via randomized smoothing." ICML 2019."""


def _doc(fn):
    fn.__doc__ = fn.__doc__.replace("    %(cohen)s", _COHEN)
    return fn


@_doc
def clopper_pearson_lower(k, n, alpha):
    """One-sided ``1 - alpha`` Clopper–Pearson lower bound on a binomial proportion.

    The largest ``p`` with ``P(Binomial(n, p) >= k) <= alpha``: the ``alpha``
    quantile of ``Beta(k, n - k + 1)``, and ``0`` when ``k = 0``. It is what
    Cohen et al.'s ``lowerConfBound`` computes (statsmodels'
    ``proportion_confint(k, n, alpha=2 * alpha, method="beta")[0]``).

    Parameters
    ----------
    k : int or array of int
        Successes, ``0 <= k <= n``.
    n : int or array of int
        Trials, ``n >= 1``.
    alpha : float in (0, 1)
        Probability that the true proportion lies below the bound.

    Returns
    -------
    p_lower : float or ndarray
        Same shape as ``k`` and ``n`` broadcast.

    References
    ----------
    %(cohen)s
    .. [2] Clopper, C. J. and Pearson, E. S. "The use of confidence or
       fiducial limits illustrated in the case of the binomial."
       Biometrika, 1934.

    Examples
    --------
    >>> from skadv.verify.smoothing import clopper_pearson_lower
    >>> round(float(clopper_pearson_lower(100, 100, 0.001)), 4)
    0.9333
    """
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = betaincinv(np.maximum(k, 1.0), n - k + 1.0, alpha)
    return np.where(k > 0, p, 0.0)[()]


@_doc
def smoothing_radius(p_lower, sigma):
    """Certified L2 radius ``sigma * Phi^-1(p_lower)``; ``-1`` (abstain) below 1/2.

    Parameters
    ----------
    p_lower : float or array
        A lower bound on the probability of the top class under noise.
    sigma : float
        Standard deviation of the Gaussian noise.

    Returns
    -------
    radius : float or ndarray
        ``-1`` where ``p_lower < 1/2`` (no certificate: CERTIFY abstains).

    References
    ----------
    %(cohen)s

    Examples
    --------
    >>> from skadv.verify.smoothing import smoothing_radius
    >>> float(smoothing_radius(0.5, 0.25)), float(smoothing_radius(0.4, 0.25))
    (0.0, -1.0)
    """
    p = np.asarray(p_lower, dtype=np.float64)
    return np.where(p >= 0.5, sigma * ndtri(np.maximum(p, 0.5)), -1.0)[()]


@_doc
def certify_counts(counts0, counts, sigma, alpha):
    """Cohen et al.'s CERTIFY from Monte Carlo class counts.

    The class is chosen by the selection counts ``counts0`` and its
    probability is bounded with the independent estimation counts
    ``counts``; using one sample for both would bias the bound upwards.

    Parameters
    ----------
    counts0 : int array of shape (n_rows, n_classes)
        Class counts of the ``n0`` selection draws per row.
    counts : int array of shape (n_rows, n_classes)
        Class counts of the ``n`` estimation draws per row.
    sigma : float
        Noise standard deviation.
    alpha : float in (0, 1)
        Failure probability of each certificate.

    Returns
    -------
    top : ndarray of int, shape (n_rows,)
        The selected class index (ties to the lowest index).
    radius : ndarray of shape (n_rows,)
        Its certified L2 radius, ``-1`` where CERTIFY abstains. With
        probability at least ``1 - alpha`` over the draws of a row, the
        smoothed classifier predicts ``top`` on every point closer than
        ``radius`` (or the row abstains).

    References
    ----------
    %(cohen)s

    Examples
    --------
    >>> import numpy as np
    >>> from skadv.verify.smoothing import certify_counts
    >>> top, radius = certify_counts(np.array([[90, 10]]), np.array([[980, 20]]), 0.5, 0.001)
    >>> int(top[0]), round(float(radius[0]), 3)
    (0, 0.889)
    """
    counts0, counts = np.asarray(counts0), np.asarray(counts)
    top = np.argmax(counts0, axis=1)
    n_a = counts[np.arange(len(top)), top]
    p_lower = clopper_pearson_lower(n_a, counts.sum(axis=1), alpha)
    return top, np.atleast_1d(smoothing_radius(p_lower, sigma))


def row_keys_from_rows(key, X, stream):
    """One PRNG key per row, a function of the row's values, ``key`` and ``stream``.

    The noise of a row then does not depend on which other rows are in the
    batch or in which order, so the sampled prediction of a row is a
    deterministic function of that row: predicting on a subset gives the same
    answers as predicting on the whole. Distinct streams give independent
    draws (CERTIFY's selection and estimation samples must be independent).

    Parameters
    ----------
    key : jax.Array
        Base PRNG key.
    X : array of shape (n_rows, n_features)
        Rows, hashed by their float32 bit patterns (FNV-1a over the words).
    stream : int
        Which independent stream.

    Returns
    -------
    keys : ndarray of shape (n_rows, 2)
        Raw uint32 keys (a JAX key array of shape ``(n_rows,)`` under typed
        PRNG keys).
    """
    # +0.0 maps -0.0 to 0.0, which the model cannot tell apart either.
    words = np.ascontiguousarray(np.asarray(X, np.float32) + np.float32(0.0)).view(np.uint32)
    h = np.full(words.shape[0], 2166136261, dtype=np.uint64)
    for j in range(words.shape[1]):  # over features, vectorised over rows
        h = ((h ^ words[:, j]) * np.uint64(16777619)) & np.uint64(0xFFFFFFFF)
    # Padded to a power of two: callers pass any number of rows (a query
    # attack, the rows it still runs), and each new count would compile anew.
    n = h.shape[0]
    size = 1 << max(3, int(n - 1).bit_length())
    hashes = np.zeros(size, np.uint32)
    hashes[:n] = h
    keys = _fold_rows(key, np.uint32(stream), hashes)
    if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):  # typed keys stay on the device
        return keys[:n]
    # Cut on the host: slicing the device array compiles a program per row count.
    return np.asarray(keys)[:n]


@jax.jit
def _fold_rows(key, stream, hashes):
    # One compiled call for the stream and the rows (a smoothed predict_proba
    # runs it per query of a black-box attack: no eager ops around it).
    base = jax.random.fold_in(key, stream)
    return jax.vmap(lambda h: jax.random.fold_in(base, h))(hashes)


def bank_size(n_samples, n_features, max_bytes=1 << 26):
    """Vectors in a :func:`noise_bank` for ``n_samples`` draws per row: a power of two.

    8192 when they fit in ``max_bytes`` of float32, fewer for wide rows, but
    never fewer than ``n_samples`` (a row's draws are distinct vectors).
    """
    size = 1 << 13
    while size > 1 and size * n_features * 4 > max_bytes:
        size //= 2
    return max(size, 1 << max(0, int(n_samples - 1).bit_length()))


def noise_bank(key, n_samples, n_features):
    """Standard normal vectors ``(bank_size(n_samples, n_features), n_features)``.

    :func:`noise` with ``bank`` gives each row ``n_samples`` distinct vectors
    of it, at indices ``a + b * j`` (``b`` odd, modulo the power-of-two size)
    with ``a, b`` drawn from the row's key. The indices do not depend on the
    bank's values, so a row's draws are independent standard normal vectors,
    as fresh draws are; only different rows share vectors. Picking costs a
    gather where drawing costs a PRNG and an inverse error function per
    number (about 5x a small MLP's forward pass on the noisy copies): for the
    selection draws of a smoothed ``predict``, which a black-box attack calls
    once per query.
    """
    return jax.random.normal(key, (bank_size(n_samples, n_features), n_features),
                             jnp.float32)


@partial(jax.jit, static_argnames=("draws", "n_features"))
def noise(keys, step, draws, n_features, bank=None):
    """Standard normal draws ``(n_rows, draws, n_features)`` for chunk ``step``.

    Chunk ``step`` of row ``i`` comes from ``fold_in(keys[i], step)``, so the
    same chunk is the same noise whether it is consumed by a compiled scan
    (:func:`noise_counts`) or handed to a black-box ``predict``. With
    ``bank`` (:func:`noise_bank`), draw ``j`` of row ``i`` is the bank's
    vector ``a_i + b_i * j`` instead, ``(a_i, b_i)`` from ``keys[i]``.
    """
    if bank is None:
        return jax.vmap(lambda k: jax.random.normal(
            jax.random.fold_in(k, step), (draws, n_features), jnp.float32))(keys)
    ab = jax.vmap(lambda k: jax.random.bits(k, (2,), jnp.uint32))(keys)
    j = (step * draws + jnp.arange(draws)).astype(jnp.uint32)
    index = (ab[:, :1] + (ab[:, 1:] | jnp.uint32(1)) * j) & jnp.uint32(bank.shape[0] - 1)
    return bank[index]



@partial(jax.jit, static_argnames=("fn", "n_samples", "draws", "n_classes"))
def noise_counts(fn, params, X, keys, sigma, *, n_samples, draws, n_classes, bank=None):
    """Class counts of ``argmax fn(params, x + sigma * noise)`` over ``n_samples`` draws per row.

    All draws and forward passes run in one ``lax.scan`` over chunks of
    ``draws`` noise vectors per row; the last chunk is masked when
    ``n_samples`` is not a multiple of ``draws``.

    Parameters
    ----------
    fn : hashable callable
        ``fn(params, Z) -> logits (m, n_classes)``; ties go to the lowest index.
    params : pytree
    X : jax.Array of shape (n_rows, n_features)
    keys : jax.Array of shape (n_rows, 2)
        Per-row keys (:func:`row_keys_from_rows`).
    sigma : float or jax.Array of shape (n_features,)
        Noise standard deviation, per feature when an array.
    n_samples : int
        Draws per row.
    draws : int
        Draws per row per step of the scan; ``n_rows * draws`` inputs go
        through ``fn`` at once.
    n_classes : int
    bank : jax.Array of shape (size, n_features), default=None
        Pick the draws from this :func:`noise_bank` instead of drawing them.

    Returns
    -------
    counts : jax.Array of int32, shape (n_rows, n_classes)
    """
    n_rows, d = X.shape
    n_steps = -(-n_samples // draws)

    def step(counts, i):
        Z = X[:, None, :] + sigma * noise(keys, i, draws, d, bank)
        pred = jnp.argmax(fn(params, Z.reshape(n_rows * draws, d)), axis=1)
        valid = (i * draws + jnp.arange(draws)) < n_samples
        hits = jax.nn.one_hot(pred.reshape(n_rows, draws), n_classes, dtype=jnp.int32)
        return counts + jnp.sum(hits * valid[None, :, None], axis=1), None

    counts, _ = jax.lax.scan(step, jnp.zeros((n_rows, n_classes), jnp.int32),
                             jnp.arange(n_steps))
    return counts
