"""The named special cases of masked training (jaxntk.presets) are the configs and runs they say."""

import jax
import jax.numpy as jnp
import numpy as np

import jaxntk
from jaxntk import presets

from helpers import regression_data


def test_presets_set_the_fields_of_their_definitions():
    d = presets.dropout(0.6, 0.1, 5)
    assert (d.num_subnets, d.keep_prob, d.local_steps, d.mask) == (1, 0.6, 1, "bernoulli")
    m = presets.multi_sample_dropout(4, 0.6, 0.1, 5, unsampled="zero")
    assert (m.num_subnets, m.local_steps, m.unsampled) == (4, 1, "zero")
    ist = presets.ist(4, 3, 0.1, 5)
    assert (ist.mask, ist.local_steps, ist.surrogate_keep_prob) == ("categorical", 3, 0.25)
    full = presets.full_gd(3, 0.1, 5, loss="mean")
    assert (full.num_subnets, full.keep_prob, full.local_steps, full.loss) == (1, 1.0, 3, "mean")


def test_multi_sample_dropout_keeping_every_neuron_is_full_gd():
    # xi = 1: every surrogate is the full network, so the average of the K steps is one GD step.
    x, y = regression_data(jax.random.key(1), 12, 5, out_dim=2)
    params = jaxntk.init_params(jax.random.key(0), 5, 16, 2)
    key = jax.random.key(2)
    w_full, h_full = jaxntk.train_masked(key, params, x, y, presets.full_gd(1, 0.3, 4))
    w_msd, h_msd = jaxntk.train_masked(
        key, params, x, y, presets.multi_sample_dropout(3, 1.0, 0.3, 4)
    )
    np.testing.assert_allclose(w_msd["w"], w_full["w"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_msd.loss, h_full.loss, rtol=1e-12)
    assert float(h_full.loss[-1]) < float(h_full.loss[0])


def test_dropout_is_one_gradient_step_on_the_rescaled_surrogate():
    x, y = regression_data(jax.random.key(3), 10, 4)
    params = jaxntk.init_params(jax.random.key(4), 4, 12)
    key, cfg = jax.random.key(5), presets.dropout(0.5, 0.2, 1)
    mask = jaxntk.round_masks(key, params, cfg)[0, 0]  # round 0, the one surrogate

    def loss(w):
        pred = jaxntk.apply({**params, "w": w}, x, node_scale=mask / 0.5)
        return jaxntk.losses.half_sum(pred, y)

    stepped = params["w"] - 0.2 * jax.grad(loss)(params["w"])
    # a neuron the mask dropped has no gradient and is kept ("keep" aggregation)
    trained, _ = jaxntk.train_masked(key, params, x, y, cfg)
    np.testing.assert_allclose(trained["w"], stepped, rtol=1e-12, atol=1e-14)
    assert 0 < int(jnp.sum(mask)) < 12
