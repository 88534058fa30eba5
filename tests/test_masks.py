"""Mask statistics and the aggregation rule (masked_neurons.md §5 checks 1, 2 and 5)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk
from jaxntk import masks

from helpers import unit_rows


@pytest.mark.parametrize("keep_prob", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("num_subnets", [1, 3, 10])
def test_bernoulli_statistics(key, keep_prob, num_subnets):
    width, draws = 2000, 64
    batch = jax.vmap(lambda k: masks.bernoulli(k, num_subnets, width, keep_prob))(
        jax.random.split(key, draws)
    )
    assert batch.shape == (draws, num_subnets, width)
    assert set(np.unique(np.asarray(batch))) <= {0.0, 1.0}
    # E[M] = xi: the mean of N Bernoulli draws is within 5 binomial standard errors.
    n = batch.size
    assert abs(float(batch.mean()) - keep_prob) < 5 * math.sqrt(keep_prob * (1 - keep_prob) / n)
    # P(N_r > 0) = theta = 1 - (1 - xi)^K, over draws * width neurons.
    theta = 1 - (1 - keep_prob) ** num_subnets
    held = float((batch.sum(axis=1) > 0).mean())
    m = draws * width
    assert abs(held - theta) < 5 * math.sqrt(max(theta * (1 - theta), 1e-12) / m) + 1e-12


@pytest.mark.parametrize("num_subnets", [1, 2, 7])
def test_categorical_is_a_partition(key, num_subnets):
    m = masks.categorical(key, num_subnets, 3000)
    np.testing.assert_array_equal(m.sum(axis=0), np.ones(3000))
    # each surrogate holds ~ width/K neurons: within 5 binomial standard deviations.
    p = 1 / num_subnets
    sd = math.sqrt(3000 * p * (1 - p))
    assert np.all(np.abs(np.asarray(m.sum(axis=1)) - 3000 * p) <= 5 * sd + 1e-9)


def test_categorical_surrogates_average_to_the_full_network(key):
    # keep_prob = 1/K: (1/K) sum_l f_{M^l} = f exactly, since the masks partition the nodes.
    k_p, k_x, k_m = jax.random.split(key, 3)
    params = jaxntk.init_params(k_p, 6, 101, 3)
    x = unit_rows(k_x, 20, 6)
    num_subnets = 4
    m = masks.categorical(k_m, num_subnets, 101)
    outs = jax.vmap(lambda s: jaxntk.apply(params, x, node_scale=s))(m * num_subnets)
    np.testing.assert_allclose(outs.mean(axis=0), jaxntk.apply(params, x), rtol=1e-12, atol=1e-14)


def test_inverted_dropout_is_unbiased_with_the_stated_variance(key):
    # E_M[f_M] = f and Var f_M = ((1 - xi)/xi) * out_scale^2 * sum_j relu(w_j.x)^2 (§5 check 2).
    keep_prob, draws = 0.4, 20000
    k_p, k_x, k_m = jax.random.split(key, 3)
    params = jaxntk.init_params(k_p, 5, 300)
    x = unit_rows(k_x, 1, 5)
    m = masks.bernoulli(k_m, draws, 300, keep_prob)
    outs = jax.vmap(lambda s: jaxntk.apply(params, x, node_scale=s)[0, 0])(m / keep_prob)
    hidden = jax.nn.relu(params["w"] @ x[0])
    var = (1 - keep_prob) / keep_prob * params["out_scale"] ** 2 * jnp.sum(hidden**2)
    full = jaxntk.apply(params, x)[0, 0]
    assert abs(float(outs.mean() - full)) < 5 * math.sqrt(float(var) / draws)
    # sample variance of 20000 draws: relative standard error ~ sqrt(2/N) (kurtosis aside) = 1%.
    assert float(outs.var()) == pytest.approx(float(var), rel=0.05)


def test_aggregate_averages_holders_and_applies_the_unsampled_rule():
    w = jnp.arange(8.0).reshape(4, 2) + 1.0
    w_sub = jnp.stack([w + 10.0, w + 20.0])
    m = jnp.array([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]])
    kept = masks.aggregate(w, w_sub, m, unsampled="keep")
    np.testing.assert_allclose(kept[0], w[0] + 15.0)  # both held it: the mean
    np.testing.assert_allclose(kept[1], w[1] + 10.0)
    np.testing.assert_allclose(kept[2], w[2] + 20.0)
    np.testing.assert_array_equal(kept[3], w[3])  # nobody held it: unchanged, bit for bit
    zeroed = masks.aggregate(w, w_sub, m, unsampled="zero")
    np.testing.assert_array_equal(zeroed[:3], kept[:3])
    np.testing.assert_array_equal(zeroed[3], jnp.zeros(2))


def test_sample_dispatch_and_determinism(key):
    np.testing.assert_array_equal(
        masks.sample(key, "bernoulli", 3, 50, 0.3), masks.bernoulli(key, 3, 50, 0.3)
    )
    np.testing.assert_array_equal(
        masks.sample(key, "categorical", 3, 50), masks.categorical(key, 3, 50)
    )
    assert not np.array_equal(
        masks.bernoulli(key, 3, 50, 0.5), masks.bernoulli(jax.random.key(1), 3, 50, 0.5)
    )


@pytest.mark.parametrize("mask", ["bernoulli", "categorical"])
def test_training_uses_the_public_sampler(key, mask):
    # Round r of train_masked(key, ...) draws masks.sample(fold_in(key, r), ...), the public
    # masks.bernoulli / masks.categorical of the round key, bit for bit (float32 and float64).
    for dtype in (jnp.float32, jnp.float64):
        params = jaxntk.init_params(key, 3, 40, dtype=dtype)
        keep = 0.3 if mask == "bernoulli" else None
        cfg = jaxntk.MaskedConfig(4, keep, 1, 0.1, 3, mask=mask)
        drawn = jaxntk.round_masks(key, params, cfg)
        for r in range(3):
            round_key = jax.random.fold_in(key, r)
            if mask == "bernoulli":
                want = masks.bernoulli(round_key, 4, 40, 0.3, dtype=dtype)
            else:
                want = masks.categorical(round_key, 4, 40, dtype=dtype)
            np.testing.assert_array_equal(drawn[r], want)


def test_first_rows_do_not_depend_on_how_many_are_drawn(key):
    # What makes a sweep's padding of K exact: row l of a draw comes from fold_in(key, l).
    few = masks.bernoulli(key, 3, 200, 0.4)
    np.testing.assert_array_equal(masks.bernoulli(key, 7, 200, 0.4)[:3], few)
    padded = masks.bernoulli(key, jnp.asarray(3), 200, 0.4, rows=7)
    np.testing.assert_array_equal(padded[:3], few)
    np.testing.assert_array_equal(padded[3:], 0)
    cat = masks.categorical(key, jnp.asarray(3), 200, rows=7)
    np.testing.assert_array_equal(cat[:3], masks.categorical(key, 3, 200))
    np.testing.assert_array_equal(cat[3:], 0)


def test_average_of_summed_deltas_is_the_aggregate(key):
    # masks.aggregate is masks.average of the holders' summed deltas (one rule, two entry points).
    k_w, k_s, k_m = jax.random.split(key, 3)
    w = jax.random.normal(k_w, (30, 4))
    w_sub = jax.random.normal(k_s, (5, 30, 4))
    m = masks.bernoulli(k_m, 5, 30, 0.3)
    summed = np.einsum("kj,kjd->jd", np.asarray(m), np.asarray(w_sub) - np.asarray(w)[None])
    holders = np.asarray(m).sum(axis=0)
    for rule in ("keep", "zero"):
        fallback = np.asarray(w) if rule == "keep" else np.zeros_like(np.asarray(w))
        want = np.where(
            holders[:, None] > 0, np.asarray(w) + summed / np.maximum(holders, 1)[:, None], fallback
        )
        np.testing.assert_allclose(masks.aggregate(w, w_sub, m, unsampled=rule), want, rtol=1e-12)
        np.testing.assert_allclose(
            masks.average(w, jnp.asarray(summed), m, unsampled=rule), want, rtol=1e-12
        )
