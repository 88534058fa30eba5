"""Small data makers and an independent NumPy model for the tests.

The data are drawn by NumPy from a generator seeded with the JAX key's bits: a ``jax.random``
draw of a new shape or dtype is an XLA compile (~0.5-1 s on jax 0.10 on a CPU), and the suite
draws data of a few hundred shapes.
"""

import jax
import jax.numpy as jnp
import numpy as np


def rng(key) -> np.random.Generator:
    """A NumPy generator determined by the JAX PRNG key ``key`` (same key, same draws)."""
    return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def unit_rows(key, n, d, dtype=jnp.float64):
    """n points uniform on the unit sphere S^(d-1) (the theory's ||x|| = 1)."""
    return jnp.asarray(_unit(rng(key).standard_normal((n, d))), dtype)


def regression_data(key, n, d, out_dim=1, dtype=jnp.float64):
    """Unit-norm inputs and smooth O(1) targets y_c = sin(pi * x . t_c) for random directions t."""
    draw = rng(key)
    x = _unit(draw.standard_normal((n, d)))
    t = draw.standard_normal((d, out_dim))
    return jnp.asarray(x, dtype), jnp.asarray(np.sin(np.pi * (x @ t) / np.sqrt(d)), dtype)


def numpy_forward(w, a, out_scale, x, node_scale=None):
    """f(x) = out_scale * relu(x W^T) (s * a), written with NumPy only."""
    w, a, x = (np.asarray(v, np.float64) for v in (w, a, x))
    s = np.ones(w.shape[0]) if node_scale is None else np.asarray(node_scale, np.float64)
    return float(out_scale) * np.maximum(x @ w.T, 0.0) @ (s[:, None] * a)
