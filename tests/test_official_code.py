"""train_masked(parameterization="code", unsampled="zero", loss="half_mean") is the official
MaskedNTK-TMLR algorithm (resnet_cifar_experiments.IST at eba19116), checked against an
independent NumPy replica of it written from the code's description (masked_neurons.md §1-2,
anchors/speed.md "Reference semantics"): a Python loop over surrogates, each a gather of its kept
columns of the d x m matrix W, trained by hand-derived full-batch gradients, then the code's
aggregation W[:, j] = (1/N_j) sum_l W_l[:, j] with W[:, j] = 0 where N_j = 0.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxntk

from helpers import unit_rows


def official_ist(W, a, X, Y, round_masks, keep_prob, lr, local_steps):
    """NumPy replica; W is (d, m) as in the official code. Returns (error_hist, error_local, W)."""
    n, num_outputs = Y.shape
    full_scale = 1.0 / np.sqrt(num_outputs)
    sub_scale = full_scale / keep_prob  # SubMLP(..., scaling_factor / prob)

    def mse_loss(pred):
        return 0.5 * np.sum((pred - Y) ** 2) / n

    def forward(W_, a_, scale):
        return scale * np.maximum(X @ W_, 0.0) @ a_

    error_hist, error_local = [mse_loss(forward(W, a, full_scale))], []
    for masks in round_masks:
        local = np.zeros(local_steps)
        subnets = []
        for mask in masks:
            kept = np.flatnonzero(mask)
            W_sub, a_sub = W[:, kept].copy(), a[kept]
            for step in range(local_steps):
                Z = X @ W_sub
                residual = forward(W_sub, a_sub, sub_scale) - Y
                local[step] += mse_loss(forward(W_sub, a_sub, sub_scale)) / len(masks)
                grad = X.T @ ((residual @ a_sub.T) * (Z > 0)) * sub_scale / n
                W_sub = W_sub - lr * grad
            subnets.append((kept, W_sub))
        counts = masks.sum(axis=0)
        W = np.zeros_like(W)
        for kept, W_sub in subnets:
            W[:, kept] += W_sub
        with np.errstate(divide="ignore"):
            W = W * np.where(counts > 0, 1.0 / counts, 0.0)  # global_stepsize: 0 where unsampled
        error_hist.append(mse_loss(forward(W, a, full_scale)))
        error_local.append(local)
    return np.array(error_hist), np.array(error_local), W


@pytest.mark.parametrize(("dtype", "rtol"), [(jnp.float64, 1e-10), (jnp.float32, 1e-5)])
@pytest.mark.parametrize(
    ("mask", "num_subnets", "keep_prob", "local_steps"),
    [
        ("bernoulli", 1, 0.5, 3),
        ("bernoulli", 3, 0.5, 4),
        ("bernoulli", 10, 0.3, 2),
        ("categorical", 4, None, 3),
    ],
)
def test_matches_official_algorithm(key, dtype, rtol, mask, num_subnets, keep_prob, local_steps):
    k_p, k_x, k_y, k_t = jax.random.split(key, 4)
    n, d, width, out_dim, rounds, lr = 32, 48, 64, 10, 6, 0.5
    x = unit_rows(k_x, n, d, dtype)
    logits = jax.random.normal(k_y, (n, out_dim), dtype)
    y = logits / jnp.max(jnp.abs(logits))  # load_data: Y / max|Y|
    params = jaxntk.init_params(k_p, d, width, out_dim, parameterization="code", dtype=dtype)
    cfg = jaxntk.MaskedConfig(
        num_subnets,
        keep_prob,
        local_steps,
        lr,
        rounds,
        mask=mask,
        unsampled="zero",
        loss="half_mean",
    )
    trained, hist = jaxntk.train_masked(k_t, params, x, y, cfg)

    all_masks = np.asarray(jaxntk.round_masks(k_t, params, cfg))
    hist_ref, local_ref, W_ref = official_ist(
        np.asarray(params["w"], np.float64).T,
        np.asarray(params["a"], np.float64),
        np.asarray(x, np.float64),
        np.asarray(y, np.float64),
        all_masks,
        cfg.surrogate_keep_prob,
        lr,
        local_steps,
    )
    np.testing.assert_allclose(hist.loss, hist_ref, rtol=rtol)
    np.testing.assert_allclose(hist.local_loss, local_ref, rtol=rtol)
    np.testing.assert_allclose(trained["w"].T, W_ref, rtol=rtol * 10, atol=rtol * 1e-2)
    dead_ref = np.mean(np.all(W_ref == 0, axis=0))
    assert float(hist.dead_fraction[-1]) == pytest.approx(dead_ref, abs=1e-12)
    if num_subnets == 1:
        assert dead_ref > 0.5  # K = 1, xi = 0.5: the code's zeroing has killed most neurons
