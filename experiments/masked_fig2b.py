"""Masked neurons, Fig. 2b: converged error over surrogates K x keep probability xi, theory vs code.

Paper: Liao & Kyrillidis, TMLR 2022, Fig. 2b (official ``run_heatmap.sh`` / ``heatmap_exp.py``:
Bernoulli masks, width 500, n = 1000, lr 0.1 for every xi, tau = 5 local steps (hard-coded),
K = 1..10 rows, xi = 0.1..1.0 columns, the xi = 1 column full GD, 10 repetitions).

What it shows: two heatmaps with a shared logarithmic colour scale of the converged training loss
1/2 sum (f - y)^2: left with the theory's aggregation (a neuron no surrogate held keeps its
weights, ``unsampled="keep"``), right with the official code's (it is zeroed and, with
relu'(0) = 0, dead for good, ``unsampled="zero"``). "Converged error" is the mean loss of the last
``window`` rounds of a fixed ``num_rounds`` (``_cli.windowed_mean``), averaged over seeds: the
official stopping rule (stop at the first non-improving windowed mean, or below 5e-4) depends on
the noise of each run and differs from the one of Fig. 2c. Cells whose run diverged are hatched.
xi is a traced vmap axis; K is static, so each K row is one compiled program (tqdm over rows).

Expected outcome (quick preset, measured): with the theory's rule the error falls along both axes
(xi = 0.5: K = 1 ~7.4, K = 10 ~2.8; K = 10: xi = 0.2 ~17, xi = 0.9 ~0.3; full GD ~0.04), except
the xi = 0.1 column (~50 for every K: 20 neurons per surrogate at lr 0.1, a tenfold effective
step); with zeroing, small K x xi cells sit at the dead network's loss 1/2 sum y^2 (~116: K = 1
with xi <= 0.8; zeroing / keeping = 16 at K = 1, xi = 0.5), i.e. the official heatmap's
lower-left corner measures dead neurons, not the theory's neighbourhood; both rules agree where
(1 - xi)^K is negligible (K = 10, xi >= 0.5).

Quick shrinks the paper's setting: n = 64 (paper 1000), d = 128 (2048), width 200 (500),
K in {1, 2, 3, 4, 6, 8, 10} (1..10), 40 rounds, 2 seeds (10 repetitions).

Commands:
    python -m experiments.masked_fig2b                   # quick, ~40-60 s on 2 CPU cores
    python -m experiments.masked_fig2b --preset paper    # the full 10 x 10 grid at the paper's size
    python -m experiments.masked_fig2b --preset smoke    # a few seconds (tests)
Outputs in --outdir (default results/masked_fig2b/): config.json, results.npz, figure.png/.pdf,
claims.json.
"""

from __future__ import annotations

import dataclasses
import sys

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import jaxntk  # noqa: E402
from experiments import _cli, _masked_data  # noqa: E402

RULES = ("keep", "zero")  # theory, official code


@dataclasses.dataclass(frozen=True)
class Config:
    n: int = 64
    in_dim: int = 128
    out_dim: int = 10
    width: int = 200
    subnets: tuple = (1, 2, 3, 4, 6, 8, 10)
    keep_probs: tuple = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    lr: float = 0.1  # the same for every xi, as in the paper
    local_steps: int = 5
    num_rounds: int = 40
    window: int = 10
    parameterization: str = "ntk"
    loss: str = "half_sum"
    features: str = ""  # path to the paper's ResNet50 feature file; "" = synthetic stand-in
    num_seeds: int = 2
    seed: int = 0


PRESETS = {
    "quick": Config(),
    "paper": Config(n=1000, in_dim=2048, width=500, subnets=tuple(range(1, 11)),
                    num_rounds=100, num_seeds=10),  # fmt: skip
    "smoke": Config(n=16, in_dim=32, out_dim=2, width=64, subnets=(1, 4),
                    keep_probs=(0.3, 0.6, 1.0), lr=0.2, local_steps=2, num_rounds=20, window=5),
}  # fmt: skip


def run(cfg: Config) -> dict[str, np.ndarray]:
    """``loss`` (rule, K, xi, seed, rounds + 1) and ``dead_fraction`` after the last round.

    The xi = 1 column is full GD: with xi = 1 every mask keeps every neuron, so each of the K
    surrogates is the full network, their average is tau full GD steps (the official code runs
    that column with K = 1; the same up to rounding) and no neuron is ever unsampled. It rides in
    each row's vmap over xi rather than costing a program of its own.
    """
    x, y, _ = _masked_data.load(cfg)
    params0, keys = _masked_data.init_many(cfg, x, y, cfg.width)
    xis = np.asarray(cfg.keep_probs, np.float64)

    def program(mcfg_of):
        @jax.jit
        def batch(params0, keys, xis):
            def one(params, key, xi):
                history = jaxntk.train_masked(key, params, x, y, mcfg_of(xi))[1]
                return history.loss, history.dead_fraction[-1]

            per_seed = jax.vmap(one, in_axes=(0, 0, None))
            return jax.vmap(per_seed, in_axes=(None, None, 0))(params0, keys, xis)

        return batch

    loss, dead = [], []
    rows = [(rule, k) for rule in RULES for k in cfg.subnets]
    for rule, k in tqdm(rows, desc="fig2b: (rule, K) rows"):

        def row(rule=rule, k=k):  # one checkpointed stage per row (experiments._cli.stage)
            row_loss, row_dead = program(_masked_cfg(cfg, k, rule))(
                params0, keys, jnp.asarray(xis, jnp.float32)
            )
            return {"loss": row_loss, "dead": row_dead}

        done = _cli.stage(f"row_{rule}_K{k}", row)
        loss.append(done["loss"])
        dead.append(done["dead"])
    shape = (len(RULES), len(cfg.subnets), len(xis), cfg.num_seeds)
    loss = np.stack(loss).reshape(*shape, cfg.num_rounds + 1)
    return {
        "subnets": np.asarray(cfg.subnets),
        "keep_probs": xis,
        "loss": loss,
        "dead_fraction": np.stack(dead).reshape(shape),
        "error": _masked_data.converged(loss, cfg.window).mean(axis=-1),  # (rule, K, xi)
    }


