"""Asymmetrical node scaling on the simulated sphere data: training, feature learning, the NTG.

Paper: Caron, Ayed, Jung, Lee, Lee, Yang, "Over-parameterised shallow neural networks with
asymmetrical node scaling" (arXiv 2302.01002), the simulated-data figure (official
``simulations/``; spec §3.3).

What it shows: full-batch GD (lr 1, mean-MSE) of a width-m network whose node j is scaled by
sqrt(lam_j), lam_j = gamma/m + (1 - gamma) Zipf_j(alpha), for the paper's four configurations
(gamma, alpha) = (1, -), (0.5, 0.7), (0.2, 0.5), (0, 0.4): training and test risk, the movement
of the node that moved most, ||Theta_t - Theta_0||_2 and its square root (what the official
notebooks plot under the norm's label) and lambda_min(Theta_t) with the theory's lower bound
gamma * lambda_min(H_inf) drawn as a dashed line per gamma (H_inf: the infinite-width kernel).
Data: x uniform on S^49, y = mean_k 5 sin(pi x_k) + 0.1 eps, 100 train / 100 test points.
The official figures' curves (``figures/simulated/*.pdf``, digitized exactly:
``experiments._official_curves``) are drawn in black beside ours, and each official figure is a
claim compared along the trajectory (``_asym.official_claims``: the share of the official steps
where ours lies in the official ±1 sd band, and ours / official at the last step within [0.5,
2] for every gamma).

``--protocol official`` (default) runs what the official code ran: the off-by-one Zipf of
``scipy.stats.zipfian.pmf(np.arange(m))`` for gamma < 1, lr 1 on mean-MSE, 5e4 steps at the paper
preset, 5 seeds; the paper's 1-based Zipf (``--protocol theory``) is trained beside it for
gamma = 0.5 only (dashed, ``companion``). ``--protocol theory`` swaps the two.

Expected outcome (paper preset, measured 2026-12-03: 9.4 min on a 2-core CPU shared with other
jobs, load ~2-4): every gamma > 0 fits the training data (final/initial risk <= 9e-4); the top
node moves 0.92 / 7.8 / 11.8 / 24.3 at gamma = 1 / 0.5 / 0.2 / 0, sqrt ||Theta_t - Theta_0||_2
is 0.031 / 0.106 / 0.178 / 0.219, lambda_min 0.0037 / 0.0031 / 0.0015 / 0.00015, nearly constant
in t and above gamma * lambda_min(H_inf): each within 0.69-1.11x of the official curve at 5e4
steps; test risk 0.029 / 0.030 / 0.031 / 0.040, 0.72-0.85x the official (the same order; the
data are another draw). Training risk 9.6e-7 / 3.1e-6 / 1.3e-4 / 0.011: 0.77-0.96x the official
for gamma > 0, but 3.5x at gamma = 0 (official 0.0031), the one official-curve claim that fails.
That is seed spread, not a different dynamic: at gamma = 0 the final training risk is heavy-tailed
over seeds (20 seeds at the paper preset, ``--gammas 0:0.4 --num_seeds 20``: 0.0008 to 0.035,
median 0.0028, mean 0.0075; the report's 5 are its first 5 and include a 0.035), so a 5-seed mean
ranges 0.0025-0.015 (5-95 %) and the official 0.0031 lies at its 13th percentile. The theory Zipf
at gamma = 0.5 moves its top node 8.4 (official law 7.8).

Commands:
    python -m experiments.asym_simulated                   # quick: m = 1000, 1e4 steps, ~1 min
    python -m experiments.asym_simulated --preset paper    # m = 2000, 5e4 steps, 5 seeds, ~10 min
    python -m experiments.asym_simulated --preset smoke    # seconds (tests)
Outputs in --outdir (default results/asym_simulated/): config.json, results.npz, figure.png/.pdf,
claims.json.
"""

from __future__ import annotations

import dataclasses
import sys

import jax.numpy as jnp
import numpy as np

import jaxntk
from jaxntk import ntk, plotting
from jaxntk.data import sphere_sin

from . import _asym, _claims, _cli


@dataclasses.dataclass(frozen=True)
class Config(_asym.RunConfig):
    n: int = 100
    n_test: int = 100
    in_dim: int = 50
    # Also train gamma = 0.5, alpha = 0.7 under the other protocol's Zipf (dashed): the two laws
    # differ in what the figure shows only through the top nodes, one gamma shows how much.
    companion: bool = True


QUICK = Config(log_every=500, num_seeds=3)
PRESETS = {
    "quick": QUICK,
    "paper": dataclasses.replace(QUICK, width=2000, num_steps=50_000, log_every=1000, num_seeds=5),
    "smoke": dataclasses.replace(
        QUICK,
        n=20,
        n_test=20,
        width=64,
        num_steps=200,
        log_every=50,
        num_seeds=2,
        gammas=_asym.PAPER_GAMMAS[:2],
    ),
}


# The companion curve's Zipf law: the other protocol's.
COMPANION_KIND = {"zipf_code": "zipf", "zipf": "zipf_code"}
COMPANION_LABEL = {"official": "theory (1-based) Zipf", "theory": "official Zipf (node 0 off)"}


def data(cfg: Config) -> dict:
    key_data, _ = _cli.seed_keys(cfg)
    x, y = sphere_sin(key_data, cfg.n + cfg.n_test, cfg.in_dim, dtype=jnp.float32)
    return {
        "x_train": x[: cfg.n],
        "y_train": y[: cfg.n],
        "x_test": x[cfg.n :],
        "y_test": y[cfg.n :],
    }


