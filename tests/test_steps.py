"""jaxntk.steps.descend against plain NumPy gradient descent on a quadratic (closed-form grads)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxntk import steps


def quadratic(key):
    k_a, k_b, k_p = jax.random.split(key, 3)
    a = jax.random.normal(k_a, (12, 5))
    b = jax.random.normal(k_b, (12,))
    p0 = jax.random.normal(k_p, (5,))
    return a, b, p0, lambda p: 0.5 * jnp.sum((a @ p - b) ** 2)


def numpy_gd(a, b, p, lr, num_steps, scale=1.0):
    """p <- p - lr * scale * A^T (A p - b): the losses before each step and the gradients' sum."""
    a, b, p = (np.asarray(v, np.float64) for v in (a, b, p))
    values, total = [], np.zeros_like(p)
    for _ in range(num_steps):
        r = a @ p - b
        values.append(0.5 * r @ r)
        grad = a.T @ r
        total += grad
        p = p - lr * scale * grad
    return p, np.array(values), total


def test_descend_is_gradient_descent_with_losses_and_gradient_sum(key):
    a, b, p0, loss = quadratic(key)
    out = steps.descend(loss, p0, optax.sgd(0.01), 7, sum_grads=True)
    p, values, total = numpy_gd(a, b, p0, 0.01, 7)
    np.testing.assert_allclose(out.params, p, rtol=1e-12)
    np.testing.assert_allclose(out.losses, values, rtol=1e-12)
    np.testing.assert_allclose(out.grad_sum, total, rtol=1e-12)
    assert steps.descend(loss, p0, optax.sgd(0.01), 7).grad_sum is None


def test_transform_changes_the_direction_not_the_recorded_gradient(key):
    # A direction 3 G (the Gram paths' K G) at lr is plain GD at 3 lr; grad_sum stays sum of G.
    a, b, p0, loss = quadratic(key)
    out = steps.descend(
        loss, p0, optax.sgd(0.01), 5, transform=lambda g: 3.0 * g, sum_grads=True
    )
    p, values, total = numpy_gd(a, b, p0, 0.01, 5, scale=3.0)
    np.testing.assert_allclose(out.params, p, rtol=1e-12)
    np.testing.assert_allclose(out.grad_sum, total, rtol=1e-12)
    np.testing.assert_allclose(out.losses, values, rtol=1e-12)


def test_continuing_from_the_optimizer_state_is_one_run(key):
    # With momentum the optimizer state matters: 3 + 4 steps passing it on equal 7 steps.
    _, _, p0, loss = quadratic(key)
    optimizer = optax.sgd(0.01, momentum=0.9)
    whole = steps.descend(loss, p0, optimizer, 7)
    first = steps.descend(loss, p0, optimizer, 3)
    rest = steps.descend(loss, first.params, optimizer, 4, opt_state=first.opt_state)
    np.testing.assert_allclose(rest.params, whole.params, rtol=1e-13)
    np.testing.assert_allclose(
        np.concatenate([first.losses, rest.losses]), whole.losses, rtol=1e-13
    )
    zero = steps.descend(loss, p0, optimizer, 0)
    np.testing.assert_array_equal(zero.params, p0)
    assert zero.losses.shape == (0,)
