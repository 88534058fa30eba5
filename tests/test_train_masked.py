"""Masked training: exact reductions, the unsampled rule, determinism, no retracing, trends."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import losses, presets
from jaxntk.rounds import run as _train_masked

from helpers import regression_data


@pytest.fixture
def problem(key):
    k_p, k_d = jax.random.split(key)
    x, y = regression_data(k_d, 24, 6, out_dim=2)
    params = jaxntk.init_params(k_p, 6, 64, 2)
    return params, x, y


def plain_gd(params, x, y, lr, steps, loss="half_sum"):
    """Reference w <- w - lr * grad without optax; returns (w, losses before each step)."""
    loss_fn = losses.get(loss)
    value_and_grad = jax.value_and_grad(lambda w: loss_fn(jaxntk.apply({**params, "w": w}, x), y))
    w, values = params["w"], []
    for _ in range(steps):
        value, grad = value_and_grad(w)
        values.append(value)
        w = w - lr * grad
    return w, jnp.array(values)


@pytest.mark.parametrize("loss", ["half_sum", "half_mean", "mean"])
def test_keep_one_single_subnet_is_plain_gd(key, problem, loss):
    params, x, y = problem
    rounds, tau, lr = 3, 4, 0.05
    trained, hist = jaxntk.train_masked(
        key, params, x, y, presets.full_gd(tau, lr, rounds, loss=loss)
    )
    w_ref, values = plain_gd(params, x, y, lr, rounds * tau, loss)
    np.testing.assert_allclose(trained["w"], w_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(hist.local_loss.ravel(), values, rtol=1e-12)
    np.testing.assert_allclose(hist.loss[:-1], values[::tau], rtol=1e-12)
    np.testing.assert_array_equal(trained["a"], params["a"])


@pytest.mark.parametrize("unsampled", ["keep", "zero"])
def test_keep_one_any_number_of_subnets_equals_one(key, problem, unsampled):
    # xi = 1: every surrogate is the full network, so averaging K identical copies changes nothing.
    params, x, y = problem
    one = jaxntk.MaskedConfig(1, 1.0, 3, 0.05, 4, unsampled=unsampled)
    many = jaxntk.MaskedConfig(6, 1.0, 3, 0.05, 4, unsampled=unsampled)
    p1, h1 = jaxntk.train_masked(key, params, x, y, one)
    p6, h6 = jaxntk.train_masked(key, params, x, y, many)
    np.testing.assert_allclose(p6["w"], p1["w"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h6.loss, h1.loss, rtol=1e-12)
    np.testing.assert_allclose(h6.local_loss, h1.local_loss, rtol=1e-12)


def test_unsampled_keep_leaves_neurons_bit_identical(key, problem):
    params, x, y = problem
    cfg = jaxntk.MaskedConfig(2, 0.3, 3, 0.1, 1)
    trained, _ = jaxntk.train_masked(key, params, x, y, cfg)
    held = np.asarray(jaxntk.round_masks(key, params, cfg)[0].sum(axis=0) > 0)
    assert 0 < held.sum() < 64  # the case is not vacuous
    np.testing.assert_array_equal(trained["w"][~held], params["w"][~held])
    assert np.all(np.any(trained["w"][held] != params["w"][held], axis=1))


def test_unsampled_zero_kills_neurons_for_good(key):
    # Under the official rule the dead fraction after R rounds is 1 - (1 - (1 - xi)^K)^R.
    k_p, k_d = jax.random.split(key)
    x, y = regression_data(k_d, 16, 5)
    params = jaxntk.init_params(k_p, 5, 4000)
    cfg = jaxntk.MaskedConfig(1, 0.5, 1, 0.05, 5, unsampled="zero")
    trained, hist = jaxntk.train_masked(key, params, x, y, cfg)
    dead = np.asarray(hist.dead_fraction)
    assert np.all(np.diff(dead) >= 0)  # a dead neuron never comes back
    want = 1 - 0.5**5
    assert abs(dead[-1] - want) < 5 * math.sqrt(want * (1 - want) / 4000)
    all_masks = jaxntk.round_masks(key, params, cfg)
    never_missed = np.asarray(jnp.all(all_masks.sum(axis=1) > 0, axis=0))
    np.testing.assert_array_equal(np.all(trained["w"] == 0, axis=1), ~never_missed)


def test_ist_with_one_local_step_sums_the_local_updates(key, problem):
    # Categorical masks partition the nodes (N_j = 1): the aggregate is the sum of the K surrogates'
    # updates, each one GD step on its own surrogate, computed here without train_masked.
    params, x, y = problem
    cfg = presets.ist(4, 1, 0.05, 1)
    trained, _ = jaxntk.train_masked(key, params, x, y, cfg)
    m = jaxntk.round_masks(key, params, cfg)[0]
    total = jnp.zeros_like(params["w"])
    for mask in m:

        def surrogate_loss(w, mask=mask):
            return losses.half_sum(jaxntk.apply({**params, "w": w}, x, node_scale=4.0 * mask), y)

        total = total - 0.05 * jax.grad(surrogate_loss)(params["w"])
    np.testing.assert_allclose(trained["w"], params["w"] + total, rtol=1e-12, atol=1e-14)


def test_base_node_scale_multiplies_the_mask_scale(key, problem):
    params, x, y = problem
    lam = jnp.linspace(1.0, 3.0, 64)
    lam = lam / lam.sum()
    scaled = {**params, "out_scale": jnp.asarray(1.0)}
    cfg = presets.full_gd(2, 0.1, 2)
    _, h = jaxntk.train_masked(key, scaled, x, y, cfg, node_scale=jnp.sqrt(lam))
    _, values = plain_gd_scaled(scaled, x, y, jnp.sqrt(lam), 0.1, 4)
    np.testing.assert_allclose(h.local_loss.ravel(), values, rtol=1e-12)


def plain_gd_scaled(params, x, y, scale, lr, steps):
    def loss(w):
        return losses.half_sum(jaxntk.apply({**params, "w": w}, x, node_scale=scale), y)

    w, values = params["w"], []
    for _ in range(steps):
        values.append(loss(w))
        w = w - lr * jax.grad(loss)(w)
    return w, jnp.array(values)


def test_history_shapes_and_zero_sizes(key, problem):
    params, x, y = problem
    _, h = jaxntk.train_masked(key, params, x, y, jaxntk.MaskedConfig(3, 0.5, 4, 0.1, 5))
    assert h.loss.shape == (6,) and h.local_loss.shape == (5, 4) and h.dead_fraction.shape == (5,)
    same, h0 = jaxntk.train_masked(key, params, x, y, jaxntk.MaskedConfig(3, 0.5, 0, 0.1, 2))
    assert h0.local_loss.shape == (2, 0)
    np.testing.assert_array_equal(same["w"], params["w"])  # no local steps: nothing moves
    _, h_none = jaxntk.train_masked(key, params, x, y, jaxntk.MaskedConfig(3, 0.5, 2, 0.1, 0))
    assert h_none.loss.shape == (1,)


def test_same_key_is_bitwise_reproducible(key, problem):
    params, x, y = problem
    cfg = jaxntk.MaskedConfig(4, 0.5, 3, 0.1, 6)
    p1, h1 = jaxntk.train_masked(key, params, x, y, cfg)
    p2, h2 = jaxntk.train_masked(key, params, x, y, cfg)
    for a, b in zip((p1["w"], *h1), (p2["w"], *h2)):
        np.testing.assert_array_equal(a, b)
    _, h3 = jaxntk.train_masked(jax.random.key(5), params, x, y, cfg)
    assert not np.array_equal(h1.loss, h3.loss)


@pytest.mark.parametrize("path", ["plain", "gram"])
def test_no_retrace_for_new_arrays_lr_or_keep_prob(key, problem, path):
    # (The compact paths' capacity is a shape that depends on keep_prob: a new keep_prob may
    # recompile them, which is why sweeps over keep_prob size it for the largest one.)
    params, x, y = problem
    cfg = jaxntk.MaskedConfig(3, 0.5, 2, 0.1, 3, loss="half_mean")
    jaxntk.train_masked(key, params, x, y, cfg, path=path)
    size = _train_masked._cache_size()
    other = jaxntk.init_params(jax.random.key(9), 6, 64, 2)
    jaxntk.train_masked(jax.random.key(1), other, x + 0.0, y * 2.0, cfg, path=path)
    cfg_new = jaxntk.MaskedConfig(3, 0.3, 2, 0.05, 3, loss="half_mean")
    jaxntk.train_masked(key, params, x, y, cfg_new, path=path)
    assert _train_masked._cache_size() == size


def test_vmap_over_keys_equals_separate_runs(key, problem):
    params, x, y = problem
    cfg = jaxntk.MaskedConfig(3, 0.5, 2, 0.1, 4)
    keys = jax.random.split(key, 3)
    _, batched = jax.vmap(lambda k: jaxntk.train_masked(k, params, x, y, cfg))(keys)
    assert batched.loss.shape == (3, 5)
    _, single = jaxntk.train_masked(keys[1], params, x, y, cfg)
    np.testing.assert_allclose(batched.loss[1], single.loss, rtol=1e-12)


def test_jit_of_train_masked_equals_eager(key, problem):
    params, x, y = problem
    cfg = jaxntk.MaskedConfig(3, 0.5, 2, 0.1, 4)
    _, eager = jaxntk.train_masked(key, params, x, y, cfg)
    _, jitted = jax.jit(lambda k, p: jaxntk.train_masked(k, p, x, y, cfg))(key, params)
    np.testing.assert_allclose(jitted.loss, eager.loss, rtol=1e-12)


def plateau(key, num_subnets, local_steps, rounds=300, window=50):
    """Mean full loss over the last rounds (masked_neurons.md §5 check 6 set-up, smaller)."""
    k_p, k_d, k_t = jax.random.split(key, 3)
    x, y = regression_data(k_d, 40, 10)
    params = jaxntk.init_params(k_p, 10, 1000)
    cfg = jaxntk.MaskedConfig(num_subnets, 0.5, local_steps, 0.1, rounds)
    _, hist = jaxntk.train_masked(k_t, params, x, y, cfg)
    return float(jnp.mean(hist.loss[-window:]))


def test_plateau_falls_with_num_subnets_and_rises_with_local_steps(key):
    # The paper's claim (abstract; §3.2): with xi fixed the error neighbourhood shrinks as K grows
    # and grows with tau. The spec's simulation gave plateaus 0.64 / 0.22 / 0.115 for K = 1/5/10
    # at tau = 1 and 1.68 / 0.49 / 0.32 at tau = 5: ratios of ~2 or more, which we require to be
    # > 1.3 here so the check is robust to the seed while still failing if the trend vanished.
    k1, k5, k10 = (plateau(key, k, 1) for k in (1, 5, 10))
    assert k1 > 1.3 * k5 > 1.3 * 1.3 * k10
    t5 = plateau(key, 5, 5)
    assert t5 > 1.3 * k5
    full = jaxntk.train_masked(
        key,
        jaxntk.init_params(key, 10, 1000),
        *regression_data(key, 40, 10),
        presets.full_gd(1, 0.1, 300),
    )[1].loss[-1]
    assert float(full) < 0.1 * k10  # full GD converges far below every masked plateau