def run(cfg: Config, stages: _cli.Stages = _cli.IN_MEMORY) -> dict[str, np.ndarray]:
    """Arrays with leading (gamma configuration, seed) axes; see ``_asym.train_configs``."""
    kind = _asym.zipf_kind(cfg)
    d = data(cfg)
    _, keys = _cli.seed_keys(cfg)
    gd_cfg = jaxntk.GDConfig(
        cfg.lr, cfg.num_steps, cfg.log_every, loss="mean", ntk_points=None
    )  # the official simulated run takes the NTG on all training points
    _, scales, history = _asym.train_configs(keys, d, cfg.width, cfg.gammas, gd_cfg, kind=kind,
                                            stages=stages)
    h_inf = ntk.infinite_width_relu(d["x_train"], parameterization="asym_code")
    extra = {}
    if cfg.companion:
        other = COMPANION_KIND[kind]
        _, _, code = _asym.train_configs(keys, d, cfg.width, [(0.5, 0.7)], gd_cfg, kind=other,
                                         desc="companion", stages=stages)  # fmt: skip
        extra = {f"companion_{k}": v[0] for k, v in code.items()}
    return {
        **history,
        **extra,
        "lam": np.asarray(scales) ** 2,
        "h_inf_min_eig": np.asarray(ntk.min_eig(h_inf)),
    }


def plot(results: dict, cfg: Config):
    fig, axes = plotting.panel_grid(_asym.TRAINING_PANELS)
    clipped = _asym.training_panels(axes, results, cfg.gammas, where="simulated")
    steps = results["step"][0, 0]
    for g, (gamma, _) in enumerate(cfg.gammas):
        if gamma > 0:
            bound = gamma * float(results["h_inf_min_eig"])
            axes[5].axhline(bound, color=f"C{g}", linestyle=":", linewidth=1)
    axes[5].plot([], [], "k:", linewidth=1, label="bound γ·λ_min(H∞)")
    g = _asym.gamma_index(cfg.gammas, 0.5)
    if "companion_step" in results and g is not None:  # the other protocol's Zipf, dashed
        name = f"γ=0.5, {COMPANION_LABEL[cfg.protocol]}"
        for ax, curve, skip in (
            (axes[1], results["companion_test_risk"], 1),
            (axes[2], _asym.top_node_movement(results["companion_node_movement"]), 0),
            (axes[4], np.sqrt(results["companion_ntk_change"]), 0),
            (axes[5], results["companion_ntk_min_eig"], 0),
        ):
            ax.plot(steps[skip:], curve[:, skip:].mean(axis=0), "--", color=f"C{g}", label=name)
        axes[2].legend(fontsize=7)
    axes[5].legend(fontsize=7)
    fig.suptitle(
        f"Asymmetrical node scaling, simulated sphere data (n={cfg.n}, d={cfg.in_dim}), "
        f"width {cfg.width}, GD lr {cfg.lr} on mean-MSE, {cfg.protocol} protocol "
        f"({_asym.zipf_kind(cfg)} law);\nours coloured, mean ± sd over {cfg.num_seeds} seeds"
        f"{_asym.official_caption('simulated', clipped)}",
        fontsize=10,
    )
    return fig


def lambda_min_claim(results: dict, cfg: Config) -> list[_cli.Claim]:
    """lambda_min(Theta_t) >= gamma * lambda_min(H_inf) at every logged t, every gamma > 0."""
    ratios = [
        float(results["ntk_min_eig"][g].min() / (gamma * results["h_inf_min_eig"]))
        for g, (gamma, _) in enumerate(cfg.gammas)
        if gamma > 0
    ]
    worst = min(ratios)
    return _claims.table("asymmetric", [(
        "λ_min(Θ_t) ≥ γ·λ_min(H∞) throughout training (simulated)",
        f"smallest λ_min(Θ_t) / (γ λ_min(H∞)) over γ > 0, seeds, t = {worst:.2f}", worst,
        "≥ 0.9 (finite-width slack 10%)",
    )])  # fmt: skip


def claims(results: dict, cfg: Config) -> list[_cli.Claim]:
    movement = _asym.top_node_movement(results["node_movement"])[..., -1]  # (G, R)
    return [
        *_asym.convergence_claim(results["train_risk"], cfg.gammas, "simulated"),
        *_asym.feature_learning_claim(movement, cfg.gammas, "simulated"),
        *lambda_min_claim(results, cfg),
        *_asym.official_claims(results, cfg.gammas, "simulated"),
    ]


def findings(results: dict, cfg: Config) -> str:
    """Where an official-curve claim fails: our seeds' spread beside the official band."""
    return _asym.official_spread(results, cfg.gammas, "simulated")


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
    if "companion_step" in results:
        movement = _asym.top_node_movement(results["companion_node_movement"])[..., -1]
        lines.append(
            f"γ=0.5, α=0.7, {COMPANION_LABEL[cfg.protocol]} | "
            f"{results['companion_train_risk'][:, -1].mean():.4g} | "
            f"{results['companion_test_risk'][:, -1].mean():.4g} | {movement.mean():.3g} | "
            f"{results['companion_ntk_change'][:, -1].mean():.3g} | "
            f"{results['companion_ntk_min_eig'][:, -1].mean():.3g}"
        )
    return "\n".join(lines)


SCRIPT = _cli.Script("asym_simulated", PRESETS, run, plot, claims, __doc__.splitlines()[0], summary)


def main(argv=None) -> int:
    return _cli.main(SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())
