"""jaxntk: shallow ReLU networks, randomly masked neurons and asymmetrical node scaling in JAX.

The model (both papers): f(x) = out_scale * sum_j s_j a_j relu(w_j . x), see ``jaxntk.model``.
Importing jaxntk never changes ``jax.config`` and never imports neural-tangents.
"""

from jaxntk import (
    checkpoint,
    divergence,
    gd,
    losses,
    masks,
    metrics,
    model,
    ntk,
    presets,
    prune,
    rounds,
    runner,
    scaling,
    steps,
    transfer,
)
from jaxntk.checkpoint import CheckpointError
from jaxntk.divergence import DivergenceError
from jaxntk.gd import GDConfig, GDHistory, train_gd
from jaxntk.model import ShallowReLU, apply, init_params
from jaxntk.prune import PruneCurve, prune_curve
from jaxntk.sweep import sweep_masked
from jaxntk.train import MaskedConfig, MaskedHistory, round_masks, train_masked
from jaxntk.transfer import HeadConfig, TransferCurve, transfer_curve

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "DivergenceError",
    "checkpoint",
    "divergence",
    "gd",
    "GDConfig",
    "GDHistory",
    "HeadConfig",
    "PruneCurve",
    "TransferCurve",
    "prune_curve",
    "scaling",
    "train_gd",
    "transfer",
    "transfer_curve",
    "MaskedConfig",
    "MaskedHistory",
    "ShallowReLU",
    "apply",
    "init_params",
    "losses",
    "masks",
    "metrics",
    "model",
    "ntk",
    "prune",
    "runner",
    "steps",
    "presets",
    "round_masks",
    "rounds",
    "sweep_masked",
    "train_masked",
]
