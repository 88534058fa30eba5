"""jaxntk.divergence: the stop on a diverging run, its message, and the stable-lr bound."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_reliability import problem

import jaxntk
from jaxntk import divergence

from helpers import regression_data


def test_divergent_lr_stops_with_the_documented_message_and_keeps_the_history():
    params, x, y = problem(dtype=jnp.float64)
    cfg = jaxntk.GDConfig(lr=500.0, num_steps=50, log_every=10, ntk_points=8)
    with pytest.raises(jaxntk.DivergenceError) as info:
        jaxntk.train_gd(params, x, y, cfg)
    err = info.value
    assert err.lr == 500.0 and err.step == 10
    assert err.stable_lr == pytest.approx(divergence.stable_lr(params, x), rel=1e-12)
    message = str(err)
    assert "train_gd diverged at step 10: training risk" in message
    assert "with lr=500" in message and f"try lr < {err.stable_lr:.3g}" in message
    assert err.history.train_risk.shape == (2,) and np.isfinite(err.history.train_risk[0])

    masked = jaxntk.MaskedConfig(1, 1.0, 3, 50.0, 6)
    with pytest.raises(jaxntk.DivergenceError, match=r"train_masked diverged at round \d: loss"):
        jaxntk.train_masked(jax.random.key(0), params, x, y, masked)
    # no check under vmap (a compiled function cannot raise on values); it still runs
    keys = jax.random.split(jax.random.key(0), 2)
    losses = jax.vmap(lambda k: jaxntk.train_masked(k, params, x, y, masked)[1].loss)(keys)
    assert losses.shape == (2, 7)
    # and it can be turned off
    jaxntk.train_masked(jax.random.key(0), params, x, y, masked, divergence_factor=None)


@pytest.mark.parametrize("loss", ["half_sum", "half_mean", "mean"])
def test_stable_lr_is_two_over_the_top_curvature_of_the_linearised_loss(loss):
    """2/(c lambda_max(Theta)) = 2/lambda_max(Hessian in w of L(f_0 + J (w - w_0)))."""
    params, x, y = problem(width=16, dtype=jnp.float64)
    w0 = params["w"]

    def f(w):
        return jaxntk.apply({**params, "w": w}, x)

    jac = jax.jacobian(f)(w0).reshape(-1, w0.size)  # (n C, width d)
    loss_fn = jaxntk.losses.get(loss)

    def linearised(v):
        return loss_fn(f(w0) + (jac @ (v - w0.ravel())).reshape(y.shape), y)

    hessian = jax.hessian(linearised)(w0.ravel())
    expected = 2.0 / np.linalg.eigvalsh(np.asarray(hessian))[-1]
    assert divergence.stable_lr(params, x, loss=loss) == pytest.approx(expected, rel=1e-8)


def test_gd_below_the_bound_converges_and_above_it_grows():
    """Wide network (NTK regime): below the bound the risk falls at every log.

    Between 2/lambda and a few times that a finite network can spike and come back (catapult,
    measured here: up to 2.5x the bound converges, 5x diverges), so far above the bound is
    where the divergence check must fire.
    """
    x, y = regression_data(jax.random.key(1), 8, 4)
    params = jaxntk.init_params(jax.random.key(0), 4, 4096, 1)
    bound = divergence.stable_lr(params, x)

    def risk(factor, **kw):
        cfg = jaxntk.GDConfig(lr=factor * bound, num_steps=100, log_every=10, ntk_points=8)
        return np.asarray(jaxntk.train_gd(params, x, y, cfg, **kw)[1].train_risk)

    below = risk(0.9)
    assert np.all(np.diff(below) < 0) and below[-1] < 1e-8 * below[0]
    with pytest.raises(jaxntk.DivergenceError, match="try lr < "):
        risk(5.0)
