"""The loss conventions (jaxntk.losses) against their NumPy formulas and the module's lr rule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxntk import losses

from helpers import rng

N, C = 7, 5


def problem(seed=0):
    draw = rng(jax.random.key(seed))
    return jnp.asarray(draw.standard_normal((N, C))), jnp.asarray(draw.standard_normal((N, C)))


def test_squared_losses_equal_their_formulas():
    pred, y = problem()
    r = np.asarray(pred - y)
    expected = {"half_sum": 0.5 * (r**2).sum(), "half_mean": 0.5 * (r**2).sum() / N,
                "mean": (r**2).sum() / (N * C)}  # fmt: skip
    for name, value in expected.items():
        np.testing.assert_allclose(losses.get(name)(pred, y), value, rtol=1e-13, err_msg=name)


def test_softmax_cross_entropy_equals_its_numpy_formula():
    pred, _ = problem(1)
    labels = np.arange(N) % C
    y = jax.nn.one_hot(labels, C, dtype=pred.dtype)
    p = np.asarray(pred, np.float64)
    expected = np.mean(np.log(np.exp(p).sum(axis=1)) - p[np.arange(N), labels])
    np.testing.assert_allclose(losses.softmax_ce(pred, y), expected, rtol=1e-12)
    np.testing.assert_allclose(losses.softmax_ce(jnp.zeros((3, C)), y[:3]), np.log(C), rtol=1e-12)


def test_a_step_on_half_mean_or_mean_is_a_rescaled_step_on_half_sum():
    # The module docstring: lr on "half_mean" is lr / n on "half_sum"; on "mean", 2 lr / (n C).
    pred, y = problem(2)
    grad = {name: jax.grad(losses.get(name))(pred, y) for name in ("half_sum", "half_mean", "mean")}
    np.testing.assert_allclose(grad["half_mean"], grad["half_sum"] / N, rtol=1e-13)
    np.testing.assert_allclose(grad["mean"], 2 * grad["half_sum"] / (N * C), rtol=1e-13)


def test_an_unknown_loss_names_the_choices():
    with pytest.raises(ValueError, match="half_sum"):
        losses.get("l2")
