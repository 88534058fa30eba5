"""jaxntk: shallow ReLU networks, randomly masked neurons and asymmetrical node scaling in JAX.

The model (both papers): f(x) = out_scale * sum_j s_j a_j relu(w_j . x), see ``jaxntk.model``.
Importing jaxntk never changes ``jax.config`` and never imports neural-tangents.

One concept per module:

==============  ===========================================================================
model           the network: init_params, apply and its pieces (pre-activations, readout)
masks           mask sampling (the one sampler) and the per-neuron aggregation
steps           the local-step loop (optax under lax.scan) every trainer runs
rounds          one masked round, four exact paths (plain, compact, gram, gram_compact)
train, sweep    train_masked (rounds under lax.scan) and grids of it as one program
gd, gd_sweep    train_gd: full-batch GD with in-scan NTG diagnostics; sweep_gd: R runs of it
fullbatch       the full-batch loss of W that gd descends, its gradient written out
metrics         risk, accuracy, node movement, NTG spectrum and change, node importance
losses, ntk     the squared-loss conventions; empirical / closed-form NTKs (neural-tangents)
scaling         node scales lam for asymmetrical scaling
prune, transfer pruning curves and transfer heads
runner          chunked runs with atomic checkpoints and resume (checkpoint, divergence)
layout          the mesh axes "runs" and "surrogates": how a sweep is split over devices
distributed     several processes as one program: same inputs checked, process 0 does the I/O
watchdog        the stall watchdog of command-line runs: heartbeats, every stack, exit 3
data            data loaders (the ``data`` extra); ``jaxntk.experiments``: the figure scripts
==============  ===========================================================================
"""

from jaxntk import (
    checkpoint,
    distributed,
    divergence,
    fullbatch,
    gd,
    gd_sweep,
    layout,
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
    watchdog,
)
from jaxntk.checkpoint import CheckpointError
from jaxntk.divergence import DivergenceError
from jaxntk.gd import GDConfig, GDHistory, train_gd
from jaxntk.gd_sweep import sweep_gd
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
    "distributed",
    "divergence",
    "fullbatch",
    "gd",
    "gd_sweep",
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
    "layout",
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
    "sweep_gd",
    "sweep_masked",
    "train_masked",
    "watchdog",
]
