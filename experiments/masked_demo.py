"""Masked-training demo: full GD, dropout-style Bernoulli surrogates, multi-sample surrogates, IST.

Paper: Liao & Kyrillidis, "On the Convergence of Shallow Neural Network Training with Randomly
Masked Neurons", TMLR 2022 (the setting of Fig. 2a, much smaller).

What it shows: the full-network loss per round of masked training with K surrogates trained for
tau local steps in parallel and averaged, on unit-norm synthetic data with max|y| = 1 (a stand-in
for the paper's ResNet50 CIFAR-10 features), mean +- sd over seeds (a vmap over keys).

Expected outcome (quick preset, measured: mean loss at round 40): full GD converges linearly to
the float32 floor (~1e-11); masked training converges linearly to a neighbourhood (a plateau) whose
size falls as K grows (Bernoulli K = 1: ~40, K = 10: ~5, from 825 at round 0); IST with K = 4 (each
surrogate a quarter of the neurons) plateaus near K = 10 (~7); the official code's rule of zeroing
neurons no surrogate held kills (1 - xi)^K of the survivors every round, so with K = 1 the network
is dead within ~10 rounds and its loss is 1/2 sum y^2. The right panel shows the within-round
surrogate losses: a jump when masks are sampled, descent during the local steps, a drop on merging.

Commands:
    python -m experiments.masked_demo                  # quick preset, ~10 s on 2 CPU cores
    python -m experiments.masked_demo --preset smoke   # a few seconds (used by the tests)
Outputs in --outdir (default results/masked_demo/): config.json, results.npz, figure.png/.pdf,
claims.json (empty). Checkpointed per method (``--resume``).
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
from tqdm.auto import tqdm

import jaxntk
from jaxntk import plotting, presets
from jaxntk.data import unit_norm_regression

from . import _cli


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 200
    in_dim: int = 128
    out_dim: int = 10
    width: int = 500
    keep_prob: float = 0.5
    local_steps: int = 5
    lr: float = 0.6  # full GD's; the masked schemes use lr * keep_prob (see methods)
    num_rounds: int = 40
    num_seeds: int = 3
    seed: int = 0


PRESETS = {
    "quick": Config(),
    "smoke": Config(n=32, in_dim=16, out_dim=3, width=64, num_rounds=5, num_seeds=2),
}


def methods(cfg: Config) -> dict[str, jaxntk.MaskedConfig]:
    """The compared training schemes, at equal rounds and local steps.

    The learning rate is ``cfg.lr * keep_prob`` (keep_prob = 1/K for IST): a surrogate's NTK is
    the full network's divided by keep_prob, so this keeps the effective step size equal across
    schemes, as the paper's Fig. 2a does with lr = 0.2 xi.
    """
    xi, tau, rounds = cfg.keep_prob, cfg.local_steps, cfg.num_rounds
    return {
        "full GD": presets.full_gd(tau, cfg.lr, rounds),
        f"Bernoulli K=1, ξ={xi}": jaxntk.MaskedConfig(1, xi, tau, cfg.lr * xi, rounds),
        f"Bernoulli K=10, ξ={xi}": jaxntk.MaskedConfig(10, xi, tau, cfg.lr * xi, rounds),
        "IST K=4 (categorical)": presets.ist(4, tau, cfg.lr / 4, rounds),
        "Bernoulli K=1, official zeroing": jaxntk.MaskedConfig(
            1, xi, tau, cfg.lr * xi, rounds, unsampled="zero"
        ),
    }


def run(cfg: Config, stages: _cli.Stages = _cli.IN_MEMORY) -> dict[str, np.ndarray]:
    """Train every method for every seed; arrays have a leading (method, seed) pair of axes."""
    key_data, key_runs = jax.random.split(jax.random.key(cfg.seed))
    x, y = unit_norm_regression(key_data, cfg.n, cfg.in_dim, cfg.out_dim, dtype=jnp.float32)
    keys = jax.vmap(jax.random.split)(jax.random.split(key_runs, cfg.num_seeds))  # (seed, 2)
    params = jax.vmap(
        lambda k: jaxntk.init_params(k, cfg.in_dim, cfg.width, cfg.out_dim, dtype=jnp.float32)
    )(keys[:, 0])

    out = {"loss": [], "local_loss": [], "dead_fraction": []}
    for i, masked_cfg in enumerate(tqdm(methods(cfg).values(), desc="methods", leave=False)):

        def one_method(masked_cfg=masked_cfg):  # the seeds of one method: a one-cell sweep
            history = jaxntk.sweep_masked(keys[:, 1], params, x, y, masked_cfg)[1]
            return {name: getattr(history, name)[:, 0] for name in out}

        history = stages.run(f"method_{i}", one_method)  # one checkpointed stage per method
        for name in out:
            out[name].append(history[name])
    return {name: np.stack(values) for name, values in out.items()}


def plot(results: dict, cfg: Config):
    names = list(methods(cfg))
    fig, (ax_loss, ax_local) = plt.subplots(1, 2, figsize=(11, 4))
    rounds = np.arange(cfg.num_rounds + 1)
    for name, losses in zip(names, results["loss"]):
        plotting.plot_band(ax_loss, rounds, losses, label=name)
    ax_loss.set(yscale="log", xlabel="round (global iteration)", ylabel="training loss ½Σ(f−y)²")
    ax_loss.set_title(f"full-network loss, mean ± sd over {cfg.num_seeds} seeds")
    ax_loss.legend(fontsize=8)

    shown = names.index(f"Bernoulli K=10, ξ={cfg.keep_prob}")
    plotting.plot_local_curves(
        ax_local,
        results["local_loss"][shown, 0],
        results["loss"][shown, 0],
        color="C2",
        label="full network after each round",
    )
    ax_local.set(yscale="log", xlabel="round (local steps in between)", ylabel="loss ½Σ(f−y)²")
    ax_local.set_title(f"{names[shown]}, τ={cfg.local_steps}: surrogates (thin) vs full net")
    ax_local.legend(fontsize=8)
    fig.suptitle(
        f"Masked training, synthetic unit-norm data (n={cfg.n}, d={cfg.in_dim}, C={cfg.out_dim}),"
        f" width {cfg.width}, lr {cfg.lr}·ξ"
    )
    fig.tight_layout()
    return fig


def report(results: dict, cfg: Config) -> str:
    """The loss per round (mean over seeds) of every method, as a text table."""
    names = list(methods(cfg))
    header = "round | " + " | ".join(names)
    lines = [header, "-" * len(header)]
    mean = results["loss"].mean(axis=1)  # (method, round)
    for r in range(cfg.num_rounds + 1):
        lines.append(
            f"{r:5d} | " + " | ".join(f"{v:.4g}".rjust(len(n)) for v, n in zip(mean[:, r], names))
        )
    dead = results["dead_fraction"][:, :, -1].mean(axis=1)
    lines.append(
        "dead neurons after the last round: "
        + ", ".join(f"{n}: {d:.1%}" for n, d in zip(names, dead))
    )
    return "\n".join(lines)


SCRIPT = _cli.Script("masked_demo", PRESETS, run, plot, doc=__doc__.splitlines()[0], summary=report)


def main(argv=None) -> int:
    return _cli.main(SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())
