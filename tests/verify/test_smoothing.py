"""Randomized smoothing's statistics and sampler, against scipy and exact distributions.

Oracles: scipy's Beta quantiles and binomial tails for the Clopper–Pearson
bound, the normal quantile for the radius, and for the sampler a base
classifier whose probability under noise is known in closed form
(``f(x) = [0, x_0]`` gives ``P(class 1) = Phi(x_0 / sigma)``), so its counts
must be binomial with that probability.
"""

from dataclasses import dataclass

import numpy as np
import jax
import jax.numpy as jnp
import pytest
from scipy import stats

from skadv.verify.smoothing import (bank_size, certify_counts, clopper_pearson_lower,
                                    noise, noise_bank, noise_counts, row_keys_from_rows,
                                    smoothing_radius)


def test_clopper_pearson_equals_beta_quantile_and_binomial_tail():
    n = np.array([1, 2, 10, 100, 1000, 100_000])[:, None, None]
    frac = np.array([0.0, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0])[None, :, None]
    k = np.round(frac * n).astype(int)
    alpha = np.array([1e-3, 0.05, 0.5])[None, None, :]
    k, n, alpha = np.broadcast_arrays(k, n, alpha)
    p = clopper_pearson_lower(k, n, alpha)
    pos = k > 0
    np.testing.assert_allclose(p[pos], stats.beta.ppf(alpha[pos], k[pos], n[pos] - k[pos] + 1),
                               rtol=1e-10, atol=1e-14)
    assert np.all(p[~pos] == 0)
    # the definition: at the bound, seeing k or more successes has probability alpha
    tail = stats.binom.sf(k[pos] - 1, n[pos], p[pos])
    np.testing.assert_allclose(tail, alpha[pos], rtol=1e-6)
    # a lower bound, below the point estimate, and monotone in k
    assert np.all(p <= k / n + 1e-15)
    assert np.all(np.diff(clopper_pearson_lower(np.arange(101), 100, 0.01)) > 0)


def test_radius_formula():
    p = np.array([0.3, 0.4999, 0.5, 0.6, 0.9, 0.999])
    r = smoothing_radius(p, 0.5)
    np.testing.assert_allclose(r[2:], 0.5 * stats.norm.ppf(p[2:]), rtol=1e-12)
    assert list(r[:2]) == [-1.0, -1.0]
    assert r[2] == 0.0


def test_certify_uses_selection_counts_for_the_class():
    counts0 = np.array([[60, 40, 0], [10, 5, 85], [50, 50, 0]])
    # row 0: estimation favours class 1, but CERTIFY must bound class 0's count
    counts = np.array([[300, 700, 0], [0, 0, 1000], [510, 490, 0]])
    top, radius = certify_counts(counts0, counts, 0.25, 0.001)
    assert top.tolist() == [0, 2, 0]  # ties go to the lowest index
    assert radius[0] == -1.0 and radius[2] == -1.0
    p = stats.beta.ppf(0.001, 1000, 1)
    assert radius[1] == pytest.approx(0.25 * stats.norm.ppf(p), rel=1e-12)


@dataclass(frozen=True)
class FirstFeature:
    """Binary logits ``[0, x_0 - t]``: class 1 with probability ``Phi((x_0 - t) / sigma)``."""

    def __call__(self, params, Z):
        return jnp.stack([jnp.zeros(Z.shape[0]), Z[:, 0] - params], axis=1)


