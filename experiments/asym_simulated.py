"""Asymmetrical node scaling on the simulated sphere data: training, feature learning, the NTG.

Paper: Caron, Ayed, Jung, Lee, Lee, Yang, "Over-parameterised shallow neural networks with
asymmetrical node scaling" (arXiv 2302.01002), the simulated-data figure (official
``simulations/``; spec §3.3).

What it shows: full-batch GD (lr 1, mean-MSE) of a width-m network whose node j is scaled by
sqrt(lam_j), lam_j = gamma/m + (1 - gamma) Zipf_j(alpha), for the paper's four configurations
(gamma, alpha) = (1, -), (0.5, 0.7), (0.2, 0.5), (0, 0.4): training and test risk, the movement
of the node that moved most, ||Theta_t - Theta_0||_2 (the norm itself; the official notebooks plot
its square root under this label) and lambda_min(Theta_t) with the theory's lower bound
gamma * lambda_min(H_inf) drawn as a dashed line per gamma (H_inf: the infinite-width kernel).
Data: x uniform on S^49, y = mean_k 5 sin(pi x_k) + 0.1 eps, 100 train / 100 test points.

Expected outcome (quick preset, measured): every gamma > 0 fits the training data; the top node
moves ~0.8 at gamma = 1 and ~6 / ~9 / ~13 at gamma = 0.5 / 0.2 / 0 (paper at 5e4 steps, m = 2000:
0.9 / 7 / 11 / 24); the NTG changes ~10x more at gamma = 0.5 than at gamma = 1; lambda_min stays
above gamma * lambda_min(H_inf) and is nearly constant in t.

Commands:
    python -m experiments.asym_simulated                   # quick: m = 1000, 1e4 steps, ~1 min
    python -m experiments.asym_simulated --preset paper    # m = 2000, 5e4 steps, 5 seeds
    python -m experiments.asym_simulated --preset smoke    # seconds (tests)
Outputs in --outdir (default results/asym_simulated/): config.json, results.npz, figure.png/.pdf,
claims.json.
"""

from __future__ import annotations

import dataclasses
import sys

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxntk  # noqa: E402
from experiments import _asym, _cli  # noqa: E402
from jaxntk import ntk, plotting, scaling  # noqa: E402
from jaxntk.data import sphere_sin  # noqa: E402


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 100
    n_test: int = 100
    in_dim: int = 50
    width: int = 1000
    lr: float = 1.0
    num_steps: int = 10_000
    log_every: int = 500
    num_seeds: int = 3
    seed: int = 0
    gammas: tuple = _asym.PAPER_GAMMAS
    # Also train gamma = 0.5, alpha = 0.7 with the official code's off-by-one Zipf (the pmf at
    # k - 1: node 0 gets lam = 0 and every other node its predecessor's lam), for comparison.
    official_zipf: bool = True


PRESETS = {
    "quick": Config(),
    "paper": Config(width=2000, num_steps=50_000, log_every=1000, num_seeds=5),
    "smoke": Config(
        n=20,
        n_test=20,
        width=64,
        num_steps=200,
        log_every=50,
        num_seeds=2,
        gammas=_asym.PAPER_GAMMAS[:2],
    ),
}


def data(cfg: Config) -> dict:
    key_data, _ = _cli.seed_keys(cfg)
    x, y = sphere_sin(key_data, cfg.n + cfg.n_test, cfg.in_dim, dtype=jnp.float32)
    return {
        "x_train": x[: cfg.n],
        "y_train": y[: cfg.n],
        "x_test": x[cfg.n :],
        "y_test": y[cfg.n :],
    }


def run(cfg: Config) -> dict[str, np.ndarray]:
    """Arrays with leading (gamma configuration, seed) axes; see ``_asym.train_configs``."""
    d = data(cfg)
    _, keys = _cli.seed_keys(cfg)
    gd_cfg = jaxntk.GDConfig(
        cfg.lr, cfg.num_steps, cfg.log_every, loss="mean", ntk_points=None
    )  # the official simulated run takes the NTG on all training points
    _, scales, history = _asym.train_configs(keys, d, cfg.width, cfg.gammas, gd_cfg)
    h_inf = ntk.infinite_width_relu(d["x_train"], parameterization="asym_code")
    extra = {}
    if cfg.official_zipf:
        lam = scaling.node_scales(None, cfg.width, gamma=0.5, kind="zipf_code", alpha=0.7)
        _, _, code = _asym.train_configs(keys, d, cfg.width, [(0.5, 0.7)], gd_cfg,
                                         scales=[jnp.sqrt(lam.astype(jnp.float32))])  # fmt: skip
        extra = {f"official_zipf_{k}": v[0] for k, v in code.items()}
    return {
        **history,
        **extra,
        "lam": np.asarray(scales) ** 2,
        "h_inf_min_eig": np.asarray(ntk.min_eig(h_inf)),
    }


