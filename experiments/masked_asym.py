"""Beyond both papers: masked training (dropout, multi-sample dropout, IST) of asymmetrically
scaled networks. Do feature learning, prunability and the convergence plateau survive masking?

Papers: Liao & Kyrillidis (TMLR 2022) train with random masks; Caron et al. (arXiv 2302.01002)
scale node j by sqrt(lam_j). Neither combines them. Here a surrogate of a gamma-scaled network
has node scale sqrt(lam) * mask / xi (``jaxntk.train_masked(..., node_scale=sqrt(lam))``).

What it shows: on the simulated sphere data (the asymmetric paper's §3.3 setting, lr 1 on
mean-MSE, official "asym_code" parameterization), for gamma = 1 and gamma = 0.5 (alpha 0.7), four
schemes at an equal number of local steps: full GD, Bernoulli K = 1 (dropout with tau local
steps), Bernoulli K = 10 (multi-sample), both xi = 0.5 at lr * xi, and IST with K = 4 (a
partition; lr / K). Panels: the full-network training risk per round (the plateau), the final
top-node movement, and the test risk after pruning half of the nodes in ascending lam (no
retraining) relative to the unpruned risk.

Expected outcome (quick preset, measured; ``findings`` writes it from the numbers): masking keeps
the gamma < 1 network's feature learning (its top node moves 5-7 against 1.0-1.4 for gamma = 1)
and its prunability (test risk x1.07-1.12 against x1.35-1.46 with half the nodes pruned); at an
equal number of steps the gamma = 0.5 risk is higher than gamma = 1's under every scheme
(e.g. K = 1: 3.3e-2 vs 2.6e-2), because dropping one of the few large-lam nodes is a large
perturbation (mask noise ~ sum_j lam_j^2, not 1/m); K = 10 surrogates cut the K = 1 risk ~3x.

Commands:
    python -m experiments.masked_asym                  # quick, ~1.5 min
    python -m experiments.masked_asym --preset paper   # m = 2000, 5e4 local steps, 5 seeds
    python -m experiments.masked_asym --preset smoke   # seconds (tests)
Outputs in --outdir (default results/masked_asym/).
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

from . import _asym, _claims, _cli, _masked_data, asym_simulated


@dataclasses.dataclass(frozen=True)
class Config:
    protocol: str = "theory"  # beyond both papers: no official experiment to reproduce
    n: int = 100
    n_test: int = 100
    in_dim: int = 50
    width: int = 500
    lr: float = 1.0
    keep_prob: float = 0.5
    local_steps: int = 5
    num_rounds: int = 1000
    ist_subnets: int = 4
    num_seeds: int = 2
    seed: int = 0
    gammas: tuple = ((1.0, 0.0), (0.5, 0.7))


PRESETS = {
    "quick": Config(),
    "paper": Config(width=2000, num_rounds=10_000, num_seeds=5),
    "smoke": Config(n=20, n_test=20, width=64, num_rounds=40, num_seeds=2),
}


def methods(cfg: Config) -> dict[str, jaxntk.MaskedConfig]:
    """The schemes, all with ``local_steps`` steps per round and the same effective step size."""
    xi, tau, rounds = cfg.keep_prob, cfg.local_steps, cfg.num_rounds
    k = cfg.ist_subnets
    return {
        "full GD": presets.full_gd(tau, cfg.lr, rounds, loss="mean"),
        f"Bernoulli K=1, ξ={xi:g}": jaxntk.MaskedConfig(
            1, xi, tau, cfg.lr * xi, rounds, loss="mean"
        ),
        f"Bernoulli K=10, ξ={xi:g}": jaxntk.MaskedConfig(
            10, xi, tau, cfg.lr * xi, rounds, loss="mean"
        ),
        f"IST K={k}": presets.ist(k, tau, cfg.lr / k, rounds, loss="mean"),
    }


def run(cfg: Config, stages: _cli.Stages = _cli.IN_MEMORY) -> dict[str, np.ndarray]:
    """Arrays with leading (gamma configuration, method, seed) axes.

    The methods that share a mask kind are one ``jaxntk.sweep_masked`` program whose cells are
    (gamma, method), the node scale sqrt(lam) per cell: the Bernoulli ones (full GD is K = 1,
    xi = 1) in one, IST (categorical) in another; each a checkpointed stage (``stages.run``).
    """
    _cli.check_protocol(cfg, ("theory",))
    d = asym_simulated.data(cfg)
    _, keys = _cli.seed_keys(cfg)
    params0 = _asym.init_many(keys, cfg.in_dim, cfg.width, 1)
    half = jnp.asarray([0, cfg.width // 2])
    splits = {k: d[k] for k in ("x_train", "y_train", "x_test", "y_test")}  # outcomes' argument
    scales = [_asym.node_scale(cfg.width, gamma, alpha) for gamma, alpha in cfg.gammas]
    mcfgs = list(methods(cfg).values())

    def measure(p, w_t, scale, d):  # one trained network: its seed's init, its cell's w and scale
        pruned = jaxntk.prune_curve({**p, "w": w_t}, scale, d["x_train"], d["y_train"], half,
                                    x_test=d["x_test"], y_test=d["y_test"])  # fmt: skip
        return pruned.test_risk

    @jax.jit
    def outcomes(params0, w_t, scale, d):  # w_t (S, cells, width, d), scale (cells, width)
        movement = jnp.linalg.norm(w_t - params0["w"][:, None], axis=-1).max(axis=-1)
        per_cell = jax.vmap(measure, in_axes=(None, 0, 0, None))  # train_masked changes only w
        return movement, jax.vmap(per_cell, in_axes=(0, 0, None, None))(params0, w_t, scale, d)

    loss = np.zeros((len(cfg.gammas), len(mcfgs), cfg.num_seeds, cfg.num_rounds + 1))
    movement = np.zeros(loss.shape[:3])
    prune_risk = np.zeros((*loss.shape[:3], 2))
    groups = {}
    for m, mcfg in enumerate(mcfgs):
        groups.setdefault(mcfg.mask, []).append(m)
    for mask, members in tqdm(groups.items(), desc="mask kinds (each one sweep of γ × methods)"):
        cells = [(g, m) for g in range(len(cfg.gammas)) for m in members]

        def one_sweep(cells=cells, members=members):
            scale = jnp.stack([scales[g] for g, _ in cells])
            w_t, history = _masked_data.sweep_cells(
                keys, params0, d["x_train"], d["y_train"], [mcfgs[m] for _, m in cells],
                node_scale=scale,
            )  # fmt: skip
            moved, pruned = outcomes(params0, w_t, scale, splits)
            return {"loss": history.loss, "movement": moved, "prune": pruned}

        done = stages.run(f"sweep_{mask}", one_sweep)  # (seed, cell, ...)
        for c, (g, m) in enumerate(cells):
            loss[g, m] = done["loss"][:, c]
            movement[g, m] = done["movement"][:, c]
            prune_risk[g, m] = done["prune"][:, c]
    return {
        "loss": loss,  # (G, method, seed, rounds + 1), mean-MSE
        "movement": movement,  # (G, method, seed)
        "prune_test_risk": prune_risk,  # (G, method, seed, 2): 0 and width/2 pruned
    }


def plot(results: dict, cfg: Config):
    names = list(methods(cfg))
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.4))
    rounds = np.arange(cfg.num_rounds + 1)
    styles = ("-", "--")
    for g, (gamma, alpha) in enumerate(cfg.gammas):
        for i, name in enumerate(names):
            plotting.plot_band(
                axes[0],
                rounds,
                results["loss"][g, i],
                color=f"C{i}",
                linestyle=styles[g % 2],
                label=f"{name}, {_asym.label(gamma, alpha)}",
            )
    axes[0].set(
        yscale="log",
        xlabel=f"round ({cfg.local_steps} local steps each)",
        ylabel="training risk mean((f−y)²)",
        title="convergence (full network)",
    )
    axes[0].legend(fontsize=6, ncol=2)
    x = np.arange(len(names))
    width = 0.8 / len(cfg.gammas)
    ratio = results["prune_test_risk"][..., 1] / results["prune_test_risk"][..., 0]
    for g, (gamma, alpha) in enumerate(cfg.gammas):
        for ax, values in ((axes[1], results["movement"][g]), (axes[2], ratio[g])):
            ax.bar(
                x + g * width,
                values.mean(axis=-1),
                width,
                yerr=values.std(axis=-1),
                capsize=3,
                label=_asym.label(gamma, alpha),
                color=f"C{g}",
                alpha=0.8,
            )
    for ax in axes[1:]:
        ax.set_xticks(x + width * (len(cfg.gammas) - 1) / 2, names, rotation=15, fontsize=8)
        ax.legend(fontsize=8)
    axes[1].set(ylabel="max_j ‖w_j(T) − w_j(0)‖", title="feature learning: top-node movement")
    axes[2].set(
        ylabel="test risk after / before",
        yscale="log",
        title=f"prunability: {cfg.width // 2} of {cfg.width} nodes pruned",
    )
    fig.suptitle(
        f"Masked training of asymmetrically scaled networks: sphere data (n={cfg.n}, "
        f"d={cfg.in_dim}), width {cfg.width}, {cfg.num_rounds} rounds × {cfg.local_steps} local "
        f"steps; mean ± sd over {cfg.num_seeds} seeds"
    )
    fig.tight_layout()
    return fig


def _table(results: dict, cfg: Config):
    """Per (gamma, method): plateau (mean of the last 10% of rounds), movement, prune ratio."""
    window = max(1, cfg.num_rounds // 10)
    plateau = _cli.windowed_mean(results["loss"], window).mean(axis=-1)
    movement = results["movement"].mean(axis=-1)
    prune = (results["prune_test_risk"][..., 1] / results["prune_test_risk"][..., 0]).mean(-1)
    return plateau, movement, prune


def claims(results: dict, cfg: Config) -> list[_cli.Claim]:
    plateau, movement, prune = _table(results, cfg)
    i1, i5 = _asym.gamma_index(cfg.gammas, 1.0), _asym.gamma_index(cfg.gammas, 0.5)
    if i1 is None or i5 is None:
        return []
    masked = slice(1, None)  # every scheme but full GD
    ratio = float((movement[i5, masked] / movement[i1, masked]).min())
    prune_gain = float((prune[i1, masked] / prune[i5, masked]).min())
    names = list(methods(cfg))
    k10 = names.index(f"Bernoulli K=10, ξ={cfg.keep_prob:g}")
    plateau_ratio = float(plateau[i5, 1] / plateau[i5, k10])
    return _claims.table("beyond", [
        ("feature learning (γ < 1) survives masked training",
         f"smallest top-node movement ratio γ=0.5 / γ=1 over masked schemes = {ratio:.1f}",
         ratio, "ratio > 3"),
        ("prunability of γ < 1 survives masked training",
         "smallest (γ=1 risk ratio) / (γ=0.5 risk ratio) at 50% pruned over masked "
         f"schemes = {prune_gain:.1f}", prune_gain, "> 1"),
        ("more surrogates lower the plateau of a γ < 1 network too",
         f"plateau K=1 / K=10 at γ=0.5 = {plateau_ratio:.1f}", plateau_ratio, "> 1.5"),
    ])  # fmt: skip


def findings(results: dict, cfg: Config) -> str:
    """One paragraph for the report, written from the measured numbers."""
    plateau, movement, prune = _table(results, cfg)
    names = list(methods(cfg))
    i1, i5 = _asym.gamma_index(cfg.gammas, 1.0), _asym.gamma_index(cfg.gammas, 0.5)
    parts = []
    for i, name in enumerate(names):
        parts.append(
            f"{name}: plateau {plateau[i1, i]:.2e} (γ=1) vs {plateau[i5, i]:.2e} (γ=0.5), "
            f"top-node movement {movement[i1, i]:.2f} vs {movement[i5, i]:.2f}, test risk ×"
            f"{prune[i1, i]:.2f} vs ×{prune[i5, i]:.2f} after pruning half the nodes"
        )
    masked = range(1, len(names))
    move_ratio = min(movement[i5, i] / movement[i1, i] for i in masked)
    prune_better = all(prune[i5, i] < prune[i1, i] for i in masked)
    plateau_up = all(plateau[i5, i] > plateau[i1, i] for i in masked)
    best = min(masked, key=lambda i: plateau[i5, i])
    window = max(1, cfg.num_rounds // 10)
    return (
        f"Measured (risk = mean of the last {window} rounds): " + "; ".join(parts) + ". "
        f"Feature learning survives masking: under every masked scheme the γ = 0.5 top node "
        f"moves at least {move_ratio:.1f}× as far as γ = 1's. "
        + (
            "Prunability survives too: halving the γ = 0.5 network costs less test risk under "
            "every scheme. "
            if prune_better
            else "Prunability does not survive under every scheme (see the right panel). "
        )
        + (
            "The price is a higher risk at equal steps for γ = 0.5 under every masked scheme: "
            "dropping one of the few large-λ nodes perturbs the network far more than dropping "
            "one of m equal nodes (the mask noise scales with Σλ_j², not 1/m). "
            if plateau_up
            else "The γ = 0.5 risk is not uniformly higher than γ = 1's under masking. "
        )
        + f"Among the masked schemes, {names[best]} reaches the lowest γ = 0.5 risk."
    )


def summary(results: dict, cfg: Config) -> str:
    return findings(results, cfg)


SCRIPT = _cli.Script("masked_asym", PRESETS, run, plot, claims, __doc__.splitlines()[0], summary)


def main(argv=None) -> int:
    return _cli.main(SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())