@pytest.mark.parametrize("bank", [False, True], ids=["drawn", "bank"])
def test_counts_are_binomial_with_the_known_probability(bank):
    sigma, n_samples, t = 0.5, 1000, 0.1
    x0 = np.linspace(-0.6, 0.8, 64)
    X = np.column_stack([x0, np.zeros((64, 2))]).astype(np.float32)
    keys = row_keys_from_rows(jax.random.PRNGKey(0), X, 1)
    # picked from a bank: each row's draws are still independent normals
    bank = noise_bank(jax.random.PRNGKey(9), n_samples, 3) if bank else None
    # 1000 draws in chunks of 96: ten full chunks and a masked partial one
    counts = np.asarray(noise_counts(FirstFeature(), jnp.float32(t), jnp.asarray(X), keys,
                                     sigma, n_samples=n_samples, draws=96, n_classes=2,
                                     bank=bank))
    assert np.all(counts.sum(axis=1) == n_samples)
    p = stats.norm.cdf((x0 - t) / sigma)
    # the sum over rows of independent binomials: its mean and variance are known
    z = (counts[:, 1].sum() - n_samples * p.sum()) / np.sqrt(n_samples * np.sum(p * (1 - p)))
    assert abs(z) < 4.5
    # and each row's count is within its own binomial range
    lo, hi = stats.binom.ppf(1e-5, n_samples, p), stats.binom.isf(1e-5, n_samples, p)
    assert np.all((counts[:, 1] >= lo) & (counts[:, 1] <= hi))
    # per-feature sigma: noise only on the first feature changes nothing here
    counts_f = noise_counts(FirstFeature(), jnp.float32(t), jnp.asarray(X), keys,
                            jnp.array([sigma, 0.0, 0.0]), n_samples=n_samples, draws=96,
                            n_classes=2, bank=bank)
    np.testing.assert_array_equal(counts_f, counts)


def test_bank_draws_of_a_row_are_distinct_vectors_of_the_bank():
    assert bank_size(100, 30) == 8192
    assert bank_size(20_000, 30) == 32768  # never fewer than a row's draws
    assert bank_size(100, 10**6) == 128  # wide rows: a smaller bank, still >= 100
    bank = np.asarray(noise_bank(jax.random.PRNGKey(2), 300, 4))
    assert bank.shape == (8192, 4)
    keys = row_keys_from_rows(jax.random.PRNGKey(3), np.eye(6, dtype=np.float32), 0)
    # 2 x 4096 draws: chunk 1 goes on where chunk 0 stopped, all 8192 distinct
    a = np.concatenate([np.asarray(noise(keys, s, 4096, 4, jnp.asarray(bank)))
                        for s in (0, 1)], axis=1)
    index = {tuple(v): i for i, v in enumerate(bank)}
    picked = np.array([[index[tuple(v)] for v in row] for row in a])
    assert all(len(set(row)) == 8192 for row in picked)
    # rows start at different vectors and walk with different strides
    assert len(set(picked[:, 0])) == 6 and len(set(picked[:, 1] - picked[:, 0])) == 6


def test_noise_is_standard_normal_and_chunks_are_independent():
    keys = row_keys_from_rows(jax.random.PRNGKey(3), np.eye(4, dtype=np.float32), 0)
    a = np.asarray(noise(keys, 0, 2000, 5))
    b = np.asarray(noise(keys, 1, 2000, 5))
    assert a.shape == (4, 2000, 5)
    assert stats.kstest(a.ravel(), "norm").pvalue > 1e-4
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.01
    assert abs(np.corrcoef(a[0].ravel(), a[1].ravel())[0, 1]) < 0.03


def test_row_keys_depend_on_the_row_only():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(10, 3)).astype(np.float32)
    key = jax.random.PRNGKey(1)
    k = np.asarray(row_keys_from_rows(key, X, 0))
    perm = rng.permutation(10)
    np.testing.assert_array_equal(np.asarray(row_keys_from_rows(key, X[perm], 0)), k[perm])
    np.testing.assert_array_equal(np.asarray(row_keys_from_rows(key, X[3:5], 0)), k[3:5])
    assert len({tuple(r) for r in k}) == 10
    other = np.asarray(row_keys_from_rows(key, X, 1))
    assert not np.any(np.all(other == k, axis=1))
    zero, minus_zero = np.zeros((1, 2), np.float32), -np.zeros((1, 2), np.float32)
    np.testing.assert_array_equal(row_keys_from_rows(key, zero, 0),
                                  row_keys_from_rows(key, minus_zero, 0))


def test_row_keys_depend_on_the_row_only_and_row_counts_share_programs():
    from skadv.verify.smoothing import _fold_rows

    X = np.random.RandomState(0).randn(40, 3).astype(np.float32)
    key = jax.random.PRNGKey(5)
    whole = np.asarray(row_keys_from_rows(key, X, 1))
    before = _fold_rows._cache_size()
    for n in (17, 20, 29, 32):  # one padded shape, 32
        keys = row_keys_from_rows(key, X[-n:], 1)
        # cut on the host: a device slice would compile once per row count
        assert isinstance(keys, np.ndarray)
        np.testing.assert_array_equal(keys, whole[-n:])
    assert _fold_rows._cache_size() - before <= 1