def plot(results: dict, cfg: Config):
    fig, axes = plt.subplots(1, 6, figsize=(26, 4.2))
    _asym.training_panels(axes[:5], results, cfg.gammas)
    # The official notebooks plot sqrt(||Theta_t - Theta_0||_2) under the norm's label: shown
    # separately so the paper's numbers (0.03 / 0.10 / 0.18 / 0.22 at 5e4 steps) can be compared.
    steps = results["step"][0, 0]
    for g, (gamma, alpha) in enumerate(cfg.gammas):
        plotting.plot_band(
            axes[5],
            steps,
            np.sqrt(results["ntk_change"][g]),
            color=f"C{g}",
            label=_asym.label(gamma, alpha),
        )
    axes[5].set(
        title="as the official figure plots it",
        xlabel="GD step",
        ylabel="√‖Θ_t − Θ_0‖₂ (official 'ntkdiff')",
    )
    for g, (gamma, _) in enumerate(cfg.gammas):
        if gamma > 0:
            bound = gamma * float(results["h_inf_min_eig"])
            axes[4].axhline(bound, color=f"C{g}", linestyle="--", linewidth=1)
    axes[4].plot([], [], "k--", linewidth=1, label="bound γ·λ_min(H∞)")
    g = _asym.gamma_index(cfg.gammas, 0.5)
    if "official_zipf_step" in results and g is not None:  # the official Zipf, dotted
        movement = _asym.top_node_movement(results["official_zipf_node_movement"]).mean(axis=0)
        axes[2].plot(steps, movement, ":", color=f"C{g}", label="γ=0.5, official Zipf (node 0 off)")
        axes[1].plot(steps[1:], results["official_zipf_test_risk"][:, 1:].mean(axis=0), ":",
                     color=f"C{g}", label="γ=0.5, official Zipf (node 0 off)")  # fmt: skip
        axes[2].legend(fontsize=7)
    axes[4].legend(fontsize=7)
    fig.suptitle(
        f"Asymmetrical node scaling, simulated sphere data (n={cfg.n}, d={cfg.in_dim}), "
        f"width {cfg.width}, GD lr {cfg.lr} on mean-MSE; mean ± sd over {cfg.num_seeds} seeds"
    )
    fig.tight_layout()
    return fig


def lambda_min_claim(results: dict, cfg: Config) -> list[_cli.Claim]:
    """lambda_min(Theta_t) >= gamma * lambda_min(H_inf) at every logged t, every gamma > 0."""
    ratios = [
        float(results["ntk_min_eig"][g].min() / (gamma * results["h_inf_min_eig"]))
        for g, (gamma, _) in enumerate(cfg.gammas)
        if gamma > 0
    ]
    worst = min(ratios)
    return [
        _cli.Claim(
            "asymmetric",
            "λ_min(Θ_t) ≥ γ·λ_min(H∞) throughout training (simulated)",
            f"smallest λ_min(Θ_t) / (γ λ_min(H∞)) over γ > 0, seeds, t = {worst:.2f}",
            worst,
            worst >= 0.9,
            "≥ 0.9 (finite-width slack 10%)",
        )
    ]


def claims(results: dict, cfg: Config) -> list[_cli.Claim]:
    movement = _asym.top_node_movement(results["node_movement"])[..., -1]  # (G, R)
    return [
        *_asym.convergence_claim(results["train_risk"], cfg.gammas, "simulated"),
        *_asym.feature_learning_claim(movement, cfg.gammas, "simulated"),
        *lambda_min_claim(results, cfg),
    ]


def summary(results: dict, cfg: Config) -> str:
    movement = _asym.top_node_movement(results["node_movement"])[..., -1].mean(axis=1)
    lines = ["config | train risk | test risk | top-node movement | ‖ΔΘ‖₂ | λ_min(Θ_T)"]
    for g, (gamma, alpha) in enumerate(cfg.gammas):
        lines.append(
            f"{_asym.label(gamma, alpha)} | {results['train_risk'][g, :, -1].mean():.4g} | "
            f"{results['test_risk'][g, :, -1].mean():.4g} | {movement[g]:.3g} | "
            f"{results['ntk_change'][g, :, -1].mean():.3g} | "
            f"{results['ntk_min_eig'][g, :, -1].mean():.3g}"
        )
    if "official_zipf_step" in results:
        movement = _asym.top_node_movement(results["official_zipf_node_movement"])[..., -1]
        lines.append(
            f"γ=0.5, α=0.7, official Zipf (node 0 off) | "
            f"{results['official_zipf_train_risk'][:, -1].mean():.4g} | "
            f"{results['official_zipf_test_risk'][:, -1].mean():.4g} | {movement.mean():.3g} | "
            f"{results['official_zipf_ntk_change'][:, -1].mean():.3g} | "
            f"{results['official_zipf_ntk_min_eig'][:, -1].mean():.3g}"
        )
    return "\n".join(lines)


SCRIPT = _cli.Script("asym_simulated", PRESETS, run, plot, claims, __doc__.splitlines()[0], summary)


def main(argv=None) -> int:
    return _cli.main(SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())
