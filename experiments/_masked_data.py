"""Data and shared plumbing of the masked-neurons figure scripts (``experiments/masked_fig2*``).

Data (Liao & Kyrillidis 2022, §4): the paper trains on 2048-d ResNet50 features of the 10,000
CIFAR-10 test images with the fine-tuned head's 10 logits as targets, rows scaled to unit norm and
targets divided by max|y| (the official ``load_data``), the first n rows. ``load(cfg)`` reads that
file when ``cfg.features`` names one (``jaxntk.data.load("features", ..., preprocess="masked")``);
otherwise it draws the synthetic stand-in of the same shape, ``unit_norm_regression`` (unit-norm
rows, smooth targets with max|y| = 1). Every figure title says which (``describe``).

Scale: the scripts default to the theory's parameterization (``"ntk"``: w ~ N(0, I), output
1/sqrt(m)) and loss (1/2 sum (f - y)^2), where the stand-in's NTK has eigenvalues in ~[0.3, 1] and
the paper's learning rates (0.2 xi, 0.1) are stable steps. The official code's
``parameterization="code"`` with ``loss="half_mean"`` has an NTK m/C times larger and a loss 1/n
smaller: use both flags with a real feature file to reproduce the official code's step sizes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import jaxntk
from experiments import _cli
from jaxntk.data import unit_norm_regression


def describe(cfg) -> str:
    """What the figure titles say about the data."""
    if cfg.features:
        return f"ResNet50 CIFAR-10 features ({cfg.features}, first n={cfg.n} rows)"
    return f"synthetic unit-norm stand-in (n={cfg.n}, d={cfg.in_dim}, C={cfg.out_dim})"


def load(cfg):
    """``(x, y, description)``: float32 arrays (n, d) with unit rows and (n, C) with |y| <= 1.

    A feature file when ``cfg.features`` is a path, else the synthetic stand-in drawn from the
    data key of ``_cli.seed_keys(cfg)``.
    """
    if cfg.features:
        data = jaxntk.data.load("features", path=cfg.features, n=cfg.n, preprocess="masked")
        x, y = data.x_train, data.y_train
        return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32), describe(cfg)
    key_data, _ = _cli.seed_keys(cfg)
    x, y = unit_norm_regression(key_data, cfg.n, cfg.in_dim, cfg.out_dim, dtype=jnp.float32)
    return x, y, describe(cfg)


def init_many(cfg, x, y, width: int):
    """``(params, train_keys)``: one initialization and one training key per seed (leading axis).

    Initialized outside the jitted training so that each compiled program holds training only.
    """
    _, keys = _cli.seed_keys(cfg)
    init_keys, train_keys = jax.vmap(jax.random.split, out_axes=1)(keys)

    def init(k):
        return jaxntk.init_params(
            k,
            x.shape[1],
            width,
            y.shape[1],
            parameterization=cfg.parameterization,
            init_scale=getattr(cfg, "init_scale", 1.0),
            dtype=jnp.float32,
        )

    return jax.vmap(init)(init_keys), train_keys


def converged(loss, window: int) -> np.ndarray:
    """The documented "converged error": mean of the last ``window`` rounds (``windowed_mean``).

    A run that diverged (a NaN/inf anywhere in its window) gives NaN, never a small number.
    """
    loss = np.asarray(loss, np.float64)
    value = _cli.windowed_mean(loss, window)
    return np.where(np.isfinite(value), value, np.nan)