def _masked_cfg(cfg: Config, num_subnets: int, rule: str):
    def of(xi):
        return jaxntk.MaskedConfig(
            num_subnets,
            xi,
            cfg.local_steps,
            cfg.lr,
            cfg.num_rounds,
            unsampled=rule,
            loss=cfg.loss,
        )

    return of


def plot(results: dict, cfg: Config):
    error = results["error"]
    finite = error[np.isfinite(error)]
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size else None
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    titles = (
        "theory: unsampled neurons kept",
        "official code: unsampled neurons zeroed (dead)",
    )
    xis, ks = results["keep_probs"], results["subnets"]
    for ax, values, title in zip(axes, error, titles):
        image = ax.imshow(
            np.ma.masked_invalid(values), origin="lower", aspect="auto", norm=norm, cmap="viridis"
        )
        for i, j in zip(*np.nonzero(~np.isfinite(values))):
            ax.add_patch(
                plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", color="red")
            )
        for i, j in zip(*np.nonzero(np.isfinite(values))):
            v = values[i, j]
            bright = norm is not None and norm(v) > 0.6  # viridis is light at the top
            ax.text(j, i, f"{v:.0f}" if v >= 10 else f"{v:.2g}", ha="center", va="center",
                    fontsize=7, color="black" if bright else "white")  # fmt: skip
        ax.set_xticks(range(len(xis)), [f"{v:g}" for v in xis])
        ax.set_yticks(range(len(ks)), [str(k) for k in ks])
        ax.set(xlabel="keep probability ξ (ξ = 1: full GD)", title=title)
    axes[0].set_ylabel("surrogates per round K")
    bar = fig.colorbar(image, ax=axes, fraction=0.04)
    bar.set_label(f"converged loss ½Σ(f−y)² (mean of last {cfg.window} rounds, log scale)")
    fig.suptitle(
        f"Converged error after {cfg.num_rounds} rounds (τ={cfg.local_steps}, lr={cfg.lr}, "
        f"width {cfg.width}, mean of {cfg.num_seeds} seeds; hatched: diverged): "
        f"{_masked_data.describe(cfg)}",
        fontsize=10,
    )
    return fig


def _cell(results, rule, k, xi):
    ks, xis = list(results["subnets"]), list(np.round(results["keep_probs"], 6))
    return results["error"][RULES.index(rule), ks.index(k), xis.index(round(xi, 6))]


def _probes(cfg: Config):
    """(K_min, K_max, xi_mid, xi_lo, xi_hi) among the grid's masked values."""
    masked = sorted(x for x in cfg.keep_probs if x < 1.0)
    mid = min(masked, key=lambda v: abs(v - 0.5))
    lo = masked[1] if len(masked) > 2 else masked[0]  # xi = 0.1 may diverge at lr 0.1
    return min(cfg.subnets), max(cfg.subnets), mid, lo, masked[-1]


def claims(results: dict, cfg: Config) -> list[_cli.Claim]:
    k1, kmax, mid, lo, hi = _probes(cfg)
    over_k = float(_cell(results, "keep", k1, mid) / _cell(results, "keep", kmax, mid))
    over_xi = float(_cell(results, "keep", kmax, lo) / _cell(results, "keep", kmax, hi))
    zeroing = float(_cell(results, "zero", k1, mid) / _cell(results, "keep", k1, mid))
    return [
        _cli.Claim(
            "masked",
            "more surrogates K lower the converged error (Fig. 2b rows)",
            f"error K={k1} / K={kmax} at ξ={mid:g} (theory aggregation) = {over_k:.2f}",
            over_k,
            over_k > 1.5,
            "> 1.5",
        ),
        _cli.Claim(
            "masked",
            "a larger keep probability ξ lowers the converged error at fixed lr (Fig. 2b columns)",
            f"error ξ={lo:g} / ξ={hi:g} at K={kmax} = {over_xi:.2f}",
            over_xi,
            over_xi > 1.5,
            "> 1.5",
        ),
        _cli.Claim(
            "masked",
            "the official code's zeroing of unsampled neurons inflates the error at small K",
            f"error zeroing / keeping at K={k1}, ξ={mid:g} = {zeroing:.2f}",
            zeroing,
            zeroing > 2.0,
            "> 2",
        ),
    ]


def summary(results: dict, cfg: Config) -> str:
    lines = []
    for r, rule in enumerate(RULES):
        lines.append(f"unsampled={rule}: converged error, rows K, columns ξ")
        lines.append("  K \\ ξ " + " ".join(f"{v:>8g}" for v in cfg.keep_probs))
        for k, row in zip(cfg.subnets, results["error"][r]):
            lines.append(f"  {k:5d} " + " ".join(f"{v:8.3g}" for v in row))
    return "\n".join(lines)


SCRIPT = _cli.Script("masked_fig2b", PRESETS, run, plot, claims, __doc__.splitlines()[0], summary)


def main(argv=None) -> int:
    return _cli.main(SCRIPT, argv)


if __name__ == "__main__":
    sys.exit(main())
