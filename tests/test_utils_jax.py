"""JAX plumbing (skadv/utils/_jax.py): keys built on the host equal JAX's own."""

import numpy as np
import pytest

import jax

from skadv.utils._jax import as_key, prng_key


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
