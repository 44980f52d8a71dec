"""JAX plumbing (skadv/utils/_jax.py): keys built on the host equal JAX's own."""

import numpy as np
import pytest

import jax

from skadv.utils._jax import as_key, fold_in_rows, prng_key, split_key


@pytest.mark.parametrize("seed", [0, 1, 7, 12345, 2**31 - 2])
def test_as_key_is_prngkey_of_the_drawn_seed(seed):
    class Fixed(np.random.RandomState):
        def randint(self, *args, **kwargs):
            return seed

    key = as_key(Fixed(0))
    expected = jax.random.PRNGKey(seed)
    assert key.dtype == expected.dtype and key.shape == expected.shape
    np.testing.assert_array_equal(np.asarray(key), np.asarray(expected))
    # And it behaves as one: the same draws.
    np.testing.assert_array_equal(np.asarray(jax.random.uniform(key, (4,))),
                                  np.asarray(jax.random.uniform(expected, (4,))))


def test_as_key_same_random_state_same_key():
    np.testing.assert_array_equal(np.asarray(as_key(3)), np.asarray(as_key(3)))
    assert not np.array_equal(np.asarray(as_key(3)), np.asarray(as_key(4)))


@pytest.mark.parametrize("seed", [0, 5, 2**31 - 1, 2**32 - 1])
def test_prng_key_is_prngkey(seed):
    np.testing.assert_array_equal(np.asarray(prng_key(seed)),
                                  np.asarray(jax.random.PRNGKey(seed)))


@pytest.mark.parametrize("seed", [0, 3, 2**31 - 1, 2**32 - 1])
def test_fold_in_rows_is_jax_fold_in(seed):
    key = jax.random.PRNGKey(seed)
    rows = np.array([0, 1, 2, 255, 256, 65535, 65536, 123456789, 2**31 - 1], np.int32)
    expected = jax.vmap(lambda i: jax.random.fold_in(key, i))(rows)
    np.testing.assert_array_equal(fold_in_rows(key, rows), np.asarray(expected))


@pytest.mark.parametrize("partitionable", [True, False])
@pytest.mark.parametrize("num", [2, 3])
def test_split_key_is_jax_split(partitionable, num):
    # Both splits JAX has (jax_threefry_partitionable decides), bit for bit.
    before = jax.config.jax_threefry_partitionable
    jax.config.update("jax_threefry_partitionable", partitionable)
    try:
        for seed in (0, 42, 2**32 - 1):
            key = jax.random.PRNGKey(seed)
            got = np.stack([np.asarray(k) for k in split_key(key, num)])
            np.testing.assert_array_equal(got, np.asarray(jax.random.split(key, num)))
    finally:
        jax.config.update("jax_threefry_partitionable", before)
