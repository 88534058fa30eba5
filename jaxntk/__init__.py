"""jaxntk: shallow ReLU networks, randomly masked neurons and asymmetrical node scaling in JAX.

The model (both papers): f(x) = out_scale * sum_j s_j a_j relu(w_j . x), see ``jaxntk.model``.
Importing jaxntk never changes ``jax.config`` and never imports neural-tangents.
"""

from jaxntk import losses, masks, ntk, presets
from jaxntk.model import ShallowReLU, apply, init_params
from jaxntk.train import MaskedConfig, MaskedHistory, round_masks, train_masked

__version__ = "0.1.0"

__all__ = [
    "MaskedConfig",
    "MaskedHistory",
    "ShallowReLU",
    "apply",
    "init_params",
    "losses",
    "masks",
    "ntk",
    "presets",
    "round_masks",
    "train_masked",
]
